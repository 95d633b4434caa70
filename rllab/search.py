"""The hyper-parameters `rllab tune` searches by default, per algorithm, written as a recipe's [search] table is.

After RL Zoo's `hyperparams_opt.py` (the ranges its users tune PPO, A2C and DQN over), trimmed to the settings these
implementations have. A recipe's own [search] table replaces its algorithm's space:

    [search]
    learning_rate = {low = 1e-4, high = 3e-3, log = true}
    gamma = [0.98, 0.99, 0.995]
    net_arch = [[64, 64], [256, 256]]
"""

from __future__ import annotations

from typing import Any

LEARNING_RATE = {"low": 1e-5, "high": 3e-3, "log": True}
GAMMA = [0.95, 0.98, 0.99, 0.995, 0.999]
NET_ARCH = [[64, 64], [256, 256]]
ACTIVATION = ["tanh", "relu"]

SPACES: dict[str, dict[str, Any]] = {
    "ppo": {
        "learning_rate": LEARNING_RATE,
        "gamma": GAMMA,
        "gae_lambda": [0.8, 0.9, 0.92, 0.95, 0.98, 1.0],
        "rollout_steps": [64, 128, 256, 512],
        "minibatches": [4, 8, 16, 32],
        "epochs": [3, 5, 10, 20],
        "clip_range": [0.1, 0.2, 0.3],
        "ent_coef": {"low": 1e-8, "high": 0.1, "log": True},
        "vf_coef": {"low": 0.2, "high": 1.0},
        "max_grad_norm": [0.3, 0.5, 1.0, 2.0, 5.0],
        "net_arch": NET_ARCH,
        "activation": ACTIVATION,
    },
    "ac": {
        "learning_rate": LEARNING_RATE,
        "gamma": GAMMA,
        "critic": ["td", "gae"],
        "n_steps": [1, 3, 5],
        "gae_lambda": [0.8, 0.9, 0.95, 1.0],
        "rollout_steps": [5, 8, 16, 32, 64],
        "ent_coef": {"low": 1e-8, "high": 0.1, "log": True},
        "vf_coef": {"low": 0.2, "high": 1.0},
        "max_grad_norm": [0.3, 0.5, 1.0, 2.0, 5.0],
        "optimizer": ["adam", "rmsprop"],
        "net_arch": NET_ARCH,
        "activation": ACTIVATION,
    },
    "dqn": {
        "learning_rate": LEARNING_RATE,
        "gamma": GAMMA,
        "batch_size": [32, 64, 128, 256],
        "buffer_size": [10_000, 50_000, 100_000],
        "learning_starts": [0, 1_000, 5_000],
        "train_freq": [1, 4, 8, 16],
        "target_update_interval": [1, 250, 1_000, 5_000],
        "exploration_fraction": {"low": 0.0, "high": 0.5},
        "exploration_final_eps": {"low": 0.0, "high": 0.2},
        "net_arch": [[64], [64, 64], [256, 256]],
    },
    "reinforce": {
        "learning_rate": LEARNING_RATE,
        "gamma": GAMMA,
        "num_envs": [1, 2, 4, 8],
        "ent_coef": {"low": 1e-8, "high": 0.1, "log": True},
        "net_arch": NET_ARCH,
        "activation": ACTIVATION,
    },
}
