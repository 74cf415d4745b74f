"""Run records, summaries and checkpoints, written atomically.

Every run leaves in its output directory:

* ``record.h5``: the run record, HDF5 schema ``physrnn-record`` version 1::

      /                attrs: format = "physrnn-record", schema_version = 1, physrnn_version,
                              git_revision, created_utc, command, status, message,
                              python_version, torch_version, config_json, config_toml
      /history/<key>   (n_steps,) float64 or int64 per-step history (step, energy, error, ...)
      /results         attrs: flat scalar results (energy, error, reference, rel_error, ...)

* ``summary.json``: the headline numbers with flat keys, for scripts and sweeps.
* ``checkpoint.pt``: model, optimiser, scheduler and RNG states plus the resolved config.
* figures as PNG.

Files are written under a temporary name in the same directory and renamed into place, so a
crash never leaves a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import json
import logging
import math
import os
import platform
import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

import physrnn
from physrnn.errors import ConfigError, OutputExistsError, RecordError

__all__ = [
    "RECORD_FORMAT",
    "RECORD_SCHEMA_VERSION",
    "Record",
    "atomic_path",
    "git_revision",
    "provenance",
    "prepare_output_dir",
    "remove_stale_temporaries",
    "write_record",
    "read_record",
    "write_summary",
    "save_checkpoint",
    "load_checkpoint",
]

log = logging.getLogger(__name__)

RECORD_FORMAT = "physrnn-record"
RECORD_SCHEMA_VERSION = 1
OUTPUT_FILES = ("record.h5", "summary.json", "checkpoint.pt")


@functools.lru_cache(maxsize=1)
def git_revision() -> str:
    """Git revision of the physrnn source tree (``-dirty`` if modified), or ``"unknown"``.

    Read once per process: every checkpoint and record of a run carries the same revision.
    """
    root = Path(physrnn.__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{rev}-dirty" if dirty else rev


def provenance() -> dict[str, str]:
    """Package version, git revision, interpreter and torch version, UTC time."""
    import torch

    return {
        "physrnn_version": physrnn.__version__,
        "git_revision": git_revision(),
        "python_version": platform.python_version(),
        "torch_version": str(torch.__version__),
        "platform": platform.platform(),
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


@contextlib.contextmanager
def atomic_path(final: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it onto ``final`` if the block succeeds.

    On an exception the temporary file is removed and ``final`` is left untouched.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; results are meant to be shared
    try:
        yield tmp_path
        _fsync_file(tmp_path)
        os.replace(tmp_path, final)
        _fsync_dir(final.parent)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _fsync_file(path: Path) -> None:
    """Flush ``path`` to stable storage, so that a crash of the machine (not only of the
    process) after the rename cannot leave an empty or partial file under the final name."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # a file system without fsync: the rename is still atomic
        pass
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


#: Names of the temporary files :func:`atomic_path` creates (``.<final name>.<random>.tmp``).
_TMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{6,}\.tmp$")


def remove_stale_temporaries(directory: str | Path) -> list[Path]:
    """Delete the temporary files that a killed writer left in ``directory``.

    :func:`atomic_path` removes its temporary file itself unless the process is killed
    (``kill -9``, out of memory, node failure) between creating and renaming it; such a file
    never carries a final name, so deleting it loses nothing. Call it only on a directory no
    other process is writing to (a run directory being resumed).

    Returns:
        The paths removed.
    """
    directory = Path(directory)
    removed = []
    if not directory.is_dir():
        return removed
    for p in directory.iterdir():
        if p.is_file() and _TMP_NAME.match(p.name):
            try:
                p.unlink()
                removed.append(p)
            except OSError:
                pass
    return removed


def prepare_output_dir(out: str | Path, *, overwrite: bool = False, resume: bool = False) -> Path:
    """Create ``out`` or check that it may be used.

    An existing directory holding physrnn outputs is refused unless ``overwrite`` (its
    checkpoint is then removed so a later resume cannot pick up a stale run) or ``resume``.

    With ``resume``, temporary files left by a killed writer are removed
    (:func:`remove_stale_temporaries`).

    Raises:
        OutputExistsError: the directory holds results and neither flag was given.
        ConfigError: the directory cannot be created or written to.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"--out {out} exists and is not a directory")
    existing = [f for f in OUTPUT_FILES if (out / f).exists()] if out.exists() else []
    if existing and not (overwrite or resume):
        raise OutputExistsError(
            f"--out {out} already holds {', '.join(existing)}; pass --overwrite to replace it "
            "or --resume to continue it"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe_fd, probe = tempfile.mkstemp(prefix=".physrnn-write-test.", suffix=".tmp",
                                           dir=out)
        os.close(probe_fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"--out {out} cannot be written: {exc.strerror or exc}") from None
    if overwrite and not resume and (out / "checkpoint.pt").exists():
        (out / "checkpoint.pt").unlink()
    if resume:
        for p in remove_stale_temporaries(out):
            log.info("removed %s, left behind by a killed run", p)
    return out


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    return v


def write_summary(path: str | Path, summary: dict[str, Any]) -> Path:
    """Write ``summary.json`` atomically (non-finite floats become ``null``)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_jsonable(summary), indent=2, sort_keys=False) + "\n")
    return Path(path)


