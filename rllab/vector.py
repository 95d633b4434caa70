"""The training environments of the actor-critics and DQN: N sub-environments stepped together, in this process
(Gymnasium's `SyncVectorEnv`), one worker process each (`AsyncVectorEnv`), or all in one NumPy step by the
environment's own vectorised implementation (`native`), that a checkpoint can rebuild exactly.

Every kind resets a finished sub-env in the same step: a step's observation is always the true final one (a
truncated episode bootstraps from it) and `obs` then holds the next episode's first. `TrainEnvs` (sync, async) runs
with autoreset off (`AutoresetMode.DISABLED`) and resets with seeds drawn from the run's generator, so every
sub-env is known by its episode's reset seed and the actions taken since: a resumed run rebuilds each one by
replaying them (`Replayable`), without pickling environments, in worker processes too. `NativeEnvs` keeps its
environment's state arrays and random generator in the checkpoint instead.
"""

from __future__ import annotations

import signal
from functools import partial
from typing import Literal

import gymnasium as gym
import numpy as np

from labcore.errors import UsageError
from rllab.envs import EnvSpec, make_env, resolve_env_id
from rllab.evaluate import Episodes


class Replayable(gym.Wrapper):
    """Puts its environment back where `plan` = (reset seed, actions since) says, through `VectorEnv.set_attr`
    and `VectorEnv.call("replay")`, which reach worker processes too."""

    plan: tuple[int, list] | None = None

    def replay(self) -> np.ndarray:
        seed, actions = self.plan
        obs, _ = self.reset(seed=seed)
        for action in actions:
            obs, *_ = self.step(np.asarray(action, dtype=self.action_space.dtype))
        return obs


def _replayable(spec: EnvSpec) -> gym.Env:
    return Replayable(make_env(spec))


def _replayable_in_worker(spec: EnvSpec) -> gym.Env:
    # Ctrl-C goes to the whole process group: the workers leave it to the main process, which saves a checkpoint
    # and then closes them (a worker that died of it would lose the episode in flight and print a traceback).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return _replayable(spec)


class TrainEnvs:
    """`n` training environments; `obs` (n, ...) holds the observations to act on next."""

    def __init__(self, spec: EnvSpec, n: int, kind: Literal["sync", "async"], rng: np.random.Generator):
        off = gym.vector.AutoresetMode.DISABLED
        if kind == "async":
            make_env(spec).close()  # a bad spec is a one-line error here, not a traceback from each worker
            self.envs = gym.vector.AsyncVectorEnv([partial(_replayable_in_worker, spec)] * n, autoreset_mode=off)
        else:
            self.envs = gym.vector.SyncVectorEnv([partial(_replayable, spec)] * n, autoreset_mode=off)
        self.num_envs = n
        self.single_observation_space = self.envs.single_observation_space
        self.single_action_space = self.envs.single_action_space
        self.rng = rng
        self.seeds = [int(s) for s in rng.integers(2**31, size=n)]
        self.actions: list[list] = [[] for _ in range(n)]
        self.obs, _ = self.envs.reset(seed=self.seeds)

    def step(self, action: np.ndarray, episodes: Episodes) -> tuple[np.ndarray, ...]:
        """Step every sub-env; returns (next_obs, reward, terminated, done), all (n, ...), where next_obs is the
        true next observation (the final one where an episode ended). Finished episodes go into `episodes`, and
        their sub-envs are reset, so `obs` is then the first observation of the next episode there."""
        next_obs, reward, terminated, truncated, info = self.envs.step(action)
        done = terminated | truncated
        for i in range(self.num_envs):
            self.actions[i].append(action[i].tolist())
        self.obs = next_obs
        if done.any():
            for i in np.flatnonzero(done):
                episodes.add(info["episode"]["r"][i], info["episode"]["l"][i])
                self.seeds[i], self.actions[i] = int(self.rng.integers(2**31)), []
            reset_obs, _ = self.envs.reset(seed=self.seeds, options={"reset_mask": done})
            self.obs = next_obs.copy()
            self.obs[done] = reset_obs[done]
        return next_obs, reward, terminated, done

    def state_dict(self) -> dict[str, list]:
        return {"seeds": list(self.seeds), "actions": [list(a) for a in self.actions]}

    def load_state_dict(self, state: dict[str, list]) -> None:
        """Rebuild every sub-env where a checkpoint left it: its episode's reset seed, then the actions since."""
        self.seeds, self.actions = list(state["seeds"]), [list(a) for a in state["actions"]]
        self.envs.set_attr("plan", list(zip(self.seeds, self.actions)))
        self.obs = np.stack(self.envs.call("replay"))

    def close(self) -> None:
        self.envs.close()


