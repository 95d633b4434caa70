"""Returns, n-step targets and GAE as pure NumPy functions over rollouts shaped (T, N), and how well a critic
predicts them.

Conventions (Gymnasium ≥ 1.0): `terminated[t]` — the episode really ended at step t, so nothing is
bootstrapped; `done[t] = terminated[t] | truncated[t]` — the episode stops at t (a time limit, or the
end of the data), so later rewards never leak back across it. `next_values[t] = V(s_{t+1})` is the
value of the *true* next observation, the final one when the episode stopped at t; it is what a
truncated episode bootstraps from. The last row of a rollout is treated as done (its episode is cut
there and bootstraps from `next_values[T-1]`).
"""

from __future__ import annotations

import numpy as np


def discounted_returns(reward: np.ndarray, terminated: np.ndarray, done: np.ndarray, gamma: float,
                       next_values: np.ndarray | None = None) -> np.ndarray:
    """Reward-to-go G_t = r_t + γ G_{t+1} within an episode (Monte Carlo returns), all (T, N).

    Where an episode stops without terminating (truncation, or the rollout's end) G bootstraps from
    `next_values`; without a critic (`next_values=None`) it stops there.
    """
    T = len(reward)
    boot = np.zeros_like(reward) if next_values is None else next_values * (1.0 - terminated)
    out = np.zeros_like(reward)
    following = boot[-1]
    for t in reversed(range(T)):
        cut = done[t] if t < T - 1 else np.ones_like(done[t])
        following = np.where(cut, boot[t], following)
        out[t] = reward[t] + gamma * following
        following = out[t]
    return out


def gae(reward: np.ndarray, values: np.ndarray, next_values: np.ndarray, terminated: np.ndarray,
        done: np.ndarray, gamma: float, lam: float) -> np.ndarray:
    """Generalised advantage estimation (Schulman et al. 2016), all (T, N):

        δ_t = r_t + γ (1 − terminated_t) V(s_{t+1}) − V(s_t)
        A_t = δ_t + γ λ (1 − done_t) A_{t+1}

    λ = 1 gives Monte Carlo advantages (A + V = discounted return), λ = 0 gives TD(0) (A = δ).
    """
    delta = reward + gamma * (1.0 - terminated) * next_values - values
    adv = np.zeros_like(reward)
    following = np.zeros_like(reward[0])
    for t in reversed(range(len(reward))):
        following = delta[t] + gamma * lam * (1.0 - done[t]) * following
        adv[t] = following
    return adv


def nstep_targets(reward: np.ndarray, next_values: np.ndarray, terminated: np.ndarray, done: np.ndarray,
                  gamma: float, n: int) -> np.ndarray:
    """n-step TD targets, all (T, N):

        G_t^(n) = r_t + γ r_{t+1} + … + γ^{m−1} r_{t+m−1} + γ^m (1 − terminated_{t+m−1}) V(s_{t+m})

    with m = n, or fewer where the episode stops (or the rollout ends) first. n = 1 is TD(0).
    """
    T = len(reward)
    out = np.zeros_like(reward)
    for t in range(T):
        g = np.zeros_like(reward[0])
        discount = np.ones_like(reward[0])
        open_ = np.ones_like(reward[0], dtype=bool)  # still inside the episode that step t belongs to
        for k in range(t, min(t + n, T)):
            g = g + np.where(open_, discount * reward[k], 0.0)
            last = (k == min(t + n, T) - 1) | done[k]
            boot = discount * gamma * (1.0 - terminated[k]) * next_values[k]
            g = g + np.where(open_ & last, boot, 0.0)
            open_ = open_ & ~last
            discount = discount * gamma
        out[t] = g
    return out


def explained_variance(pred: np.ndarray, target: np.ndarray) -> float:
    """1 − Var[target − pred] / Var[target]: 1 is a perfect critic, 0 no better than a constant."""
    var = np.var(target)
    return float("nan") if var == 0 else float(1 - np.var(target - pred) / var)
