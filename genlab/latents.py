"""Showing what a VAE's latent dimensions mean: traversals and swaps of parts of the code.

    traversal  z = mu(x); for each dimension d (most informative first), decode z with z_d swept over
               [−limit, limit] and the others fixed: one row per dimension. A disentangled code changes one
               factor per row (position, scale, shape, …); a dimension the model does not use changes nothing.
    swap       z = mu(a) with the dimensions S taken from mu(b), decoded: a's image with b's value of whatever
               S encodes (b's position, if S is the position dimensions).

Dimensions are ranked by the KL they carry, E_x[KL(q(z_d|x) ‖ N(0, 1))]: unused ones carry ~0 nats.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from genlab.images import grid


@torch.no_grad()
def traversal(model, x: torch.Tensor, kl: torch.Tensor, limit: float = 2.5, steps: int = 10,
              dims: int | None = None) -> torch.Tensor:
    """Images (dims · steps, C, H, W): row r sweeps the r-th most informative dimension of mu(x) (x: one
    image, (C, H, W)) over `steps` values in [−limit, limit]."""
    order = kl.argsort(descending=True)[:dims]
    z = model.code(x[None]).expand(len(order) * steps, -1).clone()  # (rows · steps, D)
    sweep = torch.linspace(-limit, limit, steps, device=z.device)
    for row, d in enumerate(order):
        z[row * steps:(row + 1) * steps, d] = sweep
    return model.image(model.decode(z))


@torch.no_grad()
def swap(model, a: torch.Tensor, b: torch.Tensor, dims: torch.Tensor | list[int]) -> torch.Tensor:
    """Images (3n, C, H, W): the n images a, then b, then decode(mu(a) with the dimensions `dims` of mu(b))."""
    za, zb = model.code(a), model.code(b)
    mixed = za.clone()
    mixed[:, dims] = zb[:, dims]
    return torch.cat([a, b, model.image(model.decode(mixed))])


@torch.no_grad()
def rank_dimensions(model, x: torch.Tensor) -> torch.Tensor:
    """Latent dimensions, most informative first: by KL for a VAE, by code variance for an autoencoder."""
    score = model.kl_per_dim(x) if hasattr(model, "kl_per_dim") else model.code(x).var(0)
    return score.argsort(descending=True)


def save_traversal_gif(images: torch.Tensor, rows: int, path: Path, scale: int = 2, duration_ms: int = 120) -> None:
    """An animated GIF of a traversal (rows · steps images): frame t shows every dimension's t-th value side
    by side, played forwards then backwards."""
    steps = len(images) // rows
    frames = []
    for t in [*range(steps), *range(steps - 2, 0, -1)]:
        tile = grid(images[t::steps], nrow=rows)
        array = (tile.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
        im = Image.fromarray(array[0] if array.shape[0] == 1 else np.transpose(array, (1, 2, 0)))
        frames.append(im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST))
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=duration_ms, loop=0)
