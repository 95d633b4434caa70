"""The factor network: a small CNN that reads the five shapes factors off an image, trained on the renders
on first use (one per resolution) and cached beside them. `genlab.quality` uses it to propose each sample's
likeliest factors, and its penultimate features for the Fréchet distance."""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genlab import shapes

_VERSION = 2  # bump when the network or its training changes: old caches are then ignored


class FactorNet(nn.Module):
    """Conv torso (one stride-2 layer per halving down to 4×4) → 256 features → one softmax head per factor."""

    def __init__(self, resolution: int):
        super().__init__()
        layers: list[nn.Module] = []
        c, size = 1, resolution
        while size > 4:  # 1 → 32 → 64 → 128 → 128 channels; every layer stride 2 (cheap: it trains on first use)
            out = min(max(2 * c, 32), 128)
            layers += [nn.Conv2d(c, out, 4, 2, 1), nn.BatchNorm2d(out), nn.ReLU()]
            c, size = out, size // 2
        self.torso = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * 16, 256), nn.ReLU())
        self.heads = nn.ModuleList(nn.Linear(256, n) for n in shapes.SIZES)

    def features(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, r, r) in [0, 1] → (B, 256)
        return self.torso(x)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:  # logits per factor, [(B, 3), (B, 6), …]
        h = self.features(x)
        return [head(h) for head in self.heads]


def renders(resolution: int) -> torch.Tensor:
    """All renders at `resolution`, (N, r, r) uint8 (0/1 at 64, coverage 0…255 below)."""
    return torch.from_numpy(shapes.all_images(resolution))


def as_float(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """uint8 renders (..., r, r) → floats in [0, 1] (binary at 64, coverage below)."""
    return images.float().div_(1.0 if resolution == 64 else 255.0)


@torch.enable_grad()  # also when called from `judge`, which runs under no_grad
def train_factor_net(resolution: int, steps: int = 2000, batch_size: int = 128, seed: int = 0,
                     noise: float = 0.1) -> FactorNet:
    """Fit the factor network to random renders (plus a little pixel noise, so imperfect samples still read)."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    images, n = renders(resolution), shapes.N_IMAGES
    labels = torch.from_numpy(shapes.factors_of(np.arange(n)))
    net = FactorNet(resolution)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps)
    for _ in range(steps):
        idx = torch.randint(n, (batch_size,), generator=gen)
        x = as_float(images[idx], resolution).unsqueeze(1)
        # half the batch binarised at a random level in [0.3, 0.7]: samples are often sharper than the
        # coverage renders, and a reader that only saw grey edges misreads them (as larger, shifted shapes)
        level = 0.3 + 0.4 * torch.rand(batch_size, 1, 1, 1, generator=gen)
        sharp = torch.rand(batch_size, 1, 1, 1, generator=gen) < 0.5
        x = torch.where(sharp, (x >= level).float(), x)
        x = (x + noise * torch.randn(x.shape, generator=gen)).clamp_(0, 1)
        loss = sum(F.cross_entropy(logits, labels[idx, i]) for i, logits in enumerate(net(x)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return net.eval()


def factor_net(resolution: int) -> FactorNet:
    """The factor network for `resolution`, trained on first use and cached beside the renders."""
    path = shapes.cache_dir() / f"factor-net-{resolution}-v{_VERSION}.pt"
    if path.exists():
        net = FactorNet(resolution)
        net.load_state_dict(torch.load(path, weights_only=True))
        return net.eval()
    net = train_factor_net(resolution)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(net.state_dict(), tmp)
    os.replace(tmp, path)  # a killed training never leaves half a file
    return net
