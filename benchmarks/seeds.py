"""Train a recipe over several seeds, one after another: each final greedy score, wall time and time to threshold.

    python benchmarks/seeds.py cartpole-dqn --seeds 0 1 2 3 4 [--episodes 20] [--threshold T] [--eval-freq N]
                               [--runs DIR] [--plot PNG] [--out JSON] [key=value ...]

Each seed runs `rllab train RECIPE --seed S` in a fresh process and reports three times, all counted from the
moment that process is started, so start-up and imports (~3.5 s of them torch's) are included: what a user waits
for. The wall time of the whole command; the training time the run records in eval.json (from the run's start to
its final evaluation: no start-up); and the time to threshold: when the run's greedy evaluation (its TensorBoard
scalar `eval/mean_reward`, the mean of `eval_episodes` episodes) first reached the threshold (`--threshold`, or the
score Gymnasium's registry counts as solving the recipe's environment: CartPole-v1 475). Many recipes set
`eval_freq = 0` and evaluate only at the end, so the time to threshold is then the final evaluation's (or "—" when
that falls short). `--eval-freq N` has every run evaluate every N env steps: a finer time to threshold, but the
evaluations cost time inside the run, and its wall and training times include them.

Then `rllab eval RUN --episodes 20 --json` scores the final weights. Prints a table and one JSON line (each run's
`time_to_threshold_s` a number or null; the median over the seeds that reached it). The runs go to a temporary
folder, or to `--runs DIR` (DIR/sS) to keep them; `--plot PNG` draws their learning curves with
`rllab plot --tag rollout/ep_rew_mean --aggregate`: the IQM over seeds of the training episodes' mean return (the
last 100 episodes, as SB3 logs it) with its 95 % bootstrap band, and the intervals of its last value (the greedy
scores' are in the table).
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

# options that take one value of their own
VALUE_OPTIONS = ("--episodes", "--threshold", "--eval-freq", "--out", "--runs", "--plot")


def split_overrides(argv: list[str], value_options: tuple[str, ...] = VALUE_OPTIONS) -> tuple[list[str], list[str]]:
    """(key=value overrides, the rest): overrides may come anywhere, also after --seeds' list (which would
    otherwise swallow them); an option's own value, as in `--out a=b.json`, is not one."""
    overrides, rest = [], []
    for i, a in enumerate(argv):
        is_value = i > 0 and argv[i - 1] in value_options
        (overrides if "=" in a and not a.startswith("-") and not is_value else rest).append(a)
    return overrides, rest


