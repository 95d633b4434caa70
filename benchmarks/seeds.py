"""Train a recipe over several seeds, one after another, and report each final greedy score and wall time.

    python benchmarks/seeds.py cartpole-dqn --seeds 0 1 2 3 4 [--episodes 20] [--runs DIR] [--plot PNG] [key=value ...]

Each seed runs `rllab train RECIPE --seed S` in a fresh process and reports two times: the wall time
of the whole command (start-up and imports, ~3.5 s of them torch's, included: what a user waits for) and
the training time the run records in eval.json (from the run's start to its final evaluation). Then
`rllab eval RUN --episodes 20 --json` on the final weights. Prints a table and one JSON line. The runs go to a
temporary folder, or to `--runs DIR` (DIR/sS) to keep them; `--plot PNG` draws their learning curves with
`rllab plot --tag rollout/ep_rew_mean --aggregate`: the IQM over seeds of the training episodes' mean return (the last
100 episodes, as SB3 logs it) with its 95 % bootstrap band, and the intervals of its last value (the greedy scores'
are in the table).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VALUE_OPTIONS = ("--episodes", "--threshold", "--out", "--runs", "--plot")  # options that take one value of their own


def split_overrides(argv: list[str]) -> tuple[list[str], list[str]]:
    """(key=value overrides, the rest): overrides may come anywhere, also after --seeds' list (which would
    otherwise swallow them); an option's own value, as in `--out a=b.json`, is not one."""
    overrides, rest = [], []
    for i, a in enumerate(argv):
        is_value = i > 0 and argv[i - 1] in VALUE_OPTIONS
        (overrides if "=" in a and not a.startswith("-") and not is_value else rest).append(a)
    return overrides, rest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--threshold", type=float, help="count seeds whose final score reaches this")
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    parser.add_argument("--runs", type=Path, help="keep the runs in this folder (default: a temporary one)")
    parser.add_argument("--plot", type=Path, help="draw the runs' learning curves (rollout/ep_rew_mean) here")
    overrides, rest = split_overrides(sys.argv[1:])
    args = parser.parse_args(rest)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.runs or Path(tmp)
        for seed in args.seeds:
            run = folder / f"s{seed}"
            start = time.perf_counter()
            trained = subprocess.run(["rllab", "train", args.recipe, "--seed", str(seed), "--run-dir", str(run),
                                      *overrides], stdout=subprocess.DEVNULL)
            if trained.returncode:  # rllab has printed its one-line error (bad recipe or key) on stderr
                sys.exit(trained.returncode)
            wall = time.perf_counter() - start
            train_s = json.loads((run / "eval.json").read_text())["train_seconds"]  # before eval rewrites it
            out = subprocess.run(["rllab", "eval", str(run), "--episodes", str(args.episodes), "--json"],
                                 check=True, capture_output=True, text=True).stdout
            score = json.loads(out)
            rows.append({"seed": seed, "wall_s": round(wall, 1), "train_s": train_s, **score})
            print(f"seed {seed}: {score['mean_return']:8.1f} ± {score['std_return']:6.1f}   {wall:6.1f} s wall, "
                  f"{train_s:6.1f} s training", flush=True)
        if args.plot:
            runs = [str(folder / f"s{s}") for s in args.seeds]
            subprocess.run(["rllab", "plot", *runs, "--tag", "rollout/ep_rew_mean", "--aggregate", "--out",
                            str(args.plot), "--force"], check=True, stdout=subprocess.DEVNULL)
    means = [r["mean_return"] for r in rows]
    walls = [r["wall_s"] for r in rows]
    trains = [r["train_s"] for r in rows]
    summary = {"recipe": args.recipe, "overrides": overrides, "episodes": args.episodes,
               "mean_of_means": statistics.mean(means), "std_of_means": statistics.pstdev(means),
               "median_wall_s": statistics.median(walls), "max_wall_s": max(walls),
               "median_train_s": statistics.median(trains), "runs": rows}
    if args.threshold is not None:
        summary["solved"] = f"{sum(m >= args.threshold for m in means)}/{len(means)}"
    solved = f", solved {summary['solved']}" if "solved" in summary else ""
    print(f"{args.recipe}: {summary['mean_of_means']:.1f} ± {summary['std_of_means']:.1f} over {len(rows)} seeds, "
          f"median wall {summary['median_wall_s']:.1f} s (training {summary['median_train_s']:.1f} s){solved}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2) + "\n")
    json.dump(summary, sys.stdout)
    print()


if __name__ == "__main__":
    main()
