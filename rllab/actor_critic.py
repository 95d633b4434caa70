"""Actor-critic, from A2C (Mnih et al. 2016) to PPO (Schulman et al. 2017): one loop, two sets of defaults.

    L = −E[ min(ρ_t A_t, clip(ρ_t, 1 − ε, 1 + ε) A_t) ] + c_v · E[(V(s_t) − G_t)²] − c_e · E[H(π(·|s_t))]
    ρ_t = π_θ(a_t|s_t) / π_θ_old(a_t|s_t)

With one epoch over one minibatch and no clipping (`ac`), ρ = 1 and ∇ρA = ∇log π · A: the classic
advantage actor-critic. PPO (`ppo`) runs several epochs of minibatches with the clipped objective.
The critic's target G_t is chosen by `critic`: `mc` — discounted returns (λ = 1); `td` — n-step
bootstrapped targets (n = 1 is TD(0)); `gae` — GAE(λ), the general form of both.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

import gymnasium as gym
import numpy as np
import torch

from labcore.config import check, to_dict
from labcore.errors import TrainingError
from labcore.optim import make_optimizer, scheduled_lr, set_lr
from labcore.optim import step as optimizer_step
from labcore.run import Run, resolve_device, restore_rng, rng_state, seed_everything
from rllab.config import PolicyGradientConfig
from rllab.envs import make_env, replay
from rllab.evaluate import evaluate_and_keep_best, next_multiple
from rllab.policies import ActorCritic
from rllab.returns import discounted_returns, gae, nstep_targets


@dataclass
class ACConfig(PolicyGradientConfig):
    rollout_steps: int = 16
    """Steps per environment between updates (the batch is num_envs × rollout_steps)."""
    critic: Literal["gae", "mc", "td"] = "td"
    """Critic targets: mc (discounted returns), td (n-step bootstrapped), gae (GAE(λ))."""
    n_steps: int = 1
    """n of the n-step TD targets (critic=td); 1 is TD(0)."""
    gae_lambda: float = 0.95
    """λ of GAE (critic=gae): 1 gives Monte Carlo, 0 gives TD(0)."""
    epochs: int = 1
    """Passes over each rollout."""
    minibatches: int = 1
    """Minibatches per epoch."""
    clip_range: float = 0.0
    """PPO ratio clipping ε; 0 turns clipping off."""
    clip_range_vf: float = 0.0
    """Clip the value change per update to this (0 = off)."""
    target_kl: float = 0.0
    """Stop a rollout's epochs early when the approximate KL passes this (0 = never)."""

    def __post_init__(self):
        super().__post_init__()
        for key in ("rollout_steps", "n_steps", "epochs", "minibatches"):
            check(getattr(self, key) > 0, key, f"must be > 0, not {getattr(self, key)}")
        check(0 <= self.gae_lambda <= 1, "gae_lambda", "must be in [0, 1]")
        for key in ("clip_range", "clip_range_vf", "target_kl"):
            check(getattr(self, key) >= 0, key, "must be >= 0")
        check((self.num_envs * self.rollout_steps) % self.minibatches == 0, "minibatches",
              "must divide num_envs × rollout_steps")


@dataclass
class PPOConfig(ACConfig):
    rollout_steps: int = 128
    """Steps per environment between updates (the batch is num_envs × rollout_steps)."""
    learning_rate: float = 3e-4
    """Step size."""
    critic: Literal["gae", "mc", "td"] = "gae"
    """Critic targets: mc (discounted returns), td (n-step bootstrapped), gae (GAE(λ))."""
    epochs: int = 10
    """Passes over each rollout."""
    minibatches: int = 4
    """Minibatches per epoch."""
    clip_range: float = 0.2
    """PPO ratio clipping ε; 0 turns clipping off."""


def targets_and_advantages(cfg: ACConfig, reward, values, next_values, terminated, done):
    """(G, A) for the chosen critic, all (T, N)."""
    if cfg.critic == "gae":
        adv = gae(reward, values, next_values, terminated, done, cfg.gamma, cfg.gae_lambda)
        return adv + values, adv
    if cfg.critic == "mc":
        g = discounted_returns(reward, terminated, done, cfg.gamma, next_values)
    else:
        g = nstep_targets(reward, next_values, terminated, done, cfg.gamma, cfg.n_steps)
    return g, g - values


def explained_variance(pred: np.ndarray, target: np.ndarray) -> float:
    """1 − Var[target − pred] / Var[target]: 1 is a perfect critic, 0 no better than a constant."""
    var = np.var(target)
    return float("nan") if var == 0 else float(1 - np.var(target - pred) / var)


