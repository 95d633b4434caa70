"""Autoencoder: an encoder compresses x to a low-dimensional code z, a decoder reconstructs x from it.

    z = f(x),  x̂ = g(z),  loss = −log p(x | g(f(x)))    (Bernoulli: binary cross-entropy; Gaussian: ½‖x − x̂‖²)

Same conv encoder and decoder as the VAE, with a deterministic code and no prior, so nothing to sample.
"""

from __future__ import annotations

import torch
from torch import nn

from genlab.losses import decoder_image, log_likelihood
from genlab.vae import VAEConfig, conv_autoencoder


class AE(nn.Module):
    can_reconstruct = True

    def __init__(self, cfg: VAEConfig, channels: int, resolution: int):
        super().__init__()
        self.cfg = cfg
        self.encoder, self.decoder = conv_autoencoder(channels, resolution, cfg.latent_dim, cfg.latent_dim)

    def encode(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) → (B, D)
        return self.encoder(x)

    code = encode

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def image(self, out: torch.Tensor) -> torch.Tensor:
        return decoder_image(self.cfg.decoder, out)

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        recon = -log_likelihood(self.cfg.decoder, x, self.decode(self.encode(x))).mean()
        return recon, {"loss/total": recon.item(), "loss/recon": recon.item()}

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.image(self.decode(self.encode(x)))

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, k: int = 0) -> dict[str, float]:
        """Held-out reconstruction error: −log p(x|x̂) in nats per image, and mean squared error per pixel."""
        out = self.decode(self.encode(x))
        return {"recon_nats": float(-log_likelihood(self.cfg.decoder, x, out).mean()),
                "mse": float((self.image(out) - x).pow(2).mean()), "images": len(x)}
