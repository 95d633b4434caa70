"""MIG against training time, read back from genlab runs' TensorBoard events (`eval/mig`, logged every
`eval_freq` steps and at the end), with each run's final scores from eval.json.

    python benchmarks/mig_curve.py RUN_DIR [RUN_DIR ...] [--out results.json]

Prints a table (one column per run: minutes since the run's first logged step, MIG) and the final
metrics per run; `--out` also writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from labcore.errors import UsageError
from labcore.plot import read_scalars

FINAL = ("mig", "factor_vae", "beta_vae", "sap", "dci_disentanglement", "dci_completeness", "dci_informativeness",
         "active_dims", "train_seconds", "eval_seconds")


def curve(run: Path) -> list[tuple[int, float, float]]:
    """(step, minutes since the run's first event, MIG) at every logged MIG (periodic MIGs include the time of the
    evaluations before them)."""
    try:
        steps, minutes, values = read_scalars(run, "eval/mig")
    except UsageError:  # no evaluation logged yet (or not a genlab run)
        return []
    return [(int(s), float(m), float(v)) for s, m, v in zip(steps, minutes, values)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, help="also write the curves and final scores as JSON")
    args = parser.parse_args()
    for run in args.runs:
        if not run.is_dir():
            parser.error(f"{run}: not a run directory")
    curves = {str(run): curve(run) for run in args.runs}
    finals = {str(run): json.loads((run / "eval.json").read_text()) for run in args.runs
              if (run / "eval.json").exists()}
    for run, final in finals.items():  # the last MIG is logged after the final evaluation: date it at its start
        c = curves[run]
        if c and c[-1][0] == final["step"]:
            c[-1] = (c[-1][0], final["train_seconds"] / 60, c[-1][2])
    print("step   " + "  ".join(f"{Path(r).name:>16s}" for r in curves))
    steps = sorted({s for c in curves.values() for s, _, _ in c})
    for step in steps:
        cells = []
        for c in curves.values():
            hit = [(m, v) for s, m, v in c if s == step]
            cells.append(f"{hit[0][0]:6.1f} min {hit[0][1]:5.3f}" if hit else " " * 16)
        print(f"{step:6d} " + "  ".join(cells))
    for key in FINAL:
        values = [f[key] for f in finals.values() if key in f]
        if values:
            print(f"{key:20s} " + ", ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in values)
                  + (f"   median {statistics.median(values):.3f}" if len(values) > 1 else ""))
    if args.out:
        args.out.write_text(json.dumps({"curves": curves, "final": finals}, indent=1))


if __name__ == "__main__":
    main()
