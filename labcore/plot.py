"""`rllab plot` and `genlab plot`: one TensorBoard tag of many runs, grouped across seeds.

    curves     each run's scalar (read with TensorBoard's own event reader) interpolated onto a grid of steps shared
               by its group, then per grid point the IQM (or mean) over the group's runs with a 95 % bootstrap band
    aggregate  each run's last value of the tag as its final score; per group the IQM, median, mean and optimality
               gap with 95 % stratified-bootstrap intervals, and for each pair of groups the probability of
               improvement (labcore.stats: the rliable estimators)

Runs are directories with a config.toml, given directly, as globs, or as folders searched for them (a study folder,
`runs/`). `--group-by recipe` puts together the runs whose settings differ only in their seed (and where they ran);
`--group-by run` draws every run on its own. `--x time` puts the minutes since each run's first event on the x axis
in place of the step (for a resumed run they include the time it was stopped).
"""

from __future__ import annotations

import argparse
import glob
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labcore import stats
from labcore.errors import UsageError

# settings that do not make runs different recipes: the seed, where a run ran, and how often it wrote things down
NOT_RECIPE = ("seed", "device", "threads", "backend", "log_freq", "checkpoint_freq", "video_freq", "image_freq")
GRID_POINTS = 100


@dataclass
class RunInfo:
    """What a package tells `plot` about a run."""

    config: dict[str, Any]  # its settings (what --group-by recipe compares)
    groups: dict[str, Any]  # its other groupings by name (rllab: algo, env; genlab: model, data)
    task: str  # what the stratified bootstrap stratifies by: the environment or the data
    target: float | None = None  # the score counted as optimal, for the optimality gap (None: unknown)


def add_arguments(parser: argparse.ArgumentParser, tag: str, groups: tuple[str, ...]) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR_OR_GLOB",
                        help="run directories, globs of them, or folders to search for runs")
    parser.add_argument("--tag", default=tag, help=f"TensorBoard scalar to plot (default {tag})")
    parser.add_argument("--group-by", choices=(*groups, "run"), default=groups[0],
                        help=f"how runs form groups (default {groups[0]}: the same settings but the seed; run: each "
                        "run its own curve)")
    parser.add_argument("--x", choices=("step", "time"), default="step",
                        help="x axis: the step (default) or the minutes since the run's first event")
    parser.add_argument("--stat", choices=("iqm", "mean"), default="iqm",
                        help="curve statistic over a group's runs: interquartile mean (default) or mean")
    parser.add_argument("--aggregate", action="store_true",
                        help="also the final scores' IQM, median, mean, optimality gap and probability of improvement")
    parser.add_argument("--target", type=float, help="the score counted as optimal, for the optimality gap "
                        "(default: the environment's reward threshold, where Gymnasium names one)")
    parser.add_argument("--out", type=Path, default=Path("curves.png"), help="figure file (default curves.png)")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    parser.add_argument("--json", action="store_true", help="print the groups' statistics as one JSON object")


def plot(args: argparse.Namespace, describe: Callable[[Path], RunInfo]) -> int:
    if args.out.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise UsageError(f"--out must end in .png, .pdf or .svg, not {args.out}")
    if args.out.exists() and not args.force:
        raise UsageError(f"{args.out} already exists; pass --force to overwrite it or choose another --out")
    runs = find_runs(args.runs)
    groups: dict[str, list[tuple[Path, RunInfo, np.ndarray, np.ndarray]]] = {}
    for run in runs:
        info = describe(run)
        steps, minutes, values = read_scalars(run, args.tag)
        key = str(run) if args.group_by == "run" else group_key(info, args.group_by)
        groups.setdefault(key, []).append((run, info, minutes if args.x == "time" else steps, values))
    labels = group_labels(groups, args.group_by)
    statistic = stats.iqm if args.stat == "iqm" else stats.mean
    curves = {labels[k]: curve(members, statistic) for k, members in groups.items()}
    summary: dict[str, Any] = {"tag": args.tag, "group_by": args.group_by, "x": args.x, "groups": {}}
    for key, members in groups.items():
        span = [float(curves[labels[key]]["x"][i]) for i in (0, -1)]
        summary["groups"][labels[key]] = {"runs": [str(run) for run, *_ in members], "x_range": span}
    if args.aggregate:
        aggregate(groups, labels, args.target, summary)
    draw(curves, summary if args.aggregate else None, args)
    if args.json:
        print(json.dumps(summary))
    else:
        print_summary(summary, args)
    return 0


