"""labcore.stats: the rliable estimators against hand-computed values, and the bootstrap intervals' coverage."""

import numpy as np
import pytest

from labcore import stats


def col(*values):
    return np.array(values, dtype=float)[:, None]  # (runs, 1 task)


def test_iqm_cuts_a_quarter_from_each_end():
    assert stats.iqm(col(*range(1, 9))) == pytest.approx(4.5)  # mean of 3, 4, 5, 6
    assert stats.iqm(col(1, 2, 100)) == pytest.approx(103 / 3)  # floor(3 / 4) = 0 cut, as scipy's trim_mean
    assert stats.iqm(col(5, 1, 9, 3, 7)) == pytest.approx(5.0)  # cut 1 each end: mean of 3, 5, 7


def test_median_mean_and_optimality_gap():
    scores = np.array([[0.5, 2.0], [1.2, 0.0]])  # (2 runs, 2 tasks)
    assert stats.mean(scores) == pytest.approx(0.925)
    assert stats.median(scores) == pytest.approx(0.85)
    assert stats.optimality_gap(scores, 1.0) == pytest.approx((0.5 + 0 + 0 + 1.0) / 4)
    assert stats.optimality_gap(scores, -5.0) == 0.0


def test_probability_of_improvement_counts_ties_half():
    x, y = col(1, 2), col(1, 3)
    assert stats.probability_of_improvement(x, y) == pytest.approx((0.5 + 0 + 1 + 0) / 4)
    assert stats.probability_of_improvement(y, x) == pytest.approx(1 - 0.375)
    two_tasks_x, two_tasks_y = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])  # wins task 0, loses task 1
    assert stats.probability_of_improvement(two_tasks_x, two_tasks_y) == pytest.approx(0.5)


def test_stratified_resample_keeps_each_task_in_its_column():
    scores = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    resampled = stats._resample(scores, 50, np.random.default_rng(0))
    assert resampled.shape == (50, 3, 2)
    assert set(np.unique(resampled[..., 0])) <= {1.0, 2.0, 3.0}
    assert set(np.unique(resampled[..., 1])) <= {10.0, 20.0, 30.0}


@pytest.mark.parametrize("statistic", [stats.mean, stats.iqm])
def test_bootstrap_interval_covers_the_true_value_about_95_percent(statistic):
    """Normal(0, 1) samples of 30: the mean and the IQM of the distribution are both 0 (it is symmetric)."""
    rng = np.random.default_rng(1)
    trials = 300
    covered = 0
    for _ in range(trials):
        sample = rng.normal(size=(30, 1))
        _, low, high = stats.bootstrap_ci(sample, statistic, reps=500, rng=rng)
        covered += low <= 0 <= high
    assert 0.88 <= covered / trials <= 0.99  # percentile intervals run a little short at n = 30


def test_pair_interval_and_curve_band():
    rng = np.random.default_rng(0)
    better, worse = rng.normal(1.0, 0.1, size=(10, 1)), rng.normal(0.0, 0.1, size=(10, 1))
    point, low, high = stats.bootstrap_ci_pair(better, worse, reps=200)
    assert point == 1.0 and low == 1.0 and high == 1.0
    curves = np.stack([np.linspace(0, 1, 20) + rng.normal(0, 0.05, 20) for _ in range(5)])  # (runs, points)
    estimate, low, high = stats.curve_band(curves, stats.mean, reps=200)
    assert estimate.shape == low.shape == high.shape == (20,)
    assert np.all(low <= estimate + 1e-12) and np.all(estimate <= high + 1e-12)
    np.testing.assert_allclose(estimate, curves.mean(0))
