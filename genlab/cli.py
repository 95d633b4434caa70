"""`genlab`: train generative models on images, sample from them and evaluate them.

    genlab train [MODEL|RECIPE] [--data DATA] [--steps N] [--seed S] [--run-dir DIR] [--device D] [key=value ...]
    genlab train --resume RUN_DIR
    genlab sample RUN_DIR_OR_CHECKPOINT [--n 64] [--out samples.png] [--seed S]
    genlab reconstruct RUN_DIR_OR_CHECKPOINT [--n 32] [--out recon.png]
    genlab eval RUN_DIR_OR_CHECKPOINT [--k 1000] [--samples N] [--metrics mig,...] [--json]
    genlab traverse RUN_DIR_OR_CHECKPOINT [--out traversal.png|.gif] [--dims K] [--steps 10] [--image I]
    genlab swap RUN_DIR_OR_CHECKPOINT [--out swap.png] [--dims 0,3 | --factor pos_x] [--n 8] [--seed S]
    genlab tune [MODEL|RECIPE] [--data DATA] --trials N [--metric eval/mig] [--seeds K] [--steps S] [--storage URL]
                [--study NAME] [--jobs J] [--out best.toml] [key=value ...]
    genlab plot RUN_DIR_OR_GLOB... [--tag loss/total] [--group-by recipe|model|data] [--aggregate]
    genlab list

Exit codes: 0 success, 1 the run failed (e.g. non-finite loss), 2 bad input, 130 interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from genlab import recipes, search
from genlab.config import METRICS, TrainConfig
from genlab.examine import cmd_eval, cmd_reconstruct, cmd_sample, cmd_swap, cmd_traverse
from genlab.models import MODELS, build_config, build_model, config_class, scale_stages, stored_config
from genlab.report import describe_result
from genlab.shapes import FACTORS
from labcore import plot, tune
from labcore.cli import Parser, parse, run_command
from labcore.config import describe, parse_overrides, read_toml
from labcore.errors import UsageError
from labcore.space import parse_space

# Only what --help, list and bad input need is imported above: torch (≈ 2 s) and the modules that use it (the
# models, data, images, the loop, the scores) are imported by the commands that train, load or evaluate a model.


def config_help(model: str | None = None) -> str:
    """Config keys for `train --help`: the training keys every model shares, then the chosen model's own (without
    one, the models and how to list theirs)."""
    shared = {f.name for f in dataclasses.fields(TrainConfig)} - {"model"}
    if model is None:
        models = "\n".join(f"  {name:11s} {spec.about}" for name, spec in MODELS.items())
        return (f"config keys of every model (set in a recipe or as key=value):\n{describe(TrainConfig, shared)}\n\n"
                f"models (`genlab train MODEL --help` lists a model's own keys):\n{models}")
    cls = config_class(model)
    own = {f.name for f in dataclasses.fields(cls)} - shared - {"model"}
    return (f"config keys of every model (set in a recipe or as key=value):\n{describe(cls, shared)}\n\n"
            f"{model} keys ({MODELS[model].about}):\n{describe(cls, own)}")


def help_model(argv: list[str]) -> str | None:
    """The model of `genlab train MODEL|RECIPE ... --help` (a recipe's, where one is named so), for a help that
    lists its keys only."""
    if argv[:1] != ["train"] or not {"-h", "--help"} & set(argv):
        return None
    name = next((a for a in argv[1:] if not a.startswith("-") and "=" not in a), None)
    if name is None or (name in MODELS and name not in recipes.available()):
        return name
    try:
        model = recipes.load(name)[0]["model"]
    except UsageError:
        return None
    return model if model in MODELS else None


def make_parser(model: str | None = None) -> Parser:
    parser = Parser(prog="genlab", description="Train generative models on images; sample and evaluate them.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    t = sub.add_parser("train", help="train a model (no arguments: a VAE on the built-in shapes data)",
                       description="Train a generative model. Data-parallel: torchrun --nproc_per_node=N -m genlab "
                       "train ... (batch_size is per process, so the effective batch is batch_size × N: divide a "
                       "recipe's batch_size by N to keep it; docs/scaling.md).",
                       epilog=config_help(model), formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("items", nargs="*", metavar="[MODEL|RECIPE] [key=value ...]",
                   help=f"a model ({', '.join(MODELS)}; its recipe of the same name when there is one), "
                   "a recipe name from `genlab list` or a .toml path")
    t.add_argument("--data", help="shapes[:factor=i,...], mnist:PATH, fashion-mnist:PATH or folder:PATH")
    t.add_argument("--steps", type=int, help="optimiser steps")
    t.add_argument("--seed", type=int, help="random seed")
    t.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    t.add_argument("--run-dir", type=Path, help="run directory (default runs/<model>-<data>-s<seed>-<time>)")
    t.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a stopped run where it stopped")
    for name, default, what in (("sample", 64, "a PNG grid of samples from the prior"),
                                ("reconstruct", 32, "held-out images (top) and their reconstructions")):
        p = sub.add_parser(name, help=what)
        p.add_argument("run", type=Path, metavar="RUN_DIR_OR_CHECKPOINT")
        p.add_argument("--n", type=int, default=default, help=f"how many (default {default})")
        p.add_argument("--out", type=Path, default=Path(f"{name}.png"), help=f"PNG path (default {name}.png)")
        p.add_argument("--seed", type=int, default=0, help="seed of the samples (default 0)")
        p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    e = sub.add_parser("eval", help="held-out ELBO and IWAE bound (vae), reconstruction error (ae), "
                       "sample validity, coverage and Fréchet distance (gan on shapes)")
    e.add_argument("run", type=Path, metavar="RUN_DIR_OR_CHECKPOINT")
    e.add_argument("--k", type=int, help="importance samples (default: the run's eval_k)")
    e.add_argument("--samples", type=int, help="gan, vae on shapes: samples to judge (default: the run's eval_samples)")
    e.add_argument("--metrics", help=f"vae, ae on shapes: disentanglement metrics, comma-separated from "
                   f"{','.join(METRICS)} or none (default: the run's `metrics`)")
    e.add_argument("--metric-points", type=int, help="training points of those metrics (default: the run's)")
    e.add_argument("--metric-test-points", type=int, help="held-out points of those metrics (default: the run's)")
    e.add_argument("--json", action="store_true", help="print one JSON object on stdout and nothing else")
    tr = sub.add_parser("traverse", help="vae: decode a sweep of each latent dimension (rows, most informative "
                        "first) as a PNG grid or an animated GIF")
    tr.add_argument("run", type=Path, metavar="RUN_DIR_OR_CHECKPOINT")
    tr.add_argument("--out", type=Path, default=Path("traversal.png"), help="a .png or .gif path (default "
                    "traversal.png)")
    tr.add_argument("--dims", type=int, help="show the K most informative dimensions (default: all)")
    tr.add_argument("--steps", type=int, default=10, help="values per sweep (default 10)")
    tr.add_argument("--limit", type=float, help="sweep over ±limit (default: the run's traversal_limit)")
    tr.add_argument("--image", type=int, default=0, help="which held-out image's code to start from (default 0)")
    tr.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    sw = sub.add_parser("swap", help="vae, ae: decode image a's code with some dimensions taken from image b "
                        "(rows: a, b, the swap)")
    sw.add_argument("run", type=Path, metavar="RUN_DIR_OR_CHECKPOINT")
    sw.add_argument("--out", type=Path, default=Path("swap.png"), help="PNG path (default swap.png)")
    which = sw.add_mutually_exclusive_group()
    which.add_argument("--dims", help="latent dimensions to swap, comma-separated (default: the most "
                       "informative one)")
    which.add_argument("--factor", choices=FACTORS, help="shapes: swap the dimension that carries most "
                       "information about this factor")
    sw.add_argument("--n", type=int, default=8, help="pairs (default 8)")
    sw.add_argument("--seed", type=int, default=0, help="seed of the pairs drawn from held-out images (default 0)")
    sw.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    u = sub.add_parser(
        "tune", help="search hyper-parameters with Optuna (several seeds per trial, pruning, a study database)",
        description="Search a model's or recipe's hyper-parameters with Optuna: each trial trains it with sampled "
        "settings on --seeds seeds, and scores the mean of their final --metric. The space is the recipe's [search] "
        "table, else the model's default (genlab/search.py). The study lives in a database; the same command again "
        "continues it. docs/tuning.md.")
    u.add_argument("items", nargs="*", metavar="[MODEL|RECIPE] [key=value ...]",
                   help="a model or recipe, then fixed config overrides")
    u.add_argument("--data", help="shapes[:factor=i,...], mnist:PATH, fashion-mnist:PATH or folder:PATH")
    u.add_argument("--metric", help="the score to optimise, eval/NAME (default: eval/mig for a model with a code "
                   "on shapes, eval/valid for one that samples, else eval/iwae or eval/recon_nats)")
    tune.add_arguments(u)
    p = sub.add_parser("plot", help="training curves and final-score statistics over seeds, from TensorBoard events",
                       description="Plot a tag of many runs, grouped across seeds: the IQM (or mean) with a 95 %% "
                       "stratified-bootstrap band. --aggregate adds the final values' IQM, median, mean (and "
                       "optimality gap with --target) with their intervals, and the probability of improvement.")
    plot.add_arguments(p, tag="loss/total", groups=("recipe", "model", "data"))
    sub.add_parser("list", help="models and recipes (with what they reach)")
    return parser


def cmd_train(args: argparse.Namespace) -> int:
    cfg, run_dir, state = resumed_run(args) if args.resume else new_run(args)
    from genlab.train import train
    from labcore import distributed
    from labcore.run import for_this_rank

    with distributed.session(cfg.backend):
        main_rank = distributed.is_main()
        status = train(cfg, run_dir, state and for_this_rank(state))
    if status == "interrupted":
        if main_rank:
            print(f"interrupted; checkpoint saved. Continue with: genlab train --resume {run_dir}", file=sys.stderr)
        return 130
    if not main_rank:  # rank 0 reports for the job
        return 0
    result = json.loads((run_dir / "eval.json").read_text())
    print(f"run directory: {run_dir}")
    print(describe_result(result))
    return 0


def new_run(args: argparse.Namespace) -> tuple[TrainConfig, Path, None]:
    cfg = build_config(resolve_values(args)[0])  # bad input is answered before torch is imported
    from labcore.run import resolve_device
    from labcore.rundir import check_new_run_dir, default_run_dir

    run_dir = args.run_dir or default_run_dir(f"{cfg.model}-{cfg.data.split(':')[0]}", cfg.seed)
    check_new_run_dir(run_dir)
    resolve_device(cfg.device)
    return cfg, run_dir, None


def resumed_run(args: argparse.Namespace) -> tuple[TrainConfig, Path, dict]:
    if args.items or any(v is not None for v in (args.data, args.steps, args.seed, args.run_dir)):
        raise UsageError("--resume continues a run with its stored config; pass no model, flags or overrides")
    from labcore.rundir import checked_config, load_checkpoint

    state, run_dir = load_checkpoint(args.resume)
    if state.get("algo") not in MODELS:
        raise UsageError(f"{args.resume} holds a checkpoint of {state.get('algo')!r}, not of a genlab model "
                         f"({', '.join(MODELS)}); it cannot resume here")
    values = checked_config(run_dir, state)
    if args.device:
        values["device"] = args.device
    return stored_config(values), run_dir, state


def resolve_values(args: argparse.Namespace) -> tuple[dict[str, Any], str | None]:
    """(config values, the model or recipe named): recipe < flags < key=value; a `steps` budget given without the
    stage lengths scales them."""
    names = [i for i in args.items if "=" not in i]
    if len(names) > 1:
        raise UsageError(f"expected at most one model or recipe, got {', '.join(names)}")
    base = recipes.resolve(names[0], tuple(MODELS), args.data) if names else {}
    flags = {"data": args.data, "steps": args.steps, "device": getattr(args, "device", None),
             "seed": args.seed if args.command == "train" else None}  # tune's --seed seeds its sampler
    given = {k: v for k, v in flags.items() if v is not None} | parse_overrides([i for i in args.items if "=" in i])
    cls = config_class({**base, **given}.get("model", "vae"))
    return {**base, **scale_stages(cls, base, given), **given}, names[0] if names else None


def cmd_tune(args: argparse.Namespace) -> int:
    from genlab.scores import objectives
    from genlab.train import train
    from labcore import distributed

    if distributed.launched_size() > 1:
        raise UsageError("tune trains each trial in one process; start it without torchrun (--jobs J runs J trials "
                         "at once)")
    values, name = resolve_values(args)
    cfg = build_config(values)
    reported = objectives(cfg, build_model(cfg, cfg.channels, cfg.resolution))  # only asked what it reports
    default = next((m for m in ("mig", "valid", "iwae", "recon_nats") if m in reported), None)
    metric = (args.metric or f"eval/{default}").removeprefix("eval/")
    if metric not in reported:
        raise UsageError(f"{cfg.model} on {cfg.data} does not report eval/{metric}; it reports "
                         f"{', '.join('eval/' + m for m in reported) or 'nothing to optimise'}")
    table = recipes.search_table(name) if name else None
    space = parse_space(search.SPACES[cfg.model] if table is None else table,
                             [f.name for f in dataclasses.fields(cfg)])
    target = tune.Target(
        prog="genlab", name=Path(name).stem if name else cfg.model, head={}, base=values, space=space,
        metric=f"eval/{metric}", direction=reported[metric], build=build_config,
        train=lambda cfg, run_dir: train(cfg, run_dir),
        score=lambda run_dir: json.loads((run_dir / "eval.json").read_text())[metric],
        describe_score=f"eval/{metric}", trial_only={})
    return tune.tune(args, target, args.argv)


def cmd_plot(args: argparse.Namespace) -> int:
    return plot.plot(args, describe_run)


def describe_run(run_dir: Path) -> plot.RunInfo:
    """What `plot` groups a run by: its model, data and config."""
    values = read_toml(run_dir / "config.toml")
    model, data = values.get("model", "vae"), values.get("data", "shapes")
    return plot.RunInfo(config=values, groups={"model": model, "data": data}, task=data)


def cmd_list(args: argparse.Namespace) -> int:
    print("models (genlab train MODEL):")
    for name, spec in MODELS.items():
        print(f"  {name:11s} {spec.about}")
    print("recipes (genlab train NAME):")
    width = max(map(len, recipes.available()))
    for name in recipes.available():
        values, result = recipes.load(name)
        reaches = ", ".join(f"{k} {v}" for k, v in result.items())
        size = f"{values.get('resolution', '')!s:>3} px {values.get('steps', '')!s:>7} steps"
        kind = " ".join([values["model"], *(values[k] for k in ("objective", "g_arch") if k in values)])
        print(f"  {name:{width}s} {kind:16s} {values.get('data', 'shapes'):10s} {size}  {reaches or 'not measured'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(make_parser(help_model(argv)), argv)
    if isinstance(args, int):
        return args
    args.argv = list(argv)
    commands = {"train": cmd_train, "sample": cmd_sample, "reconstruct": cmd_reconstruct, "eval": cmd_eval,
                "traverse": cmd_traverse, "swap": cmd_swap, "tune": cmd_tune, "plot": cmd_plot, "list": cmd_list}
    return run_command("genlab", args.command, commands[args.command], args)


if __name__ == "__main__":
    sys.exit(main())
