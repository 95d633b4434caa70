"""The GAN's networks: the DCGAN generator and discriminator (Radford et al. 2016), the spatial-transformer
generator that places a glyph by a pose read off z, and the CoordConv and minibatch-std layers they can use."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from labcore.nets import start_size


class AddCoords(nn.Module):
    """CoordConv (Liu et al. 2018): append the pixel's x and y in [−1, 1] as two channels, so a conv can
    place things by position (translation-equivariant convs cannot know where they are)."""

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) → (B, C + 2, H, W)
        b, _, height, width = h.shape
        y = torch.linspace(-1, 1, height, device=h.device).view(1, 1, height, 1).expand(b, 1, height, width)
        x = torch.linspace(-1, 1, width, device=h.device).view(1, 1, 1, width).expand(b, 1, height, width)
        return torch.cat([h, x, y], dim=1)


class MinibatchStd(nn.Module):
    """Append the batch's feature standard deviation as one more channel (Karras et al. 2018): in groups of
    `group` samples, the std of every feature over the group, averaged to one number per group. A
    generator that makes the same image again and again shows a small std, which D can then see."""

    def __init__(self, group: int = 4):
        super().__init__()
        self.group = group

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) → (B, C + 1, H, W)
        b, c, height, width = h.shape
        g = self.group if b % self.group == 0 else 1 if b == 1 else math.gcd(b, self.group)
        std = h.view(g, -1, c, height, width).var(0, unbiased=False).add(1e-8).sqrt()  # (B/g, C, H, W)
        feature = std.mean(dim=(1, 2, 3)).view(-1, 1, 1, 1).repeat(g, 1, height, width)  # (B, 1, H, W)
        return torch.cat([h, feature], dim=1)


def generator(latent_dim: int, channels: int, resolution: int, width: int, coords: bool = False) -> nn.Sequential:
    """z (B, latent) → logits (B, C, r, r): linear to (width·2^(n−1), s, s), then n stride-2 transposed convs."""
    s, n = start_size(resolution)
    widths = [width * 2 ** (n - 1 - i) for i in range(n)]  # e.g. 256, 128, 64
    extra, add = (2, [AddCoords()]) if coords else (0, [])
    layers: list[nn.Module] = [nn.Linear(latent_dim, widths[0] * s * s), nn.Unflatten(1, (widths[0], s, s)),
                               nn.BatchNorm2d(widths[0]), nn.ReLU()]
    for w_in, w_out in zip(widths, widths[1:]):
        layers += [*add, nn.ConvTranspose2d(w_in + extra, w_out, 4, 2, 1, bias=False), nn.BatchNorm2d(w_out), nn.ReLU()]
    layers += [*add, nn.ConvTranspose2d(widths[-1] + extra, channels, 4, 2, 1)]
    return nn.Sequential(*layers)


def pose_matrix(cos: torch.Tensor, sin: torch.Tensor, scale: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The sampling matrix (B, 2, 3) of a pose (θ as cos, sin; scale s; shift t (B, 2)): it maps canvas points p
    to the glyph's frame, q = A p + b = R(−θ)(p − t)/s, both in [−1, 1]² coordinates."""
    rot = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], 1)  # R(−θ), (B, 2, 2)
    a = rot / scale.view(-1, 1, 1)
    return torch.cat([a, -(a @ t.unsqueeze(-1))], 2)


def warp(glyph: torch.Tensor, matrix: torch.Tensor, size: int) -> torch.Tensor:
    """Glyph logits (B, C, g, g) sampled bilinearly on a size × size canvas through `pose_matrix` rows (B, 2, 3):
    canvas(p) = glyph(A p + b), a spatial transformer (Jaderberg et al. 2015). Outside its frame the glyph is
    background."""
    # the glyph gets a 1-pixel frame of background (logit −10), which "border" sampling then repeats
    # outside it; the padded glyph is (g + 2)/g times as wide in the sampler's [−1, 1] coordinates
    n, c, g, _ = glyph.shape
    padded = F.pad(glyph, (1, 1, 1, 1), value=-10.0)
    grid = F.affine_grid(matrix * (g / (g + 2)), [n, c, size, size], align_corners=False)
    return F.grid_sample(padded, grid, mode="bilinear", padding_mode="border", align_corners=False)


