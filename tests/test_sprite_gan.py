"""Sprite GAN: image moments and the frame against hand values, the all-pairs BCE against the direct one,
posing a sprite and reading its pose back, each stage's step moving only its own parts, and the CLI."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from genlab import shapes
from genlab.cli import main
from genlab.models import build_config
from genlab.sprite_gan import SpriteGAN
from genlab.sprites import FRAME, bce, frame_losses, into_frame, moments, place


def _render(factors, resolution=32):
    return torch.from_numpy(shapes.render(np.asarray(factors), resolution)).float().div(255).unsqueeze(1)


def test_moments_of_a_block():
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 1:3, 4:8] = 1  # rows 1–2, columns 4–7: 8 pixels
    t, frame = moments(x)
    # pixel centres of an 8-pixel canvas sit at (i + ½)/4 − 1: columns 4–7 → mean 0.5, rows 1–2 → mean −0.5
    assert t[0].tolist() == pytest.approx([0.5, -0.5])
    assert frame.item() == pytest.approx(FRAME * math.sqrt(8) / 4)


def test_frame_losses_are_the_bce_of_every_pair():
    x, logits = torch.rand(3, 20), torch.randn(5, 20)  # grey targets too: the identity holds for any x in [0, 1]
    direct = torch.stack([bce(torch.sigmoid(logits), xi.expand(5, 20)) for xi in x])  # (3, 5)
    assert torch.allclose(frame_losses(x, logits), direct, atol=1e-4)


def test_a_sprite_placed_by_its_own_pose_redraws_the_image():
    x = _render([[0, 5, 3, 10, 20], [2, 2, 17, 25, 6]])  # a large square and a small heart
    t, frame = moments(x)
    framed = into_frame(x, t, frame)  # each image in its own frame: the sprite that draws it there
    sprite = torch.logit(torch.nn.functional.interpolate(framed, size=64, mode="bilinear").clamp(0.01, 0.99))
    one = torch.ones(2)
    redrawn = place(sprite, one, 0 * one, frame, t, 32)
    xb, rb = x >= 0.5, redrawn >= 0.5
    iou = (xb & rb).flatten(1).sum(1) / (xb | rb).flatten(1).sum(1)
    assert iou.min().item() > 0.8  # a sprite cut from a 32-pixel image is blurred, but lands where it came from


def _model(**overrides):
    cfg = build_config({"model": "sprite-gan", "sprites": 3, "sprite_steps": 4, "steps": 10,
                            "sprite_angles": 16, "latent_dim": 4, "g_channels": 16, "d_channels": 16, **overrides})
    return SpriteGAN(cfg, 1, 32)


def test_encode_reads_the_pose_of_a_seeded_sprite():
    torch.manual_seed(0)
    model = _model(sprites=1, sprite_angles=80)
    square = _render([[0, 5, 0, 16, 16]])
    model._seed(square, [0])
    turned = _render([[0, 5, 4, 16, 16], [0, 5, 4, 4, 28]])  # 4 of 40 steps = 36°, anywhere
    k, code = model.encode(turned)
    angle = torch.atan2(code[:, 1], code[:, 0]) % (math.pi / 2)  # a square looks the same every quarter turn
    assert k.tolist() == [0, 0]
    # shapes turns counter-clockwise with y up; the canvas has y down, so that turn reads as −36° ≡ 54°, to
    # within the search's step
    assert angle.tolist() == pytest.approx([math.radians(54)] * 2, abs=2 * math.pi / 80)
    assert torch.equal(code[:, 3:], moments(turned)[0])


def test_each_stage_moves_only_its_own_parts():
    torch.manual_seed(0)
    model = _model()
    x = (_render([[s, 5, o, px, 16] for s in range(3) for o in (0, 7) for px in (5, 25)]) >= 0.5).float()
    parts = {"sprites": model.sprites, "g": model.generator[0].weight, "d": model.discriminator[0].weight}
    before = {n: p.detach().clone() for n, p in parts.items()}
    metrics = [model.update(x, step) for step in range(4)]  # stage 1: the sprites learn to redraw x
    assert metrics[-1]["loss/recon"] < metrics[0]["loss/recon"]
    assert not torch.equal(model.sprites, before["sprites"])
    assert all(torch.equal(parts[n], before[n]) for n in ("g", "d"))
    assert model.code_n.item() == 4 * len(x) and model.counts.sum().item() == 0
    sprites = model.sprites.detach().clone()
    g, d = model.generator[0].weight.detach().clone(), model.discriminator[0].weight.detach().clone()
    metrics = model.update(x, 4)  # stage 2: D, then G; the sprites stay
    assert {"loss/d", "loss/g", "d/real", "d/fake"} <= set(metrics)
    assert torch.equal(model.sprites, sprites)
    assert not torch.equal(model.generator[0].weight, g) and not torch.equal(model.discriminator[0].weight, d)
    assert model.counts.sum().item() == len(x)  # the prior over sprites counts the real codes' sprites


def test_samples_pick_sprites_by_the_codes_frequencies():
    model = _model()
    model.counts.copy_(torch.tensor([0.0, 3.0, 1.0]))  # sprite 0 unused, 1 three times as often as 2
    z = model.noise(4000, torch.Generator().manual_seed(0))
    k, code = model._pose(model.generator, z)
    share = torch.bincount(k, minlength=3).float() / len(k)
    assert share[0] == 0 and share[1].item() == pytest.approx(0.75, abs=0.03)
    assert torch.allclose(code[:, 0] ** 2 + code[:, 1] ** 2, torch.ones(len(k)), atol=1e-4)  # a unit angle
    assert model.sample(5, torch.Generator().manual_seed(1)).shape == (5, 1, 32, 32)
    k, code = model.encode(torch.zeros(0, 1, 32, 32))  # an empty batch (a data set too small for a held-out slice)
    assert k.shape == (0,) and code.shape == (0, 5) and model.critic(torch.zeros(0, 1, 32, 32)).shape == (0,)


def test_prior_sizes_draws_the_size_with_the_sprite_from_the_real_codes():
    model = _model(prior_sizes=True)
    model.code_sum.copy_(torch.tensor([[0.0, 0.0, -0.5, 0.0, 0.0], [1.0, 1.0, 0.25 + 0.04, 1.0, 1.0]]))
    model.code_n.fill_(1.0)  # stage 1's codes: log size of mean −0.5 and standard deviation 0.2
    sizes = torch.tensor([-0.7] * 300 + [-0.3] * 100)  # sprite 1 only, at two sizes, three to one
    codes = torch.zeros(len(sizes), 5)
    codes[:, 2] = sizes
    model._count(torch.ones(len(sizes), dtype=torch.long), codes)
    assert model.counts.shape == (3, 256) and model.counts.sum().item() == 400
    k, code = model._pose(model.generator, model.noise(8000, torch.Generator().manual_seed(0)))
    bin_width = 2 * 4 * 0.2 / 256  # mean ± 4 standard deviations in 256 bins
    near = (code[:, 2] + 0.7).abs() < bin_width
    assert (k == 1).all() and (near | ((code[:, 2] + 0.3).abs() < bin_width)).all()
    assert near.float().mean().item() == pytest.approx(0.75, abs=0.02)
    assert len(set(code[:, 2].tolist())) > 1000  # anywhere within its bin, not one value per bin


def test_sprite_gan_from_the_cli(tmp_path, capsys):
    run = tmp_path / "sg"
    args = ["sprite-gan", "--data", "shapes:scale=3-5", "resolution=16", "binarize=true", "--steps", "30",
            "sprite_steps=20", "sprites=4", "batch_size=32", "sprite_angles=32", "eval_samples=64", "image_freq=10",
            "log_freq=10", "checkpoint_freq=10", "g_channels=16", "d_channels=16"]
    assert main(["train", *args, "--run-dir", str(run)]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["samples"] == 64 and 0 <= result["valid"] <= 1
    acc = EventAccumulator(str(run), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    assert {"loss/recon", "loss/d", "loss/g"} <= set(acc.Tags()["scalars"])
    assert {"samples", "reconstructions", "sprites"} <= set(acc.Tags()["images"])
    out = tmp_path / "s.png"
    assert main(["sample", str(run), "--n", "4", "--out", str(out)]) == 0
    with Image.open(out) as im:
        assert im.size == (2 * (2 * 18 + 2),) * 2  # a 2 × 2 grid of 16 px + 2 px padding, ×2
    assert main(["reconstruct", str(run), "--n", "4", "--out", str(tmp_path / "r.png")]) == 0
    capsys.readouterr()
    for bad, words in (("sprite_steps=30", "'sprite_steps' must be below steps (30)"),
                       ("recon_weight=0.1", "'recon_weight' belongs to vae-gan; sprite-gan does not use it"),
                       ("g_arch=sprites", 'a model of its own now: model = "sprite-gan"'),
                       ("fourier_scale=0", "'fourier_scale' must be > 0, not 0")):
        assert main(["train", *args, bad, "--run-dir", str(tmp_path / "x")]) == 2
        assert words in capsys.readouterr().err
        assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("extra", [{"gan_loss": "wgan-gp", "d_steps": 2}, {"gan_loss": "hinge"}, {"r1_weight": 1.0}])
def test_every_gan_loss_trains_on_codes(extra):
    torch.manual_seed(0)
    model = _model(sprite_steps=1, **extra)
    x = (_render([[s, 5, 0, 16, 16] for s in range(3)] * 2) >= 0.5).float()
    model.update(x[:3], 0)  # stage 1: one step
    d = model.discriminator[0].weight.detach().clone()
    metrics = model.update(x, 1)
    assert all(math.isfinite(v) for v in metrics.values())
    assert not torch.equal(model.discriminator[0].weight, d)


def test_sprite_gan_takes_any_image_size_and_a_tiny_data_set(tmp_path, capsys):
    import struct

    idx = tmp_path / "odd-images-idx3-ubyte"  # 4 images of 20 × 20: too few for a held-out slice
    pixels = np.random.default_rng(0).integers(0, 256, 4 * 400, dtype=np.uint8)
    idx.write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">3I", 4, 20, 20) + pixels.tobytes())
    run = tmp_path / "odd"
    assert main(["train", "sprite-gan", "--data", f"mnist:{idx}", "--steps", "6", "sprite_steps=3",
                 "batch_size=2", "--run-dir", str(run)]) == 0
    assert main(["sample", str(run), "--n", "4", "--out", str(tmp_path / "s.png")]) == 0
    with Image.open(tmp_path / "s.png") as im:
        assert im.size == (2 * (2 * 22 + 2),) * 2


def test_a_steps_budget_splits_in_the_recipes_proportions(tmp_path):
    from genlab.config import SpriteGANConfig
    from genlab.models import scale_stages

    base = {"steps": 43000, "sprite_steps": 3000}
    assert scale_stages(SpriteGANConfig, base, {"steps": 200}) == {"sprite_steps": 14}
    assert scale_stages(SpriteGANConfig, base, {"steps": 200, "sprite_steps": 50}) == {}  # given: kept
    assert scale_stages(SpriteGANConfig, {}, {"steps": 100}) == {"sprite_steps": 30}  # the defaults' 3000 of 10000
    assert scale_stages(SpriteGANConfig, base, {"seed": 1}) == {}
    run = tmp_path / "quick"  # what a user types to try the recipe
    assert main(["train", "gan", "--steps", "30", "--data", "shapes:scale=4-5", "resolution=16", "batch_size=16",
                 "sprite_angles=8", "eval_samples=8", "--run-dir", str(run)]) == 0
    assert "sprite_steps = 2\n" in (run / "config.toml").read_text()  # round(3000 · 30 / 43000)
