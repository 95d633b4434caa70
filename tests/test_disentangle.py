"""Disentanglement: the KL-decomposition estimators against brute force, the metrics on synthetic codes,
one step of each objective, and the recipes (the commands: test_disentangle_cli.py)."""

import itertools
import math

import numpy as np
import pytest
import torch

from genlab import shapes
from genlab.losses import (
    kl_decomposition,
    kl_normal,
    log_density_matrix,
    log_importance_weights,
    log_normal,
    log_standard_normal,
    permute_dims,
)
from genlab.metrics import (
    FactorSpace,
    beta_vae_score,
    dci,
    dci_from_importance,
    factor_vae_score,
    mig,
    sap,
)
from genlab.models import build_config, build_model

# --- estimators ---


def _posteriors(n, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64), 0.5 * torch.randn(n, d, generator=g,
                                                                                   dtype=torch.float64)


def test_log_density_matrix_is_every_sample_under_every_posterior():
    mu, logvar = _posteriors(4, 3)
    z = torch.randn(4, 3, dtype=torch.float64)
    m = log_density_matrix(z, mu, logvar)
    assert m.shape == (4, 4, 3)
    for i, j in itertools.product(range(4), range(4)):
        assert torch.allclose(m[i, j].sum(), log_normal(z[i], mu[j], logvar[j]))


def test_stratified_estimate_of_q_z_is_unbiased_by_enumeration():
    """Over every ordered choice of the other batch members, the mean of the mss estimate of q(z) (and of each
    q(z_d)) equals the exact aggregate posterior (1/N) Σ_n q(z|x_n) of a 6-image data set."""
    n, b, d = 6, 4, 2
    mu, logvar = _posteriors(n, d, seed=1)
    z0 = torch.randn(d, dtype=torch.float64)
    exact = torch.stack([log_normal(z0, mu[k], logvar[k]) for k in range(n)]).logsumexp(0) - math.log(n)
    exact_dims = (log_density_matrix(z0[None], mu, logvar)[0].logsumexp(0) - math.log(n))  # (D,)
    log_w = log_importance_weights(b, n, "mss").double()
    assert torch.allclose(log_w.exp().sum(1), torch.ones(b, dtype=torch.float64))
    joint, dims = [], []
    for others in itertools.permutations(range(1, n), b - 1):  # image 0 holds z0; the rest are drawn
        batch = [0, *others]
        z = mu[batch].clone()
        z[0] = z0
        m = log_density_matrix(z, mu[batch], logvar[batch])[0]  # (B, D): z0 under each member
        joint.append((log_w[0] + m.sum(1)).logsumexp(0).exp())
        dims.append((log_w[0][:, None] + m).logsumexp(0).exp())
    assert torch.allclose(torch.stack(joint).mean().log(), exact, atol=1e-10)
    assert torch.allclose(torch.stack(dims).mean(0).log(), exact_dims, atol=1e-10)


def test_weighted_estimate_and_the_decomposition_sum():
    mu, logvar = _posteriors(5, 3, seed=2)
    z = mu + torch.randn(5, 3, dtype=torch.float64) * (0.5 * logvar).exp()
    terms = kl_decomposition(z, mu, logvar, dataset_size=100, estimator="mws")
    m = log_density_matrix(z, mu, logvar)
    log_qz = m.sum(2).logsumexp(1) - math.log(100 * 5)
    assert torch.allclose(terms["tc"], log_qz - (m.logsumexp(1) - math.log(500)).sum(1))
    for estimator in ("mws", "mss"):  # MI + TC + dim-KL = log q(z|x) − log p(z), the one-sample KL
        terms = kl_decomposition(z, mu, logvar, 100, estimator)
        total = terms["mi"] + terms["tc"] + terms["dim_kl"]
        assert torch.allclose(total, log_normal(z, mu, logvar) - log_standard_normal(z))
    with pytest.raises(ValueError):
        log_importance_weights(5, 4, "mss")  # the batch cannot exceed the data
    with pytest.raises(ValueError):
        log_importance_weights(5, 100, "nope")


def test_total_correlation_of_independent_codes_is_near_zero_and_of_copies_large():
    """With the whole (large) data set as the batch, the mss estimate approaches the true TC: ≈ 0 for
    independent dimensions, the Gaussian value for two noisy copies of one variable. (mws, as published,
    weighs every term 1/(N·B), which shifts the TC by the constant (D − 1)·log N: the same gradients.)"""
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(2000, 2, generator=g, dtype=torch.float64)
    logvar = torch.full_like(mu, math.log(0.01))
    z = mu + 0.1 * torch.randn(mu.shape, generator=g, dtype=torch.float64)
    independent = kl_decomposition(z, mu, logvar, 2001, "mss")["tc"].mean()
    copies = mu[:, :1].expand(-1, 2)
    z2 = copies + 0.1 * torch.randn(copies.shape, generator=g, dtype=torch.float64)
    dependent = kl_decomposition(z2, copies, logvar, 2001, "mss")["tc"].mean()
    assert abs(independent) < 0.1
    # TC of (x + e1, x + e2), x ~ N(0, 1), e ~ N(0, 0.01): −½ log(1 − ρ²) with ρ = 1 / 1.01 → 1.96 nats
    assert abs(dependent - 0.5 * -math.log(1 - (1 / 1.01) ** 2)) < 0.05


