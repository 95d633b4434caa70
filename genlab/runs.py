"""Loading a finished (or stopped) genlab run for the commands that use it: its model and config, its
held-out images, the dimension of its code that carries a factor, and a check on the kind of model a command
needs."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genlab.config import TrainConfig
from genlab.data import dataset, held_out
from genlab.metrics import FactorSpace, most_informative_dimension
from genlab.models import MODELS, build_model, restore, stored_config
from genlab.scores import model_representation
from genlab.shapes import FACTORS
from labcore.errors import UsageError
from labcore.rundir import load_checkpoint


def load_model(path: Path, overrides: dict[str, Any] | None = None) -> tuple[torch.nn.Module, TrainConfig]:
    """The model of a run directory or checkpoint, in eval mode, and its config with those `overrides` applied
    (and checked) that it has: settings of an evaluation, such as eval_samples."""
    state, _ = load_checkpoint(path)
    if state.get("algo") not in MODELS:
        raise UsageError(f"{path} is not a genlab checkpoint (it holds {state.get('algo')!r})")
    cfg = stored_config(state["config"])
    own = {f.name for f in dataclasses.fields(cfg)}
    cfg = dataclasses.replace(cfg, **{k: v for k, v in (overrides or {}).items() if k in own})
    model = build_model(cfg, state["channels"], state.get("resolution", cfg.resolution))
    try:
        restore(model, state, optimizers=False)
    except RuntimeError:
        raise UsageError(f"{path} does not match the model its config describes") from None
    return model.eval(), cfg


def held_out_images(cfg: TrainConfig, n: int | None = None) -> torch.Tensor:
    data = dataset(cfg)
    _, eval_idx = held_out(len(data), cfg)
    return data.floats(eval_idx[:n])


def encoder_model(path: Path, what: str, vae_only: bool = False):
    """A run's model for a command that needs its code (`vae_only`: its prior too), or a one-line refusal."""
    model, cfg = load_model(path)
    if not model.has_code or (vae_only and cfg.model != "vae"):
        kind = "an autoencoder has no prior to sweep over" if model.has_code else f"this is a GAN ({cfg.model})"
        raise UsageError(f"{what} needs a {'vae' if vae_only else 'vae or ae'}; {kind}")
    return model, cfg


def factor_dimension(model, cfg: TrainConfig, factor: str) -> int:
    """The latent dimension with the most mutual information about a shapes factor (MIG's top dimension)."""
    data = dataset(cfg)
    space = FactorSpace.of(data.factors)
    k = FACTORS.index(factor)
    if k not in space.varying:
        raise UsageError(f"factor {factor} does not vary in {cfg.data!r}")
    represent = model_representation(model, data.images, data.factors, data.max_value)
    return most_informative_dimension(represent, space, k, np.random.default_rng(cfg.seed), cfg.metric_points)
