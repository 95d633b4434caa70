"""Sample-quality metrics on hand-made cases: real renders are valid, blank or scrambled images are not,
coverage sees a collapsed factor (and folds orientation by symmetry), and the Fréchet distance matches
its closed form. The factor network is trained (16 px, seconds) on first use and cached."""

import math

import numpy as np
import pytest
import torch

from genlab import quality, shapes


def test_iou_of_binarised_images():
    x = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    r = torch.tensor([[[1.0, 0.6, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]]])
    assert quality.iou(x, r).tolist() == [[1.0, 0.5, 0.0, 0.0]]
    assert quality.iou(torch.zeros(1, 4), torch.zeros(1, 1, 4)).item() == 1.0  # empty vs empty


@pytest.mark.parametrize("pixels", [4, 64, 784, 1024])  # 784 (28 × 28): bits that do not fill the last word
def test_packed_iou_is_iou(pixels):
    gen = torch.Generator().manual_seed(pixels)
    x = (torch.rand(6, pixels, generator=gen) < 0.3).float()
    r = (torch.rand(6, 9, pixels, generator=gen) < 0.3).float()
    r[0, 0], x[1], r[1, 0] = x[0], 0.0, 0.0  # identical images, and two empty ones (IoU 1)
    xb, rb = x.numpy() >= 0.5, r.numpy() >= 0.5
    packed = quality.packed_iou(quality.pack(xb), xb.sum(1), quality.pack(rb), rb.sum(2))
    assert packed.dtype == np.float32 and np.array_equal(packed, quality.iou(x, r).numpy())
    assert packed[0, 0] == packed[1, 0] == 1.0


def test_coverage_of_the_whole_grid_is_zero_and_a_collapse_is_log_n():
    every = shapes.factors_of(np.arange(shapes.N_IMAGES))
    cov = quality.coverage(every)
    assert all(abs(cov[f"kl_{f}"]) < 1e-9 for f in shapes.FACTORS)
    stuck = every[every[:, 3] == 7]  # pos_x collapsed onto one value
    assert quality.coverage(stuck)["kl_pos_x"] == pytest.approx(math.log(32))
    assert quality.coverage(stuck)["kl_pos_y"] == pytest.approx(0, abs=1e-9)
    assert cov["kl_floor_pos_x"] == pytest.approx(31 / (2 * shapes.N_IMAGES))


def test_orientation_is_folded_by_each_shapes_symmetry():
    # orientation index 10 is 10·2π/39 ≈ 92.3°: for a square that is ≈ 2.3° (mod 90°), the same bin as 0°;
    # for a heart it is a different bin
    rows = np.array([[0, 0, 0, 0, 0], [0, 0, 10, 0, 0], [2, 0, 0, 0, 0], [2, 0, 10, 0, 0]])
    orient = quality._binned(rows)[2]
    assert orient[0] == orient[1]
    assert orient[2] != orient[3]


def test_frechet_distance_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (20000, 3))
    b = rng.normal(0, 1, (20000, 3)) * np.array([1.0, 2.0, 3.0]) + np.array([1.0, 0.0, 0.0])
    # diagonal covariances: ‖Δμ‖² + Σ (σa − σb)² = 1 + (0 + 1 + 4)
    assert quality.frechet_distance(a, b) == pytest.approx(6.0, rel=0.05)
    assert quality.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


@pytest.fixture(scope="module")
def real16():
    idx = np.random.default_rng(3).choice(shapes.N_IMAGES, 400, replace=False)
    return torch.from_numpy(shapes.all_images(16)[idx]).float().div(255).unsqueeze(1), idx


def test_real_renders_are_valid_and_cover_their_factors(real16):
    x, idx = real16
    result = quality.judge(x)
    assert result["valid"] >= 0.98
    assert result["iou_median"] == 1.0
    shown = [result[f"valid_{name}"] for name in (*shapes.SHAPES, *(f"scale_{k}" for k in range(6)))]
    assert all(v is not None and v >= 0.9 for v in shown)  # 400 renders hold every shape and scale
    assert result["frechet"] < quality.judge(torch.zeros_like(x))["frechet"]
    _, found = quality.match(x, quality.factor_net(16))
    same = quality.match(x, quality.factor_net(16))[0] == 1.0
    # where the best match is exact, it is the image's own factors or a render identical to it
    renders = shapes.all_images(16)[shapes.index_of(found)]
    assert np.array_equal(renders[same.numpy()] >= 128, shapes.all_images(16)[idx][same.numpy()] >= 128)


def test_match_agrees_with_brute_force_on_sharpened_noisy_and_shifted_renders(real16):
    x, idx = real16
    noise = 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    cases = torch.cat([(x >= 0.5).float(), (x + noise).clamp(0, 1), torch.roll(x, 1, dims=-1)])
    found, _ = quality.match(cases, quality.factor_net(16))
    exact, index = quality.brute_force(cases, quality.renders(16), 16)
    assert torch.equal(found >= quality.IOU_THRESHOLD, exact >= quality.IOU_THRESHOLD)  # `valid` is exact
    assert (found <= exact + 1e-6).all()  # the search never claims more than the best render gives
    assert (found == exact).float().mean() >= 0.95
    assert (exact[:len(x)] == 1).all()  # a sharpened render is its own binarised render


def test_blank_and_scrambled_images_are_invalid(real16):
    x, _ = real16
    blank = quality.judge(torch.zeros(50, 1, 16, 16))
    assert blank["valid"] == 0.0
    assert blank["coverage_kl"] is None and blank["kl_shape"] is None  # no valid sample: nothing to cover
    scrambled = x.flatten(1)[:, torch.randperm(256, generator=torch.Generator().manual_seed(0))].reshape(x.shape)
    assert quality.judge(scrambled)["valid"] < 0.05


def test_collapsed_generator_has_poor_coverage(real16):
    x, _ = real16
    collapsed = x[:1].expand(200, -1, -1, -1)  # one image, 200 times: all valid, no coverage
    result = quality.judge(collapsed)
    assert result["valid"] == 1.0
    assert result["coverage_kl"] > 1.0


def test_bad_sample_shape_is_refused():
    with pytest.raises(ValueError, match="must be"):
        quality.judge(torch.zeros(4, 3, 32, 32))


def test_breakdown_groups_validity_by_the_best_match():
    # rows: shape, scale, orientation, x, y of each sample's best match
    factors = np.array([[0, 0, 0, 0, 0], [0, 5, 0, 0, 0], [2, 5, 3, 1, 1], [2, 5, 0, 2, 2], [2, 0, 0, 3, 3]])
    valid = np.array([True, False, False, True, True])
    out = quality.breakdown(valid, factors)
    assert out["valid_square"] == 0.5 and out["valid_ellipse"] is None
    assert out["valid_heart"] == pytest.approx(2 / 3)
    assert out["valid_scale_0"] == 1.0 and out["valid_scale_5"] == pytest.approx(1 / 3)
    assert out["valid_scale_1"] is None and len(out) == 9