def test_permute_dims_shuffles_each_dimension_on_its_own():
    z = torch.arange(40.0).reshape(10, 4)
    p = permute_dims(z, torch.Generator().manual_seed(0))
    for d in range(4):
        assert sorted(p[:, d].tolist()) == z[:, d].tolist()
    assert not torch.equal(p, z)
    rows = {tuple(r) for r in z.tolist()}
    assert sum(tuple(r) in rows for r in p.tolist()) < 10  # rows are broken up


# --- metrics on synthetic codes ---

SPACE = FactorSpace([np.arange(s) for s in shapes.SIZES])


def _factor_code(noise=1e-3):
    def represent(rows):
        rng = np.random.default_rng(int(rows.sum()) % 2**32)
        return rows / (np.array(shapes.SIZES) - 1) + noise * rng.standard_normal(rows.shape)
    return represent


def _rotated_code():
    q = np.linalg.qr(np.random.default_rng(1).standard_normal((5, 5)))[0]
    code = _factor_code()
    return lambda rows: code(rows) @ q


def _noise_code(rows):
    return np.random.default_rng(int(rows.sum()) % 2**32).standard_normal((len(rows), 5))


def test_mig_of_the_factors_themselves_rotated_and_noise():
    rng = np.random.default_rng
    perfect = mig(_factor_code(), SPACE, rng(0))
    assert perfect["mig"] >= 0.85  # 20 bins cap orientation (40 values) and position (32) below 1
    assert perfect["mig_shape"] > 0.95 and perfect["mig_scale"] > 0.95
    rotated = mig(_rotated_code(), SPACE, rng(0))["mig"]
    assert rotated < 0.5 * perfect["mig"]
    assert mig(_noise_code, SPACE, rng(0))["mig"] < 0.05


def test_factor_vae_score_of_the_factors_rotated_and_noise():
    rng = np.random.default_rng
    perfect = factor_vae_score(_factor_code(), SPACE, rng(0), train=2000, test=1000)
    assert perfect["factor_vae"] >= 0.95 and perfect["active_dims"] == 5
    assert factor_vae_score(_rotated_code(), SPACE, rng(0), train=2000, test=1000)["factor_vae"] \
        < perfect["factor_vae"] - 0.03
    chance = factor_vae_score(_noise_code, SPACE, rng(0), train=2000, test=1000)["factor_vae"]
    assert abs(chance - 1 / 5) < 0.05
    # a code with a collapsed (constant) dimension: it is pruned and never voted for
    collapsed = factor_vae_score(lambda r: np.c_[_factor_code()(r), np.zeros(len(r))], SPACE, rng(0), 500, 500)
    assert collapsed["active_dims"] == 5 and collapsed["factor_vae"] >= 0.95


def test_beta_vae_sap_and_dci_separate_a_perfect_code_from_noise():
    rng = np.random.default_rng
    assert beta_vae_score(_factor_code(), SPACE, rng(0), 1000, 500)["beta_vae"] >= 0.95
    assert abs(beta_vae_score(_noise_code, SPACE, rng(0), 1000, 500)["beta_vae"] - 0.2) < 0.06
    assert sap(_factor_code(), SPACE, rng(0), 2000, 1000)["sap"] > 5 * sap(_noise_code, SPACE, rng(0), 2000,
                                                                          1000)["sap"] + 0.02
    good, bad = dci(_factor_code(), SPACE, rng(0), 800, 400), dci(_noise_code, SPACE, rng(0), 800, 400)
    assert good["dci_disentanglement"] > 0.9 and good["dci_completeness"] > 0.9
    assert bad["dci_disentanglement"] < 0.3 and good["dci_informativeness"] > bad["dci_informativeness"] + 0.5


def test_dci_fits_its_factors_side_by_side_exactly_as_one_by_one():
    small, threads = FactorSpace([np.arange(3), np.arange(4), np.arange(2)]), torch.get_num_threads()
    try:
        scores = []
        for n in (1, 2):
            torch.set_num_threads(n)  # dci's worker threads
            scores.append(dci(lambda rows: rows + np.random.default_rng(1).normal(size=rows.shape), small,
                              np.random.default_rng(0), 200, 100))
    finally:
        torch.set_num_threads(threads)
    assert scores[0] == scores[1]