@dataclass(frozen=True)
class Record:
    """A run record read back from ``record.h5``."""

    attrs: dict[str, Any]
    config: dict[str, Any]
    history: dict[str, np.ndarray]
    results: dict[str, Any]


def write_record(
    path: str | Path,
    *,
    config: dict[str, Any],
    config_toml: str = "",
    history: dict[str, np.ndarray],
    results: dict[str, Any],
    command: str = "",
    status: str = "completed",
    message: str = "",
) -> Path:
    """Write a run record atomically (schema in the module docstring).

    Args:
        config: the full resolved config as a nested dict.
        config_toml: the same config as TOML text (for humans and for rerunning).
        history: per-step arrays of equal length.
        results: flat scalars (numbers, strings, bools); ``None`` values are skipped.
        command: the CLI command or API entry point that produced the run.
        status: ``"completed"``, ``"interrupted"`` or ``"failed"``.
        message: a sentence explaining a non-completed status.
    """
    prov = provenance()
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = RECORD_FORMAT
            f.attrs["schema_version"] = RECORD_SCHEMA_VERSION
            for k, v in prov.items():
                f.attrs[k] = str(v)
            f.attrs["command"] = command
            f.attrs["status"] = status
            f.attrs["message"] = message
            f.attrs["config_json"] = json.dumps(_jsonable(config))
            f.attrs["config_toml"] = config_toml
            hist = f.create_group("history")
            for k, arr in history.items():
                hist.create_dataset(k, data=np.asarray(arr))
            res = f.create_group("results")
            for k, v in results.items():
                if v is not None:
                    res.attrs[k] = _h5_scalar(k, v)
    return Path(path)


def _h5_scalar(key: str, v: Any) -> Any:
    """A results value as an HDF5 attribute: numbers, bools and strings only."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, bool | int | float):
        return v
    if isinstance(v, str):
        return str(v)
    raise RecordError(f"result {key!r} has type {type(v).__name__}; records store scalars only")


def _attr(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v


def read_record(path: str | Path) -> Record:
    """Read and validate a ``record.h5``.

    Raises:
        RecordError: missing file, not HDF5 (corrupted or truncated), a foreign HDF5 file, or a
            schema version this physrnn cannot read; the message says which.
    """
    path = Path(path)
    if not path.is_file():
        raise RecordError(f"{path}: record file not found")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise RecordError(f"{path}: not a readable HDF5 file (corrupted or truncated?): {exc}")\
            from None
    with f:
        fmt = _attr(f.attrs.get("format"))
        if fmt != RECORD_FORMAT:
            raise RecordError(f"{path}: not a physrnn record (format attribute is {fmt!r}, "
                              f"expected {RECORD_FORMAT!r})")
        version = _attr(f.attrs.get("schema_version"))
        if version != RECORD_SCHEMA_VERSION:
            raise RecordError(f"{path}: record schema version {version!r}; this physrnn "
                              f"({physrnn.__version__}) reads version {RECORD_SCHEMA_VERSION}")
        for needed in ("history", "results"):
            if needed not in f:
                raise RecordError(f"{path}: record is missing the '/{needed}' group")
        attrs = {k: _attr(v) for k, v in f.attrs.items()}
        try:
            config = json.loads(attrs.get("config_json", "{}"))
        except json.JSONDecodeError as exc:
            raise RecordError(f"{path}: config_json attribute is not valid JSON: {exc}") from None
        history = {k: np.asarray(d[()]) for k, d in f["history"].items()}
        results = {k: _attr(v) for k, v in f["results"].attrs.items()}
    return Record(attrs=attrs, config=config, history=history, results=results)


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Save a checkpoint (``torch.save``) atomically."""
    import torch

    payload = {"format": "physrnn-checkpoint", "schema_version": 1, **provenance(), **state}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`.

    Raises:
        RecordError: missing, corrupted or foreign file.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise RecordError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many types for a damaged file
        raise RecordError(f"{path}: checkpoint is unreadable (corrupted or truncated?): "
                          f"{type(exc).__name__}: {exc}") from None
    if not isinstance(state, dict) or state.get("format") != "physrnn-checkpoint":
        raise RecordError(f"{path}: not a physrnn checkpoint")
    return state
