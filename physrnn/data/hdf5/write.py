"""Write a ``physrnn-dataset`` file atomically (schema in :mod:`physrnn.data.hdf5.schema`).

:func:`write_dataset` checks shapes, dtypes, metadata, splits and finiteness before anything is
written, then writes under a temporary name beside the target and renames it into place
(:func:`physrnn.io.atomic_path`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from physrnn.data.hdf5.schema import (
    CHUNK_T,
    DATASET_FORMAT,
    DATASET_SCHEMA_VERSION,
    MAX_CHUNK_BYTES,
    SPLIT_NAMES,
    STR_SEQ_ATTRS,
    WRITER_ATTRS,
    first_nonfinite,
)
from physrnn.data.hdf5.splits import compute_normalisation, split_problems, split_trajectories
from physrnn.errors import NonFiniteError, OutputExistsError
from physrnn.io import atomic_path, provenance

__all__ = ["write_dataset"]

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------ metadata
def _json_default(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, tuple | set | frozenset):
        return list(v)
    raise TypeError(f"{type(v).__name__} is not JSON serialisable")


def _as_float(key: str, v: Any, default: float = math.nan) -> float:
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
        raise ValueError(f"meta[{key!r}] must be a real number (or None), got {v!r}")
    return float(v)


def _as_str(key: str, v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"meta[{key!r}] must be a string, got {type(v).__name__} {v!r}")
    return v


def _str_seq(key: str, v: Any, n: int) -> list[str]:
    if isinstance(v, str) or not isinstance(v, Sequence | np.ndarray):
        raise ValueError(f"meta[{key!r}] must be a sequence of {n} strings, got {v!r}")
    v = list(v)
    if len(v) != n or not all(isinstance(s, str) for s in v):
        raise ValueError(f"meta[{key!r}] must hold one string per state component "
                         f"(n_state = {n}), got {v!r}")
    return v


def _extra_attr(key: str, v: Any) -> Any:
    """An extra metadata value as an HDF5 attribute: scalars, strings and flat lists of them."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, Sequence | np.ndarray) and not isinstance(v, bytes):
        items = [x.item() if isinstance(x, np.generic) else x for x in list(v)]
        if all(isinstance(x, str) for x in items):
            return np.array(items, dtype=h5py.string_dtype()) if items \
                else np.zeros(0, dtype=np.float64)
        if all(isinstance(x, bool | int | float) for x in items):
            return np.asarray(items)
    raise ValueError(f"meta[{key!r}] = {v!r}: extra metadata must be a string, number, bool or "
                     "a flat list of them (encode nested data as JSON text)")


def _uniform_dt(t: np.ndarray) -> float | None:
    """The sampling interval if ``t`` is uniform (relative tolerance 1e-6), else ``None``."""
    if len(t) < 2:
        return None
    d = np.diff(t)
    est = (t[-1] - t[0]) / (len(t) - 1)
    return float(est) if np.all(np.abs(d - est) <= 1e-6 * abs(est)) else None


def _meta_attrs(meta: Mapping[str, Any], *, n_traj: int, n_state: int,
                t: np.ndarray) -> dict[str, Any]:
    """Validate ``meta`` and turn it into the root attributes (without writer provenance)."""
    meta = dict(meta)
    for key in WRITER_ATTRS:
        if key in meta:
            raise ValueError(f"meta[{key!r}] is set by write_dataset itself; remove it from meta "
                             f"(keys written by the writer: {', '.join(WRITER_ATTRS)})")
    if "n_traj" in meta:
        if meta.pop("n_traj") != n_traj:
            raise ValueError(f"meta['n_traj'] does not match y.shape[0] = {n_traj}")
    if "system" not in meta:
        raise ValueError("meta must name the system: meta['system'] = 'lorenz63', for example")
    attrs: dict[str, Any] = {}
    attrs["system"] = _as_str("system", meta.pop("system"))
    if not attrs["system"]:
        raise ValueError("meta['system'] is empty; name the system that made the data")
    params = meta.pop("params", None) or {}
    if dataclasses.is_dataclass(params) and not isinstance(params, type):
        params = dataclasses.asdict(params)
    if not isinstance(params, Mapping):
        raise ValueError(f"meta['params'] must be a dict (or parameter dataclass), got "
                         f"{type(params).__name__}")
    try:
        attrs["params"] = json.dumps(dict(params), default=_json_default, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"meta['params'] is not JSON serialisable: {exc}") from None
    names = meta.pop("state_names", None)
    units = meta.pop("state_units", None)
    attrs["state_names"] = _str_seq("state_names", [f"y{i}" for i in range(n_state)]
                                    if names is None else names, n_state)
    attrs["state_units"] = _str_seq("state_units", ["1"] * n_state if units is None else units,
                                    n_state)
    for key, default in (("time_unit", "1"), ("time_scale_name", ""), ("kind", ""),
                         ("integrator", ""), ("reference", ""), ("recipe", "")):
        v = meta.pop(key, None)
        attrs[key] = default if v is None else _as_str(key, v)
    for key in ("lyapunov_exponent", "time_scale", "rtol", "atol", "transient"):
        attrs[key] = _as_float(key, meta.pop(key, None))
    dt_t = _uniform_dt(t)
    dt = meta.pop("dt", None)
    if dt is None:
        attrs["dt"] = math.nan if dt_t is None else dt_t
    else:
        attrs["dt"] = _as_float("dt", dt)
        if dt_t is not None and not abs(attrs["dt"] - dt_t) <= 1e-6 * abs(dt_t):
            raise ValueError(f"meta['dt'] = {attrs['dt']!r} but the times t are uniformly "
                             f"spaced by {dt_t!r}")
    seed = meta.pop("seed", None)
    if seed is None:
        seed = -1
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ValueError(f"meta['seed'] must be an integer (or None), got {seed!r}")
    attrs["seed"] = int(seed)
    for key, v in meta.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"meta key {key!r} must be a non-empty string")
        if v is None:
            raise ValueError(f"meta[{key!r}] is None; omit the key or give a value")
        attrs[key] = _extra_attr(key, v)
    return attrs


