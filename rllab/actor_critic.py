"""Actor-critic, from A2C (Mnih et al. 2016) to PPO (Schulman et al. 2017): one loop, two sets of defaults.

    L = −E[ min(ρ_t A_t, clip(ρ_t, 1 − ε, 1 + ε) A_t) ] + c_v · E[(V(s_t) − G_t)²] − c_e · E[H(π(·|s_t))]
    ρ_t = π_θ(a_t|s_t) / π_θ_old(a_t|s_t)

With one epoch over one minibatch and no clipping (`ac`), ρ = 1 and ∇ρA = ∇log π · A: the classic
advantage actor-critic. PPO (`ppo`) runs several epochs of minibatches with the clipped objective.
The critic's target G_t is chosen by `critic`: `mc` — discounted returns (λ = 1); `td` — n-step
bootstrapped targets (n = 1 is TD(0)); `gae` — GAE(λ), the general form of both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from labcore import distributed
from labcore.config import to_dict
from labcore.errors import TrainingError
from labcore.optim import scheduled_lr, set_lr
from labcore.optim import step as optimizer_step
from labcore.run import Run, resolve_device, restore_rng, rng_state, seed_everything
from rllab.config import ACConfig, PPOConfig
from rllab.envs import EnvSpec
from rllab.evaluate import Due, Episodes, EpisodeVideo, evaluate_and_keep_best
from rllab.policies import ActorCritic, PolicyLearner, build_policy
from rllab.returns import discounted_returns, explained_variance, gae, nstep_targets
from rllab.vector import NativeEnvs, TrainEnvs, train_envs


def clipped_surrogate(ratio: torch.Tensor, adv: torch.Tensor, clip_range: float) -> torch.Tensor:
    """The policy loss −E[min(ρA, clip(ρ, 1 − ε, 1 + ε) A)], all (B,); with ε = 0, −E[ρA], whose gradient at
    ρ = 1 is that of −E[log π · A]."""
    if clip_range > 0:
        clipped = ratio.clamp(1 - clip_range, 1 + clip_range)
        return -torch.min(ratio * adv, clipped * adv).mean()
    return -(ratio * adv).mean()


def clipped_value_loss(value: torch.Tensor, old_value: torch.Tensor, target: torch.Tensor,
                       clip_range_vf: float) -> torch.Tensor:
    """E[max((V − G)², (V_old + clip(V − V_old, −ε_v, ε_v) − G)²)], all (B,); with ε_v = 0, E[(V − G)²]."""
    if clip_range_vf > 0:
        v_clipped = old_value + (value - old_value).clamp(-clip_range_vf, clip_range_vf)
        return torch.max((value - target) ** 2, (v_clipped - target) ** 2).mean()
    return ((value - target) ** 2).mean()


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


class ACLearner(PolicyLearner):
    """Owns the policy and its optimiser; `update(batch)` is one gradient step on a minibatch."""

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg = self.cfg
        logp, entropy, value = self.policy.evaluate_actions(batch["obs"], batch["action"])
        adv = batch["adv"]
        if cfg.normalize_advantage and len(adv) > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        log_ratio = logp - batch["logp"]
        ratio = log_ratio.exp()
        policy_loss = clipped_surrogate(ratio, adv, cfg.clip_range)
        value_loss = clipped_value_loss(value, batch["value"], batch["target"], cfg.clip_range_vf)
        entropy = entropy.mean()
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


def collect_rollout(envs: TrainEnvs | NativeEnvs, policy: ActorCritic, steps: int,
                    episodes: Episodes) -> dict[str, np.ndarray]:
    """`steps` steps of every sub-env with the current policy (the actor only), from `envs.obs`.

    Returns obs and the true next obs (T, N, ...), action (T, N, ...) as the policy sampled it, and logp, reward,
    terminated, done (T, N). Finished episodes go into `episodes`.
    """
    device = next(policy.parameters()).device
    T, n, obs_shape = steps, envs.num_envs, envs.single_observation_space.shape
    out = {"obs": np.zeros((T, n, *obs_shape), np.float32), "final": np.zeros((T, n, *obs_shape), np.float32),
           "logp": np.zeros((T, n), np.float32), "reward": np.zeros((T, n), np.float32),
           "terminated": np.zeros((T, n), np.float32), "done": np.zeros((T, n), bool)}
    sampled = []
    for t in range(T):
        out["obs"][t] = envs.obs
        action, logp = policy.sample(torch.as_tensor(envs.obs, device=device))
        out["logp"][t] = logp.cpu().numpy()
        sampled.append(action)
        out["final"][t], out["reward"][t], out["terminated"][t], out["done"][t] = envs.step(
            policy.env_action(action), episodes)
    out["action"] = torch.stack(sampled)
    return out


def training_batch(cfg: ACConfig, policy: ActorCritic, rollout: dict) -> dict[str, torch.Tensor]:
    """The rollout flattened to (T·N, ...) with V(s_t), the critic's targets G_t and the advantages A_t."""
    device = next(policy.parameters()).device
    T, n = rollout["reward"].shape
    obs_shape = rollout["obs"].shape[2:]
    with torch.no_grad():  # V(s_t) and V(s_{t+1}) (the true next observations) in two batched passes
        value = policy.value(torch.as_tensor(rollout["obs"].reshape(T * n, *obs_shape), device=device))
        next_value = policy.value(torch.as_tensor(rollout["final"].reshape(T * n, *obs_shape), device=device))
    value, next_value = (v.cpu().numpy().reshape(T, n) for v in (value, next_value))
    target, adv = targets_and_advantages(cfg, rollout["reward"], value, next_value, rollout["terminated"],
                                         rollout["done"])
    flat = {"obs": rollout["obs"].reshape(T * n, *obs_shape), "action": rollout["action"].flatten(0, 1),
            "logp": rollout["logp"].ravel(), "value": value.ravel(), "target": target.ravel(), "adv": adv.ravel()}
    return {k: torch.as_tensor(v, device=device) for k, v in flat.items()}


