"""Which latent dimension carries which factor: the mutual information between each active dimension of a
trained VAE's mean code and each `shapes` factor, as a fraction of the factor's entropy (MIG's matrix,
disentanglement_lib recipe: 20-bin histograms of the code over random factor draws), next to the KL each
dimension carries. Factors shown "on separate rows" of a traversal are factors with different best
dimensions.

    python benchmarks/factor_table.py RUN_DIR [RUN_DIR ...] [--points 10000] [--min-kl 0.05]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from genlab.data import dataset
from genlab.metrics import FactorSpace, discretize, mutual_information
from genlab.runs import encoder_model, held_out_images
from genlab.scores import judgeable, model_representation
from genlab.shapes import FACTORS
from labcore.errors import UsageError

CAPTURED = 0.1  # a factor counts as captured when some dimension holds this share of its entropy


def table(run: Path, points: int, min_kl: float) -> str:
    model, cfg = encoder_model(run, "factor_table.py", vae_only=True)
    if not judgeable(cfg):
        raise UsageError(f"{run} was not trained on the shapes data; its factors are unknown")
    data = dataset(cfg)
    space = FactorSpace.of(data.factors)
    represent = model_representation(model, data.images, data.factors, data.max_value)
    rows = space.sample(points, np.random.default_rng(cfg.seed))
    varying = space.varying
    mi = mutual_information(discretize(represent(rows)), rows[:, varying])  # (D, K)
    entropy = np.array([mutual_information(rows[:, [k]], rows[:, [k]])[0, 0] for k in varying])
    share = mi / entropy
    kl = model.kl_per_dim(held_out_images(cfg, cfg.eval_images)).numpy()
    best = share.argmax(0)  # each factor's most informative dimension
    captured = share.max(0) >= CAPTURED
    names = [FACTORS[k] for k in varying]
    lines = [f"{run}", "dim    KL  " + "".join(f"{n:>13s}" for n in names)]
    for d in np.argsort(-kl):
        if kl[d] < min_kl:
            continue
        cells = "".join(f"{share[d, j]:12.2f}{'*' if best[j] == d and captured[j] else ' '}" for j in range(len(names)))
        lines.append(f"{d:3d} {kl[d]:5.2f}  {cells}")
    found = ", ".join(f"{n} {best[j]}" if captured[j] else f"{n} —" for j, n in enumerate(names))
    lines.append(f"best dimension per factor (* above; — where none holds {CAPTURED:.0%} of its entropy): {found}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--points", type=int, default=10_000, help="factor draws for the histograms")
    parser.add_argument("--min-kl", type=float, default=0.05, help="leave out dimensions carrying less (nats)")
    args = parser.parse_args()
    for run in args.runs:
        try:
            print(table(run, args.points, args.min_kl), end="\n\n")
        except UsageError as e:
            parser.exit(2, f"factor_table.py: error: {e}\n")


if __name__ == "__main__":
    main()
