"""Network builders: an MLP and a conv encoder/decoder, activations and norms by name."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from labcore.errors import UsageError, did_you_mean

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "silu": nn.SiLU,
    "elu": nn.ELU,
}
NORMS = ("layer", "batch")


Activation = str | Callable[[], nn.Module]  # a name in ACTIVATIONS, or what makes the module


def activation(name: Activation) -> nn.Module:
    """A fresh activation module by name (see `ACTIVATIONS`), or made by a function (`lambda: nn.LeakyReLU(0.2)`)."""
    if callable(name):
        return name()
    if name not in ACTIVATIONS:
        raise UsageError(
            f"unknown activation {name!r}{did_you_mean(name, ACTIVATIONS)}; choose from {', '.join(ACTIVATIONS)}"
        )
    return ACTIVATIONS[name]()


def mlp(
    in_dim: int,
    hidden: Sequence[int],
    out_dim: int | None = None,
    *,
    act: Activation = "relu",
    norm: str | None = None,
    dropout: float = 0.0,
) -> nn.Sequential:
    """Linear → [norm] → act → [dropout] per hidden width, then a plain linear head if `out_dim` (`act`: see
    `activation`)."""
    if norm is not None and norm not in NORMS:
        raise UsageError(f"unknown norm {norm!r}; choose from {', '.join(NORMS)} or none")
    layers: list[nn.Module] = []
    width = in_dim
    for h in hidden:
        layers.append(nn.Linear(width, h))
        if norm == "layer":
            layers.append(nn.LayerNorm(h))
        elif norm == "batch":
            layers.append(nn.BatchNorm1d(h))
        layers.append(activation(act))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    if out_dim is not None:
        layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


def conv_encoder(
    in_shape: Sequence[int],
    channels: Sequence[int] = (32, 64, 64),
    kernels: Sequence[int] = (8, 4, 3),
    strides: Sequence[int] = (4, 2, 1),
    *,
    act: Activation = "relu",
    padding: Sequence[int] | None = None,
) -> tuple[nn.Sequential, int]:
    """Conv stack ending in a flatten; returns (module, flat output size) for input (C, H, W).

    The defaults are the Nature-DQN torso (Mnih et al. 2015) for 4×84×84 frames.
    """
    padding = padding or [0] * len(channels)
    layers: list[nn.Module] = []
    c = in_shape[0]
    for out_c, k, s, p in zip(channels, kernels, strides, padding, strict=True):
        layers += [nn.Conv2d(c, out_c, k, s, p), activation(act)]
        c = out_c
    layers.append(nn.Flatten())
    net = nn.Sequential(*layers)
    with torch.no_grad():
        flat = net(torch.zeros(1, *in_shape)).shape[1]
    return net, flat


def conv_decoder(
    in_dim: int,
    start_shape: Sequence[int],
    channels: Sequence[int],
    kernels: Sequence[int],
    strides: Sequence[int],
    *,
    act: Activation = "relu",
    padding: Sequence[int] | None = None,
) -> nn.Sequential:
    """Linear to `start_shape` (C, H, W), then transposed convs; the last layer has no activation.

    `channels` lists every transposed conv's output channels, the image channels last.
    """
    padding = padding or [0] * len(channels)
    c0 = start_shape[0]
    n = int(torch.tensor(start_shape).prod())
    layers: list[nn.Module] = [nn.Linear(in_dim, n), activation(act), nn.Unflatten(1, tuple(start_shape))]
    c = c0
    for i, (out_c, k, s, p) in enumerate(zip(channels, kernels, strides, padding, strict=True)):
        layers.append(nn.ConvTranspose2d(c, out_c, k, s, p))
        if i < len(channels) - 1:
            layers.append(activation(act))
        c = out_c
    return nn.Sequential(*layers)


def start_size(resolution: int) -> tuple[int, int]:
    """For conv stacks that halve (or double) the image at each stride-2 layer: (the smallest feature map,
    the number of halvings), for image sizes 4·2^n (16, 32, 64, …) or 7·2^n (MNIST's 28)."""
    for start in (4, 7):
        n = round(math.log2(resolution / start))
        if n >= 1 and start * 2**n == resolution:
            return start, n
    raise UsageError(f"images must be 4·2^n or 7·2^n pixels wide (16, 28, 32, 64, …), not {resolution}")
