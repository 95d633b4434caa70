"""One training loop for the generative models: the autoencoder, the VAEs and the GAN.

    for step: x ~ data;  AE/VAE: loss, metrics = model.loss(x); optimiser step
                         GAN, FactorVAE: metrics = model.update(x)   (alternating steps, their own two optimisers)
              log / images / checkpoint

A held-out slice of the data (`eval_images`, drawn with the seed) is never trained on; the final
evaluation (VAE: ELBO and IWAE bound; AE: reconstruction error) runs on it and is written to eval.json. A GAN
on `shapes` is judged on its samples instead (`genlab.quality`: validity, factor coverage, Fréchet
distance), at the end and every `eval_freq` steps. An encoder trained on `shapes` is scored for
disentanglement (`genlab.metrics`): MIG every `eval_freq` steps, the config's `metrics` at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from genlab.ae import AE
from genlab.data import Dataset, load
from genlab.gan import GAN, GANConfig
from genlab.images import grid
from genlab.latents import swap, traversal
from genlab.metrics import METRICS
from genlab.scores import disentanglement, has_factors, judge_samples, judgeable, metric_names, nan_for_none
from genlab.sprite_gan import SpriteGAN
from genlab.vae import VAE, FactorVAE, VAEConfig
from labcore.config import check, to_dict
from labcore.errors import TrainingError, UsageError
from labcore.optim import make_optimizer, scheduled_lr
from labcore.optim import step as optimizer_step
from labcore.run import Run, resolve_device, restore_rng, rng_state, seed_everything


@dataclass
class GenConfig(GANConfig, VAEConfig):
    model: Literal["vae", "ae", "gan"] = "vae"
    """vae (variational autoencoder), ae (plain autoencoder) or gan."""
    data: str = "shapes"
    """shapes[:factor=i,...], mnist:PATH, fashion-mnist:PATH or folder:PATH."""
    resolution: int = 32
    """Image size (shapes: 64, or 32/16 coverage-averaged; folders are resized)."""
    channels: int = 1
    """1 (grey) or 3 (RGB), for folders."""
    binarize: bool = False
    """Threshold every pixel at half its full value: 0/1 images (shapes below 64 px: on where a pixel is at
    least half covered, the images the sample judge compares with)."""
    steps: int = 10_000
    """Optimiser steps."""
    batch_size: int = 64
    """Images per step."""
    learning_rate: float = 1e-3
    """Adam step size."""
    optimizer: str = "adam"
    """sgd, momentum, adagrad, rmsprop, adam or adamw."""
    lr_schedule: Literal["constant", "linear"] = "constant"
    """constant, or linear decay to 0 over `steps` (every optimiser the model uses, discriminators included)."""
    max_grad_norm: float = 0.0
    """Clip the global gradient norm to this (0 = off)."""
    seed: int = 0
    """Seed for torch and NumPy (initialisation, batches, the held-out split)."""
    device: str = "auto"
    """auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps."""
    threads: int = 0
    """Torch CPU threads (0 = torch's default: all cores). 1 makes a run repeat bit for bit where a multi-threaded
    kernel sums in a varying order (seen with g_arch = sprites: two runs at 2 threads part after two steps)."""
    eval_images: int = 500
    """Held-out images, never trained on, for the final evaluation."""
    eval_k: int = 1000
    """Importance samples of the IWAE bound at the end of training."""
    eval_samples: int = 2000
    """GAN and VAE on shapes: generated samples judged for validity, coverage and Fréchet distance."""
    eval_freq: int = 0
    """On shapes: judge samples (GAN, VAE) and the code's MIG (VAE, AE) every this many steps too (0 = only at
    the end)."""
    metrics: str = "mig"
    """VAE, AE on shapes: disentanglement metrics at the end of training, comma-separated from mig, factor_vae,
    beta_vae, sap, dci (the disentangling recipes list all five: minutes at the published sizes), or none."""
    metric_points: int = 10_000
    """Disentanglement metrics: training points (MIG's points, the FactorVAE variance estimate)."""
    metric_test_points: int = 5_000
    """Disentanglement metrics: held-out points of the metrics that fit a classifier."""
    metric_batch: int = 64
    """Disentanglement metrics: images per FactorVAE / β-VAE score point."""
    traversal_limit: float = 2.5
    """Latent traversals sweep each dimension over ±this (prior standard deviations)."""
    log_freq: int = 100
    """Write loss scalars every this many steps."""
    image_freq: int = 1000
    """Write sample and reconstruction grids (and latent histograms) every this many steps."""
    checkpoint_freq: int = 2000
    """Save checkpoints/last.pt every this many steps (also at the end and on Ctrl-C)."""

    def __post_init__(self):
        VAEConfig.__post_init__(self)
        GANConfig.__post_init__(self)
        check(self.eval_freq >= 0, "eval_freq", "must be >= 0")
        for key in ("steps", "batch_size", "eval_images", "eval_k", "eval_samples", "log_freq", "image_freq"):
            check(getattr(self, key) > 0, key, f"must be > 0, not {getattr(self, key)}")
        check(self.learning_rate > 0, "learning_rate", "must be > 0")
        check(self.channels in (1, 3), "channels", "must be 1 or 3")
        check(self.resolution in (16, 32, 64), "resolution", "must be 16, 32 or 64")
        for key in ("metric_points", "metric_test_points", "metric_batch"):
            check(getattr(self, key) >= 2, key, f"must be >= 2, not {getattr(self, key)}")
        check(self.traversal_limit > 0, "traversal_limit", "must be > 0")
        check(self.objective == "elbo" or self.model == "vae", "objective", "applies to model = vae only")
        check(self.model != "gan" or self.g_arch != "sprites" or self.sprite_steps < self.steps, "sprite_steps",
              f"must be below steps ({self.steps}): the GAN on codes trains after the sprites")
        unknown = set(metric_names(self.metrics)) - set(METRICS)
        check(not unknown, "metrics", f"unknown {', '.join(sorted(unknown))}; choose from {', '.join(METRICS)} "
              "or none")


def as_float(images: torch.Tensor, data: Dataset) -> torch.Tensor:
    return images.float() / data.max_value


def build_model(cfg: GenConfig, channels: int, resolution: int,
                dataset_size: int = 0) -> VAE | AE | GAN | SpriteGAN:
    """The config's model; `dataset_size` (the training images) is what beta-tcvae's estimator needs."""
    if cfg.model == "vae":
        return (FactorVAE if cfg.objective == "factor-vae" else VAE)(cfg, channels, resolution, dataset_size)
    if cfg.model == "gan" and cfg.g_arch == "sprites":
        return SpriteGAN(cfg, channels, resolution)
    return {"ae": AE, "gan": GAN}[cfg.model](cfg, channels, resolution)


def optimizers(model: torch.nn.Module, optimizer: torch.optim.Optimizer | None) -> list[torch.optim.Optimizer]:
    """Every optimiser that updates `model`: the loop's one, or those the GAN and FactorVAE own."""
    return [optimizer] if optimizer is not None else list(model.optimizers())


def owns_optimizers(model: torch.nn.Module) -> bool:
    """The GAN and the FactorVAE alternate two networks' steps in `model.update(x)`, with their own optimisers."""
    return hasattr(model, "update")


def held_out(n: int, cfg: GenConfig) -> tuple[np.ndarray, np.ndarray]:
    """(train, eval) indices: the eval split depends on the seed only, so `genlab eval` can rebuild it."""
    order = np.random.default_rng(cfg.seed + 1).permutation(n)
    k = min(cfg.eval_images, n // 5)
    return order[k:], order[:k]


def dataset(cfg: GenConfig) -> Dataset:
    """The config's data, as training sees them."""
    return load(cfg.data, resolution=cfg.resolution, channels=cfg.channels, binarize=cfg.binarize)


def train(cfg: GenConfig, run_dir: Path, resume: dict | None = None) -> str:
    data = dataset(cfg)
    device = resolve_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    rng = seed_everything(cfg.seed)
    images = torch.from_numpy(data.images)
    train_idx, eval_idx = held_out(len(images), cfg)
    if cfg.model == "vae" and cfg.objective == "beta-tcvae" and len(train_idx) <= cfg.batch_size:
        raise UsageError(f"beta-tcvae estimates q(z) over a batch drawn from the training images: it needs more of "
                         f"them ({len(train_idx)}) than batch_size ({cfg.batch_size})")
    gan = cfg.model == "gan"
    model = build_model(cfg, images.shape[1], images.shape[-1], len(train_idx)).to(device)
    # the GAN and FactorVAE own their optimisers (.to(device) moves parameters in place, so they stay valid)
    owner = owns_optimizers(model)
    optimizer = None if owner else make_optimizer(cfg.optimizer, model.parameters(), cfg.learning_rate)
    step = 0
    if resume:
        model.load_state_dict(resume["model"])
        model.load_optimizer_state(resume["optimizer"]) if owner else optimizer.load_state_dict(resume["optimizer"])
        step = resume["step"]
        restore_rng(resume["rng"], rng)
    for opt in optimizers(model, optimizer):  # the schedule scales each group's starting step size
        for group in opt.param_groups:
            group.setdefault("initial_lr", group["lr"])

    def checkpoint() -> None:
        run.save({"algo": cfg.model, "config": to_dict(cfg), "step": step, "model": model.state_dict(),
                  "optimizer": model.optimizer_state() if owner else optimizer.state_dict(), "rng": rng_state(rng),
                  "channels": images.shape[1], "resolution": images.shape[-1]})

    run = Run(run_dir, to_dict(cfg), total=cfg.steps, start=step, resume=resume is not None,
              desc=f"{cfg.model} {cfg.data}")
    fixed_gen = torch.Generator().manual_seed(cfg.seed)
    fixed_z = model.noise(64, fixed_gen) if gan else torch.randn(64, cfg.latent_dim, generator=fixed_gen).to(device)
    # the logged reconstructions and D's logits: held-out images, or training ones when the data are too few for any
    fixed_x = as_float(images[(eval_idx if len(eval_idx) else train_idx)[:32]], data).to(device)
    sums: dict[str, float] = {}
    try:
        while step < cfg.steps:
            if run.stop_requested:
                checkpoint()
                return "interrupted"
            if cfg.lr_schedule != "constant":
                factor = scheduled_lr(cfg.lr_schedule, 1.0, step / cfg.steps)
                for opt in optimizers(model, optimizer):
                    for group in opt.param_groups:
                        group["lr"] = group["initial_lr"] * factor
            if owner:  # the batches its alternating steps need (GAN: one per discriminator step; FactorVAE: 2)
                metrics = model.update(as_float(images[rng.choice(train_idx, cfg.batch_size * model.batches_per_step)],
                                                data).to(device))
            else:
                x = as_float(images[rng.choice(train_idx, cfg.batch_size)], data).to(device)
                loss, metrics = model.loss(x, step) if cfg.model == "vae" else model.loss(x)
            if not np.isfinite(metrics["loss/total"]):
                raise TrainingError(f"non-finite loss at step {step}; try a lower learning_rate")
            if not owner:
                optimizer_step(optimizer, loss, model.parameters(), cfg.max_grad_norm)
            step += 1
            for key, value in metrics.items():
                sums[key] = sums.get(key, 0.0) + value
            if step % cfg.log_freq == 0:
                lr = optimizers(model, optimizer)[0].param_groups[0]["lr"]
                run.log(step, {"train/learning_rate": lr, **{k: v / cfg.log_freq for k, v in sums.items()}})
                run.progress(step, loss=sums["loss/total"] / cfg.log_freq)
                sums = {}
            if step % cfg.image_freq == 0 or step == cfg.steps:
                model.eval()
                with torch.no_grad():
                    if gan:
                        run.writer.add_image("samples", grid(model.generate(fixed_z), 8), step)
                        run.writer.add_histogram("d/logits_real", model.critic(fixed_x), step)
                        if isinstance(model, SpriteGAN):  # what stage 1 has learnt, each in its own frame
                            run.writer.add_image("sprites", grid(torch.sigmoid(model.sprites), len(model.sprites)),
                                                 step)
                    else:
                        if cfg.model == "vae":  # the AE has no prior to sample from
                            run.writer.add_image("samples", grid(model.image(model.decode(fixed_z)), 8), step)
                            kl = model.kl_per_dim(fixed_x)
                            run.writer.add_image("traversals", grid(traversal(model, fixed_x[0], kl,
                                                 cfg.traversal_limit), 10), step)
                            pairs = min(8, len(fixed_x) // 2)  # a, b and a with b's most informative dimension
                            if pairs:
                                run.writer.add_image("swap", grid(swap(model, fixed_x[:pairs], fixed_x[pairs:2 * pairs],
                                                     kl.argsort(descending=True)[:1]), pairs), step)
                        run.writer.add_histogram("latent/code", model.code(fixed_x), step)
                    if model.can_reconstruct:  # every VAE, AE and sprite GAN; a GAN only as a VAE-GAN
                        recon = model.reconstruct(fixed_x)
                        run.writer.add_image("reconstructions", grid(torch.cat([fixed_x, recon]), 8), step)
                model.train()
            if cfg.eval_freq and step % cfg.eval_freq == 0 and step < cfg.steps and judgeable(cfg):
                model.eval()
                scores = judge_samples(model, cfg.eval_samples, cfg.seed) if cfg.model != "ae" else {}
                if has_factors(cfg):
                    scores.update(disentanglement(model, data, cfg, ("mig",)))
                model.train()
                run.log(step, {f"eval/{k}": nan_for_none(v) for k, v in scores.items() if not k.startswith("kl_floor")})
            if step % cfg.checkpoint_freq == 0:
                checkpoint()
        model.eval()
        result = {} if gan else model.evaluate(as_float(images[eval_idx], data).to(device), cfg.eval_k)
        train_seconds = round(run.elapsed(), 2)
        if cfg.model != "ae" and judgeable(cfg):  # every generator's samples are judged on shapes
            result.update(judge_samples(model, cfg.eval_samples, cfg.seed))
        if has_factors(cfg) and metric_names(cfg.metrics):
            result.update(disentanglement(model, data, cfg))
        run.log(step, {f"eval/{k}": nan_for_none(v) for k, v in result.items()
                       if k not in ("images", "iwae_k", "samples") and not k.startswith("kl_floor")})
        checkpoint()
        run.write_json("eval.json", {**result, "step": step, "train_seconds": train_seconds,
                                     "eval_seconds": round(run.elapsed() - train_seconds, 2)})
        run.progress(step)
        return "done"
    finally:
        run.close()
