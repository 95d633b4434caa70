"""Data-parallel training under `torchrun` on CPUs (gloo): 2-rank runs of every kind of model, gradients equal to
one process's on the union of the ranks' batches, bit-exact resume after Ctrl-C, a killed rank, bad launches, and
two "machines" (two torchrun launchers on this one) training one run."""

import json
import os
import runpy
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from labcore.rundir import load_checkpoint

# tiny budgets and a final evaluation of a second (the metrics and the judge are tested elsewhere)
SHAPES = ["--data", "shapes:scale=5,orientation=0", "resolution=16", "image_freq=10", "log_freq=5", "batch_size=16",
          "eval_images=40", "eval_samples=8", "checkpoint_freq=10", "threads=1"]
METRICS = ["metrics=none", "eval_k=2"]
RUNS = {
    "vae": ["genlab", "train", "vae", *SHAPES, *METRICS, "--steps", "20"],
    "factor-vae": ["genlab", "train", "factor-vae", *SHAPES, *METRICS, "--steps", "20"],
    "gan": ["genlab", "train", "gan", *SHAPES, "--steps", "20"],  # the sprite GAN recipe, across its two stages
    "ppo": ["rllab", "train", "--algo", "ppo", "--steps", "2048", "num_envs=2", "rollout_steps=64", "eval_freq=1024",
            "eval_episodes=2", "net_arch=[16]", "normalize_obs=true", "video_freq=0"],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(*args: str, nproc: int = 2, **popen) -> subprocess.Popen:
    """`torchrun --standalone` (a free rendezvous port on this machine) running `python -m PACKAGE ...`."""
    package, *rest = args
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", "-m", package,
           *rest]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def finished(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def checkpoint(run) -> dict:
    return load_checkpoint(run)[0]


def written_by_rank_0_alone(run, out: str) -> None:
    """One report, one events file, the checkpoints once, and both ranks' weights the same."""
    assert out.count("run directory:") == 1  # rank 0 reports for the job
    assert len(list(run.glob("events.out.tfevents.*"))) == 1
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) in (["last.pt"], ["best.pt", "last.pt"])
    state = checkpoint(run)
    ranks = state["ranks"]
    assert len(ranks) == 2 and ranks[0]["fingerprint"] == ranks[1]["fingerprint"]  # the same weights on both
    assert ranks[0]["rng"]["numpy"] != ranks[1]["rng"]["numpy"]  # but each its own data
    assert json.loads((run / "eval.json").read_text())


@pytest.mark.parametrize("kind", ["factor-vae", "gan", "ppo"])  # vae: in the Ctrl-C test below
def test_two_ranks_train_one_run_that_rank_0_alone_writes(tmp_path, kind):
    run = tmp_path / "run"
    code, out, err = finished(torchrun(*RUNS[kind], "--run-dir", str(run)))
    assert code == 0, err
    written_by_rank_0_alone(run, out)


WORKER = textwrap.dedent('''
    """One data-parallel update of a VAE and of PPO on this rank's half of a fixed batch; saves the weights."""
    import sys
    import torch
    from labcore import distributed
    from labcore.config import build
    from genlab.config import VAEConfig
    from genlab.vae import VAE
    from rllab.actor_critic import ACLearner
    from rllab.config import PPOConfig
    from rllab.policies import ActorCritic
    import gymnasium as gym

    out = sys.argv[1]
    with distributed.session("gloo"):
        r, n = distributed.rank(), distributed.world_size()
        torch.manual_seed(0)
        x = (torch.rand(8, 1, 16, 16) > 0.5).float()
        noise = torch.randn(8, 10)
        torch.randn_like = lambda t: noise[r * 4:(r + 1) * 4] if n > 1 else noise  # the same draws as one process
        vae = VAE(build(VAEConfig, {"optimizer": "sgd", "learning_rate": 0.1, "resolution": 16}), 1, 16, 100)
        vae_init = {k: v.clone() for k, v in vae.state_dict().items()}
        vae.update(x[r * 4:(r + 1) * 4] if n > 1 else x, 0)

        cfg = build(PPOConfig, {"optimizer": "sgd", "learning_rate": 0.1, "normalize_advantage": False,
                                "net_arch": [8], "num_envs": 2, "rollout_steps": 4, "minibatches": 1})
        policy = ActorCritic(gym.spaces.Box(-1, 1, (3,), "float32"), gym.spaces.Discrete(2), [8])
        g = torch.Generator().manual_seed(1)
        batch = {"obs": torch.randn(8, 3, generator=g), "action": torch.randint(0, 2, (8,), generator=g),
                 "logp": torch.full((8,), -0.7), "value": torch.randn(8, generator=g),
                 "target": torch.randn(8, generator=g), "adv": torch.randn(8, generator=g)}
        ppo_init = {k: v.clone() for k, v in policy.state_dict().items()}
        ACLearner(policy, cfg).update({k: v[r * 4:(r + 1) * 4] for k, v in batch.items()} if n > 1 else batch)
        torch.save({"vae": vae.state_dict(), "ppo": policy.state_dict(), "vae_init": vae_init, "ppo_init": ppo_init},
                   f"{out}/rank{r}-of-{n}.pt")
''')


