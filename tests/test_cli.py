"""Tiny-budget runs of every entry point, in-process through `main` (same code as the console script)."""

import json
import subprocess
import sys

import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from labcore.config import read_toml
from rllab.cli import main


def test_train_writes_config_checkpoints_events_and_eval(tmp_path, tiny, capsys):
    run = tmp_path / "run"
    assert main(["train", "--run-dir", str(run), "--seed", "3", *tiny]) == 0
    assert f"run directory: {run}" in capsys.readouterr().out
    cfg = read_toml(run / "config.toml")
    assert cfg["env"] == "CartPole-v1" and cfg["steps"] == 600 and cfg["seed"] == 3 and cfg["net_arch"] == [16, 16]
    assert cfg["train_freq"] == 4 and cfg["learning_rate"] == 2.3e-3  # from the default recipe, then overrides
    for name in ("last", "best"):
        state = torch.load(run / "checkpoints" / f"{name}.pt", weights_only=True)
        assert state["format"] == "labcore-checkpoint" and state["algo"] == "dqn"
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["step"] == 600
    result = json.loads((run / "eval.json").read_text())
    assert result["episodes"] == 2 and result["step"] == 600
    events = list(run.glob("events.out.tfevents.*"))
    assert len(events) == 1  # one run per directory, no hparams sub-run
    acc = EventAccumulator(str(run))
    acc.Reload()
    scalars = set(acc.Tags()["scalars"])
    assert {"rollout/ep_rew_mean", "rollout/ep_len_mean", "rollout/exploration_rate", "train/loss", "train/q_mean",
            "train/learning_rate", "eval/mean_reward", "time/fps"} <= scalars
    assert [e.step for e in acc.Scalars("eval/mean_reward")] == [300, 600]
    assert "config/text_summary" in acc.Tags()["tensors"]
    assert [e.step for e in acc.Scalars("rollout/exploration_rate")][-1] == 600


def test_eval_json_and_enjoy_gif(tmp_path, tiny, capsys):
    run = tmp_path / "run"
    assert main(["train", "--run-dir", str(run), *tiny]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--episodes", "3", "--json"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out)  # stdout is exactly one JSON object
    assert set(result) == {"mean_return", "std_return", "episodes"} and result["episodes"] == 3
    assert json.loads((run / "eval.json").read_text())["episodes"] == 3
    # a checkpoint file works as well as a run directory, and the same seed gives the same score
    assert main(["eval", str(run / "checkpoints" / "best.pt"), "--episodes", "3", "--json"]) == 0
    assert main(["eval", str(run), "--episodes", "3", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert json.loads(lines[1]) == result

    gif = tmp_path / "episode.gif"
    assert main(["enjoy", str(run), "--out", str(gif)]) == 0
    with Image.open(gif) as im:
        assert im.n_frames > 5 and im.size == (600, 400)
    assert main(["enjoy", str(run), "--out", str(gif)]) == 2  # never overwrites without --force
    assert main(["enjoy", str(run), "--out", str(gif), "--force"]) == 0


def test_list_shows_algorithms_and_recipes(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("dqn", "cartpole-dqn", "acrobot-dqn", "lunarlander-dqn", "pong-dqn"):
        assert name in out


def test_algo_and_env_pick_the_tuned_recipe(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--algo", "dqn", "--env", "Acrobot-v1", "--run-dir", str(run), "--steps", "200",
                 "learning_starts=100", "eval_episodes=1", "net_arch=[8]"]) == 0
    assert "acrobot-dqn" in capsys.readouterr().err
    cfg = read_toml(run / "config.toml")
    assert cfg["env"] == "Acrobot-v1" and cfg["target_update_interval"] == 250


def test_console_script_and_module_help():
    for cmd in (["rllab", "train", "--help"], [sys.executable, "-m", "rllab", "--help"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
    train_help = subprocess.run(["rllab", "train", "--help"], capture_output=True, text=True, timeout=120).stdout
    assert "--resume" in train_help and "learning_rate" in train_help and "Discount factor" in train_help


def test_output_piped_into_a_closed_reader_is_not_a_traceback():
    # `true` exits at once, long before rllab has imported torch: every write meets a closed pipe
    proc = subprocess.run("rllab list | true", shell=True, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("argv", [["--help"], ["list"], ["train", "--help"], ["train", "nosuch-recipe"],
                                  ["train", "cartpole-ppo", "learning_rat=1"], ["train", "--algo", "dqn", "gamma=2"]])
def test_commands_that_do_not_train_answer_without_importing_torch(argv):
    # torch takes ≈ 2 s to import: --help, list and bad input answer without it (and without Gymnasium)
    code = ("import sys; from rllab.cli import main; rc = main(sys.argv[1:]); "
            "print(sorted({'torch', 'gymnasium', 'optuna'} & set(sys.modules))); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60)
    assert proc.returncode in (0, 2) and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout.splitlines()[-1] == "[]"


@pytest.mark.parametrize("short", [["cartpole-ppo", "steps=1024"],
                                   ["cartpole-dqn", "steps=1500", "learning_starts=500", "gradient_steps=2"]])
def test_training_does_not_import_torch_dynamo(tmp_path, short):
    # torch.optim's optimisers import torch._dynamo (≈ 1.3 s) when built; Adam here is labcore.optim.Adam
    code = ("import sys; from rllab.cli import main; rc = main(sys.argv[1:]); "
            "print('torch._dynamo' in sys.modules); sys.exit(rc)")
    argv = ["train", *short, "--run-dir", str(tmp_path / "run")]
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "False"