def place(glyph: torch.Tensor, u: torch.Tensor, start_scale: float) -> torch.Tensor:
    """Warp glyph logits (B, C, g, g) onto a g × g canvas by the pose u (B, 5) — rotation θ from (1 + u0, u1),
    scale start_scale·exp(u2), shift tanh(u3, u4) — with a spatial transformer (`warp`):

        canvas(p) = glyph(R(−θ) (p − t) / s)          p, t in [−1, 1]² canvas coordinates
    """
    cos, sin = 1 + u[:, 0], u[:, 1]
    norm = torch.sqrt(cos**2 + sin**2 + 1e-8)
    matrix = pose_matrix(cos / norm, sin / norm, start_scale * torch.exp(u[:, 2]), torch.tanh(u[:, 3:5]))
    return warp(glyph, matrix, glyph.shape[-1])


class TransformerGenerator(nn.Module):
    """z → a glyph drawn by the DCGAN generator in its own frame, then placed on the canvas by a pose that a
    small MLP reads off z (`place`). Position, size and orientation are then exact geometric operations
    rather than something the conv stack has to draw, and at s < 1 the glyph is drawn at a finer resolution
    than the canvas shows it. The first `glyph_only` entries of z (the categorical code) reach the glyph alone:
    a category can then change what is drawn, never where or how large."""

    def __init__(self, latent_dim: int, channels: int, resolution: int, width: int, coords: bool = False,
                 start_scale: float = 0.5, glyph_only: int = 0):
        super().__init__()
        self.glyph = generator(latent_dim, channels, resolution, width, coords)
        self.pose = nn.Sequential(nn.Linear(latent_dim - glyph_only, 128), nn.ReLU(), nn.Linear(128, 5))
        nn.init.zeros_(self.pose[-1].weight)  # start at θ = 0, s = start_scale, t = 0 for every z
        nn.init.zeros_(self.pose[-1].bias)
        self.start_scale, self.glyph_only = start_scale, glyph_only

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return place(self.glyph(z), self.pose(z[:, self.glyph_only:]), self.start_scale)


def discriminator(channels: int, resolution: int, width: int, norm: str, coords: bool = False,
                  mbstd: bool = False, outputs: int = 1) -> nn.Sequential:
    """x (B, C, r, r) → logit (B,) through n stride-2 4×4 convs, one per halving of the resolution (Radford et al.
    2016), then linear (or → (B, outputs) when outputs > 1: InfoGAN's Q head, the VAE-GAN's encoder). Leaky ReLU
    throughout; batch norm, if chosen, on every conv but the first."""
    if norm not in ("batch", "spectral", "none"):
        raise ValueError(f"discriminator: norm must be batch, spectral or none, not {norm!r}")
    s, n = start_size(resolution)
    sn = spectral_norm if norm == "spectral" else (lambda m: m)
    extra, add = (2, [AddCoords()]) if coords else (0, [])
    layers: list[nn.Module] = []
    c = channels
    for i in range(n):
        w = width * 2**i
        layers += [*add, sn(nn.Conv2d(c + extra, w, 4, 2, 1))]
        if norm == "batch" and i > 0:
            layers.append(nn.BatchNorm2d(w))
        layers.append(nn.LeakyReLU(0.2))
        c = w
    if mbstd:
        layers.append(MinibatchStd())
        c += 1
    layers += [nn.Flatten(), sn(nn.Linear(c * s * s, outputs))]
    if outputs == 1:
        layers.append(nn.Flatten(0))
    return nn.Sequential(*layers)
