"""Ctrl-C saves and exits 130; --resume continues exactly: the same final weights as an uninterrupted run."""

import json
import signal
import subprocess
import time

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

ARGS = ["--steps", "5000", "--seed", "7", "learning_starts=200", "train_freq=1", "gradient_steps=1",
        "batch_size=32", "net_arch=[32,32]", "buffer_size=3000", "checkpoint_freq=500", "eval_freq=2500",
        "eval_episodes=2", "log_freq=100", "target_update_interval=100", "lr_schedule=linear"]


def _train(run, *extra):
    return subprocess.Popen(["rllab", "train", "--run-dir", str(run), *ARGS, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path, proc, timeout=120):
    start = time.time()
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() - start < timeout
        time.sleep(0.02)


def _weights(run):
    return torch.load(run / "checkpoints" / "last.pt", weights_only=True)["learner"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "killed"])
def test_interrupted_and_resumed_run_equals_uninterrupted_run(tmp_path, sig):
    reference = _train(tmp_path / "reference")
    run = tmp_path / "run"
    proc = _train(run)
    _wait_for(run / "checkpoints" / "last.pt", proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    if sig == signal.SIGINT:
        assert proc.returncode == 130, err
        assert f"rllab train --resume {run}" in err
    else:
        assert proc.returncode == -signal.SIGKILL
    step = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["step"]
    assert 0 < step < 5000

    resumed = subprocess.run(["rllab", "train", "--resume", str(run)], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert reference.wait(timeout=300) == 0
    ref, got = _weights(tmp_path / "reference"), _weights(run)
    for part in ("q", "q_target"):
        for name, tensor in ref[part].items():
            assert torch.equal(tensor, got[part][name]), f"{part}.{name} differs after resume"
    scores = [json.loads((d / "eval.json").read_text()) for d in (run, tmp_path / "reference")]
    for s in scores:
        s.pop("train_seconds")  # wall-clock, the one thing that differs
    assert scores[0] == scores[1]

    # One continuous curve: every logged step once, even where the killed run had logged past its checkpoint.
    acc = EventAccumulator(str(run))
    acc.Reload()
    assert [e.step for e in acc.Scalars("rollout/exploration_rate")] == list(range(100, 5001, 100))


def test_resume_refuses_other_settings(tmp_path, capsys):
    from rllab.cli import main

    assert main(["train", "--resume", str(tmp_path), "--steps", "10"]) == 2
    assert "--resume continues a run" in capsys.readouterr().err


def test_resume_of_a_finished_run_changes_nothing(tmp_path, tiny):
    from rllab.cli import main

    run = tmp_path / "run"
    assert main(["train", "--run-dir", str(run), *tiny]) == 0
    before = _weights(run)
    assert main(["train", "--resume", str(run)]) == 0
    after = _weights(run)
    assert all(torch.equal(before["q"][k], v) for k, v in after["q"].items())
