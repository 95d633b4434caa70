"""Returns, n-step targets and GAE against hand-computed values, with terminated and truncated ends."""

import numpy as np
import pytest

from rllab.returns import discounted_returns, gae, nstep_targets

# One env, 4 steps, γ = 0.5: episode A is steps 0-1, *truncated* at 1 (bootstraps from V = 8);
# episode B is step 2, *terminated* (never bootstraps); episode C starts at step 3 and is cut by the
# rollout's end (bootstraps from next_values[3] = 4).
R = np.array([[1.0], [2.0], [3.0], [4.0]])
TERM = np.array([[0.0], [0.0], [1.0], [0.0]])
DONE = np.array([[False], [True], [True], [False]])
V = np.array([[0.5], [1.0], [1.5], [2.0]])  # V(s_t)
NEXT_V = np.array([[1.0], [8.0], [99.0], [4.0]])  # V(s_{t+1}); 99 must never be used (terminated)
G = 0.5


def test_discounted_returns_by_hand():
    assert discounted_returns(R, TERM, DONE, G).ravel().tolist() == [1 + 0.5 * 2, 2, 3, 4]
    with_critic = discounted_returns(R, TERM, DONE, G, NEXT_V).ravel().tolist()
    # step 1 truncated: 2 + 0.5·8 = 6; step 0: 1 + 0.5·6 = 4; step 2 terminated: 3; step 3 cut: 4 + 0.5·4 = 6
    assert with_critic == [4.0, 6.0, 3.0, 6.0]


def test_gae_by_hand():
    lam = 0.5
    delta = np.array([1 + 0.5 * 1.0 - 0.5, 2 + 0.5 * 8 - 1.0, 3 - 1.5, 4 + 0.5 * 4 - 2.0])
    expected = [delta[0] + 0.25 * delta[1], delta[1], delta[2], delta[3]]
    assert gae(R, V, NEXT_V, TERM, DONE, G, lam).ravel() == pytest.approx(expected)


def test_gae_lambda_one_is_monte_carlo_and_lambda_zero_is_td0():
    rng = np.random.default_rng(0)
    T, N = 50, 3
    reward, v = rng.normal(size=(T, N)), rng.normal(size=(T + 1, N))
    terminated = (rng.random((T, N)) < 0.1).astype(float)
    done = terminated.astype(bool) | (rng.random((T, N)) < 0.1)
    # inside an episode V(s_{t+1}) is the next row's V(s_t); where it stops, the final observation's value
    values, next_values = v[:-1], np.where(done, rng.normal(size=(T, N)), v[1:])
    mc = discounted_returns(reward, terminated, done, 0.9, next_values)
    assert gae(reward, values, next_values, terminated, done, 0.9, 1.0) + values == pytest.approx(mc)
    td0 = reward + 0.9 * (1 - terminated) * next_values
    assert gae(reward, values, next_values, terminated, done, 0.9, 0.0) + values == pytest.approx(td0)
    assert nstep_targets(reward, next_values, terminated, done, 0.9, 1) == pytest.approx(td0)
    assert nstep_targets(reward, next_values, terminated, done, 0.9, T) == pytest.approx(mc)


def test_nstep_by_hand():
    two = nstep_targets(R, NEXT_V, TERM, DONE, G, 2).ravel().tolist()
    # step 0: 1 + 0.5·2 + 0.25·8 (truncated at 1 → bootstrap) = 4; step 1: 2 + 0.5·8 = 6;
    # step 2: terminated → 3; step 3: 4 + 0.5·4 = 6
    assert two == [4.0, 6.0, 3.0, 6.0]
    R2 = np.array([[1.0], [1.0], [1.0], [1.0]])
    zeros, falses = np.zeros((4, 1)), np.zeros((4, 1), dtype=bool)
    nv = np.array([[10.0], [20.0], [30.0], [40.0]])
    # no episode ends: step 0 with n = 2 is 1 + 0.5·1 + 0.25·V(s_2) = 1.5 + 0.25·20
    assert nstep_targets(R2, nv, zeros, falses, G, 2)[0, 0] == pytest.approx(1.5 + 0.25 * 20)
