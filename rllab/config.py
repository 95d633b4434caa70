"""The settings every RL algorithm shares; each algorithm's config adds its own fields."""

from __future__ import annotations

from dataclasses import dataclass

from labcore.config import check


@dataclass
class RLConfig:
    env: str = "CartPole-v1"
    """Gymnasium environment id."""
    steps: int = 50_000
    """Total environment steps to train for."""
    seed: int = 0
    """Seed for torch, NumPy and the environments; the same seed gives the same run on CPU."""
    device: str = "auto"
    """Torch device: auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps."""
    threads: int = 1
    """Torch CPU threads; 1 is fastest for small networks, 0 keeps torch's default."""
    eval_freq: int = 10_000
    """Evaluate the greedy policy every this many steps (0 = only at the end)."""
    eval_episodes: int = 10
    """Episodes per evaluation, on separately seeded environments."""
    log_freq: int = 1_000
    """Write TensorBoard scalars every this many steps."""
    checkpoint_freq: int = 10_000
    """Save checkpoints/last.pt every this many steps (it is also saved at the end and on Ctrl-C)."""

    def __post_init__(self):
        check(self.steps > 0, "steps", f"must be a positive number of environment steps, not {self.steps}")
        check(self.threads >= 0, "threads", f"must be >= 0, not {self.threads}")
        check(self.eval_freq >= 0, "eval_freq", f"must be >= 0, not {self.eval_freq}")
        check(self.eval_episodes > 0, "eval_episodes", f"must be > 0, not {self.eval_episodes}")
        check(self.log_freq > 0, "log_freq", f"must be > 0, not {self.log_freq}")
        check(self.checkpoint_freq >= 0, "checkpoint_freq", f"must be >= 0, not {self.checkpoint_freq}")
