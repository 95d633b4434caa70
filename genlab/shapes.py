"""`shapes`: dSprites (Matthey et al. 2017) rendered procedurally, with its ground-truth factors.

    shape {square, ellipse, heart} × scale linspace(0.5, 1, 6) × orientation linspace(0, 2π, 40)
    × pos_x linspace(0, 1, 32) × pos_y linspace(0, 1, 32) = 737,280 binary 64×64 images, pos_y fastest.

Geometry matches the published frames: centre 16 + 32·p pixels; square side 20·s; ellipse semi-axes
13·s × 7·s; heart about 20·s × 17·s with area ≈ 224·s² and its centroid ≈ 2 px above the centre. A
pixel is on when its centre lies inside the rotated, scaled shape. Rendering is vectorised NumPy over a
32×32 window around each centre (every shape fits in a radius of 16 px), so the whole set renders in
seconds and is cached on disk, bit-packed, after the first use.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

FACTORS = ("shape", "scale", "orientation", "pos_x", "pos_y")
SIZES = (3, 6, 40, 32, 32)
SHAPES = ("square", "ellipse", "heart")
N_IMAGES = int(np.prod(SIZES))  # 737,280
VALUES = (
    np.arange(3),
    np.linspace(0.5, 1.0, 6),
    np.linspace(0.0, 2 * np.pi, 40),
    np.linspace(0.0, 1.0, 32),
    np.linspace(0.0, 1.0, 32),
)
# The heart (x² + y² − 1)³ − x² y³ ≤ 0 spans 2.277 × 2.233 with area 3.662 and centroid 0.293 above its
# origin; these scales give 19.1 × 16.3 px, area 224 px² and a centroid 2.1 px above the centre at s = 1.
_HEART_SX, _HEART_SY = 8.40, 7.28
_WINDOW = 32


def index_of(factors: np.ndarray) -> np.ndarray:
    """Flat index of factor-index rows (N, 5), pos_y fastest."""
    return np.ravel_multi_index(tuple(np.asarray(factors).T), SIZES)


def factors_of(index: np.ndarray) -> np.ndarray:
    """Factor indices (N, 5) of flat indices (N,)."""
    return np.stack(np.unravel_index(np.asarray(index), SIZES), axis=1)


def inside(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Is the local point (u, v) (pixels at scale 1, v up) inside the shape?"""
    if shape == 0:
        return (np.abs(u) <= 10) & (np.abs(v) <= 10)
    if shape == 1:
        u, v = u * (1 / 13), v * (1 / 7)
        return u * u + v * v <= 1
    x, y = u * (1 / _HEART_SX), v * (1 / _HEART_SY)
    x2, y2 = x * x, y * y
    q = x2 + y2 - 1
    return q * q * q <= x2 * y2 * y


def covers(shape: int, dx: np.ndarray, dy: np.ndarray, theta, inv_scale) -> np.ndarray:
    """Is the offset (dx, dy) from a shape's centre (pixels, y up) inside it when turned by θ and scaled
    by 1 / inv_scale? Broadcasts; the single place that poses a shape, for the renderer and benchmarks."""
    cos, sin = np.cos(theta) * inv_scale, np.sin(theta) * inv_scale  # fold the scale into the rotation
    return inside(shape, cos * dx + sin * dy, cos * dy - sin * dx)  # the point turned by −θ, unscaled


def render(factors: np.ndarray, resolution: int = 64) -> np.ndarray:
    """Images (N, resolution, resolution) uint8 for factor-index rows (N, 5).

    At 64 the images are binary (0/1). Lower resolutions (64 / k) average k×k blocks, so a pixel holds
    the shape's coverage, quantised to 0…255.
    """
    factors = np.asarray(factors, dtype=np.int64).reshape(-1, 5)
    if 64 % resolution:
        raise ValueError(f"resolution must divide 64, not {resolution}")
    if resolution < 64:  # render at 64 and average k×k blocks, a slice at a time to bound memory
        k, out = 64 // resolution, np.zeros((len(factors), resolution, resolution), np.uint8)
        for start in range(0, len(factors), 65536):
            full = render(factors[start:start + 65536], 64).reshape(-1, resolution, k, resolution, k)
            out[start:start + 65536] = np.round(full.mean(axis=(2, 4), dtype=np.float32) * 255)
        return out
    out = np.zeros((len(factors), 64, 64), np.uint8)
    chunks = [np.flatnonzero(factors[:, 0] == k) for k in range(3)]  # one shape at a time: no wasted tests
    for shape, idx in enumerate(chunks):
        for start in range(0, len(idx), 8192):  # bounded memory: 8k windows of 32×32 floats at a time
            _render_chunk(shape, factors[idx[start:start + 8192]], idx[start:start + 8192], out)
    return out


