"""GAN: the losses and the gradient penalty against hand values, one update moves D and G the right way,
the networks fit every supported image size, and InfoGAN's and the VAE-GAN's terms do what they are for."""

import math

import pytest
import torch
from torch import nn

from genlab.gan import GAN, VAEGAN, InfoGAN
from genlab.gan_losses import d_loss, g_loss, gradient_penalty
from genlab.gan_nets import AddCoords, MinibatchStd, TransformerGenerator, discriminator, generator, place
from genlab.models import build_config, build_model
from labcore.errors import UsageError


def test_losses_against_hand_values():
    zero = torch.zeros(4)
    assert d_loss("ns", zero, zero).item() == pytest.approx(2 * math.log(2))  # D(x) = ½ everywhere
    assert g_loss("ns", zero).item() == pytest.approx(math.log(2))
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
    # ns: BCE(σ(2), 1), BCE(σ(.5), 1) and BCE(σ(−2), 0), BCE(σ(0), 0), averaged per batch
    fake_term = (math.log1p(math.exp(-2)) + math.log(2)) / 2
    expected = (math.log1p(math.exp(-2)) + math.log1p(math.exp(-0.5))) / 2 + fake_term
    assert d_loss("ns", real, fake).item() == pytest.approx(expected)
    # one-sided smoothing 0.1: real targets 0.9, fake targets stay 0
    smooth = (0.9 * math.log1p(math.exp(-2)) + 0.1 * math.log1p(math.exp(2))
              + 0.9 * math.log1p(math.exp(-0.5)) + 0.1 * math.log1p(math.exp(0.5))) / 2
    assert d_loss("ns", real, fake, 0.1).item() == pytest.approx(smooth + (math.log1p(math.exp(-2)) + math.log(2)) / 2)
    # hinge: relu(1 − [2, .5]) = [0, .5]; relu(1 + [−2, 0]) = [0, 1]
    assert d_loss("hinge", real, fake).item() == pytest.approx(0.25 + 0.5)
    assert g_loss("hinge", fake).item() == pytest.approx(1.0)
    assert d_loss("wgan-gp", real, fake).item() == pytest.approx(-1.0 - 1.25)


def test_gradient_penalty_of_a_linear_critic():
    critic = nn.Sequential(nn.Flatten(), nn.Linear(4, 1, bias=False), nn.Flatten(0))
    with torch.no_grad():
        critic[1].weight.copy_(torch.tensor([[2.0, 0.0, 0.0, 0.0]]))  # ‖∇D‖ = 2 everywhere
    real, fake = torch.rand(8, 1, 2, 2), torch.rand(8, 1, 2, 2)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(1.0)  # (2 − 1)²


@pytest.mark.parametrize("resolution", [16, 28, 32, 64])
@pytest.mark.parametrize("norm", ["batch", "spectral", "none"])
@pytest.mark.parametrize("extras", [False, True])
def test_networks_fit_every_size(resolution, norm, extras):
    g = generator(8, 1, resolution, 8, coords=extras)
    d = discriminator(1, resolution, 8, norm, coords=extras, mbstd=extras)
    x = g(torch.randn(3, 8))
    assert x.shape == (3, 1, resolution, resolution)
    assert d(x).shape == (3,)


def test_discriminator_refuses_an_unknown_norm():
    with pytest.raises(ValueError, match="norm must be batch, spectral or none"):
        discriminator(1, 32, 8, "layer")


def test_minibatch_std_sees_a_collapsed_batch():
    h = torch.randn(8, 3, 4, 4)
    diverse, collapsed = MinibatchStd()(h), MinibatchStd()(h[:1].expand(8, -1, -1, -1))
    assert diverse.shape == (8, 4, 4, 4)
    assert collapsed[:, -1].max() < 1e-3 < diverse[:, -1].min()
    # two groups of 4 (samples i and i + 2·k share a group): each group gets its own std
    mixed = torch.cat([h[:4], h[:1].expand(4, -1, -1, -1)]).view(4, 2, 3, 4, 4).transpose(0, 1).reshape(8, 3, 4, 4)
    out = MinibatchStd()(mixed)[:, -1, 0, 0]
    assert torch.allclose(out[0::2], out[0]) and torch.allclose(out[1::2], out[1]) and out[0] != out[1]