def _check_series(name: str, arr: Any, n_traj: int, n_t: int | None) -> np.ndarray:
    arr = np.asarray(arr)
    lead = (n_traj,) if n_t is None else (n_traj, n_t)
    if arr.ndim < len(lead) or arr.shape[: len(lead)] != lead:
        want = "(n_traj, ...)" if n_t is None else "(n_traj, n_t, ...)"
        raise ValueError(f"{name} must have shape {want} = {lead + ('...',)}, got {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    return arr


# ------------------------------------------------------------------------------ write
def _chmod_like_new_file(path: Path) -> None:
    """Give the temporary file the permissions a new file would get (umask), not 0600.

    ``tempfile.mkstemp`` creates files readable by the owner only; a dataset is meant to be
    shared (group-readable on a cluster), so apply the usual ``0666 & ~umask``.
    """
    umask = os.umask(0)
    os.umask(umask)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o666 & ~umask)


def write_dataset(
    path: str | Path,
    *,
    t: Any,
    y: Any,
    meta: Mapping[str, Any],
    observables: Mapping[str, Any] | None = None,
    y0: Any = None,
    splits: Mapping[str, Any] | None = None,
    split_fractions: Sequence[float] = (0.8, 0.1, 0.1),
    split_seed: int = 0,
    overwrite: bool = False,
    chunk_t: int = CHUNK_T,
    compression: str | None = "gzip",
) -> Path:
    """Validate and write a dataset file atomically (schema in :mod:`physrnn.data.hdf5.schema`).

    Args:
        path: target file (``.h5``); its directory is created if needed.
        t: ``(n_t,)`` strictly increasing finite times (stored as float64).
        y: ``(n_traj, n_t, n_state)`` float32 or float64 finite states (dtype kept).
        meta: root attributes: ``system`` (required), ``params``, ``state_names``,
            ``state_units``, ``time_unit``, ``lyapunov_exponent``, ``time_scale``,
            ``time_scale_name``, ``kind``, ``integrator``, ``rtol``, ``atol``, ``dt``,
            ``transient``, ``seed``, ``reference``, ``recipe`` (missing ones get the defaults
            of the schema) and any extra key (strings, numbers, bools, flat lists).
            May contain ``n_traj`` if it equals ``y.shape[0]``; not the writer's own keys
            (:data:`~physrnn.data.hdf5.schema.WRITER_ATTRS`).
        observables: name -> ``(n_traj, n_t, ...)`` numeric array; finite.
        y0: ``(n_traj, ...)`` initial conditions; finite.
        splits: explicit ``{"train", "val", "test"}`` -> trajectory indices (missing names are
            empty); otherwise computed by
            :func:`~physrnn.data.hdf5.splits.split_trajectories` from ``split_fractions`` and
            ``split_seed``.
        overwrite: replace an existing file.
        chunk_t: time length of an HDF5 chunk of ``/y`` (capped so a chunk is <= 1 MiB).
        compression: ``"gzip"`` (portable, default), ``"lzf"`` (fast, h5py only) or ``None``.

    Returns:
        The path written.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is false (nothing is touched).
        NonFiniteError: NaN or inf in ``t``, ``y``, an observable or ``y0`` (names the
            trajectory and time index).
        ValueError: wrong shapes, dtypes, metadata or splits.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputExistsError(f"{path} is a directory; give a file name for the dataset")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} already exists; pass overwrite=True (--overwrite) to "
                                "replace it")
    t = np.asarray(t)
    if t.ndim != 1 or t.size < 1:
        raise ValueError(f"t must have shape (n_t,) with n_t >= 1, got {t.shape}")
    if not np.issubdtype(t.dtype, np.number) or np.issubdtype(t.dtype, np.complexfloating):
        raise ValueError(f"t must be real numbers, got dtype {t.dtype}")
    t = t.astype(np.float64)
    if not np.all(np.isfinite(t)):
        k = int(np.argwhere(~np.isfinite(t))[0, 0])
        raise NonFiniteError(f"t holds a non-finite value {t[k]!r} at time index {k}")
    if np.any(np.diff(t) <= 0):
        k = int(np.argwhere(np.diff(t) <= 0)[0, 0])
        raise ValueError(f"t must be strictly increasing; t[{k}] = {t[k]!r} >= "
                         f"t[{k + 1}] = {t[k + 1]!r}")
    y = np.asarray(y)
    if y.ndim != 3:
        raise ValueError(f"y must have shape (n_traj, n_t, n_state) (rank 3), got shape "
                         f"{y.shape} (rank {y.ndim}); add the missing axis explicitly, e.g. "
                         "y[None] for one trajectory or y[..., None] for one component")
    if y.dtype not in (np.float32, np.float64):
        raise ValueError(f"y must be float32 or float64, got {y.dtype}; convert explicitly, "
                         "e.g. y.astype(np.float64)")
    n_traj, n_t, n_state = y.shape
    if min(y.shape) < 1:
        raise ValueError(f"y must have at least one trajectory, time and component, got {y.shape}")
    if n_t != t.size:
        raise ValueError(f"t has {t.size} times but y has n_t = {n_t} (y.shape = {y.shape})")
    attrs = _meta_attrs(meta, n_traj=n_traj, n_state=n_state, t=t)
    msg = first_nonfinite(y, "y", t, attrs["state_names"])
    if msg:
        raise NonFiniteError(f"{msg}; refusing to write {path}")
    obs: dict[str, np.ndarray] = {}
    for name, arr in (observables or {}).items():
        if not isinstance(name, str) or not name or any(not p for p in name.split("/")):
            raise ValueError(f"observable name {name!r} must be a non-empty string whose "
                             "'/'-separated parts are non-empty")
        arr = _check_series(f"observable {name!r}", arr, n_traj, n_t)
        msg = first_nonfinite(arr, f"observable {name!r}", t)
        if msg:
            raise NonFiniteError(f"{msg}; refusing to write {path}")
        obs[name] = arr
    if y0 is not None:
        y0 = _check_series("y0", y0, n_traj, None)
        msg = first_nonfinite(y0, "y0")
        if msg:
            raise NonFiniteError(f"{msg}; refusing to write {path}")
    if splits is None:
        split_arrays = split_trajectories(n_traj, split_fractions, seed=split_seed)
    else:
        unknown = set(splits) - set(SPLIT_NAMES)
        if unknown:
            raise ValueError(f"unknown split name(s) {sorted(unknown)}; use {SPLIT_NAMES}")
        split_arrays = {}
        for k in SPLIT_NAMES:
            a = np.asarray(splits.get(k, ()))
            split_arrays[k] = a.astype(np.int64) if a.size == 0 else a
        problems = split_problems(split_arrays, n_traj)
        if problems:
            raise ValueError("bad splits: " + "; ".join(problems))
        split_arrays = {k: np.sort(v).astype(np.int64) for k, v in split_arrays.items()}
    norm = compute_normalisation(y, split_arrays["train"])

    itemsize = y.dtype.itemsize
    ct = max(1, min(n_t, int(chunk_t), MAX_CHUNK_BYTES // (n_state * itemsize)))
    comp: dict[str, Any] = {}
    if compression == "gzip":
        comp = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
    elif compression == "lzf":
        comp = {"compression": "lzf", "shuffle": True}
    elif compression is not None:
        raise ValueError(f"compression must be 'gzip', 'lzf' or None, got {compression!r}")
    prov = provenance()
    with atomic_path(path) as tmp:
        _chmod_like_new_file(tmp)
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = DATASET_FORMAT
            f.attrs["schema_version"] = DATASET_SCHEMA_VERSION
            for key in ("physrnn_version", "git_revision", "created_utc"):
                f.attrs[key] = str(prov[key])
            f.attrs["n_traj"] = n_traj
            for key, v in attrs.items():
                if key in STR_SEQ_ATTRS:
                    v = np.array(v, dtype=h5py.string_dtype())
                f.attrs[key] = v
            f.create_dataset("t", data=t)
            f.create_dataset("y", data=y, chunks=(1, ct, n_state), **comp)
            for name, arr in obs.items():
                rest = arr.shape[2:]
                per_t = max(1, int(np.prod(rest, dtype=np.int64)) * arr.dtype.itemsize)
                cto = max(1, min(n_t, int(chunk_t), MAX_CHUNK_BYTES // per_t))
                f.create_dataset(f"observables/{name}", data=arr, chunks=(1, cto) + rest,
                                 **comp)
            if y0 is not None:
                f.create_dataset("y0", data=y0)
            g = f.create_group("normalisation")
            g.attrs["split"] = "train"
            g.attrs["ddof"] = 0
            g.create_dataset("mean", data=norm.mean)
            g.create_dataset("std", data=norm.std)
            s = f.create_group("splits")
            for name in SPLIT_NAMES:
                s.create_dataset(name, data=split_arrays[name], dtype=np.int64)
    log.info("wrote %s: %s, y %s %s, splits %s", path, attrs["system"], y.shape, y.dtype,
             {k: int(v.size) for k, v in split_arrays.items()})
    return path

