"""Policies: closed-form Gaussian log-prob and entropy, clipping, running normalisation; the PPO and REINFORCE
losses against hand-computed values; one update raising the log-probability of a positively-advantaged action."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from labcore.config import build
from labcore.errors import UsageError
from rllab.actor_critic import ACLearner, clipped_surrogate, clipped_value_loss
from rllab.config import ACConfig, PPOConfig
from rllab.policies import ActorCritic, RunningNorm, diag_gaussian
from rllab.reinforce import reinforce_loss
from rllab.returns import explained_variance

BOX = gym.spaces.Box(-1, 1, (3,), np.float32)


def test_diag_gaussian_log_prob_and_entropy_closed_form():
    mean, log_std = torch.tensor([[0.5, -1.0]]), torch.tensor([0.0, math.log(2.0)])
    x = torch.tensor([[1.5, 1.0]])
    d = diag_gaussian(mean, log_std)
    # log N(x; μ, σ²) = −(x−μ)²/(2σ²) − log σ − ½ log 2π, summed over dimensions
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    expected = (-(1.0**2) / 2 - 0 - half_log_2pi) + (-(2.0**2) / 8 - math.log(2) - half_log_2pi)
    assert d.log_prob(x).item() == pytest.approx(expected)
    # H = Σ ½ log(2πe σ²)
    assert d.entropy().item() == pytest.approx(0.5 * math.log(2 * math.pi * math.e) * 2 + math.log(2))


def test_continuous_actions_are_clipped_to_bounds_and_deterministic_act_is_the_mean():
    policy = ActorCritic(BOX, gym.spaces.Box(-2, 2, (2,), np.float32), [8])
    clipped = policy.env_action(torch.tensor([[5.0, -0.5], [-9.0, 1.0]]))
    assert clipped.tolist() == [[2.0, -0.5], [-2.0, 1.0]]
    obs = np.zeros((4, 3), np.float32)
    assert np.array_equal(policy.act(obs), policy.act(obs))


def test_categorical_act_is_argmax():
    policy = ActorCritic(BOX, gym.spaces.Discrete(3), [8])
    with torch.no_grad():
        policy.policy_head.bias.copy_(torch.tensor([0.0, 5.0, 0.0]))
    assert policy.act(np.zeros((2, 3), np.float32)).tolist() == [1, 1]


def test_shared_trunk_is_one_module():
    shared = ActorCritic(BOX, gym.spaces.Discrete(2), [8], shared=True)
    assert shared.actor_trunk is shared.critic_trunk
    assert ActorCritic(BOX, gym.spaces.Discrete(2), [8]).actor_trunk is not ActorCritic(
        BOX, gym.spaces.Discrete(2), [8]).critic_trunk


def test_running_norm_matches_numpy():
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, size=(300, 2)).astype(np.float32)
    norm = RunningNorm(2)
    for chunk in np.split(data, [50, 170]):
        norm.update(torch.as_tensor(chunk))
    assert norm.mean.numpy() == pytest.approx(data.mean(0), rel=1e-3)
    assert norm.var.numpy() == pytest.approx(data.var(0), rel=1e-3)


def test_unsupported_spaces_are_usage_errors():
    with pytest.raises(UsageError, match="vector observations"):
        ActorCritic(gym.spaces.Box(0, 255, (4, 84, 84), np.uint8), gym.spaces.Discrete(2), [8])
    with pytest.raises(UsageError, match="unsupported action space"):
        ActorCritic(BOX, gym.spaces.MultiBinary(3), [8])


@pytest.mark.parametrize(("cfg_cls", "action_space"), [(ACConfig, gym.spaces.Discrete(3)),
                                                       (PPOConfig, gym.spaces.Box(-1, 1, (2,), np.float32))])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_one_update_moves_log_prob_with_the_advantage(cfg_cls, action_space, sign):
    torch.manual_seed(0)
    cfg = build(cfg_cls, {"normalize_advantage": False, "learning_rate": 1e-2})
    policy = ActorCritic(BOX, action_space, [16])
    learner = ACLearner(policy, cfg)
    obs = torch.rand(1, 3).repeat(8, 1)  # one state, one action, taken 8 times
    action, _ = policy.sample(obs[:1])
    action = action.repeat(8, *([1] * (action.dim() - 1)))
    with torch.no_grad():
        logp, _, value = policy.evaluate_actions(obs, action)
    adv = torch.full((8,), sign)
    batch = {"obs": obs, "action": action, "logp": logp, "value": value, "target": value + adv, "adv": adv}
    metrics = learner.update(batch)
    assert {"train/policy_loss", "train/value_loss", "train/entropy", "train/approx_kl", "train/clip_fraction"} <= set(
        metrics)
    with torch.no_grad():
        new = policy.evaluate_actions(obs, action)[0]
    assert sign * (new - logp)[0] > 0  # a positive advantage makes the action more likely, a negative one less


def test_explained_variance():
    target = np.array([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(target, target) == 1.0
    assert explained_variance(np.full(4, target.mean()), target) == pytest.approx(0.0)


def test_clipped_surrogate_against_hand_values():
    ratio, adv = torch.tensor([0.5, 1.0, 1.5, 1.5]), torch.tensor([1.0, -2.0, 2.0, -1.0])
    # ε = 0.2: min(ρA, clip(ρ)A) = min(0.5, 0.8), min(−2, −2), min(3, 2.4), min(−1.5, −1.2) = 0.5, −2, 2.4, −1.5
    assert clipped_surrogate(ratio, adv, 0.2).item() == pytest.approx(-(0.5 - 2 + 2.4 - 1.5) / 4)
    assert clipped_surrogate(ratio, adv, 0.0).item() == pytest.approx(-(0.5 - 2 + 3 - 1.5) / 4)  # no clipping: −E[ρA]


def test_clipped_value_loss_against_hand_values():
    value, old, target = torch.tensor([2.0, 0.0]), torch.tensor([1.0, 0.5]), torch.tensor([0.0, 1.0])
    # ε_v = 0.3: V_clip = 1.3, 0.2; max((2 − 0)², (1.3 − 0)²) = 4, max((0 − 1)², (0.2 − 1)²) = 1
    assert clipped_value_loss(value, old, target, 0.3).item() == pytest.approx((4 + 1) / 2)
    assert clipped_value_loss(value, old, target, 0.0).item() == pytest.approx((4 + 1) / 2)
    value = torch.tensor([0.6, 0.9])  # V moved towards G by more than ε_v: the clipped V (0.7, 0.8) counts
    assert clipped_value_loss(value, old, target, 0.3).item() == pytest.approx((0.7**2 + 0.2**2) / 2)
    assert clipped_value_loss(value, old, target, 0.0).item() == pytest.approx((0.36 + 0.01) / 2)


def test_reinforce_loss_against_hand_values():
    logp, returns = torch.tensor([-1.0, -2.0, -0.5], requires_grad=True), torch.tensor([3.0, 1.0, 2.0])
    value = torch.tensor([1.0, 1.0, 4.0], requires_grad=True)
    # A = G − V = 2, 0, −2; −E[log π · A] = −(−2 + 0 + 1)/3; E[(V − G)²] = (4 + 0 + 4)/3
    policy_loss, value_loss = reinforce_loss(logp, returns, value, normalize=False)
    assert policy_loss.item() == pytest.approx(1 / 3) and value_loss.item() == pytest.approx(8 / 3)
    policy_loss.backward()
    assert value.grad is None  # the baseline is held fixed in the advantage
    policy_loss, value_loss = reinforce_loss(logp, returns, None, normalize=False)  # no baseline: A = G
    assert policy_loss.item() == pytest.approx(-(-3 - 2 - 1) / 3) and value_loss.item() == 0
    # standardised: A = (G − mean) / std = (1, −1, 0) (std 1)
    assert reinforce_loss(logp, returns, None, normalize=True)[0].item() == pytest.approx(-(-1 + 2 + 0) / 3, abs=1e-6)


def test_sampling_and_evaluating_actions_match_torch_distributions():
    from torch.distributions import Categorical

    policy = ActorCritic(BOX, gym.spaces.Discrete(4), [16])
    obs = torch.randn(64, 3)
    torch.manual_seed(3)
    action, logp = policy.sample(obs)
    with torch.no_grad():
        dist = Categorical(logits=policy.policy_head(policy.actor_trunk(obs)))
    torch.manual_seed(3)
    assert torch.equal(action, dist.sample())  # the same draws from the same generator state
    assert torch.allclose(logp, dist.log_prob(action), atol=1e-6)
    with torch.no_grad():
        logp, entropy, value = policy.evaluate_actions(obs, action)
    assert torch.allclose(logp, dist.log_prob(action), atol=1e-6)
    assert torch.allclose(entropy, dist.entropy(), atol=1e-6)
    assert np.array_equal(policy.act(obs.numpy()), dist.probs.argmax(-1).numpy())  # greedy: the likeliest action
