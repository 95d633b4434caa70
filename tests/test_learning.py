"""Slow: the recipes reach their scores (run with `pytest -m slow`; about 2 minutes)."""

import json

import pytest

from rllab.cli import main


def _final_score(tmp_path, capsys, argv):
    run = tmp_path / "run"
    assert main(["train", "--run-dir", str(run), *argv]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--episodes", "20", "--json"]) == 0
    return json.loads(capsys.readouterr().out)["mean_return"]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_default_dqn_recipe_solves_cartpole(tmp_path, capsys, seed):
    assert _final_score(tmp_path, capsys, ["--seed", str(seed)]) >= 475  # no recipe: cartpole-dqn


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["cartpole-reinforce", "cartpole-ac-mc", "cartpole-ac-td", "cartpole-ppo"])
def test_policy_gradient_recipes_solve_cartpole(tmp_path, capsys, recipe):
    # seed 1: each recipe solved it in the 5-seed benchmark (benchmarks/results/<recipe>.json)
    assert _final_score(tmp_path, capsys, [recipe, "--seed", "1"]) >= 475
