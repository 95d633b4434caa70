"""Sprite geometry for `genlab.sprite_gan`: an image's moments (where it is and how big), a sprite placed on the
canvas by a pose, an image moved into its own frame, every sprite turned by every angle, and the binary
cross-entropy of every (image, sprite) pair as one matrix product."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genlab.gan_nets import pose_matrix, warp

FRAME = 1.4  # a sprite's frame spans FRAME·√mass pixels on each side of its centroid: room to turn


def moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Images x (B, C, r, r) in [0, 1] → centroid t (B, 2) in [−1, 1] canvas coordinates (x right, y down)
    and the frame's half-width (B,) in the same units, proportional to √mass (so the same object at twice
    the size gets twice the frame: its sprite is size-free)."""
    r = x.shape[-1]
    ink = x.mean(1)  # (B, r, r)
    centres = torch.linspace(-1, 1, r, device=x.device) * (r - 1) / r  # pixel centres, align_corners=False
    mass = ink.sum((1, 2)).clamp(min=1e-3)
    tx = (ink.sum(1) * centres).sum(1) / mass
    ty = (ink.sum(2) * centres).sum(1) / mass
    return torch.stack([tx, ty], 1), FRAME * mass.sqrt() / (r / 2)


def place(sprite: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, scale: torch.Tensor, t: torch.Tensor,
          resolution: int) -> torch.Tensor:
    """Sprite logits (B, C, T, T) posed on a canvas → coverage (B, C, r, r) in [0, 1]: drawn at 2r and averaged
    2 × 2 after the sigmoid, the way the shapes data are rasterised. Outside its frame a sprite is empty."""
    return F.avg_pool2d(torch.sigmoid(warp(sprite, pose_matrix(cos, sin, scale, t), 2 * resolution)), 2)


def into_frame(x: torch.Tensor, t: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Each image moved into its own frame (B, C, r, r): centred on its centroid, sized by its frame."""
    eye = torch.eye(2, device=x.device).expand(len(x), 2, 2) * scale.view(-1, 1, 1)
    grid = F.affine_grid(torch.cat([eye, t.unsqueeze(-1)], 2), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def turned(sprites: torch.Tensor, angles: torch.Tensor, size: int) -> torch.Tensor:
    """Every sprite (K, C, T, T) turned by every angle (R,), resampled to size × size: logits (K·R, C·size²)."""
    k, r = len(sprites), len(angles)
    cos, sin = torch.cos(angles).repeat(k), torch.sin(angles).repeat(k)
    mat = pose_matrix(cos, sin, torch.ones_like(cos), torch.zeros(k * r, 2, device=sprites.device))
    return warp(sprites.repeat_interleave(r, 0), mat, size).flatten(1)


def frame_losses(framed: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """BCE in nats of framed images (B, P) under the pixel probabilities σ(l) of logit images (M, P): (B, M).
    BCE(x, σ(l)) = Σ_p softplus(l) − x·l exactly, so all pairs are one matrix product."""
    return F.softplus(logits).sum(1) - framed @ logits.T


def bce(p: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Bernoulli negative log-likelihood in nats per image (B,) of images x under pixel probabilities p (not
    `losses.log_bernoulli`, which takes logits: a rendered pixel is an average of four sigmoids)."""
    p = p.clamp(1e-6, 1 - 1e-6)
    return -(x * p.log() + (1 - x) * (1 - p).log()).flatten(1).sum(1)
