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


# --- Disentangling objectives: the KL's decomposition (Chen et al. 2018) and FactorVAE's permutation ---
#
#   E_p(x)[KL(q(z|x) ‖ p(z))] = I_q(x; z) + KL(q(z) ‖ Π_d q(z_d)) + Σ_d KL(q(z_d) ‖ p(z_d))
#                                 mutual information   total correlation   dimension-wise KL
#
# q(z) = (1/N) Σ_n q(z|x_n) is the aggregate posterior over the N training images; it is estimated on a
# minibatch of B of them, each sample z_i ~ q(z|x_i) scored under every q(·|x_j) of the batch.


def log_density_matrix(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log q(z_i,d | x_j) for every sample i, batch member j and dimension d: (B, B, D)."""
    z, mu, logvar = z[:, None], mu[None], logvar[None]
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp())


def log_importance_weights(batch: int, dataset_size: int, estimator: str) -> torch.Tensor:
    """log w_ij: the weight of q(z_i | x_j) in the estimate q(z_i) ≈ Σ_j w_ij q(z_i | x_j), (B, B).

    mws (minibatch weighted sampling): w_ij = 1 / (N B), Chen et al.'s first estimator (biased).
    mss (minibatch stratified sampling): with M = B − 1 other images, the image's own term weighs 1/N, one
    other (i + 1 mod B) (N − M) / (N M) and the remaining M − 1 weigh 1/M each — an unbiased estimate of q(z_i)
    when the others are drawn without replacement from the rest of the data (Chen et al. 2018, App. C.2).
    """
    n, m = dataset_size, batch - 1
    if estimator == "mws":
        return torch.full((batch, batch), -math.log(n * batch))
    if estimator != "mss":
        raise ValueError(f"unknown estimator {estimator!r}: mws or mss")
    if m < 1 or n <= m:
        raise ValueError(f"mss needs 2 <= batch <= dataset size, not batch {batch} of {n}")
    w = torch.full((batch, batch), 1.0 / m)
    idx = torch.arange(batch)
    w[idx, (idx + 1) % batch] = (n - m) / (n * m)
    w[idx, idx] = 1.0 / n
    return w.log()


def kl_decomposition(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, dataset_size: int,
                     estimator: str = "mss") -> dict[str, torch.Tensor]:
    """Per-sample Monte Carlo terms of the KL's decomposition, (B,) each, for z ~ q(z|x) of the batch:

        mi     = log q(z|x) − log q(z)             (index-code mutual information)
        tc     = log q(z) − Σ_d log q(z_d)         (total correlation)
        dim_kl = Σ_d log q(z_d) − log p(z)         (dimension-wise KL)

    Their sum is log q(z|x) − log p(z), the single-sample KL estimate. log q(z) and log q(z_d) use the
    minibatch estimator `estimator` (mss or mws) over a data set of `dataset_size` images.
    """
    log_qz_x = log_density_matrix(z, mu, logvar)  # (B, B, D)
    log_w = log_importance_weights(len(z), dataset_size, estimator).to(z)  # (B, B)
    log_qz = torch.logsumexp(log_w + log_qz_x.sum(2), dim=1)  # (B,)
    log_qz_dims = torch.logsumexp(log_w[:, :, None] + log_qz_x, dim=1).sum(1)  # Σ_d log q(z_d), (B,)
    log_qz_given_x = log_normal(z, mu, logvar)
    log_pz = log_standard_normal(z)
    return {"mi": log_qz_given_x - log_qz, "tc": log_qz - log_qz_dims, "dim_kl": log_qz_dims - log_pz}


def permute_dims(z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shuffle each dimension of z (B, D) independently across the batch: a sample of Π_d q(z_d) when z is
    a sample of q(z) (FactorVAE, Kim & Mnih 2018)."""
    b, d = z.shape
    order = torch.argsort(torch.rand(b, d, generator=generator).to(z.device), dim=0)
    return torch.gather(z, 0, order)
