"""Making Gymnasium environments — built-in, Atari, or a user's own — with clear errors and the standard Atari
preprocessing.

An environment is named the way Gymnasium names it: a registered id (`CartPole-v1`), or `module:EnvId`, where
importing `module` registers `EnvId` (Gymnasium's own convention; a module in the current directory is found, as
`python -m` finds it). An `EnvSpec` adds what `config.toml` records so that `eval`, `enjoy` and `--resume` rebuild
the same environment: modules to import first (plugins that register ids on import), keyword arguments for
`gym.make`, and wrappers `module:Class` applied in order.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

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


_registered_by: dict[str, list[str]] = {}  # module → the ids that importing it registered


def import_user_module(name: str, what: str) -> ModuleType:
    """Import a user's module, finding it in the current directory first as `python -m` does (the `rllab`
    script's own folder is on sys.path instead); a failure is a `UsageError` naming the module, what asked for
    it, and what went wrong."""
    if name in sys.modules:
        return sys.modules[name]
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    before = set(gym.registry)
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and (name == e.name or name.startswith(e.name + ".")):
            raise UsageError(f"{what}: no module named {name!r} (not installed, and not in {os.getcwd()})") from None
        raise UsageError(f"{what}: importing {name!r} failed: {type(e).__name__}: {e}") from None
    except Exception as e:  # the user's code may fail at import time in any way
        raise UsageError(f"{what}: importing {name!r} failed: {type(e).__name__}: {e}") from None
    _registered_by[name] = sorted(set(gym.registry) - before)
    return module


def resolve_env_id(env_id: str) -> str:
    """The registered id that `env_id` names, importing `module` first for `module:EnvId`; else a `UsageError`
    (with close ids, or the ids the module did register). Atari ids register lazily."""
    if ":" in env_id:
        module, _, name = env_id.partition(":")
        import_user_module(module, f"--env {env_id}")
        if name in gym.registry:
            return name
        ids = _registered_by.get(module) or [i for i, s in gym.registry.items()
                                             if str(s.entry_point).startswith(f"{module}:")]
        found = f"it registered {', '.join(ids)}" if ids else "it registered no environment ids"
        raise UsageError(f"module {module!r} registers no environment {name!r}{did_you_mean(name, ids)}: {found}")
    if env_id in gym.registry:
        return env_id
    looks_atari = env_id.startswith("ALE/") or "NoFrameskip" in env_id
    if (looks_atari or "Pong" in env_id) and _register_atari() and env_id in gym.registry:
        return env_id
    if looks_atari and not _register_atari():
        raise UsageError(f"environment {env_id!r} needs ale-py: pip install 'rlgen-lab[atari]'")
    raise UsageError(f"unknown environment id {env_id!r}{did_you_mean(env_id, gym.registry)}")


def is_atari(env_id: str) -> bool:
    spec = gym.registry.get(env_id)
    return spec is not None and "ale_py" in str(spec.entry_point)


def is_image(space: gym.Space) -> bool:
    return isinstance(space, spaces.Box) and len(space.shape) == 3 and space.dtype == np.uint8


def check_kwargs(env_id: str, kwargs: dict[str, Any]) -> None:
    """Refuse keyword arguments that the environment's constructor does not take, where its signature says."""
    entry = gym.registry[env_id].entry_point
    try:
        creator = gym.envs.registration.load_env_creator(entry) if isinstance(entry, str) else entry
        params = inspect.signature(creator).parameters
    except (ValueError, TypeError, ImportError, AttributeError):
        return  # no signature to check against: the constructor will say
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    accepted = [n for n, p in params.items() if p.kind is not p.VAR_POSITIONAL and n not in ("self", "render_mode")]
    for key in kwargs:
        if key not in params:
            takes = f"it takes {', '.join(accepted)}" if accepted else "it takes none"
            raise UsageError(f"config key 'env_kwargs': {env_id} has no argument {key!r}"
                             f"{did_you_mean(key, accepted)}; {takes}")


