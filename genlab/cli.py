"""`genlab`: train generative models on images, sample from them and evaluate them.

    genlab train [MODEL|RECIPE] [--data DATA] [--steps N] [--seed S] [--run-dir DIR] [--device D] [key=value ...]
    genlab train --resume RUN_DIR
    genlab sample RUN_DIR_OR_CHECKPOINT [--n 64] [--out samples.png] [--seed S]
    genlab reconstruct RUN_DIR_OR_CHECKPOINT [--n 32] [--out recon.png]
    genlab eval RUN_DIR_OR_CHECKPOINT [--k 1000] [--samples N] [--metrics mig,...] [--json]
    genlab traverse RUN_DIR_OR_CHECKPOINT [--out traversal.png|.gif] [--dims K] [--steps 10] [--image I]
    genlab swap RUN_DIR_OR_CHECKPOINT [--out swap.png] [--dims 0,3 | --factor pos_x] [--n 8] [--seed S]
    genlab list

Exit codes: 0 success, 1 the run failed (e.g. non-finite loss), 2 bad input, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from genlab import recipes
from genlab.images import grid, save_png
from genlab.latents import rank_dimensions, save_traversal_gif, swap, traversal
from genlab.metrics import METRICS
from genlab.report import describe_result
from genlab.runs import MODELS, encoder_model, factor_dimension, held_out_images, load_model, out_path
from genlab.scores import disentanglement, has_factors, judge_samples, judgeable, metric_names
from genlab.shapes import FACTORS
from genlab.train import GenConfig, dataset, train
from labcore.cli import Parser, parse, run_command
from labcore.config import build, describe, parse_overrides, read_toml
from labcore.errors import UsageError
from labcore.run import check_new_run_dir, default_run_dir, load_checkpoint, resolve_device


def make_parser() -> Parser:
    parser = Parser(prog="genlab", description="Train generative models on images; sample and evaluate them.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    t = sub.add_parser("train", help="train a model (no arguments: a VAE on the built-in shapes data)",
                       epilog=f"config keys (key=value):\n{describe(GenConfig)}",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
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
    sub.add_parser("list", help="models and recipes (with what they reach)")
    return parser


def cmd_train(args: argparse.Namespace) -> int:
    if args.resume:
        if args.items or any(v is not None for v in (args.data, args.steps, args.seed, args.run_dir)):
            raise UsageError("--resume continues a run with its stored config; pass no model, flags or overrides")
        state, run_dir = load_checkpoint(args.resume)
        values = read_toml(run_dir / "config.toml")
        if args.device:
            values["device"] = args.device
        cfg = build(GenConfig, values)
    else:
        names = [i for i in args.items if "=" not in i]
        if len(names) > 1:
            raise UsageError(f"expected at most one model or recipe, got {', '.join(names)}")
        values = recipes.resolve(names[0], MODELS, args.data) if names else {}
        flags = {"data": args.data, "steps": args.steps, "seed": args.seed, "device": args.device}
        values.update({k: v for k, v in flags.items() if v is not None})
        values.update(parse_overrides([i for i in args.items if "=" in i]))
        cfg = build(GenConfig, values)
        name = cfg.data.split(":")[0]
        run_dir = args.run_dir or default_run_dir(f"{cfg.model}-{name}", cfg.seed)
        check_new_run_dir(run_dir)
        resolve_device(cfg.device)
        state = None
    if train(cfg, run_dir, state) == "interrupted":
        print(f"interrupted; checkpoint saved. Continue with: genlab train --resume {run_dir}", file=sys.stderr)
        return 130
    result = json.loads((run_dir / "eval.json").read_text())
    print(f"run directory: {run_dir}")
    print(describe_result(result))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    out = out_path(args)
    model, cfg = load_model(args.run)
    if cfg.model == "ae":
        raise UsageError("an autoencoder has no prior to sample from; use genlab reconstruct, or train a vae or gan")
    images = model.sample(args.n, torch.Generator().manual_seed(args.seed))
    save_png(grid(images), out, scale=2)
    print(f"wrote {out}: {args.n} samples")
    return 0


def cmd_reconstruct(args: argparse.Namespace) -> int:
    out = out_path(args)
    model, cfg = load_model(args.run)
    if not model.can_reconstruct:
        raise UsageError("this GAN has no encoder (it was trained with recon_weight = 0), so nothing to "
                         "reconstruct; use genlab sample")
    x = held_out_images(cfg, args.n)
    save_png(grid(torch.cat([x, model.reconstruct(x)]), nrow=len(x)), out, scale=2)
    print(f"wrote {out}: {len(x)} held-out images above their reconstructions")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    model, cfg = load_model(args.run)
    n = cfg.eval_samples if args.samples is None else args.samples
    if n < 2:
        raise UsageError(f"--samples must be at least 2, not {n}")
    which = metric_names(cfg.metrics if args.metrics is None else args.metrics)
    if args.metrics is not None:
        unknown = set(which) - set(METRICS)
        if unknown:
            raise UsageError(f"unknown metric {', '.join(sorted(unknown))}; choose from {', '.join(METRICS)} or none")
        if which and not has_factors(cfg):
            what = "this is a GAN" if cfg.model == "gan" else f"this model was trained on {cfg.data!r}"
            raise UsageError(f"disentanglement metrics need an encoder trained on the shapes data's factors; {what}")
    for flag in ("metric_points", "metric_test_points"):
        if getattr(args, flag) is not None and getattr(args, flag) < 2:
            raise UsageError(f"--{flag.replace('_', '-')} must be at least 2, not {getattr(args, flag)}")
    result = {}
    if cfg.model != "gan":
        k = args.k or cfg.eval_k
        if k <= 0:
            raise UsageError(f"--k must be positive, not {k}")
        torch.manual_seed(0)
        result = model.evaluate(held_out_images(cfg), k)
    if cfg.model != "ae":
        if judgeable(cfg):
            result.update(judge_samples(model, n, cfg.seed))
        elif cfg.model == "gan":
            raise UsageError(f"sample metrics need the shapes data (16, 32 or 64 px); this GAN was trained on "
                             f"{cfg.data!r}")
    if which and has_factors(cfg):
        data = dataset(cfg)
        result.update(disentanglement(model, data, cfg, which, args.metric_points, args.metric_test_points))
    print(json.dumps(result) if args.json else describe_result(result))
    return 0


def cmd_traverse(args: argparse.Namespace) -> int:
    out = out_path(args, (".png", ".gif"))
    if args.steps < 2:
        raise UsageError(f"--steps must be at least 2, not {args.steps}")
    if args.dims is not None and args.dims <= 0:
        raise UsageError(f"--dims must be positive, not {args.dims}")
    if args.limit is not None and args.limit <= 0:
        raise UsageError(f"--limit must be positive, not {args.limit}")
    model, cfg = encoder_model(args.run, "traverse", vae_only=True)
    x = held_out_images(cfg)
    if not 0 <= args.image < len(x):
        raise UsageError(f"--image must be in 0..{len(x) - 1}, not {args.image}")
    kl = model.kl_per_dim(x)
    dims = min(args.dims or cfg.latent_dim, cfg.latent_dim)
    images = traversal(model, x[args.image], kl, args.limit or cfg.traversal_limit, args.steps, dims)
    if out.suffix.lower() == ".gif":
        save_traversal_gif(images, dims, out)
    else:
        save_png(grid(images, nrow=args.steps), out, scale=2)
    order = kl.argsort(descending=True)[:dims].tolist()
    print(f"wrote {out}: rows are dimensions {', '.join(map(str, order))} (KL "
          f"{', '.join(f'{kl[d]:.2f}' for d in order)} nats), each swept over ±{args.limit or cfg.traversal_limit}")
    return 0


def cmd_swap(args: argparse.Namespace) -> int:
    out = out_path(args)
    model, cfg = encoder_model(args.run, "swap")
    if args.factor and not has_factors(cfg):
        raise UsageError(f"--factor needs a model trained on the shapes data; this one was trained on {cfg.data!r}")
    if args.dims is not None:
        try:
            dims = sorted({int(d) for d in args.dims.split(",")})
        except ValueError:
            raise UsageError(f"--dims must be comma-separated integers, not {args.dims!r}") from None
        if dims[0] < 0 or dims[-1] >= cfg.latent_dim:
            raise UsageError(f"--dims must lie in 0..{cfg.latent_dim - 1}, not {args.dims}")
    x = held_out_images(cfg)
    if len(x) < 2 * args.n:
        raise UsageError(f"--n {args.n} needs {2 * args.n} held-out images; the run has {len(x)}")
    if args.dims is None:
        dims = [factor_dimension(model, cfg, args.factor)] if args.factor else [int(rank_dimensions(model, x)[0])]
    pick = torch.randperm(len(x), generator=torch.Generator().manual_seed(args.seed))[:2 * args.n]
    a, b = x[pick[:args.n]], x[pick[args.n:]]
    save_png(grid(swap(model, a, b, dims), nrow=args.n), out, scale=2)
    print(f"wrote {out}: rows are a, b, and a with dimension(s) {', '.join(map(str, dims))} taken from b")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    print(f"models: {', '.join(MODELS)} (genlab train MODEL)")
    print("recipes (genlab train NAME):")
    width = max(map(len, recipes.available()))
    for name in recipes.available():
        values, result = recipes.load(name)
        reaches = ", ".join(f"{k} {v}" for k, v in result.items())
        size = f"{values.get('resolution', '')!s:>3} px {values.get('steps', '')!s:>7} steps"
        objective, arch = values.get("objective", "elbo"), values.get("g_arch", "dcgan")
        kind = values.get("model", "") + ("" if objective == "elbo" else f" {objective}")
        kind += "" if values.get("model") != "gan" or arch == "dcgan" else f" {arch}"
        data = values.get("data", "shapes")
        print(f"  {name:{width}s} {kind:15s} {data:10s} {size}  {reaches or 'not measured'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse(make_parser(), argv)
    if isinstance(args, int):
        return args
    commands = {"train": cmd_train, "sample": cmd_sample, "reconstruct": cmd_reconstruct, "eval": cmd_eval,
                "traverse": cmd_traverse, "swap": cmd_swap, "list": cmd_list}
    return run_command("genlab", args.command, commands[args.command], args)


if __name__ == "__main__":
    sys.exit(main())
