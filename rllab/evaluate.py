"""Greedy evaluation on separately seeded environments (one episode per vector sub-env), greedy episodes rendered
to frames, and what every RL loop keeps beside them: the recent episodes' statistics and when the periodic events
fall due."""

from __future__ import annotations

import math
import os
import sys
from collections import deque
from collections.abc import Callable
from functools import partial

import gymnasium as gym
import numpy as np

from labcore.errors import UsageError
from rllab.envs import EnvSpec, make_env


def evaluate(
    policy: Callable[[np.ndarray], np.ndarray], env: EnvSpec | str, episodes: int, seed: int
) -> np.ndarray:
    """Run `episodes` episodes in parallel (sub-env i seeded `seed + i`); returns their returns.

    `policy` maps a batch of observations to a batch of actions. Returns are the environment's own
    (unclipped) rewards; each sub-env's first episode counts and the rest of its steps are ignored.
    """
    envs = gym.vector.SyncVectorEnv(
        [partial(make_env, env, training=False) for _ in range(episodes)],
        autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP,
    )
    try:
        obs, _ = envs.reset(seed=[seed + i for i in range(episodes)])
        returns = np.zeros(episodes)
        done = np.zeros(episodes, dtype=bool)
        while not done.all():
            obs, reward, terminated, truncated, _ = envs.step(policy(obs))
            returns += np.where(done, 0.0, reward)
            done |= terminated | truncated
        return returns
    finally:
        envs.close()


def play(policy: Callable[[np.ndarray], np.ndarray], env: EnvSpec | str, seeds: list[int],
         ) -> tuple[list[np.ndarray], list[float], float]:
    """Greedy episodes, one per seed, rendered: every frame (H, W, 3) uint8, each episode's return, and the
    environment's frame rate. A `UsageError` if the environment cannot render `rgb_array` frames."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame draws off-screen: no window, no display needed
    plain = make_env(env, training=False)
    modes = plain.metadata.get("render_modes") or []
    plain.close()
    if "rgb_array" not in modes:  # asked for anyway, a constructor may refuse render_mode or return no frames
        name = env.id if isinstance(env, EnvSpec) else env
        raise UsageError(f"{name} does not render rgb_array frames (its metadata's render_modes: {modes})")
    env = make_env(env, training=False, render_mode="rgb_array")
    frames, returns = [], []
    try:
        for seed in seeds:
            obs, _ = env.reset(seed=seed)
            frames.append(env.render())
            done, total = False, 0.0
            while not done:
                obs, reward, terminated, truncated, _ = env.step(policy(obs[None])[0])
                frames.append(env.render())
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
        return frames, returns, float(env.metadata.get("render_fps") or 30)
    finally:
        env.close()


class EpisodeVideo:
    """One greedy episode as an animated GIF in TensorBoard's image dashboard (tag `eval/episode`), when the
    config's `video_freq` is on: frames thinned to at most 320 px wide and 1000 per episode, to keep the events
    file small. An environment that cannot render `rgb_array` frames is skipped with one warning."""

    def __init__(self, cfg):
        self.env, self.seed, self.on = EnvSpec.of(cfg), cfg.seed + 20_000, cfg.video_freq > 0

    def __call__(self, run, policy: Callable[[np.ndarray], np.ndarray], step: int) -> None:
        if not (self.on and run.writes):  # in a data-parallel run, rank 0 records it
            return
        try:
            frames, _, fps = play(policy, self.env, [self.seed])
        except UsageError as e:
            self.on = False
            print(f"warning: no episode videos in TensorBoard (video_freq): {e}", file=sys.stderr)
            return
        every = math.ceil(len(frames) / 1000)
        stride = math.ceil(frames[0].shape[1] / 320)
        run.animation("eval/episode", [f[::stride, ::stride] for f in frames[::every]], step, fps / every)


def summary(returns: np.ndarray) -> dict[str, float | int]:
    return {"mean_return": float(np.mean(returns)), "std_return": float(np.std(returns)), "episodes": len(returns)}


def evaluate_and_keep_best(run, policy, cfg, step: int, best: float, save, final: bool = False) -> float:
    """Evaluate the greedy policy, log `eval/mean_reward`, save `best.pt` on a new best; returns the best.

    At the end of training (`final`) it also writes `eval.json`. `save(name)` writes the algorithm's
    checkpoint under that name.
    """
    returns = evaluate(policy, EnvSpec.of(cfg), cfg.eval_episodes, cfg.seed + 10_000)
    score = float(np.mean(returns))
    run.log(step, {"eval/mean_reward": score})
    if score >= best:
        best = score
        save("best")
    if final:
        run.write_json("eval.json", {**summary(returns), "step": step, "checkpoint": "last",
                                     "train_seconds": round(run.elapsed(), 2)})
    return best


def next_multiple(step: int, every: int) -> float:
    """The first multiple of `every` after `step` (inf when `every` is 0: never)."""
    return step // every * every + every if every else float("inf")


class Episodes:
    """Returns and lengths of the last 100 finished episodes (the window Stable-Baselines3 logs as
    rollout/ep_rew_mean), kept in the checkpoint so that a resumed run's curves continue."""

    def __init__(self):
        self.returns: deque[float] = deque(maxlen=100)
        self.lengths: deque[int] = deque(maxlen=100)

    def add(self, episode_return: float, length: int) -> None:
        self.returns.append(float(episode_return))
        self.lengths.append(int(length))

    def scalars(self) -> dict[str, float]:
        if not self.returns:
            return {}
        return {"rollout/ep_rew_mean": float(np.mean(self.returns)),
                "rollout/ep_len_mean": float(np.mean(self.lengths))}

    def state_dict(self) -> dict[str, list]:
        return {"episode_returns": list(self.returns), "episode_lengths": list(self.lengths)}

    def load_state_dict(self, state: dict[str, list]) -> None:
        self.returns.extend(state["episode_returns"])
        self.lengths.extend(state["episode_lengths"])


class Due:
    """When the periodic events (logging, evaluation, checkpoints) fall due: an update spans many environment
    steps, so each fires at the first step at or past its next multiple (`every` = 0: never)."""

    def __init__(self, step: int, **every: int):
        self.every = every
        self.next = {name: next_multiple(step, k) for name, k in every.items()}

    def __call__(self, name: str, step: int) -> bool:
        if step < self.next[name]:
            return False
        self.next[name] = next_multiple(step, self.every[name])
        return True
