"""The training environments (`rllab.vector`), in this process, in worker processes and Gymnasium's native
vectorised CartPole: true final observations at episode ends, a rebuild from a checkpoint that continues exactly,
the native one's dynamics equal to the single env's, and DQN collecting from several of them with every transition
stored as it happened."""

import numpy as np
import pytest
import torch

from rllab.cli import main
from rllab.dqn import due_count
from rllab.envs import EnvSpec
from rllab.evaluate import Episodes
from rllab.vector import NativeEnvs, train_envs

THETA = 12 * 2 * np.pi / 360  # CartPole terminates past this angle (and past |x| > 2.4)


def _random_actions(seed: int, steps: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(2, size=(steps, n))


@pytest.mark.parametrize("kind", ["sync", "async", "native"])
def test_a_rebuild_from_a_checkpoint_continues_exactly(kind):
    rng, episodes = np.random.default_rng(0), Episodes()
    envs = train_envs(EnvSpec("CartPole-v1"), 3, kind, rng)
    try:
        for action in _random_actions(1, 50, 3):  # several episodes end on the way
            envs.step(action, episodes)
        assert len(episodes.returns) >= 3
        state, rng_state = envs.state_dict(), rng.bit_generator.state
        later = [envs.step(action, episodes) for action in _random_actions(2, 40, 3)]
    finally:
        envs.close()
    rng = np.random.default_rng(123)
    again = train_envs(EnvSpec("CartPole-v1"), 3, kind, rng)
    try:
        again.load_state_dict(state)
        rng.bit_generator.state = rng_state
        for action, expected in zip(_random_actions(2, 40, 3), later):
            for got, want in zip(again.step(action, Episodes()), expected):
                assert np.array_equal(got, want)
    finally:
        again.close()


@pytest.mark.parametrize("kind", ["sync", "native"])
def test_an_ended_episode_returns_its_true_final_observation_then_resets(kind):
    envs = train_envs(EnvSpec("CartPole-v1"), 2, kind, np.random.default_rng(0))
    episodes = Episodes()
    done, steps = np.zeros(2, bool), 0
    while not done.any():  # always push right: the pole falls within tens of steps
        next_obs, reward, terminated, done = envs.step(np.array([1, 1]), episodes)
        steps += 1
    i = int(np.flatnonzero(done)[0])
    assert terminated[i] and (abs(next_obs[i, 0]) > 2.4 or abs(next_obs[i, 2]) > THETA)  # out of bounds
    assert np.all(np.abs(envs.obs[i]) <= 0.05)  # a fresh reset (CartPole starts within ±0.05)
    assert list(episodes.returns) == list(episodes.lengths) == [steps] * int(done.sum())  # reward 1 a step
    envs.close()


def test_native_cartpole_steps_as_the_single_environment_does():
    import gymnasium as gym

    envs = NativeEnvs(EnvSpec("CartPole-v1"), 4, np.random.default_rng(0))
    singles = [gym.make("CartPole-v1").unwrapped for _ in range(4)]
    episodes, ended = Episodes(), 0
    for env in singles:
        env.reset()
    for action in _random_actions(3, 300, 4):
        for env, native_state in zip(singles, envs.envs.state.T):  # put each where its native sub-env is
            env.state, env.steps_beyond_terminated = native_state.copy(), None
        next_obs, reward, terminated, done = envs.step(action, episodes)
        for i, env in enumerate(singles):
            obs, r, term, trunc, _ = env.step(int(action[i]))
            assert np.array_equal(obs, next_obs[i]) and r == reward[i] and term == terminated[i]
        ended += int(done.sum())
    assert ended >= 10 and len(episodes.returns) == min(ended, 100)
    envs.close()


def test_due_count_keeps_updates_per_transition():
    assert [due_count(s, 1, 4) for s in range(1, 9)] == [0, 0, 0, 1, 0, 0, 0, 1]
    assert [due_count(s, 3, 4) for s in (3, 6, 9, 12)] == [0, 1, 1, 1]  # multiples 4, 8, 12: one each
    assert due_count(8, 8, 2) == 4 and due_count(16, 8, 2) == 4
    assert sum(due_count(s, 5, 7) for s in range(5, 701, 5)) == 700 // 7


DQN = ["--steps", "600", "learning_starts=100", "eval_freq=0", "eval_episodes=1", "log_freq=100",
       "buffer_size=1000", "batch_size=16", "net_arch=[16]", "video_freq=0", "num_envs=3"]


def test_vectorised_dqn_stores_every_transition_as_it_happened(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--run-dir", str(run), *DQN]) == 0
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    replay = {k: state["replay"][k].numpy() for k in ("obs", "next_obs", "terminated")}
    assert state["replay"]["size"] == 600 and state["step"] == 600
    for i in range(3):  # sub-env i wrote rows i, i + 3, i + 6, ...: one unbroken trajectory
        obs, next_obs, terminated = (replay[k][i::3] for k in ("obs", "next_obs", "terminated"))
        going_on = terminated[:-1] == 0
        assert np.array_equal(next_obs[:-1][going_on], obs[1:][going_on])
        ended = terminated[:-1] == 1
        assert ended.sum() >= 5
        assert np.all((np.abs(next_obs[:-1][ended][:, 0]) > 2.4) | (np.abs(next_obs[:-1][ended][:, 2]) > THETA))
        assert np.all(np.abs(obs[1:][ended]) <= 0.05)  # the next episode's first observation


def test_vectorised_dqn_is_the_same_run_in_worker_processes(tmp_path):
    for kind in ("sync", "async"):
        assert main(["train", "--run-dir", str(tmp_path / kind), *DQN, f"vec_env={kind}"]) == 0
    sync, asyn = (torch.load(tmp_path / k / "checkpoints" / "last.pt", weights_only=True)["learner"]["q"]
                  for k in ("sync", "async"))
    assert all(torch.equal(t, asyn[k]) for k, t in sync.items())
