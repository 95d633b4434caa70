"""What every RL loop keeps beside its algorithm: when the periodic events fall due, and the recent episodes."""

import pytest

from rllab.evaluate import Due, Episodes


def test_due_fires_at_the_first_step_past_each_multiple():
    due = Due(0, log=100, never=0)
    fired = [step for step in range(64, 500, 64) if due("log", step)]  # updates of 64 steps each
    assert fired == [128, 256, 320, 448]  # the first step at or past 100, 200, 300, 400
    assert not any(due("never", step) for step in range(0, 1000, 7))
    resumed = Due(200, log=100)  # after a resume at step 200, the next is 300
    assert not resumed("log", 299) and resumed("log", 300)


def test_episodes_keep_the_last_hundred_and_restore():
    episodes = Episodes()
    assert episodes.scalars() == {}
    for i in range(150):
        episodes.add(float(i), i + 1)
    assert episodes.scalars() == {"rollout/ep_rew_mean": pytest.approx(99.5), "rollout/ep_len_mean": 100.5}
    again = Episodes()
    again.load_state_dict(episodes.state_dict())
    assert again.scalars() == episodes.scalars() and len(again.returns) == 100
