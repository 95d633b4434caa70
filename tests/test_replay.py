import numpy as np
import torch

from rllab.replay import ReplayBuffer


def test_ring_buffer_wraps_and_samples():
    buf = ReplayBuffer(3, (2,), np.float32)
    for i in range(5):
        buf.add(np.full((1, 2), i), [i % 2], [float(i)], np.full((1, 2), i + 1), [i == 4])
    assert len(buf) == 3 and buf.pos == 2
    assert sorted(buf.reward.tolist()) == [2.0, 3.0, 4.0]  # the oldest two were overwritten
    obs, action, reward, next_obs, terminated = buf.sample(64, np.random.default_rng(0), torch.device("cpu"))
    assert obs.shape == (64, 2) and action.dtype == torch.int64 and reward.shape == (64,)
    assert torch.equal(next_obs, obs + 1)
    assert torch.equal(terminated, (reward == 4).float())


def test_uint8_images_stay_uint8():
    buf = ReplayBuffer(4, (4, 84, 84), np.uint8)
    buf.add(np.ones((1, 4, 84, 84), np.uint8), [1], [1.0], np.ones((1, 4, 84, 84), np.uint8), [False])
    assert buf.obs.dtype == np.uint8
    assert buf.sample(2, np.random.default_rng(0), torch.device("cpu"))[0].dtype == torch.uint8


def test_state_dict_round_trip():
    buf = ReplayBuffer(10, (3,), np.float32)
    rng = np.random.default_rng(1)
    for i in range(7):
        buf.add(rng.normal(size=(1, 3)), [i % 3], [1.0], rng.normal(size=(1, 3)), [False])
    copy = ReplayBuffer(10, (3,), np.float32)
    copy.load_state_dict(buf.state_dict())
    assert (copy.pos, copy.size) == (7, 7)
    assert np.array_equal(copy.obs, buf.obs) and np.array_equal(copy.next_obs, buf.next_obs)


def test_a_batch_wraps_around_the_ring_in_order():
    buf = ReplayBuffer(4, (1,), np.float32)
    buf.add(np.zeros((3, 1)), [0, 0, 0], [0.0, 1.0, 2.0], np.zeros((3, 1)), [False] * 3)
    buf.add(np.zeros((3, 1)), [0, 0, 0], [3.0, 4.0, 5.0], np.zeros((3, 1)), [False, False, True])
    assert (buf.pos, len(buf)) == (2, 4)
    assert buf.reward.tolist() == [4.0, 5.0, 2.0, 3.0]  # 0 and 1, the oldest, were overwritten by 4 and 5
    assert buf.terminated.tolist() == [0.0, 1.0, 0.0, 0.0]