def test_dci_from_importance_closed_forms():
    assert dci_from_importance(np.eye(4)) == pytest.approx((1.0, 1.0))
    assert dci_from_importance(np.ones((4, 4))) == pytest.approx((0.0, 0.0))
    # one dimension explains two factors equally: its row has entropy log_3(2); the other two are clean
    d, c = dci_from_importance(np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    assert d == pytest.approx(2 / 3 * (1 - math.log(2) / math.log(3)) + 1 / 3)
    assert c == pytest.approx(1.0)


def test_metrics_use_only_the_factors_that_vary():
    space = FactorSpace.of(shapes.factors_of(shapes.select(scale=5, orientation=0)))
    assert space.varying == [0, 3, 4]
    result = mig(_factor_code(), space, np.random.default_rng(0), points=2000)
    assert set(result) == {"mig", "mig_shape", "mig_pos_x", "mig_pos_y"}


# --- objectives: one step changes the right parameters ---


def _model(**values):
    cfg = build_config({"resolution": 16, "latent_dim": 4, **values})
    return build_model(cfg, 1, 16, dataset_size=1000)


def _snapshot(module):
    return [p.detach().clone() for p in module.parameters()]


def _changed(before, module):
    return [not torch.equal(a, b) for a, b in zip(before, module.parameters())]


X = (torch.rand(32, 1, 16, 16) > 0.7).float()


@pytest.mark.parametrize("objective", ["elbo", "capacity", "beta-tcvae"])
def test_one_step_of_each_vae_objective_changes_encoder_and_decoder(objective):
    torch.manual_seed(0)
    model = _model(objective=objective, beta=4.0)
    before = _snapshot(model)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    loss, metrics = model.loss(X, step=10)
    loss.backward()
    opt.step()
    assert all(_changed(before, model))
    assert metrics["loss/total"] == pytest.approx(loss.item())
    if objective == "beta-tcvae":
        assert {"loss/mi", "loss/tc", "loss/dim_kl"} <= set(metrics)


def test_capacity_target_rises_linearly_then_holds():
    model = _model(objective="capacity", capacity_max=20.0, capacity_steps=100)
    assert [model.loss(X, step)[1]["loss/capacity"] for step in (0, 50, 100, 500)] == [0.0, 10.0, 20.0, 20.0]
    torch.manual_seed(0)
    loss, metrics = model.loss(X, step=50)
    assert loss.item() == pytest.approx(metrics["loss/recon"] + 1000 * abs(metrics["loss/kl"] - 10.0), rel=1e-5)


def test_beta_tcvae_weights_its_three_terms():
    torch.manual_seed(0)
    model = _model(objective="beta-tcvae", alpha=0.5, beta=6.0, gamma=2.0)
    torch.manual_seed(1)
    loss, m = model.loss(X)
    assert loss.item() == pytest.approx(m["loss/recon"] + 0.5 * m["loss/mi"] + 6 * m["loss/tc"] + 2 * m["loss/dim_kl"],
                                        rel=1e-5)
    with pytest.raises(ValueError, match="size"):
        build_model(build_config({"objective": "beta-tcvae", "resolution": 16}), 1, 16).loss(X)


def test_factor_vae_alternates_vae_and_discriminator_steps():
    torch.manual_seed(0)
    model = _model(objective="factor-vae", disc_hidden=32, disc_layers=2)
    vae_part = torch.nn.ModuleList([model.encoder, model.decoder])
    assert model.batches_per_step == 2
    vae0, d0 = _snapshot(vae_part), _snapshot(model.discriminator)
    z, metrics = model.vae_step(X[:16])
    assert all(_changed(vae0, vae_part)) and not any(_changed(d0, model.discriminator))  # D is held fixed
    assert "loss/tc" in metrics
    vae1 = _snapshot(vae_part)
    metrics = model.discriminator_step(z, X[16:])
    assert all(_changed(d0, model.discriminator)) and not any(_changed(vae1, vae_part))
    assert 0 <= metrics["d/accuracy"] <= 1
    before = _snapshot(model)
    model.update(X, 0)
    assert all(_changed(before, model))
    assert set(model.optimizers) == {"vae", "discriminator"}


def test_kl_per_dim_is_the_mean_closed_form_kl():
    model = _model()
    mu, logvar = model.encode(X)
    assert torch.allclose(model.kl_per_dim(X), kl_normal(mu, logvar).mean(0))


# --- commands on tiny runs ---

@pytest.mark.parametrize("recipe", ["beta-vae", "beta-tcvae", "factor-vae", "beta-vae-64", "beta-tcvae-64",
                                    "factor-vae-64"])
def test_disentangling_recipes_build_and_take_a_step(recipe):
    from genlab import recipes
    from genlab.vae import FactorVAE

    values, _ = recipes.load(recipe)
    cfg = build_config({**values, "batch_size": 4})
    model = build_model(cfg, 1, cfg.resolution, dataset_size=737_280)
    x = torch.rand(8, 1, cfg.resolution, cfg.resolution)
    if isinstance(model, FactorVAE):
        metrics = model.update(x, 0)
    else:
        loss, metrics = model.loss(x[:4])
        loss.backward()
    assert all(math.isfinite(v) for v in metrics.values())
    assert model.code(x).shape == (8, cfg.latent_dim)
