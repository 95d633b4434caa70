"""Hyper-parameter search with Optuna, the one piece `rllab tune` and `genlab tune` share.

    study  = a TPE sampler (seeded) + a pruner on the periodic evaluations, kept in a database
             (SQLite in the study's folder by default; any Optuna storage URL, e.g. PostgreSQL for several machines)
    trial  = the recipe with sampled settings, trained on K seeds one after another, each run its own directory
             STUDY_DIR/trial-NNNN/sS (TensorBoard: tensorboard --logdir STUDY_DIR)
    value  = the mean over the seeds of each run's final score (`--objective best`: of its best evaluation)

Pruning: seed j's evaluation at step s is reported as the trial's intermediate value at j · steps + s, so all trials
are compared at the same point of the same seed; a pruned trial stops at once and keeps its runs. Its value is its
last report (Optuna's rule), which is not a final score: it never becomes the best, and TPE ranks it below the trials
that got further. A run that fails (a non-finite loss, a sampled combination the config refuses) fails its trial,
with the reason stored, and the search goes on. Ctrl-C marks the running trial failed and exits 130; the same command
again continues the study.

`--trials N` is the study's total: trials finished (complete or pruned) or running count towards it, so running the
command again after a stop trains only what is missing, and `--jobs J` (J processes, each one `tune` command on the
same study) or two commands on one storage share the work. Two processes that ask for a trial at the same instant may
run one trial more than N.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labcore.errors import TrainingError, UsageError
from labcore.space import Param, check_space
from labcore.study_report import check_out, params_text, print_table, settings_of, summarize, write_recipe

PRUNERS = ("median", "halving", "none")


@dataclass
class Target:
    """What a package tells the tuner: the base settings, the space, and how to build, train and score a run."""

    prog: str  # rllab | genlab
    name: str  # the study's default name (the recipe's)
    head: dict[str, Any]  # recipe keys before the config (rllab: algo)
    base: dict[str, Any]  # config values of the recipe, flags and overrides
    space: dict[str, Param]
    metric: str  # the TensorBoard tag of the periodic evaluation (the pruner's)
    direction: str  # maximize | minimize
    build: Callable[[dict[str, Any]], Any]  # values → a checked config
    train: Callable[[Any, Path], str]  # config, run dir → "done" | "interrupted"
    score: Callable[[Path], float]  # a finished run's final score
    describe_score: str  # what the score is, for the written recipe
    trial_only: dict[str, Any] = field(default_factory=dict)  # settings for the trials' runs only (no videos)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trials", type=int, required=True, help="trials in the study in all (finished or running)")
    parser.add_argument("--seeds", type=int, default=2, help="seeds each trial trains on (default 2)")
    parser.add_argument("--steps", type=int, help="training budget of each run (default: the recipe's)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the sampler; trials train on seeds SEED … SEED+K-1 (default 0)")
    parser.add_argument("--study", help="study name (default: the recipe's name)")
    parser.add_argument("--dir", type=Path, help="study folder for the runs (and the SQLite database) "
                        "(default studies/STUDY)")
    parser.add_argument("--storage", help="Optuna storage URL (default sqlite:///STUDY_DIR/study.db); a "
                        "PostgreSQL URL lets machines tune one study together")
    parser.add_argument("--pruner", choices=PRUNERS, default="median",
                        help="stop trials whose periodic evaluation is poor: median (default), halving or none")
    parser.add_argument("--objective", choices=("final", "best"), default="final",
                        help="score of a run: its final evaluation (default) or its best periodic one")
    parser.add_argument("--jobs", type=int, default=1, help="trials at once, as processes on the study")
    parser.add_argument("--out", type=Path, help="write the best trial as a recipe TOML here")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object on stdout")
    parser.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)  # set for --jobs' extra processes


def tune(args: argparse.Namespace, target: Target, argv: list[str]) -> int:
    """Run (or continue) the study; print its summary. Returns the exit code."""
    import optuna

    if args.trials <= 0 or args.seeds <= 0 or args.jobs <= 0:
        raise UsageError("--trials, --seeds and --jobs must be positive")
    if args.out and args.out.suffix != ".toml":
        raise UsageError(f"--out must end in .toml, not {args.out}")
    name = args.study or target.name
    folder = args.dir or Path("studies") / name
    seeds = [args.seed + k for k in range(args.seeds)]
    base = target.base  # --steps is in it: the package reads it (genlab scales its stages to it)
    check_space(target.space, target.build, base)
    if args.out:
        check_out(args.out, target.prog, name)
    folder.mkdir(parents=True, exist_ok=True)
    storage = open_storage(args.storage or f"sqlite:///{folder.resolve() / 'study.db'}")
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # our own line per trial instead
    study = optuna.create_study(study_name=name, storage=storage, direction=target.direction, load_if_exists=True,
                                pruner=make_pruner(args.pruner))
    settings = {"prog": target.prog, "base": json.dumps(base, sort_keys=True), "seeds": seeds,
                "space": {k: p.describe() for k, p in target.space.items()}, "metric": target.metric,
                "objective": args.objective}
    check_study(study, settings)
    done_before = len(study.trials)
    study.sampler = optuna.samplers.TPESampler(seed=sampler_seed(args.seed, args.worker, done_before))
    log = sys.stderr if args.json else sys.stdout
    if args.worker == 0:
        counted = count(study)
        print(f"study {name!r} ({shown_url(storage.url)}): {counted} of {args.trials} trials there; runs in {folder}",
              file=log)
    workers = [spawn_worker(target.prog, argv, j) for j in range(1, args.jobs)] if args.worker == 0 else []
    objective = make_objective(target, base, seeds, folder, args.objective, log)
    failed: list[Any] = []  # this process's trials that failed in a row

    def note(study, trial) -> None:
        failed[:] = [*failed, trial] if trial.state.name == "FAIL" else []

    try:
        while count(study) < args.trials:
            study.optimize(objective, n_trials=1, catch=(TrainingError, UsageError), callbacks=[note])
            if len(failed) >= min(args.trials, 5):  # a search where nothing trains is not a search
                raise TrainingError(f"{len(failed)} trials in a row failed; the last: "
                                    f"{failed[-1].user_attrs.get('error', 'see above')}")
    except BaseException as e:  # Ctrl-C, or this process giving up: the other processes stop too
        for w in workers:
            w.send_signal(signal.SIGINT)
        for w in workers:
            w.wait()
        if not isinstance(e, KeyboardInterrupt):
            raise
        if not args.worker:
            print(f"interrupted; the running trial is marked failed. Continue the study with the same command "
                  f"(--study {name} --dir {folder})", file=sys.stderr)
        return 130
    if any(w.wait() for w in workers):
        raise TrainingError("a --jobs process failed; see its output above")
    if args.worker:
        return 0
    summary = summarize(study, target.space, target.direction, target.metric, settings)
    if args.out and summary["best"]:
        write_recipe(args.out, target.prog, target.head, base, summary, shown_url(storage.url), target.describe_score)
        print(f"wrote the best trial as a recipe: {args.out}", file=log)
    if args.json:
        print(json.dumps(summary))
    else:
        print_table(summary)
    return 0


def open_storage(url: str):
    """An RDB storage with a heartbeat, so that a trial whose process was killed is marked failed, not left
    running; any URL SQLAlchemy cannot open is one line."""
    import optuna

    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}  # --jobs processes wait their turn
    try:
        with warnings.catch_warnings():  # the heartbeat is "experimental" in Optuna 4-5, and the way to do this
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs, heartbeat_interval=60, grace_period=180)
    except Exception as e:  # SQLAlchemy raises many kinds (ArgumentError, OperationalError, ImportError for drivers)
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UsageError(f"cannot open the study storage {url!r}: {reason}") from None


def shown_url(url: str) -> str:
    """The storage URL without its password, for printing and for the written recipe."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def make_pruner(name: str):
    import optuna

    if name == "median":  # after 5 trials, stop a trial below the median of the others at the same point
        return optuna.pruners.MedianPruner(n_startup_trials=5)
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def sampler_seed(seed: int, worker: int, trials_before: int) -> int:
    """Each process of a study, and each continuation, draws its own random start-up trials."""
    return int(np.random.SeedSequence([seed, worker, trials_before]).generate_state(1)[0])


