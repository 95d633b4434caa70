"""What a generative run is scored on beyond its held-out numbers, for training (`genlab.train`) and `genlab eval`:
on the shapes data, its samples judged (`genlab.quality`; any model that samples) and its code's disentanglement
(`genlab.metrics`; any model with a code)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch

from genlab import shapes
from genlab.config import metric_names
from genlab.metrics import FactorSpace, evaluate
from genlab.quality import judge

if TYPE_CHECKING:
    from genlab.config import TrainConfig
    from genlab.data import Dataset


def judgeable(cfg: TrainConfig) -> bool:
    """Can generated images be judged against the shapes renders? Yes for the shapes data, which is always
    one channel at a resolution the config allows (16, 32 or 64) — decided from the config, without loading."""
    return cfg.data.partition(":")[0] == "shapes"


def scores(model: torch.nn.Module, data: Dataset, cfg: TrainConfig, final: bool = True) -> dict[str, float]:
    """On shapes: the sample judgement and the code's disentanglement metrics (the config's `metrics` at the end
    of training, MIG alone at the periodic evaluations); nothing on other data."""
    if not judgeable(cfg):
        return {}
    result = judge_samples(model, cfg.eval_samples, cfg.seed) if model.can_sample else {}
    which = metric_names(cfg.metrics) if model.has_code and final else ("mig",)
    if model.has_code and which:
        result.update(disentanglement(model, data, cfg, which))
    return result


def eval_scalars(result: dict[str, float | None]) -> dict[str, float]:
    """A result as TensorBoard's eval/* scalars: counts and the KL floors left out, missing values as NaN."""
    return {f"eval/{k}": float("nan") if v is None else v for k, v in result.items()
            if k not in ("images", "iwae_k", "samples") and not k.startswith("kl_floor")}


def judge_samples(model: torch.nn.Module, n: int, seed: int) -> dict[str, float]:
    return judge(model.sample(n, torch.Generator().manual_seed(seed)), seed=seed)


def disentanglement(model: torch.nn.Module, data: Dataset, cfg: TrainConfig,
                    which: tuple[str, ...]) -> dict[str, float]:
    """The metrics `which` of the model's mean code on the data's factors, at the config's metric sizes."""
    represent = model_representation(model, data.images, data.factors, data.max_value)
    return evaluate(represent, FactorSpace.of(data.factors), cfg.seed, which, cfg.metric_points,
                    cfg.metric_test_points, cfg.metric_batch)


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


# Final scores a hyper-parameter search can optimise (`genlab tune --metric eval/NAME`), by direction.
MAXIMIZE = ("mig", "factor_vae", "beta_vae", "sap", "dci_disentanglement", "dci_completeness", "dci_informativeness",
            "valid", "iou_median", "elbo", "iwae")
MINIMIZE = ("frechet", "coverage_kl", "recon_nats", "mse")
METRIC_KEYS = {"dci": ("dci_disentanglement", "dci_completeness", "dci_informativeness")}  # else its own name


def objectives(cfg: TrainConfig, model: torch.nn.Module) -> dict[str, str]:
    """NAME → maximize | minimize for each score a run of this config ends with in eval.json (and logs as
    eval/NAME): its held-out numbers (`model.evaluate`), and on shapes its samples' judgement and its code's
    metrics. The periodic evaluations log MIG (a model with a code) and the judgement (one that samples)."""
    names = {"vae": ("elbo", "iwae"), "ae": ("recon_nats", "mse")}.get(cfg.model, ())
    if judgeable(cfg):
        if model.can_sample:
            names += ("valid", "iou_median", "frechet", "coverage_kl")
        if model.has_code:
            for metric in metric_names(cfg.metrics):
                names += METRIC_KEYS.get(metric, (metric,))
    return {n: "maximize" if n in MAXIMIZE else "minimize" for n in names}
