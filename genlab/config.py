"""The configs of every genlab model: the settings they all train with (`TrainConfig`), then each model's own
fields on top (beside each, the module of its model; `genlab.models` maps a model's name to both):

    TrainConfig                 data, budget, optimiser, schedule, evaluation, device, logging
    ├── AEConfig                genlab.ae: the likelihood, the code's disentanglement metrics
    │   └── VAEConfig           genlab.vae: the objectives (β-VAE, capacity, β-TCVAE, FactorVAE)
    └── AdversarialConfig       genlab.adversarial: the game every GAN plays (losses, penalties, EMA)
        ├── GANConfig           genlab.gan: DCGAN or spatial-transformer networks
        │   ├── InfoGANConfig   genlab.gan: a categorical code made readable from the image
        │   └── VAEGANConfig    genlab.gan: an encoder trained with G as its decoder
        └── SpriteGANConfig     genlab.sprite_gan: a GAN on the codes of learnt sprites

They live here, below the models and the loop, so that the CLI reads them (--help, list, a bad key) without
importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from labcore.config import check

METRICS = ("mig", "factor_vae", "beta_vae", "sap", "dci")  # the disentanglement metrics (`genlab.metrics`)


def metric_names(spec: str) -> tuple[str, ...]:
    """The metrics of a comma-separated spec ("mig,dci"; "none" or "" for none)."""
    return () if spec.strip() in ("", "none") else tuple(m.strip() for m in spec.split(","))


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


@dataclass
class AEConfig(TrainConfig):
    model: Literal["ae"] = "ae"
    decoder: Literal["bernoulli", "gaussian"] = "bernoulli"
    """Likelihood p(x|z): bernoulli (binary-ish images) or gaussian (unit variance)."""
    metrics: str = "mig"
    """On shapes: disentanglement metrics of the code at the end of training, comma-separated from mig,
    factor_vae, beta_vae, sap, dci (the disentangling recipes list all five: minutes at the published sizes),
    or none."""
    metric_points: int = 10_000
    """Disentanglement metrics: training points (MIG's points, the FactorVAE variance estimate)."""
    metric_test_points: int = 5_000
    """Disentanglement metrics: held-out points of the metrics that fit a classifier."""
    metric_batch: int = 64
    """Disentanglement metrics: images per FactorVAE / β-VAE score point."""

    def __post_init__(self):
        super().__post_init__()
        for key in ("metric_points", "metric_test_points", "metric_batch"):
            check(getattr(self, key) >= 2, key, f"must be >= 2, not {getattr(self, key)}")
        unknown = set(metric_names(self.metrics)) - set(METRICS)
        check(not unknown, "metrics", f"unknown {', '.join(sorted(unknown))}; choose from {', '.join(METRICS)} "
              "or none")


@dataclass
class VAEConfig(AEConfig):
    model: Literal["vae"] = "vae"
    objective: Literal["elbo", "capacity", "beta-tcvae", "factor-vae"] = "elbo"
    """elbo (β·KL), capacity (annealed KL capacity), beta-tcvae or factor-vae."""
    beta: float = 1.0
    """Weight of the KL term (1 = the ELBO; > 1 = β-VAE); of the total correlation for beta-tcvae."""
    alpha: float = 1.0
    """beta-tcvae: weight of the index-code mutual information."""
    gamma: float = 1.0
    """beta-tcvae: weight of the dimension-wise KL."""
    tc_estimator: Literal["mss", "mws"] = "mss"
    """beta-tcvae: minibatch stratified (mss) or weighted (mws) sampling estimate of q(z)."""
    capacity_max: float = 25.0
    """capacity: the KL target's final value, in nats."""
    capacity_steps: int = 100_000
    """capacity: steps over which the KL target rises linearly from 0 to capacity_max."""
    capacity_weight: float = 1000.0
    """capacity: weight of |KL − target|."""
    factor_gamma: float = 35.0
    """factor-vae: weight of the discriminator's total-correlation estimate."""
    disc_hidden: int = 1000
    """factor-vae: width of the discriminator's hidden layers."""
    disc_layers: int = 6
    """factor-vae: hidden layers of the discriminator."""
    disc_learning_rate: float = 1e-4
    """factor-vae: discriminator Adam step size (β = 0.5, 0.9)."""
    eval_k: int = 1000
    """Importance samples of the IWAE bound at the end of training."""
    traversal_limit: float = 2.5
    """Latent traversals sweep each dimension over ±this (prior standard deviations)."""

    def __post_init__(self):
        super().__post_init__()
        for key in ("beta", "alpha", "gamma", "capacity_max", "capacity_weight", "factor_gamma"):
            check(getattr(self, key) >= 0, key, f"must be >= 0, not {getattr(self, key)}")
        for key in ("capacity_steps", "disc_hidden", "disc_layers", "eval_k"):
            check(getattr(self, key) > 0, key, f"must be > 0, not {getattr(self, key)}")
        check(self.disc_learning_rate > 0, "disc_learning_rate", "must be > 0")
        check(self.traversal_limit > 0, "traversal_limit", "must be > 0")


@dataclass
class AdversarialConfig(TrainConfig):
    gan_loss: Literal["ns", "hinge", "wgan-gp"] = "ns"
    """GAN objective: ns (non-saturating), hinge or wgan-gp."""
    r1_weight: float = 0.0
    """γ of the R1 penalty (γ/2)·E‖∇D(x)‖² on real inputs (Mescheder et al. 2018); 0 = off."""
    gp_weight: float = 10.0
    """λ of the WGAN-GP gradient penalty."""
    label_smoothing: float = 0.0
    """One-sided label smoothing for ns: real targets are 1 − this."""
    d_steps: int = 1
    """Discriminator steps per generator step (5 is usual for wgan-gp)."""
    d_learning_rate: float = 0.0
    """Discriminator step size (0 = learning_rate, the generator's)."""
    beta1: float = 0.5
    """Adam β1 of both players (DCGAN: 0.5; hinge + spectral norm: 0)."""
    beta2: float = 0.999
    """Adam β2 of both players."""
    ema: float = 0.999
    """Decay of the moving average of G's weights used for sampling (0 = sample from G itself)."""
    g_channels: int = 64
    """Generator width: channels of its last hidden layer (doubling towards the 4×4 start)."""
    d_channels: int = 64
    """Discriminator width: channels of its first layer (doubling at each halving)."""

    def __post_init__(self):
        super().__post_init__()
        for key in ("g_channels", "d_channels", "d_steps"):
            check(getattr(self, key) > 0, key, f"must be > 0, not {getattr(self, key)}")
        check(0 <= self.ema < 1, "ema", "must be in [0, 1)")
        check(0 <= self.label_smoothing < 1, "label_smoothing", "must be in [0, 1)")
        for key in ("gp_weight", "d_learning_rate", "r1_weight"):
            check(getattr(self, key) >= 0, key, f"must be >= 0, not {getattr(self, key)}")


@dataclass
class GANConfig(AdversarialConfig):
    model: Literal["gan"] = "gan"
    g_arch: Literal["dcgan", "transformer"] = "dcgan"
    """Generator: dcgan (transposed convs straight to the image) or transformer (the DCGAN net draws a glyph
    in its own frame and a spatial transformer places it: rotation, scale, shift read off z)."""
    d_norm: Literal["auto", "batch", "spectral", "none"] = "auto"
    """Discriminator normalisation: batch, spectral (on every layer) or none; auto = batch, but none for wgan-gp
    (batch norm mixes the samples that its per-sample gradient penalty needs apart)."""
    coord_conv: bool = False
    """Append x, y coordinate channels before every conv of G and D (CoordConv)."""
    minibatch_std: bool = False
    """Give D the batch's feature standard deviation before its last layer, so it can see mode collapse."""

    def __post_init__(self):
        super().__post_init__()
        check(not (self.gan_loss == "wgan-gp" and self.d_norm == "batch"), "d_norm",
              "batch is not for wgan-gp (batch norm breaks the per-sample gradient penalty); use none or spectral")


@dataclass
class InfoGANConfig(GANConfig):
    model: Literal["infogan"] = "infogan"
    categories: int = 3
    """Values of the uniform categorical code c beside the Gaussian noise (one-hot, first in z). With
    g_arch = transformer it reaches the glyph only, not the pose: it chooses what is drawn, never where."""
    info_weight: float = 1.0
    """λ of the cross-entropy of Q's guess of c on generated images, added to D's and G's losses (a lower bound
    on the mutual information between c and G(z, c), up to a constant)."""

    def __post_init__(self):
        super().__post_init__()
        check(self.categories >= 2, "categories", f"must be >= 2, not {self.categories}")
        check(self.info_weight > 0, "info_weight", f"must be > 0, not {self.info_weight}")


@dataclass
class VAEGANConfig(GANConfig):
    model: Literal["vae-gan"] = "vae-gan"
    recon_weight: float = 0.03
    """Weight of the negative ELBO of the real batch (encoder q(z|x), G as the Bernoulli decoder) in G's loss."""
    recon_beta: float = 1.0
    """Weight of the KL to N(0, I) in that negative ELBO."""

    def __post_init__(self):
        super().__post_init__()
        check(self.recon_weight > 0, "recon_weight", f"must be > 0, not {self.recon_weight}")
        check(self.recon_beta >= 0, "recon_beta", f"must be >= 0, not {self.recon_beta}")


@dataclass
class SpriteGANConfig(AdversarialConfig):
    model: Literal["sprite-gan"] = "sprite-gan"
    g_channels: int = 64
    """Width of G's MLP on codes (three hidden layers)."""
    d_channels: int = 64
    """Width of D's MLP on codes (three hidden layers)."""
    sprites: int = 6
    """How many sprites (more than the objects in the data is safe: spares share an object)."""
    sprite_steps: int = 3000
    """Steps of stage 1 (learning the sprites by reconstruction) before the GAN on codes. A `--steps` budget
    given without it splits in the recipe's proportions."""
    sprite_angles: int = 128
    """Angles tried when fitting a sprite to an image (the pose's rotation is on this grid)."""
    sprite_learning_rate: float = 3e-2
    """Adam step size of the sprites' pixels: constant, then decaying to 0 over stage 1's last 30 % (its own
    schedule, in place of lr_schedule's)."""
    fourier_features: int = 40
    """Random Fourier features of the code that D sees beside it (Tancik et al. 2020), 0 = none."""
    fourier_scale: float = 3.0
    """Standard deviation of those features' frequencies, per standard deviation of the code."""
    prior_sizes: bool = False
    """Draw each sample's size with its sprite from the real codes' histogram of (sprite, log size), as its sprite
    alone is drawn otherwise (a conditional GAN whose labels come from the data): G then gives the angle and
    position for that sprite at that size, and D judges the whole code. The sizes of shapes lie on a grid that
    G's continuous map blurs; drawn from the data they are exact."""

    stages = ("sprite_steps",)

    def __post_init__(self):
        super().__post_init__()
        for key in ("sprites", "sprite_steps", "sprite_angles", "sprite_learning_rate"):
            check(getattr(self, key) > 0, key, f"must be > 0, not {getattr(self, key)}")
        check(self.fourier_features >= 0, "fourier_features", f"must be >= 0, not {self.fourier_features}")
        check(self.fourier_scale > 0, "fourier_scale", f"must be > 0, not {self.fourier_scale}")
        check(self.sprite_steps < self.steps, "sprite_steps",
              f"must be below steps ({self.steps}): the GAN on codes trains after the sprites")