def count(study) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)))


def check_study(study, settings: dict[str, Any]) -> None:
    """A study continues only with the settings it was made with (else its trials would not be comparable)."""
    stored = study.user_attrs
    if not stored:
        for key, value in settings.items():
            study.set_user_attr(key, value)
        return
    differ = [k for k, v in settings.items() if stored.get(k) != v]
    if differ:
        raise UsageError(f"study {study.study_name!r} was made with other {', '.join(differ)}; continue it with the "
                         f"same recipe and options, or start another with --study NAME")


def make_objective(target: Target, base: dict[str, Any], seeds: list[int], folder: Path, objective: str, log):
    import optuna

    from labcore.rundir import check_new_run_dir  # torch: imported by the commands that train, not by --help

    def run_trial(trial) -> float:
        values = {**base, **{name: p.suggest(trial) for name, p in target.space.items()}}
        settings = params_text(settings_of(target.space, trial.params))
        scores = []
        for j, seed in enumerate(seeds):
            try:
                cfg = target.build({**values, **target.trial_only, "seed": seed})
                run_dir = folder / f"trial-{trial.number:04d}" / f"s{seed}"
                check_new_run_dir(run_dir)
                trial.set_user_attr("runs", [*trial.user_attrs.get("runs", []), str(run_dir)])
                evals = train_reporting(target, trial, cfg, run_dir, offset=j * cfg.steps)
            except (TrainingError, UsageError) as e:  # a combination the config refuses, a diverged run
                trial.set_user_attr("error", f"seed {seed}: {e}")
                print(f"trial {trial.number}: failed, seed {seed}: {e}  {settings}", file=log, flush=True)
                raise
            except optuna.TrialPruned as e:
                print(f"trial {trial.number}: pruned, {e}  {settings}", file=log, flush=True)
                raise
            best = (max if target.direction == "maximize" else min)(evals) if evals else None
            scores.append(target.score(run_dir) if objective == "final" or best is None else best)
            trial.set_user_attr("scores", scores)
        value = float(np.mean(scores))
        print(f"trial {trial.number}: {value:.4g} (seeds {', '.join(f'{s:.4g}' for s in scores)})  {settings}",
              file=log, flush=True)
        return value

    return run_trial