def test_the_averaged_gradient_of_two_ranks_is_that_of_one_process_on_both_batches(tmp_path, monkeypatch):
    (tmp_path / "worker.py").write_text(WORKER)
    monkeypatch.setattr(torch, "randn_like", torch.randn_like)  # the script replaces it; put back afterwards
    monkeypatch.setattr(sys, "argv", ["worker.py", str(tmp_path)])
    runpy.run_path(str(tmp_path / "worker.py"), run_name="__main__")  # one process: here, as the script runs alone
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          str(tmp_path / "worker.py"), str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert two.returncode == 0, two.stderr
    single = torch.load(tmp_path / "rank0-of-1.pt", weights_only=True)
    for r in (0, 1):  # SGD: equal weights after one step are equal gradients
        ranked = torch.load(tmp_path / f"rank{r}-of-2.pt", weights_only=True)
        for model in ("vae", "ppo"):
            for name, weight in single[model].items():
                assert torch.allclose(ranked[model][name], weight, atol=1e-6, rtol=1e-5), (model, name)
    for model in ("vae", "ppo"):  # and the step did move the weights
        assert all(not torch.equal(single[model][k], single[f"{model}_init"][k]) for k in single[model]
                   if k.endswith("weight")), model


def test_ctrl_c_to_torchrun_saves_once_and_the_resumed_run_is_bit_exact(tmp_path):
    args = [*RUNS["vae"][:-1], "150", "checkpoint_freq=20", "--seed", "3"]
    reference = torchrun(*args, "--run-dir", str(tmp_path / "reference"))
    run = tmp_path / "run"
    proc = torchrun(*args, "--run-dir", str(run))
    while not (run / "checkpoints" / "last.pt").exists():
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)  # Ctrl-C: torchrun passes it to every rank
    _, _, err = finished(proc)
    assert err.count("interrupted; checkpoint saved") == 1
    step = checkpoint(run)["step"]
    assert 0 < step < 150
    code, _, err = finished(torchrun("genlab", "train", "--resume", str(run)))
    assert code == 0, err
    code, out, err = finished(reference)
    assert code == 0, err
    written_by_rank_0_alone(tmp_path / "reference", out)
    ref, got = checkpoint(tmp_path / "reference"), checkpoint(run)
    assert all(torch.equal(t, got["model"][k]) for k, t in ref["model"].items())
    assert got["ranks"][0]["fingerprint"] == ref["ranks"][0]["fingerprint"]  # optimiser states too


def _rank_env(rank: int, port: int) -> dict:
    return {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": "2",
            "RANK": str(rank), "LOCAL_RANK": str(rank)}


