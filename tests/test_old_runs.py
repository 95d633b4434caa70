"""Run directories written before each genlab model had a config of its own still load: `sample`, `eval` and
`--resume` of a run whose config holds every model's fields in one, with the old names (the sprite GAN as
model = "gan", g_arch = "sprites"), a bare optimiser state and the sprite GAN's step buffer; a run made with an
option since removed is refused with one line."""

import json
import shutil

import pytest
import tomli_w
import torch

from genlab.cli import main
from genlab.models import MODELS
from labcore.config import defaults
from labcore.run import Run

SMALL = ["--data", "shapes:scale=4-5,orientation=0-3", "resolution=16", "batch_size=8", "eval_images=20",
         "eval_samples=16", "image_freq=1000", "checkpoint_freq=4"]
ARGS = {"vae": ["vae", "eval_k=4", "metrics=none"],
        "sprite-gan": ["sprite-gan", "sprite_steps=4", "sprite_angles=8", "g_channels=8", "d_channels=8"],
        "vae-gan": ["vae-gan", "g_channels=4", "d_channels=4", "recon_beta=0.5"]}


def _old_config(cfg: dict) -> dict:
    """`cfg` as the single config of every model stored it: all fields, the variants as gan options."""
    union = {k: v for spec in MODELS.values() for k, v in defaults(spec.config).items()}
    old = {**union, "supersample": 1, "d_arch": "dcgan", "latent_categories": 0, "info_weight": 0.0,
           "recon_weight": 0.0, "g_arch": "dcgan", **cfg}
    if cfg["model"] == "sprite-gan":
        old.update(model="gan", g_arch="sprites")
    if cfg["model"] == "vae-gan":
        old.update(model="gan", beta=cfg["recon_beta"])
    return {k: v for k, v in old.items() if k not in ("categories", "recon_beta")}


def _make_old(run, model: str, checkpoint=None) -> dict:
    """Rewrite a run directory (config.toml and checkpoints/last.pt, from `checkpoint` if given) the way the lab
    wrote it before."""
    path = run / "checkpoints" / "last.pt"
    state = torch.load(checkpoint or path, weights_only=True)
    state["config"] = _old_config(state["config"])
    state["algo"] = state["config"]["model"]
    if model == "vae":
        state["optimizer"] = state["optimizer"]["vae"]
    if model == "sprite-gan":
        state["optimizer"]["s"] = state["optimizer"].pop("sprites")
        state["model"]["step"] = torch.tensor(state["step"])
    torch.save(state, path)
    (run / "config.toml").write_text(tomli_w.dumps(state["config"]))
    return state


@pytest.mark.parametrize("model", list(ARGS))
def test_an_old_run_samples_evaluates_and_resumes(tmp_path, capsys, monkeypatch, model):
    # an 8-step run, and a copy of it stopped at its step-4 checkpoint, written the old way
    reference, run, step4 = tmp_path / "reference", tmp_path / "old", tmp_path / "step4.pt"
    save = Run.save

    def save_and_keep_step_4(self, state, name="last"):
        path = save(self, state, name)
        if state["step"] == 4 and name == "last":
            shutil.copy(path, step4)
        return path

    monkeypatch.setattr(Run, "save", save_and_keep_step_4)
    assert main(["train", *ARGS[model], *SMALL, "--steps", "8", "--run-dir", str(reference)]) == 0
    shutil.copytree(reference, run)
    (run / "eval.json").unlink()
    _make_old(run, model, step4)
    assert "supersample" in (run / "config.toml").read_text()
    assert main(["sample", str(run), "--n", "4", "--out", str(tmp_path / "s.png")]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--json"]) == 0
    assert "valid" in json.loads(capsys.readouterr().out)
    assert main(["train", "--resume", str(run)]) == 0  # continues exactly: the 8-step run's weights
    got = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    want = torch.load(reference / "checkpoints" / "last.pt", weights_only=True)
    assert got["algo"] == model and got["step"] == 8
    assert all(torch.equal(want["model"][k], got["model"][k]) for k in want["model"])


def test_a_run_with_a_removed_option_is_refused(tmp_path, capsys):
    run = tmp_path / "old"
    assert main(["train", "gan-transformer", *SMALL, "--steps", "2", "g_channels=4", "d_channels=4",
                 "--run-dir", str(run)]) == 0
    state = _make_old(run, "gan")
    state["config"]["supersample"] = 2
    torch.save(state, run / "checkpoints" / "last.pt")
    capsys.readouterr()
    assert main(["sample", str(run), "--out", str(tmp_path / "s.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "made with supersample = 2, an option since removed" in err
