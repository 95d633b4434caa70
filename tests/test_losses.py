"""The VAE math against closed forms and brute force."""

import math

import torch

from genlab.losses import iwae_bound, kl_normal, log_bernoulli, log_normal, log_standard_normal, reparameterize


def test_kl_normal_closed_form():
    mu, logvar = torch.tensor([[0.0, 1.0, -2.0]]), torch.tensor([[0.0, math.log(4.0), math.log(0.25)]])
    # KL(N(μ, σ²) ‖ N(0, 1)) = log(1/σ) + (σ² + μ²)/2 − ½
    expected = [0.0, math.log(1 / 2) + (4 + 1) / 2 - 0.5, math.log(2) + (0.25 + 4) / 2 - 0.5]
    assert torch.allclose(kl_normal(mu, logvar), torch.tensor([expected]), atol=1e-6)


def test_kl_matches_monte_carlo():
    torch.manual_seed(0)
    mu, logvar = torch.tensor([[0.7, -0.3]]), torch.tensor([[-0.5, 0.4]])
    z = mu + (0.5 * logvar).exp() * torch.randn(200_000, 2)
    mc = (log_normal(z, mu, logvar) - log_standard_normal(z)).mean()
    assert abs(mc.item() - kl_normal(mu, logvar).sum().item()) < 0.01


def test_log_densities():
    z = torch.tensor([[1.0, -1.0]])
    assert abs(log_standard_normal(z).item() - (-math.log(2 * math.pi) - 1.0)) < 1e-6
    assert torch.allclose(log_normal(z, torch.zeros(1, 2), torch.zeros(1, 2)), log_standard_normal(z))
    logits = torch.tensor([[0.0, 2.0]])
    x = torch.tensor([[1.0, 0.0]])
    expected = math.log(0.5) + math.log(1 - 1 / (1 + math.exp(-2.0)))
    assert abs(log_bernoulli(x, logits).item() - expected) < 1e-6


def test_reparameterize_moments_and_gradient():
    torch.manual_seed(0)
    mu = torch.full((100_000, 1), 2.0, requires_grad=True)
    logvar = torch.full((100_000, 1), math.log(9.0), requires_grad=True)
    z = reparameterize(mu, logvar)
    assert abs(z.mean().item() - 2.0) < 0.05 and abs(z.std().item() - 3.0) < 0.05
    z.sum().backward()
    assert mu.grad is not None and logvar.grad is not None


def test_iwae_bound_is_between_elbo_and_log_likelihood():
    # A 1-D model with a known evidence: p(z) = N(0,1), p(x|z) = N(z, 1) → p(x) = N(x; 0, 2).
    torch.manual_seed(0)
    x = torch.tensor(1.5)
    log_px = -0.5 * (math.log(2 * math.pi * 2) + x.item() ** 2 / 2)
    mu, logvar = torch.tensor([[0.3]]), torch.tensor([[0.0]])  # a poor q(z|x)
    bounds = []
    for k in (1, 10, 1000):
        z = mu + torch.randn(2000, k, 1)  # 2000 repeats of a k-sample estimate
        log_w = (log_standard_normal(z) + log_normal(x.expand_as(z), z, torch.zeros_like(z))
                 - log_normal(z, mu, logvar))
        bounds.append(iwae_bound(log_w).mean().item())
    assert bounds[0] < bounds[1] < bounds[2] <= log_px + 0.01
    assert abs(bounds[2] - log_px) < 0.05
    assert iwae_bound(torch.full((1, 4), -3.0)).item() == -3.0  # equal weights: the bound is that weight
