"""Judging generated `shapes` images exactly, because the data are procedural.

A *factor network* (a small CNN trained on the shapes renders, one per resolution, cached on disk
after the first use) reads the five factors off an image. For each sample its top candidates per
factor are re-rendered and compared with the sample:

    IoU(x, r) = |x ≥ ½ ∧ r ≥ ½| / |x ≥ ½ ∨ r ≥ ½|        (both binarised at half coverage)
    valid(x)  = max_candidates IoU ≥ 0.9                   → `valid` is the fraction of valid samples

The factors of the best match are the sample's *recovered factors*. Coverage compares their
distribution with the data's, factor by factor: KL(recovered ‖ data) in nats, orientation taken modulo
each shape's symmetry (a square's orientation is defined modulo 90°, an ellipse's modulo 180°), folded
into `ORIENTATION_BINS` bins of its period. A KL estimated from n samples over b bins is biased up by
about (b − 1) / 2n nats even for a perfect generator; that floor is reported next to each value.

`frechet` is the Fréchet distance between Gaussians fitted to the factor network's penultimate
features of samples and of real images (the recipe of FID, in a network trained on this data — not
FID, whose Inception features know nothing of dSprites).
"""

from __future__ import annotations

import os
from functools import cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genlab import shapes

IOU_THRESHOLD = 0.9
ORIENTATION_BINS = 10
SYMMETRY = (4, 2, 1)  # rotational symmetry of square, ellipse, heart
TOP_K = (2, 2, 12, 3, 3)  # candidates per factor: shape, scale, orientation (symmetric ones share mass), x, y
_VERSION = 1  # bump when the network or its training changes: old caches are then ignored


class FactorNet(nn.Module):
    """Conv torso (one stride-2 layer per halving down to 4×4) → 256 features → one softmax head per factor."""

    def __init__(self, resolution: int):
        super().__init__()
        layers: list[nn.Module] = []
        c, size = 1, resolution
        while size > 4:  # 1 → 32 → 64 → 128 → 128 channels; every layer stride 2 (cheap: it trains on first use)
            out = min(max(2 * c, 32), 128)
            layers += [nn.Conv2d(c, out, 4, 2, 1), nn.BatchNorm2d(out), nn.ReLU()]
            c, size = out, size // 2
        self.torso = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * 16, 256), nn.ReLU())
        self.heads = nn.ModuleList(nn.Linear(256, n) for n in shapes.SIZES)

    def features(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, r, r) in [0, 1] → (B, 256)
        return self.torso(x)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:  # logits per factor, [(B, 3), (B, 6), …]
        h = self.features(x)
        return [head(h) for head in self.heads]


def _images(resolution: int) -> torch.Tensor:
    """All renders at `resolution`, (N, r, r) uint8 (0/1 at 64, coverage 0…255 below)."""
    return torch.from_numpy(shapes.all_images(resolution))


