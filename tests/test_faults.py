"""A non-finite loss stops the run with a clear error and keeps the last good checkpoint; Atari starts."""

import importlib.util

import gymnasium as gym
import numpy as np
import pytest
import torch

from rllab.cli import main


class NanAfter(gym.Wrapper):
    """CartPole whose rewards turn NaN after 300 steps: the TD loss must blow up."""

    def __init__(self):
        super().__init__(gym.make("CartPole-v1"))
        self.t = 0

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.t += 1
        return obs, (float("nan") if self.t > 300 else reward), terminated, truncated, info


gym.register("tests/NanCartPole-v0", entry_point=NanAfter)


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["train", "--env", "tests/NanCartPole-v0", "--run-dir", str(run), "--steps", "2000",
                 "learning_starts=100", "checkpoint_freq=100", "train_freq=1", "gradient_steps=1", "net_arch=[8]"])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert len(err.splitlines()) == 1 and "non-finite" in err and "last good checkpoint" in err
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert 300 <= state["step"] < 2000
    assert all(torch.isfinite(t).all() for t in state["learner"]["q"].values())


@pytest.mark.skipif(importlib.util.find_spec("ale_py") is None, reason="needs the atari extra (ale-py)")
def test_atari_pong_recipe_starts_and_runs(tmp_path, capsys):
    run = tmp_path / "pong"
    assert main(["train", "pong-dqn", "--run-dir", str(run), "--steps", "400", "--device", "cpu",
                 "learning_starts=200", "buffer_size=500", "batch_size=8", "eval_freq=0", "eval_episodes=1",
                 "log_freq=100", "threads=1"]) == 0
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["learner"]["q"]["torso.0.weight"].shape == (32, 4, 8, 8)  # Nature-DQN conv torso on 4×84×84
    assert np.isfinite(state["loop"]["best"])
    assert "final greedy policy" in capsys.readouterr().out
