"""Stochastic policies with a value head: categorical for Discrete actions, diagonal Gaussian for Box.

Continuous actions are sampled from an unbounded Gaussian and *clipped* to the action bounds when sent
to the environment; the log-probability is that of the unclipped sample. Clipping (as Stable-Baselines3
and CleanRL do) keeps the likelihood ratio exact and the mean action free to sit at a bound; a tanh
squash would need a Jacobian correction and makes actions at the bounds unreachable.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from torch import nn
from torch.distributions import Categorical, Distribution, Independent, Normal

from labcore import distributed
from labcore.errors import UsageError
from labcore.nets import mlp
from labcore.optim import make_optimizer
from rllab.envs import EnvSpec, make_env


class RunningNorm(nn.Module):
    """Observation normalisation with running mean and variance (Chan et al.'s parallel update).

    Written here rather than using Gymnasium's NormalizeObservation wrapper so that the statistics are
    buffers of the policy: they travel in its state_dict, and `eval`/`enjoy` apply them frozen.
    """

    def __init__(self, dim: int, clip: float = 10.0):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("var", torch.ones(dim))
        self.register_buffer("count", torch.tensor(1e-4))
        self.clip = clip

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:  # x: (B, dim)
        b_mean, b_var, b = x.mean(0), x.var(0, unbiased=False), x.shape[0]
        if distributed.world_size() > 1:  # the batch of every rank together, so all ranks keep one statistic
            d, x64 = x.shape[1], x.double()
            total = distributed.sum_tensor_over_ranks(torch.cat([x64.sum(0), x64.pow(2).sum(0), x64.new_tensor([b])]))
            b = total[-1].item()
            b_mean = (total[:d] / b).to(x.dtype)
            b_var = (total[d:2 * d] / b - (total[:d] / b) ** 2).clamp(min=0).to(x.dtype)
        delta, total = b_mean - self.mean, self.count + b
        self.mean += delta * b / total
        self.var = (self.var * self.count + b_var * b + delta**2 * self.count * b / total) / total
        self.count = total

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x - self.mean) / torch.sqrt(self.var + 1e-8)).clamp(-self.clip, self.clip)


def categorical_logp_entropy(logits: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log π(a|s) and the entropy of the categorical distribution softmax(logits): logits (B, A), action (B,) →
    (B,), (B,). The same values as torch.distributions.Categorical's, in a third of its time on CartPole-sized
    batches (its argument broadcasting and lazy properties cost more than the network; docs/performance.md)."""
    logp_all = logits.log_softmax(-1)  # (B, A)
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    return logp_all.gather(-1, action.long().unsqueeze(-1)).squeeze(-1), entropy


def diag_gaussian(mean: torch.Tensor, log_std: torch.Tensor) -> Distribution:
    """N(mean, diag(exp(log_std)²)) over the last dimension; log_prob and entropy sum over it."""
    return Independent(Normal(mean, log_std.exp().expand_as(mean), validate_args=False), 1, validate_args=False)


class ActorCritic(nn.Module):
    """π(a|s) and V(s) from MLPs, with shared or separate trunks."""

    def __init__(self, obs_space: gym.Space, action_space: gym.Space, hidden: list[int], act: str = "tanh",
                 shared: bool = False, log_std_init: float = 0.0, normalize_obs: bool = False):
        super().__init__()
        if not (isinstance(obs_space, spaces.Box) and len(obs_space.shape) == 1):
            raise UsageError(f"policy-gradient methods here take vector observations, not {obs_space}")
        obs_dim = obs_space.shape[0]
        self.norm = RunningNorm(obs_dim) if normalize_obs else None
        self.discrete = isinstance(action_space, spaces.Discrete)
        if self.discrete:
            out = int(action_space.n)
        elif isinstance(action_space, spaces.Box) and len(action_space.shape) == 1:
            out = action_space.shape[0]
            self.register_buffer("low", torch.as_tensor(action_space.low, dtype=torch.float32))
            self.register_buffer("high", torch.as_tensor(action_space.high, dtype=torch.float32))
            self.log_std = nn.Parameter(torch.full((out,), float(log_std_init)))
        else:
            raise UsageError(f"unsupported action space {action_space}; Discrete and 1-D Box are supported")
        width = hidden[-1] if hidden else obs_dim
        self.actor_trunk = mlp(obs_dim, hidden, act=act)
        self.critic_trunk = self.actor_trunk if shared else mlp(obs_dim, hidden, act=act)
        self.policy_head = nn.Linear(width, out)
        self.value_head = nn.Linear(width, 1)
        # Orthogonal init with a small policy head (Andrychowicz et al. 2021: "What matters in on-policy RL").
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.orthogonal_(m.weight, np.sqrt(2))
                nn.init.zeros_(m.bias)
        nn.init.orthogonal_(self.policy_head.weight, 0.01)
        nn.init.orthogonal_(self.value_head.weight, 1.0)

    def _in(self, obs: torch.Tensor) -> torch.Tensor:
        return obs if self.norm is None else self.norm(obs)

    def actor_out(self, obs: torch.Tensor) -> torch.Tensor:
        """The policy head's output: logits (B, A) for Discrete actions, the Gaussian's mean (B, D) for Box."""
        return self.policy_head(self.actor_trunk(self._in(obs)))

    def dist(self, obs: torch.Tensor) -> Distribution:
        out = self.actor_out(obs)
        # validate_args=False: the argument checks cost more than the tiny networks' forward pass
        return Categorical(logits=out, validate_args=False) if self.discrete else diag_gaussian(out, self.log_std)

    def value(self, obs: torch.Tensor) -> torch.Tensor:  # (B,)
        return self.value_head(self.critic_trunk(self._in(obs))).squeeze(-1)

    def evaluate_actions(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(log π(a|s), entropy of π(·|s), V(s)), all (B,), for the learners' losses."""
        if self.discrete:
            return *categorical_logp_entropy(self.actor_out(obs), action), self.value(obs)
        dist = self.dist(obs)
        return dist.log_prob(action), dist.entropy(), self.value(obs)

    @torch.no_grad()
    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(a ~ π(·|s), log π(a|s)), for collecting experience. Discrete actions are drawn as
        Categorical.sample draws them (one multinomial draw from softmax(logits)), without its overhead."""
        out = self.actor_out(obs)
        if self.discrete:
            logp_all = out.log_softmax(-1)  # (B, A)
            action = torch.multinomial(logp_all.exp(), 1, True).squeeze(-1)  # (B,)
            return action, logp_all.gather(-1, action.unsqueeze(-1)).squeeze(-1)
        dist = diag_gaussian(out, self.log_std)
        action = dist.sample()
        return action, dist.log_prob(action)

    def env_action(self, action: torch.Tensor) -> np.ndarray:
        """What the environment receives: the sample, clipped to the bounds for Box spaces."""
        if self.discrete:
            return action.cpu().numpy()
        return torch.maximum(torch.minimum(action, self.high), self.low).cpu().numpy()

    @torch.inference_mode()
    def act(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic actions for evaluation: the most likely class, or the Gaussian mean."""
        device = self.policy_head.weight.device
        out = self.actor_out(torch.as_tensor(obs, dtype=torch.float32, device=device))
        return self.env_action(out.argmax(-1) if self.discrete else out)  # the Gaussian's mean is `out`


def build_policy(cfg, env: gym.Env | gym.vector.VectorEnv) -> ActorCritic:
    """The policy a policy-gradient config describes, for an environment's (or a vector env's single) spaces."""
    vector = hasattr(env, "single_action_space")
    obs_space = env.single_observation_space if vector else env.observation_space
    action_space = env.single_action_space if vector else env.action_space
    return ActorCritic(obs_space, action_space, cfg.net_arch, cfg.activation, cfg.shared_trunk,
                       cfg.log_std_init, cfg.normalize_obs)


class PolicyLearner:
    """What the policy-gradient learners share: the policy, its optimiser, and their checkpointed state. Each
    algorithm's learner adds `update(batch) -> metrics`."""

    def __init__(self, policy: ActorCritic, cfg):
        self.policy, self.cfg = policy, cfg
        self.optimizer = make_optimizer(cfg.optimizer, policy.parameters(), cfg.learning_rate)

    def state_dict(self) -> dict:
        return {"policy": self.policy.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])


def load_policy(state: dict, cfg, device: torch.device):
    """The deterministic policy of a policy-gradient checkpoint, as a function of a batch of observations."""
    env = make_env(EnvSpec.of(cfg), training=False)
    policy = build_policy(cfg, env).to(device)
    env.close()
    policy.load_state_dict(state["learner"]["policy"])
    return policy.act
