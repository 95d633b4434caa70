import gymnasium as gym
import numpy as np
import pytest
import torch

from labcore.config import build
from rllab.config import DQNConfig
from rllab.dqn import DQNLearner, QNetwork, linear_schedule, td_target


def test_td_target_terminated_vs_truncated():
    reward = torch.tensor([1.0, 1.0, 0.5])
    next_q = torch.tensor([10.0, 10.0, -2.0])
    terminated = torch.tensor([0.0, 1.0, 0.0])  # row 0 is a time-limit truncation: it still bootstraps
    y = td_target(reward, next_q, terminated, gamma=0.9)
    assert torch.allclose(y, torch.tensor([1.0 + 0.9 * 10.0, 1.0, 0.5 - 1.8]))


def test_linear_schedule():
    assert linear_schedule(1.0, 0.1, 100, 0) == 1.0
    assert linear_schedule(1.0, 0.1, 100, 50) == pytest.approx(0.55)
    assert linear_schedule(1.0, 0.1, 100, 100) == pytest.approx(0.1)
    assert linear_schedule(1.0, 0.1, 100, 1000) == pytest.approx(0.1)


def _learner(**overrides):
    cfg = build(DQNConfig, {"net_arch": [32, 32], "learning_rate": 1e-3, "device": "cpu", **overrides})
    space = gym.spaces.Box(-1, 1, (4,), np.float32)
    torch.manual_seed(0)
    return DQNLearner(QNetwork(space, 2, cfg.net_arch, cfg.activation, cfg.dueling), cfg)


def _batch(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    obs = torch.rand(n, 4, generator=g) * 2 - 1
    return (obs, torch.randint(0, 2, (n,), generator=g), torch.rand(n, generator=g),
            torch.rand(n, 4, generator=g) * 2 - 1, (torch.rand(n, generator=g) < 0.2).float())


def _td_error(learner, batch):
    obs, action, reward, next_obs, terminated = batch
    with torch.no_grad():
        y = td_target(reward, learner.q_target(next_obs).max(1).values, terminated, learner.cfg.gamma)
        q = learner.q(obs).gather(1, action[:, None]).squeeze(1)
    return float(((q - y) ** 2).mean())


@pytest.mark.parametrize("overrides", [{}, {"double_q": False}, {"dueling": True}, {"loss": "mse"}])
def test_updates_lower_td_error_on_a_fixed_batch(overrides):
    learner = _learner(**overrides)
    batch = _batch()
    before = _td_error(learner, batch)
    target_before = [p.clone() for p in learner.q_target.parameters()]
    metrics = learner.update(batch)
    assert set(metrics) == {"train/loss", "train/q_mean"}
    after_one = _td_error(learner, batch)
    for _ in range(100):
        learner.update(batch)
    assert after_one < before
    assert _td_error(learner, batch) < 0.5 * before
    # the target network is frozen between target updates
    assert all(torch.equal(a, b) for a, b in zip(target_before, learner.q_target.parameters()))


def test_target_update_hard_and_polyak():
    learner = _learner()
    learner.update(_batch())
    learner.update_target()
    assert all(torch.equal(a, b) for a, b in zip(learner.q.parameters(), learner.q_target.parameters()))
    learner = _learner(tau=0.25)
    old = [p.clone() for p in learner.q_target.parameters()]
    learner.update(_batch())
    learner.update_target()
    for p, t, o in zip(learner.q.parameters(), learner.q_target.parameters(), old):
        assert torch.allclose(t, o + 0.25 * (p - o))


def test_double_q_uses_online_argmax():
    learner = _learner(gamma=1.0)
    # Make the online net prefer action 1 and the target net value action 1 at 5, action 0 at 100.
    for net, bias in ((learner.q, [0.0, 50.0]), (learner.q_target, [100.0, 5.0])):
        with torch.no_grad():
            for p in net.parameters():
                p.zero_()
            net.head.bias.copy_(torch.tensor(bias))
    obs, action, _, next_obs, _ = _batch(4)
    batch = (obs, action, torch.zeros(4), next_obs, torch.zeros(4))
    # the loss is huber(q - y); with q = 0 or 50 and y = 5 (Double DQN) rather than 100 (max over target)
    q = learner.q(obs).gather(1, action[:, None]).squeeze(1).detach()
    expected = torch.nn.functional.smooth_l1_loss(q, torch.full((4,), 5.0)).item()
    assert learner.update(batch)["train/loss"] == pytest.approx(expected)


def test_dueling_head_and_image_torso():
    space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    q = QNetwork(space, 6, [512], "relu", dueling=True)
    out = q(torch.zeros(3, 4, 84, 84, dtype=torch.uint8))
    assert out.shape == (3, 6)
    assert q.value is not None and q.head.in_features == 512