def _as_float(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """uint8 renders (..., r, r) → floats in [0, 1] (binary at 64, coverage below)."""
    return images.float().div_(1.0 if resolution == 64 else 255.0)


@torch.enable_grad()  # also when called from `judge`, which runs under no_grad
def train_factor_net(resolution: int, steps: int = 2000, batch_size: int = 128, seed: int = 0,
                     noise: float = 0.1) -> FactorNet:
    """Fit the factor network to random renders (plus a little pixel noise, so imperfect samples still read)."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    images, n = _images(resolution), shapes.N_IMAGES
    labels = torch.from_numpy(shapes.factors_of(np.arange(n)))
    net = FactorNet(resolution)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps)
    for _ in range(steps):
        idx = torch.randint(n, (batch_size,), generator=gen)
        x = _as_float(images[idx], resolution).unsqueeze(1)
        x = (x + noise * torch.randn(x.shape, generator=gen)).clamp_(0, 1)
        loss = sum(F.cross_entropy(logits, labels[idx, i]) for i, logits in enumerate(net(x)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return net.eval()


def factor_net(resolution: int) -> FactorNet:
    """The factor network for `resolution`, trained on first use and cached beside the renders."""
    path = shapes.cache_dir() / f"factor-net-{resolution}-v{_VERSION}.pt"
    if path.exists():
        net = FactorNet(resolution)
        net.load_state_dict(torch.load(path, weights_only=True))
        return net.eval()
    net = train_factor_net(resolution)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(net.state_dict(), tmp)
    os.replace(tmp, path)  # a killed training never leaves half a file
    return net


def iou(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """IoU of binarised images: x (B, P) and r (B, K, P) → (B, K); two empty images have IoU 1."""
    x, r = x.unsqueeze(1) >= 0.5, r >= 0.5
    inter = (x & r).sum(-1).float()
    union = (x | r).sum(-1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


@torch.no_grad()
def match(samples: torch.Tensor, net: FactorNet, images: torch.Tensor | None = None,
          chunk: int = 128) -> tuple[torch.Tensor, np.ndarray]:
    """Best IoU (N,) of each sample (N, 1, r, r) in [0, 1] among its re-rendered candidates, and the
    factor indices (N, 5) of that best match. `images`: all renders at r, if the caller has them loaded."""
    resolution = samples.shape[-1]
    images = _images(resolution) if images is None else images
    best_iou, best_factors = [], []
    for start in range(0, len(samples), chunk):
        x = samples[start:start + chunk]
        tops = [logits.topk(k, dim=1).indices for logits, k in zip(net(x), TOP_K)]  # [(B, k_i)]
        grids = torch.meshgrid(*[torch.arange(k) for k in TOP_K], indexing="ij")
        cand = torch.stack([top[:, g.reshape(-1)] for top, g in zip(tops, grids)], dim=-1)  # (B, K, 5)
        flat = torch.from_numpy(shapes.index_of(cand.reshape(-1, 5).numpy())).reshape(cand.shape[:2])
        renders = _as_float(images[flat], resolution).reshape(*flat.shape, -1)  # (B, K, r·r)
        scores = iou(x.reshape(len(x), -1), renders)  # (B, K)
        value, arg = scores.max(1)
        best_iou.append(value)
        best_factors.append(cand[torch.arange(len(x)), arg])
    return torch.cat(best_iou), torch.cat(best_factors).numpy()


def _binned(factors: np.ndarray) -> list[np.ndarray]:
    """Per factor, the bin of each row (N, 5): shape, scale, x, y as they are; orientation folded by the
    shape's symmetry into ORIENTATION_BINS bins of its period."""
    theta = shapes.VALUES[2][factors[:, 2]]
    period = 2 * np.pi / np.asarray(SYMMETRY)[factors[:, 0]]
    phase = np.mod(theta / period + 1e-9, 1.0)  # 1e-9: 2π/4 · 4 lands on 1, which is 0 of the next period
    orient = np.minimum((phase * ORIENTATION_BINS).astype(int), ORIENTATION_BINS - 1)
    return [factors[:, 0], factors[:, 1], orient, factors[:, 3], factors[:, 4]]


@cache
def _reference() -> list[np.ndarray]:
    """The data's distribution of each binned factor (every factor combination once)."""
    all_factors = shapes.factors_of(np.arange(shapes.N_IMAGES))
    sizes = (*shapes.SIZES[:2], ORIENTATION_BINS, *shapes.SIZES[3:])
    return [np.bincount(b, minlength=n) / shapes.N_IMAGES for b, n in zip(_binned(all_factors), sizes)]


def coverage(factors: np.ndarray) -> dict[str, float]:
    """KL(recovered ‖ data) per factor in nats, and its finite-sample floor (b − 1) / 2n."""
    out: dict[str, float] = {}
    for name, bins, ref in zip(shapes.FACTORS, _binned(factors), _reference()):
        p = np.bincount(bins, minlength=len(ref)) / max(len(bins), 1)
        nz = p > 0
        out[f"kl_{name}"] = float(np.sum(p[nz] * np.log(p[nz] / ref[nz])))
        out[f"kl_floor_{name}"] = (len(ref) - 1) / (2 * max(len(bins), 1))
    return out


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """‖μa − μb‖² + tr(Σa + Σb − 2 (Σa Σb)^½) between Gaussians fitted to feature rows a, b (N, D)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # tr (Σa Σb)^½ = Σ √λ over the eigenvalues λ of Σa^½ Σb Σa^½ (symmetric, so eigh is exact and stable)
    w, v = np.linalg.eigh(cov_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    lam = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_root = np.sum(np.sqrt(np.clip(lam, 0, None)))
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root)


@torch.no_grad()
def judge(samples: torch.Tensor, seed: int = 0) -> dict[str, float]:
    """Every sample-quality number for generated shapes (N, 1, r, r) in [0, 1] (see the module docstring)."""
    resolution = samples.shape[-1]
    if samples.shape[1] != 1 or resolution not in (16, 32, 64):
        raise ValueError(f"samples must be (N, 1, r, r) with r in 16, 32, 64, not {tuple(samples.shape)}")
    samples = samples.float().cpu()
    net = factor_net(resolution)
    images = _images(resolution)  # loaded once, for the candidates and the real images
    best, factors = match(samples, net, images)
    valid = (best >= IOU_THRESHOLD).numpy()
    result = {"samples": len(samples), "valid": float(valid.mean()), "iou_median": float(best.median()),
              "valid_at_0.8": float((best >= 0.8).float().mean())}
    cov = coverage(factors[valid])
    if not valid.any():  # nothing to measure coverage on: null in JSON, a gap in TensorBoard
        cov = {k: (None if k.startswith("kl_") and not k.startswith("kl_floor") else v) for k, v in cov.items()}
    result["coverage_kl"] = max(cov[f"kl_{f}"] for f in shapes.FACTORS) if valid.any() else None
    result.update(cov)
    real_idx = np.random.default_rng(seed).choice(shapes.N_IMAGES, len(samples), replace=False)
    real = _as_float(images[torch.from_numpy(real_idx)], resolution).unsqueeze(1)
    feats = [torch.cat([net.features(x[i:i + 256]) for i in range(0, len(x), 256)]).numpy().astype(np.float64)
             for x in (samples, real)]
    result["frechet"] = frechet_distance(*feats)
    return result

