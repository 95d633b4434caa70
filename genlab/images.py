"""Image grids (torchvision is not a dependency: its wheels do not match every torch build)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def grid(images: torch.Tensor, nrow: int | None = None, pad: int = 2) -> torch.Tensor:
    """Tile (N, C, H, W) images in [0, 1] into one (C, H', W') image, `nrow` per row, grey padding."""
    n, c, h, w = images.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    out = torch.full((c, rows * (h + pad) + pad, nrow * (w + pad) + pad), 0.5)
    for i in range(n):
        r, col = divmod(i, nrow)
        out[:, pad + r * (h + pad):pad + r * (h + pad) + h, pad + col * (w + pad):pad + col * (w + pad) + w] = images[i]
    return out


def save_png(image: torch.Tensor, path: Path, scale: int = 1) -> None:
    """Save a (C, H, W) image in [0, 1] as PNG, optionally enlarged `scale` times (nearest neighbour)."""
    array = (image.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    array = array[0] if array.shape[0] == 1 else np.transpose(array, (1, 2, 0))
    im = Image.fromarray(array)
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)
    im.save(path)
