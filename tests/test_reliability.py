"""Faults in the middle of a run: kills at random moments (during checkpoint writes too), a full disk, a second
writer on a run directory, resume inputs that do not match, and damaged data files."""

from __future__ import annotations

import errno
import gzip
import random
import signal
import struct
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import genlab.cli
import labcore.rundir
import rllab.cli
from labcore.errors import TrainingError, UsageError
from labcore.run import Run
from labcore.rundir import VERSION, atomic_save, load_checkpoint

# DQN with a checkpoint (weights, optimiser and the whole replay buffer) every 250 of its 4000 steps
ARGS = ["--steps", "4000", "--seed", "5", "learning_starts=200", "train_freq=1", "gradient_steps=1",
        "batch_size=32", "net_arch=[32,32]", "buffer_size=4000", "checkpoint_freq=250", "eval_freq=0",
        "eval_episodes=2", "log_freq=100", "target_update_interval=100"]


def _weights(run):
    return torch.load(run / "checkpoints" / "last.pt", weights_only=True)["learner"]["q"]


def kill_and_resume(tmp_path, kills: int, seed: int) -> list[int]:
    """Kill a training process `kills` times at random moments, resuming after each; then finish it. Returns the
    step of the checkpoint found after each kill; asserts the final weights equal an uninterrupted run's."""
    rng = random.Random(seed)
    run = tmp_path / "run"
    reference = subprocess.Popen(["rllab", "train", "--run-dir", str(tmp_path / "reference"), *ARGS],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc = subprocess.Popen(["rllab", "train", "--run-dir", str(run), *ARGS], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    while not (run / "checkpoints" / "last.pt").exists():  # a run killed before its first checkpoint has none
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    steps = []
    for _ in range(kills):
        time.sleep(rng.uniform(0.0, 2.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state, _ = load_checkpoint(run)  # whole, whatever the kill interrupted
        steps.append(state["step"])
        proc = subprocess.Popen(["rllab", "train", "--resume", str(run)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        time.sleep(2.0)  # past the imports: the next kill lands in the loop, or in a checkpoint write
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert reference.wait(timeout=600) == 0
    ref, got = _weights(tmp_path / "reference"), _weights(run)
    assert all(torch.equal(ref[k], got[k]) for k in ref)
    return steps


def test_killed_runs_resume_to_the_uninterrupted_weights(tmp_path):
    steps = kill_and_resume(tmp_path, kills=3, seed=0)
    assert all(0 < s <= 4000 for s in steps)


KILLED_IN_A_WRITE = """
import os, signal, sys
import torch
import labcore.rundir
from rllab.cli import main

real_save, saves = torch.save, []

def save_then_die(obj, f, *args, **kwargs):  # the third checkpoint: half written, then SIGKILL
    saves.append(1)
    if len(saves) == 3:
        real_save(obj, f, *args, **kwargs)
        f.truncate(f.tell() // 2)
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return real_save(obj, f, *args, **kwargs)

labcore.rundir.torch.save = save_then_die
sys.exit(main(sys.argv[1:]))
"""


def test_killed_while_a_checkpoint_is_written(tmp_path):
    reference = subprocess.Popen(["rllab", "train", "--run-dir", str(tmp_path / "reference"), *ARGS],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run = tmp_path / "run"
    killed = subprocess.run([sys.executable, "-c", KILLED_IN_A_WRITE, "train", "--run-dir", str(run), *ARGS],
                            capture_output=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL
    assert [p.name for p in (run / "checkpoints").glob(".last.pt.tmp*")]  # the half-written file is there
    assert load_checkpoint(run)[0]["step"] == 500  # and last.pt is still the second checkpoint, whole
    resumed = subprocess.run(["rllab", "train", "--resume", str(run)], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert reference.wait(timeout=300) == 0
    ref, got = _weights(tmp_path / "reference"), _weights(run)
    assert all(torch.equal(ref[k], got[k]) for k in ref)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(5))
def test_many_kills(tmp_path, seed):
    kill_and_resume(tmp_path, kills=8, seed=seed)


def test_a_full_disk_stops_the_run_and_keeps_the_last_checkpoint(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    saves = []
    real_save = torch.save

    def save_until_the_disk_fills(obj, f, *args, **kwargs):
        saves.append(1)
        if len(saves) == 3:  # the third checkpoint: half written, then the disk is full
            f.write(b"x" * 1000)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(labcore.rundir.torch, "save", save_until_the_disk_fills)
    code = rllab.cli.main(["train", "--run-dir", str(run), *ARGS, "checkpoint_freq=500"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip().splitlines()[-1].endswith("No space left on device; the last good checkpoint is kept")
    assert "Traceback" not in err
    state, _ = load_checkpoint(run)
    assert state["step"] == 1000  # the second checkpoint, intact
    assert not [p for p in (run / "checkpoints").iterdir() if p.name != "last.pt"]  # no temp file left


def test_atomic_save_never_leaves_a_half_file(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    atomic_save({"a": torch.zeros(3)}, path)
    monkeypatch.setattr(labcore.rundir.os, "replace", lambda *a: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error")))
    with pytest.raises(TrainingError, match="I/O error"):
        atomic_save({"a": torch.ones(3)}, path)
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.zeros(3))
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_one_writer_per_run_directory(tmp_path, capsys):
    run = tmp_path / "run"
    trainer = subprocess.Popen(["rllab", "train", "--run-dir", str(run), *ARGS, "--steps", "200000"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        while not (run / "checkpoints" / "last.pt").exists():
            assert trainer.poll() is None, trainer.communicate()
            time.sleep(0.02)
        assert rllab.cli.main(["train", "--resume", str(run)]) == 2
        err = capsys.readouterr().err
        assert "being trained by another process" in err and len(err.strip().splitlines()) == 1
        assert rllab.cli.main(["train", "--run-dir", str(run), "--steps", "100"]) == 2
        assert "already exists" in capsys.readouterr().err
        assert rllab.cli.main(["eval", str(run), "--episodes", "1"]) == 0  # readers may read meanwhile
        assert rllab.cli.main(["plot", str(run), "--out", str(tmp_path / "c.png")]) == 0
    finally:
        trainer.send_signal(signal.SIGKILL)
        trainer.wait()
    # the kernel dropped the killed trainer's lock: the directory takes a writer again
    Run(run, {}, total=1, resume=True).close()


def test_a_run_releases_its_lock_on_every_exit(tmp_path):
    first = Run(tmp_path / "r", {"a": 1}, total=1)
    with pytest.raises(UsageError, match="being trained by another process"):
        Run(tmp_path / "r", {"a": 1}, total=1, resume=True)
    first.close()
    Run(tmp_path / "r", {"a": 1}, total=1, resume=True).close()


def _finished_rl_run(tmp_path, tiny):
    run = tmp_path / "run"
    assert rllab.cli.main(["train", "--run-dir", str(run), *tiny]) == 0
    return run


def test_resume_refuses_an_edited_config(tmp_path, tiny, capsys):
    run = _finished_rl_run(tmp_path, tiny)
    before = (run / "checkpoints" / "last.pt").read_bytes()
    text = (run / "config.toml").read_text()
    (run / "config.toml").write_text(text.replace("gamma = 0.99", "gamma = 0.9"))
    capsys.readouterr()
    assert rllab.cli.main(["train", "--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert "gamma: 0.9 in the file, 0.99 in the checkpoint" in err and len(err.strip().splitlines()) == 1
    assert (run / "checkpoints" / "last.pt").read_bytes() == before


def test_resume_refuses_a_checkpoint_of_another_kind_or_a_newer_format(tmp_path, tiny, capsys):
    run = _finished_rl_run(tmp_path, tiny)
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    capsys.readouterr()
    assert genlab.cli.main(["train", "--resume", str(run)]) == 2
    assert "not of a genlab model" in capsys.readouterr().err
    atomic_save({**state, "algo": "vae"}, run / "checkpoints" / "last.pt")
    assert rllab.cli.main(["train", "--resume", str(run)]) == 2
    assert "holds a checkpoint of 'vae', not of an rllab algorithm" in capsys.readouterr().err
    atomic_save({**state, "version": VERSION + 1}, run / "checkpoints" / "last.pt")
    for argv in (["train", "--resume", str(run)], ["eval", str(run)]):
        assert rllab.cli.main(argv) == 2
        assert "not one this lab reads" in capsys.readouterr().err


def test_a_truncated_events_file_still_resumes_into_one_curve(tmp_path):
    run = tmp_path / "run"
    args = ["--run-dir", str(run), *ARGS, "--steps", "2000", "log_freq=50"]
    proc = subprocess.Popen(["rllab", "train", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not (run / "checkpoints" / "last.pt").exists() or load_checkpoint(run)[0]["step"] < 500:
        assert proc.poll() is None
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    events = next(run.glob("events.out.tfevents.*"))
    events.write_bytes(events.read_bytes()[:-7])  # the last record cut in the middle
    resumed = subprocess.run(["rllab", "train", "--resume", str(run)], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    acc = EventAccumulator(str(run))
    acc.Reload()
    steps = [e.step for e in acc.Scalars("train/loss")]
    assert steps == sorted(set(steps)) and steps[-1] == 2000
    assert set(range(300, 2001, 50)) <= set(steps)  # no gap where the cut record was (300: the first log)


def _idx(shape, body=None):
    head = bytes([0, 0, 8, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
    return head + (body if body is not None else bytes(int(np.prod(shape))))


@pytest.mark.parametrize("name, content, match", [
    ("truncated-images-idx3-ubyte", _idx((4, 8, 8))[:-10], "truncated"),
    ("magic-images-idx3-ubyte", b"\x00\x00\x0d\x03" + bytes(20), "bad magic"),
    ("flat-images-idx3-ubyte", _idx((16,)), "1-D data"),
    ("gz-images-idx3-ubyte.gz", gzip.compress(_idx((4, 8, 8)))[:-12], "not a readable IDX"),
    ("zlib-images-idx3-ubyte.gz", gzip.compress(_idx((4, 8, 8)))[:12] + b"\xff" * 40, "not a readable IDX"),
])
def test_damaged_idx_files_are_one_line_naming_the_file(tmp_path, capsys, name, content, match):
    (tmp_path / name).write_bytes(content)
    code = genlab.cli.main(["train", "vae", "--data", f"mnist:{tmp_path / name}", "--run-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and match in err and name in err, err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "r").exists()


def test_image_folders(tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    argv = ["train", "vae", "--data", f"folder:{folder}", "--run-dir", str(tmp_path / "r"), "resolution=16"]
    assert genlab.cli.main(argv) == 2
    assert "no images" in capsys.readouterr().err
    Image.new("RGB", (40, 30), "red").save(folder / "a.png")  # mixed sizes and modes: resized and converted
    Image.new("L", (8, 8), 9).save(folder / "b.jpg")
    Image.new("P", (20, 64)).save(folder / "c.gif")
    from genlab.data import load
    data = load(f"folder:{folder}", resolution=16)
    assert data.images.shape == (3, 1, 16, 16)
    (folder / "d.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(30))  # a PNG signature, then nothing
    assert genlab.cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "d.png is not a readable image" in err and len(err.strip().splitlines()) == 1
