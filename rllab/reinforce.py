"""REINFORCE (Williams 1992): the Monte Carlo policy gradient, with an optional learned baseline.

    ∇J(θ) = E[ Σ_t ∇ log π_θ(a_t|s_t) · (G_t − b(s_t)) ],   G_t = Σ_{k≥t} γ^{k−t} r_k   (reward-to-go)

Each update collects `num_envs` complete episodes with the current policy (one per environment, each
reset with a seed drawn from the run's generator), so every return is a true Monte Carlo return and a
checkpoint never falls mid-episode. With `baseline`, V(s) is regressed on G_t and subtracted; a
time-limit truncation then bootstraps from V of the final observation (without a critic it cannot).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from labcore.config import to_dict
from labcore.errors import TrainingError
from labcore.optim import scheduled_lr, set_lr
from labcore.optim import step as optimizer_step
from labcore.run import Run, resolve_device, restore_rng, rng_state, seed_everything
from rllab.config import ReinforceConfig
from rllab.envs import EnvSpec, make_env
from rllab.evaluate import Due, Episodes, EpisodeVideo, evaluate_and_keep_best
from rllab.policies import ActorCritic, PolicyLearner, build_policy
from rllab.returns import discounted_returns, explained_variance
from rllab.vector import native_cartpole


def reinforce_loss(logp: torch.Tensor, returns: torch.Tensor, value: torch.Tensor | None,
                   normalize: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(policy loss −E[log π(a|s) · A], value loss E[(V(s) − G)²]) over the steps of whole episodes, all (N,):
    A = G − V(s) with a baseline (V held fixed in A), else G; standardised over the batch if `normalize`.
    Without a baseline the value loss is 0."""
    adv = returns - value.detach() if value is not None else returns
    if normalize and len(adv) > 1:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    value_loss = ((value - returns) ** 2).mean() if value is not None else torch.zeros((), device=returns.device)
    return -(logp * adv).mean(), value_loss


class ReinforceLearner(PolicyLearner):
    """Owns the policy and its optimiser; `update(batch)` is one gradient step on a batch of whole episodes."""

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg = self.cfg
        logp, entropy, value = self.policy.evaluate_actions(batch["obs"], batch["action"])
        policy_loss, value_loss = reinforce_loss(logp, batch["returns"], value if cfg.baseline else None,
                                                 cfg.normalize_advantage)
        entropy = entropy.mean()
        loss = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy
        if not torch.isfinite(loss):
            raise TrainingError(f"non-finite loss ({loss.item()}); try a lower learning_rate")
        optimizer_step(self.optimizer, loss, cfg.max_grad_norm)
        metrics = {"train/loss": loss.item(), "train/policy_loss": policy_loss.item(), "train/entropy": entropy.item()}
        if cfg.baseline:
            metrics["train/value_loss"] = value_loss.item()
            metrics["train/explained_variance"] = explained_variance(value.detach().cpu().numpy(),
                                                                     batch["returns"].cpu().numpy())
        return metrics


def collect_episodes(envs: list[gym.Env], policy: ActorCritic, rng: np.random.Generator,
                     episodes: Episodes) -> list[dict]:
    """One complete episode per environment with the current policy, each reset with a seed drawn from rng;
    only the unfinished ones are stepped. Each: obs, action (per step), reward, the final observation and
    whether the episode terminated (else it was truncated)."""
    device = next(policy.parameters()).device
    obs = np.stack([env.reset(seed=int(rng.integers(2**31)))[0] for env in envs])
    trajectories = [{"obs": [], "action": [], "reward": [], "final": None, "terminated": False} for _ in envs]
    running = list(range(len(envs)))
    while running:
        action, _ = policy.sample(torch.as_tensor(obs[running], device=device))
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
                episodes.add(info["episode"]["r"], info["episode"]["l"])
            else:
                still.append(i)
        running = still
    return trajectories


def collect_native_episodes(envs: gym.vector.VectorEnv, policy: ActorCritic, rng: np.random.Generator,
                            episodes: Episodes) -> list[dict]:
    """As `collect_episodes`, from a natively vectorised env (`native_cartpole`): every sub-env is reset with one
    seed drawn from rng and all are stepped together until each has ended its first episode; the steps a sub-env
    takes after that (Gymnasium's next-step autoreset) are not part of the batch."""
    device = next(policy.parameters()).device
    obs, _ = envs.reset(seed=int(rng.integers(2**31)))
    n = envs.num_envs
    seen: dict[str, list] = {"obs": [], "action": [], "reward": []}  # per step, (n, ...) each
    last = np.full(n, -1)  # the step at which each sub-env's episode ended
    final, ended_terminated = np.zeros_like(obs), np.zeros(n, bool)
    while (last < 0).any():
        action, _ = policy.sample(torch.as_tensor(obs, device=device))
        next_obs, reward, terminated, truncated, _ = envs.step(policy.env_action(action))
        for key, value in zip(seen, (obs, action, reward)):
            seen[key].append(value)
        ends = (terminated | truncated) & (last < 0)
        last[ends], final[ends], ended_terminated[ends] = len(seen["obs"]) - 1, next_obs[ends], terminated[ends]
        obs = next_obs
    obs, action, reward = np.stack(seen["obs"]), torch.stack(seen["action"]), np.stack(seen["reward"])
    trajectories = [{"obs": list(obs[:t + 1, i]), "action": list(action[:t + 1, i]), "reward": list(reward[:t + 1, i]),
                     "final": final[i], "terminated": bool(ended_terminated[i])} for i, t in enumerate(last)]
    for tr in trajectories:
        episodes.add(sum(tr["reward"]), len(tr["reward"]))
    return trajectories


