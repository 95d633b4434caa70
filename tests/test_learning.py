"""Slow: the recipes reach their scores (run with `pytest -m slow`)."""

import json

import pytest

from rllab.cli import main


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_cartpole_dqn_recipe_solves(tmp_path, capsys, seed):
    run = tmp_path / "run"
    assert main(["train", "--run-dir", str(run), "--seed", str(seed)]) == 0  # no recipe: cartpole-dqn
    assert main(["eval", str(run), "--episodes", "20", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert result["mean_return"] >= 475, result
