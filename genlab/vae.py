"""Variational autoencoder (Kingma & Welling 2014) with a Bernoulli or Gaussian decoder.

    q(z|x) = N(mu(x), diag(exp(logvar(x)))),  p(z) = N(0, I),  p(x|z) = Bernoulli(σ(f(z))) or N(f(z), I)
    loss = −E_q[log p(x|z)] + β · KL(q(z|x) ‖ p(z))        (β = 1: the negative ELBO, in nats per image)

The encoder and decoder (`conv_autoencoder`, shared with the autoencoder) are the conv builders of
`labcore`: 4×4 kernels with stride 2, one layer per halving down to 4×4, then a 256-unit layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from genlab.losses import (
    decoder_image,
    iwae_bound,
    kl_normal,
    log_likelihood,
    log_normal,
    log_standard_normal,
    reparameterize,
)
from labcore.config import check
from labcore.nets import conv_decoder, conv_encoder, mlp, start_size


@dataclass
class VAEConfig:
    latent_dim: int = 10
    """Size of z."""
    beta: float = 1.0
    """Weight of the KL term (1 = the ELBO)."""
    decoder: Literal["bernoulli", "gaussian"] = "bernoulli"
    """Likelihood p(x|z): bernoulli (binary-ish images) or gaussian (unit variance)."""

    def __post_init__(self):
        check(self.latent_dim > 0, "latent_dim", "must be > 0")
        check(self.beta >= 0, "beta", "must be >= 0")


def conv_arch(resolution: int, channels: int) -> tuple[list[int], list[int], int]:
    """Encoder channels (one stride-2 layer per halving down to 4×4, or 7×7 for 28 px), the mirrored
    decoder's, and that smallest size."""
    s, n = start_size(resolution)
    enc = [32] * (n - 1) + [64]
    return enc, [32] * (n - 1) + [channels], s


def conv_autoencoder(channels: int, resolution: int, code_dim: int, latent_dim: int) -> tuple[nn.Module, nn.Module]:
    """(encoder: image → code_dim, decoder: latent_dim → image-shaped output), mirrored conv stacks."""
    enc, dec, s0 = conv_arch(resolution, channels)
    k, s, p = [4] * len(enc), [2] * len(enc), [1] * len(enc)  # each layer halves the size
    torso, flat = conv_encoder((channels, resolution, resolution), enc, k, s, padding=p)
    encoder = nn.Sequential(torso, nn.Linear(flat, 256), nn.ReLU(), nn.Linear(256, code_dim))
    decoder = nn.Sequential(mlp(latent_dim, [256]), conv_decoder(256, (64, s0, s0), dec, k, s, padding=p))
    return encoder, decoder


class VAE(nn.Module):
    def __init__(self, cfg: VAEConfig, channels: int, resolution: int):
        super().__init__()
        self.cfg = cfg
        self.encoder, self.decoder = conv_autoencoder(channels, resolution, 2 * cfg.latent_dim, cfg.latent_dim)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # (B, C, H, W) → 2 × (B, D)
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def code(self, x: torch.Tensor) -> torch.Tensor:
        """The mean representation mu(x), (B, D)."""
        return self.encode(x)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder output: logits (Bernoulli) or means (Gaussian), (B, C, H, W)."""
        return self.decoder(z)

    def log_likelihood(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:  # (B,)
        return log_likelihood(self.cfg.decoder, x, out)

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar)
        recon = -self.log_likelihood(x, self.decode(z)).mean()
        kl = kl_normal(mu, logvar).sum(1).mean()
        total = recon + self.cfg.beta * kl
        return total, {"loss/total": total.item(), "loss/recon": recon.item(), "loss/kl": kl.item()}

    def image(self, out: torch.Tensor) -> torch.Tensor:
        return decoder_image(self.cfg.decoder, out)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = next(self.parameters()).device
        z = torch.randn(n, self.cfg.latent_dim, generator=generator).to(device)
        return self.image(self.decode(z))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.image(self.decode(self.encode(x)[0]))

    @torch.no_grad()
    def elbo_and_iwae(self, x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-image ELBO (k = 1, averaged over the k samples) and IWAE_k bound on log p(x), (B,) each."""
        mu, logvar = self.encode(x)
        log_w = []
        for i in range(x.shape[0]):  # one image at a time: k decoder passes
            z = reparameterize(mu[i].expand(k, -1), logvar[i].expand(k, -1))  # (k, D)
            log_px_z = self.log_likelihood(x[i].expand(k, *x.shape[1:]), self.decode(z))
            log_w.append(log_px_z + log_standard_normal(z) - log_normal(z, mu[i], logvar[i]))
        log_w = torch.stack(log_w)  # (B, k)
        return log_w.mean(1), iwae_bound(log_w)

    def evaluate(self, x: torch.Tensor, k: int) -> dict[str, float]:
        """Held-out ELBO and IWAE_k bound, nats per image."""
        elbo, iwae = self.elbo_and_iwae(x, k)
        return {"elbo": float(elbo.mean()), "iwae": float(iwae.mean()), "iwae_k": k, "images": len(x)}
