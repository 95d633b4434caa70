"""The commands that read a trained run (RUN_DIR_OR_CHECKPOINT): `sample`, `reconstruct`, `traverse` and `swap`
write an image of what the model does, `eval` prints its scores. The parser and the other commands live in
`genlab/cli.py`.

Each checks its arguments first and imports torch and the modules that use it only then, so that bad input is
answered without them (and `genlab --help` and `list` never import them).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from genlab.config import METRICS, metric_names
from genlab.report import describe_result
from labcore.errors import UsageError


def out_path(args: argparse.Namespace, suffixes: tuple[str, ...] = (".png",)) -> Path:
    """The --out of a command that writes an image, checked before the run is loaded."""
    if args.out.suffix.lower() not in suffixes:
        raise UsageError(f"--out must end in {' or '.join(suffixes)}, not {args.out}")
    if args.out.exists() and not args.force:
        raise UsageError(f"{args.out} already exists; pass --force to overwrite it or choose another --out")
    if getattr(args, "n", 1) <= 0:
        raise UsageError(f"--n must be positive, not {args.n}")
    return args.out


def cmd_sample(args: argparse.Namespace) -> int:
    out = out_path(args)
    import torch

    from genlab.images import grid, save_png
    from genlab.runs import load_model

    model, cfg = load_model(args.run)
    if not model.can_sample:
        raise UsageError("an autoencoder has no prior to sample from; use genlab reconstruct, or train a vae or gan")
    images = model.sample(args.n, torch.Generator().manual_seed(args.seed))
    save_png(grid(images), out, scale=2)
    print(f"wrote {out}: {args.n} samples")
    return 0


def cmd_reconstruct(args: argparse.Namespace) -> int:
    out = out_path(args)
    import torch

    from genlab.images import grid, save_png
    from genlab.runs import held_out_images, load_model

    model, cfg = load_model(args.run)
    if not model.can_reconstruct:
        raise UsageError(f"this GAN ({cfg.model}) has no encoder, so nothing to reconstruct (a vae-gan has one); "
                         "use genlab sample")
    x = held_out_images(cfg, args.n)
    save_png(grid(torch.cat([x, model.reconstruct(x)]), nrow=len(x)), out, scale=2)
    print(f"wrote {out}: {len(x)} held-out images above their reconstructions")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    for flag, value, least in (("k", args.k, 1), ("samples", args.samples, 2), ("metric-points", args.metric_points, 2),
                               ("metric-test-points", args.metric_test_points, 2)):
        if value is not None and value < least:
            raise UsageError(f"--{flag} must be at least {least}, not {value}")
    unknown = set(metric_names(args.metrics or "")) - set(METRICS)
    if unknown:
        raise UsageError(f"unknown metric {', '.join(sorted(unknown))}; choose from {', '.join(METRICS)} or none")
    import torch

    from genlab.data import dataset, held_out
    from genlab.runs import load_model
    from genlab.scores import judgeable, scores

    overrides = {"eval_k": args.k, "eval_samples": args.samples, "metrics": args.metrics,
                 "metric_points": args.metric_points, "metric_test_points": args.metric_test_points}
    model, cfg = load_model(args.run, {k: v for k, v in overrides.items() if v is not None})
    if metric_names(args.metrics or "") and not (model.has_code and judgeable(cfg)):
        what = f"this is a GAN ({cfg.model})" if not model.has_code else f"this model was trained on {cfg.data!r}"
        raise UsageError(f"disentanglement metrics need an encoder trained on the shapes data's factors; {what}")
    data = dataset(cfg)
    torch.manual_seed(0)  # the IWAE bound's samples
    result = model.evaluate(data.floats(held_out(len(data), cfg)[1]))
    if not result and not judgeable(cfg):
        raise UsageError(f"sample metrics need the shapes data (16, 32 or 64 px); this GAN was trained on {cfg.data!r}")
    result.update(scores(model, data, cfg))
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
    from genlab.images import grid, save_png
    from genlab.latents import save_traversal_gif, traversal
    from genlab.runs import encoder_model, held_out_images

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
    import torch

    from genlab.images import grid, save_png
    from genlab.latents import rank_dimensions, swap
    from genlab.runs import encoder_model, factor_dimension, held_out_images
    from genlab.scores import judgeable

    model, cfg = encoder_model(args.run, "swap")
    if args.factor and not judgeable(cfg):
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
