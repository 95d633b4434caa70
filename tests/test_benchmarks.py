"""The benchmark scripts' own argument handling (their runs are the slow, measured part)."""

import importlib.util
from pathlib import Path

SEEDS = Path(__file__).parent.parent / "benchmarks" / "seeds.py"


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


def test_seeds_keeps_its_runs_and_plots_them(tmp_path):
    import json
    import subprocess
    import sys

    runs, png = tmp_path / "runs", tmp_path / "curves.png"
    out = subprocess.run([sys.executable, str(SEEDS), "cartpole-ppo", "--seeds", "0", "1", "--episodes", "2",
                          "--runs", str(runs), "--plot", str(png), "steps=2048", "eval_freq=1024", "video_freq=0",
                          "num_envs=4", "rollout_steps=64"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert [r["seed"] for r in summary["runs"]] == [0, 1]
    assert (runs / "s0" / "eval.json").exists() and (runs / "s1" / "config.toml").exists() and png.stat().st_size


def test_genlab_overhead_times_both_sides_on_the_same_weights(tmp_path):
    import json
    import subprocess
    import sys

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
