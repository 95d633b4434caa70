"""One training loop for every generative model, knowing none of them (the verbs it uses: `genlab.models`):

    for step: x ~ the training images (batch_size × model.batches_per_step)
              metrics = model.update(x, step)        the model's own loss and optimiser steps
              log scalars / model.figures / periodic scores / checkpoint
    then:     model.evaluate(held-out images), the scores on shapes (`genlab.scores`), eval.json

A held-out slice of the data (`eval_images`, drawn with the seed) is never trained on; the final evaluation
runs on it (VAE: ELBO and IWAE bound; AE: reconstruction error). On `shapes`, a model that samples has its
samples judged (`genlab.quality`: validity, factor coverage, Fréchet distance) and a model with a code has it
scored for disentanglement (`genlab.metrics`): MIG and the judge every `eval_freq` steps, the config's
`metrics` at the end.

In a data-parallel run (`torchrun`, `labcore.distributed`) each rank draws its own batches, the optimisers
average gradients over ranks, rank 0's buffers are copied to all after each step, and rank 0 alone logs, draws
figures and evaluates.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from genlab.config import TrainConfig
from genlab.data import dataset, held_out
from genlab.models import build_model, restore
from genlab.scores import eval_scalars, scores
from labcore import distributed
from labcore.config import to_dict
from labcore.errors import TrainingError, UsageError
from labcore.optim import scheduled_lr
from labcore.run import Run, resolve_device, restore_rng, rng_state, seed_everything


def train(cfg: TrainConfig, run_dir: Path, resume: dict | None = None) -> str:
    """Train; returns "done" or "interrupted" (a checkpoint is saved either way)."""
    data = dataset(cfg)
    device = resolve_device(cfg.device)
    if cfg.precision == "bf16" and device.type != "cuda":
        raise UsageError(f"precision bf16 needs a CUDA device (here: {device}); on CPU keep precision fp32")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    rng = seed_everything(cfg.seed)
    train_idx, eval_idx = held_out(len(data), cfg)
    channels, resolution = data.images.shape[1], data.images.shape[-1]
    model = build_model(cfg, channels, resolution, len(train_idx)).to(device)
    distributed.broadcast_state(model)  # every rank starts from rank 0's weights
    optimizers = model.optimizers.values()  # .to(device) moves parameters in place, so they stay valid
    step = 0
    if resume:
        restore(model, resume)
        step = resume["step"]
        restore_rng(resume["rng"], rng)
    for group in (group for opt in optimizers for group in opt.param_groups):
        group.setdefault("initial_lr", group["lr"])  # the schedule scales each group's starting step size

    def checkpoint() -> None:
        run.save({"algo": cfg.model, "config": to_dict(cfg), "step": step, "model": model.state_dict(),
                  "optimizer": {name: opt.state_dict() for name, opt in model.optimizers.items()},
                  "rng": rng_state(rng), "channels": channels, "resolution": resolution})

    run = Run(run_dir, to_dict(cfg), total=cfg.steps, start=step, resume=resume is not None,
              desc=f"{cfg.model} {cfg.data}")
    # the figures' real images: held-out ones, or training ones when the data are too few for any
    fixed_x = data.floats((eval_idx if len(eval_idx) else train_idx)[:32]).to(device)
    sums: dict[str, float] = {}
    images_per_step = cfg.batch_size * model.batches_per_step * distributed.world_size()
    try:
        while step < cfg.steps:
            if run.should_stop():
                checkpoint()
                return "interrupted"
            if cfg.lr_schedule != "constant":
                factor = scheduled_lr(cfg.lr_schedule, 1.0, step / cfg.steps)
                for group in (group for opt in optimizers for group in opt.param_groups):
                    group["lr"] = group["initial_lr"] * factor
            x = data.floats(rng.choice(train_idx, cfg.batch_size * model.batches_per_step)).to(device)
            # bf16 autocast (CUDA): the forward passes run in bfloat16, weights and optimiser states stay fp32
            with torch.autocast("cuda", torch.bfloat16, enabled=cfg.precision == "bf16"):
                metrics = model.update(x, step)
            # rank 0's buffers (and, for a model that sets weights from its data, its weights) on every rank
            distributed.broadcast_state(model, parameters=model.edits_weights_from_data)
            if not np.isfinite(metrics["loss/total"]):
                raise TrainingError(f"non-finite loss at step {step}; try a lower learning_rate")
            step += 1
            for key, value in metrics.items():
                sums[key] = sums.get(key, 0.0) + value
            if step % cfg.log_freq == 0:
                lr = next(iter(optimizers)).param_groups[0]["lr"]
                speed = {"time/images_per_s": run.fps(step) * images_per_step}  # the whole job's
                run.log(step, {"train/learning_rate": lr, **speed, **{k: v / cfg.log_freq for k, v in sums.items()}})
                run.progress(step, loss=sums["loss/total"] / cfg.log_freq)
                sums = {}
            if run.writes and (step % cfg.image_freq == 0 or step == cfg.steps):
                with evaluating(model):
                    run.figures(step, *model.figures(fixed_x))
            if run.writes and cfg.eval_freq and step % cfg.eval_freq == 0 and step < cfg.steps:
                with evaluating(model):
                    run.log(step, eval_scalars(scores(model, data, cfg, final=False)))
            if step % cfg.checkpoint_freq == 0:
                checkpoint()
        model.eval()
        checkpoint()  # every rank; then rank 0 alone evaluates
        if run.writes:
            result = model.evaluate(data.floats(eval_idx).to(device))
            train_seconds = round(run.elapsed(), 2)
            result.update(scores(model, data, cfg))
            run.log(step, eval_scalars(result))
            run.write_json("eval.json", {**result, "step": step, "train_seconds": train_seconds,
                                         "eval_seconds": round(run.elapsed() - train_seconds, 2)})
        run.progress(step)
        return "done"
    finally:
        run.close()


@contextmanager
def evaluating(model: torch.nn.Module) -> Iterator[None]:
    """The model in eval mode, without gradients; back in training mode after."""
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train()
