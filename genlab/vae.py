"""Variational autoencoder (Kingma & Welling 2014) with a Bernoulli or Gaussian decoder.

    q(z|x) = N(mu(x), diag(exp(logvar(x)))),  p(z) = N(0, I),  p(x|z) = Bernoulli(σ(f(z))) or N(f(z), I)
    loss = −E_q[log p(x|z)] + β · KL(q(z|x) ‖ p(z))        (β = 1: the negative ELBO, in nats per image)

Objectives that trade reconstruction for disentangled codes (`objective`), each adding to −E_q[log p(x|z)]:

    elbo        β · KL                                   β-VAE when β > 1 (Higgins et al. 2017)
    capacity    C · |KL − c(t)|, c(t) rising linearly    to capacity_max nats (Burgess et al. 2018)
    beta-tcvae  α · MI + β · TC + γ · dim-KL             the KL split in three (Chen et al. 2018)
    factor-vae  β · KL + factor_gamma · TC               TC from a discriminator on z vs dimension-shuffled z
                                                         (Kim & Mnih 2018; the `FactorVAE` class)

The encoder and decoder are the autoencoder's (`genlab.ae.conv_autoencoder`), the encoder giving 2D numbers
(mu and log σ²). On shapes the mean code mu(x) is scored for disentanglement, as the autoencoder's code is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genlab.ae import conv_autoencoder
from genlab.config import VAEConfig
from genlab.images import grid
from genlab.latents import swap, traversal
from genlab.losses import (
    decoder_image,
    iwae_bound,
    kl_decomposition,
    kl_normal,
    log_likelihood,
    log_normal,
    log_standard_normal,
    permute_dims,
    reparameterize,
)
from labcore.errors import UsageError
from labcore.nets import mlp
from labcore.optim import make_optimizer
from labcore.optim import step as optimizer_step


class VAE(nn.Module):
    can_sample, can_reconstruct, has_code = True, True, True
    batches_per_step = 1
    edits_weights_from_data = False

    def __init__(self, cfg: VAEConfig, channels: int, resolution: int, dataset_size: int = 0):
        """`dataset_size`: the training images, N of the aggregate posterior q(z) that beta-tcvae's estimator
        needs (0 for a model loaded only to sample or evaluate)."""
        super().__init__()
        if cfg.objective == "beta-tcvae" and 0 < dataset_size <= cfg.batch_size:
            raise UsageError(f"beta-tcvae estimates q(z) over a batch drawn from the training images: it needs more "
                             f"of them ({dataset_size}) than batch_size ({cfg.batch_size})")
        self.cfg = cfg
        self.dataset_size = dataset_size
        self.encoder, self.decoder = conv_autoencoder(channels, resolution, 2 * cfg.latent_dim, cfg.latent_dim)
        self.optimizers = {"vae": make_optimizer(cfg.optimizer, self.parameters(), cfg.learning_rate)}

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

    def loss(self, x: torch.Tensor, step: int = 0) -> tuple[torch.Tensor, dict[str, float]]:
        """The objective's loss on a batch (`step` drives the capacity schedule), and its terms to log."""
        loss, metrics, _ = self._loss(x, step)
        return loss, metrics

    def _loss(self, x: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
        cfg = self.cfg
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar)
        recon = -self.log_likelihood(x, self.decode(z)).mean()
        kl = kl_normal(mu, logvar).sum(1).mean()
        metrics = {"loss/recon": recon.item(), "loss/kl": kl.item()}
        if cfg.objective == "capacity":
            target = cfg.capacity_max * min(1.0, step / cfg.capacity_steps)
            regulariser = cfg.capacity_weight * (kl - target).abs()
            metrics["loss/capacity"] = target
        elif cfg.objective == "beta-tcvae":
            if self.dataset_size <= len(x):
                raise ValueError("beta-tcvae needs the training set's size (VAE(..., dataset_size=N), N > batch)")
            terms = {k: v.mean() for k, v in
                     kl_decomposition(z, mu, logvar, self.dataset_size, cfg.tc_estimator).items()}
            regulariser = cfg.alpha * terms["mi"] + cfg.beta * terms["tc"] + cfg.gamma * terms["dim_kl"]
            metrics.update({f"loss/{k}": v.item() for k, v in terms.items()})
        else:
            regulariser = cfg.beta * kl
        total = recon + regulariser
        metrics["loss/total"] = total.item()
        return total, metrics, z

    def update(self, x: torch.Tensor, step: int) -> dict[str, float]:
        loss, metrics = self.loss(x, step)
        optimizer_step(self.optimizers["vae"], loss, self.cfg.max_grad_norm)
        return metrics

    @torch.no_grad()
    def kl_per_dim(self, x: torch.Tensor) -> torch.Tensor:
        """Mean KL(q(z_d|x) ‖ N(0, 1)) of each latent dimension over the images x, (D,): which dimensions are
        used (a dimension the code ignores carries ~0 nats)."""
        return kl_normal(*self.encode(x)).mean(0)

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

    def evaluate(self, x: torch.Tensor) -> dict[str, float]:
        """Held-out ELBO and IWAE bound (k = eval_k), nats per image."""
        k = self.cfg.eval_k
        elbo, iwae = self.elbo_and_iwae(x, k)
        return {"elbo": float(elbo.mean()), "iwae": float(iwae.mean()), "iwae_k": k, "images": len(x)}

    @torch.no_grad()
    def figures(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Samples of a fixed noise batch, reconstructions of x, a traversal of x[0]'s code and a swap of the most
        informative dimension between pairs of x; the histogram of the codes."""
        kl = self.kl_per_dim(x)
        images = {"samples": grid(self.sample(64, torch.Generator().manual_seed(self.cfg.seed)), 8),
                  "reconstructions": grid(torch.cat([x, self.reconstruct(x)]), 8),
                  "traversals": grid(traversal(self, x[0], kl, self.cfg.traversal_limit), 10)}
        pairs = min(8, len(x) // 2)  # a, b and a with b's most informative dimension
        if pairs:
            images["swap"] = grid(swap(self, x[:pairs], x[pairs:2 * pairs], kl.argsort(descending=True)[:1]), pairs)
        return images, {"latent/code": self.code(x)}


def tc_discriminator(latent_dim: int, hidden: int, layers: int) -> nn.Sequential:
    """FactorVAE's discriminator: z → 2 logits (z came from q(z), z came from Π_d q(z_d)); an MLP with
    leaky-ReLU (0.2) hidden layers, as in Kim & Mnih (2018)."""
    return mlp(latent_dim, [hidden] * layers, 2, act="leaky_relu")


def tc_estimate(logits: torch.Tensor) -> torch.Tensor:
    """The density-ratio TC estimate from the discriminator's logits on codes of q(z), (B, 2) → scalar:
    E[log D(z) / (1 − D(z))] = E[logit_0 − logit_1]."""
    return (logits[:, 0] - logits[:, 1]).mean()


class FactorVAE(VAE):
    """FactorVAE (Kim & Mnih 2018): a VAE whose loss adds factor_gamma · TC, where the total correlation
    KL(q(z) ‖ Π_d q(z_d)) is estimated by a discriminator D trained, in alternation with the VAE, to tell
    samples of q(z) from dimension-shuffled ones (the density-ratio trick):

        TC ≈ E_q(z)[log D(z) / (1 − D(z))] = E[logit_0 − logit_1]

    Each `update` takes two batches: the VAE steps on the first (with D fixed), then D steps on the first's
    codes (label 0) against the second's codes shuffled across the batch per dimension (label 1). Like the
    GAN, it owns its two optimisers.
    """

    batches_per_step = 2

    def __init__(self, cfg: VAEConfig, channels: int, resolution: int, dataset_size: int = 0):
        super().__init__(cfg, channels, resolution, dataset_size)
        self.discriminator = tc_discriminator(cfg.latent_dim, cfg.disc_hidden, cfg.disc_layers)
        self.optimizers["discriminator"] = make_optimizer("adam", self.discriminator.parameters(),
                                                          cfg.disc_learning_rate, betas=(0.5, 0.9))

    def vae_step(self, x: torch.Tensor, step: int = 0) -> tuple[torch.Tensor, dict[str, float]]:
        """One VAE update on x with D fixed; returns the sampled codes z (detached) and the loss terms."""
        loss, metrics, z = self._loss(x, step)
        tc = tc_estimate(self.discriminator(z))
        loss = loss + self.cfg.factor_gamma * tc
        optimizer_step(self.optimizers["vae"], loss, self.cfg.max_grad_norm)
        metrics.update({"loss/tc": tc.item(), "loss/total": loss.item()})
        return z.detach(), metrics

    def discriminator_step(self, z: torch.Tensor, x_other: torch.Tensor) -> dict[str, float]:
        """One D update: codes z of q(z) (label 0) against the other batch's codes, shuffled (label 1)."""
        with torch.no_grad():
            z_perm = permute_dims(reparameterize(*self.encode(x_other)))
        logits = self.discriminator(torch.cat([z, z_perm]))
        labels = torch.cat([torch.zeros(len(z)), torch.ones(len(z_perm))]).long().to(z.device)
        loss = F.cross_entropy(logits, labels)
        optimizer_step(self.optimizers["discriminator"], loss, self.cfg.max_grad_norm)
        accuracy = (logits.argmax(1) == labels).float().mean()
        return {"loss/d": loss.item(), "d/accuracy": accuracy.item()}

    def update(self, x: torch.Tensor, step: int) -> dict[str, float]:
        """x holds two batches: the VAE steps on the first half, then D on both."""
        first, second = x.chunk(2)
        z, metrics = self.vae_step(first, step)
        metrics.update(self.discriminator_step(z, second))
        return metrics