def load_wrapper(item: Any) -> tuple[type[gym.Wrapper], dict[str, Any]]:
    """The class and keyword arguments of one `env_wrappers` entry: "module:Class" or {"module:Class" = {...}}."""
    name, kwargs = item, {}
    if isinstance(item, dict) and len(item) == 1:
        ((name, kwargs),) = item.items()
    module, sep, attr = name.partition(":") if isinstance(name, str) else ("", "", "")
    if not (module and sep and attr and isinstance(kwargs, dict)):
        raise UsageError(f"config key 'env_wrappers': each entry is \"module:Class\" or "
                         f"{{\"module:Class\" = {{key = value}}}}, not {item!r}")
    cls = getattr(import_user_module(module, f"env_wrappers {name}"), attr, None)
    if cls is None:
        raise UsageError(f"config key 'env_wrappers': module {module!r} has no {attr!r}")
    if not (isinstance(cls, type) and issubclass(cls, gym.Wrapper)):
        raise UsageError(f"config key 'env_wrappers': {name} is not a gymnasium.Wrapper subclass but {cls!r}")
    return cls, kwargs


@dataclass(frozen=True)
class EnvSpec:
    """Everything that makes a run's environment; `EnvSpec.of(cfg)` reads it from an RL config."""

    id: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    wrappers: tuple = ()
    packages: tuple[str, ...] = ()

    @classmethod
    def of(cls, cfg) -> EnvSpec:
        return cls(cfg.env, dict(cfg.env_kwargs), tuple(cfg.env_wrappers), tuple(cfg.env_packages))


def make_env(spec: EnvSpec | str, *, training: bool = True, render_mode: str | None = None) -> gym.Env:
    """One environment, ready for the learners: episode statistics recorded, observations a flat
    float vector or a channel-first uint8 image stack. Anything that stops it being made is a `UsageError`.

    Atari ids get the standard preprocessing (Machado et al. 2018 / Nature DQN): 4-frame skip with
    max-pooling, up to 30 no-ops at reset, 84×84 grey frames, a stack of 4; and, for training only,
    rewards clipped to their sign. The spec's wrappers come next, on the environment as Gymnasium makes it (after
    the Atari preprocessing); episode returns are recorded after them and before the clipping, so they are those
    of the environment as the user wrapped it.
    """
    spec = EnvSpec(spec) if isinstance(spec, str) else spec
    for package in spec.packages:
        import_user_module(package, f"--env-package {package}")
    env_id = resolve_env_id(spec.id)
    atari = is_atari(env_id)
    if spec.kwargs:
        check_kwargs(env_id, spec.kwargs)
    wrappers = [load_wrapper(item) for item in spec.wrappers]
    # The passive env checker only warns, and costs ~10% of a CartPole step: the learners check spaces themselves.
    kwargs: dict[str, Any] = {"disable_env_checker": True, **spec.kwargs}
    if render_mode:
        kwargs["render_mode"] = render_mode
    if atari:
        kwargs.setdefault("frameskip", 1)  # AtariPreprocessing does the skipping (and max-pools the last two frames)
    try:
        env = gym.make(env_id, **kwargs)
        if atari:
            env = gym.wrappers.AtariPreprocessing(env, noop_max=30, frame_skip=4, screen_size=84, grayscale_obs=True)
            env = gym.wrappers.FrameStackObservation(env, 4)
    except gym.error.DependencyNotInstalled as e:
        extra = "box2d" if "box2d" in str(e).lower() else "atari" if atari else None
        hint = f"; pip install 'rlgen-lab[{extra}]'" if extra else ""
        raise UsageError(f"environment {env_id!r} needs a missing dependency: {str(e).splitlines()[0]}{hint}") from None
    except Exception as e:  # the environment's own constructor failed: its message is the useful part
        raise UsageError(f"environment {spec.id!r} could not be made: {type(e).__name__}: {_first_line(e)}") from None
    for cls, kw in wrappers:
        try:
            env = cls(env, **kw)
        except Exception as e:
            raise UsageError(f"env_wrappers: {cls.__name__}(env, **{kw}) failed: {type(e).__name__}: "
                             f"{_first_line(e)}") from None
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


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [""])[0]


def require_discrete(env, env_id: str, algo: str) -> int:
    """The number of actions, or a `UsageError` saying which algorithms fit this action space."""
    space = env.single_action_space if hasattr(env, "single_action_space") else env.action_space
    if isinstance(space, spaces.Discrete):
        return int(space.n)
    kind = type(space).__name__
    raise UsageError(
        f"{algo} needs a discrete action space, but {env_id} has {kind}{getattr(space, 'shape', '')}; "
        "for Box actions use reinforce, ac or ppo"
    )
