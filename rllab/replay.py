"""A uniform experience-replay ring buffer in NumPy (Lin 1992; Mnih et al. 2015).

It stores `terminated`, not `done`: a transition cut by a time limit still bootstraps.
"""

from __future__ import annotations

import numpy as np
import torch

FIELDS = ("obs", "next_obs", "action", "reward", "terminated")


class ReplayBuffer:
    def __init__(self, capacity: int, obs_shape: tuple[int, ...], obs_dtype: np.dtype):
        self.capacity = capacity
        self.obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.next_obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.action = np.zeros(capacity, dtype=np.int64)
        self.reward = np.zeros(capacity, dtype=np.float32)
        self.terminated = np.zeros(capacity, dtype=np.float32)
        self.pos = 0  # next slot to write
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, obs, action, reward, next_obs, terminated) -> None:
        """Store a batch of n transitions, all (n, ...), overwriting the oldest once full."""
        idx = (self.pos + np.arange(len(action))) % self.capacity
        self.obs[idx] = obs
        self.next_obs[idx] = next_obs  # the true final observation at an episode's end
        self.action[idx] = action
        self.reward[idx] = reward
        self.terminated[idx] = terminated
        self.pos = int(idx[-1] + 1) % self.capacity
        self.size = min(self.size + len(idx), self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator, device: torch.device) -> tuple[torch.Tensor, ...]:
        """A uniform batch (obs, action, reward, next_obs, terminated) as tensors on `device`."""
        idx = rng.integers(0, self.size, size=batch_size)
        return tuple(
            torch.from_numpy(a[idx]).to(device)
            for a in (self.obs, self.action, self.reward, self.next_obs, self.terminated)
        )

    def state_dict(self) -> dict:
        """The filled part as tensors (for a weights_only checkpoint) plus the write position."""
        n = self.size
        arrays = {k: torch.from_numpy(getattr(self, k)[:n]) for k in FIELDS}
        return {**arrays, "pos": self.pos, "size": n}

    def load_state_dict(self, state: dict) -> None:
        n = state["size"]
        for k in FIELDS:
            getattr(self, k)[:n] = state[k].numpy()
        self.pos, self.size = state["pos"], n
