"""Judging generated `shapes` images exactly, because the data are procedural.

A *factor network* (`genlab.factor_net`: a small CNN trained on the shapes renders, one per resolution,
cached on disk after the first use) reads the five factors off an image. For each sample its top candidates per
factor are re-rendered and compared with the sample, and the best one is then improved by local
search (every shape and scale, nearby orientations and positions, until no neighbour matches
better). Samples that this finds just short of valid (IoU in [0.8, 0.9)) are then compared with
every render, so that `valid` is the brute-force answer; the others' best IoU agreed with brute
force on 296 of 300 noisy renders (the rest within 0.05):

    IoU(x, r) = |x ≥ ½ ∧ r ≥ ½| / |x ≥ ½ ∨ r ≥ ½|        (both binarised at half coverage)
    valid(x)  = max_candidates IoU ≥ 0.9                   → `valid` is the fraction of valid samples

The factors of the best match are the sample's *recovered factors*. Coverage compares their
distribution with the data's, factor by factor: KL(recovered ‖ data) in nats, orientation taken modulo
each shape's symmetry (a square's orientation is defined modulo 90°, an ellipse's modulo 180°), folded
into `ORIENTATION_BINS` bins of its period. A KL estimated from n samples over b bins is biased up by
about (b − 1) / 2n nats even for a perfect generator; that floor is reported next to each value.

`valid_<shape>` and `valid_scale_<k>` break `valid` down by the best match's shape and scale.

`frechet` is the Fréchet distance between Gaussians fitted to the factor network's penultimate
features of samples and of real images (the recipe of FID, in a network trained on this data — not
FID, whose Inception features know nothing of dSprites).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import torch

from genlab import shapes
from genlab.factor_net import FactorNet, as_float, factor_net, renders

IOU_THRESHOLD = 0.9
BRUTE_FORCE_FROM = 0.8  # samples whose searched IoU lies in [this, IOU_THRESHOLD) are matched by brute force
ORIENTATION_BINS = 10
SYMMETRY = (4, 2, 1)  # rotational symmetry of square, ellipse, heart
TOP_K = (2, 2, 12, 3, 3)  # candidates per factor: shape, scale, orientation (symmetric ones share mass), x, y


def _binary(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """uint8 renders (..., r, r) → bool, on where at least half covered: `as_float(...) >= 0.5` without floats."""
    return images >= (1 if resolution == 64 else 128)


def iou(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """IoU of binarised images: x (B, P) and r (B, K, P) → (B, K); two empty images have IoU 1."""
    x, r = x.unsqueeze(1) >= 0.5, r >= 0.5
    inter = (x & r).sum(-1).float()
    union = (x | r).sum(-1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


def pack(on: np.ndarray) -> np.ndarray:
    """Binary images as bits, bool (..., P) → uint64 (..., ⌈P/64⌉), zero-padded (zeros count in no intersection)."""
    bits = np.packbits(on, axis=-1)
    bits = np.pad(bits, [(0, 0)] * (bits.ndim - 1) + [(0, -bits.shape[-1] % 8)])
    return bits.view(np.uint64)


def packed_iou(x: np.ndarray, x_area: np.ndarray, r: np.ndarray, r_area: np.ndarray) -> np.ndarray:
    """`iou` of packed images: x (B, W) with areas (B,), r (B, K, W) with areas (B, K) → (B, K) float32, the
    intersection by popcount (≈ 300 times faster than comparing pixels as bytes)."""
    inter = np.bitwise_count(x[:, None, :] & r).sum(-1, dtype=np.int64)
    union = x_area[:, None] + r_area - inter
    ratio = inter.astype(np.float32) / np.maximum(union, 1).astype(np.float32)  # float32, as `iou` divides
    return np.where(union > 0, ratio, np.float32(1.0))


@cache
def _packed(resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Every render at `resolution` binarised and packed (N, W) uint64, and its area (N,)."""
    images = renders(resolution)
    words, area = [], []
    for start in range(0, len(images), 65536):  # a 64 px bool copy of all renders at once would take 3 GB
        on = _binary(images[start:start + 65536], resolution).reshape(-1, resolution**2).numpy()
        words.append(pack(on))
        area.append(on.sum(1, dtype=np.int64))
    return np.concatenate(words), np.concatenate(area)


