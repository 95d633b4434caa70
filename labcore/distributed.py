"""Data-parallel training over processes, GPUs and machines with `torch.distributed`, launched by `torchrun`.

    torchrun --nproc_per_node=N -m genlab train ...              N processes on this machine
    torchrun --nnodes=M --node_rank=i --rdzv_endpoint=HOST:PORT --nproc_per_node=N -m rllab train ...

`torchrun` sets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT; `session` reads them and joins the
process group (gloo on CPU, NCCL on CUDA, each rank on cuda:LOCAL_RANK), and leaves it on every exit path. Without
WORLD_SIZE > 1 nothing here runs a collective: a plain `genlab train` is one process, as before.

Each rank draws its own data and its own environments (`rank_seed`), computes gradients on them, and
`average_gradients` (called by `labcore.optim.step` before every optimiser step) replaces them with the mean over
ranks: one all-reduce of the flattened gradients per step. Why not `DistributedDataParallel`: the models own their
optimisers and call their networks directly, the GAN penalties differentiate through D with `torch.autograd.grad`,
which DDP does not support, and two forward passes through one DDP-wrapped discriminator with batch norm fail with
its default `broadcast_buffers=True` (pytorch#175024). Instead, after each update the loop copies rank 0's buffers
(batch-norm statistics: DDP's broadcast_buffers semantics, taken after the backward pass) to every rank
(`broadcast_state`), so all ranks hold one model, bit for bit, and rank 0 alone writes it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from labcore.errors import TrainingError, UsageError

BACKENDS = ("auto", "gloo", "nccl")


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if world_size() > 1 else 0


def is_main() -> bool:
    """Rank 0, or a single process: the one that writes the run directory and prints."""
    return rank() == 0


def launched_main() -> bool:
    """Whether this process is rank 0 as the launcher numbered it (true without a launcher): for what is said once
    before the process group exists."""
    return os.environ.get("RANK", "0") == "0"


def launched_size() -> int:
    """WORLD_SIZE as the launcher set it (1 without a launcher)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise UsageError(f"WORLD_SIZE must be a number of processes, not {os.environ['WORLD_SIZE']!r}") from None


@contextmanager
def session(backend: str = "auto", timeout_s: float = 1800) -> Iterator[None]:
    """Join the process group that `torchrun` describes in the environment, if any, and leave it at the end.

    A collective that waits longer than `timeout_s` for a rank (one that died on another machine) fails, so a job
    never hangs for good; on one machine `torchrun` stops the other ranks as soon as one dies.
    """
    size = launched_size()
    if size <= 1 or dist.is_initialized():
        yield
        return
    missing = [k for k in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise UsageError(f"WORLD_SIZE={size} is set but {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                         "not: launch with torchrun --nproc_per_node=N (it sets the rendezvous), or unset WORLD_SIZE")
    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if backend == "nccl" and not torch.cuda.is_available():
        raise UsageError("backend nccl needs CUDA GPUs, and there are none here; use backend=gloo (or auto)")
    if backend == "auto":
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    local_rank = int(os.environ["LOCAL_RANK"])
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    try:
        yield
        # every rank done before any leaves: a rank whose gloo threads are torn down while another still talks to
        # it can abort at exit ("terminate called without an active exception", seen once in ~20 two-rank runs)
        dist.barrier()
    except (RuntimeError, dist.DistError) as e:
        if not _lost_a_rank(e):
            raise
        first = (str(e).strip().splitlines() or [""])[0]
        raise TrainingError(f"rank {rank()}: another process of the job stopped ({first[:200]})") from None
    finally:
        dist.destroy_process_group()


def _lost_a_rank(e: Exception) -> bool:
    """Whether a collective failed because a peer died or hung (gloo: connection reset or closed, a timeout)."""
    text = str(e)
    return isinstance(e, dist.DistError) or any(w in text for w in ("Connection", "connection", "timed out",
                                                                    "Timeout", "NCCL", "gloo"))


def local_device(device: torch.device) -> torch.device:
    """A rank's own GPU: cuda (no index) becomes cuda:LOCAL_RANK when ranks share a machine."""
    if device.type == "cuda" and device.index is None and world_size() > 1:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def rank_seed(seed: int) -> int:
    """The seed of this rank's randomness: the run's seed on rank 0 (so rank 0 draws what a single process would),
    a seed derived from (seed, rank) on the others."""
    r = rank()
    return seed if r == 0 else int(np.random.SeedSequence([seed, r]).generate_state(1)[0])


def average_gradients(params: Iterable[nn.Parameter]) -> None:
    """Every rank's gradients replaced by their mean over ranks, in one all-reduce (no-op in one process)."""
    size = world_size()
    if size == 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= size
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


@torch.no_grad()
def broadcast_state(module: nn.Module, parameters: bool = True, buffers: bool = True) -> None:
    """Rank 0's parameters and/or buffers copied to every rank (no-op in one process)."""
    if world_size() == 1:
        return
    tensors = [*(module.parameters() if parameters else ()), *(module.buffers() if buffers else ())]
    for dtype in dict.fromkeys(t.dtype for t in tensors):  # one broadcast per dtype, in the same order on all ranks
        same = [t for t in tensors if t.dtype == dtype]
        flat = torch.cat([t.data.reshape(-1) for t in same])
        dist.broadcast(flat, src=0)
        offset = 0
        for t in same:
            t.data.copy_(flat[offset:offset + t.numel()].view_as(t))
            offset += t.numel()


def _reduced(values: list[float], op=None) -> list[float]:
    # NCCL reduces CUDA tensors only
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else None
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=op or dist.ReduceOp.SUM)
    return t.tolist()


def any_rank(flag: bool) -> bool:
    """True on every rank if it is true on any: how all ranks agree to stop at the same step."""
    if world_size() == 1:
        return flag
    return _reduced([float(flag)], dist.ReduceOp.MAX)[0] > 0


def mean_over_ranks(value: float) -> float:
    """The mean of a number over ranks (the same on every rank)."""
    if world_size() == 1:
        return value
    return _reduced([value])[0] / world_size()


def sum_over_ranks(values: list[float]) -> list[float]:
    """Element-wise sums over ranks (the same on every rank)."""
    return values if world_size() == 1 else _reduced(values)


def sum_tensor_over_ranks(t: torch.Tensor) -> torch.Tensor:
    """A tensor summed over ranks (in place; the same on every rank)."""
    if world_size() > 1:
        dist.all_reduce(t)
    return t


def gather_to_main(obj: Any) -> list[Any] | None:
    """Every rank's `obj`, as a list by rank, on rank 0 (None on the others); [obj] in one process."""
    if world_size() == 1:
        return [obj]
    out = [None] * world_size() if is_main() else None
    dist.gather_object(obj, out, dst=0)
    return out