def evaluations(run: Path, start: float) -> list[tuple[int, float, float]]:
    """(env step, seconds since `start` (a time.time()), mean return) of each greedy evaluation the run logged
    (TensorBoard's `eval/mean_reward`, whose events carry the wall-clock time they were written at)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run), size_guidance={"scalars": 0, "images": 1, "histograms": 1})
    events.Reload()
    if "eval/mean_reward" not in events.Tags()["scalars"]:
        return []
    return [(e.step, e.wall_time - start, e.value) for e in events.Scalars("eval/mean_reward")]


def time_to_threshold(evals: list[tuple[int, float, float]], threshold: float | None) -> float | None:
    """Seconds to the first evaluation whose mean return reaches `threshold`; None if none did (or no threshold)."""
    if threshold is None:
        return None
    return next((round(seconds, 2) for _, seconds, mean in evals if mean >= threshold), None)


def seconds_or_dash(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:.1f} s"


def median_reached(times: list[float | None]) -> float | None:
    reached = [t for t in times if t is not None]
    return statistics.median(reached) if reached else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--threshold", type=float, help="the score that counts as solved: seeds whose final score "
                        "reaches it, and the time to reach it (default: the env's reward_threshold in Gymnasium)")
    parser.add_argument("--eval-freq", type=int, help="evaluate every N env steps in each run (passes eval_freq=N; "
                        "the evaluations' time counts in the wall and training times)")
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    parser.add_argument("--runs", type=Path, help="keep the runs in this folder (default: a temporary one)")
    parser.add_argument("--plot", type=Path, help="draw the runs' learning curves (rollout/ep_rew_mean) here")
    overrides, rest = split_overrides(sys.argv[1:])
    args = parser.parse_args(rest)
    if args.eval_freq is not None:
        if any(o.startswith("eval_freq=") for o in overrides):
            parser.error("give --eval-freq N or eval_freq=N, not both")
        overrides.append(f"eval_freq={args.eval_freq}")
    rows, threshold = [], args.threshold
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.runs or Path(tmp)
        for seed in args.seeds:
            run = folder / f"s{seed}"
            started, start = time.time(), time.perf_counter()  # wall-clock for TensorBoard's times, a timer for wall
            trained = subprocess.run(["rllab", "train", args.recipe, "--seed", str(seed), "--run-dir", str(run),
                                      *overrides], stdout=subprocess.DEVNULL)
            if trained.returncode:  # rllab has printed its one-line error (bad recipe or key) on stderr
                sys.exit(trained.returncode)
            wall = time.perf_counter() - start
            if threshold is None:
                from labcore.config import read_toml
                from rllab.algos import reward_threshold

                threshold = reward_threshold(read_toml(run / "config.toml").get("env"))
            to_threshold = time_to_threshold(evaluations(run, started), threshold)
            train_s = json.loads((run / "eval.json").read_text())["train_seconds"]  # before eval rewrites it
            out = subprocess.run(["rllab", "eval", str(run), "--episodes", str(args.episodes), "--json"],
                                 check=True, capture_output=True, text=True).stdout
            score = json.loads(out)
            rows.append({"seed": seed, "wall_s": round(wall, 1), "train_s": train_s,
                         "time_to_threshold_s": to_threshold, **score})
            reach = f", to {threshold:g}: {seconds_or_dash(to_threshold)}" if threshold is not None else ""
            print(f"seed {seed}: {score['mean_return']:8.1f} ± {score['std_return']:6.1f}   {wall:6.1f} s wall, "
                  f"{train_s:6.1f} s training{reach}", flush=True)
        if args.plot:
            runs = [str(folder / f"s{s}") for s in args.seeds]
            subprocess.run(["rllab", "plot", *runs, "--tag", "rollout/ep_rew_mean", "--aggregate", "--out",
                            str(args.plot), "--force"], check=True, stdout=subprocess.DEVNULL)
    means = [r["mean_return"] for r in rows]
    walls = [r["wall_s"] for r in rows]
    trains = [r["train_s"] for r in rows]
    times = [r["time_to_threshold_s"] for r in rows]
    summary = {"command": shlex.join(["python", *sys.argv]), "recipe": args.recipe, "overrides": overrides,
               "episodes": args.episodes, "threshold": threshold,
               "mean_of_means": statistics.mean(means), "std_of_means": statistics.pstdev(means),
               "median_wall_s": statistics.median(walls), "max_wall_s": max(walls),
               "median_train_s": statistics.median(trains),
               "median_time_to_threshold_s": median_reached(times), "runs": rows}
    line = (f"{args.recipe}: {summary['mean_of_means']:.1f} ± {summary['std_of_means']:.1f} over {len(rows)} seeds, "
            f"median wall {summary['median_wall_s']:.1f} s (training {summary['median_train_s']:.1f} s)")
    if threshold is not None:
        summary["solved"] = f"{sum(m >= threshold for m in means)}/{len(means)}"
        summary["reached"] = f"{sum(t is not None for t in times)}/{len(times)}"
        line += (f", solved {summary['solved']}; time to {threshold:g}: median "
                 f"{seconds_or_dash(summary['median_time_to_threshold_s'])} ({summary['reached']} reached it)")
    print(line)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2) + "\n")
    json.dump(summary, sys.stdout)
    print()


if __name__ == "__main__":
    main()