def _best(x: torch.Tensor, cand: torch.Tensor, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Best IoU (B,) of samples x (B, 1, r, r) among candidate factor rows cand (B, K, 5), and that row (B, 5)."""
    flat = shapes.index_of(cand.reshape(-1, 5).numpy()).reshape(cand.shape[:2])
    words, area = _packed(resolution)
    on = (x.reshape(len(x), -1) >= 0.5).numpy()
    value, arg = torch.from_numpy(packed_iou(pack(on), on.sum(1, dtype=np.int64), words[flat], area[flat])).max(1)
    return value, cand[torch.arange(len(x)), arg]


@cache
def _offsets() -> torch.Tensor:
    """The local search's moves (M, 5), relative to the current match except shape and scale, which are
    absolute: every shape at every scale (a sample read as the wrong shape is often read at the wrong size
    too) with orientation ± 2 steps and position ± 1; and the same factors at orientation a quarter, half
    or three quarters of a turn away, ± 1 step (a square's or ellipse's symmetric copies: not a whole
    number of steps apart, so one of them can match better)."""
    near = torch.cartesian_prod(*[torch.arange(n) for n in shapes.SIZES[:2]], torch.arange(-2, 3),
                                torch.arange(-1, 2), torch.arange(-1, 2))
    quarter = shapes.SIZES[2] // 4
    turns = torch.tensor([t * quarter + d for t in (1, 2, 3) for d in (-1, 0, 1)])
    keep = torch.full((len(turns),), -1)  # -1: keep the current shape / scale (filled in by `_search`)
    zero = torch.zeros(len(turns), dtype=torch.long)
    return torch.cat([near, torch.stack([keep, keep, turns, zero, zero], 1)])


@torch.no_grad()
def match(samples: torch.Tensor, net: FactorNet, images: torch.Tensor | None = None,
          max_rounds: int = 8) -> tuple[torch.Tensor, np.ndarray]:
    """Best IoU (N,) of each sample (N, 1, r, r) in [0, 1] and the factor indices (N, 5) of that best match:
    the factor network's top candidates, then local search from the best of them (module docstring).
    `images`: all renders at r, if the caller has them loaded."""
    resolution = samples.shape[-1]
    images = renders(resolution) if images is None else images
    chunk = max(1, 2**26 // (len(_offsets()) * resolution**2))  # samples at a time: ≤ 64M candidate pixels
    best_iou, best_factors = [], []
    for start in range(0, len(samples), chunk):
        x = samples[start:start + chunk]
        tops = [logits.topk(k, dim=1).indices for logits, k in zip(net(x), TOP_K)]  # [(B, k_i)]
        grids = torch.meshgrid(*[torch.arange(k) for k in TOP_K], indexing="ij")
        cand = torch.stack([top[:, g.reshape(-1)] for top, g in zip(tops, grids)], dim=-1)  # (B, K, 5)
        value, factors = _best(x, cand, resolution)
        _search(x, value, factors, resolution, max_rounds)
        best_iou.append(value)
        best_factors.append(factors)
    value, factors = torch.cat(best_iou), torch.cat(best_factors)
    close = torch.nonzero((value >= BRUTE_FORCE_FROM) & (value < IOU_THRESHOLD)).flatten()
    if len(close):  # where validity hangs on it, the search's answer is checked against every render
        exact, index = brute_force(samples[close], images, resolution)
        value[close] = exact
        factors[close] = torch.from_numpy(shapes.factors_of(index.numpy()))
    return value, factors.numpy()


@torch.no_grad()
def brute_force(x: torch.Tensor, images: torch.Tensor, resolution: int,
                chunk: int = 32768) -> tuple[torch.Tensor, torch.Tensor]:
    """The best IoU (B,) of samples x (B, 1, r, r) over all renders, and that render's index (B,): the
    definition `match` approximates, as matrix products of binarised images (|x ∧ r| = x·r)."""
    xb = (x.reshape(len(x), -1) >= 0.5).float()  # (B, P)
    x_area = xb.sum(1)
    best, index = torch.full((len(x),), -1.0), torch.zeros(len(x), dtype=torch.long)
    for start in range(0, len(images), chunk):
        r = _binary(images[start:start + chunk], resolution).reshape(-1, xb.shape[1]).float()
        inter = r @ xb.T  # (C, B)
        union = r.sum(1, keepdim=True) + x_area - inter
        value, arg = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union)).max(0)
        better = value > best
        best, index = torch.where(better, value, best), torch.where(better, arg + start, index)
    return best, index


def _search(x: torch.Tensor, value: torch.Tensor, factors: torch.Tensor, resolution: int, max_rounds: int) -> None:
    """Local search, in place on value (B,) and factors (B, 5): each round moves every sample that can
    improve to its best neighbour (`_offsets`); samples stop when no neighbour is better."""
    sizes, moves = torch.tensor(shapes.SIZES), _offsets()
    active = torch.arange(len(x))
    for _ in range(max_rounds):
        near = factors[active].unsqueeze(1) + moves  # (A, M, 5)
        near[..., :2] = torch.where(moves[:, :2] >= 0, moves[:, :2], factors[active, None, :2])
        near[..., 2] %= sizes[2] - 1  # orientation wraps around: its last value, 2π, is its first, 0
        near = torch.minimum(near.clamp(min=0), sizes - 1)
        new_value, new_factors = _best(x[active], near, resolution)
        better = new_value > value[active]
        active = active[better]
        if not len(active):
            return
        value[active], factors[active] = new_value[better], new_factors[better]


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


def breakdown(valid: np.ndarray, factors: np.ndarray) -> dict[str, float | None]:
    """The valid fraction among the samples whose best match has each shape (`valid_square`, …) and each scale
    (`valid_scale_0` … `_5`, smallest first); None where no sample has it. `valid` averages these over the
    generator's own mix, so a generator that draws too many of the shapes it draws well looks better than it is."""
    out: dict[str, float | None] = {}
    for column, names in ((0, shapes.SHAPES), (1, [f"scale_{k}" for k in range(shapes.SIZES[1])])):
        for k, name in enumerate(names):
            group = valid[factors[:, column] == k]
            out[f"valid_{name}"] = float(group.mean()) if len(group) else None
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
    images = renders(resolution)  # loaded once, for the candidates and the real images
    best, factors = match(samples, net, images)
    valid = (best >= IOU_THRESHOLD).numpy()
    result = {"samples": len(samples), "valid": float(valid.mean()), "iou_median": float(best.median()),
              "valid_at_0.8": float((best >= 0.8).float().mean()), **breakdown(valid, factors)}
    cov = coverage(factors[valid])
    if not valid.any():  # nothing to measure coverage on: null in JSON, a gap in TensorBoard
        cov = {k: (None if k.startswith("kl_") and not k.startswith("kl_floor") else v) for k, v in cov.items()}
    result["coverage_kl"] = max(cov[f"kl_{f}"] for f in shapes.FACTORS) if valid.any() else None
    result.update(cov)
    real_idx = np.random.default_rng(seed).choice(shapes.N_IMAGES, len(samples), replace=False)
    real = as_float(images[torch.from_numpy(real_idx)], resolution).unsqueeze(1)
    feats = [torch.cat([net.features(x[i:i + 256]) for i in range(0, len(x), 256)]).numpy().astype(np.float64)
             for x in (samples, real)]
    result["frechet"] = frechet_distance(*feats)
    return result

