"""Autoencoder: an encoder compresses x to a low-dimensional code z, a decoder reconstructs x from it.

    z = f(x),  x̂ = g(z),  loss = −log p(x | g(f(x)))    (Bernoulli: binary cross-entropy; Gaussian: ½‖x − x̂‖²)

The encoder and decoder (`conv_autoencoder`, shared with the VAE) are the conv builders of `labcore`: 4×4
kernels with stride 2, one layer per halving down to 4×4 (7×7 for 28 px), then a 256-unit layer. The code is
deterministic and there is no prior, so nothing to sample; on shapes the code is scored for disentanglement.
"""

from __future__ import annotations

import torch
from torch import nn

from genlab.config import AEConfig
from genlab.images import grid
from genlab.losses import decoder_image, log_likelihood
from labcore.nets import conv_decoder, conv_encoder, mlp, start_size
from labcore.optim import make_optimizer
from labcore.optim import step as optimizer_step


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


class AE(nn.Module):
    can_sample, can_reconstruct, has_code = False, True, True
    batches_per_step = 1
    edits_weights_from_data = False

    def __init__(self, cfg: AEConfig, channels: int, resolution: int):
        super().__init__()
        self.cfg = cfg
        self.encoder, self.decoder = conv_autoencoder(channels, resolution, cfg.latent_dim, cfg.latent_dim)
        self.optimizers = {"ae": make_optimizer(cfg.optimizer, self.parameters(), cfg.learning_rate)}

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

    def update(self, x: torch.Tensor, step: int) -> dict[str, float]:
        loss, metrics = self.loss(x)
        optimizer_step(self.optimizers["ae"], loss, self.cfg.max_grad_norm)
        return metrics

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.image(self.decode(self.encode(x)))

    @torch.no_grad()
    def figures(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        return ({"reconstructions": grid(torch.cat([x, self.reconstruct(x)]), 8)}, {"latent/code": self.code(x)})

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor) -> dict[str, float]:
        """Held-out reconstruction error: −log p(x|x̂) in nats per image, and mean squared error per pixel."""
        out = self.decode(self.encode(x))
        return {"recon_nats": float(-log_likelihood(self.cfg.decoder, x, out).mean()),
                "mse": float((self.image(out) - x).pow(2).mean()), "images": len(x)}
