"""Slow: the recipes reach their scores (run with `pytest -m slow`: RL about 2 minutes, the VAE about 6, the GAN
about 9, the β-TCVAE's three seeds about 95)."""

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


def _genlab_result(tmp_path, capsys, argv):
    from genlab.cli import main as genlab_main

    run = tmp_path / "gen"
    assert genlab_main(["train", "--run-dir", str(run), *argv]) == 0
    capsys.readouterr()
    return json.loads((run / "eval.json").read_text())


@pytest.mark.slow
def test_default_vae_iwae_bound_is_tighter_and_samples_are_shapes(tmp_path, capsys):
    result = _genlab_result(tmp_path, capsys, [])  # no arguments: the VAE on shapes, 32×32, 10k steps
    assert result["iwae"] > result["elbo"]
    assert result["train_seconds"] < 600
    assert result["valid_at_0.8"] > 0.5  # most samples are close to a real rendering


@pytest.mark.slow
def test_gan_recipe_reaches_its_target(tmp_path, capsys):
    result = _genlab_result(tmp_path, capsys, ["gan"])
    assert result["train_seconds"] < 1800
    assert result["valid"] >= 0.9
    assert result["coverage_kl"] <= 0.1


@pytest.mark.slow
def test_beta_tcvae_recipe_disentangles_shapes(tmp_path, capsys):
    """The recipe's target on 5 seeds its search never used (it tuned on seeds 10-12): median MIG ≥ 0.40 and no
    seed below 0.30, each within 30 minutes of training on 2 CPU cores (2 h 5 min with the final evaluations, as
    five runs measured one by one)."""
    seeds = range(100, 105)
    results = [_genlab_result(tmp_path / str(seed), capsys, ["beta-tcvae", "--seed", str(seed)]) for seed in seeds]
    assert all(r["train_seconds"] < 1800 for r in results)
    migs = sorted(r["mig"] for r in results)
    assert migs[2] >= 0.40
    assert migs[0] >= 0.30
