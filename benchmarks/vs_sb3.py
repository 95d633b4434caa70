"""Side by side on one machine, in one run: Stable-Baselines3 (RL Zoo settings) and our recipe.

    pip install -e ".[bench]"
    python benchmarks/vs_sb3.py [--env CartPole-v1] [--seed 0] [--episodes 20]

Both train in a fresh process with one torch thread; both final policies are judged by the same
evaluation (rllab.evaluate: greedy/deterministic actions, episodes seeded 10000 + i). Prints the wall
time and final score of each and the time ratio.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# RL Zoo hyperparams/dqn.yml, per environment; our recipe for the same pair is in agents/.
ZOO_DQN = {
    "CartPole-v1": dict(n_timesteps=50_000, learning_rate=2.3e-3, batch_size=64, buffer_size=100_000,
                        learning_starts=1000, gamma=0.99, target_update_interval=10, train_freq=256,
                        gradient_steps=128, exploration_fraction=0.16, exploration_final_eps=0.04,
                        policy_kwargs=dict(net_arch=[256, 256])),
    "Acrobot-v1": dict(n_timesteps=100_000, learning_rate=6.3e-4, batch_size=128, buffer_size=50_000,
                       learning_starts=0, gamma=0.99, target_update_interval=250, train_freq=4,
                       gradient_steps=-1, exploration_fraction=0.12, exploration_final_eps=0.1,
                       policy_kwargs=dict(net_arch=[256, 256])),
}
ZOO_DQN["LunarLander-v3"] = ZOO_DQN["Acrobot-v1"]
RECIPES = {"CartPole-v1": "cartpole-dqn", "Acrobot-v1": "acrobot-dqn", "LunarLander-v3": "lunarlander-dqn"}

SB3_CHILD = """
import json, sys, time
import torch
torch.set_num_threads(1)
from stable_baselines3 import DQN
env, seed, out, kwargs = sys.argv[1], int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
steps = kwargs.pop("n_timesteps")
start = time.perf_counter()
model = DQN("MlpPolicy", env, seed=seed, device="cpu", **kwargs)
model.learn(steps)
print(json.dumps({"train_s": time.perf_counter() - start}))
model.save(out)
"""


def sb3(env: str, seed: int, episodes: int, tmp: Path) -> dict:
    from stable_baselines3 import DQN

    from rllab.evaluate import evaluate, summary

    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", SB3_CHILD, env, str(seed), str(tmp / "sb3"), json.dumps(ZOO_DQN[env])],
                   check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    model = DQN.load(tmp / "sb3.zip", device="cpu")
    score = summary(evaluate(lambda obs: model.predict(obs, deterministic=True)[0], env, episodes, seed + 10_000))
    return {"wall_s": wall, **score}


def ours(env: str, seed: int, episodes: int, tmp: Path) -> dict:
    run = tmp / "ours"
    start = time.perf_counter()
    subprocess.run(["rllab", "train", RECIPES[env], "--seed", str(seed), "--run-dir", str(run)],
                   check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    out = subprocess.run(["rllab", "eval", str(run), "--episodes", str(episodes), "--json"], check=True,
                         capture_output=True, text=True).stdout
    return {"wall_s": wall, **json.loads(out)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="CartPole-v1", choices=list(ZOO_DQN))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--episodes", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {"sb3-dqn (zoo)": sb3(args.env, args.seed, args.episodes, Path(tmp)),
                   f"rllab {RECIPES[args.env]}": ours(args.env, args.seed, args.episodes, Path(tmp))}
    print(f"{args.env}, seed {args.seed}, final policy over {args.episodes} episodes (wall time includes start-up)")
    for name, r in results.items():
        print(f"  {name:24s} {r['wall_s']:7.1f} s   {r['mean_return']:8.1f} ± {r['std_return']:.1f}")
    a, b = results.values()
    print(f"  time ratio sb3 / rllab: {a['wall_s'] / b['wall_s']:.2f}")
    print(json.dumps({"env": args.env, "seed": args.seed, **results}))


if __name__ == "__main__":
    main()