def optimise(learner: ACLearner, batch: dict[str, torch.Tensor], rng: np.random.Generator) -> list[dict]:
    """`epochs` passes over the batch in shuffled minibatches (fewer once the approximate KL passes target_kl)."""
    cfg, size = learner.cfg, len(batch["adv"])
    metrics: list[dict[str, float]] = []
    for _ in range(cfg.epochs):
        order = torch.as_tensor(rng.permutation(size), device=batch["adv"].device)
        for idx in order.chunk(cfg.minibatches):
            metrics.append(learner.update({key: v[idx] for key, v in batch.items()}))
        # every rank takes the same number of steps: they stop on the mean KL over ranks
        if cfg.target_kl and distributed.mean_over_ranks(metrics[-1]["train/approx_kl"]) > cfg.target_kl:
            break
    return metrics


def train(cfg: ACConfig, run_dir: Path, resume: dict | None = None) -> str:
    """Train; returns "done" or "interrupted" (a checkpoint is saved either way)."""
    algo = "ppo" if isinstance(cfg, PPOConfig) else "ac"
    device = resolve_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    rng = seed_everything(cfg.seed)
    envs = train_envs(EnvSpec.of(cfg), cfg.num_envs, cfg.vec_env, rng)
    policy = build_policy(cfg, envs).to(device)
    distributed.broadcast_state(policy)  # every rank starts from rank 0's weights
    learner = ACLearner(policy, cfg)
    step, best, episodes, video = 0, -np.inf, Episodes(), EpisodeVideo(cfg)
    if resume:
        learner.load_state_dict(resume["learner"])
        s = resume["loop"]
        step, best = s["step"], s["best"]
        episodes.load_state_dict(s)
        envs.load_state_dict(s)
        restore_rng(resume["rng"], rng)

    def checkpoint(name: str = "last") -> None:
        loop = {"step": step, "best": best, **envs.state_dict(), **episodes.state_dict()}
        run.save({"algo": algo, "config": to_dict(cfg), "step": step, "loop": loop, "rng": rng_state(rng),
                  "learner": learner.state_dict()}, name)

    run = Run(run_dir, to_dict(cfg), total=cfg.steps, start=step, resume=resume is not None, desc=f"{algo} {cfg.env}")
    due = Due(step, log=cfg.log_freq, eval=cfg.eval_freq, checkpoint=cfg.checkpoint_freq, video=cfg.video_freq)
    try:
        while step < cfg.steps:
            if run.should_stop():
                checkpoint()
                return "interrupted"
            set_lr(learner.optimizer, scheduled_lr(cfg.lr_schedule, cfg.learning_rate, step / cfg.steps))
            rollout = collect_rollout(envs, policy, cfg.rollout_steps, episodes)
            step += cfg.rollout_steps * cfg.num_envs * distributed.world_size()  # the whole job's steps
            batch = training_batch(cfg, policy, rollout)
            metrics = optimise(learner, batch, rng)
            if policy.norm is not None:  # after the update, so old and new log-probs used the same statistics
                policy.norm.update(batch["obs"])
            if due("log", step):
                scalars = {k: float(np.mean([m[k] for m in metrics])) for k in metrics[0]}
                explained = explained_variance(batch["value"].cpu().numpy(), batch["target"].cpu().numpy())
                scalars.update({"train/explained_variance": explained, "time/fps": run.fps(step),
                                "train/learning_rate": learner.optimizer.param_groups[0]["lr"], **episodes.scalars()})
                if not policy.discrete:
                    scalars["train/std"] = float(policy.log_std.detach().exp().mean())
                run.log(step, scalars)
                run.progress(step, ret=scalars.get("rollout/ep_rew_mean", float("nan")))
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
        envs.close()
