"""`rllab tune` and `genlab tune`: a real Optuna study on SQLite, end to end with tiny budgets — trials of several
seeds, continuing a study, two processes on one study, the --out recipe round trip, pruning, Ctrl-C, bad input."""

import json
import signal
import subprocess
import time

import optuna
import pytest
from optuna.trial import TrialState

from genlab.cli import main as genlab
from labcore.config import read_toml
from rllab.cli import main as rllab

RECIPE = """\
algo = "ppo"
env = "CartPole-v1"
steps = 1024
num_envs = 4
rollout_steps = 64
minibatches = 4
epochs = 2
net_arch = [16, 16]
eval_freq = 256
eval_episodes = 2
log_freq = 256

[search]
learning_rate = {low = 1e-4, high = 1e-2, log = true}
gamma = [0.95, 0.99]
net_arch = [[16, 16], [32]]
"""


def study_of(folder, name="tiny"):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{folder / 'study.db'}")


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    path = tmp_path_factory.mktemp("recipe") / "tiny.toml"
    path.write_text(RECIPE)
    return path


@pytest.fixture(scope="module")
def study(recipe, tmp_path_factory):
    """A 3-trial × 2-seed study of the tiny recipe, and what its command printed."""
    folder = tmp_path_factory.mktemp("study")
    out = folder / "best.toml"
    proc = subprocess.run(["rllab", "tune", str(recipe), "--trials", "3", "--seeds", "2", "--dir", str(folder),
                           "--out", str(out), "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return folder, json.loads(proc.stdout), proc.stderr


def test_a_study_trains_each_trial_on_every_seed_and_keeps_it_in_sqlite(study):
    folder, summary, log = study
    trials = study_of(folder).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    for t in trials:
        runs = sorted((folder / f"trial-{t.number:04d}").iterdir())
        assert [r.name for r in runs] == ["s0", "s1"]
        scores = [json.loads((r / "eval.json").read_text())["mean_return"] for r in runs]
        assert t.value == pytest.approx(sum(scores) / 2)  # the objective: the seeds' mean final score
        assert all(list(r.glob("events.out.tfevents.*")) for r in runs)  # each run visible in TensorBoard
        assert read_toml(runs[0] / "config.toml")["learning_rate"] == pytest.approx(t.params["learning_rate"])
    best = max(trials, key=lambda t: t.value)
    assert summary["best"]["number"] == best.number and summary["best"]["value"] == pytest.approx(best.value)
    assert len(summary["trials"]) == 3 and "trial 0:" in log  # one line per trial on stderr with --json


def test_the_best_trial_is_a_recipe_that_trains(study, tmp_path):
    folder, summary, _ = study
    best = read_toml(folder / "best.toml")
    assert best["algo"] == "ppo" and best["steps"] == 1024 and "search" not in best
    params = summary["best"]["params"]
    assert best["learning_rate"] == pytest.approx(params["learning_rate"]) and best["gamma"] == params["gamma"]
    assert best["net_arch"] in ([16, 16], [32]) and best["result"]["seeds"] == [0, 1]
    assert best["result"]["scores"] == pytest.approx(summary["best"]["scores"])
    run = tmp_path / "run"
    assert rllab(["train", str(folder / "best.toml"), "--seed", "0", "--run-dir", str(run)]) == 0
    trained = json.loads((run / "eval.json").read_text())["mean_return"]
    assert trained == summary["best"]["scores"][0]  # seed 0 again: the same run, the same score


def test_the_same_command_continues_the_study(study, recipe, capsys):
    folder, *_ = study
    code = rllab(["tune", str(recipe), "--trials", "4", "--seeds", "2", "--dir", str(folder)])
    assert code == 0
    out = capsys.readouterr().out
    assert "3 of 4 trials there" in out and "trial 3:" in out and "trial 2:" not in out.split("trials there")[1]
    assert len(study_of(folder).trials) == 4
    assert rllab(["tune", str(recipe), "--trials", "4", "--seeds", "3", "--dir", str(folder)]) == 2  # other seeds
    assert "was made with other seeds" in capsys.readouterr().err


def test_two_processes_share_one_study(recipe, tmp_path):
    proc = subprocess.run(["rllab", "tune", str(recipe), "--trials", "4", "--seeds", "1", "--jobs", "2",
                           "--dir", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    trials = study_of(tmp_path).trials
    assert 4 <= len(trials) <= 5  # two processes asking at the same instant may run one more
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert len({t.number for t in trials}) == len(trials)
    assert len({t.params["learning_rate"] for t in trials}) == len(trials)  # each process samples its own


def test_a_trial_that_reports_badly_is_pruned(recipe, tmp_path):
    """Five finished trials that scored 500 at every evaluation: the next trial's first evaluation (a few dozen)
    is below their median, so the median pruner stops it there."""
    args = ["tune", str(recipe), "--trials", "1", "--seeds", "2", "--dir", str(tmp_path)]
    assert rllab(args) == 0
    study = study_of(tmp_path)
    for _ in range(5):
        study.add_trial(optuna.trial.create_trial(value=500.0, intermediate_values={s: 500.0 for s in
                                                  range(0, 2 * 1024 + 1, 64)}))
    assert rllab([*args[:3], "7", *args[4:], "--json"]) == 0
    pruned = study_of(tmp_path).trials[6]
    assert pruned.state == TrialState.PRUNED and list(pruned.intermediate_values) == [256]  # its first evaluation
    assert pruned.value == pruned.intermediate_values[256]  # Optuna keeps the last report as its value
    assert list((tmp_path / "trial-0006").iterdir()) == [tmp_path / "trial-0006" / "s0"]  # seed 1 never started


def test_ctrl_c_marks_the_running_trial_failed_and_the_study_continues(recipe, tmp_path):
    long = ["rllab", "tune", str(recipe), "--trials", "2", "--seeds", "1", "--dir", str(tmp_path), "steps=200000"]
    proc = subprocess.Popen(long, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    start = time.time()
    while not list(tmp_path.glob("trial-0000/s0/events.out.tfevents.*")):
        assert proc.poll() is None, proc.communicate()
        assert time.time() - start < 120
        time.sleep(0.05)
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    trials = study_of(tmp_path).trials
    assert [t.state for t in trials] == [TrialState.FAIL]
    assert (tmp_path / "trial-0000" / "s0" / "checkpoints" / "last.pt").exists()  # the run saved as it stopped


def test_bad_input_is_one_line_and_exit_2(recipe, tmp_path, capsys):
    def fails(argv, words, prog=rllab):
        assert prog(argv) == 2
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1, err

    bad = tmp_path / "bad.toml"
    bad.write_text(RECIPE.replace("gamma = [0.95, 0.99]", "gama = [0.95, 0.99]"))
    fails(["tune", str(bad), "--trials", "1"], "unknown parameter 'gama' in [search] (did you mean 'gamma'?)")
    bad.write_text(RECIPE.replace("low = 1e-4, high = 1e-2", "low = 1e-2, high = 1e-4"))
    fails(["tune", str(bad), "--trials", "1"], "empty range")
    bad.write_text(RECIPE.replace("gamma = [0.95, 0.99]", "gamma = [0.95, 2.0]"))
    fails(["tune", str(bad), "--trials", "1", "--dir", str(tmp_path / "s")], "[search] gamma = 2.0")
    fails(["tune", str(recipe), "--trials", "1", "--storage", "nosuchdb://x"], "cannot open the study storage")
    fails(["tune", str(recipe), "--trials", "1", "--storage", f"sqlite:///{tmp_path}/no/such/dir/x.db"],
          "cannot open the study storage")
    mine = tmp_path / "mine.toml"
    mine.write_text("# my own notes\n")
    fails(["tune", str(recipe), "--trials", "1", "--out", str(mine), "--dir", str(tmp_path / "s")],
          "was not written by this study")
    assert mine.read_text() == "# my own notes\n"
    fails(["tune", "gan", "--metric", "eval/mig", "--trials", "1", "--dir", str(tmp_path / "g")],
          "gan on shapes does not report eval/mig", prog=genlab)


def test_a_search_where_every_trial_fails_stops(recipe, tmp_path, capsys):
    """Each setting alone is valid, together they are not (4 × 65 steps do not split into 8 minibatches): the trials
    fail with the config's reason, and the search stops instead of sampling forever."""
    bad = tmp_path / "joint.toml"
    bad.write_text(RECIPE.split("[search]")[0] + "[search]\nrollout_steps = [65]\nminibatches = [8]\n")
    assert rllab(["tune", str(bad), "--trials", "2", "--dir", str(tmp_path / "s")]) == 1
    err = capsys.readouterr().err
    assert "2 trials in a row failed; the last: seed 0: config key 'minibatches' must divide" in err
    assert [t.state for t in study_of(tmp_path / "s", "joint").trials] == [TrialState.FAIL] * 2


def test_genlab_tune_searches_a_vae(tmp_path, capsys):
    args = ["tune", "vae", "--trials", "2", "--seeds", "1", "--steps", "30", "--metric", "eval/iwae", "--dir",
            str(tmp_path), "metrics=none", "eval_k=4", "eval_samples=50", "eval_images=50", "latent_dim=4",
            "log_freq=10", "image_freq=1000", "checkpoint_freq=1000", "--json"]
    assert genlab(args) == 0
    summary = json.loads(capsys.readouterr().out)
    study = optuna.load_study(study_name="vae", storage=f"sqlite:///{tmp_path / 'study.db'}")
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE  # a higher IWAE bound is better
    for t in study.trials:
        run = tmp_path / f"trial-{t.number:04d}" / "s0"
        assert t.value == pytest.approx(json.loads((run / "eval.json").read_text())["iwae"])
        assert set(t.params) == {"learning_rate", "batch_size", "beta", "latent_dim"}  # the vae's default space
    assert summary["metric"] == "eval/iwae"


def test_genlab_tune_searches_the_beta_tcvae_recipe(tmp_path, capsys):
    """The recipe's own [search] table, scored by MIG (the default for a code on shapes). Asking the model what it
    reports once built it over one training image, which beta-tcvae refuses (it estimates q(z) over a batch)."""
    args = ["tune", "beta-tcvae", "--trials", "1", "--seeds", "1", "--steps", "20", "--dir", str(tmp_path),
            "--data", "shapes:scale=3-5,orientation=0", "resolution=16", "batch_size=32", "eval_images=60",
            "eval_k=5", "eval_samples=32", "metric_points=400", "metric_test_points=200", "metric_batch=8",
            "metrics=mig", "log_freq=10", "--json"]
    assert genlab(args) == 0
    summary = json.loads(capsys.readouterr().out)
    (trial,) = optuna.load_study(study_name="beta-tcvae", storage=f"sqlite:///{tmp_path / 'study.db'}").trials
    assert set(trial.params) == {"beta", "alpha", "gamma", "learning_rate", "tc_estimator", "latent_dim"}
    assert summary["metric"] == "eval/mig" and 0 <= trial.value <= 1