def test_coordinate_channels():
    out = AddCoords()(torch.zeros(2, 1, 3, 5))
    assert out.shape == (2, 3, 3, 5)
    assert out[0, 1, 0].tolist() == [-1, -0.5, 0, 0.5, 1]  # x along the width
    assert out[0, 2, :, 0].tolist() == [-1, 0, 1]  # y along the height


def test_transformer_generator_places_its_glyph_by_the_pose():
    torch.manual_seed(0)
    g = TransformerGenerator(8, 1, 16, 8, start_scale=1.0).eval()
    z = torch.randn(2, 8)
    glyph = g.glyph(z)
    assert torch.allclose(g(z), glyph, atol=1e-5)  # a fresh pose is the identity (at start_scale 1)
    shift, quarter = torch.zeros(2, 5), torch.zeros(2, 5)
    shift[:, 3] = math.atanh(0.25)  # t_x = 0.25: an eighth of the 16 px canvas's width [−1, 1], i.e. 2 px right
    quarter[:, 0], quarter[:, 1] = -1, 1  # (cos, sin) ∝ (0, 1): θ = 90°, clockwise on screen (y points down)
    for pose, expected in ((shift, torch.roll(glyph, 2, dims=-1)[..., 4:-4, 4:-4]),
                           (quarter, torch.rot90(glyph, -1, dims=(-2, -1))[..., 4:-4, 4:-4])):
        with torch.no_grad():
            g.pose[-1].bias.copy_(pose[0])
        assert torch.allclose(g(z)[..., 4:-4, 4:-4], expected, atol=1e-4)  # inside: away from the border


def test_transformer_generator_keeps_the_category_out_of_the_pose():
    torch.manual_seed(0)
    g = TransformerGenerator(6, 1, 16, 8, glyph_only=2).eval()
    z = torch.randn(3, 6)
    other = z.clone()
    other[:, :2] += 1.0  # another category: the glyph changes, the pose cannot
    assert torch.equal(g.pose(z[:, 2:]), g.pose(other[:, 2:])) and g.pose[0].in_features == 4
    assert not torch.allclose(g.glyph(z), g.glyph(other))
    with torch.no_grad():
        g.pose[-1].bias.copy_(torch.tensor([0.3, 0.2, 0.1, 0.2, -0.1]))
    assert torch.allclose(g(z), place(g.glyph(z), g.pose(z[:, 2:]), 0.5))


def test_bad_size_is_refused():
    with pytest.raises(UsageError, match="must be 4·2"):
        generator(8, 1, 24, 8)


def _gan(**values):
    return build_config({"model": "gan", "latent_dim": 8, "g_channels": 8, "d_channels": 8, "learning_rate": 1e-3,
                         **values})


@pytest.mark.parametrize("loss, arch", [("ns", "dcgan"), ("hinge", "dcgan"), ("wgan-gp", "dcgan"),
                                        ("ns", "transformer")])
