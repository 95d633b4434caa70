import os

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame renders off-screen

# A tiny DQN budget for CLI tests: seconds, not minutes.
TINY = ["--steps", "600", "learning_starts=100", "eval_freq=300", "eval_episodes=2", "log_freq=100",
        "checkpoint_freq=300", "buffer_size=1000", "batch_size=16", "net_arch=[16,16]", "train_freq=4",
        "gradient_steps=1"]


@pytest.fixture
def tiny():
    return list(TINY)
