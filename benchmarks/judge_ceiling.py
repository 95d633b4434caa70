"""What the sample judge gives a *perfect* generator whose poses are continuous.

A generator draws shapes at any scale, angle and position, while the `shapes` data hold a grid of them
(6 scales, 40 angles, 32 × 32 positions). This renders the exact shapes at continuous factor values
drawn uniformly over the data's ranges — with the data's own rasteriser (pixel centres tested at 64 px,
2 × 2 averaged to 32) or with exact area coverage (centres tested at 256 px, 8 × 8 averaged) — and
judges them like samples. The share of them that is valid bounds what a generator can reach unless
it learns the grid itself.

    python benchmarks/judge_ceiling.py [--n 2000] [--resolution 32]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from genlab import quality, shapes


def render(shape, scale, theta, pos_x, pos_y, resolution: int, fine: int) -> np.ndarray:
    """Images (N, r, r) in [0, 1]: each shape tested at the centres of a fine × fine grid, averaged to r."""
    grid = (np.arange(fine) + 0.5) * (64 / fine)  # pixel centres in the 64 px frame of DESIGN.md
    out = np.empty((len(shape), fine, fine), np.float32)
    for i in range(len(shape)):
        dx = grid[None, :] - (16 + 32 * pos_x[i])
        dy = -(grid[:, None] - (16 + 32 * pos_y[i]))  # up is positive
        out[i] = shapes.covers(int(shape[i]), dx, dy, theta[i], 1 / scale[i])
    k = fine // resolution
    return out.reshape(len(shape), resolution, k, resolution, k).mean((2, 4))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="shapes per row")
    parser.add_argument("--resolution", type=int, default=32, choices=(16, 32, 64))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.n < 1:
        parser.error(f"--n must be ≥ 1, got {args.n}")
    rng = np.random.default_rng(args.seed)
    n, lo_hi = args.n, [(0.5, 1.0), (0.0, 2 * np.pi), (0.0, 1.0), (0.0, 1.0)]
    shape = rng.integers(0, 3, n)
    on_grid = [values[rng.integers(0, len(values), n)] for values in shapes.VALUES[1:]]
    continuous = [rng.uniform(lo, hi, n) for lo, hi in lo_hi]
    cases = {"grid": [], "scale": [0], "orientation": [1], "position": [2, 3], "all": [0, 1, 2, 3]}
    net = quality.factor_net(args.resolution)
    results = {}
    for name, which in cases.items():
        factors = [continuous[i] if i in which else on_grid[i] for i in range(4)]
        for raster, fine in (("data", 64), ("exact", 256)):
            if raster == "exact" and name not in ("grid", "all"):
                continue
            x = torch.from_numpy(render(shape, *factors, args.resolution, fine)).unsqueeze(1)
            best, _ = quality.match(x, net)
            valid = (best >= quality.IOU_THRESHOLD).numpy()
            by_shape = [round(float(valid[shape == k].mean()), 3) for k in range(3)]
            results[f"{name}/{raster}"] = {"continuous": [shapes.FACTORS[1 + i] for i in which],
                                           "valid": round(float(valid.mean()), 4), "valid_by_shape": by_shape,
                                           "iou_median": round(best.median().item(), 3)}
            print(f"{name:12s} {raster:6s} valid {valid.mean():.3f}", flush=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