def test_every_rank_exits_130_on_ctrl_c_and_a_killed_rank_ends_the_others(tmp_path):
    """The ranks started by hand, as torchrun starts them, so that each one's exit code can be read. (Under torchrun
    a rank killed on one machine makes torchrun stop the others at once: its own behaviour, seen in docs/scaling.md.)"""
    port = free_port()
    args = [*RUNS["vae"][:-1], "3000", "checkpoint_freq=20"]
    ranks = [subprocess.Popen([*args, "--run-dir", str(tmp_path / "run")], env=_rank_env(r, port),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for r in (0, 1)]
    while not (tmp_path / "run" / "checkpoints" / "last.pt").exists():
        assert all(p.poll() is None for p in ranks), [p.communicate() for p in ranks]
        time.sleep(0.1)
    for p in ranks:
        p.send_signal(signal.SIGINT)
    assert [p.wait(timeout=120) for p in ranks] == [130, 130]

    port = free_port()
    ranks = [subprocess.Popen([*args, "--run-dir", str(tmp_path / "killed")], env=_rank_env(r, port),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for r in (0, 1)]
    while not (tmp_path / "killed" / "checkpoints" / "last.pt").exists():
        time.sleep(0.1)
    ranks[1].kill()
    start = time.time()
    code = ranks[0].wait(timeout=120)
    err = ranks[0].stderr.read().strip()
    assert code == 1 and time.time() - start < 60
    assert len(err.splitlines()) == 1 and "another process of the job stopped" in err
    assert checkpoint(tmp_path / "killed")["step"] > 0  # the last checkpoint still loads


def _bad(capsys, main, argv, env, monkeypatch):
    with monkeypatch.context() as m:  # the launcher's variables for this call only
        for key, value in env.items():
            m.setenv(key, value)
        assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_bad_launches_are_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    from genlab.cli import main as genlab_main
    from rllab.cli import main as rllab_main

    vae = ["train", "vae", *SHAPES, *METRICS, "--steps", "2", "--run-dir", str(tmp_path / "run")]
    assert "WORLD_SIZE=2 is set but RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT are not" in _bad(
        capsys, genlab_main, vae, {"WORLD_SIZE": "2"}, monkeypatch)
    rendezvous = {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}
    if not torch.cuda.is_available():
        assert "backend nccl needs CUDA GPUs" in _bad(capsys, genlab_main, [*vae, "backend=nccl"], rendezvous,
                                                      monkeypatch)
        assert "precision bf16 needs a CUDA device" in _bad(capsys, genlab_main, [*vae, "precision=bf16"], {},
                                                            monkeypatch)
    assert "config key 'backend' must be one of 'auto', 'gloo', 'nccl', not 'mpi'" in _bad(
        capsys, genlab_main, [*vae, "backend=mpi"], rendezvous, monkeypatch)
    assert "dqn trains in one process, not under torchrun" in _bad(
        capsys, rllab_main, ["train", "--run-dir", str(tmp_path / "dqn")], rendezvous, monkeypatch)
    assert not (tmp_path / "run").exists() and not (tmp_path / "dqn").exists()


def test_a_run_resumes_only_with_the_number_of_processes_it_was_trained_with(tmp_path, capsys, monkeypatch):
    from genlab.cli import main as genlab_main

    run = tmp_path / "run"
    assert genlab_main(["train", "vae", *SHAPES, *METRICS, "--steps", "2", "--run-dir", str(run)]) == 0
    state = checkpoint(run)
    capsys.readouterr()
    torch.save({**state, "ranks": [{"rng": state["rng"]}] * 2}, run / "checkpoints" / "last.pt")  # as if by 2 ranks
    assert genlab_main(["train", "--resume", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert "this run was trained with 2 processes; resume it with 2 processes (torchrun), not with 1" in err


def test_two_machines_simulated_train_one_run(tmp_path):
    port = free_port()
    nodes = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", f"--node_rank={i}", "--nproc_per_node=1",
         "--rdzv_backend=c10d", f"--rdzv_endpoint=127.0.0.1:{port}", "--rdzv_id=lab-test", "-m",
         *RUNS["ppo"], "--run-dir", str(tmp_path / f"node{i}")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in (0, 1)]
    results = [finished(p) for p in nodes]
    assert [code for code, _, _ in results] == [0, 0], [err[-2000:] for _, _, err in results]
    written = [d for d in tmp_path.iterdir() if (d / "checkpoints" / "last.pt").exists()]
    assert len(written) == 1  # one run, written by the global rank 0 (on whichever node it landed)
    assert len(checkpoint(written[0])["ranks"]) == 2
