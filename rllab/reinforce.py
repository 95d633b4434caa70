"""REINFORCE (Williams 1992): the Monte Carlo policy gradient, with an optional learned baseline.

    ∇J(θ) = E[ Σ_t ∇ log π_θ(a_t|s_t) · (G_t − b(s_t)) ],   G_t = Σ_{k≥t} γ^{k−t} r_k   (reward-to-go)

Each update collects `num_envs` complete episodes with the current policy (one per environment, each
reset with a seed drawn from the run's generator), so every return is a true Monte Carlo return and a
checkpoint never falls mid-episode. With `baseline`, V(s) is regressed on G_t and subtracted; a
time-limit truncation then bootstraps from V of the final observation (without a critic it cannot).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from labcore.config import to_dict
from labcore.errors import TrainingError
from labcore.optim import make_optimizer, scheduled_lr, set_lr
from labcore.optim import step as optimizer_step
from labcore.run import Run, resolve_device, restore_rng, rng_state, seed_everything
from rllab.actor_critic import build_policy, explained_variance
from rllab.config import PolicyGradientConfig
from rllab.envs import make_env
from rllab.evaluate import evaluate_and_keep_best, next_multiple
from rllab.returns import discounted_returns


@dataclass
class ReinforceConfig(PolicyGradientConfig):
    baseline: bool = True
    """Subtract a learned V(s) from the returns."""


def train(cfg: ReinforceConfig, run_dir: Path, resume: dict | None = None) -> str:
    envs = [make_env(cfg.env) for _ in range(cfg.num_envs)]
    device = resolve_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    rng = seed_everything(cfg.seed)
    policy = build_policy(cfg, envs[0]).to(device)
    optimizer = make_optimizer(cfg.optimizer, policy.parameters(), cfg.learning_rate)
    step, best, episode_returns, episode_lengths = 0, -np.inf, deque(maxlen=100), deque(maxlen=100)
    if resume:
        policy.load_state_dict(resume["learner"]["policy"])
        optimizer.load_state_dict(resume["learner"]["optimizer"])
        s = resume["loop"]
        step, best = s["step"], s["best"]
        episode_returns.extend(s["episode_returns"])
        episode_lengths.extend(s["episode_lengths"])
        restore_rng(resume["rng"], rng)

    def checkpoint(name: str = "last") -> None:
        loop = {"step": step, "best": best, "episode_returns": list(episode_returns),
                "episode_lengths": list(episode_lengths)}
        run.save({"algo": "reinforce", "config": to_dict(cfg), "step": step, "loop": loop, "rng": rng_state(rng),
                  "learner": {"policy": policy.state_dict(), "optimizer": optimizer.state_dict()}}, name)

    run = Run(run_dir, to_dict(cfg), total=cfg.steps, start=step, resume=resume is not None,
              desc=f"reinforce {cfg.env}")
    # a rollout (or batch of episodes) spans many steps: each fires at the first one past its multiple
    next_log, next_eval, next_ckpt = (next_multiple(step, k)
                                      for k in (cfg.log_freq, cfg.eval_freq, cfg.checkpoint_freq))
    try:
        while step < cfg.steps:
            if run.stop_requested:
                checkpoint()
                return "interrupted"
            set_lr(optimizer, scheduled_lr(cfg.lr_schedule, cfg.learning_rate, step / cfg.steps))
            # --- collect one complete episode per environment, stepping only the unfinished ones ---
            obs = np.stack([env.reset(seed=int(rng.integers(2**31)))[0] for env in envs])
            trajectories = [{"obs": [], "action": [], "reward": [], "final": None, "terminated": False}
                            for _ in envs]
            running = list(range(len(envs)))
            while running:
                with torch.no_grad():
                    action = policy.dist(torch.as_tensor(obs[running], device=device)).sample()
                env_action = policy.env_action(action)
                still = []
                for j, i in enumerate(running):
                    tr = trajectories[i]
                    tr["obs"].append(obs[i].copy())  # obs[i] is overwritten in place below
                    tr["action"].append(action[j])
                    obs[i], reward, terminated, truncated, info = envs[i].step(env_action[j])
                    tr["reward"].append(reward)
                    if terminated or truncated:
                        tr["final"], tr["terminated"] = obs[i].copy(), terminated
                        episode_returns.append(float(info["episode"]["r"]))
                        episode_lengths.append(int(info["episode"]["l"]))
                    else:
                        still.append(i)
                running = still
            # --- returns (reward-to-go per episode), then one gradient step on all of them ---
            obs_b = torch.as_tensor(np.concatenate([np.stack(tr["obs"]) for tr in trajectories]), device=device)
            returns = []
            for tr in trajectories:
                L = len(tr["reward"])
                reward = np.asarray(tr["reward"], np.float32)[:, None]
                terminated = np.zeros((L, 1), np.float32)
                terminated[-1] = tr["terminated"]
                next_values = None
                if cfg.baseline:  # a truncated episode bootstraps from V(final observation)
                    with torch.no_grad():
                        v_final = policy.value(torch.as_tensor(tr["final"][None], device=device)).item()
                    next_values = np.zeros((L, 1), np.float32)
                    next_values[-1] = v_final
                done = np.zeros((L, 1), bool)
                returns.append(discounted_returns(reward, terminated, done, cfg.gamma, next_values)[:, 0])
            G = torch.as_tensor(np.concatenate(returns), device=device)
            dist, value = policy.dist_and_value(obs_b)
            logp = dist.log_prob(torch.cat([torch.stack(tr["action"]) for tr in trajectories]))
            adv = G - value.detach() if cfg.baseline else G
            if cfg.normalize_advantage and len(adv) > 1:
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)
            policy_loss = -(logp * adv).mean()
            value_loss = ((value - G) ** 2).mean() if cfg.baseline else torch.zeros((), device=device)
            entropy = dist.entropy().mean()
            loss = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy
            if not torch.isfinite(loss):
                raise TrainingError(f"non-finite loss ({loss.item()}); try a lower learning_rate")
            optimizer_step(optimizer, loss, cfg.max_grad_norm)
            if policy.norm is not None:
                policy.norm.update(obs_b)
            step += len(G)

            if step >= next_log:
                next_log = next_multiple(step, cfg.log_freq)
                scalars = {"train/loss": loss.item(), "train/policy_loss": policy_loss.item(),
                           "train/entropy": entropy.item(), "time/fps": run.fps(step),
                           "train/learning_rate": optimizer.param_groups[0]["lr"],
                           "rollout/ep_rew_mean": float(np.mean(episode_returns)),
                           "rollout/ep_len_mean": float(np.mean(episode_lengths))}
                if cfg.baseline:
                    scalars["train/value_loss"] = value_loss.item()
                    scalars["train/explained_variance"] = explained_variance(value.detach().cpu().numpy(),
                                                                             G.cpu().numpy())
                run.log(step, scalars)
                run.progress(step, ret=scalars["rollout/ep_rew_mean"])
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
        for env in envs:
            env.close()
