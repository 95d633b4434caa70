"""Every bad input is one line on stderr, exit code 2, no traceback, and no run directory touched."""

import pickle

import pytest
import torch

from rllab.cli import main


def _run_bad(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["train", "--env", "CartPoel-v1"], "unknown environment id 'CartPoel-v1' (did you mean 'CartPole-v1'"),
        (["train", "--env", "Pendulum-v1"], "dqn needs a discrete action space, but Pendulum-v1 has Box"),
        (["train", "cartpol-dqn"], "unknown recipe 'cartpol-dqn' (did you mean 'cartpole-dqn'"),
        (["train", "no/such/recipe.toml"], "no such recipe file"),
        (["train", "learning_rat=0.1"], "unknown config key 'learning_rat' (did you mean 'learning_rate'"),
        (["train", "batch_size=many"], "'batch_size' must be an integer"),
        (["train", "--steps", "0"], "'steps' must be a positive"),
        (["train", "--steps", "-10"], "'steps' must be a positive"),
        (["train", "--steps", "ten"], "invalid int value"),
        (["train", "--algo", "dqm"], "unknown algorithm 'dqm' (did you mean 'dqn'"),
        (["train", "--device", "cuda:7"], "not available"),
        (["train", "--device", "gpu"], "unknown device"),
        (["eval", "/no/such/run"], "no such run directory or checkpoint"),
        (["eval", "/tmp", "--episodes", "0"], "--episodes must be positive"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, match):
    if argv[0] == "train":
        argv = [*argv, "--run-dir", str(tmp_path / "run")]
    err = _run_bad(capsys, argv)
    assert match in err
    assert not (tmp_path / "run").exists()


def test_argparse_errors_are_one_line(capsys):
    assert "unrecognized arguments" in _run_bad(capsys, ["train", "--stpes", "3"])


def test_existing_run_directory_is_never_touched(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    err = _run_bad(capsys, ["train", "--run-dir", str(run), "--steps", "100"])
    assert "already exists" in err and "--resume" in err
    assert [p.name for p in run.iterdir()] == ["notes.txt"] and (run / "notes.txt").read_text() == "mine"


def test_missing_truncated_and_foreign_checkpoints(tmp_path, capsys, tiny):
    run = tmp_path / "run"
    assert main(["train", "--run-dir", str(run), *tiny]) == 0
    capsys.readouterr()
    good = (run / "checkpoints" / "last.pt").read_bytes()

    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good[: len(good) // 2])
    assert "not a readable checkpoint" in _run_bad(capsys, ["eval", str(truncated)])

    text = tmp_path / "notes.pt"
    text.write_text("hello")
    assert "not a readable checkpoint" in _run_bad(capsys, ["eval", str(text)])

    foreign = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(3)}, foreign)
    assert "not a lab checkpoint" in _run_bad(capsys, ["eval", str(foreign)])

    empty_run = tmp_path / "empty"
    empty_run.mkdir()
    assert "no checkpoint in run directory" in _run_bad(capsys, ["eval", str(empty_run)])
    assert "no checkpoint in run directory" in _run_bad(capsys, ["enjoy", str(empty_run)])


class Exploit:
    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').write('x')",))


def test_checkpoint_that_runs_code_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.pt"
    torch.save({"format": "labcore-checkpoint", "payload": Exploit()}, evil, pickle_module=pickle)
    err = _run_bad(capsys, ["eval", str(evil)])
    assert "refused" in err
    assert not (tmp_path / "PWNED").exists()