def test_one_update_moves_both_players(loss, arch):
    torch.manual_seed(0)
    values = {"gan_loss": loss, "g_arch": arch, "ema": 0.5, "d_steps": 2 if loss == "wgan-gp" else 1,
              "d_norm": "spectral" if loss == "hinge" else "auto", "r1_weight": 1.0 if loss == "ns" else 0}
    gan = GAN(_gan(**values), 1, 16)
    real = (torch.rand(2 * 16, 1, 16, 16) > 0.7).float()
    before = {k: v.clone() for k, v in gan.state_dict().items()}
    metrics = gan.update(real, 0)
    assert {"loss/d", "loss/g", "loss/total", "d/real", "d/fake"} <= set(metrics)
    after = gan.state_dict()
    for part in ("generator", "discriminator", "g_ema"):  # each player moved, and the average followed G
        changed = [k for k in after if k.startswith(part + ".") and k.endswith(("weight", "weight.original")) and
                   not torch.equal(before[k], after[k])]
        assert changed, part
    # the update's D steps widen the gap between real and generated images: G frozen by a vanishing step size,
    # D judged on the same generated images before and after
    torch.manual_seed(0)
    frozen = GAN(_gan(**values, learning_rate=1e-12, d_learning_rate=1e-3), 1, 16)
    fake = frozen.sample(16, torch.Generator().manual_seed(1))
    with torch.no_grad():
        gap0 = (frozen.critic(real[:16]) - frozen.critic(fake)).mean()
    frozen.update(real, 0)
    with torch.no_grad():
        gap1 = (frozen.critic(real[:16]) - frozen.critic(fake)).mean()
    assert gap1 > gap0


def test_ema_is_an_average_of_generator_weights():
    gan = GAN(_gan(latent_dim=4, g_channels=4, d_channels=4, ema=0.9), 1, 16)
    p_ema, p = next(gan.g_ema.parameters()), next(gan.generator.parameters())
    old_ema = p_ema.clone()
    with torch.no_grad():
        p.add_(1.0)
    gan.update_ema()
    assert torch.allclose(p_ema, 0.9 * old_ema + 0.1 * p)


@pytest.mark.parametrize("recipe", ["gan", "gan-transformer", "gan-64"])
def test_recipes_build_and_take_a_step(recipe):
    from genlab import recipes

    values, _ = recipes.load(recipe)
    cfg = build_config({**values, "batch_size": 4})
    gan = build_model(cfg, 1, cfg.resolution)
    metrics = gan.update(torch.rand(4 * cfg.d_steps, 1, cfg.resolution, cfg.resolution), 0)
    assert all(math.isfinite(v) for v in metrics.values())
    assert gan.sample(2).shape == (2, 1, cfg.resolution, cfg.resolution)


def _vae_gan(**extra) -> VAEGAN:
    return VAEGAN(_gan(model="vae-gan", g_arch="transformer", latent_dim=6, recon_weight=0.5, recon_beta=2.0,
                       **extra), 1, 16)


def test_vae_gan_terms_are_the_negative_elbo_through_the_generator():
    torch.manual_seed(0)
    gan = _vae_gan()
    x = (torch.rand(8, 1, 16, 16) > 0.7).float()
    torch.manual_seed(1)
    recon, kl = gan.vae_terms(x)
    torch.manual_seed(1)  # the same ε, by hand
    mu, logvar = gan.encoder(2 * x - 1).chunk(2, dim=1)
    assert mu.shape == (8, 6)
    z = mu + torch.exp(logvar / 2) * torch.randn_like(mu)
    p = torch.sigmoid(gan.generator(z))
    by_hand = -(x * p.log() + (1 - x) * (1 - p).log()).sum((1, 2, 3)).mean()
    assert torch.allclose(recon, by_hand, rtol=1e-4)
    assert torch.allclose(kl, 0.5 * (mu**2 + logvar.exp() - logvar - 1).sum(1).mean(), rtol=1e-5)


