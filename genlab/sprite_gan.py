"""Sprite GAN: a GAN played in the code space of a transformation-invariant sprite autoencoder.

Images of a few rigid objects at any position, size and angle (the `shapes` data) are hard for a
convolutional generator to draw exactly (`genlab.gan`: corners come out rounded, large shapes ragged).
Here the drawing is exact by construction and the GAN learns only *which* object goes *where*:

    stage 1 (sprite_steps): learn K sprites T_k (logit images in their own frame) by reconstruction,
        x̂ = place(T_k, θ, s, t)       t = centroid of x, s ∝ √(mass of x)   (image moments, Hu 1962)
        (k, θ) = argmin_{k, θ ∈ 2πj/R} BCE(x in its frame, T_k turned by θ)  (search, all pairs at once)
        min_T  BCE(x, x̂)                                                       (Frey & Jojic 2003; Monnier
                                                                              et al. 2020, DTI clustering)
    stage 2: freeze the sprites; each real image becomes a code c(x) = (k; cos θ, sin θ, log s, t).
        A GAN (Goodfellow et al. 2014) learns the codes:  G(z, k) → pose,  k ~ the codes' frequencies,
        D(pose, k) → logit, with random Fourier features of the pose (Tancik et al. 2020) so that D can
        see the fine grid of sizes and positions real codes lie on; samples are place(T_k, G(z, k)).
        With prior_sizes, (k, log s) ~ the codes' joint histogram and G(z, k, s) gives angle and position: the
        sizes lie on a grid whose gaps G's continuous map blurs, so they come from the data, as a conditional
        GAN's labels do (Mirza & Osindero 2014); D still judges the whole code.
    (a latent GAN, as Achlioptas et al. 2018, in a code whose decoder is a spatial transformer, Jaderberg
    et al. 2015)

The search compares each image, moved into its own frame, with every sprite at every one of R angles as
one matrix product: BCE(x, σ(l)) = −x·l + Σ softplus(l) summed over pixels, for the R·K logit images l. A
sprite left unused (under half its share) is re-seeded from the image the sprites explain worst, as
k-means re-seeds an empty cluster; the first sprites are drawn k-means++ style from large images.
The geometry (moments, placing, framing, turning, the all-pairs BCE) is in `genlab.sprites`; the game of
stage 2 (D steps, then a G step, the averaged G that samples) is `genlab.adversarial`'s.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genlab.adversarial import Adversarial
from genlab.config import SpriteGANConfig
from genlab.images import grid
from genlab.sprites import bce, frame_losses, into_frame, moments, place, turned
from labcore.nets import mlp
from labcore.optim import set_lr
from labcore.optim import step as optimizer_step

RESEED_EVERY = 250  # stage-1 steps between checks for unused sprites
SIZE_BINS, SIZE_RANGE = 256, 4.0  # prior_sizes: the histogram of log s spans mean ± 4 standard deviations


def code_mlp(inputs: int, width: int, outputs: int) -> nn.Sequential:
    """G's and D's network on codes: three hidden layers with leaky ReLUs (slope 0.2, as DCGAN's D)."""
    return mlp(inputs, [width] * 3, outputs, act=lambda: nn.LeakyReLU(0.2))


class SpriteGAN(Adversarial):
    """The sprite GAN (module docstring): `update` runs stage 1 for cfg.sprite_steps steps, then stage 2."""

    can_reconstruct = True  # through its sprites and the search
    edits_weights_from_data = True  # stage 1 seeds unused sprites from the batch

    def __init__(self, cfg: SpriteGANConfig, channels: int, resolution: int):
        k, given = cfg.sprites, int(cfg.prior_sizes)  # given: G's code given to it (the size), not generated
        freqs = cfg.fourier_scale * torch.randn(5, cfg.fourier_features)
        super().__init__(cfg, code_mlp(cfg.latent_dim + k + given, cfg.g_channels, 5 - given),
                         code_mlp(5 + 2 * cfg.fourier_features + k, cfg.d_channels, 1))
        self.resolution = resolution
        size = 2 * resolution  # 2r pixels across a frame narrower than the canvas: finer than the 2r canvas
        self.sprites = nn.Parameter(torch.zeros(k, channels, size, size))  # seeded from the first batch
        self.register_buffer("angles", torch.arange(cfg.sprite_angles) * (2 * math.pi / cfg.sprite_angles))
        self.register_buffer("usage", torch.zeros(k))  # stage 1: assignments since the last re-seed check
        # stage 2: the codes' frequencies of each sprite (K,), or of each (sprite, size bin) (K, SIZE_BINS): the prior
        self.register_buffer("counts", torch.zeros(k, SIZE_BINS if cfg.prior_sizes else 1).squeeze(1))
        self.register_buffer("code_sum", torch.zeros(2, 5))  # stage 1: Σ code, Σ code², to standardise codes
        self.register_buffer("code_n", torch.zeros(()))
        self.register_buffer("freqs", freqs)
        self.optimizers["sprites"] = torch.optim.Adam([self.sprites], cfg.sprite_learning_rate)

    def update(self, x: torch.Tensor, step: int) -> dict[str, float]:
        """One step: of the sprites (stage 1, the first cfg.sprite_steps), else of the GAN on codes (stage 2)."""
        return self.sprite_step(x, step) if step < self.cfg.sprite_steps else super().update(x, step)

    # ---- stage 1: the sprites ------------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (B, C, r, r) → sprite index k (B,) and pose code (B, 5) = (cos θ, sin θ, log s, tx, ty)."""
        t, scale = moments(x)
        if not len(x):  # affine_grid refuses an empty batch
            return torch.zeros(0, dtype=torch.long, device=x.device), x.new_zeros(0, 5)
        with torch.no_grad():
            best = frame_losses(into_frame(x, t, scale).flatten(1), self._turned(x.shape[-1])).argmin(1)
        k, theta = best // len(self.angles), self.angles[best % len(self.angles)]
        return k, torch.stack([torch.cos(theta), torch.sin(theta), scale.log(), t[:, 0], t[:, 1]], 1)

    @torch.no_grad()
    def _turned(self, size: int) -> torch.Tensor:
        """`turned(sprites, angles, size)`, kept while the sprites are unchanged (all of stage 2: a third of its
        step otherwise). A tensor's version counter rises with every in-place write (optimiser steps, re-seeding,
        load_state_dict), and a move to another device gives new storage, so either makes the cache stale."""
        key = (size, self.sprites._version, self.sprites.data_ptr())
        if getattr(self, "_turned_cache", (None,))[0] != key:
            self._turned_cache = (key, turned(self.sprites, self.angles, size))
        return self._turned_cache[1]

    def decode(self, k: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """Sprite indices (B,) posed by codes (B, 5) → images (B, C, r, r) in [0, 1]."""
        return place(self.sprites[k], code[:, 0], code[:, 1], code[:, 2].exp(), code[:, 3:5], self.resolution)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(*self.encode(x))

    @torch.no_grad()
    def _seed(self, x: torch.Tensor, which: list[int]) -> None:
        """Seed the sprites `which` from images of x, k-means++ style: the larger half of x moved into their frames
        (sharper there), each draw ∝ how badly the sprites so far explain it; the very first at random."""
        big = x[x.flatten(1).sum(1).argsort(descending=True)[:max(1, len(x) // 2)]]
        framed = into_frame(big, *moments(big))
        keep = [j for j in range(len(self.sprites)) if j not in which]
        for j in which:
            if keep:
                worst = frame_losses(framed.flatten(1), turned(self.sprites[keep], self.angles, x.shape[-1]))
                worst = worst.min(1).values
                pick = torch.multinomial((worst - worst.min()).clamp(min=1e-6), 1).item()
            else:
                pick = torch.randint(len(big), ()).item()
            up = F.interpolate(framed[pick:pick + 1], size=self.sprites.shape[-2:], mode="bilinear")
            self.sprites[j] = torch.logit(up[0].clamp(0.02, 0.98))
            keep.append(j)

    def sprite_step(self, x: torch.Tensor, step: int) -> dict[str, float]:
        cfg, opt = self.cfg, self.optimizers["sprites"]
        if step == 0:
            self._seed(x, list(range(len(self.sprites))))
        # constant step size, then a linear decay over the last 30 % of stage 1: the sprites settle sharp
        set_lr(opt, cfg.sprite_learning_rate * min(1.0, (1 - step / cfg.sprite_steps) / 0.3))
        k, code = self.encode(x)
        loss = bce(self.decode(k, code), x).mean()
        optimizer_step(opt, loss)
        with torch.no_grad():
            self.usage += torch.bincount(k, minlength=len(self.usage))
            self.code_sum += torch.stack([code.sum(0), code.pow(2).sum(0)])
            self.code_n += len(x)
            if (step + 1) % RESEED_EVERY == 0:
                share = self.usage / self.usage.sum()
                unused = torch.nonzero(share < 0.5 / len(share)).flatten().tolist()
                if unused and step + 1 < 0.7 * cfg.sprite_steps:  # not while the sprites settle
                    self._seed(x, unused)
                self.usage.zero_()
        return {"loss/recon": loss.item(), "loss/total": loss.item()}

    # ---- stage 2: the GAN on codes ---------------------------------------------------------------------------
    def _stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and standard deviation (5,) of stage 1's codes: G and D work in standardised codes."""
        mean = self.code_sum[0] / self.code_n.clamp(min=1)
        return mean, (self.code_sum[1] / self.code_n.clamp(min=1) - mean**2).clamp(min=1e-6).sqrt()

    def d_input(self, x: torch.Tensor) -> torch.Tensor:
        """D's input for the real images of a training step: their codes, also counted into the prior."""
        k, code = self.encode(x)
        self._count(k, code)
        return self._joint(k, code)

    def critic(self, x: torch.Tensor) -> torch.Tensor:
        """D's logit (B,) on images (their codes), without counting them into the prior."""
        return self.discriminate(self._joint(*self.encode(x)))[0]

    def _joint(self, k: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """D's input (B, K + 5): the one-hot sprite and the pose code (WGAN-GP interpolates in this space)."""
        return torch.cat([F.one_hot(k, len(self.sprites)).float(), code], 1)

    def discriminate(self, joint: torch.Tensor) -> tuple[torch.Tensor, None]:
        """D's logit (B,) on (one-hot sprite, code): D sees the standardised code and its random Fourier features."""
        onehot, code = joint.split([len(self.sprites), 5], 1)
        mean, std = self._stats()
        u = (code - mean) / std
        proj = u @ self.freqs  # (B, F): D can then resolve the grid real sizes and positions lie on
        return self.discriminator(torch.cat([u, torch.sin(proj), torch.cos(proj), onehot], 1)).squeeze(1), None

    def _size_bins(self) -> tuple[torch.Tensor, torch.Tensor]:
        """prior_sizes: the lower edge and the width of the histogram's log-size bins (from stage 1's code stats)."""
        mean, std = self._stats()
        return mean[2] - SIZE_RANGE * std[2], 2 * SIZE_RANGE * std[2] / SIZE_BINS

    @torch.no_grad()
    def _count(self, k: torch.Tensor, code: torch.Tensor) -> None:
        """Add real codes to the prior's histogram: of sprites, or of (sprite, size bin)."""
        j = k
        if self.cfg.prior_sizes:
            low, width = self._size_bins()
            j = k * SIZE_BINS + ((code[:, 2] - low) / width).floor().clamp(0, SIZE_BINS - 1).long()
        self.counts.view(-1).index_add_(0, j, torch.ones_like(j, dtype=self.counts.dtype))

    def _prior(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Uniform numbers u (B,) → sprite k (B,) and, for prior_sizes, log size (B,) (else empty), by the inverse of
        the histogram's CDF, linear within a bin (a size anywhere in it, by where u falls in the bin's share)."""
        counts = self.counts.view(-1)
        counts = counts if counts.sum() > 0 else torch.ones_like(counts)
        cdf = torch.cumsum(counts / counts.sum(), 0)
        j = torch.searchsorted(cdf, u.contiguous(), right=True).clamp(max=len(cdf) - 1)
        if not self.cfg.prior_sizes:
            return j, u[:0]
        below = torch.where(j > 0, cdf[(j - 1).clamp(min=0)], torch.zeros_like(u))
        within = ((u - below) / (cdf[j] - below).clamp(min=1e-12)).clamp(0, 1)
        low, width = self._size_bins()
        return j // SIZE_BINS, low + (j % SIZE_BINS + within) * width

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z (n, 1 + latent_dim): a uniform number that picks the sprite (and size) by the codes' frequencies,
        then N(0, I)."""
        u = torch.rand(n, 1, generator=generator)
        return torch.cat([u, torch.randn(n, self.cfg.latent_dim, generator=generator)], 1).to(self.sprites.device)

    def _pose(self, g: nn.Module, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Noise (B, 1 + latent) → sprite k (B,) (and size) drawn from the prior, and the code (B, 5) G gives them."""
        k, size = self._prior(z[:, 0])
        mean, std = self._stats()
        given = ((size - mean[2]) / std[2]).unsqueeze(1) if self.cfg.prior_sizes else z[:, :0]
        h = g(torch.cat([z[:, 1:], F.one_hot(k, len(self.sprites)).float(), given], 1))
        if self.cfg.prior_sizes:
            h = torch.cat([h[:, :2], given, h[:, 2:]], 1)
        norm = torch.sqrt(h[:, 0] ** 2 + h[:, 1] ** 2 + 1e-8)  # the angle as a unit vector: no seam at ±π
        return k, torch.cat([torch.stack([h[:, 0] / norm, h[:, 1] / norm], 1), h[:, 2:] * std[2:] + mean[2:]], 1)

    def fake(self, g: nn.Module, z: torch.Tensor) -> torch.Tensor:
        return self._joint(*self._pose(g, z))

    def images(self, g: nn.Module, z: torch.Tensor) -> torch.Tensor:
        return self.decode(*self._pose(g, z))

    @torch.no_grad()
    def figures(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The GAN's figures, reconstructions of x, and what stage 1 has learnt: each sprite in its own frame."""
        images, histograms = super().figures(x)
        return {**images, "reconstructions": grid(torch.cat([x, self.reconstruct(x)]), 8),
                "sprites": grid(torch.sigmoid(self.sprites), len(self.sprites))}, histograms
