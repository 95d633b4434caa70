"""The training environments of the actor-critics and DQN: N sub-environments stepped together, in this process
(Gymnasium's `SyncVectorEnv`) or one worker process each (`AsyncVectorEnv`), that a checkpoint can rebuild exactly.

Autoreset is off (`AutoresetMode.DISABLED`): `TrainEnvs.step` resets finished sub-envs itself, with seeds drawn from
the run's generator. So a step's observation is always the true final one (a truncated episode bootstraps from
it), and every sub-env is known by its episode's reset seed and the actions taken since: a resumed run rebuilds
each one by replaying them (`Replayable`), without pickling environments, in worker processes too.
"""

from __future__ import annotations

import signal
from functools import partial
from typing import Literal

import gymnasium as gym
import numpy as np

from rllab.envs import EnvSpec, make_env
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