def test_vae_gan_update_trains_the_encoder_with_the_generator():
    torch.manual_seed(0)
    gan = _vae_gan()
    assert not hasattr(GAN(_gan(), 1, 16), "encoder")  # a plain GAN has none: its checkpoints keep their keys
    encoder = {id(p) for p in gan.encoder.parameters()}
    assert encoder <= {id(p) for group in gan.optimizers["g"].param_groups for p in group["params"]}
    real = (torch.rand(16, 1, 16, 16) > 0.7).float()
    before = {k: v.clone() for k, v in gan.state_dict().items()}
    recon0, _ = gan.vae_terms(real)
    for step in range(30):
        metrics = gan.update(real, step)
    assert {"loss/recon", "loss/kl", "loss/g", "loss/d"} <= set(metrics)
    after = gan.state_dict()
    assert any(k.startswith("encoder.") and not torch.equal(before[k], after[k]) for k in after)
    torch.manual_seed(2)
    recon1, _ = gan.vae_terms(real)
    assert recon1 < 0.8 * recon0  # G learns to draw the real batch back from its codes
    assert gan.reconstruct(real).shape == real.shape


def test_variant_settings_belong_to_their_model():
    for values, words in (({"recon_weight": 0.0, "model": "vae-gan"}, "'recon_weight' must be > 0"),
                          ({"info_weight": 0.0, "model": "infogan"}, "'info_weight' must be > 0"),
                          ({"categories": 1, "model": "infogan"}, "'categories' must be >= 2"),
                          ({"info_weight": 1.0}, "'info_weight' belongs to infogan; gan does not use it"),
                          ({"recon_weight": 1.0}, "'recon_weight' belongs to vae-gan; gan does not use it")):
        with pytest.raises(UsageError, match=words):
            _gan(**values)


def _info_gan(**extra) -> InfoGAN:
    return InfoGAN(_gan(model="infogan", latent_dim=4, categories=3, info_weight=1.0, **extra), 1, 16)


def test_noise_with_a_categorical_code():
    gan = InfoGAN(_gan(model="infogan", latent_dim=3, categories=4, g_channels=4, d_channels=4), 1, 16)
    z = gan.noise(4000, torch.Generator().manual_seed(0))
    assert z.shape == (4000, 7)
    onehot = z[:, :4]
    assert torch.equal(onehot.sum(1), torch.ones(4000)) and set(onehot.unique().tolist()) == {0.0, 1.0}
    assert (onehot.mean(0) - 0.25).abs().max() < 0.03  # uniform over the categories
    assert gan.sample(5).shape == (5, 1, 16, 16)


def test_info_gan_head_and_loss():
    torch.manual_seed(0)
    gan = _info_gan()
    x = torch.rand(5, 1, 16, 16)
    logit, q = gan.discriminate(x)
    assert logit.shape == (5,) and q.shape == (5, 3)
    assert torch.equal(gan.critic(x), logit)
    z = gan.noise(5)
    by_hand = -(q.log_softmax(1) * z[:, :3]).sum(1).mean()  # −E log Q(c|x) for the one-hot c
    assert torch.allclose(gan.info_loss(q, z), by_hand)
    plain = GAN(_gan(latent_dim=4), 1, 16)
    assert plain.discriminate(x)[1] is None and plain.critic(x).shape == (5,)
    assert "loss/info" not in plain.update(torch.rand(4, 1, 16, 16), 0)


@pytest.mark.parametrize("frozen", ["d", "g", None])
def test_info_gan_makes_the_category_readable_from_the_image(frozen):
    # each side lowers the cross-entropy alone: Q learns to read G's images (G frozen), G learns to draw what
    # Q reads (D frozen), and together they do it best
    torch.manual_seed(0)
    gan = _info_gan(**{"d": {"d_learning_rate": 1e-12}, "g": {"learning_rate": 1e-12, "d_learning_rate": 1e-3},
                       None: {}}[frozen])
    real = (torch.rand(16, 1, 16, 16) > 0.7).float()
    first = gan.update(real, 0)["loss/info"]
    assert first == pytest.approx(math.log(3), abs=0.3)  # a guess at first
    for step in range(1, 61):
        metrics = gan.update(real, step)
    assert metrics["loss/info"] < 0.5 * first and metrics["loss/info_d"] < 0.5 * first
    if frozen is None:
        assert metrics["loss/info"] < 0.2 * math.log(3)