class ACLearner:
    """Owns the policy and its optimiser; `update(batch)` is one gradient step on a minibatch."""

    def __init__(self, policy: ActorCritic, cfg: ACConfig):
        self.policy, self.cfg = policy, cfg
        self.optimizer = make_optimizer(cfg.optimizer, policy.parameters(), cfg.learning_rate)

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg = self.cfg
        dist, value = self.policy.dist_and_value(batch["obs"])
        logp = dist.log_prob(batch["action"])
        adv = batch["adv"]
        if cfg.normalize_advantage and len(adv) > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        log_ratio = logp - batch["logp"]
        ratio = log_ratio.exp()
        if cfg.clip_range > 0:
            clipped = ratio.clamp(1 - cfg.clip_range, 1 + cfg.clip_range)
            policy_loss = -torch.min(ratio * adv, clipped * adv).mean()
        else:
            policy_loss = -(ratio * adv).mean()  # at ρ = 1 the gradient is that of −log π · A
        if cfg.clip_range_vf > 0:
            v_clipped = batch["value"] + (value - batch["value"]).clamp(-cfg.clip_range_vf, cfg.clip_range_vf)
            value_loss = torch.max((value - batch["target"]) ** 2, (v_clipped - batch["target"]) ** 2).mean()
        else:
            value_loss = ((value - batch["target"]) ** 2).mean()
        entropy = dist.entropy().mean()
        loss = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy
        if not torch.isfinite(loss):
            raise TrainingError(f"non-finite loss ({loss.item()}); try a lower learning_rate")
        optimizer_step(self.optimizer, loss, cfg.max_grad_norm)
        with torch.no_grad():
            approx_kl = ((ratio - 1) - log_ratio).mean().item()  # Schulman's low-variance estimator
            clip_fraction = ((ratio - 1).abs() > cfg.clip_range).float().mean().item() if cfg.clip_range else 0.0
        return {"train/loss": loss.item(), "train/policy_loss": policy_loss.item(),
                "train/value_loss": value_loss.item(), "train/entropy": entropy.item(),
                "train/approx_kl": approx_kl, "train/clip_fraction": clip_fraction}


def build_policy(cfg: ACConfig, env: gym.Env | gym.vector.VectorEnv) -> ActorCritic:
    obs_space = getattr(env, "single_observation_space", env.observation_space)
    action_space = getattr(env, "single_action_space", env.action_space)
    return ActorCritic(obs_space, action_space, cfg.net_arch, cfg.activation, cfg.shared_trunk,
                       cfg.log_std_init, cfg.normalize_obs)


def load_policy(state: dict, cfg: ACConfig, device: torch.device):
    env = make_env(cfg.env, training=False)
    policy = build_policy(cfg, env).to(device)
    env.close()
    policy.load_state_dict(state["learner"]["policy"])
    return policy.act


