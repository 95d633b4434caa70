"""Side by side on one machine, in one run: Stable-Baselines3 (RL Zoo settings) and our recipe.

    pip install -e ".[bench]"
    python benchmarks/vs_sb3.py [--algo dqn|a2c|ppo] [--env CartPole-v1] [--seed 0] [--episodes 20]

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
# RL Zoo hyperparams/a2c.yml and ppo.yml for CartPole-v1 ("lin_1e-3" is a linear decay to 0).
ZOO = {
    "dqn": ZOO_DQN,
    "a2c": {"CartPole-v1": dict(n_timesteps=500_000, n_envs=8, ent_coef=0.0)},
    "ppo": {"CartPole-v1": dict(n_timesteps=100_000, n_envs=8, n_steps=32, batch_size=256, gae_lambda=0.8,
                                gamma=0.98, n_epochs=20, ent_coef=0.0, learning_rate="lin_1e-3",
                                clip_range="lin_0.2")},
}
# our recipe compared with each SB3 algorithm (our `ac` is A2C: one epoch, no clipping)
RECIPES = {
    "dqn": {"CartPole-v1": "cartpole-dqn", "Acrobot-v1": "acrobot-dqn", "LunarLander-v3": "lunarlander-dqn"},
    "a2c": {"CartPole-v1": "cartpole-ac-td"},
    "ppo": {"CartPole-v1": "cartpole-ppo"},
}

SB3_CHILD = """
import json, sys
import torch
torch.set_num_threads(1)
import stable_baselines3 as sb3
from stable_baselines3.common.env_util import make_vec_env
algo, env, seed, out, kwargs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], json.loads(sys.argv[5])
steps, n_envs = kwargs.pop("n_timesteps"), kwargs.pop("n_envs", 1)
for key in ("learning_rate", "clip_range"):  # "lin_X": X decayed linearly to 0, as the Zoo means it
    if isinstance(kwargs.get(key), str):
        start = float(kwargs[key].split("_")[1])
        kwargs[key] = lambda progress, start=start: progress * start
model = getattr(sb3, algo.upper())("MlpPolicy", make_vec_env(env, n_envs, seed=seed), seed=seed, device="cpu",
                                   **kwargs)
model.learn(steps)
model.save(out)
"""

def sb3(algo: str, env: str, seed: int, episodes: int, tmp: Path) -> dict:
    import stable_baselines3

    from rllab.evaluate import evaluate, summary

    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", SB3_CHILD, algo, env, str(seed), str(tmp / "sb3"),
                    json.dumps(ZOO[algo][env])], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    model = getattr(stable_baselines3, algo.upper()).load(tmp / "sb3.zip", device="cpu")
    score = summary(evaluate(lambda obs: model.predict(obs, deterministic=True)[0], env, episodes, seed + 10_000))
    return {"wall_s": wall, **score}


def ours(recipe: str, seed: int, episodes: int, tmp: Path) -> dict:
    run = tmp / "ours"
    start = time.perf_counter()
    subprocess.run(["rllab", "train", recipe, "--seed", str(seed), "--run-dir", str(run)],
                   check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    out = subprocess.run(["rllab", "eval", str(run), "--episodes", str(episodes), "--json"], check=True,
                         capture_output=True, text=True).stdout
    return {"wall_s": wall, **json.loads(out)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", default="dqn", choices=list(ZOO))
    parser.add_argument("--env", default="CartPole-v1", choices=list(ZOO_DQN))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--episodes", type=int, default=20)
    args = parser.parse_args()
    if args.env not in ZOO[args.algo]:
        parser.error(f"{args.algo} is compared on {', '.join(ZOO[args.algo])} only")
    recipe = RECIPES[args.algo][args.env]
    with tempfile.TemporaryDirectory() as tmp:
        results = {f"sb3-{args.algo} (zoo)": sb3(args.algo, args.env, args.seed, args.episodes, Path(tmp)),
                   f"rllab {recipe}": ours(recipe, args.seed, args.episodes, Path(tmp))}
    print(f"{args.env}, seed {args.seed}, final policy over {args.episodes} episodes (wall time includes start-up)")
    for name, r in results.items():
        print(f"  {name:24s} {r['wall_s']:7.1f} s   {r['mean_return']:8.1f} ± {r['std_return']:.1f}")
    a, b = results.values()
    print(f"  time ratio sb3 / rllab: {a['wall_s'] / b['wall_s']:.2f}")
    print(json.dumps({"algo": args.algo, "env": args.env, "seed": args.seed, **results}))


if __name__ == "__main__":
    main()
