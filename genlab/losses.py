"""The VAE's math as pure functions, written once (Kingma & Welling 2014; Burda et al. 2016).

    ELBO(x) = E_q(z|x)[log p(x|z)] − KL(q(z|x) ‖ N(0, I))
    IWAE_k(x) = E[ log (1/k) Σ_i p(x, z_i) / q(z_i|x) ],  z_i ~ q(z|x);  ELBO = IWAE_1 ≤ IWAE_k ≤ log p(x)

Shapes: B batch, D latent dimensions, K importance samples. All log-densities are in nats.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


def kl_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) ‖ N(0, I)) per dimension, (B, D): ½ (mu² + σ² − log σ² − 1)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0)


def log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))) summed over the last dimension."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


def log_standard_normal(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last dimension."""
    return -0.5 * (LOG_2PI + z.pow(2)).sum(-1)


def log_bernoulli(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log p(x | logits) of a Bernoulli decoder, summed over all but the batch dimension.

    x may hold fractional values in [0, 1] (down-scaled images): then this is the cross-entropy
    term, not a normalised log-likelihood.
    """
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """z = mu + σ ε, ε ~ N(0, I): a sample whose gradient flows to mu and logvar."""
    return mu + (0.5 * logvar).exp() * torch.randn_like(mu)


def iwae_bound(log_weights: torch.Tensor) -> torch.Tensor:
    """log (1/K) Σ_k w_k from log-weights (B, K) = log p(x, z_k) − log q(z_k|x); returns (B,)."""
    return torch.logsumexp(log_weights, dim=1) - math.log(log_weights.shape[1])


def log_likelihood(decoder: str, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """log p(x|z) per image (B,) of a `bernoulli` decoder (out = logits) or a unit-variance `gaussian` one."""
    if decoder == "bernoulli":
        return log_bernoulli(x, out)
    return -0.5 * ((x - out).pow(2) + LOG_2PI).flatten(1).sum(1)


def decoder_image(decoder: str, out: torch.Tensor) -> torch.Tensor:
    """The decoder's output as an image in [0, 1]: sigmoid of Bernoulli logits, clamped Gaussian means."""
    return torch.sigmoid(out) if decoder == "bernoulli" else out.clamp(0, 1)
