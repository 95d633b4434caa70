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
