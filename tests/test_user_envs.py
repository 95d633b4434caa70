"""A user's own environment module, written into a folder the way a user would, trained from the command line to
its known optimum (DQN and PPO, discrete and Box actions), then evaluated, rendered and resumed from fresh
processes; and every way a user's module, kwargs or wrapper can be wrong is one line and exit code 2."""

import json
import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from labcore.config import read_toml
from rllab.cli import main

ENV_MODULE = textwrap.dedent('''
    """A user's own environments, registered on import."""
    import gymnasium as gym
    import numpy as np
    from gymnasium import spaces


    class Corridor(gym.Env):
        """Walk from cell 0 to cell n - 1: -0.1 a step, +1 on arrival; the best return is 1 - 0.1 (n - 2)."""

        metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

        def __init__(self, n: int = 5, render_mode: str | None = None):
            self.n, self.render_mode = n, render_mode
            self.observation_space = spaces.Box(0.0, 1.0, (n,), np.float32)
            self.action_space = spaces.Discrete(2)

        def _obs(self):
            return np.eye(self.n, dtype=np.float32)[self.pos]

        def reset(self, seed=None, options=None):
            super().reset(seed=seed)
            self.pos = 0
            return self._obs(), {}

        def step(self, action):
            self.pos = min(max(self.pos + (1 if action == 1 else -1), 0), self.n - 1)
            arrived = self.pos == self.n - 1
            return self._obs(), 1.0 if arrived else -0.1, arrived, False, {}

        def render(self):
            frame = np.zeros((16, 16 * self.n, 3), np.uint8)
            frame[:, 16 * self.pos:16 * self.pos + 16] = 255
            return frame


    class Match(gym.Env):
        """One step: see a target x in [-1, 1], answer a in [-1, 1], earn -(a - x)^2; the best return is 0."""

        def __init__(self):
            self.observation_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
            self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)

        def reset(self, seed=None, options=None):
            super().reset(seed=seed)
            self.x = self.np_random.uniform(-1, 1, size=1).astype(np.float32)
            return self.x, {}

        def step(self, action):
            return self.x, -float(((action - self.x) ** 2).sum()), True, False, {}


    class Crashing(gym.Env):
        def __init__(self):
            raise FileNotFoundError("track.json is missing")


    class ScaleReward(gym.RewardWrapper):
        def __init__(self, env, scale: float = 1.0):
            super().__init__(env)
            self.scale = scale

        def reward(self, reward):
            return self.scale * reward


    def not_a_wrapper(env):
        return env


    gym.register("Corridor-v0", entry_point=Corridor, max_episode_steps=20)
    gym.register("Match-v0", entry_point=Match)
    gym.register("Crashing-v0", entry_point=Crashing)
''')

