"""Loading a finished (or stopped) genlab run for the commands that use it: its model and config, its
held-out images, its mean code as a representation for the metrics, and checks on the output path and
the kind of model a command needs."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from genlab import shapes
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
        kind = "this is a GAN" if cfg.model == "gan" else "an autoencoder has no prior to sweep over"
        raise UsageError(f"{what} needs a {'vae' if vae_only else 'vae or ae'}; {kind}")
    return model, cfg


def model_representation(model: torch.nn.Module, images: np.ndarray, factors: np.ndarray, max_value: float,
                         batch: int = 2000) -> Callable[[np.ndarray], np.ndarray]:
    """The mean code mu(x) of the images with given factor rows, from the data set (images, factors).

    Each image is encoded once and its code kept: the metrics draw about 3 million rows (the β-VAE and
    FactorVAE scores' batches) from at most 737,280 images, so most rows are looked up, not encoded."""
    position = np.full(shapes.N_IMAGES, -1, dtype=np.int64)
    position[shapes.index_of(factors)] = np.arange(len(factors))
    device = next(model.parameters()).device
    codes: np.ndarray | None = None  # (len(factors), D), filled in as rows are asked for
    known = np.zeros(len(factors), dtype=bool)

    @torch.no_grad()
    def represent(rows: np.ndarray) -> np.ndarray:
        nonlocal codes
        where = position[shapes.index_of(rows)]
        if (where < 0).any():
            raise ValueError("factor rows outside the data set")
        new = np.unique(where[~known[where]])
        for i in range(0, len(new), batch):
            part = new[i:i + batch]
            code = model.code(torch.from_numpy(images[part]).to(device).float() / max_value).cpu().numpy()
            if codes is None:
                codes = np.empty((len(factors), code.shape[1]), dtype=code.dtype)
            codes[part], known[part] = code, True
        if codes is None:  # no rows asked for
            return np.empty((0, 0))
        return codes[where].astype(np.float64)

    return represent


def factor_dimension(model, cfg: GenConfig, factor: str) -> int:
    """The latent dimension with the most mutual information about a shapes factor (MIG's top dimension)."""
    from genlab.metrics import FactorSpace, most_informative_dimension

    data = dataset(cfg)
    space = FactorSpace.of(data.factors)
    k = FACTORS.index(factor)
    if k not in space.varying:
        raise UsageError(f"factor {factor} does not vary in {cfg.data!r}")
    represent = model_representation(model, data.images, data.factors, data.max_value)
    return most_informative_dimension(represent, space, k, np.random.default_rng(cfg.seed), cfg.metric_points)
