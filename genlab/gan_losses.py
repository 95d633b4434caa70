"""The GAN objectives as pure functions, written once for the game every GAN of the lab plays (`genlab.adversarial`).

    ns:      L_D = softplus(−D(x)) + softplus(D(G(z)))       L_G = softplus(−D(G(z)))  (Goodfellow et al. 2014)
    hinge:   L_D = relu(1 − D(x)) + relu(1 + D(G(z)))         L_G = −D(G(z))            (Lim & Ye 2017)
    wgan-gp: L_D = D(G(z)) − D(x) + λ (‖∇D(x̂)‖ − 1)²         L_G = −D(G(z))            (Gulrajani et al. 2017)
    R1:      (γ/2) E‖∇D(x)‖² on real inputs                                            (Mescheder et al. 2018)

D's outputs are logits (B,); inputs are images or any (B, ...) tensors.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

Critic = Callable[[torch.Tensor], torch.Tensor]  # D as a function of its input


def d_loss(kind: str, d_real: torch.Tensor, d_fake: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    """Discriminator loss from logits on real and generated batches (B,), without the gradient penalty."""
    if kind == "ns":  # BCE with targets 1 − smoothing (real) and 0 (fake), written with softplus
        real_term = (1 - smoothing) * F.softplus(-d_real) + smoothing * F.softplus(d_real)
        return real_term.mean() + F.softplus(d_fake).mean()
    if kind == "hinge":
        return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
    return d_fake.mean() - d_real.mean()  # wgan-gp: the critic's estimate of −W(p_data, p_G)


def d_objective(cfg, critic: Critic, real: torch.Tensor, fake: torch.Tensor, d_real: torch.Tensor,
                d_fake: torch.Tensor) -> torch.Tensor:
    """D's whole loss as the config asks: `d_loss`, plus the gradient penalty (wgan-gp) through `critic`, plus R1
    (`real` must then require grad)."""
    loss = d_loss(cfg.gan_loss, d_real, d_fake, cfg.label_smoothing)
    if cfg.gan_loss == "wgan-gp":
        loss = loss + cfg.gp_weight * gradient_penalty(critic, real, fake)
    if cfg.r1_weight > 0:
        loss = loss + cfg.r1_weight / 2 * r1_penalty(d_real, real)
    return loss


def g_loss(kind: str, d_fake: torch.Tensor) -> torch.Tensor:
    """Generator loss from D's logits on generated images (B,)."""
    return F.softplus(-d_fake).mean() if kind == "ns" else -d_fake.mean()


def gradient_penalty(critic: Critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """E[(‖∇_x̂ D(x̂)‖₂ − 1)²] at random points x̂ on lines between real and generated inputs (B, ...)."""
    eps = torch.rand(real.shape[0], *[1] * (real.dim() - 1), device=real.device)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def r1_penalty(d_real: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """E‖∇_x D(x)‖² on real images (x must require grad): pushes D flat on the data, so the game converges."""
    (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
    return grad.flatten(1).pow(2).sum(1).mean()
