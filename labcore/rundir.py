"""The run directory on disk: its name, its one writer, atomic and durable writes, and checkpoints read back.

A checkpoint is a plain dict of tensors and Python values, stamped with FORMAT and VERSION, written atomically
(`atomic_write`) and read back with `torch.load(..., weights_only=True)`, so a checkpoint from a stranger can never
run code. Every training process holds its run directory's lock (`hold_run_dir`) while it writes there.
"""

from __future__ import annotations

import datetime
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock, Timeout

from labcore.config import read_toml
from labcore.errors import TrainingError, UsageError

FORMAT = "labcore-checkpoint"
VERSION = 1


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
