"""Throughput of one process with 2 threads against 2 data-parallel ranks (torchrun, gloo) with 1 thread each, at
the same effective batch, on this machine's cores.

    python benchmarks/scaling.py [--repeats 3] [--out benchmarks/results/scaling.json]

For the `beta-tcvae` recipe (batch 128 in one process; 64 on each of 2 ranks) it reports training images/s, and
for `lunarlander-ppo` (16 environments in one process; 8 on each rank) environment steps/s: the work the run
records in eval.json's `train_seconds` (from its start to the end of training, periodic evaluations off) over that
time, median of `--repeats` runs, the two set-ups alternating. Short budgets: this measures speed, not scores;
docs/scaling.md has the full-length runs and their scores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CASES = {  # name: (command, work per run, what the work is, one-process overrides, per-rank overrides)
    "beta-tcvae": (["genlab", "train", "beta-tcvae", "--steps", "200", "eval_freq=0", "image_freq=100000",
                    "checkpoint_freq=100000", "metrics=none", "eval_samples=100", "eval_k=2"],
                   200 * 128, "images/s", ["threads=2"], ["threads=1", "batch_size=64"]),
    "lunarlander-ppo": (["rllab", "train", "lunarlander-ppo", "--steps", "65536", "eval_freq=0", "video_freq=0",
                         "eval_episodes=1", "checkpoint_freq=1000000"],
                        65536, "env steps/s", ["threads=2"], ["threads=1", "num_envs=8"]),
}


def run(cmd: list[str], ranks: int, run_dir: Path) -> float:
    """Seconds of training that the run records."""
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}", "-m"]
    full = [*launch, *cmd] if ranks > 1 else cmd
    subprocess.run([*full, "--run-dir", str(run_dir)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return json.loads((run_dir / "eval.json").read_text())["train_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (cmd, work, unit, one, each) in CASES.items():
            speeds: dict[str, list[float]] = {"1 process × 2 threads": [], "2 ranks × 1 thread": []}
            for i in range(args.repeats):
                for label, ranks, extra in (("1 process × 2 threads", 1, one), ("2 ranks × 1 thread", 2, each)):
                    seconds = run([*cmd, *extra], ranks, Path(tmp) / f"{name}-{ranks}-{i}")
                    speeds[label].append(round(work / seconds, 1))
            medians = {label: statistics.median(v) for label, v in speeds.items()}
            results[name] = {"unit": unit, "runs": speeds, "median": medians}
            print(f"{name}: " + ", ".join(f"{label} {m:,.0f} {unit}" for label, m in medians.items()), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
