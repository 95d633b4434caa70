"""Loading a finished (or stopped) genlab run for the commands that use it: its model and config, its
held-out images, and checks on the output path and the kind of model a command needs."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from genlab.shapes import FACTORS
from genlab.train import GenConfig, as_float, build_model, dataset, held_out
from labcore.config import build
from labcore.errors import UsageError
from labcore.run import load_checkpoint

MODELS = ("vae", "ae", "gan")


def load_model(path: Path):
    state, run_dir = load_checkpoint(path)
    if state.get("algo") not in MODELS:
        raise UsageError(f"{path} is not a genlab checkpoint (it holds {state.get('algo')!r})")
    cfg = build(GenConfig, state["config"])
    model = build_model(cfg, state["channels"], state.get("resolution", cfg.resolution))
    try:
        model.load_state_dict(state["model"])
    except RuntimeError:
        raise UsageError(f"{path} does not match the model its config describes") from None
    return model.eval(), cfg


def out_path(args: argparse.Namespace, suffixes: tuple[str, ...] = (".png",)) -> Path:
    if args.out.suffix.lower() not in suffixes:
        raise UsageError(f"--out must end in {' or '.join(suffixes)}, not {args.out}")
    if args.out.exists() and not args.force:
        raise UsageError(f"{args.out} already exists; pass --force to overwrite it or choose another --out")
    if getattr(args, "n", 1) <= 0:
        raise UsageError(f"--n must be positive, not {args.n}")
    return args.out


def held_out_images(cfg: GenConfig, n: int | None = None) -> torch.Tensor:
    data = dataset(cfg)
    _, eval_idx = held_out(len(data), cfg)
    return as_float(torch.from_numpy(data.images[eval_idx[:n]]), data)


def encoder_model(path: Path, what: str, vae_only: bool = False):
    model, cfg = load_model(path)
    if cfg.model == "gan" or (vae_only and cfg.model != "vae"):
        kind = "a GAN has no encoder" if cfg.model == "gan" else "an autoencoder has no prior to sweep over"
        raise UsageError(f"{what} needs a {'vae' if vae_only else 'vae or ae'}; {kind}")
    return model, cfg


def factor_dimension(model, cfg: GenConfig, factor: str) -> int:
    """The latent dimension with the most mutual information about a shapes factor (MIG's top dimension)."""
    from genlab.metrics import FactorSpace, model_representation, most_informative_dimension

    data = dataset(cfg)
    space = FactorSpace.of(data.factors)
    k = FACTORS.index(factor)
    if k not in space.varying:
        raise UsageError(f"factor {factor} does not vary in {cfg.data!r}")
    represent = model_representation(model, data.images, data.factors, data.max_value)
    return most_informative_dimension(represent, space, k, np.random.default_rng(cfg.seed), cfg.metric_points)