def train_reporting(target: Target, trial, cfg, run_dir: Path, offset: int) -> list[float]:
    """Train one run, reporting each evaluation to the trial at `offset` + step and stopping the run when the
    pruner says so; returns the evaluations seen."""
    import optuna

    from labcore.run import watch

    evals: list[float] = []

    def report(step: int, scalars: dict[str, float]) -> None:
        value = scalars.get(target.metric)
        if value is None or not math.isfinite(value):
            return
        evals.append(value)
        trial.report(value, offset + step)
        if step < cfg.steps and trial.should_prune():  # never on a run's final evaluation
            raise optuna.TrialPruned(f"seed {cfg.seed} at step {step}: {value:.4g}")

    with watch(report):
        status = target.train(cfg, run_dir)
    if status == "interrupted":
        raise KeyboardInterrupt
    return evals


def spawn_worker(prog: str, argv: list[str], worker: int) -> subprocess.Popen:
    """One more process on the same study: this command again, as worker `worker`, running one trial at a time."""
    args = [a for a in argv if not a.startswith("--jobs")]
    if "--jobs" in argv:  # drop "--jobs J" given as two words
        i = argv.index("--jobs")
        args = argv[:i] + argv[i + 2:]
    cmd = [sys.executable, "-m", prog, *args, "--worker", str(worker)]
    return subprocess.Popen(cmd, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.DEVNULL
                            if "--json" in argv else None)
