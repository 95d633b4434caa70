"""Deep Q-Network (Mnih et al. 2015), with Double DQN (van Hasselt et al. 2016) and a dueling head
(Wang et al. 2016) as options.

    y = r + γ · (1 − terminated) · Q_target(s', argmax_a' Q(s', a'))     (Double DQN; plain DQN: max_a')
    L(θ) = E_(s,a,r,s')~D [ huber(Q_θ(s, a) − y) ]

ε-greedy acting with a linearly decaying ε, a uniform replay buffer, and a target network updated by
hard copy (τ = 1) or Polyak averaging every `target_update_interval` environment steps.
"""

from __future__ import annotations

import copy
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from labcore.config import to_dict
from labcore.errors import TrainingError
from labcore.nets import conv_encoder, mlp
from labcore.optim import make_optimizer, scheduled_lr, set_lr
from labcore.optim import step as optimizer_step
from labcore.run import Run, resolve_device, restore_rng, rng_state, seed_everything
from rllab.config import DQNConfig
from rllab.envs import EnvSpec, is_image, make_env, require_discrete
from rllab.evaluate import Due, Episodes, EpisodeVideo, evaluate_and_keep_best
from rllab.replay import ReplayBuffer
from rllab.vector import train_envs


def td_target(reward: torch.Tensor, next_q: torch.Tensor, terminated: torch.Tensor, gamma: float) -> torch.Tensor:
    """y = r + γ (1 − terminated) q'. All (B,). Bootstrap on truncation, not on termination."""
    return reward + gamma * (1.0 - terminated) * next_q


def due_count(step: int, n: int, every: int) -> int:
    """How many multiples of `every` the last `n` environment steps passed: those in (step − n, step]. With n
    environments stepped at once this keeps updates per transition what they are with one."""
    return step // every - (step - n) // every


def linear_schedule(start: float, end: float, duration: float, t: float) -> float:
    """Linear from `start` at t=0 to `end` at t=duration, then constant."""
    return end + (start - end) * max(0.0, 1.0 - t / duration)


class QNetwork(nn.Module):
    """MLP on vectors, Nature-DQN conv torso on uint8 image stacks; linear or dueling head."""

    def __init__(self, obs_space: gym.Space, n_actions: int, hidden: list[int], act: str, dueling: bool):
        super().__init__()
        self.image = is_image(obs_space)
        if self.image:
            self.torso, width = conv_encoder(obs_space.shape, act=act)
            hidden = hidden[-1:]  # the Nature head: one hidden layer (512 in the Atari recipe)
        else:
            self.torso, width = nn.Identity(), int(np.prod(obs_space.shape))
        self.body = mlp(width, hidden, act=act)
        width = hidden[-1] if hidden else width
        self.dueling = dueling
        self.head = nn.Linear(width, n_actions)
        self.value = nn.Linear(width, 1) if dueling else None

    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # (B, *obs) → (B, A)
        x = obs.float() / 255.0 if self.image else obs
        h = self.body(self.torso(x))
        adv = self.head(h)
        if self.value is None:
            return adv
        return self.value(h) + adv - adv.mean(dim=1, keepdim=True)


