"""Stable-Baselines3 (RL Zoo settings) vs our recipe, seed by seed: wall time, final score, time to threshold.

    pip install -e ".[bench]"
    python benchmarks/vs_sb3.py [--algo dqn|a2c|ppo] [--env CartPole-v1] [--seeds 0 1 2] [--episodes 20]
                                [--eval-freq 10000] [--eval-episodes 10] [--threshold T] [--recipe NAME]
                                [--sb3-steps N] [--out JSON] [key=value ...]

On one machine, both sides train in a fresh process with one torch thread, SB3 then ours, seed after seed, and
every time is counted from the moment that process is started (start-up and imports included: what a user waits
for). Periodic evaluation costs training time, so each seed runs two pairs:

1. **wall**: pure training, no periodic evaluation on either side (SB3 without a callback; ours with
   `eval_freq=0`, plus the one final evaluation of `eval_episodes` episodes every rllab run ends with). Then both
   final policies are judged by the same evaluation (rllab.evaluate: greedy/deterministic actions, `--episodes`
   episodes seeded seed + 10000 + i): the final score.
2. **time to threshold** (skipped with `--eval-freq 0`): both sides again, evaluating the greedy policy every
   `--eval-freq` env steps (at the first step at or past each multiple) and at the end, on `--eval-episodes`
   episodes seeded like ours: ours with `eval_freq=N eval_episodes=K`, read back from its TensorBoard
   `eval/mean_reward` (whose events carry their wall-clock time); SB3 through a small callback in its process that
   calls the same rllab.evaluate. The time to threshold is the first evaluation at or above `--threshold` (default:
   Gymnasium's reward_threshold for the env, CartPole-v1 475), or "—". This pair's wall times include the
   evaluations and are reported apart.

Ours runs `--recipe` (default: RECIPES below) with `video_freq=0` (SB3 renders no video) and any `key=value`
overrides, so that a candidate recipe can be compared without editing agents/. `--sb3-steps` shrinks SB3's budget
(for tests). Prints a row per seed and side, the medians over seeds and `rllab wall / sb3 wall` (of the median
walls), then one JSON line with everything (also written to `--out`): per seed and side the wall, final score and,
with the second pair, its wall (`eval_wall_s`), `time_to_threshold_s` (null: not reached) and its evaluations
(`evals`: [env steps, seconds since the process started, mean return]); the medians; the command line.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# benchmarks/seeds.py: a script's own folder is on sys.path when it runs
from seeds import evaluations, median_reached, seconds_or_dash, split_overrides, time_to_threshold

from labcore.config import read_toml
from rllab.algos import reward_threshold

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
VALUE_OPTIONS = ("--algo", "--env", "--recipe", "--episodes", "--eval-freq", "--eval-episodes", "--threshold",
                 "--sb3-steps", "--out")  # options that take one value of their own

# argv: algo env seed out zoo-kwargs started eval_freq eval_episodes. With eval_freq > 0 it also writes
# OUT.evals.json: [[timesteps, seconds since `started` (the parent's time.time() before the start), mean], ...].
SB3_CHILD = """
import json, sys, time
import torch
torch.set_num_threads(1)
import stable_baselines3 as sb3
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
algo, env, seed, out, kwargs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], json.loads(sys.argv[5])
started, eval_freq, eval_episodes = float(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
steps, n_envs = kwargs.pop("n_timesteps"), kwargs.pop("n_envs", 1)
for key in ("learning_rate", "clip_range"):  # "lin_X": X decayed linearly to 0, as the Zoo means it
    if isinstance(kwargs.get(key), str):
        start = float(kwargs[key].split("_")[1])
        kwargs[key] = lambda progress, start=start: progress * start
model = getattr(sb3, algo.upper())("MlpPolicy", make_vec_env(env, n_envs, seed=seed), seed=seed, device="cpu",
                                   **kwargs)
evals = []

def evaluate_now():  # what an rllab run does: greedy actions, episodes seeded seed + 10000 + i
    from rllab.evaluate import evaluate
    returns = evaluate(lambda obs: model.predict(obs, deterministic=True)[0], env, eval_episodes, seed + 10_000)
    evals.append([model.num_timesteps, round(time.time() - started, 3), float(returns.mean())])

class Periodic(BaseCallback):  # at the first step at or past each multiple of eval_freq, before the end (rllab's Due)
    next = eval_freq
    def _on_step(self):
        if self.next <= self.num_timesteps < steps:
            evaluate_now()
            self.next = self.num_timesteps // eval_freq * eval_freq + eval_freq
        return True

model.learn(steps, callback=Periodic() if eval_freq else None)
if eval_freq:
    evaluate_now()  # the final evaluation, as every rllab run ends with
    with open(out + ".evals.json", "w") as f:
        json.dump(evals, f)
model.save(out)
"""


def sb3(algo: str, env: str, seed: int, zoo: dict, out: Path, eval_freq: int, eval_episodes: int,
        ) -> tuple[float, list]:
    """Train SB3 in a fresh process: its wall time and (with eval_freq) its evaluations."""
    started, start = time.time(), time.perf_counter()
    subprocess.run([sys.executable, "-c", SB3_CHILD, algo, env, str(seed), str(out), json.dumps(zoo), repr(started),
                    str(eval_freq), str(eval_episodes)], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    evals = json.loads(Path(f"{out}.evals.json").read_text()) if eval_freq else []
    return round(wall, 2), evals


def sb3_score(algo: str, env: str, seed: int, episodes: int, out: Path) -> dict:
    import stable_baselines3

    from rllab.evaluate import evaluate, summary

    model = getattr(stable_baselines3, algo.upper()).load(f"{out}.zip", device="cpu")
    return summary(evaluate(lambda obs: model.predict(obs, deterministic=True)[0], env, episodes, seed + 10_000))


def ours(recipe: str, seed: int, overrides: list[str], run: Path, eval_freq: int, eval_episodes: int,
         ) -> tuple[float, list]:
    """Train our recipe in a fresh process: its wall time and its evaluations (the final one at least)."""
    started, start = time.time(), time.perf_counter()
    subprocess.run(["rllab", "train", recipe, "--seed", str(seed), "--run-dir", str(run), "video_freq=0", *overrides,
                    f"eval_freq={eval_freq}", f"eval_episodes={eval_episodes}"], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    evals = [[step, round(seconds, 3), mean] for step, seconds, mean in evaluations(run, started)]
    return round(wall, 2), evals


def ours_score(run: Path, episodes: int) -> dict:
    out = subprocess.run(["rllab", "eval", str(run), "--episodes", str(episodes), "--json"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def medians(rows: list[dict], side: str, timed: bool) -> dict:
    """Medians over seeds of one side's wall and final score (and time to threshold, over the seeds reaching it)."""
    runs = [r[side] for r in rows]
    m = {"wall_s": statistics.median(r["wall_s"] for r in runs),
         "mean_return": statistics.median(r["mean_return"] for r in runs)}
    if timed:
        times = [r["time_to_threshold_s"] for r in runs]
        m |= {"eval_wall_s": statistics.median(r["eval_wall_s"] for r in runs),
              "time_to_threshold_s": median_reached(times),
              "reached": f"{sum(t is not None for t in times)}/{len(times)}"}
    return m


def row_text(label: str, r: dict, timed: bool) -> str:
    spread = f" ± {r['std_return']:6.1f}" if "std_return" in r else ""  # a median row has none
    score = f"{r['mean_return']:8.1f}{spread:9s}"
    text = f"{label:34s} {r['wall_s']:7.1f}   {score}"
    if timed:
        reached = f" ({r['reached']})" if "reached" in r else ""
        text += f"   {r['eval_wall_s']:7.1f}   {seconds_or_dash(r['time_to_threshold_s']):>8s}{reached}"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", default="dqn", choices=list(ZOO))
    parser.add_argument("--env", default="CartPole-v1", choices=list(ZOO_DQN))
    parser.add_argument("--recipe", help="our recipe (name or .toml path; default: RECIPES[algo][env])")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="each trained by SB3, then ours")
    parser.add_argument("--episodes", type=int, default=20, help="episodes that score each final policy")
    parser.add_argument("--eval-freq", type=int, default=10_000,
                        help="env steps between evaluations in the time-to-threshold runs (0: no such runs)")
    parser.add_argument("--eval-episodes", type=int, default=10, help="episodes per periodic evaluation")
    parser.add_argument("--threshold", type=float, help="score that counts as solved (default: the env's "
                        "reward_threshold in Gymnasium)")
    parser.add_argument("--sb3-steps", type=int, help="SB3's env steps (default: the Zoo's n_timesteps)")
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    overrides, rest = split_overrides(sys.argv[1:], VALUE_OPTIONS)
    args = parser.parse_args(rest)
    if args.env not in ZOO[args.algo]:
        parser.error(f"{args.algo} is compared on {', '.join(ZOO[args.algo])} only")
    if any(o.split("=")[0] in ("eval_freq", "eval_episodes") for o in overrides):
        parser.error("set evaluation with --eval-freq and --eval-episodes (both sides share them), not key=value")
    recipe = args.recipe or RECIPES[args.algo][args.env]
    zoo = ZOO[args.algo][args.env] | ({"n_timesteps": args.sb3_steps} if args.sb3_steps else {})
    threshold = args.threshold if args.threshold is not None else reward_threshold(args.env)
    timed = args.eval_freq > 0 and threshold is not None
    if args.eval_freq > 0 and threshold is None:
        print(f"{args.env} has no reward_threshold in Gymnasium's registry: pass --threshold for time to threshold")
    names = {"sb3": f"sb3-{args.algo} (zoo)", "rllab": f"rllab {recipe}"}
    print(f"{args.env}: {names['sb3']} vs {names['rllab']} {' '.join(overrides)}\n"
          f"wall: the training process, start-up included, no periodic evaluation; final score: "
          f"{args.episodes} greedy episodes")
    header = f"{'seed  side':34s} {'wall s':>7s}   {'final score':>17s}"
    if timed:
        print(f"time to {threshold:g}: the first evaluation ({args.eval_episodes} episodes every {args.eval_freq} "
              f"steps and at the end) at or above it, in a second run of each (whose wall is 'eval wall s')")
        header += f"   {'eval wall s':>7s}   {f'to {threshold:g}':>8s}"
    print(header, flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for seed in args.seeds:
            row = {"seed": seed}
            wall, _ = sb3(args.algo, args.env, seed, zoo, tmp / f"sb3-s{seed}", 0, args.eval_episodes)
            row["sb3"] = {"wall_s": wall, **sb3_score(args.algo, args.env, seed, args.episodes, tmp / f"sb3-s{seed}")}
            run = tmp / f"rllab-s{seed}"
            wall, _ = ours(recipe, seed, overrides, run, 0, args.eval_episodes)
            row["rllab"] = {"wall_s": wall, **ours_score(run, args.episodes)}
            if (env := read_toml(run / "config.toml").get("env")) != args.env:
                sys.exit(f"error: recipe {recipe} trains on {env}, not {args.env} (--env)")
            if timed:
                timed_runs = {
                    "sb3": sb3(args.algo, args.env, seed, zoo, tmp / f"sb3-eval-s{seed}", args.eval_freq,
                               args.eval_episodes),
                    "rllab": ours(recipe, seed, overrides, tmp / f"rllab-eval-s{seed}", args.eval_freq,
                                  args.eval_episodes),
                }  # run in this order: SB3, then ours
                for side, (wall, evals) in timed_runs.items():
                    row[side] |= {"eval_wall_s": wall, "time_to_threshold_s": time_to_threshold(evals, threshold),
                                  "evals": evals}
            rows.append(row)
            for side in ("sb3", "rllab"):
                print(row_text(f"{seed:<4d}  {names[side]}", row[side], timed), flush=True)
    summary = {side: medians(rows, side, timed) for side in ("sb3", "rllab")}
    for side in ("sb3", "rllab"):
        print(row_text(f"median  {names[side]}", summary[side], timed))
    result = {"command": shlex.join(["python", *sys.argv]), "algo": args.algo, "env": args.env, "recipe": recipe,
              "overrides": overrides, "sb3_zoo": zoo, "seeds": args.seeds, "episodes": args.episodes,
              "eval_freq": args.eval_freq if timed else 0, "eval_episodes": args.eval_episodes,
              "threshold": threshold, "runs": rows, "medians": summary,
              "wall_ratio_rllab_over_sb3": summary["rllab"]["wall_s"] / summary["sb3"]["wall_s"]}
    print(f"rllab wall / sb3 wall: {result['wall_ratio_rllab_over_sb3']:.2f} (medians, {len(rows)} seeds)")
    if timed:
        a, b = summary["rllab"]["time_to_threshold_s"], summary["sb3"]["time_to_threshold_s"]
        result["time_to_threshold_ratio_rllab_over_sb3"] = a / b if a is not None and b is not None else None
        if a is not None and b is not None:
            print(f"rllab / sb3 time to {threshold:g}: {a / b:.2f} (medians over the seeds that reached it)")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
