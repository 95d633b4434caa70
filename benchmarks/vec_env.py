"""Environment steps per second of the training environments: `vec_env` = sync, async and native.

    python benchmarks/vec_env.py [--envs CartPole-v1 LunarLander-v3 ALE/Pong-v5 BusyCartPole-v1]
                                 [--num-envs 2 8] [--kinds sync async] [--seconds 3] [--repeats 3] [--out results.json]

For each environment and number of sub-envs, steps `rllab.vector.train_envs` (the rollout's environment side:
stepping, the bookkeeping that makes a resume exact, and resets) with random actions for about `--seconds`,
after a warm-up, `--repeats` times with the kinds alternating, and prints the median steps/s (sub-env steps,
i.e. transitions) and each kind's ratio to the first. Async runs one worker process per sub-env; native is
Gymnasium's vectorised CartPole (CartPole only). `BusyCartPole-v1` is CartPole with 1 ms of CPU
work added to each step, a stand-in for a simulator whose step is expensive.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import gymnasium as gym
import numpy as np

from rllab.envs import EnvSpec
from rllab.evaluate import Episodes
from rllab.vector import train_envs


class Busy(gym.Wrapper):
    """Spends `ms` milliseconds of CPU (not sleep) in every step."""

    def __init__(self, env: gym.Env, ms: float = 1.0):
        super().__init__(env)
        self.seconds = ms / 1000

    def step(self, action):
        end = time.perf_counter() + self.seconds
        while time.perf_counter() < end:
            pass
        return self.env.step(action)


gym.register("BusyCartPole-v1", entry_point=lambda **kw: Busy(gym.make("CartPole-v1", **kw)), max_episode_steps=500)


def steps_per_second(env_id: str, n: int, kind: str, seconds: float) -> float:
    rng = np.random.default_rng(0)
    envs = train_envs(EnvSpec(env_id), n, kind, rng)
    envs.single_action_space.seed(0)
    episodes = Episodes()
    try:
        for _ in range(20):  # warm-up: workers started, caches filled
            envs.step(np.stack([envs.single_action_space.sample() for _ in range(n)]), episodes)
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            envs.step(np.stack([envs.single_action_space.sample() for _ in range(n)]), episodes)
            steps += n
        return steps / (time.perf_counter() - start)
    finally:
        envs.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+",
                        default=["CartPole-v1", "LunarLander-v3", "ALE/Pong-v5", "BusyCartPole-v1"])
    parser.add_argument("--num-envs", type=int, nargs="+", default=[2, 8])
    parser.add_argument("--kinds", nargs="+", default=["sync", "async"], choices=["sync", "async", "native"])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()
    rows = []
    first = args.kinds[0]
    print(f"{'env':18s} {'num_envs':>8s}" + "".join(f" {k + ' steps/s':>15s}" for k in args.kinds)
          + "".join(f" {k + '/' + first:>13s}" for k in args.kinds[1:]))
    for env_id in args.envs:
        for n in args.num_envs:
            runs: dict[str, list[float]] = {kind: [] for kind in args.kinds}
            for _ in range(args.repeats):
                for kind in runs:
                    runs[kind].append(steps_per_second(env_id, n, kind, args.seconds))
            median = {kind: statistics.median(r) for kind, r in runs.items()}
            rows.append({"env": env_id, "num_envs": n, **runs, **{f"{k}_median": round(m) for k, m in median.items()},
                         **{f"{k}/{first}": round(median[k] / median[first], 2) for k in args.kinds[1:]}})
            print(f"{env_id:18s} {n:8d}" + "".join(f" {median[k]:15.0f}" for k in args.kinds)
                  + "".join(f" {median[k] / median[first]:13.2f}" for k in args.kinds[1:]), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
