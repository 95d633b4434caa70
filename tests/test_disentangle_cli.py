"""Disentanglement from the command line on tiny runs: training logs the scores, `eval` picks metrics,
`traverse` and `swap` write their images, and bad requests are one-line errors."""

import json

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from genlab.cli import main

TINY = ["--data", "shapes:scale=3-5,orientation=0", "resolution=16", "--steps", "40", "batch_size=32",
        "eval_images=60", "eval_k=5", "eval_samples=32", "image_freq=20", "log_freq=10", "checkpoint_freq=20",
        "metric_points=400", "metric_test_points=200", "metric_batch=8", "latent_dim=6"]


@pytest.fixture(scope="module")
def tcvae_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("tc") / "run"
    assert main(["train", "vae", "objective=beta-tcvae", "beta=6", "eval_freq=20", "--run-dir", str(run),
                 "metrics=mig,factor_vae,beta_vae,sap,dci", *TINY]) == 0
    return run


def test_training_logs_scores_traversal_and_swap(tcvae_run):
    result = json.loads((tcvae_run / "eval.json").read_text())
    for key in ("mig", "mig_shape", "mig_scale", "mig_pos_x", "mig_pos_y", "factor_vae", "beta_vae", "sap",
                "dci_disentanglement", "dci_completeness", "dci_informativeness", "train_seconds", "eval_seconds"):
        assert key in result, key
    assert "mig_orientation" not in result  # fixed in this subset
    acc = EventAccumulator(str(tcvae_run))
    acc.Reload()
    assert {"traversals", "swap", "samples", "reconstructions"} <= set(acc.Tags()["images"])
    scalars = set(acc.Tags()["scalars"])
    assert {"eval/mig", "eval/factor_vae", "eval/dci_disentanglement", "loss/tc", "loss/mi"} <= scalars
    assert [e.step for e in acc.Scalars("eval/mig")] == [20, 40]  # every eval_freq, then at the end


def test_eval_json_keys_and_metric_choice(tcvae_run, capsys):
    capsys.readouterr()
    assert main(["eval", str(tcvae_run), "--json", "--k", "3", "--samples", "16", "--metrics", "mig,sap"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"elbo", "iwae", "valid", "mig", "sap"} <= set(result) and "factor_vae" not in result
    assert main(["eval", str(tcvae_run), "--k", "3", "--samples", "16", "--metrics", "factor_vae",
                 "--metric-points", "200", "--metric-test-points", "100"]) == 0
    assert "FactorVAE score" in capsys.readouterr().out


def test_traverse_png_and_gif_have_the_expected_size(tcvae_run, tmp_path, capsys):
    png, gif = tmp_path / "t.png", tmp_path / "t.gif"
    assert main(["traverse", str(tcvae_run), "--out", str(png), "--steps", "7", "--dims", "3"]) == 0
    assert "rows are dimensions" in capsys.readouterr().out
    pad, size, scale = 2, 16, 2
    assert Image.open(png).size == (scale * (7 * (size + pad) + pad), scale * (3 * (size + pad) + pad))
    assert main(["traverse", str(tcvae_run), "--out", str(gif), "--steps", "5"]) == 0
    with Image.open(gif) as im:
        assert im.n_frames == 5 + 3  # forwards, then back without repeating the ends
        assert im.size == (scale * (6 * (size + pad) + pad), scale * (size + 2 * pad))  # all 6 dimensions


def test_swap_by_dimension_and_by_factor(tcvae_run, tmp_path, capsys):
    out = tmp_path / "s.png"
    assert main(["swap", str(tcvae_run), "--out", str(out), "--dims", "0,2", "--n", "5"]) == 0
    assert Image.open(out).size == (2 * (5 * 18 + 2), 2 * (3 * 18 + 2))
    assert main(["swap", str(tcvae_run), "--out", str(tmp_path / "f.png"), "--factor", "pos_x"]) == 0
    assert "taken from b" in capsys.readouterr().out


def _bad(capsys, argv, match):
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err


def test_bad_requests_are_one_line_errors(tcvae_run, tmp_path, capsys):
    _bad(capsys, ["swap", str(tcvae_run), "--out", str(tmp_path / "x.png"), "--dims", "0,9"], "--dims must lie")
    _bad(capsys, ["swap", str(tcvae_run), "--out", str(tmp_path / "x.png"), "--factor", "orientation"],
         "does not vary")
    _bad(capsys, ["traverse", str(tcvae_run), "--out", str(tmp_path / "x.jpg")], "must end in .png or .gif")
    _bad(capsys, ["traverse", str(tcvae_run), "--out", str(tmp_path / "x.png"), "--limit", "-1"], "--limit must be")
    _bad(capsys, ["eval", str(tcvae_run), "--metrics", "mog"], "unknown metric mog")
    _bad(capsys, ["train", "vae", "objective=beta-tc"], "objective")
    _bad(capsys, ["train", "gan", "objective=beta-tcvae"], "'objective' belongs to vae; sprite-gan does not use it")
    # a model without the factors: trained on a folder of images
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(12):
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (16, 16), dtype=np.uint8)).save(folder / f"{i}.png")
    run = tmp_path / "folder-vae"
    assert main(["train", "vae", "--data", f"folder:{folder}", "resolution=16", "--steps", "2", "batch_size=4",
                 "eval_k=2", "--run-dir", str(run)]) == 0
    assert "mig" not in json.loads((run / "eval.json").read_text())  # nothing to score, silently
    _bad(capsys, ["train", "vae", "objective=beta-tcvae", "--data", f"folder:{folder}", "resolution=16",
                  "--run-dir", str(tmp_path / "tc")], "needs more of them (10) than batch_size (64)")
    assert not (tmp_path / "tc").exists()
    _bad(capsys, ["eval", str(run), "--metrics", "mig"], "need an encoder trained on the shapes data's factors")
    _bad(capsys, ["swap", str(run), "--out", str(tmp_path / "y.png"), "--factor", "scale"], "--factor needs")
    gan = tmp_path / "gan"
    assert main(["train", "gan-transformer", "--data", "shapes:scale=5,orientation=0", "resolution=16", "--steps", "2",
                 "batch_size=4", "g_channels=4", "d_channels=4", "eval_samples=8", "--run-dir", str(gan)]) == 0
    _bad(capsys, ["traverse", str(gan), "--out", str(tmp_path / "g.png")], "; this is a GAN")
    _bad(capsys, ["eval", str(gan), "--metrics", "mig"], "; this is a GAN")


@pytest.mark.parametrize("objective", ["factor-vae", "capacity"])
def test_other_objectives_train_from_the_cli(objective, tmp_path):
    run = tmp_path / objective
    assert main(["train", "vae", f"objective={objective}", "disc_hidden=16", "disc_layers=2", "capacity_steps=20",
                 "metrics=mig", "--run-dir", str(run), *TINY]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert "mig" in result and "factor_vae" not in result
