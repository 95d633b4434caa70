"""The algorithms' configs: the settings every RL algorithm shares, documented once (the defaults here are the
policy-gradient methods'), then each algorithm's own fields and defaults. They live here, below the training loops,
so that the CLI reads them (--help, list, a bad key) without importing torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from labcore.config import check


@dataclass
class RLConfig:
    env: str = "CartPole-v1"
    """Gymnasium environment id, or module:EnvId (importing module registers EnvId)."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments for gym.make, a TOML table: env_kwargs={n=12}."""
    env_wrappers: list[Any] = field(default_factory=list)
    """Wrappers applied in order to the env as made (after the Atari preprocessing): "module:Class" or
    {"module:Class" = {kwargs}}."""
    env_packages: list[str] = field(default_factory=list)
    """Modules imported before the env is made (plugins that register ids on import); --env-package."""
    num_envs: int = 1
    """Environments stepped together (REINFORCE: complete episodes per update); under torchrun, per process."""
    steps: int = 50_000
    """Total environment steps to train for (under torchrun: of all processes together)."""
    seed: int = 0
    """Seed for torch, NumPy and the environments; the same seed gives the same run on CPU."""
    device: str = "auto"
    """Torch device: auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps; under torchrun each rank takes
    cuda:LOCAL_RANK."""
    backend: Literal["auto", "gloo", "nccl"] = "auto"
    """torch.distributed backend under torchrun (ac, ppo): auto (NCCL on CUDA, else gloo), gloo or nccl."""
    threads: int = 1
    """Torch CPU threads; 1 is fastest for small networks, 0 keeps torch's default."""
    learning_rate: float = 1e-3
    """Step size."""
    lr_schedule: Literal["constant", "linear"] = "constant"
    """constant, or linear decay to 0 over training (the final weights settle instead of oscillating)."""
    optimizer: str = "adam"
    """sgd, momentum, adagrad, rmsprop, adam or adamw."""
    max_grad_norm: float = 0.5
    """Clip the global gradient norm to this (0 = off)."""
    gamma: float = 0.99
    """Discount factor."""
    net_arch: list[int] = field(default_factory=lambda: [64, 64])
    """Hidden layer widths of the networks' MLPs (DQN on images: of the head after the Nature-DQN conv torso)."""
    activation: str = "tanh"
    """Hidden activation: relu, leaky_relu, gelu, tanh, sigmoid, silu or elu."""
    eval_freq: int = 10_000
    """Evaluate the greedy policy every this many steps (0 = only at the end)."""
    eval_episodes: int = 10
    """Episodes per evaluation, on separately seeded environments."""
    log_freq: int = 1_000
    """Write TensorBoard scalars every this many steps."""
    checkpoint_freq: int = 10_000
    """Save checkpoints/last.pt every this many steps (it is also saved at the end and on Ctrl-C)."""
    video_freq: int = 0
    """Log one greedy episode as an animated GIF (TensorBoard image eval/episode) every this many steps and at the
    end (0 = off); needs an environment that renders rgb_array frames."""

    def __post_init__(self):
        check(self.num_envs > 0, "num_envs", f"must be > 0, not {self.num_envs}")
        check(self.steps > 0, "steps", f"must be a positive number of environment steps, not {self.steps}")
        check(self.threads >= 0, "threads", f"must be >= 0, not {self.threads}")
        check(self.learning_rate > 0, "learning_rate", f"must be > 0, not {self.learning_rate}")
        check(self.max_grad_norm >= 0, "max_grad_norm", f"must be >= 0, not {self.max_grad_norm}")
        check(0 <= self.gamma <= 1, "gamma", f"must be in [0, 1], not {self.gamma}")
        check(all(w > 0 for w in self.net_arch), "net_arch", "widths must be positive")
        check(self.eval_freq >= 0, "eval_freq", f"must be >= 0, not {self.eval_freq}")
        check(self.eval_episodes > 0, "eval_episodes", f"must be > 0, not {self.eval_episodes}")
        check(self.log_freq > 0, "log_freq", f"must be > 0, not {self.log_freq}")
        check(self.checkpoint_freq >= 0, "checkpoint_freq", f"must be >= 0, not {self.checkpoint_freq}")
        check(self.video_freq >= 0, "video_freq", f"must be >= 0, not {self.video_freq}")


@dataclass
class PolicyGradientConfig(RLConfig):
    """The settings REINFORCE and the actor-critics share: the policy and its loss weights."""

    num_envs: int = 8
    ent_coef: float = 0.0
    """Entropy bonus weight."""
    vf_coef: float = 0.5
    """Value (baseline) loss weight."""
    normalize_advantage: bool = True
    """Standardise advantages per batch (per minibatch for the actor-critics)."""
    normalize_obs: bool = False
    """Running mean/std observation normalisation (stored in the checkpoint, used by eval/enjoy)."""
    shared_trunk: bool = False
    """One trunk for policy and value (else two separate MLPs)."""
    log_std_init: float = 0.0
    """Initial log standard deviation of the Gaussian policy (Box actions)."""

    def __post_init__(self):
        super().__post_init__()
        for key in ("ent_coef", "vf_coef"):
            check(getattr(self, key) >= 0, key, "must be >= 0")