def find_runs(patterns: list[str]) -> list[Path]:
    """Run directories (those with a config.toml) named, matched by globs, or found under folders."""
    runs: list[Path] = []
    for pattern in patterns:
        matches = [Path(p) for p in sorted(glob.glob(pattern))] or [Path(pattern)]
        for path in matches:
            if (path / "config.toml").is_file():
                runs.append(path)
            elif path.is_dir():
                runs.extend(sorted(p.parent for p in path.rglob("config.toml")))
            else:
                raise UsageError(f"no such run directory: {path}")
    if not runs:
        raise UsageError(f"no runs (directories with a config.toml) in {' '.join(patterns)}")
    return list(dict.fromkeys(runs))


def read_scalars(run: Path, tag: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(steps, minutes since the run's first event, values) of one scalar tag, from every events file of the run (a
    resumed run's too)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run), size_guidance={"scalars": 0, "images": 1, "histograms": 1})
    events.Reload()
    tags = events.Tags()["scalars"]
    if tag not in tags:
        known = ", ".join(sorted(tags)[:12]) or "none"
        raise UsageError(f"run {run} has no scalar {tag!r}; it has: {known}")
    points = events.Scalars(tag)
    start = events.FirstEventTimestamp()
    return (np.array([p.step for p in points], dtype=float),
            np.array([(p.wall_time - start) / 60 for p in points], dtype=float),
            np.array([p.value for p in points], dtype=float))


def checkpoint_entry(run: Path, key: str) -> Any:
    """One plain entry of a run's checkpoint (e.g. its algorithm), read without loading its tensors."""
    import torch

    for name in ("last", "best"):
        path = run / "checkpoints" / f"{name}.pt"
        if path.is_file():
            try:
                return torch.load(path, map_location="cpu", weights_only=True, mmap=True).get(key)
            except Exception:  # a damaged file: the run is still plotted, without this entry
                return None
    return None


def group_key(info: RunInfo, by: str) -> str:
    if by == "recipe":
        return json.dumps({k: v for k, v in info.config.items() if k not in NOT_RECIPE}, sort_keys=True, default=str)
    return str(info.groups.get(by))


def group_labels(groups: dict[str, list], by: str) -> dict[str, str]:
    """A short name per group. For --group-by recipe: its first two groupings (algo env, model data), then the
    folder its runs share where each group has its own (a study's trial-0007), else the settings the groups differ
    in."""
    if by != "recipe":
        return {k: k for k in groups}
    infos = {k: members[0][1] for k, members in groups.items()}
    folders = {k: {run.parent for run, *_ in members} for k, members in groups.items()}
    own_folder = all(len(f) == 1 for f in folders.values()) and len(set.union(*folders.values())) == len(groups)
    keys = sorted({key for info in infos.values() for key in info.config} - set(NOT_RECIPE))
    differ = [key for key in keys if len({json.dumps(i.config.get(key), default=str) for i in infos.values()}) > 1]
    labels = {}
    for k, members in groups.items():
        head = " ".join(str(v) for v in list(infos[k].groups.values())[:2])
        if own_folder and len(groups) > 1:
            shown = [members[0][0].parent.name]
        else:
            shown = [f"{key}={short(infos[k].config.get(key))}" for key in differ if key not in infos[k].groups][:4]
        labels[k] = " ".join([head, *shown])
    while len(set(labels.values())) < len(labels):  # same text (differences past the 4 shown): number them
        labels = {k: f"{label} #{i}" for i, (k, label) in enumerate(labels.items())}
    return labels


def short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value).replace(" ", "")


def curve(members: list, statistic: stats.Statistic) -> dict[str, np.ndarray]:
    """The group's runs on a shared grid of x (steps or minutes, from the latest first to the earliest last), and
    the statistic with its band."""
    first = max(x[0] for _, _, x, _ in members)
    last = min(x[-1] for _, _, x, _ in members)
    grid = np.linspace(first, last, GRID_POINTS) if last > first else np.array([last])
    values = np.stack([np.interp(grid, x, vals) for _, _, x, vals in members])  # (runs, points)
    estimate, low, high = stats.curve_band(values, statistic)
    return {"x": grid, "estimate": estimate, "low": low, "high": high, "runs": len(members)}


def aggregate(groups: dict[str, list], labels: dict[str, str], target: float | None, summary: dict) -> None:
    """Final scores per group as a (runs, tasks) matrix, their statistics, and P(X > Y) for each pair."""
    matrices = {}
    for key, members in groups.items():
        by_task: dict[str, list[float]] = {}
        for _, info, _, values in members:
            by_task.setdefault(info.task, []).append(float(values[-1]))
        counts = {task: len(v) for task, v in by_task.items()}
        if len(set(counts.values())) > 1:
            raise UsageError(f"group {labels[key]!r} has a different number of runs per task ({counts}); the "
                             "stratified bootstrap needs as many on each")
        matrices[key] = np.array(list(by_task.values())).T  # (runs, tasks)
        goal = target
        if goal is None:
            goals = {info.target for _, info, _, _ in members}
            goal = goals.pop() if len(goals) == 1 else None
        entry = summary["groups"][labels[key]]
        entry["final_scores"] = {task: v for task, v in by_task.items()}
        for name, fn in (("iqm", stats.iqm), ("median", stats.median), ("mean", stats.mean)):
            entry[name] = stats.bootstrap_ci(matrices[key], fn)
        if goal is not None and not math.isnan(goal):
            entry["optimality_gap"] = stats.bootstrap_ci(matrices[key], lambda s, g=goal: stats.optimality_gap(s, g))
            entry["target"] = goal
    keys = list(groups)
    if len(keys) <= 5:  # every pair; with more groups, each against the one of highest IQM
        pairs = [(a, b) for i, a in enumerate(keys) for b in keys[i + 1:]]
    else:
        top = max(keys, key=lambda k: summary["groups"][labels[k]]["iqm"][0])
        pairs = [(top, b) for b in keys if b != top]
    summary["probability_of_improvement"] = [
        {"x": labels[a], "y": labels[b], "p": stats.bootstrap_ci_pair(matrices[a], matrices[b])}
        for a, b in pairs if matrices[a].shape[1] == matrices[b].shape[1]]


def draw(curves: dict[str, dict], summary: dict | None, args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display is needed or used
    import matplotlib.pyplot as plt

    panels = tuple(name for name in ("iqm", "median", "mean", "optimality_gap")  # the gap only where a target is known
                   if summary and any(name in g for g in summary["groups"].values()))
    fig = plt.figure(figsize=(10, 7 if panels else 5), layout="constrained")
    grid = fig.add_gridspec(2 if panels else 1, max(len(panels), 1), height_ratios=[2, 1] if panels else None)
    ax = fig.add_subplot(grid[0, :])
    colors = {}
    for label, c in curves.items():
        line, = ax.plot(c["x"], c["estimate"], marker="o" if len(c["x"]) == 1 else None,
                        label=f"{label} ({runs_text(c['runs'])})")
        colors[label] = line.get_color()
        ax.fill_between(c["x"], c["low"], c["high"], color=colors[label], alpha=0.2, linewidth=0)
    ax.set_xlabel("minutes of the run" if args.x == "time" else "step")
    statistic = f" ({args.stat.upper() if args.stat == 'iqm' else 'mean'}, 95 % CI)"
    ax.set_ylabel(args.tag + ("" if all(c["runs"] == 1 for c in curves.values()) else statistic))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    for i, name in enumerate(panels):
        sub = fig.add_subplot(grid[1, i])
        rows = [(label, g[name]) for label, g in summary["groups"].items() if name in g]
        for y, (label, (point, low, high)) in enumerate(rows):
            sub.errorbar([point], [y], xerr=[[point - low], [high - point]], fmt="o", capsize=3, color=colors[label])
        sub.set_yticks(range(len(rows)), [label for label, _ in rows] if i == 0 else [""] * len(rows),
                       fontsize="small")
        sub.set_title(name.replace("_", " "), fontsize="medium")
        sub.grid(alpha=0.3, axis="x")
    fig.savefig(args.out, dpi=120)
    plt.close(fig)


def runs_text(n: int) -> str:
    return f"{n} run{'' if n == 1 else 's'}"


def print_summary(summary: dict[str, Any], args: argparse.Namespace) -> None:
    for label, g in summary["groups"].items():
        line = f"{label}: {runs_text(len(g['runs']))}"
        for name in ("iqm", "median", "mean", "optimality_gap"):
            if name in g:
                point, low, high = g[name]
                line += f"; {name.replace('_', ' ')} {point:.4g} [{low:.4g}, {high:.4g}]"
        print(line)
    for pair in summary.get("probability_of_improvement", []):
        point, low, high = pair["p"]
        print(f"P({pair['x']} > {pair['y']}) = {point:.2f} [{low:.2f}, {high:.2f}]")
    print(f"wrote {args.out}")
