"""Start-up: how long the commands that do not train take, and how long a training command takes to its first
environment step, against `python -c pass` and `python -c "import torch"`.

    python benchmarks/startup.py [--repeats 5] [--out benchmarks/results/startup.json]

Each command runs in a fresh process, the commands in turn, `--repeats` rounds; the table holds each one's median
wall time and its difference from the baseline it is judged against. The first environment step is timed by
running `rllab train cartpole-ppo` with Gymnasium's CartPoleVectorEnv.step replaced by one that prints the time and
ends the process: from the moment the process is started to the moment training first steps its environments
(imports, the config, the run directory, the networks and their optimiser, the environments made and reset). Its
baseline is a process that imports torch and prints the time at once, stopped the same way (`python -c "import
torch"` also counts the interpreter's exit, ≈ 0.5 s of unloading torch, which the first-step time does not).
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

FIRST_STEP = """
import os, sys, time
from gymnasium.envs.classic_control import cartpole

def first_step(self, action):
    print(time.time(), flush=True)
    os._exit(0)

cartpole.CartPoleVectorEnv.step = first_step
from rllab.cli import main
sys.exit(main(sys.argv[1:]))
"""


FIRST = "rllab train cartpole-ppo: first env step"
IMPORTED = "import torch, to the end of the import"  # the first step's baseline: both stop the clock inside
STAMPED = (FIRST, IMPORTED)  # timed to the moment they print, not to the process's exit


def commands(run_dir: Path) -> dict[str, list[str]]:
    py = sys.executable
    return {
        "python -c pass": [py, "-c", "pass"],
        "python -c 'import torch'": [py, "-c", "import torch"],
        "python -c 'import torch, torch._dynamo'": [py, "-c", "import torch, torch._dynamo"],
        IMPORTED: [py, "-c", "import os, time, torch; print(time.time(), flush=True); os._exit(0)"],
        "rllab --help": ["rllab", "--help"],
        "rllab list": ["rllab", "list"],
        "rllab train nosuch-recipe (exit 2)": ["rllab", "train", "nosuch-recipe"],
        "genlab --help": ["genlab", "--help"],
        "genlab list": ["genlab", "list"],
        FIRST: [py, "-c", FIRST_STEP, "train", "cartpole-ppo", "--run-dir", str(run_dir)],
    }


def timed(name: str, cmd: list[str]) -> float:
    """Seconds from starting the process to its end (to the time it prints for `STAMPED`)."""
    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode not in (0, 2):
        raise SystemExit(f"{shlex.join(cmd)} failed: {proc.stderr.strip()[-500:]}")
    return (float(proc.stdout.split()[-1]) if name in STAMPED else time.time()) - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            for name, cmd in commands(Path(tmp) / f"run-{i}").items():
                times.setdefault(name, []).append(timed(name, cmd))
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f"medians of {args.repeats} runs each, seconds")
    for name, m in median.items():
        if name == FIRST:
            ref, ref_name = median[IMPORTED], "the end of import torch"
        elif "torch" in name:
            ref, ref_name = median["python -c 'import torch'"], "import torch"
        else:
            ref, ref_name = median["python -c pass"], "python -c pass"
        print(f"  {name:44s} {m:6.2f}" + (f"   {m - ref:+6.2f} vs {ref_name}" if m != ref else ""))
    if args.out:
        args.out.write_text(json.dumps({"command": shlex.join(["python", *sys.argv]), "repeats": args.repeats,
                                        "median_s": median, "runs_s": times}, indent=1) + "\n")


if __name__ == "__main__":
    main()