CORRIDOR = ["--env", "lab_user_envs:Corridor-v0", "env_kwargs={n=6}"]  # best return 1 - 0.1 * 4 = 0.6
MATCH = ["--env", "lab_user_envs:Match-v0", 'env_wrappers=[{"lab_user_envs:ScaleReward" = {scale = 2.0}}]']
RUNS = {  # the settings each needs to reach the optimum in seconds
    "dqn-corridor": ["--algo", "dqn", *CORRIDOR, "--steps", "2000", "learning_starts=300", "net_arch=[32]",
                     "batch_size=32", "eval_freq=1000", "checkpoint_freq=1000"],
    "ppo-corridor": ["--algo", "ppo", *CORRIDOR, "--steps", "4096", "eval_freq=2048"],
    "ppo-match": ["--algo", "ppo", *MATCH, "--steps", "4096", "eval_freq=0", "rollout_steps=16", "minibatches=2",
                  "epochs=4", "learning_rate=3e-3", "log_std_init=-1"],
}


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    """A folder holding the user's module, made the current directory; the module is not on PYTHONPATH."""
    (tmp_path / "lab_user_envs.py").write_text(ENV_MODULE)
    (tmp_path / "lab_broken_envs.py").write_text("import gymnasium\nraise RuntimeError('forgot to finish this')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    return tmp_path


def rllab(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The installed `rllab` script in a fresh process, as a user runs it."""
    return subprocess.run(["rllab", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("name", RUNS)
def test_a_user_env_trains_to_its_optimum_and_evaluates_renders_and_resumes(user_dir, capsys, name):
    run = user_dir / name
    done = rllab("train", *RUNS[name], "--run-dir", str(run), cwd=user_dir)
    assert done.returncode == 0, done.stderr
    assert json.loads((run / "eval.json").read_text())["mean_return"] == pytest.approx(0.6 if "corridor" in name
                                                                                       else 0.0, abs=0.01)
    cfg = read_toml(run / "config.toml")  # what rebuilds the environment, recorded
    assert cfg["env"].startswith("lab_user_envs:")
    assert cfg["env_kwargs"] == ({"n": 6} if "corridor" in name else {})

    evaluated = rllab("eval", str(run), "--episodes", "5", "--json", cwd=user_dir)
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["mean_return"] == pytest.approx(0.6 if "corridor" in name else 0, abs=0.01)

    if "match" in name:  # Match has no rgb_array rendering: enjoy says so in one line
        assert main(["enjoy", str(run), "--out", str(user_dir / "match.gif")]) == 2
        err = capsys.readouterr().err.strip()
        assert "Match-v0 does not render rgb_array frames" in err and len(err.splitlines()) == 1
        return
    enjoyed = rllab("enjoy", str(run), "--out", str(user_dir / f"{name}.gif"), cwd=user_dir)
    assert enjoyed.returncode == 0, enjoyed.stderr
    with Image.open(user_dir / f"{name}.gif") as im:
        assert im.n_frames == 6  # the start and five steps right

    # --resume of the finished run from a fresh process rebuilds the environment and changes nothing
    before = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["learner"]
    resumed = rllab("train", "--resume", str(run), cwd=user_dir)
    assert resumed.returncode == 0, resumed.stderr
    after = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["learner"]
    part = "q" if "dqn" in name else "policy"
    assert all(torch.equal(t, after[part][k]) for k, t in before[part].items())


def _children(pid: int) -> set[int]:
    """The process ids whose parent is `pid`."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except OSError:
        return False


def test_async_workers_resume_exactly_after_ctrl_c_and_leave_no_process_behind(user_dir):
    args = ["--algo", "ppo", *CORRIDOR, "--steps", "6144", "--seed", "3", "num_envs=2", "vec_env=async",
            "rollout_steps=64", "checkpoint_freq=512", "eval_freq=0", "eval_episodes=2",
            'env_wrappers=["lab_user_envs:ScaleReward"]']
    reference = subprocess.Popen(["rllab", "train", "--run-dir", "reference", *args], cwd=user_dir,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    proc = subprocess.Popen(["rllab", "train", "--run-dir", "run", *args], cwd=user_dir, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    checkpoint = user_dir / "run" / "checkpoints" / "last.pt"
    while not checkpoint.exists():
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    workers = _children(proc.pid)
    assert len(workers) >= 2  # one process per sub-env (and the resource tracker, if any)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole process group, workers included
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    time.sleep(0.5)
    assert not [pid for pid in workers if _alive(pid)]
    step = torch.load(checkpoint, weights_only=True)["step"]
    assert 0 < step < 6144

    resumed = rllab("train", "--resume", "run", cwd=user_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert reference.wait(timeout=300) == 0, reference.stderr.read()
    ref = torch.load(user_dir / "reference" / "checkpoints" / "last.pt", weights_only=True)["learner"]["policy"]
    got = torch.load(checkpoint, weights_only=True)["learner"]["policy"]
    assert all(torch.equal(t, got[k]) for k, t in ref.items())


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--env", "lab_no_such_module:Corridor-v0"], "no module named 'lab_no_such_module' (not installed, and not"),
        (["--env", "lab_broken_envs:Corridor-v0"], "importing 'lab_broken_envs' failed: RuntimeError: forgot to"),
        (["--env", "lab_user_envs:Coridor-v0"], "module 'lab_user_envs' registers no environment 'Coridor-v0' "
         "(did you mean 'Corridor-v0'?): it registered Corridor-v0, Crashing-v0, Match-v0"),
        (["--env", "lab_user_envs:Crashing-v0"], "could not be made: FileNotFoundError: track.json is missing"),
        ([*CORRIDOR, "env_kwargs={length=6}"], "Corridor-v0 has no argument 'length'; it takes n"),
        ([*CORRIDOR, "env_kwargs=6"], "config key 'env_kwargs' must be a table such as {n = 12}"),
        ([*CORRIDOR, "env_wrappers=lab_user_envs:Corridor"], "lab_user_envs:Corridor is not a gymnasium.Wrapper"),
        ([*CORRIDOR, "env_wrappers=lab_user_envs:not_a_wrapper"], "not_a_wrapper is not a gymnasium.Wrapper"),
        ([*CORRIDOR, "env_wrappers=lab_user_envs:Scale"], "module 'lab_user_envs' has no 'Scale'"),
        ([*CORRIDOR, "env_wrappers=ScaleReward"], "each entry is \"module:Class\""),
        ([*CORRIDOR, 'env_wrappers=[{"lab_user_envs:ScaleReward" = {factor = 2}}]'],
         "ScaleReward(env, **{'factor': 2}) failed: TypeError"),
        (["--env-package", "lab_no_plugin", *CORRIDOR], "--env-package lab_no_plugin: no module named"),
        (["--algo", "ppo", *CORRIDOR, "vec_env=async", "env_kwargs={m=1}"], "has no argument 'm'"),
    ],
)
def test_a_wrong_user_env_is_one_line_and_exit_2(user_dir, capsys, argv, match):
    assert main(["train", *argv, "--run-dir", str(user_dir / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err
    assert not (user_dir / "run").exists()


def test_env_package_registers_ids_before_the_env_is_made(user_dir, capsys):
    run = user_dir / "run"
    assert main(["train", "--env-package", "lab_user_envs", "--env", "Corridor-v0", "--steps", "200",
                 "learning_starts=50", "eval_freq=0", "eval_episodes=1", "--run-dir", str(run)]) == 0
    assert read_toml(run / "config.toml")["env_packages"] == ["lab_user_envs"]


def test_an_env_without_rgb_array_frames_trains_with_one_warning_instead_of_videos(user_dir, capsys):
    run = user_dir / "run"
    assert main(["train", "--algo", "ppo", *MATCH, "--steps", "512", "rollout_steps=16", "eval_freq=0",
                 "eval_episodes=1", "video_freq=128", "--run-dir", str(run)]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert warnings == ["warning: no episode videos in TensorBoard (video_freq): lab_user_envs:Match-v0 does not "
                        "render rgb_array frames (its metadata's render_modes: [])"]


def test_a_recipe_names_a_user_env_with_its_kwargs_and_wrappers(user_dir, capsys):
    recipe = user_dir / "corridor.toml"
    recipe.write_text('algo = "ppo"\nenv = "lab_user_envs:Corridor-v0"\nsteps = 256\nnum_envs = 2\n'
                      'rollout_steps = 32\nminibatches = 2\neval_freq = 0\n'
                      'env_wrappers = [{"lab_user_envs:ScaleReward" = {scale = 10.0}}]\n'
                      '[env_kwargs]\nn = 3\n')
    run = user_dir / "run"
    assert main(["train", str(recipe), "--run-dir", str(run)]) == 0
    cfg = read_toml(run / "config.toml")
    assert cfg["env_kwargs"] == {"n": 3} and cfg["env_wrappers"] == [{"lab_user_envs:ScaleReward": {"scale": 10.0}}]
    capsys.readouterr()
    assert main(["eval", str(run), "--episodes", "2", "--json"]) == 0
    score = json.loads(capsys.readouterr().out)["mean_return"]
    assert score == pytest.approx(9.0)  # the best return of the corridor of 3 cells, 0.9, scaled by the wrapper
