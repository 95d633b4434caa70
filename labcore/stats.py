"""Aggregate scores over seeds with honest uncertainty: the estimators of rliable (Agarwal et al., 2021, "Deep
Reinforcement Learning at the Edge of the Statistical Precipice"), written in NumPy.

Scores come as a matrix `scores` of shape (runs, tasks): one row per seed, one column per environment (or dataset).
Confidence intervals are percentile intervals of the stratified bootstrap: each resample draws the runs of every
task with replacement, independently per task, and recomputes the statistic.

Written here rather than taken from rliable, which pulls in arch, scipy and seaborn for these few lines.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Statistic = Callable[[np.ndarray], np.ndarray]  # (..., runs, tasks) -> (...)


def iqm(scores: np.ndarray) -> np.ndarray:
    """Interquartile mean over all runs and tasks: the mean of the middle 50 % of the scores, cutting
    floor(n / 4) from each end as scipy.stats.trim_mean(x, 0.25) does (with 3 scores nothing is cut)."""
    flat = np.sort(scores.reshape(*scores.shape[:-2], -1), axis=-1)  # (..., runs × tasks)
    cut = flat.shape[-1] // 4
    return flat[..., cut: flat.shape[-1] - cut].mean(axis=-1)


def mean(scores: np.ndarray) -> np.ndarray:
    return scores.mean(axis=(-2, -1))


def median(scores: np.ndarray) -> np.ndarray:
    return np.median(scores.reshape(*scores.shape[:-2], -1), axis=-1)


def optimality_gap(scores: np.ndarray, target: float) -> np.ndarray:
    """How far the scores fall short of `target` on average: mean(max(target - x, 0)); 0 when all reach it."""
    return np.maximum(target - scores, 0).mean(axis=(-2, -1))


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y): the chance that a run of x beats a run of y on the same task (ties count half), averaged over
    tasks; the Mann-Whitney U statistic divided by n·m. x: (..., n, tasks), y: (..., m, tasks)."""
    diff = x[..., :, None, :] - y[..., None, :, :]  # (..., n, m, tasks)
    wins = (diff > 0) + 0.5 * (diff == 0)
    return wins.mean(axis=(-3, -2)).mean(axis=-1)


def _resample(scores: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
    """(reps, runs, tasks): each task's runs drawn with replacement, independently per task (stratified)."""
    runs, tasks = scores.shape
    idx = rng.integers(runs, size=(reps, runs, tasks))
    return np.take_along_axis(np.broadcast_to(scores, (reps, runs, tasks)), idx, axis=1)


def bootstrap_ci(scores: np.ndarray, statistic: Statistic, reps: int = 2000, level: float = 0.95,
                 rng: np.random.Generator | None = None) -> tuple[float, float, float]:
    """(point estimate, low, high): the statistic and its stratified-bootstrap percentile interval."""
    rng = rng or np.random.default_rng(0)
    stats = statistic(_resample(scores, reps, rng))
    alpha = (1 - level) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha])
    return float(statistic(scores)), float(low), float(high)


def bootstrap_ci_pair(x: np.ndarray, y: np.ndarray, reps: int = 2000, level: float = 0.95,
                      rng: np.random.Generator | None = None) -> tuple[float, float, float]:
    """P(X > Y) with a percentile interval, x and y resampled independently (stratified by task)."""
    rng = rng or np.random.default_rng(0)
    stats = probability_of_improvement(_resample(x, reps, rng), _resample(y, reps, rng))
    alpha = (1 - level) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha])
    return float(probability_of_improvement(x, y)), float(low), float(high)


def curve_band(values: np.ndarray, statistic: Statistic, reps: int = 1000, level: float = 0.95,
               rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Learning curves (runs, points) on a shared grid → (estimate, low, high) per point, the runs resampled
    together at every point (a run's curve stays one draw)."""
    rng = rng or np.random.default_rng(0)
    runs, points = values.shape
    idx = rng.integers(runs, size=(reps, runs))
    resampled = values[idx]  # (reps, runs, points)
    per_point = np.moveaxis(resampled, -1, 1)[..., None]  # (reps, points, runs, 1 task)
    stats = statistic(per_point)  # (reps, points)
    alpha = (1 - level) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha], axis=0)
    return statistic(values.T[..., None]), low, high