def episode_batch(cfg: ReinforceConfig, policy: ActorCritic, trajectories: list[dict]) -> dict[str, torch.Tensor]:
    """The episodes' steps as one batch, with each step's reward-to-go G_t (a truncated episode bootstraps from
    V of its final observation when there is a baseline)."""
    device = next(policy.parameters()).device
    returns = []
    for tr in trajectories:
        length = len(tr["reward"])
        reward = np.asarray(tr["reward"], np.float32)[:, None]
        terminated = np.zeros((length, 1), np.float32)
        terminated[-1] = tr["terminated"]
        next_values = None
        if cfg.baseline:
            with torch.no_grad():
                v_final = policy.value(torch.as_tensor(tr["final"][None], device=device)).item()
            next_values = np.zeros((length, 1), np.float32)
            next_values[-1] = v_final
        done = np.zeros((length, 1), bool)
        returns.append(discounted_returns(reward, terminated, done, cfg.gamma, next_values)[:, 0])
    return {"obs": torch.as_tensor(np.concatenate([np.stack(tr["obs"]) for tr in trajectories]), device=device),
            "action": torch.cat([torch.stack(tr["action"]) for tr in trajectories]),
            "returns": torch.as_tensor(np.concatenate(returns), device=device)}


def train(cfg: ReinforceConfig, run_dir: Path, resume: dict | None = None) -> str:
    if cfg.vec_env == "native":  # one vectorised environment with num_envs sub-envs
        envs = [native_cartpole(EnvSpec.of(cfg), cfg.num_envs)]
        collect = partial(collect_native_episodes, envs[0])
    else:
        envs = [make_env(EnvSpec.of(cfg)) for _ in range(cfg.num_envs)]
        collect = partial(collect_episodes, envs)
    device = resolve_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    rng = seed_everything(cfg.seed)
    policy = build_policy(cfg, envs[0]).to(device)
    learner = ReinforceLearner(policy, cfg)
    step, best, episodes, video = 0, -np.inf, Episodes(), EpisodeVideo(cfg)
    if resume:
        learner.load_state_dict(resume["learner"])
        step, best = resume["loop"]["step"], resume["loop"]["best"]
        episodes.load_state_dict(resume["loop"])
        restore_rng(resume["rng"], rng)

    def checkpoint(name: str = "last") -> None:
        loop = {"step": step, "best": best, **episodes.state_dict()}
        run.save({"algo": "reinforce", "config": to_dict(cfg), "step": step, "loop": loop, "rng": rng_state(rng),
                  "learner": learner.state_dict()}, name)

    run = Run(run_dir, to_dict(cfg), total=cfg.steps, start=step, resume=resume is not None,
              desc=f"reinforce {cfg.env}")
    due = Due(step, log=cfg.log_freq, eval=cfg.eval_freq, checkpoint=cfg.checkpoint_freq, video=cfg.video_freq)
    try:
        while step < cfg.steps:
            if run.should_stop():
                checkpoint()
                return "interrupted"
            set_lr(learner.optimizer, scheduled_lr(cfg.lr_schedule, cfg.learning_rate, step / cfg.steps))
            batch = episode_batch(cfg, policy, collect(policy, rng, episodes))
            metrics = learner.update(batch)
            if policy.norm is not None:
                policy.norm.update(batch["obs"])
            step += len(batch["returns"])
            if due("log", step):
                scalars = {**metrics, "time/fps": run.fps(step), **episodes.scalars(),
                           "train/learning_rate": learner.optimizer.param_groups[0]["lr"]}
                run.log(step, scalars)
                run.progress(step, ret=scalars["rollout/ep_rew_mean"])
            if due("eval", step) and step < cfg.steps:
                best = evaluate_and_keep_best(run, policy.act, cfg, step, best, checkpoint)
            if due("video", step) and step < cfg.steps:
                video(run, policy.act, step)
            if due("checkpoint", step):
                checkpoint()
        best = evaluate_and_keep_best(run, policy.act, cfg, step, best, checkpoint, final=True)
        video(run, policy.act, step)
        checkpoint()  # last.pt, after best is known
        run.progress(step)
        return "done"
    finally:
        run.close()
        for env in envs:
            env.close()
