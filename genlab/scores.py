"""What a generative run is scored on, shared by training (`genlab.train`) and `genlab eval`: the sample
judge on shapes (`genlab.quality`) and the disentanglement metrics of a code (`genlab.metrics`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from genlab.ae import AE
    from genlab.data import Dataset
    from genlab.gan import GAN
    from genlab.sprite_gan import SpriteGAN
    from genlab.train import GenConfig
    from genlab.vae import VAE


def metric_names(spec: str) -> tuple[str, ...]:
    return () if spec.strip() in ("", "none") else tuple(m.strip() for m in spec.split(","))


def has_factors(cfg: GenConfig) -> bool:
    """Can a code be scored for disentanglement? It needs the shapes data's ground-truth factors."""
    return cfg.model in ("vae", "ae") and judgeable(cfg)


def disentanglement(model: VAE | AE, data: Dataset, cfg: GenConfig, which: tuple[str, ...] | None = None,
                    train: int | None = None, test: int | None = None) -> dict[str, float]:
    """The config's disentanglement metrics (or `which`) of the model's mean code on the data's factors."""
    from genlab.metrics import FactorSpace, evaluate
    from genlab.runs import model_representation

    represent = model_representation(model, data.images, data.factors, data.max_value)
    return evaluate(represent, FactorSpace.of(data.factors), cfg.seed,
                    metric_names(cfg.metrics) if which is None else which,
                    train or cfg.metric_points, test or cfg.metric_test_points, cfg.metric_batch)


def judgeable(cfg: GenConfig) -> bool:
    """Can generated images be judged against the shapes renders? Yes for the shapes data, which is always
    one channel at a resolution the config allows (16, 32 or 64) — decided from the config, without loading."""
    return cfg.data.partition(":")[0] == "shapes"


def nan_for_none(value: float | None) -> float:
    return float("nan") if value is None else value


def judge_samples(model: GAN | SpriteGAN | VAE, n: int, seed: int) -> dict[str, float]:
    from genlab.quality import judge  # imported here: it loads the renders and the factor network

    return judge(model.sample(n, torch.Generator().manual_seed(seed)), seed=seed)
