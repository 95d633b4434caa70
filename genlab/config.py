"""The settings every genlab model trains with. Each model's config adds its own fields (`genlab.models`):

    TrainConfig                 data, budget, optimiser, schedule, evaluation, device, logging
    ├── AEConfig                genlab.ae: the likelihood, the code's disentanglement metrics
    │   └── VAEConfig           genlab.vae: the objectives (β-VAE, capacity, β-TCVAE, FactorVAE)
    └── AdversarialConfig       genlab.adversarial: the game every GAN plays (losses, penalties, EMA)
        ├── GANConfig           genlab.gan: DCGAN or spatial-transformer networks
        │   ├── InfoGANConfig   genlab.gan: a categorical code made readable from the image
        │   └── VAEGANConfig    genlab.gan: an encoder trained with G as its decoder
        └── SpriteGANConfig     genlab.sprite_gan: a GAN on the codes of learnt sprites
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from labcore.config import check


@dataclass
class TrainConfig:
    stages: ClassVar[tuple[str, ...]] = ()  # fields that are lengths of training stages (see genlab.models)

    model: str = "vae"
    """The model: ae, vae, gan, infogan, vae-gan or sprite-gan (`genlab list`)."""
    data: str = "shapes"
    """shapes[:factor=i,...], mnist:PATH, fashion-mnist:PATH or folder:PATH."""
    resolution: int = 32
    """Image size (shapes: 64, or 32/16 coverage-averaged; folders are resized)."""
    channels: int = 1
    """1 (grey) or 3 (RGB), for folders."""
    binarize: bool = False
    """Threshold every pixel at half its full value: 0/1 images (shapes below 64 px: on where a pixel is at
    least half covered, the images the sample judge compares with)."""
    latent_dim: int = 10
    """Size of the latent z: the code of the autoencoders, the Gaussian noise of the GANs."""
    steps: int = 10_000
    """Optimiser steps."""
    batch_size: int = 64
    """Images per step on each process: under torchrun the effective batch is batch_size × processes."""
    learning_rate: float = 1e-3
    """Step size (the GANs': the generator's)."""
    optimizer: str = "adam"
    """sgd, momentum, adagrad, rmsprop, adam or adamw."""
    lr_schedule: Literal["constant", "linear"] = "constant"
    """constant, or linear decay to 0 over `steps` (every optimiser the model uses, discriminators included)."""
    max_grad_norm: float = 0.0
    """Clip the global gradient norm of each network's step to this (0 = off)."""
    seed: int = 0
    """Seed for torch and NumPy (initialisation, batches, the held-out split)."""
    device: str = "auto"
    """auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps; under torchrun each rank takes cuda:LOCAL_RANK."""
    precision: Literal["fp32", "bf16"] = "fp32"
    """bf16: the forward passes under bfloat16 autocast (CUDA only; weights and optimiser states stay fp32)."""
    backend: Literal["auto", "gloo", "nccl"] = "auto"
    """torch.distributed backend under torchrun: auto (NCCL on CUDA, else gloo), gloo or nccl."""
    threads: int = 0
    """Torch CPU threads (0 = torch's default: all cores). 1 makes a run repeat bit for bit where a multi-threaded
    kernel sums in a varying order (seen with the sprite GAN: two runs at 2 threads part after two steps)."""
    eval_images: int = 500
    """Held-out images, never trained on, for the final evaluation."""
    eval_samples: int = 2000
    """Models that sample, on shapes: generated samples judged for validity, coverage and Fréchet distance."""
    eval_freq: int = 0
    """On shapes: judge samples and the code's MIG (models with one) every this many steps too (0 = only at
    the end)."""
    log_freq: int = 100
    """Write loss scalars every this many steps."""
    image_freq: int = 1000
    """Write the model's image grids (and histograms) every this many steps."""
    checkpoint_freq: int = 2000
    """Save checkpoints/last.pt every this many steps (also at the end and on Ctrl-C)."""

    def __post_init__(self):
        check(self.eval_freq >= 0, "eval_freq", "must be >= 0")
        for key in ("latent_dim", "steps", "batch_size", "eval_images", "eval_samples", "log_freq", "image_freq",
                    "checkpoint_freq"):
            check(getattr(self, key) > 0, key, f"must be > 0, not {getattr(self, key)}")
        check(self.learning_rate > 0, "learning_rate", "must be > 0")
        check(self.max_grad_norm >= 0, "max_grad_norm", "must be >= 0")
        check(self.channels in (1, 3), "channels", "must be 1 or 3")
        check(self.resolution in (16, 32, 64), "resolution", "must be 16, 32 or 64")
