"""The hyper-parameters `genlab tune` searches by default, per model, written as a recipe's [search] table is
(a recipe's own [search] table replaces its model's space): the step size and batch of every model, and each
model's main weight or width."""

from __future__ import annotations

from typing import Any

LEARNING_RATE = {"low": 1e-4, "high": 3e-3, "log": True}
BATCH_SIZE = [32, 64, 128, 256]
GAN = {"learning_rate": {"low": 5e-5, "high": 1e-3, "log": True}, "batch_size": BATCH_SIZE,
       "d_learning_rate": {"low": 5e-5, "high": 1e-3, "log": True}, "d_steps": [1, 2], "ema": [0.99, 0.999]}

SPACES: dict[str, dict[str, Any]] = {
    "vae": {"learning_rate": LEARNING_RATE, "batch_size": BATCH_SIZE, "beta": {"low": 1.0, "high": 16.0, "log": True},
            "latent_dim": [6, 8, 10, 16]},
    "ae": {"learning_rate": LEARNING_RATE, "batch_size": BATCH_SIZE, "latent_dim": [4, 6, 8, 10, 16]},
    "gan": GAN,
    "infogan": {**GAN, "info_weight": {"low": 0.1, "high": 10.0, "log": True}},
    "vae-gan": {**GAN, "recon_weight": {"low": 0.003, "high": 0.3, "log": True}},
    "sprite-gan": GAN,
}
