"""Validation of ``physrnn-dataset`` files (schema in :mod:`physrnn.data.hdf5.schema`).

:func:`validate_dataset` lists every problem of a file (foreign, corrupted or truncated,
outdated or future schema version, missing datasets, inconsistent shapes, bad splits; with
``deep=True`` also non-finite states and a stale normalisation); :func:`check_dataset` raises
:class:`~physrnn.errors.RecordError` with that list. :func:`~physrnn.data.hdf5.read.read_dataset`
and :func:`~physrnn.data.hdf5.describe.describe_dataset` check before reading.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

import physrnn
from physrnn.data.hdf5.schema import (
    DATASET_FORMAT,
    DATASET_SCHEMA_VERSION,
    FLOAT_ATTRS,
    INT_ATTRS,
    SCHEMA_ATTRS,
    SPLIT_NAMES,
    STR_ATTRS,
    STR_SEQ_ATTRS,
    attribute_value,
    nonfinite_location,
    walk_datasets,
)
from physrnn.data.hdf5.splits import compute_normalisation, split_problems
from physrnn.errors import RecordError

__all__ = ["validate_dataset", "check_dataset"]


def _is_real(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _validate_open(f: h5py.File, deep: bool) -> list[str]:
    problems: list[str] = []
    fmt = attribute_value(f.attrs.get("format"))
    if fmt is None:
        contents = sorted(f.keys())[:8]
        return [f"not a physrnn dataset: no 'format' attribute (a foreign HDF5 file; top-level "
                f"contents {contents}); physrnn datasets have format = {DATASET_FORMAT!r}"]
    if fmt != DATASET_FORMAT:
        return [f"not a physrnn dataset: format attribute is {fmt!r}, expected "
                f"{DATASET_FORMAT!r}"]
    version = attribute_value(f.attrs.get("schema_version"))
    if version is None:
        return ["no 'schema_version' attribute; cannot tell which schema the file follows"]
    if not isinstance(version, int) or isinstance(version, bool):
        return [f"schema_version attribute is {version!r}, expected the integer "
                f"{DATASET_SCHEMA_VERSION}"]
    if version < DATASET_SCHEMA_VERSION:
        return [f"schema_version {version} is outdated: this physrnn ({physrnn.__version__}) "
                f"reads version {DATASET_SCHEMA_VERSION} and has no migration; regenerate the "
                "file from its recipe (the 'recipe' attribute)"]
    if version > DATASET_SCHEMA_VERSION:
        return [f"schema_version {version} is newer than this physrnn ({physrnn.__version__}) "
                f"understands (version {DATASET_SCHEMA_VERSION}); upgrade physrnn"]

    attrs = {k: attribute_value(v) for k, v in f.attrs.items()}
    for key in SCHEMA_ATTRS:
        if key not in attrs:
            problems.append(f"missing root attribute {key!r}")
            continue
        v = attrs[key]
        if key in STR_ATTRS and not isinstance(v, str):
            problems.append(f"attribute {key!r} must be a string, got {v!r}")
        elif key in FLOAT_ATTRS and not _is_real(v):
            problems.append(f"attribute {key!r} must be a number, got {v!r}")
        elif key in INT_ATTRS and not (isinstance(v, int) and not isinstance(v, bool)):
            problems.append(f"attribute {key!r} must be an integer, got {v!r}")
        elif key in STR_SEQ_ATTRS and not (isinstance(v, tuple)
                                            and all(isinstance(s, str) for s in v)):
            problems.append(f"attribute {key!r} must be a list of strings, got {v!r}")
    if isinstance(attrs.get("params"), str):
        try:
            if not isinstance(json.loads(attrs["params"]), dict):
                problems.append("attribute 'params' is not a JSON object")
        except json.JSONDecodeError as exc:
            problems.append(f"attribute 'params' is not valid JSON: {exc}")

    t = f.get("t")
    n_t = None
    if t is None or not isinstance(t, h5py.Dataset):
        problems.append("missing dataset '/t' (the times)")
    elif t.ndim != 1 or t.dtype != np.float64 or t.shape[0] < 1:
        problems.append(f"'/t' must be a non-empty 1-D float64 array, got shape {t.shape} "
                        f"dtype {t.dtype}")
    else:
        tv = t[()]
        n_t = tv.size
        if not np.all(np.isfinite(tv)):
            problems.append(f"'/t' holds non-finite values at indices "
                            f"{np.argwhere(~np.isfinite(tv))[:5, 0].tolist()}")
        elif np.any(np.diff(tv) <= 0):
            k = int(np.argwhere(np.diff(tv) <= 0)[0, 0])
            problems.append(f"'/t' is not strictly increasing (t[{k}] >= t[{k + 1}])")

    y = f.get("y")
    shape = None
    if y is None or not isinstance(y, h5py.Dataset):
        problems.append("missing dataset '/y' (the states, shape (n_traj, n_t, n_state))")
    elif y.ndim != 3:
        problems.append(f"'/y' must have rank 3 (n_traj, n_t, n_state), got shape {y.shape}")
    elif y.dtype not in (np.float32, np.float64):
        problems.append(f"'/y' must be float32 or float64, got {y.dtype}")
    elif min(y.shape) < 1:
        problems.append(f"'/y' is empty: shape {y.shape}")
    else:
        shape = y.shape
    if shape is None:  # shapes cannot be compared; still report what else is missing
        for group, names in (("normalisation", ("mean", "std")), ("splits", SPLIT_NAMES)):
            missing = [f"/{group}/{n}" for n in names if not isinstance(f.get(f"{group}/{n}"),
                                                                         h5py.Dataset)]
            if missing:
                problems.append(f"missing dataset(s) {missing}")
        return problems
    n_traj, n_ty, n_state = shape
    if n_t is not None and n_t != n_ty:
        problems.append(f"inconsistent shapes: '/t' has {n_t} times but '/y' has n_t = {n_ty} "
                        f"(shape {shape})")
    if _is_real(attrs.get("n_traj")) and attrs["n_traj"] != n_traj:
        problems.append(f"attribute n_traj = {attrs['n_traj']} but '/y' holds {n_traj} "
                        "trajectories")
    for key in STR_SEQ_ATTRS:
        if isinstance(attrs.get(key), tuple) and len(attrs[key]) != n_state:
            problems.append(f"attribute {key!r} has {len(attrs[key])} entries but '/y' has "
                            f"n_state = {n_state}")

    obs = f.get("observables")
    if obs is not None:
        if not isinstance(obs, h5py.Group):
            problems.append("'/observables' must be a group")
        else:
            for name, d in walk_datasets(obs).items():
                if d.ndim < 2 or d.shape[:2] != (n_traj, n_ty):
                    problems.append(f"observable '/observables/{name}' has shape {d.shape}; "
                                    f"expected (n_traj, n_t, ...) = ({n_traj}, {n_ty}, ...)")
    y0 = f.get("y0")
    if y0 is not None and (not isinstance(y0, h5py.Dataset) or y0.ndim < 1
                           or y0.shape[0] != n_traj):
        problems.append(f"'/y0' must have shape (n_traj = {n_traj}, ...), got "
                        f"{getattr(y0, 'shape', 'a group')}")

    norm = f.get("normalisation")
    if not isinstance(norm, h5py.Group):
        problems.append("missing group '/normalisation' (mean and std of the train split)")
    else:
        for key in ("mean", "std"):
            d = norm.get(key)
            if not isinstance(d, h5py.Dataset):
                problems.append(f"missing dataset '/normalisation/{key}'")
            elif d.shape != (n_state,):
                problems.append(f"'/normalisation/{key}' has shape {d.shape}, expected "
                                f"(n_state,) = ({n_state},)")
            elif not np.all(np.isfinite(d[()])):
                problems.append(f"'/normalisation/{key}' holds non-finite values")
            elif key == "std" and np.any(d[()] < 0):
                problems.append("'/normalisation/std' holds negative values")

    sp = f.get("splits")
    splits: dict[str, np.ndarray] | None = None
    if not isinstance(sp, h5py.Group):
        problems.append("missing group '/splits' (train, val, test trajectory indices)")
    else:
        missing = [k for k in SPLIT_NAMES if not isinstance(sp.get(k), h5py.Dataset)]
        if missing:
            problems.append(f"missing split dataset(s) {['/splits/' + k for k in missing]}")
        else:
            splits = {k: sp[k][()] for k in SPLIT_NAMES}
            problems.extend(split_problems(splits, n_traj))

    if deep and not problems:
        problems.extend(_deep_problems(f, attrs, splits))
    return problems


def _deep_problems(f: h5py.File, attrs: dict[str, Any],
                   splits: dict[str, np.ndarray] | None) -> list[str]:
    """Read every value: non-finite states, normalisation consistent with the train split."""
    problems = []
    y = f["y"]
    names = attrs.get("state_names")
    t = f["t"][()]
    for i in range(y.shape[0]):
        yi = y[i]
        if not np.all(np.isfinite(yi)):
            value, where = nonfinite_location(yi, t, names)
            problems.append(f"'/y' holds a non-finite value {value!r} at trajectory {i}{where}")
            break
    if splits is not None and not problems:
        ref = compute_normalisation(y, splits["train"])
        for key in ("mean", "std"):
            stored = f["normalisation"][key][()]
            got = getattr(ref, key)
            if not np.allclose(stored, got, rtol=1e-6, atol=1e-12 * (1 + np.abs(got).max())):
                problems.append(f"'/normalisation/{key}' = {stored.tolist()} differs from the "
                                f"train-split {key} {got.tolist()}")
    return problems


def validate_dataset(path: str | Path, *, deep: bool = False) -> list[str]:
    """List what is wrong with a dataset file (empty list: valid).

    Checks the format attribute (foreign files), that it is readable HDF5 (corrupted or
    truncated files), the schema version (outdated or newer), the root attributes and their
    types, the presence, rank and dtype of ``/t``, ``/y``, ``/normalisation``, ``/splits``,
    consistent shapes (``len(t) == y.shape[1]``, state names, observables, ``y0``) and the
    splits (integer, in range, no repeats, disjoint, train non-empty). ``deep=True`` also
    reads every value of ``/y`` (non-finite values) and recomputes the normalisation.
    """
    path = Path(path)
    if not path.exists():
        return ["file not found"]
    if not path.is_file():
        return ["not a regular file"]
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        return [f"not a readable HDF5 file (corrupted, truncated or not HDF5 at all): {exc}"]
    try:
        with f:
            return _validate_open(f, deep)
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as exc:
        return [f"the file is damaged (truncated or corrupted?): reading it failed with "
                f"{type(exc).__name__}: {exc}"]


def check_dataset(path: str | Path, *, deep: bool = False) -> None:
    """Raise :class:`RecordError` listing every problem :func:`validate_dataset` finds."""
    problems = validate_dataset(path, deep=deep)
    if len(problems) == 1:
        raise RecordError(f"{path}: {problems[0]}")
    if problems:
        raise RecordError(f"{path}: not a valid {DATASET_FORMAT} file:\n"
                          + "\n".join(f"  - {p}" for p in problems))
