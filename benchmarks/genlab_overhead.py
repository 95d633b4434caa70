"""Images per second of training a genlab recipe through the lab against a plain PyTorch loop, same model and data.

    python benchmarks/genlab_overhead.py [--recipes beta-vae gan] [--steps 1000] [--warmup 100] [--repeats 3]
                                         [--threads 1] [--out benchmarks/results/genlab_overhead.json] [key=value ...]

The lab side is `genlab train RECIPE --steps N threads=T eval_freq=0 image_freq=N checkpoint_freq=N ...`, run in
this process through genlab's own command line (`genlab.cli.main`): the periodic evaluation, figures and
checkpoints all fall after the last step, and the final evaluation is made cheap (metrics=none, eval_k=1,
eval_samples=16: it is not timed, only waited for). Its speed comes from the run's TensorBoard events: the loop
logs `loss/total` every `log_freq` steps with the wall time of the call, so the images trained between the logs at
step `--warmup` and step N, over the time between them, are the loop's steady-state speed with all its per-step
bookkeeping (batch drawing on the host and the copy to the device, the finite-loss check, summing and logging the
metrics, the progress bar, the run object), and without start-up, data loading, the figures, the checkpoints and
the evaluation at the end.

The plain side reads the lab run's own config.toml, loads the same data (`genlab.data.dataset`, the same
held-out split), seeds as the lab does and builds the same model (`genlab.models.build_model`, with its own
optimisers), and trains it for the same N steps on the very batches the lab draws (the same draws from the same
seeded generator, made before the clock starts, as indices into the images kept on the device). A model with one
optimiser and a `loss(x, step)` (the VAEs) steps as `loss = model.loss(x, step); zero_grad; backward; step`; any
other (the GANs' game of optimisers: D then G, then the averaged G; the sprite GAN's two stages) calls its own
`model.update(x, step)`, which is what the lab calls too. A linear lr_schedule is applied as the lab applies it.
Nothing is logged, checked or saved. It is timed over the same steps, warm-up to N (on CUDA, synchronised at both
ends). Both sides end with the same weights (`max_weight_diff`, 0 on the CPU at one thread): the only difference
is the lab's bookkeeping.

Each recipe runs `--repeats` times, lab and plain taking turns (lab first, then plain first, ...) so both share
the machine's noise; the table shows the medians and lab / plain, which the lab should keep at 0.95 or above (the
JSON also keeps each repetition's numbers and its own lab / plain). A step budget below a recipe's scales a staged
model's stages in proportion (`genlab train gan --steps N`: the sprite GAN's first stage is 7 % of them), so with
the default warm-up the window holds the GAN's cheap second-stage steps only, where a fixed cost per step weighs
most. Extra key=value overrides go to both sides (e.g. device=cuda). At one thread on a 2-core CPU a β-VAE step
takes about 0.1 s and a GAN step about 0.03 s: the defaults run for about 15 minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import inspect
import io
import json
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from genlab import cli, recipes
from genlab.config import TrainConfig
from genlab.data import Dataset, dataset, held_out
from genlab.models import MODELS, build_model, config_class, stored_config
from labcore.config import read_toml
from labcore.optim import scheduled_lr
from labcore.run import resolve_device, seed_everything

TARGET = 0.95  # lab images/s ≥ this × the plain loop's
CHEAP_EVAL = {"metrics": "none", "eval_k": 1, "eval_samples": 16}  # after the timed window: only waited for


def split_overrides(argv: list[str]) -> tuple[list[str], list[str]]:
    """(key=value overrides, the rest): overrides may come anywhere, also after --recipes' list; the value of
    --out (a path that may hold '=') is not one."""
    overrides, rest = [], []
    for i, a in enumerate(argv):
        is_value = i > 0 and argv[i - 1] == "--out"
        (overrides if "=" in a and not a.startswith("-") and not is_value else rest).append(a)
    return overrides, rest


def lab_command(recipe: str, steps: int, threads: int, overrides: list[str]) -> list[str]:
    """`genlab train` arguments: the recipe at N steps, periodic work only at the end, a cheap final evaluation."""
    own = {f.name for f in dataclasses.fields(config_class(recipes.resolve(recipe, tuple(MODELS)).get("model")))}
    quiet = {"threads": threads, "eval_freq": 0, "image_freq": steps, "checkpoint_freq": steps,
             **{k: v for k, v in CHEAP_EVAL.items() if k in own}}
    return ["train", recipe, "--steps", str(steps), *(f"{k}={v}" for k, v in quiet.items()), *overrides]


def lab_run(argv: list[str], run_dir: Path, warmup: int) -> tuple[float, TrainConfig, dict]:
    """Train through `genlab train` in this process; (seconds between the logs at `warmup` and the last step,
    the run's resolved config, its final weights)."""
    with contextlib.redirect_stdout(io.StringIO()):  # the lab's summary; its errors still reach stderr
        code = cli.main([*argv, "--run-dir", str(run_dir)])
    if code:
        sys.exit(f"genlab {shlex.join(argv)} failed (exit code {code})")
    cfg = stored_config(read_toml(run_dir / "config.toml"))
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    wall = {e.step: e.wall_time for e in events.Scalars("loss/total")}
    missing = [s for s in (warmup, cfg.steps) if s not in wall]
    if missing:
        sys.exit(f"no loss/total logged at step {missing[0]}: --warmup and --steps must be multiples of log_freq "
                 f"({cfg.log_freq})")
    weights = torch.load(run_dir / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)["model"]
    return wall[cfg.steps] - wall[warmup], cfg, weights


def plain_run(cfg: TrainConfig, data: Dataset, warmup: int) -> tuple[float, int, dict]:
    """The same model on the same batches in a bare loop; (seconds from step `warmup` to the end, images per step,
    final weights)."""
    device = resolve_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    rng = seed_everything(cfg.seed)  # as the lab seeds: the same initial weights, noise and batches
    train_idx, _ = held_out(len(data), cfg)
    model = build_model(cfg, data.images.shape[1], data.images.shape[-1], len(train_idx)).to(device)
    per_step = cfg.batch_size * model.batches_per_step
    index = torch.from_numpy(np.stack([rng.choice(train_idx, per_step) for _ in range(cfg.steps)])).to(device)
    images = torch.from_numpy(data.images).to(device)  # uint8, (N, C, H, W); no copy on the CPU
    optimizers = list(model.optimizers.values())
    start_lr = [[group["lr"] for group in opt.param_groups] for opt in optimizers]
    # one optimiser and a loss of (x, step): the bare PyTorch step; else the model's own update, as the lab calls it
    bare = (len(optimizers) == 1 and model.batches_per_step == 1 and hasattr(model, "loss")
            and "step" in inspect.signature(model.loss).parameters)
    sync = torch.cuda.synchronize if device.type == "cuda" else lambda: None
    start = time.perf_counter()
    for step in range(cfg.steps):
        if step == warmup:
            sync()
            start = time.perf_counter()
        if cfg.lr_schedule != "constant":
            factor = scheduled_lr(cfg.lr_schedule, 1.0, step / cfg.steps)
            for opt, lrs in zip(optimizers, start_lr):
                for group, lr in zip(opt.param_groups, lrs):
                    group["lr"] = lr * factor
        x = images[index[step]].float() / data.max_value
        with torch.autocast("cuda", torch.bfloat16, enabled=cfg.precision == "bf16"):
            if bare:
                loss, _ = model.loss(x, step)
                optimizers[0].zero_grad(set_to_none=True)
                loss.backward()
                if cfg.max_grad_norm:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                optimizers[0].step()
            else:
                model.update(x, step)  # the model's own game of optimisers, as the lab calls it
    sync()
    return time.perf_counter() - start, per_step, model.state_dict()


def max_diff(a: dict, b: dict) -> float:
    """Largest absolute difference between two state dicts' tensors (inf where the keys differ)."""
    if a.keys() != b.keys():
        return float("inf")
    return max((float((a[k].cpu().double() - b[k].cpu().double()).abs().max()) for k in a if a[k].numel()),
               default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=["beta-vae", "gan"])
    parser.add_argument("--steps", type=int, default=1000, help="steps of each run (default 1000)")
    parser.add_argument("--warmup", type=int, default=100, help="steps before the clock starts (default 100)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads on both sides (default 1)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/genlab_overhead.json"))
    overrides, rest = split_overrides(sys.argv[1:])
    args = parser.parse_args(rest)
    if not 0 < args.warmup < args.steps:
        parser.error("need 0 < --warmup < --steps")
    rows = []
    print(f"{'recipe':10s} {'lab img/s':>10s} {'plain img/s':>12s} {'lab/plain':>10s}", flush=True)
    for recipe in args.recipes:
        argv = lab_command(recipe, args.steps, args.threads, overrides)
        seconds: dict[str, list[float]] = {"lab": [], "plain": []}
        diffs, data = [], None
        for rep in range(args.repeats):
            for side in ("lab", "plain") if rep % 2 == 0 else ("plain", "lab"):  # the first run is the lab's
                if side == "lab":
                    with tempfile.TemporaryDirectory() as tmp:
                        time_s, cfg, lab_weights = lab_run(argv, Path(tmp) / "run", args.warmup)
                else:
                    if data is None:
                        data = dataset(cfg)
                    time_s, per_step, plain_weights = plain_run(cfg, data, args.warmup)
                seconds[side].append(time_s)
            diffs.append(max_diff(lab_weights, plain_weights))
        images = (cfg.steps - args.warmup) * per_step  # the same on both sides: the same model and batch size
        runs = {side: [images / s for s in times] for side, times in seconds.items()}
        lab, plain = statistics.median(runs["lab"]), statistics.median(runs["plain"])
        rows.append({"recipe": recipe, "model": cfg.model, "command": f"genlab {shlex.join(argv)}",
                     "images_per_step": per_step, "window": [args.warmup, cfg.steps], "lab": runs["lab"],
                     "plain": runs["plain"], "lab_median": lab, "plain_median": plain, "ratio": lab / plain,
                     "ratio_per_repeat": [a / b for a, b in zip(runs["lab"], runs["plain"])],
                     "max_weight_diff": diffs})
        print(f"{recipe:10s} {lab:10.0f} {plain:12.0f} {lab / plain:10.3f}", flush=True)
    result = {"command": shlex.join(["python", *sys.argv]), "target_ratio": TARGET, "threads": args.threads,
              "device": str(resolve_device(cfg.device)), "torch": torch.__version__, "steps": args.steps,
              "warmup": args.warmup, "repeats": args.repeats, "recipes": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
