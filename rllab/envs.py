"""Making Gymnasium environments, with clear errors and the standard Atari preprocessing."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from labcore.errors import UsageError, did_you_mean


def _register_atari() -> bool:
    try:
        import ale_py
    except ImportError:
        return False
    gym.register_envs(ale_py)
    return True


def check_env_id(env_id: str) -> None:
    """Raise a `UsageError` (with close ids) unless `env_id` is registered; Atari ids register lazily."""
    if env_id in gym.registry:
        return
    looks_atari = env_id.startswith("ALE/") or "NoFrameskip" in env_id
    if (looks_atari or "Pong" in env_id) and _register_atari() and env_id in gym.registry:
        return
    if looks_atari and not _register_atari():
        raise UsageError(f"environment {env_id!r} needs ale-py: pip install 'rlgen-lab[atari]'")
    raise UsageError(f"unknown environment id {env_id!r}{did_you_mean(env_id, gym.registry)}")


def is_atari(env_id: str) -> bool:
    spec = gym.registry.get(env_id)
    return spec is not None and "ale_py" in str(spec.entry_point)


def is_image(space: gym.Space) -> bool:
    return isinstance(space, spaces.Box) and len(space.shape) == 3 and space.dtype == np.uint8


def make_env(env_id: str, *, training: bool = True, render_mode: str | None = None) -> gym.Env:
    """One environment, ready for the learners: episode statistics recorded, observations a flat
    float vector or a channel-first uint8 image stack.

    Atari ids get the standard preprocessing (Machado et al. 2018 / Nature DQN): 4-frame skip with
    max-pooling, up to 30 no-ops at reset, 84×84 grey frames, a stack of 4; and, for training only,
    rewards clipped to their sign. Episode returns are recorded before clipping, so they are game scores.
    """
    check_env_id(env_id)
    atari = is_atari(env_id)
    # The passive env checker only warns, and costs ~10% of a CartPole step: the learners check spaces themselves.
    kwargs = {"render_mode": render_mode, "disable_env_checker": True} if render_mode else {"disable_env_checker": True}
    if atari:
        kwargs["frameskip"] = 1  # AtariPreprocessing does the skipping (and max-pools the last two frames)
    try:
        env = gym.make(env_id, **kwargs)
        if atari:
            env = gym.wrappers.AtariPreprocessing(env, noop_max=30, frame_skip=4, screen_size=84, grayscale_obs=True)
            env = gym.wrappers.FrameStackObservation(env, 4)
    except gym.error.DependencyNotInstalled as e:
        extra = "box2d" if "box2d" in str(e).lower() else "atari" if atari else None
        hint = f"; pip install 'rlgen-lab[{extra}]'" if extra else ""
        raise UsageError(f"environment {env_id!r} needs a missing dependency: {str(e).splitlines()[0]}{hint}") from None
    env = gym.wrappers.RecordEpisodeStatistics(env)
    if atari and training:
        env = gym.wrappers.TransformReward(env, np.sign)
    space = env.observation_space
    if is_image(space):
        if space.shape[-1] in (1, 3, 4) and space.shape[0] not in (1, 3, 4):  # HWC → CHW for conv nets
            h, w, c = space.shape
            env = gym.wrappers.TransformObservation(
                env, lambda o: np.ascontiguousarray(o.transpose(2, 0, 1)), spaces.Box(0, 255, (c, h, w), np.uint8)
            )
    elif not (isinstance(space, spaces.Box) and len(space.shape) == 1):
        env = gym.wrappers.FlattenObservation(env)  # Discrete → one-hot, Dict/Tuple/n-D Box → flat
    if not is_image(env.observation_space) and env.observation_space.dtype != np.float32:
        env = gym.wrappers.DtypeObservation(env, np.float32)
    return env


def require_discrete(env: gym.Env, env_id: str, algo: str) -> int:
    """The number of actions, or a `UsageError` saying which algorithms fit this action space."""
    space = env.action_space
    if isinstance(space, spaces.Discrete):
        return int(space.n)
    kind = type(space).__name__
    raise UsageError(
        f"{algo} needs a discrete action space, but {env_id} has {kind}{getattr(space, 'shape', '')}; "
        "for Box actions use reinforce, ac or ppo"
    )


def replay(env: gym.Env, seed: int, actions: list) -> np.ndarray:
    """Rebuild an environment's exact mid-episode state: reset with the episode's seed, then step the
    actions taken since. Returns the current observation. This is how a resumed run continues exactly
    without pickling environments (a checkpoint holds only the seed and the actions)."""
    obs, _ = env.reset(seed=seed)
    for action in actions:
        obs, *_ = env.step(np.asarray(action, dtype=env.action_space.dtype))
    return obs