def _render_chunk(shape: int, f: np.ndarray, where: np.ndarray, out: np.ndarray) -> None:
    """Draw images of one shape with factor rows `f` into out[where] (float32 throughout, for speed)."""
    inv_scale = (1 / VALUES[1][f[:, 1]]).astype(np.float32)[:, None, None]
    theta = VALUES[2][f[:, 2]].astype(np.float32)[:, None, None]
    cx = (16 + 32 * VALUES[3][f[:, 3]]).astype(np.float32)
    cy = (16 + 32 * VALUES[4][f[:, 4]]).astype(np.float32)
    x0 = np.floor(cx).astype(np.int64) - _WINDOW // 2  # window origin, clipped into the image
    y0 = np.floor(cy).astype(np.int64) - _WINDOW // 2
    x0, y0 = np.clip(x0, 0, 64 - _WINDOW), np.clip(y0, 0, 64 - _WINDOW)
    grid = np.arange(_WINDOW, dtype=np.float32) + 0.5  # pixel centres
    dx = ((x0 - cx).astype(np.float32)[:, None] + grid)[:, None, :]  # (B, 1, W)
    dy = -((y0 - cy).astype(np.float32)[:, None] + grid)[:, :, None]  # (B, W, 1), up is positive
    window = covers(shape, dx, dy, theta, inv_scale).astype(np.uint8)  # (B, W, W)
    rows = y0[:, None] + np.arange(_WINDOW)
    cols = x0[:, None] + np.arange(_WINDOW)
    out[where[:, None, None], rows[:, :, None], cols[:, None, :]] = window


def cache_dir() -> Path:
    """$GENLAB_CACHE, else $XDG_CACHE_HOME/rlgen-lab, else ~/.cache/rlgen-lab."""
    if os.environ.get("GENLAB_CACHE"):
        return Path(os.environ["GENLAB_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rlgen-lab"


def all_images(resolution: int = 64) -> np.ndarray:
    """All 737,280 images (N, r, r) uint8, rendered once and cached on disk (bit-packed at 64)."""
    path = cache_dir() / f"shapes-{resolution}.npy"
    if path.exists():
        data = np.load(path, allow_pickle=False)
        return np.unpackbits(data, axis=1).reshape(N_IMAGES, 64, 64) if resolution == 64 else data
    images = render(factors_of(np.arange(N_IMAGES)), resolution)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:  # written whole, then renamed: a killed render never leaves half a cache
        np.save(f, np.packbits(images.reshape(N_IMAGES, -1), axis=1) if resolution == 64 else images)
    os.replace(tmp, path)
    return images


def images_of(index: np.ndarray, resolution: int = 64) -> np.ndarray:
    """The images (n, r, r) uint8 at flat indices: read from the full set's cache when it is on disk (a subset of
    it in a moment, only its rows read), else rendered (a subset alone, without rendering the whole set)."""
    path = cache_dir() / f"shapes-{resolution}.npy"
    if not path.exists():
        return all_images(resolution) if len(index) == N_IMAGES else render(factors_of(index), resolution)
    rows = np.load(path, mmap_mode="r", allow_pickle=False)[np.asarray(index)]
    return np.unpackbits(rows, axis=1).reshape(len(rows), 64, 64) if resolution == 64 else rows


def select(**fixed: int | list[int] | range) -> np.ndarray:
    """Flat indices of the images whose factor indices lie in the given sets: select(shape=2, scale=[4, 5])."""
    for name in fixed:
        if name not in FACTORS:
            raise ValueError(f"unknown factor {name!r}; factors are {', '.join(FACTORS)}")
    axes = [np.atleast_1d(np.asarray(fixed.get(name, range(size)))) for name, size in zip(FACTORS, SIZES)]
    for name, axis, size in zip(FACTORS, axes, SIZES):
        if axis.size == 0 or axis.min() < 0 or axis.max() >= size:
            raise ValueError(f"factor {name} takes indices 0..{size - 1}")
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 5)
    return index_of(grid)
