"""GAN on images (Goodfellow et al. 2014) with DCGAN networks (Radford et al. 2016), and two published variants.

The game, its losses and the averaged generator are `genlab.adversarial`'s; here are the players. D outputs a
logit (no sigmoid) for images in [0, 1], which it sees as 2x − 1; G ends in a sigmoid. Options: spectral norm or
batch norm in D (`d_norm`; Miyato et al. 2018), CoordConv channels in G and D (Liu et al. 2018), a
minibatch-std feature in D (Karras et al. 2018), and a spatial-transformer generator (`g_arch = transformer`:
a glyph drawn by the DCGAN generator in its own frame, placed by a pose read off z; `TransformerGenerator`).

    infogan   (Chen et al. 2016) z = (c, ε) with c a uniform one-hot category; a head Q on D's conv stack
              guesses c from the image, and D and G both add λ · CE(Q(G(z)), c): the category must show.
    vae-gan   (Larsen et al. 2016) an encoder q(z|x) is trained with G as its decoder, and G's loss adds the
              weighted negative ELBO of the real batch, so that G also learns from every pixel of real images.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genlab.adversarial import Adversarial
from genlab.config import GANConfig, InfoGANConfig, VAEGANConfig
from genlab.gan_nets import TransformerGenerator, discriminator, generator
from genlab.images import grid
from genlab.losses import kl_normal, log_bernoulli, reparameterize


class GAN(Adversarial):
    def __init__(self, cfg: GANConfig, channels: int, resolution: int, categories: int = 0):
        """`categories`: one-hot entries of z before its Gaussian part (InfoGAN's code), each also a D output."""
        z_dim = categories + cfg.latent_dim
        if cfg.g_arch == "transformer":  # the category reaches the glyph only: it chooses what is drawn
            g = TransformerGenerator(z_dim, channels, resolution, cfg.g_channels, cfg.coord_conv, glyph_only=categories)
        else:
            g = generator(z_dim, channels, resolution, cfg.g_channels, cfg.coord_conv)
        norm = cfg.d_norm if cfg.d_norm != "auto" else ("none" if cfg.gan_loss == "wgan-gp" else "batch")
        d = discriminator(channels, resolution, cfg.d_channels, norm, cfg.coord_conv, cfg.minibatch_std,
                          outputs=1 + categories)
        super().__init__(cfg, g, d)

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z (n, latent_dim) ~ N(0, I)."""
        return torch.randn(n, self.cfg.latent_dim, generator=generator).to(next(self.parameters()).device)

    def images(self, g: nn.Module, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(g(z))

    def discriminate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """D's logit (B,) for images x in [0, 1]."""
        return self.discriminator(2 * x - 1), None


class InfoGAN(GAN):
    """InfoGAN (module docstring): D has `categories` more outputs, the logits of Q(c|x)."""

    def __init__(self, cfg: InfoGANConfig, channels: int, resolution: int):
        super().__init__(cfg, channels, resolution, categories=cfg.categories)

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z (n, categories + latent_dim): a uniform one-hot category, then N(0, I)."""
        z = torch.randn(n, self.cfg.latent_dim, generator=generator)
        c = torch.randint(self.cfg.categories, (n,), generator=generator)
        return torch.cat([F.one_hot(c, self.cfg.categories).float(), z], dim=1).to(next(self.parameters()).device)

    def discriminate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """D's logit (B,) for images x in [0, 1], and Q's category logits (B, K)."""
        out = self.discriminator(2 * x - 1)
        return out[:, 0], out[:, 1:]

    def info_loss(self, q_logits: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The cross-entropy of Q's guess against the category in z's one-hot part."""
        return F.cross_entropy(q_logits, z[:, :self.cfg.categories].argmax(1))

    def d_terms(self, loss_d, q_fake, z):
        info = self.info_loss(q_fake, z)
        return loss_d + self.cfg.info_weight * info, {"loss/info_d": info.item()}

    def g_terms(self, loss_g, q_fake, z, real):
        info = self.info_loss(q_fake, z)
        return loss_g + self.cfg.info_weight * info, {"loss/info": info.item()}


class VAEGAN(GAN):
    """VAE-GAN (module docstring): the encoder is D's conv stack design, with batch norm; G's optimiser steps it."""

    can_reconstruct = True

    def __init__(self, cfg: VAEGANConfig, channels: int, resolution: int):
        super().__init__(cfg, channels, resolution)
        self.encoder = discriminator(channels, resolution, cfg.d_channels, "batch", cfg.coord_conv,
                                     outputs=2 * cfg.latent_dim)
        self.optimizers = self.player_optimizers([*self.generator.parameters(), *self.encoder.parameters()])

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, log σ²) of q(z|x) for images x (B, C, r, r) in [0, 1], each (B, latent)."""
        return self.encoder(2 * x - 1).chunk(2, dim=1)

    def vae_terms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(−E_q log p(x|z), KL(q(z|x) ‖ N(0, I))), each the batch mean in nats per image, with G as
        the Bernoulli decoder and one reparameterised z per image."""
        mu, logvar = self.encode(x)
        recon = -log_bernoulli(x, self.generator(reparameterize(mu, logvar))).mean()
        return recon, kl_normal(mu, logvar).sum(1).mean()

    def g_terms(self, loss_g, extra, z, real):
        # a separate G pass on the last D step's real batch: its batch-norm statistics are the codes', not the prior's
        recon, kl = self.vae_terms(real)
        loss_g = loss_g + self.cfg.recon_weight * (recon + self.cfg.recon_beta * kl)
        return loss_g, {"loss/recon": recon.item(), "loss/kl": kl.item()}

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Images x (B, C, r, r) in [0, 1] through the encoder's mean code and the averaged generator."""
        return self.generate(self.encode(x)[0])

    @torch.no_grad()
    def figures(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        images, histograms = super().figures(x)
        return {**images, "reconstructions": grid(torch.cat([x, self.reconstruct(x)]), 8)}, histograms