def native_cartpole(spec: EnvSpec, n: int) -> gym.vector.VectorEnv:
    """Gymnasium's natively vectorised CartPole (`CartPoleVectorEnv`) with `n` sub-envs, or a `UsageError`."""
    env_id = resolve_env_id(spec.id)
    entry = gym.registry[env_id].vector_entry_point
    if spec.wrappers or not (isinstance(entry, str) and entry.endswith(":CartPoleVectorEnv")):
        why = "it takes no env_wrappers" if spec.wrappers else f"{env_id} has no native one we can resume exactly"
        raise UsageError(f'vec_env = "native" is Gymnasium\'s CartPoleVectorEnv (CartPole-v0, CartPole-v1); {why}; '
                         'use vec_env = "sync"')
    return gym.make_vec(env_id, n, vectorization_mode="vector_entry_point", **spec.kwargs)


class NativeEnvs:
    """`n` sub-envs of Gymnasium's natively vectorised CartPole (`gym.make_vec(..., vectorization_mode=
    "vector_entry_point")`, `CartPoleVectorEnv`): one NumPy step for all of them, the same dynamics and start
    distribution as `CartPoleEnv`. The same interface as `TrainEnvs`.

    CartPoleVectorEnv resets a finished sub-env at its *next* step (next-step autoreset: that step's action is
    ignored and it returns reward 0). We reset it at once instead, as that step would (state uniform in ±0.05 from
    the env's own generator, step count 0), so a rollout holds no reset transitions and the loops see the same
    semantics as with `TrainEnvs`. A checkpoint holds the state arrays and the generator's state: `--resume` is exact.
    """

    def __init__(self, spec: EnvSpec, n: int, rng: np.random.Generator):
        self.envs = native_cartpole(spec, n)
        self.num_envs = n
        self.single_observation_space = self.envs.single_observation_space
        self.single_action_space = self.envs.single_action_space
        self.returns, self.lengths = np.zeros(n), np.zeros(n, dtype=np.int64)
        self.obs, _ = self.envs.reset(seed=int(rng.integers(2**31)))

    def step(self, action: np.ndarray, episodes: Episodes) -> tuple[np.ndarray, ...]:
        """As `TrainEnvs.step`."""
        next_obs, reward, terminated, truncated, _ = self.envs.step(action)
        done = terminated | truncated
        self.returns += reward
        self.lengths += 1
        self.obs = next_obs
        if done.any():
            env = self.envs
            for i in np.flatnonzero(done):
                episodes.add(self.returns[i], self.lengths[i])
            self.returns[done], self.lengths[done] = 0.0, 0
            env.state[:, done] = env.np_random.uniform(env.low, env.high, size=(4, int(done.sum())))
            env.steps[done], env.prev_done[:] = 0, False
            self.obs = env.state.T.astype(np.float32)
        return next_obs, reward, terminated, done

    def state_dict(self) -> dict[str, dict]:
        env = self.envs
        return {"native": {"state": env.state.tolist(), "steps": env.steps.tolist(),
                           "rng": env.np_random.bit_generator.state, "returns": self.returns.tolist(),
                           "lengths": self.lengths.tolist()}}

    def load_state_dict(self, state: dict[str, dict]) -> None:
        s, env = state["native"], self.envs
        env.state, env.steps = np.array(s["state"]), np.array(s["steps"], dtype=env.steps.dtype)
        env.np_random.bit_generator.state = s["rng"]
        self.returns, self.lengths = np.array(s["returns"]), np.array(s["lengths"], dtype=np.int64)
        self.obs = env.state.T.astype(np.float32)

    def close(self) -> None:
        self.envs.close()


def train_envs(spec: EnvSpec, n: int, kind: Literal["sync", "async", "native"], rng: np.random.Generator):
    """The training environments a config's `vec_env` names."""
    return NativeEnvs(spec, n, rng) if kind == "native" else TrainEnvs(spec, n, kind, rng)
