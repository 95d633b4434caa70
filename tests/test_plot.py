"""`rllab plot` and `genlab plot`: curves of tiny run sets, grouped as asked, with the aggregate statistics."""

import json

import pytest
from PIL import Image

from genlab.cli import main as genlab
from rllab.cli import main as rllab

TINY_PPO = ["--algo", "ppo", "--env", "CartPole-v1", "--steps", "1024", "num_envs=4", "rollout_steps=64",
            "net_arch=[16,16]", "eval_freq=256", "eval_episodes=2", "log_freq=256", "video_freq=0"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two settings (learning rates) × two seeds of a tiny PPO."""
    root = tmp_path_factory.mktemp("runs")
    for lr in ("1e-3", "3e-3"):
        for seed in (0, 1):
            code = rllab(["train", *TINY_PPO, f"learning_rate={lr}", "--seed", str(seed),
                          "--run-dir", str(root / f"lr{lr}-s{seed}")])
            assert code == 0
    return root


def plot_json(argv, capsys, prog=rllab):
    assert prog(["plot", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_runs_group_by_recipe_across_seeds(runs, tmp_path, capsys):
    out = tmp_path / "curves.png"
    summary = plot_json([str(runs), "--out", str(out)], capsys)
    assert sorted(summary["groups"]) == ["ppo CartPole-v1 learning_rate=0.001", "ppo CartPole-v1 learning_rate=0.003"]
    for group in summary["groups"].values():
        assert sorted(p.rsplit("-", 1)[1] for p in group["runs"]) == ["s0", "s1"]
    with Image.open(out) as image:
        assert image.format == "PNG" and image.width > 500


def test_group_by_env_and_a_glob(runs, tmp_path, capsys):
    summary = plot_json([str(runs / "lr*-s*"), "--group-by", "env", "--out", str(tmp_path / "c.png")], capsys)
    assert list(summary["groups"]) == ["CartPole-v1"] and len(summary["groups"]["CartPole-v1"]["runs"]) == 4


def test_aggregate_gives_interval_estimates_and_probability_of_improvement(runs, tmp_path, capsys):
    summary = plot_json([str(runs), "--tag", "eval/mean_reward", "--aggregate", "--out", str(tmp_path / "a.png")],
                        capsys)
    for group in summary["groups"].values():
        finals = group["final_scores"]["CartPole-v1"]
        assert len(finals) == 2
        point, low, high = group["mean"]
        assert point == pytest.approx(sum(finals) / 2) and low <= point <= high
        assert group["target"] == 475.0  # CartPole-v1's reward threshold in Gymnasium's registry
        assert group["optimality_gap"][0] == pytest.approx(sum(max(475 - f, 0) for f in finals) / 2)
    (pair,) = summary["probability_of_improvement"]
    assert 0 <= pair["p"][1] <= pair["p"][0] <= pair["p"][2] <= 1


def test_genlab_plot_groups_by_model(tmp_path, capsys):
    for seed in (0, 1):
        assert genlab(["train", "ae", "--steps", "20", "--seed", str(seed), "--run-dir", str(tmp_path / f"ae{seed}"),
                       "log_freq=5", "metrics=none", "eval_images=20", "image_freq=1000"]) == 0
    capsys.readouterr()
    summary = plot_json([str(tmp_path / "ae*"), "--group-by", "model", "--aggregate", "--out",
                         str(tmp_path / "g.png")], capsys, prog=genlab)
    assert list(summary["groups"]) == ["ae"] and "optimality_gap" not in summary["groups"]["ae"]  # no target known


def test_bad_input_is_one_line_and_exit_2(runs, tmp_path, capsys):
    def fails(argv, words):
        assert rllab(["plot", *argv]) == 2
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1, err

    fails([str(runs), "--tag", "eval/nope", "--out", str(tmp_path / "x.png")], "has no scalar 'eval/nope'; it has:")
    fails([str(tmp_path / "nothing-here")], "no such run directory")
    fails([str(tmp_path)], "no runs (directories with a config.toml)")
    taken = tmp_path / "taken.png"
    taken.write_bytes(b"mine")
    fails([str(runs), "--out", str(taken)], "already exists")
    assert taken.read_bytes() == b"mine"


def test_group_by_run_against_time(runs, tmp_path, capsys):
    """Every run its own curve (per seed), x in minutes since the run's first event."""
    summary = plot_json([str(runs / "lr1e-3-s*"), "--tag", "eval/mean_reward", "--group-by", "run", "--x", "time",
                         "--out", str(tmp_path / "t.png")], capsys)
    assert summary["x"] == "time"
    assert sorted(summary["groups"]) == [str(runs / "lr1e-3-s0"), str(runs / "lr1e-3-s1")]
    for group in summary["groups"].values():
        first, last = group["x_range"]
        assert len(group["runs"]) == 1 and 0 <= first < last < 5  # minutes: a tiny run's evaluations
    by_step = plot_json([str(runs / "lr1e-3-s0"), "--tag", "eval/mean_reward", "--group-by", "run", "--out",
                         str(tmp_path / "s.png")], capsys)
    assert list(by_step["groups"].values())[0]["x_range"] == [256.0, 1024.0]