@dataclass
class DQNConfig(RLConfig):
    learning_rate: float = 6.3e-4
    max_grad_norm: float = 10.0
    net_arch: list[int] = field(default_factory=lambda: [256, 256])
    activation: str = "relu"
    buffer_size: int = 50_000
    """Replay capacity in transitions."""
    batch_size: int = 128
    """Transitions per gradient step."""
    learning_starts: int = 1_000
    """Environment steps of random-ish play before the first gradient step."""
    train_freq: int = 4
    """Do `gradient_steps` updates every this many environment steps."""
    gradient_steps: int = -1
    """Updates per training round; -1 means one per environment step (= train_freq)."""
    target_update_interval: int = 250
    """Update the target network every this many environment steps."""
    tau: float = 1.0
    """Target update rate: 1 is a hard copy, < 1 Polyak averaging."""
    exploration_fraction: float = 0.12
    """Fraction of training over which ε decays linearly."""
    exploration_initial_eps: float = 1.0
    """ε at the start."""
    exploration_final_eps: float = 0.1
    """ε after the decay."""
    loss: Literal["huber", "mse"] = "huber"
    """TD loss: huber (smooth L1) or mse."""
    double_q: bool = True
    """Pick the next action with the online network, value it with the target network."""
    dueling: bool = False
    """Dueling head: Q = V + A − mean(A)."""
    save_replay: bool = True
    """Save the replay buffer with each checkpoint, so a resumed run is exact (large for Atari)."""
    vec_env: Literal["sync", "async", "native"] = "sync"
    """Step the environments in this process (sync), in one worker process each (async), or all in one NumPy step
    by Gymnasium's own vectorised CartPole (native; CartPole-v0/v1 only)."""

    def __post_init__(self):
        super().__post_init__()
        check(self.buffer_size > 0, "buffer_size", f"must be > 0, not {self.buffer_size}")
        check(self.batch_size > 0, "batch_size", f"must be > 0, not {self.batch_size}")
        check(self.train_freq > 0, "train_freq", f"must be > 0, not {self.train_freq}")
        check(self.gradient_steps == -1 or self.gradient_steps > 0, "gradient_steps", "must be > 0 or -1")
        check(self.target_update_interval > 0, "target_update_interval", "must be > 0")
        check(0 < self.tau <= 1, "tau", f"must be in (0, 1], not {self.tau}")
        check(0 < self.exploration_fraction <= 1, "exploration_fraction", "must be in (0, 1]")
        for key in ("exploration_initial_eps", "exploration_final_eps"):
            check(0 <= getattr(self, key) <= 1, key, "must be in [0, 1]")


@dataclass
class ReinforceConfig(PolicyGradientConfig):
    baseline: bool = True
    """Subtract a learned V(s) from the returns."""
    vec_env: Literal["sync", "native"] = "sync"
    """sync: num_envs environments in this process, only the unfinished ones stepped; native: Gymnasium's own
    vectorised CartPole, all stepped in one NumPy call (CartPole-v0/v1 only)."""


@dataclass
class ACConfig(PolicyGradientConfig):
    rollout_steps: int = 16
    """Steps per environment between updates (the batch is num_envs × rollout_steps)."""
    critic: Literal["gae", "mc", "td"] = "td"
    """Critic targets: mc (discounted returns), td (n-step bootstrapped), gae (GAE(λ))."""
    n_steps: int = 1
    """n of the n-step TD targets (critic=td); 1 is TD(0)."""
    gae_lambda: float = 0.95
    """λ of GAE (critic=gae): 1 gives Monte Carlo, 0 gives TD(0)."""
    epochs: int = 1
    """Passes over each rollout."""
    minibatches: int = 1
    """Minibatches per epoch."""
    clip_range: float = 0.0
    """PPO ratio clipping ε; 0 turns clipping off."""
    clip_range_vf: float = 0.0
    """Clip the value change per update to this (0 = off)."""
    target_kl: float = 0.0
    """Stop a rollout's epochs early when the approximate KL passes this (0 = never)."""
    vec_env: Literal["sync", "async", "native"] = "sync"
    """Step the environments in this process (sync), in one worker process each (async: pays only when a step
    is expensive), or all in one NumPy step by Gymnasium's own vectorised CartPole (native; CartPole-v0/v1 only;
    docs/performance.md)."""

    def __post_init__(self):
        super().__post_init__()
        for key in ("rollout_steps", "n_steps", "epochs", "minibatches"):
            check(getattr(self, key) > 0, key, f"must be > 0, not {getattr(self, key)}")
        check(0 <= self.gae_lambda <= 1, "gae_lambda", "must be in [0, 1]")
        for key in ("clip_range", "clip_range_vf", "target_kl"):
            check(getattr(self, key) >= 0, key, "must be >= 0")
        check((self.num_envs * self.rollout_steps) % self.minibatches == 0, "minibatches",
              "must divide num_envs × rollout_steps")


@dataclass
class PPOConfig(ACConfig):
    rollout_steps: int = 128
    learning_rate: float = 3e-4
    critic: Literal["gae", "mc", "td"] = "gae"
    epochs: int = 10
    minibatches: int = 4
    clip_range: float = 0.2
