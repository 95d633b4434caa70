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
