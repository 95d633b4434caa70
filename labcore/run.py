"""The run object: one run directory with its config, TensorBoard events, checkpoints and Ctrl-C.

Layout (see DESIGN.md): DIR/config.toml, DIR/events.out.tfevents.*, DIR/checkpoints/{last,best}.pt,
DIR/eval.json. The directory's files, its lock and the checkpoints' format: labcore/rundir.py.
"""

from __future__ import annotations

import hashlib
import json
import random
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w
import torch
from filelock import FileLock
from tensorboard.compat.proto.summary_pb2 import Summary
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from labcore import distributed
from labcore.config import markdown_table
from labcore.errors import TrainingError, UsageError
from labcore.media import encode_gif
from labcore.rundir import FORMAT, VERSION, atomic_save, atomic_write, hold_run_dir

Watcher = Callable[[int, dict[str, float]], None]
_watchers: ContextVar[tuple[Watcher, ...]] = ContextVar("watchers", default=())


@contextmanager
def watch(watcher: Watcher) -> Iterator[None]:
    """Call `watcher(step, scalars)` with every batch of scalars a Run in this context logs (rank 0's): how a
    hyper-parameter search sees a run's periodic evaluations, and stops it by raising (the loop's `finally`
    closes the run, whose last checkpoint stays)."""
    token = _watchers.set((*_watchers.get(), watcher))
    try:
        yield
    finally:
        _watchers.reset(token)


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA, then Apple MPS, then the CPU; an unavailable device is a `UsageError`."""
    if name == "auto":
        if torch.cuda.is_available():
            return distributed.local_device(torch.device("cuda"))
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"unknown device {name!r}; choose from auto, cpu, cuda, cuda:N, mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {name!r} asked for, but CUDA is not available here; use --device cpu or auto")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UsageError(f"device {name!r} asked for, but MPS is not available here; use --device cpu or auto")
    return distributed.local_device(device)


def seed_everything(seed: int) -> np.random.Generator:
    """The one seeding call: Python, NumPy and torch; returns the Generator the algorithm draws from. In a
    data-parallel run each rank seeds with its own seed derived from this one (rank 0 with this one)."""
    seed = distributed.rank_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """Every random state a run draws from, as plain values and tensors."""
    state = {"numpy": rng.bit_generator.state, "torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any], rng: np.random.Generator) -> None:
    rng.bit_generator.state = state["numpy"]
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Run:
    """One run directory: config.toml, TensorBoard writer, progress bar, checkpoints and Ctrl-C.

    Ctrl-C sets `stop_requested`; the training loop asks `should_stop()` at a step boundary, saves a
    checkpoint and exits with code 130. A second Ctrl-C interrupts at once.

    In a data-parallel run every rank makes a Run and calls the same methods, but only rank 0 (`writes`) touches
    the run directory, TensorBoard and the progress bar; `save` gathers each rank's own state into rank 0's
    checkpoint, and `should_stop` makes every rank stop at the same step.
    """

    PER_RANK = ("rng", "loop")  # checkpoint entries each rank has its own of (random states, environments)

    def __init__(
        self, run_dir: Path, config: dict[str, Any], *, total: int, start: int = 0, resume: bool = False,
        desc: str = "train",
    ):
        self.dir = Path(run_dir)
        self.resumed = resume
        self.writes = distributed.is_main()
        self.writer: SummaryWriter | None = None
        self.lock: FileLock | None = None
        if self.writes:
            self.lock = hold_run_dir(self.dir, new=not resume)  # before anything is written
            try:
                (self.dir / "checkpoints").mkdir(parents=True, exist_ok=True)
                if not self.resumed:
                    atomic_write(self.dir / "config.toml", lambda f: tomli_w.dump(config, f))
                # purge_step hides events a killed run wrote after its last checkpoint (at step `start`,
                # whose own events are kept), so a resumed run's curves continue without a fold.
                self.writer = SummaryWriter(str(self.dir), purge_step=start + 1 if self.resumed else None)
                if not self.resumed:
                    self.writer.add_text("config", markdown_table(config), 0)
            except BaseException:
                self.lock.release()
                raise
        self.bar = tqdm(total=total, initial=start, desc=desc, unit="step", dynamic_ncols=True,
                        disable=None if self.writes else True, mininterval=0.5)
        self.stop_requested = False
        self._last_progress = start
        self._start_time = time.perf_counter()
        self._start_step = start
        self._old_handler = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum, frame):
        if self.stop_requested:  # second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.stop_requested = True

    def should_stop(self) -> bool:
        """Whether Ctrl-C reached this process (or, in a data-parallel run, any rank)."""
        return distributed.any_rank(self.stop_requested)

    def elapsed(self) -> float:
        """Seconds since this run (or this resumed part of it) started, imports and set-up excluded."""
        return time.perf_counter() - self._start_time

    def fps(self, step: int) -> float:
        return (step - self._start_step) / max(time.perf_counter() - self._start_time, 1e-9)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        if self.writer:
            for key, value in metrics.items():
                self.writer.add_scalar(key, value, step)
            for watcher in _watchers.get():
                watcher(step, metrics)

    def figures(self, step: int, images: dict[str, torch.Tensor], histograms: dict[str, torch.Tensor]) -> None:
        """Images (C, H, W) in [0, 1] and histograms of values, by TensorBoard tag."""
        if self.writer:
            for tag, image in images.items():
                self.writer.add_image(tag, image, step)
            for tag, values in histograms.items():
                self.writer.add_histogram(tag, values, step)

    def animation(self, tag: str, frames: list[np.ndarray], step: int, fps: float) -> None:
        """Frames (H, W, 3) uint8 as an animated GIF image, which TensorBoard's image dashboard plays."""
        if self.writer:
            height, width = frames[0].shape[:2]
            gif = encode_gif(frames, fps)
            image = Summary.Image(height=height, width=width, colorspace=3, encoded_image_string=gif)
            # the writer's own file writer: the way SummaryWriter.add_video writes its GIFs too
            self.writer._get_file_writer().add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)

    def progress(self, step: int, **postfix: float) -> None:
        self.bar.update(step - self._last_progress)
        self._last_progress = step
        if postfix and not self.bar.disable:
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in postfix.items()}, refresh=False)

    def save(self, state: dict[str, Any], name: str = "last") -> Path:
        """Write checkpoints/NAME.pt (rank 0). Every rank must call it: in a data-parallel run each rank's own
        entries (`PER_RANK`) are gathered into `ranks`, a list by rank, beside rank 0's at the top level."""
        shared = {k: v for k, v in state.items() if k not in self.PER_RANK}
        ranks = distributed.gather_to_main({**{k: state[k] for k in self.PER_RANK if k in state},
                                            "fingerprint": fingerprint(shared) if distributed.world_size() > 1 else ""})
        path = self.dir / "checkpoints" / f"{name}.pt"
        if self.writes:
            if len(ranks) > 1:
                if len({r["fingerprint"] for r in ranks}) > 1:  # they average gradients: they must agree exactly
                    raise TrainingError("the processes' weights have drifted apart; the last good checkpoint is kept")
                state = {**state, "ranks": ranks}
            atomic_save({"format": FORMAT, "version": VERSION, **state}, path)
        return path

    def write_json(self, name: str, data: dict[str, Any]) -> None:
        if self.writes:
            atomic_write(self.dir / name, lambda f: f.write((json.dumps(data, indent=2) + "\n").encode()))

    def close(self) -> None:
        signal.signal(signal.SIGINT, self._old_handler)
        self.bar.close()
        if self.writer:
            self.writer.close()
        if self.lock:
            self.lock.release()


def fingerprint(obj: Any) -> str:
    """A SHA-256 of every tensor in a nest of dicts and lists (weights, optimiser states), in order."""
    digest = hashlib.sha256()

    def walk(x: Any) -> None:
        if isinstance(x, torch.Tensor):
            digest.update(x.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(x, dict):
            for key in x:
                walk(x[key])
        elif isinstance(x, list | tuple):
            for item in x:
                walk(item)

    walk(obj)
    return digest.hexdigest()


def for_this_rank(state: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint as this rank resumes it: with its own random states and environments. A run resumes with as
    many ranks as it was trained with (the data each rank draws depends on its rank)."""
    trained = len(state.get("ranks", [None]))
    now = distributed.world_size()
    if trained != now:
        how = f"with {trained} processes (torchrun)" if trained > 1 else "in one process, without torchrun"
        raise UsageError(f"this run was trained with {trained} process{'es' if trained > 1 else ''}; resume it {how}, "
                         f"not with {now}: each process's data and random state belong to its rank")
    return {**state, **state["ranks"][distributed.rank()]} if trained > 1 else state
