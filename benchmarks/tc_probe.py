"""Is there total correlation left for FactorVAE's discriminator to find? Train a fresh discriminator on a
trained VAE's sampled codes z ~ q(z|x) (label 0) against dimension-shuffled codes (label 1), the encoder
frozen, then report its accuracy and density-ratio TC estimate E[logit_0 − logit_1] on held-out codes. An
accuracy near 0.5 means the sampled code is close to factorised: a TC penalty has little to push on. For a
`factor-vae` run the run's own discriminator is scored on the same held-out codes. `--rotate` is the
control: the same codes turned by a random rotation, which mixes non-Gaussian dimensions and so must be
found dependent.

    python benchmarks/tc_probe.py RUN_DIR [RUN_DIR ...] [--codes 200000] [--steps 3000] [--lr 1e-3] [--rotate]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from genlab.data import dataset
from genlab.losses import permute_dims, reparameterize
from genlab.runs import encoder_model
from genlab.vae import tc_discriminator, tc_estimate
from labcore.errors import UsageError
from labcore.optim import make_optimizer


def scores(discriminator: torch.nn.Module, z: torch.Tensor, generator: torch.Generator) -> tuple[float, float]:
    """(accuracy, TC estimate) of a discriminator on codes z against their shuffle."""
    real, shuffled = discriminator(z), discriminator(permute_dims(z, generator))
    accuracy = ((real.argmax(1) == 0).float().mean() + (shuffled.argmax(1) == 1).float().mean()) / 2
    return accuracy.item(), tc_estimate(real).item()


def probe(run: Path, codes: int, steps: int, lr: float, hidden: int, layers: int, rotate: bool,
          batch: int = 256) -> str:
    model, cfg = encoder_model(run, "tc_probe.py", vae_only=True)
    data = dataset(cfg)
    rng = np.random.default_rng(cfg.seed)
    idx = rng.permutation(len(data.images))[:codes]
    generator = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    with torch.no_grad():  # q(z|x) of each image; every batch below draws fresh z from it, so D cannot memorise
        mu, logvar = (torch.cat(part) for part in zip(*(
            model.encode(torch.from_numpy(data.images[idx[i:i + 2000]]).float() / data.max_value)
            for i in range(0, len(idx), 2000))))
    turn = torch.linalg.qr(torch.randn(mu.shape[1], mu.shape[1], generator=generator))[0] if rotate else None

    def draw(rows: torch.Tensor) -> torch.Tensor:
        z = reparameterize(mu[rows], logvar[rows])
        return z @ turn if rotate else z

    held = len(idx) // 5  # the codes of the first fifth are only scored, never trained on
    discriminator = tc_discriminator(mu.shape[1], hidden, layers)
    opt = make_optimizer("adam", discriminator.parameters(), lr, betas=(0.5, 0.9))
    labels = torch.cat([torch.zeros(batch), torch.ones(batch)]).long()
    for _ in range(steps):
        a = draw(torch.randint(held, len(idx), (batch,)))
        b = permute_dims(draw(torch.randint(held, len(idx), (batch,))), generator)
        loss = F.cross_entropy(discriminator(torch.cat([a, b])), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        accuracy, tc = scores(discriminator, draw(torch.arange(held)), generator)
        line = (f"{run}{' (rotated code)' if rotate else ''}: fresh {layers} × {hidden} discriminator, "
                f"{steps} steps at {lr:g} on the codes of {len(idx) - held} images; "
                f"on {held} held-out: accuracy {accuracy:.3f}, TC estimate {tc:.3f} nats")
        if hasattr(model, "discriminator") and not rotate:
            accuracy, tc = scores(model.discriminator, draw(torch.arange(held)), generator)
            line += f"; the run's own discriminator: accuracy {accuracy:.3f}, TC estimate {tc:.3f} nats"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--codes", type=int, default=200_000, help="images encoded (a fifth held out)")
    parser.add_argument("--steps", type=int, default=3000, help="discriminator steps (batch 256 + 256)")
    parser.add_argument("--lr", type=float, default=1e-3, help="discriminator Adam step size (β = 0.5, 0.9)")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--rotate", action="store_true", help="control: rotate the codes at random first")
    args = parser.parse_args()
    for name, bad in (("--codes", args.codes < 5), ("--steps", args.steps < 0), ("--lr", args.lr <= 0),
                      ("--hidden", args.hidden < 1), ("--layers", args.layers < 1)):
        if bad:
            parser.error(f"{name} is out of range: {getattr(args, name[2:])} (--codes ≥ 5 so a fifth is held out; "
                         "--steps ≥ 0; --lr > 0; --hidden, --layers ≥ 1)")
    for run in args.runs:
        try:
            print(probe(run, args.codes, args.steps, args.lr, args.hidden, args.layers, args.rotate), flush=True)
        except UsageError as e:
            parser.exit(2, f"tc_probe.py: error: {e}\n")


if __name__ == "__main__":
    main()
