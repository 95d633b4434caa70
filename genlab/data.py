"""Image data for the generative models: `shapes`, `mnist:PATH`, `fashion-mnist:PATH`, `folder:PATH`.

Every loader returns a `Dataset`: uint8 images (N, C, H, W) and, for `shapes`, the factor indices
(N, 5). Nothing is downloaded: MNIST-style data are read from local IDX files (raw or .gz), so tests
write their own tiny files.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from genlab import shapes
from labcore.errors import UsageError

if TYPE_CHECKING:
    from genlab.config import TrainConfig

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


@dataclass
class Dataset:
    images: np.ndarray  # (N, C, H, W) uint8; binary shapes at 64×64 hold 0/1, everything else 0…255
    factors: np.ndarray | None = None  # (N, 5) factor indices, for `shapes`
    max_value: int = 255  # what a fully "on" pixel holds: 1 for binary shapes, else 255

    def __len__(self) -> int:
        return len(self.images)

    def floats(self, index: np.ndarray) -> torch.Tensor:
        """The images at `index` as floats in [0, 1], (B, C, H, W). (Indexed by torch, which keeps the standard
        strides: NumPy's copy of a one-channel batch can read as channels-last, and conv kernels then sum in
        another order.)"""
        return torch.from_numpy(self.images)[index].float() / self.max_value


def dataset(cfg: TrainConfig) -> Dataset:
    """The config's data, as training sees them."""
    return load(cfg.data, resolution=cfg.resolution, channels=cfg.channels, binarize=cfg.binarize)


def held_out(n: int, cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """(train, eval) indices of n images: the eval split depends on the seed only, so `genlab eval` can rebuild
    it. At most a fifth of the data is held out."""
    order = np.random.default_rng(cfg.seed + 1).permutation(n)
    k = min(cfg.eval_images, n // 5)
    return order[k:], order[:k]


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX array (the MNIST file format; raw or gzip), checked against its header."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no such IDX file: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as e:  # a damaged gzip stream fails in any of these
        raise UsageError(f"{path} is not a readable IDX file ({e})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise UsageError(f"{path} is not an IDX file of unsigned bytes (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise UsageError(f"{path} is a truncated IDX file")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    if len(data) - header != int(np.prod(shape)):
        raise UsageError(f"{path} is a truncated or malformed IDX file: header says {shape}")
    # a writable copy: torch warns on (and cannot safely wrap) the read-only array frombuffer makes of bytes
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape).copy()


def _idx_images(spec: str, root: str) -> Dataset:
    """`mnist:PATH` — PATH is an IDX image file, or a folder holding *-images-idx3-ubyte[.gz]."""
    path = Path(root)
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if "images-idx3-ubyte" in p.name and "train" in p.name)
        found = found or sorted(p for p in path.iterdir() if "images-idx3-ubyte" in p.name)
        if not found:
            raise UsageError(f"{spec}: no *-images-idx3-ubyte[.gz] file in {path}")
        path = found[0]
    images = read_idx(path)
    if images.ndim != 3:
        raise UsageError(f"{spec}: {path} holds {images.ndim}-D data, not a stack of images")
    return Dataset(images[:, None])


def _folder(spec: str, root: str, size: int, channels: int) -> Dataset:
    from PIL import Image, UnidentifiedImageError

    path = Path(root)
    if not path.is_dir():
        raise UsageError(f"{spec}: no such folder")
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UsageError(f"{spec}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {path}")
    images = []
    for file in files:
        try:
            with Image.open(file) as im:
                im = im.convert("RGB" if channels == 3 else "L").resize((size, size), Image.Resampling.BILINEAR)
                images.append(np.asarray(im))
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            raise UsageError(f"{spec}: {file} is not a readable image") from None
    array = np.stack(images)
    return Dataset(array.transpose(0, 3, 1, 2) if channels == 3 else array[:, None])


def load(spec: str, *, resolution: int = 64, channels: int = 1, subset: dict | None = None,
         binarize: bool = False) -> Dataset:
    """Load data by its spec: shapes, mnist:PATH, fashion-mnist:PATH or folder:PATH.

    `resolution` applies to shapes (64, or 32/16 as coverage averages) and folders (resized);
    `subset` (or the spec `shapes:shape=2,scale=4-5`) selects shapes by factor index; `binarize`
    thresholds every pixel at half its full value (0/1 images, like the 64 px shapes).
    """
    data = _load(spec, resolution, channels, subset)
    if binarize and data.max_value > 1:
        data.images = (data.images >= (data.max_value + 1) // 2).astype(np.uint8)  # 255 → on from 128 = 0.502
        data.max_value = 1
    return data


def _load(spec: str, resolution: int, channels: int, subset: dict | None) -> Dataset:
    kind, _, root = spec.partition(":")
    if kind == "shapes" and root:  # shapes:scale=5,orientation=0-9 — a subset by factor index
        subset = dict(subset or {})
        for item in root.split(","):
            name, eq, value = item.partition("=")
            lo, dash, hi = value.partition("-")
            if not eq or not lo.isdigit() or (dash and not hi.isdigit()):
                raise UsageError(f"bad shapes subset {item!r} in {spec!r}; write e.g. shapes:shape=2,scale=3-5")
            subset[name.strip()] = list(range(int(lo), int(hi) + 1)) if dash else int(lo)
    if kind == "shapes":
        if 64 % resolution:
            raise UsageError(f"shapes resolution must divide 64 (64, 32, 16, 8), not {resolution}")
        try:
            index = shapes.select(**(subset or {}))
        except ValueError as e:
            raise UsageError(f"shapes subset: {e}") from None
        images = shapes.images_of(index, resolution)
        return Dataset(images[:, None], shapes.factors_of(index), 1 if resolution == 64 else 255)
    if not root and kind in ("mnist", "fashion-mnist", "folder"):
        raise UsageError(f"data {spec!r} needs a path: {kind}:PATH")
    if kind in ("mnist", "fashion-mnist"):
        return _idx_images(spec, root)
    if kind == "folder":
        return _folder(spec, root, resolution, channels)
    raise UsageError(f"unknown data {spec!r}; choose shapes, mnist:PATH, fashion-mnist:PATH or folder:PATH")