def train(cfg: ACConfig, run_dir: Path, resume: dict | None = None, algo: str = "ac") -> str:
    """Train; returns "done" or "interrupted" (a checkpoint is saved either way)."""
    # Autoreset is off: we reset finished sub-envs ourselves, with seeds we draw, so that the step's
    # observation is the true final one (truncated episodes bootstrap from it) and a resumed run can
    # rebuild every sub-env exactly (same seed, same actions).
    envs = gym.vector.SyncVectorEnv([partial(make_env, cfg.env) for _ in range(cfg.num_envs)],
                                    autoreset_mode=gym.vector.AutoresetMode.DISABLED)
    device = resolve_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    rng = seed_everything(cfg.seed)
    policy = build_policy(cfg, envs).to(device)
    learner = ACLearner(policy, cfg)
    n, T = cfg.num_envs, cfg.rollout_steps
    step, best = 0, -np.inf
    episode_returns, episode_lengths = deque(maxlen=100), deque(maxlen=100)
    seeds = [int(s) for s in rng.integers(2**31, size=n)]
    actions_log: list[list] = [[] for _ in range(n)]
    obs, _ = envs.reset(seed=seeds)
    if resume:
        learner.policy.load_state_dict(resume["learner"]["policy"])
        learner.optimizer.load_state_dict(resume["learner"]["optimizer"])
        s = resume["loop"]
        step, best, seeds, actions_log = s["step"], s["best"], list(s["seeds"]), [list(a) for a in s["actions"]]
        episode_returns.extend(s["episode_returns"])
        episode_lengths.extend(s["episode_lengths"])
        for i, env in enumerate(envs.envs):  # rebuild each sub-env: same reset seed, same actions
            obs[i] = replay(env, seeds[i], actions_log[i])
        restore_rng(resume["rng"], rng)

    def checkpoint(name: str = "last") -> None:
        loop = {"step": step, "best": best, "seeds": seeds, "actions": actions_log,
                "episode_returns": list(episode_returns), "episode_lengths": list(episode_lengths)}
        run.save({"algo": algo, "config": to_dict(cfg), "step": step, "loop": loop, "rng": rng_state(rng),
                  "learner": {"policy": policy.state_dict(), "optimizer": learner.optimizer.state_dict()}}, name)

    run = Run(run_dir, to_dict(cfg), total=cfg.steps, start=step, resume=resume is not None, desc=f"{algo} {cfg.env}")
    obs_dim = envs.single_observation_space.shape
    # a rollout (or batch of episodes) spans many steps: each fires at the first one past its multiple
    next_log, next_eval, next_ckpt = (next_multiple(step, k)
                                      for k in (cfg.log_freq, cfg.eval_freq, cfg.checkpoint_freq))
    try:
        while step < cfg.steps:
            if run.stop_requested:
                checkpoint()
                return "interrupted"
            set_lr(learner.optimizer, scheduled_lr(cfg.lr_schedule, cfg.learning_rate, step / cfg.steps))
            buf_obs = np.zeros((T, n, *obs_dim), np.float32)
            buf_final = np.zeros((T, n, *obs_dim), np.float32)  # the true next observation of each step
            buf_action, buf_logp = [], np.zeros((T, n), np.float32)
            reward, terminated = np.zeros((T, n), np.float32), np.zeros((T, n), np.float32)
            done = np.zeros((T, n), bool)
            for t in range(T):
                with torch.no_grad():  # the actor only: values are computed for the whole rollout below
                    dist = policy.dist(torch.as_tensor(obs, device=device))
                    action = dist.sample()
                    buf_logp[t] = dist.log_prob(action).cpu().numpy()
                env_action = policy.env_action(action)
                buf_obs[t] = obs
                buf_action.append(action)
                obs, reward[t], term, trunc, info = envs.step(env_action)
                buf_final[t], terminated[t], done[t] = obs, term, term | trunc
                for i in range(n):
                    actions_log[i].append(env_action[i].tolist())
                if done[t].any():
                    for i in np.flatnonzero(done[t]):
                        episode_returns.append(float(info["episode"]["r"][i]))
                        episode_lengths.append(int(info["episode"]["l"][i]))
                        seeds[i], actions_log[i] = int(rng.integers(2**31)), []
                    reset_obs, _ = envs.reset(seed=seeds, options={"reset_mask": done[t].copy()})
                    obs = np.where(done[t][:, None], reset_obs, obs)
            step += T * n

            with torch.no_grad():  # V(s_t) and V(s_{t+1}) (the true next observations) in two batched passes
                buf_value = policy.value(torch.as_tensor(buf_obs.reshape(T * n, *obs_dim), device=device))
                next_values = policy.value(torch.as_tensor(buf_final.reshape(T * n, *obs_dim), device=device))
            buf_value, next_values = (v.cpu().numpy().reshape(T, n) for v in (buf_value, next_values))
            target, adv = targets_and_advantages(cfg, reward, buf_value, next_values, terminated, done)
            flat = {"obs": buf_obs.reshape(T * n, *obs_dim), "action": torch.stack(buf_action).flatten(0, 1),
                    "logp": buf_logp.ravel(), "value": buf_value.ravel(), "target": target.ravel(), "adv": adv.ravel()}
            batch = {k: torch.as_tensor(v, device=device) for k, v in flat.items()}
            size = T * n // cfg.minibatches
            metrics: list[dict[str, float]] = []
            for _ in range(cfg.epochs):
                order = torch.as_tensor(rng.permutation(T * n), device=device)
                for k in range(cfg.minibatches):
                    idx = order[k * size:(k + 1) * size]
                    metrics.append(learner.update({key: v[idx] for key, v in batch.items()}))
                if cfg.target_kl and metrics[-1]["train/approx_kl"] > cfg.target_kl:
                    break
            if policy.norm is not None:  # after the update, so old and new log-probs used the same statistics
                policy.norm.update(batch["obs"])

            if step >= next_log:
                next_log = next_multiple(step, cfg.log_freq)
                scalars = {k: float(np.mean([m[k] for m in metrics])) for k in metrics[0]}
                scalars["train/explained_variance"] = explained_variance(buf_value.ravel(), target.ravel())
                scalars["train/learning_rate"] = learner.optimizer.param_groups[0]["lr"]
                scalars["time/fps"] = run.fps(step)
                if not policy.discrete:
                    scalars["train/std"] = float(policy.log_std.detach().exp().mean())
                if episode_returns:
                    scalars["rollout/ep_rew_mean"] = float(np.mean(episode_returns))
                    scalars["rollout/ep_len_mean"] = float(np.mean(episode_lengths))
                run.log(step, scalars)
                run.progress(step, ret=scalars.get("rollout/ep_rew_mean", float("nan")))
            if step >= next_eval and step < cfg.steps:
                next_eval = next_multiple(step, cfg.eval_freq)
                best = evaluate_and_keep_best(run, policy.act, cfg, step, best, checkpoint)
            if step >= next_ckpt:
                next_ckpt = next_multiple(step, cfg.checkpoint_freq)
                checkpoint()
        best = evaluate_and_keep_best(run, policy.act, cfg, step, best, checkpoint, final=True)
        checkpoint()  # last.pt, after best is known
        run.progress(step)
        return "done"
    finally:
        run.close()
        envs.close()