class DQNLearner:
    """Owns the online and target networks and the optimiser; `update(batch)` is one gradient step."""

    def __init__(self, q: QNetwork, cfg: DQNConfig):
        self.q, self.q_target, self.cfg = q, copy.deepcopy(q), cfg
        self.q_target.requires_grad_(False)
        self.optimizer = make_optimizer(cfg.optimizer, q.parameters(), cfg.learning_rate)

    @torch.inference_mode()
    def act(self, obs: np.ndarray) -> np.ndarray:
        """Greedy actions for a batch of observations."""
        device = next(self.q.parameters()).device
        return self.q(torch.as_tensor(obs, device=device)).argmax(dim=1).cpu().numpy()

    def update(self, batch: tuple[torch.Tensor, ...]) -> dict[str, float]:
        obs, action, reward, next_obs, terminated = batch
        cfg = self.cfg
        with torch.no_grad():
            next_q_all = self.q_target(next_obs)  # (B, A)
            if cfg.double_q:
                next_action = self.q(next_obs).argmax(dim=1, keepdim=True)  # (B, 1)
                next_q = next_q_all.gather(1, next_action).squeeze(1)
            else:
                next_q = next_q_all.max(dim=1).values
            y = td_target(reward, next_q, terminated, cfg.gamma)
        q = self.q(obs).gather(1, action.unsqueeze(1)).squeeze(1)  # (B,)
        loss = F.smooth_l1_loss(q, y) if cfg.loss == "huber" else F.mse_loss(q, y)
        loss_value = loss.item()
        if not np.isfinite(loss_value):  # before the step, so the weights stay good
            raise TrainingError(f"non-finite TD loss ({loss_value}); try a lower learning_rate")
        optimizer_step(self.optimizer, loss, cfg.max_grad_norm)
        return {"train/loss": loss_value, "train/q_mean": q.detach().mean().item()}

    @torch.no_grad()
    def update_target(self) -> None:
        for p, p_target in zip(self.q.parameters(), self.q_target.parameters()):
            p_target.lerp_(p, self.cfg.tau)

    def state_dict(self) -> dict:
        return {"q": self.q.state_dict(), "q_target": self.q_target.state_dict(),
                "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.q.load_state_dict(state["q"])
        self.q_target.load_state_dict(state["q_target"])
        self.optimizer.load_state_dict(state["optimizer"])


def build_q(cfg: DQNConfig, obs_space: gym.Space, n_actions: int) -> QNetwork:
    return QNetwork(obs_space, n_actions, cfg.net_arch, cfg.activation, cfg.dueling)


def load_policy(state: dict, cfg: DQNConfig, device: torch.device):
    """The greedy policy of a checkpoint, as a function of a batch of observations."""
    env = make_env(EnvSpec.of(cfg), training=False)
    q = build_q(cfg, env.observation_space, require_discrete(env, cfg.env, "dqn")).to(device)
    q.load_state_dict(state["learner"]["q"])
    env.close()
    return DQNLearner(q, cfg).act


def train(cfg: DQNConfig, run_dir: Path, resume: dict | None = None) -> str:
    """Train; returns "done" or "interrupted" (a checkpoint is saved either way)."""
    device = resolve_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    rng = seed_everything(cfg.seed)
    envs = train_envs(EnvSpec.of(cfg), cfg.num_envs, cfg.vec_env, rng)
    n_actions = require_discrete(envs, cfg.env, "dqn")
    space = envs.single_observation_space
    learner = DQNLearner(build_q(cfg, space, n_actions).to(device), cfg)
    buffer = ReplayBuffer(cfg.buffer_size, space.shape, space.dtype)
    gradient_steps = cfg.train_freq if cfg.gradient_steps == -1 else cfg.gradient_steps
    n, step, best, episodes, video = cfg.num_envs, 0, -np.inf, Episodes(), EpisodeVideo(cfg)
    if resume:
        learner.load_state_dict(resume["learner"])
        if "replay" in resume:
            buffer.load_state_dict(resume["replay"])
        s = resume["loop"]
        step, best = s["step"], s["best"]
        episodes.load_state_dict(s)
        if "episode_seed" in s:  # a checkpoint from before DQN stepped vector envs
            s = {"seeds": [s["episode_seed"]], "actions": [s["episode_actions"]]}
        envs.load_state_dict(s)
        restore_rng(resume["rng"], rng)

    def checkpoint(name: str = "last") -> None:
        loop = {"step": step, "best": best, **episodes.state_dict(), **envs.state_dict()}
        state = {"algo": "dqn", "config": to_dict(cfg), "step": step, "learner": learner.state_dict(),
                 "loop": loop, "rng": rng_state(rng)}
        if name == "last" and cfg.save_replay:
            state["replay"] = buffer.state_dict()
        run.save(state, name)

    run = Run(run_dir, to_dict(cfg), total=cfg.steps, start=step, resume=resume is not None, desc=f"dqn {cfg.env}")
    due = Due(step, log=cfg.log_freq, eval=cfg.eval_freq, checkpoint=cfg.checkpoint_freq, video=cfg.video_freq)
    losses, q_means = [], []
    try:
        while step < cfg.steps:
            if run.should_stop():
                checkpoint()
                return "interrupted"
            eps = linear_schedule(cfg.exploration_initial_eps, cfg.exploration_final_eps,
                                  cfg.exploration_fraction * cfg.steps, step)
            obs = envs.obs
            explore = rng.random(n) < eps
            action = np.zeros(n, np.int64) if explore.all() else learner.act(obs)
            action[explore] = rng.integers(n_actions, size=int(explore.sum()))
            next_obs, reward, terminated, _ = envs.step(action, episodes)
            buffer.add(obs, action, reward, next_obs, terminated)  # next_obs is the true final obs at an end
            step += n

            lr = scheduled_lr(cfg.lr_schedule, cfg.learning_rate, step / cfg.steps)
            if step > cfg.learning_starts and (rounds := due_count(step, n, cfg.train_freq)):
                set_lr(learner.optimizer, lr)
                for _ in range(rounds * gradient_steps):
                    metrics = learner.update(buffer.sample(cfg.batch_size, rng, device))
                    losses.append(metrics["train/loss"])
                    q_means.append(metrics["train/q_mean"])
            for _ in range(due_count(step, n, cfg.target_update_interval)):
                learner.update_target()

            if due("log", step):
                scalars = {"rollout/exploration_rate": eps, "time/fps": run.fps(step), "train/learning_rate": lr,
                           **episodes.scalars()}
                if losses:
                    scalars["train/loss"], scalars["train/q_mean"] = float(np.mean(losses)), float(np.mean(q_means))
                    losses, q_means = [], []
                run.log(step, scalars)
                run.progress(step, ret=scalars.get("rollout/ep_rew_mean", float("nan")), eps=eps)
            if due("eval", step) and step < cfg.steps:
                best = evaluate_and_keep_best(run, learner.act, cfg, step, best, checkpoint)
            if due("video", step) and step < cfg.steps:
                video(run, learner.act, step)
            if due("checkpoint", step):
                checkpoint()
        best = evaluate_and_keep_best(run, learner.act, cfg, step, best, checkpoint, final=True)
        video(run, learner.act, step)
        checkpoint()  # last.pt, after best is known
        run.progress(step)
        return "done"
    finally:
        run.close()
        envs.close()
