"""The run object: one run directory with its config, TensorBoard events, checkpoints and Ctrl-C.

Layout (see DESIGN.md): DIR/config.toml, DIR/events.out.tfevents.*, DIR/checkpoints/{last,best}.pt,
DIR/eval.json. Checkpoints are plain dicts of tensors and Python values, written atomically
(temp file + rename) and read back with `torch.load(..., weights_only=True)`, so a checkpoint
from a stranger can never run code.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import pickle
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
from filelock import FileLock, Timeout
from tensorboard.compat.proto.summary_pb2 import Summary
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from labcore import distributed
from labcore.config import markdown_table, read_toml
from labcore.errors import TrainingError, UsageError
from labcore.media import encode_gif

FORMAT = "labcore-checkpoint"
VERSION = 1

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


def default_run_dir(name: str, seed: int, root: str = "runs") -> Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(root) / f"{name}-s{seed}-{stamp}"
    n = 1
    while path.exists():  # two runs started in the same second
        n += 1
        path = Path(root) / f"{name}-s{seed}-{stamp}-{n}"
    return path


LOCK = ".lock"


def check_new_run_dir(path: Path) -> None:
    """A new run never writes into a directory that already holds something (a crashed start's lock file aside)."""
    if path.exists() and (not path.is_dir() or any(p.name != LOCK for p in path.iterdir())):
        raise UsageError(f"run directory {path} already exists; choose another --run-dir, or --resume {path}")


def hold_run_dir(path: Path, new: bool) -> FileLock:
    """Take the run directory's writer lock (DIR/.lock), or refuse: one training process per run directory.

    `filelock` rather than a hand-written `fcntl` call: it is an OS lock (flock; msvcrt on Windows) that the kernel
    drops when its process ends in any way, so a crash never leaves it stale, and torch already depends on it.
    Readers (`eval`, `sample`, `plot`) do not take it."""
    lock = FileLock(path / LOCK, timeout=0)
    try:
        path.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except Timeout:  # (an OSError too: first)
        raise UsageError(f"run directory {path} is being trained by another process; wait for it to end or stop "
                         "it (Ctrl-C saves a checkpoint) before training it here") from None
    except OSError as e:  # under a file, read-only, no permission
        raise UsageError(f"cannot write run directory {path}: {e.strerror or e}") from None
    if new:  # two new runs started on one directory at once: the second to lock finds the first's files
        try:
            check_new_run_dir(path)
        except UsageError:
            lock.release()
            raise
    return lock


def _fsync_dir(path: Path) -> None:
    if os.name == "nt":  # Windows cannot open a directory to sync it
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    """`write(file)` into a temp file beside `path`, flushed to disk, then renamed over `path`, the directory
    synced before and after: after a crash at any moment `path` is the old file or the new one, whole. A failed
    write (a full disk) removes the temp file, leaves `path` as it was and stops the run (exit 1)."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        _fsync_dir(path.parent)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise TrainingError(f"could not write {path}: {e.strerror or e}") from None


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save, atomically and durably (`atomic_write`)."""
    atomic_write(path, lambda f: torch.save(obj, f))


def load_checkpoint(path: str | Path) -> tuple[dict[str, Any], Path]:
    """Load a checkpoint file, or a run directory's `checkpoints/last.pt`; returns (state, run_dir).

    Anything that is not a readable lab checkpoint is a `UsageError`, and objects other than
    tensors and plain values are refused (`weights_only=True`).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoints" / "last.pt"
        if not path.exists():
            raise UsageError(f"no checkpoint in run directory {path.parent.parent} (expected {path})")
    if not path.exists():
        raise UsageError(f"no such run directory or checkpoint: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights_only" in str(e) or "Weights only" in str(e):
            raise UsageError(f"refused to load {path}: it holds objects other than tensors and plain values") from None
        raise UsageError(f"{path} is not a readable checkpoint (truncated or corrupt)") from None
    except Exception:  # a damaged file fails in many ways (EOFError, KeyError, BadZipFile, ...)
        raise UsageError(f"{path} is not a readable checkpoint (truncated or corrupt)") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UsageError(f"{path} is a torch file but not a lab checkpoint")
    version = state.get("version", 1)
    if not isinstance(version, int) or version > VERSION:
        raise UsageError(f"{path} is in checkpoint format version {version!r}, not one this lab reads (up to "
                         f"{VERSION}); a newer rlgen-lab may read it")
    run_dir = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    return state, run_dir


def checked_config(run_dir: Path, state: dict[str, Any]) -> dict[str, Any]:
    """The config a run resumes with: its config.toml, refused when it no longer says what the checkpoint was
    trained with (a hand edit would make the resumed part a different run than the first)."""
    path = run_dir / "config.toml"
    if not path.is_file():
        raise UsageError(f"{run_dir} has no config.toml: not a run directory to resume")
    values, trained = read_toml(path), state.get("config", {})
    absent = object()

    def plain(x: Any) -> Any:  # TOML has lists where the checkpoint may hold tuples
        return [plain(v) for v in x] if isinstance(x, list | tuple) else x

    changed = [k for k in sorted(set(values) | set(trained))
               if plain(values.get(k, absent)) != plain(trained.get(k, absent))]
    if changed:
        shown = "; ".join(f"{k}: {values.get(k, '(none)')!r} in the file, {trained.get(k, '(none)')!r} in the "
                          "checkpoint" for k in changed[:3])
        raise UsageError(f"{path} differs from the config its checkpoint was trained with ({shown}); restore it "
                         "to resume, or start a new run with the new settings")
    return values


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
