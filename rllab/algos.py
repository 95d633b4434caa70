"""The algorithms by name (config, training module, one line about each), the config keys `train --help` lists,
and the resolution of a command's recipe, flags and key=value overrides into one algorithm's config values.

Nothing here imports torch or Gymnasium at import time: `--help`, `list` and bad input are answered without them;
an algorithm's module is imported on use (`entry`).
"""

from __future__ import annotations

import argparse
import importlib
from dataclasses import fields
from typing import Any, NamedTuple

from labcore.config import defaults, describe, parse_overrides
from labcore.errors import UsageError, did_you_mean
from rllab import recipes
from rllab.config import ACConfig, DQNConfig, PPOConfig, ReinforceConfig, RLConfig

DEFAULT_RECIPE = "cartpole-dqn"


class Algo(NamedTuple):
    config: type
    module: str  # defines train(cfg, run_dir, resume) -> "done" | "interrupted"
    about: str
    one_process: str = ""  # why it does not train data-parallel under torchrun ("" when it does)
    policy_module: str = "rllab.policies"  # defines load_policy(state, cfg, device)


ALGOS = {
    "dqn": Algo(DQNConfig, "rllab.dqn", "Deep Q-Network (Double DQN, dueling): discrete actions",
                "its replay buffer and target network live in one process (num_envs steps several environments)",
                policy_module="rllab.dqn"),
    "reinforce": Algo(ReinforceConfig, "rllab.reinforce",
                      "REINFORCE, Monte Carlo policy gradient with an optional learned baseline",
                      "its updates are whole episodes, of uneven length on each process"),
    "ac": Algo(ACConfig, "rllab.actor_critic", "advantage actor-critic (A2C) with critic=mc|td|gae targets"),
    "ppo": Algo(PPOConfig, "rllab.actor_critic", "proximal policy optimisation: clipped, multi-epoch actor-critic"),
}


def entry(module: str, name: str) -> Any:
    """`module.name`, imported on first use."""
    return getattr(importlib.import_module(module), name)


def config_help() -> str:
    """Config keys for --help: the shared ones once, then each algorithm's own with the shared ones whose default
    it changes (ppo: where its defaults differ from ac's, whose keys it has)."""
    shared = defaults(RLConfig)
    parts = [f"config keys of every algorithm (set in a recipe or as key=value):\n{describe(RLConfig)}"]
    seen: dict[frozenset, tuple[str, dict]] = {}
    for name, a in ALGOS.items():
        own = defaults(a.config)
        keys = frozenset(own) - frozenset(shared)
        if keys in seen:
            base, base_defaults = seen[keys]
            differ = {k for k in own if own[k] != base_defaults[k]}
            parts.append(f"{name} keys: those of {base}, with these defaults:\n{describe(a.config, differ)}")
        else:
            seen[keys] = (name, own)
            changed = {k for k in shared if own[k] != shared[k]}
            parts.append(f"{name} keys:\n{describe(a.config, set(keys) | changed)}")
    return "\n\n".join(parts)


def resolve_values(args: argparse.Namespace) -> tuple[str, dict[str, Any], str | None, str | None]:
    """(algo, config values, recipe, a note on the recipe chosen): recipe < --flags < key=value, each key checked to
    belong to the algorithm."""
    names = [i for i in args.items if "=" not in i]
    overrides = parse_overrides([i for i in args.items if "=" in i])
    if len(names) > 1:
        raise UsageError(f"expected at most one recipe, got {', '.join(names)}")
    if args.algo and args.algo not in ALGOS:
        choices = ", ".join(ALGOS)
        raise UsageError(f"unknown algorithm {args.algo!r}{did_you_mean(args.algo, ALGOS)}; choose from {choices}")
    recipe, note = names[0] if names else None, None
    if recipe is None and (args.algo or args.env):
        algo = args.algo or "dqn"
        env = args.env or ALGOS[algo].config.env
        recipe = recipes.matching(algo, env)
        note = f"using the tuned recipe {recipe!r} for {algo} on {env}" if recipe else None
    elif recipe is None:
        recipe = DEFAULT_RECIPE
    values: dict[str, Any] = {}
    algo = args.algo or "dqn"
    if recipe:
        algo, values, _ = recipes.load(recipe)
        if args.algo and args.algo != algo:
            raise UsageError(f"recipe {recipe!r} is for {algo}, not {args.algo}")
        if algo not in ALGOS:
            raise UsageError(f"recipe {recipe!r} names unknown algorithm {algo!r}; choose from {', '.join(ALGOS)}")
    flags = {"env": args.env, "env_packages": args.env_package, "steps": args.steps,
             "seed": args.seed if args.command == "train" else None,  # tune's --seed seeds its sampler
             "device": getattr(args, "device", None)}
    values.update({k: v for k, v in flags.items() if v is not None})
    values.update(overrides)
    keys = {name: {f.name for f in fields(a.config)} for name, a in ALGOS.items()}
    for key in values:
        other = next((name for name in ALGOS if key not in keys[algo] and key in keys[name]), None)
        if other:  # e.g. buffer_size given to ppo: say whose setting it is, not just "unknown"
            raise UsageError(f"config key '{key}' is a {other} setting; {algo} does not use it")
    return algo, values, recipe, note


def reward_threshold(env_id: Any) -> float | None:
    """The score Gymnasium's registry counts as solving the environment (CartPole-v1: 475), if it names one."""
    import gymnasium as gym

    spec = gym.envs.registry.get(env_id) if isinstance(env_id, str) else None
    return spec.reward_threshold if spec else None
