"""Run records, summaries and checkpoints, written atomically.

Every run leaves in its output directory:

* ``record.h5``: the run record, HDF5 schema ``physrnn-record`` version 1::

      /                attrs: format = "physrnn-record", schema_version = 1, physrnn_version,
                              git_revision, created_utc, command, output_dir (resolved),
                              status, message,
                              python_version, torch_version, config_json, config_toml
      /history/<key>   (n_steps,) float64 or int64 per-step history (step, energy, error, ...)
      /results         attrs: flat scalar results (energy, error, reference, rel_error, ...)

* ``summary.json``: the headline numbers with flat keys, for scripts and sweeps.
* ``checkpoint.pt``: model, optimiser, scheduler and RNG states plus the resolved config, as
  plain data and tensors read without running code (:mod:`physrnn.checkpoints`).
* figures as PNG.

Files are written under a temporary name in the same directory and renamed into place
(:func:`physrnn.io.atomic_path`), so a crash never leaves a half-written file under the final
name and a failed write (full disk, read-only file system) leaves the previous file intact.
:func:`prepare_output_dir` with ``lock=True`` takes the directory's lock
(:mod:`physrnn.runlock`) so that a second process on the same run directory is refused.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

import physrnn
from physrnn.checkpoints import load_checkpoint, save_checkpoint
from physrnn.errors import ConfigError, OutputExistsError, RecordError
from physrnn.io import atomic_path, git_revision, provenance, remove_stale_temporaries
from physrnn.runlock import LOCK_NAME, RunLock, held_locks

__all__ = [
    "RECORD_FORMAT",
    "RECORD_SCHEMA_VERSION",
    "Record",
    "atomic_path",
    "git_revision",
    "provenance",
    "prepare_output_dir",
    "release_output_dir",
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


def prepare_output_dir(out: str | Path, *, overwrite: bool = False, resume: bool = False,
                       lock: bool = False) -> Path:
    """Create ``out`` or check that it may be used.

    An existing directory holding physrnn outputs is refused unless ``overwrite`` (its
    checkpoint is then removed so a later resume cannot pick up a stale run) or ``resume``.

    With ``lock``, the directory's lock (:class:`physrnn.runlock.RunLock`) is taken *before*
    anything in it is checked or removed, and held until :func:`release_output_dir`; a second
    process on the same directory is refused. With ``resume``, temporary files left by a killed
    writer are removed (:func:`remove_stale_temporaries`), under the lock.

    A ``--out`` that is a symbolic link is followed: the run writes where the link points, and
    the resolved path is logged (a cluster's scratch space is often reached through a link).

    Raises:
        OutputExistsError: the directory holds results and neither flag was given.
        RunLockedError: another live process holds the directory's lock.
        ConfigError: the directory cannot be created or written to.
    """
    out = Path(out)
    if out.is_symlink():
        log.info("--out %s is a symbolic link: writing to %s", out, out.resolve())
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"--out {out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out} cannot be written: {exc.strerror or exc}") from None
    run_lock = RunLock(out, what=f"--out {out}") if lock else None
    if run_lock is not None:
        try:
            run_lock.acquire()
        except OSError as exc:  # the lock file cannot be created: an unwritable directory
            raise ConfigError(f"--out {out} cannot be written: "
                              f"{getattr(exc, 'strerror', None) or exc}") from None
    try:
        existing = [f for f in OUTPUT_FILES if (out / f).exists()]
        if existing and not (overwrite or resume):
            raise OutputExistsError(
                f"--out {out} already holds {', '.join(existing)}; pass --overwrite to replace "
                "it or --resume to continue it"
            )
        if run_lock is None:
            try:
                probe_fd, probe = tempfile.mkstemp(prefix=".physrnn-write-test.",
                                                   suffix=".tmp", dir=out)
                os.close(probe_fd)
                os.unlink(probe)
            except OSError as exc:
                raise ConfigError(f"--out {out} cannot be written: {exc.strerror or exc}") \
                    from None
        if overwrite and not resume and (out / "checkpoint.pt").exists():
            (out / "checkpoint.pt").unlink()
        if resume:
            for p in remove_stale_temporaries(out):
                log.info("removed %s, left behind by a killed run", p)
    except BaseException:
        if run_lock is not None:
            run_lock.release()
        raise
    return out


def release_output_dir(out: str | Path) -> None:
    """Release the lock :func:`prepare_output_dir` took on ``out`` (no-op if none is held)."""
    target = os.path.abspath(Path(out) / LOCK_NAME)
    for held in held_locks():
        if str(held.path) == target:
            held.release()


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
            f.attrs["output_dir"] = str(Path(path).resolve().parent)
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
