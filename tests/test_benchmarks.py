"""The benchmark scripts' own argument handling and tiny-budget runs of each (their full runs are the slow,
measured part)."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SEEDS = Path(__file__).parent.parent / "benchmarks" / "seeds.py"
VS_SB3 = Path(__file__).parent.parent / "benchmarks" / "vs_sb3.py"


def _seeds_module():
    spec = importlib.util.spec_from_file_location("seeds", SEEDS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seeds_overrides_anywhere_but_not_an_options_value():
    split = _seeds_module().split_overrides
    overrides, rest = split(["cartpole-dqn", "--seeds", "0", "1", "lr=3e-4", "--out", "a=b.json", "gamma=0.9"])
    assert overrides == ["lr=3e-4", "gamma=0.9"]
    assert rest == ["cartpole-dqn", "--seeds", "0", "1", "--out", "a=b.json"]
    assert split(["cartpole-dqn", "--out=a=b.json", "x=1"]) == (["x=1"], ["cartpole-dqn", "--out=a=b.json"])


def test_time_to_threshold_is_the_first_evaluation_that_reaches_it():
    time_to_threshold = _seeds_module().time_to_threshold
    evals = [(1000, 4.0, 20.0), (2000, 5.5, 480.0), (3000, 7.0, 500.0)]  # (step, seconds since start, mean)
    assert time_to_threshold(evals, 475) == 5.5
    assert time_to_threshold(evals, 20) == 4.0
    assert time_to_threshold(evals, 501) is None and time_to_threshold([], 5) is None
    assert time_to_threshold(evals, None) is None


def test_seeds_keeps_its_runs_plots_them_and_times_the_threshold(tmp_path):
    runs, png = tmp_path / "runs", tmp_path / "curves.png"
    out = subprocess.run([sys.executable, str(SEEDS), "cartpole-ppo", "--seeds", "0", "1", "--episodes", "2",
                          "--runs", str(runs), "--plot", str(png), "--threshold", "5", "--eval-freq", "1024",
                          "steps=2048", "video_freq=0", "num_envs=4", "rollout_steps=64"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert [r["seed"] for r in summary["runs"]] == [0, 1]
    assert (runs / "s0" / "eval.json").exists() and (runs / "s1" / "config.toml").exists() and png.stat().st_size
    assert "eval_freq=1024" in summary["overrides"] and summary["threshold"] == 5
    for row in summary["runs"]:  # any policy lasts 5 steps: reached at the first evaluation, start-up included
        assert 0 < row["time_to_threshold_s"] <= row["wall_s"] + 0.1
    assert summary["reached"] == "2/2" and summary["median_time_to_threshold_s"] > 0
    assert "to 5: " in out.stdout and " s" in out.stdout.splitlines()[0].split("to 5: ")[1]


@pytest.mark.slow  # 8 s; the time-to-threshold arithmetic is tested above, in the fast tier
def test_seeds_threshold_defaults_to_the_registry_and_may_not_be_reached(tmp_path):
    out = subprocess.run([sys.executable, str(SEEDS), "cartpole-ppo", "--seeds", "0", "--episodes", "2",
                          "steps=512", "video_freq=0", "num_envs=4", "rollout_steps=64"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["threshold"] == 475  # CartPole-v1's reward_threshold; eval_freq = 0: the final evaluation only
    assert summary["runs"][0]["time_to_threshold_s"] is None and summary["median_time_to_threshold_s"] is None
    assert "to 475: —" in out.stdout and summary["reached"] == "0/1"


def test_vs_sb3_takes_evaluation_from_its_own_options_only():
    out = subprocess.run([sys.executable, str(VS_SB3), "--algo", "ppo", "eval_freq=500"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--eval-freq" in out.stderr


@pytest.mark.slow  # 25 s: four training processes, two of them SB3's
def test_vs_sb3_reports_walls_scores_and_time_to_threshold_per_seed_and_medians(tmp_path):
    pytest.importorskip("stable_baselines3")
    result = tmp_path / "vs.json"
    out = subprocess.run([sys.executable, str(VS_SB3), "--algo", "ppo", "--seeds", "0", "--episodes", "2",
                          "--eval-freq", "1000", "--eval-episodes", "2", "--threshold", "5", "--sb3-steps", "1000",
                          "--out", str(result), "steps=1024", "num_envs=4", "rollout_steps=64"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    summary = json.loads(result.read_text())
    assert summary["seeds"] == [0] and summary["sb3_zoo"]["n_timesteps"] == 1000 and "--sb3-steps" in summary["command"]
    assert summary["overrides"] == ["steps=1024", "num_envs=4", "rollout_steps=64"]
    for side in ("sb3", "rllab"):
        run = summary["runs"][0][side]
        assert run["wall_s"] > 0 and run["episodes"] == 2
        assert 0 < run["time_to_threshold_s"] <= run["eval_wall_s"]
        assert run["evals"][-1][0] >= 1000  # the final evaluation, after the periodic ones
        assert summary["medians"][side]["reached"] == "1/1"
    assert summary["wall_ratio_rllab_over_sb3"] > 0 and summary["time_to_threshold_ratio_rllab_over_sb3"] > 0
    assert "rllab wall / sb3 wall" in out.stdout and "to 5" in out.stdout


def test_genlab_overhead_times_both_sides_on_the_same_weights(tmp_path):
    script = Path(__file__).parent.parent / "benchmarks" / "genlab_overhead.py"
    out = tmp_path / "overhead.json"
    done = subprocess.run([sys.executable, str(script), "--recipes", "beta-vae", "gan", "--steps", "6", "--warmup", "2",
                           "--repeats", "2", "--out", str(out), "log_freq=2", "data=shapes:scale=5,orientation=0",
                           "resolution=16", "batch_size=32"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert [r["recipe"] for r in result["recipes"]] == ["beta-vae", "gan"]
    for row in result["recipes"]:
        assert len(row["lab"]) == len(row["plain"]) == 2
        assert all(v > 0 for v in row["lab"] + row["plain"]) and row["ratio"] > 0
        assert row["max_weight_diff"] == [0.0, 0.0]  # the plain loop trains exactly what the lab trains
    assert "lab/plain" in done.stdout and "gan" in done.stdout


def test_vec_env_and_startup_benchmarks_run_and_write_their_json(tmp_path):
    bench = Path(__file__).parent.parent / "benchmarks"
    out = tmp_path / "vec.json"
    subprocess.run([sys.executable, str(bench / "vec_env.py"), "--envs", "CartPole-v1", "--num-envs", "4", "--kinds",
                    "sync", "native", "--seconds", "0.2", "--repeats", "1", "--out", str(out)], check=True,
                   capture_output=True, timeout=120)
    (row,) = json.loads(out.read_text())
    assert row["sync_median"] > 0 and row["native_median"] > 0 and row["native/sync"] > 0
    out = tmp_path / "startup.json"
    subprocess.run([sys.executable, str(bench / "startup.py"), "--repeats", "1", "--out", str(out)], check=True,
                   capture_output=True, timeout=300)
    median = json.loads(out.read_text())["median_s"]
    # One repetition on a shared machine: the order of the rows is a measurement, not a contract (CI once ran
    # `python -c pass` slower than the import of torch), so only their presence and sanity are asserted here.
    for row in ("python -c pass", "python -c 'import torch'", "import torch, to the end of the import",
                "rllab train cartpole-ppo: first env step"):
        assert 0 < median[row] < 60, row
