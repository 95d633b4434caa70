"""Tiny-budget runs of every policy-gradient algorithm × action-space type through the CLI, with eval
and enjoy; bad combinations; and an exactly resumed on-policy run."""

import importlib.util
import json
import signal
import subprocess

import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from labcore.config import read_toml
from rllab.cli import main

# the README's test install has the box2d and atari extras; with only [dev] these cases skip
needs_atari = pytest.mark.skipif(importlib.util.find_spec("ale_py") is None, reason="needs the atari extra")
needs_box2d = pytest.mark.skipif(importlib.util.find_spec("Box2D") is None, reason="needs the box2d extra")

TINY = {
    "reinforce": ["--steps", "300", "num_envs=2"],
    "ac": ["--steps", "1024", "num_envs=4", "rollout_steps=8", "critic=td", "n_steps=3"],
    "ppo": ["--steps", "1024", "num_envs=4", "rollout_steps=32", "minibatches=2", "epochs=2"],
}
COMMON = ["eval_freq=256", "eval_episodes=2", "log_freq=64", "net_arch=[16]"]


@pytest.mark.parametrize("env", ["CartPole-v1", "Pendulum-v1"])
@pytest.mark.parametrize("algo", ["reinforce", "ac", "ppo"])
def test_every_algorithm_and_action_space_trains_evaluates_and_renders(tmp_path, capsys, algo, env):
    run = tmp_path / "run"
    extra = ["normalize_obs=true"] if env == "Pendulum-v1" else []
    assert main(["train", "--algo", algo, "--env", env, "--run-dir", str(run), *TINY[algo], *COMMON, *extra]) == 0
    cfg = read_toml(run / "config.toml")
    assert cfg["env"] == env
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["algo"] == algo and state["step"] >= 300
    if extra:  # the normalisation statistics live in the policy's state
        assert state["learner"]["policy"]["norm.count"] > 300
    acc = EventAccumulator(str(run))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    expected = {"train/policy_loss", "train/entropy", "rollout/ep_rew_mean", "time/fps", "eval/mean_reward"}
    if algo != "reinforce":
        expected |= {"train/value_loss", "train/explained_variance", "train/approx_kl", "train/clip_fraction"}
    assert expected <= tags
    capsys.readouterr()
    assert main(["eval", str(run), "--episodes", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["episodes"] == 2
    if algo == "ppo":
        gif = tmp_path / "episode.gif"
        assert main(["enjoy", str(run), "--out", str(gif)]) == 0
        with Image.open(gif) as im:
            assert im.n_frames > 5


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--algo", "ppo", "buffer_size=1000"], "'buffer_size' is a dqn setting; ppo does not use it"),
        (["--algo", "ac", "critic=lambda"], "'critic' must be one of 'gae', 'mc', 'td'"),
        pytest.param(["--algo", "ppo", "--env", "ALE/Pong-v5"], "vector observations", marks=needs_atari),
        (["--algo", "ppo", "num_envs=3", "rollout_steps=5", "minibatches=2"], "must divide"),
        (["--algo", "ac", "--env", "Acrobot-v1", "vec_env=native"], "Acrobot-v1 has no native one"),
        pytest.param(["--algo", "reinforce", "--env", "CarRacing-v3"],
                     "take vector observations, not Box(0, 255, (3, 96, 96)", marks=needs_box2d),
    ],
)
def test_bad_combinations_are_one_line_errors(tmp_path, capsys, argv, match):
    assert main(["train", *argv, "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err
    assert not (tmp_path / "run").exists()


RESUMED = {
    "pendulum": ["--algo", "ppo", "--env", "Pendulum-v1", "num_envs=4", "rollout_steps=64", "epochs=4",
                 "minibatches=4", "normalize_obs=true"],
    # Gymnasium's own vectorised CartPole: its state arrays and generator in the checkpoint
    "native-cartpole": ["--algo", "ac", "--env", "CartPole-v1", "num_envs=4", "rollout_steps=64", "vec_env=native"],
}


@pytest.mark.parametrize("setting", list(RESUMED))
def test_on_policy_run_resumes_exactly(tmp_path, setting):
    args = [*RESUMED[setting], "--steps", "8192", "--seed", "5", "checkpoint_freq=512", "eval_freq=4096",
            "eval_episodes=2", "net_arch=[32]"]
    reference = subprocess.Popen(["rllab", "train", "--run-dir", str(tmp_path / "reference"), *args],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run = tmp_path / "run"
    proc = subprocess.Popen(["rllab", "train", "--run-dir", str(run), *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    while not (run / "checkpoints" / "last.pt").exists():
        assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130
    step = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["step"]
    assert 0 < step < 8192 and step % 256 == 0  # mid-episode: Pendulum's are 200 steps, CartPole's up to 500
    assert subprocess.run(["rllab", "train", "--resume", str(run)], capture_output=True, timeout=300).returncode == 0
    assert reference.wait(timeout=300) == 0
    ref = torch.load(tmp_path / "reference" / "checkpoints" / "last.pt", weights_only=True)["learner"]["policy"]
    got = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["learner"]["policy"]
    for name, tensor in ref.items():
        assert torch.equal(tensor, got[name]), name


@pytest.mark.parametrize("algo", ["reinforce", "ac", "ppo", "dqn"])
def test_every_discrete_algorithm_trains_on_native_vector_cartpole(tmp_path, algo):
    run = tmp_path / "run"
    budget = TINY.get(algo, ["--steps", "600", "learning_starts=100", "num_envs=4"])
    assert main(["train", "--algo", algo, "--run-dir", str(run), *budget, *COMMON, "vec_env=native"]) == 0
    assert json.loads((run / "eval.json").read_text())["episodes"] == 2


def test_native_reinforce_batches_are_whole_first_episodes():
    import numpy as np

    from rllab.envs import EnvSpec
    from rllab.evaluate import Episodes
    from rllab.policies import ActorCritic
    from rllab.reinforce import collect_native_episodes
    from rllab.vector import native_cartpole

    envs = native_cartpole(EnvSpec("CartPole-v1"), 5)
    policy = ActorCritic(envs.single_observation_space, envs.single_action_space, [8])
    episodes = Episodes()
    trajectories = collect_native_episodes(envs, policy, np.random.default_rng(0), episodes)
    assert len(trajectories) == 5 and list(episodes.lengths) == [len(tr["reward"]) for tr in trajectories]
    for tr in trajectories:
        assert sum(tr["reward"]) == len(tr["obs"]) == len(tr["action"])  # reward 1 a step, no reset steps
        assert np.all(np.abs(tr["obs"][0]) <= 0.05)  # each starts from a fresh reset
        assert tr["terminated"] == (abs(tr["final"][0]) > 2.4 or abs(tr["final"][2]) > 12 * 2 * np.pi / 360)
