"""genlab: one VAE step changes the weights, and tiny-budget runs of every command."""

import json
import struct
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from genlab.cli import main
from genlab.data import load
from genlab.models import build_config
from genlab.vae import VAE

TINY = ["--data", "shapes:scale=5,orientation=0", "resolution=16", "eval_samples=64", "--steps", "60",
        "eval_images=40", "image_freq=30", "log_freq=10", "checkpoint_freq=30", "batch_size=16", "metric_points=300",
        "metric_test_points=100", "metric_batch=8"]


def test_one_vae_step_changes_every_part_and_lowers_the_loss():
    torch.manual_seed(0)
    model = VAE(build_config({}), 1, 32)
    x = torch.from_numpy(load("shapes:scale=5,orientation=0,pos_x=0-3", resolution=32).images[:16]).float() / 255
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    losses = []
    for _ in range(30):
        loss, metrics = model.loss(x)
        assert set(metrics) == {"loss/total", "loss/recon", "loss/kl"}
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(not torch.equal(before[k], v) for k, v in model.state_dict().items() if k.endswith("weight"))
    assert losses[-1] < 0.8 * losses[0]


def test_train_sample_reconstruct_eval(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "vae", "--run-dir", str(run), *TINY, "eval_k=20"]) == 0
    assert "held-out ELBO" in capsys.readouterr().out
    result = json.loads((run / "eval.json").read_text())
    assert result["iwae"] >= result["elbo"]  # the IWAE bound is tighter than the ELBO
    acc = EventAccumulator(str(run), size_guidance={"images": 0})
    acc.Reload()
    assert {"loss/total", "loss/recon", "loss/kl", "eval/elbo", "eval/iwae"} <= set(acc.Tags()["scalars"])
    assert {"samples", "reconstructions"} <= set(acc.Tags()["images"])
    assert "latent/code" in acc.Tags()["histograms"]

    out = tmp_path / "samples.png"
    assert main(["sample", str(run), "--n", "16", "--out", str(out), "--seed", "1"]) == 0
    first = out.read_bytes()
    assert main(["sample", str(run), "--n", "16", "--out", str(out), "--seed", "1", "--force"]) == 0
    assert out.read_bytes() == first  # --seed makes it reproducible
    with Image.open(out) as im:
        assert im.size == (2 * (4 * 18 + 2), 2 * (4 * 18 + 2))  # 4×4 grid of 16 px + 2 px padding, ×2
    assert main(["sample", str(run), "--out", str(out)]) == 2  # never overwrites without --force
    assert main(["reconstruct", str(run), "--n", "8", "--out", str(tmp_path / "recon.png")]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--k", "10", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert {"elbo", "iwae", "iwae_k", "images", "valid", "coverage_kl", "frechet"} <= set(metrics)
    assert metrics["iwae_k"] == 10


def _bad(capsys, argv, match):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err


def test_bad_input(tmp_path, capsys):
    _bad(capsys, ["train", "--data", f"mnist:{tmp_path / 'nope'}", "--run-dir", str(tmp_path / "r")],
         "no such IDX file")
    _bad(capsys, ["train", "--data", "cifar", "--run-dir", str(tmp_path / "r")], "unknown data 'cifar'")
    _bad(capsys, ["train", "gan3", "--run-dir", str(tmp_path / "r")], "unknown model")
    _bad(capsys, ["train", "latent_dim=0", "--run-dir", str(tmp_path / "r")], "'latent_dim' must be > 0")
    assert not (tmp_path / "r").exists()
    _bad(capsys, ["sample", str(tmp_path / "missing")], "no such run directory or checkpoint")


def test_rllab_checkpoint_is_refused(tmp_path, capsys):
    from rllab.cli import main as rllab_main

    run = tmp_path / "rl"
    assert rllab_main(["train", "--run-dir", str(run), "--steps", "200", "learning_starts=100",
                       "eval_episodes=1", "net_arch=[8]"]) == 0
    capsys.readouterr()
    _bad(capsys, ["sample", str(run), "--out", str(tmp_path / "s.png")], "is not a genlab checkpoint")


GAN_TINY = ["gan-transformer", "--data", "shapes:scale=5,orientation=0-3", "resolution=16", "--steps", "40",
            "batch_size=16", "latent_dim=8", "g_channels=8", "d_channels=8", "eval_samples=64", "image_freq=20",
            "log_freq=10", "checkpoint_freq=20"]


def test_gan_train_sample_eval(tmp_path, capsys):
    run = tmp_path / "gan"
    assert main(["train", *GAN_TINY, "--run-dir", str(run), "eval_freq=20", "binarize=true"]) == 0
    printed = capsys.readouterr().out
    assert "samples valid" in printed and "by scale, smallest first" in printed
    result = json.loads((run / "eval.json").read_text())
    assert 0 <= result["valid"] <= 1 and result["samples"] == 64 and result["frechet"] >= 0
    acc = EventAccumulator(str(run), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    assert {"loss/d", "loss/g", "eval/valid", "eval/coverage_kl", "eval/frechet"} <= set(acc.Tags()["scalars"])
    assert [e.step for e in acc.Scalars("eval/valid")] == [20, 40]  # every eval_freq steps, and at the end
    assert "samples" in acc.Tags()["images"]
    out = tmp_path / "g.png"
    assert main(["sample", str(run), "--n", "9", "--out", str(out)]) == 0
    with Image.open(out) as im:
        assert im.size == (2 * (3 * 18 + 2), 2 * (3 * 18 + 2))  # 3×3 grid of 16 px + 2 px padding, ×2
    capsys.readouterr()
    assert main(["eval", str(run), "--samples", "32", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert {"valid", "iou_median", "coverage_kl", "frechet", "kl_shape", "kl_floor_shape", "valid_heart",
            "valid_scale_5"} <= set(metrics)
    assert metrics["samples"] == 32
    _bad(capsys, ["reconstruct", str(run), "--out", str(tmp_path / "r.png")], "this GAN (gan) has no encoder")
    _bad(capsys, ["eval", str(run), "--samples", "1"], "--samples must be at least 2")


@pytest.mark.parametrize("loss", ["hinge", "wgan-gp"])
def test_gan_losses_train_from_the_cli(tmp_path, capsys, loss):
    extra = ["d_norm=spectral", "beta1=0"] if loss == "hinge" else ["d_steps=2"]
    run = tmp_path / "r"
    assert main(["train", *GAN_TINY, "--steps", "10", f"gan_loss={loss}", *extra, "--run-dir", str(run)]) == 0


def test_vae_gan_reconstructs_from_the_cli(tmp_path, capsys):
    run = tmp_path / "vg"
    assert main(["train", "vae-gan", *GAN_TINY[1:], "--steps", "10", "image_freq=10", "g_arch=transformer",
                 "recon_weight=0.1", "--run-dir", str(run)]) == 0
    acc = EventAccumulator(str(run), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    assert {"loss/recon", "loss/kl"} <= set(acc.Tags()["scalars"]) and "reconstructions" in acc.Tags()["images"]
    out = tmp_path / "r.png"
    assert main(["reconstruct", str(run), "--n", "4", "--out", str(out)]) == 0
    with Image.open(out) as im:
        assert im.size == (2 * (4 * 18 + 2), 2 * (2 * 18 + 2))  # held-out images above their reconstructions
    capsys.readouterr()
    _bad(capsys, ["train", "vae-gan", *GAN_TINY[1:], "recon_weight=0", "--run-dir", str(tmp_path / "x")],
         "'recon_weight' must be > 0")
    _bad(capsys, ["train", *GAN_TINY, "recon_weight=1", "--run-dir", str(tmp_path / "x")],
         "'recon_weight' belongs to vae-gan; gan does not use it")
    assert not (tmp_path / "x").exists()


def test_recipes_are_listed_and_used(tmp_path, capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "gan " in out and "gan-64" in out and "vae" in out
    recipe = tmp_path / "mine.toml"
    recipe.write_text('model = "gan"\nbeta2 = 0.95\nlatent_dim = 5\n[result]\nvalid = 0.5\n')
    run = tmp_path / "r"
    assert main(["train", str(recipe), *GAN_TINY[1:], "--steps", "2", "eval_samples=8", "--run-dir", str(run)]) == 0
    config = (run / "config.toml").read_text()
    assert "beta2 = 0.95" in config and "latent_dim = 8" in config  # the recipe's setting; overrides win
    capsys.readouterr()
    _bad(capsys, ["train", "gna", "--run-dir", str(tmp_path / "x")], "recipe 'gna' (did you mean 'gan'")
    recipe.write_text('latent_dim = 5\n')
    _bad(capsys, ["train", str(recipe), "--run-dir", str(tmp_path / "x")], "must set model")


def test_gan_on_images_without_factors(tmp_path, capsys):
    idx = tmp_path / "mnist"
    idx.mkdir()
    arr = np.random.default_rng(0).integers(0, 256, (10, 28, 28), dtype=np.uint8)
    (idx / "train-images-idx3-ubyte").write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">3I", 10, 28, 28) + arr.tobytes())
    run = tmp_path / "gan28"
    assert main(["train", "gan", "--data", f"mnist:{idx}", "--steps", "4", "batch_size=4",
                 "latent_dim=4", "g_channels=4", "d_channels=4", "--run-dir", str(run)]) == 0  # a 7→14→28 generator
    out = capsys.readouterr().out
    assert "no sample metrics" in out
    assert "the gan recipe is tuned for shapes" in out  # so its sprite GAN is not used on digits
    assert 'g_arch = "dcgan"' in (run / "config.toml").read_text()
    assert main(["sample", str(run), "--n", "4", "--out", str(tmp_path / "m.png")]) == 0
    capsys.readouterr()
    _bad(capsys, ["eval", str(run)], "sample metrics need the shapes data")
    # the VAE and the autoencoder use the same 28 → 14 → 7 layout on MNIST-sized images
    for model, extra in (("vae", ["eval_k=4"]), ("ae", [])):
        assert main(["train", model, "--data", f"mnist:{idx}", "--steps", "2", "batch_size=4", *extra,
                     "--run-dir", str(tmp_path / model)]) == 0
    odd = tmp_path / "odd-images-idx3-ubyte"
    odd.write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">3I", 4, 20, 20) + bytes(4 * 400))
    _bad(capsys, ["train", "gan", "--data", f"mnist:{odd}", "g_arch=dcgan", "--run-dir", str(tmp_path / "odd")],
         "not 20")
    assert not (tmp_path / "odd").exists()


@pytest.mark.parametrize("model", ["vae", "gan", "factor-vae", "sprites"])
def test_interrupted_run_resumes_exactly(tmp_path, model):
    import signal
    import subprocess

    args = ["--data", "shapes:scale=5,orientation=0", "--steps", "500", "--seed", "3", "eval_images=40",
            "image_freq=250", "checkpoint_freq=50", "batch_size=16", "threads=1", "device=cpu", "resolution=16",
            "eval_samples=32"]
    if model in ("vae", "factor-vae"):
        args += ["eval_k=20", "metrics=none"]
    if model == "gan":
        args = ["gan-transformer", *args, "latent_dim=8", "g_channels=8", "d_channels=8"]
    if model == "sprites":  # two stages, the switch at step 250: a kill lands in either
        args = ["gan", *args, "sprite_steps=250", "sprite_angles=16", "g_channels=16", "d_channels=16"]
    if model == "factor-vae":  # two optimisers, two batches a step
        args = ["vae", *args, "objective=factor-vae", "disc_hidden=16", "disc_layers=2", "lr_schedule=linear"]
    reference = subprocess.Popen(["genlab", "train", "--run-dir", str(tmp_path / "reference"), *args],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run = tmp_path / "run"
    proc = subprocess.Popen(["genlab", "train", "--run-dir", str(run), *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    while not (run / "checkpoints" / "last.pt").exists():
        assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130
    assert 0 < torch.load(run / "checkpoints" / "last.pt", weights_only=True)["step"] < 500
    assert subprocess.run(["genlab", "train", "--resume", str(run)], capture_output=True, timeout=300).returncode == 0
    assert reference.wait(timeout=300) == 0
    ref = torch.load(tmp_path / "reference" / "checkpoints" / "last.pt", weights_only=True)["model"]
    got = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(ref[k], got[k]) for k in ref)


def test_linear_schedule_decays_every_optimiser_to_zero(tmp_path):
    run = tmp_path / "run"
    args = ["--data", "shapes:scale=5,orientation=0", "--steps", "40", "eval_images=20", "log_freq=10",
            "image_freq=40", "batch_size=8", "resolution=16", "eval_samples=16", "lr_schedule=linear",
            "learning_rate=0.002"]
    assert main(["train", "gan-transformer", "--run-dir", str(run), *args, "g_channels=8", "d_channels=8"]) == 0
    acc = EventAccumulator(str(run))
    acc.Reload()
    events = acc.Scalars("train/learning_rate")
    assert [e.step for e in events] == [10, 20, 30, 40]
    # the rate of the update that ends at step s is set from progress (s − 1) / steps; TensorBoard keeps float32
    assert [e.value for e in events] == pytest.approx([0.002 * (1 - (s - 1) / 40) for s in (10, 20, 30, 40)], rel=1e-5)
    model = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["optimizer"]
    assert [g["lr"] for part in ("g", "d") for g in model[part]["param_groups"]] == pytest.approx([0.002 / 40] * 2)


def test_autoencoder_trains_reconstructs_and_cannot_sample(tmp_path, capsys):
    run = tmp_path / "ae"
    assert main(["train", "ae", "--run-dir", str(run), *TINY]) == 0
    assert "held-out reconstruction" in capsys.readouterr().out
    result = json.loads((run / "eval.json").read_text())
    assert result["recon_nats"] > 0 and 0 <= result["mse"] < 0.25
    assert main(["reconstruct", str(run), "--n", "4", "--out", str(tmp_path / "r.png")]) == 0
    capsys.readouterr()
    _bad(capsys, ["sample", str(run), "--out", str(tmp_path / "s.png")], "an autoencoder has no prior")
    assert main(["eval", str(run), "--json"]) == 0
    keys = set(json.loads(capsys.readouterr().out))  # and the code's MIG, on shapes (the default metric)
    assert keys == {"recon_nats", "mse", "images", "mig", "mig_shape", "mig_pos_x", "mig_pos_y"}


def test_help_lists_the_chosen_models_keys(capsys):
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "batch_size" in out and "sprite-gan" in out and "sprite_angles" not in out
    assert main(["train", "sprite-gan", "--help"]) == 0
    out = capsys.readouterr().out
    assert "sprite_angles" in out and "batch_size" in out and "tc_estimator" not in out and "g_arch" not in out
    assert main(["train", "beta-tcvae", "--help"]) == 0  # a recipe: its model's keys
    out = capsys.readouterr().out
    assert "tc_estimator" in out and "sprite_angles" not in out and "gan_loss" not in out


@pytest.mark.parametrize("argv", [["--help"], ["list"], ["train", "--help"], ["train", "vae", "--help"],
                                  ["train", "beta-tcvae", "--help"], ["train", "nosuch-recipe"],
                                  ["train", "vae", "learning_rat=1"], ["train", "gan", "beta=2"]])
def test_commands_that_do_not_train_answer_without_importing_torch(argv):
    # torch takes ≈ 2 s to import: --help, list and bad input answer without it
    code = ("import sys; from genlab.cli import main; rc = main(sys.argv[1:]); "
            "print(sorted({'torch', 'optuna', 'sklearn', 'PIL'} & set(sys.modules))); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60)
    assert proc.returncode in (0, 2) and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout.splitlines()[-1] == "[]"
