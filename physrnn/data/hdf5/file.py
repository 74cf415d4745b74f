"""The one versioned HDF5 schema for simulated-dynamics datasets: write, read, validate, describe.

Schema ``physrnn-dataset``, version 1 (:data:`DATASET_FORMAT`, :data:`DATASET_SCHEMA_VERSION`)::

    /                       root attributes (below)
    /t                      (n_t,) float64, strictly increasing output times (system time units)
    /y                      (n_traj, n_t, n_state) float32 or float64 states; always rank 3;
                            chunked (1, min(n_t, chunk_t), n_state) with chunk_t ~ 1024 (smaller
                            when n_state is large, so a chunk stays <= 1 MiB), gzip + shuffle,
                            so a time window of one trajectory is read without loading the file
    /observables/<name>     optional (n_traj, n_t, ...) extra series, e.g.
                            /observables/invariant/energy (names may contain "/": nested groups)
    /y0                     optional (n_traj, ...) initial conditions (e.g. the full state at
                            t = 0, which may have more components than the observed /y)
    /normalisation/mean     (n_state,) float64 mean of /y over the TRAIN trajectories and all
    /normalisation/std      (n_state,) float64 standard deviation (ddof = 0) of the same; may be
                            0 for a constant component (readers divide by ``Normalisation.scale``,
                            which replaces 0 by 1)
    /splits/train           int64 sorted trajectory indices; splits are by trajectory, never
    /splits/val             by time; pairwise disjoint, each index in [0, n_traj); train is
    /splits/test            never empty (val and test may be)

Root attributes (all present in every file; "unknown" numbers are NaN, strings empty):

    format              "physrnn-dataset"
    schema_version      1
    system              registered system name, e.g. "lorenz63" (required by write_dataset)
    params              JSON object text of the system parameters
    state_names         (n_state,) strings; default "y0", "y1", ...
    state_units         (n_state,) strings; default "1" (dimensionless)
    time_unit           unit of /t, default "1" (the system's own units)
    lyapunov_exponent   largest Lyapunov exponent in 1 / time_unit; NaN if none or unknown
    time_scale          a characteristic time in time_unit (NaN if unknown)
    time_scale_name     what time_scale is ("Lyapunov time", "period", ...)
    kind                "ode", "sde", "dde", "pde", "quantum" (or "" if unknown)
    integrator          integration method, e.g. "DOP853"
    rtol, atol          integrator tolerances (NaN if not applicable)
    dt                  output sampling interval; derived from /t when uniform and not given
    transient           time integrated and discarded before t[0] (NaN if unknown)
    seed                master seed of the simulation (-1 if none)
    n_traj              number of trajectories (= /y.shape[0])
    physrnn_version, git_revision, created_utc     provenance of the writer
    reference           literature reference for the system and its numbers
    recipe              TOML (or JSON) text of the dataset card that made the file ("" if none)
    <extra>             any extra metadata given to write_dataset (strings, numbers, bools and
                        flat lists of them), e.g. dataset_name, description

Files are written under a temporary name beside the target and renamed into place
(:func:`physrnn.runs.records.atomic_path`), so a crash never leaves a half-written file under the
final name; an existing file is never replaced without ``overwrite=True``. Non-finite values
are never written: a NaN in ``y`` is an error naming the trajectory and the time index.

:func:`validate_dataset` lists every problem of a file (foreign, corrupted or truncated,
outdated or future schema version, missing datasets, inconsistent shapes, bad splits);
:func:`check_dataset` raises :class:`~physrnn.errors.RecordError` with that list and
:func:`read_dataset` checks before reading. Both live in :mod:`physrnn.data.hdf5.validate`, the
human summary :func:`describe_dataset` in :mod:`physrnn.data.hdf5.describe`; all three are
re-exported here (this module keeps the schema, the containers, the writer and the reader).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from physrnn.errors import NonFiniteError, OutputExistsError, RecordError
from physrnn.runs.records import atomic_path, provenance

__all__ = [
    "DATASET_FORMAT",
    "DATASET_SCHEMA_VERSION",
    "SPLIT_NAMES",
    "WRITER_ATTRS",
    "Normalisation",
    "TrajectoryData",
    "write_dataset",
    "read_dataset",
    "validate_dataset",
    "check_dataset",
    "describe_dataset",
    "split_trajectories",
    "compute_normalisation",
]

log = logging.getLogger(__name__)

DATASET_FORMAT = "physrnn-dataset"
DATASET_SCHEMA_VERSION = 1
SPLIT_NAMES = ("train", "val", "test")
CHUNK_T = 1024
_MAX_CHUNK_BYTES = 1 << 20

#: Attributes set by :func:`write_dataset` itself; a ``meta`` dict may not contain them
#: (``n_traj`` is allowed when it equals ``y.shape[0]``).
WRITER_ATTRS = ("format", "schema_version", "physrnn_version", "git_revision", "created_utc")

_STR_ATTRS = ("system", "time_unit", "time_scale_name", "kind", "integrator", "reference",
              "recipe", "physrnn_version", "git_revision", "created_utc", "params", "format")
_FLOAT_ATTRS = ("lyapunov_exponent", "time_scale", "rtol", "atol", "dt", "transient")
_INT_ATTRS = ("schema_version", "seed", "n_traj")
_STR_SEQ_ATTRS = ("state_names", "state_units")
SCHEMA_ATTRS = (
    "format", "schema_version", "system", "params", "state_names", "state_units", "time_unit",
    "lyapunov_exponent", "time_scale", "time_scale_name", "kind", "integrator", "rtol", "atol",
    "dt", "transient", "seed", "n_traj", "physrnn_version", "git_revision", "created_utc",
    "reference", "recipe",
)


# ------------------------------------------------------------------------------ containers
@dataclass(frozen=True, eq=False)
class Normalisation:
    """Per-component statistics of the training split.

    Attributes:
        mean: ``(n_state,)`` float64 mean over train trajectories and all times (state units).
        std: ``(n_state,)`` float64 standard deviation (ddof = 0) of the same; may be 0.
    """

    mean: np.ndarray
    std: np.ndarray

    @property
    def scale(self) -> np.ndarray:
        """``std`` with zeros replaced by 1, so that a constant component maps to 0, not NaN."""
        return np.where(self.std > 0, self.std, 1.0)

    def normalise(self, x: np.ndarray) -> np.ndarray:
        """``(x - mean) / scale`` over the last axis (``(..., n_state)``), in float64."""
        return (np.asarray(x, dtype=np.float64) - self.mean) / self.scale

    def denormalise(self, z: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`normalise`: ``z * scale + mean``, in float64 state units."""
        return np.asarray(z, dtype=np.float64) * self.scale + self.mean


@dataclass(frozen=True, eq=False)
class TrajectoryData:
    """A dataset read by :func:`read_dataset`.

    Attributes:
        t: ``(n_t,)`` float64 times (``meta["time_unit"]``).
        y: ``(n_traj, n_t, n_state)`` states: a numpy array, or with ``load=False`` a lazy
            :class:`h5py.Dataset` (slice it to read; valid until :meth:`close`).
        meta: every root attribute (``params`` parsed into a dict, string lists as tuples).
        splits: ``{"train", "val", "test"}`` -> sorted int64 trajectory indices.
        normalisation: train-split :class:`Normalisation`.
        observables: name -> ``(n_traj, n_t, ...)`` array (or lazy dataset).
        y0: ``(n_traj, ...)`` initial conditions, or ``None``.
        path: the file it was read from.
    """

    t: np.ndarray
    y: Any
    meta: dict[str, Any]
    splits: dict[str, np.ndarray]
    normalisation: Normalisation
    observables: dict[str, Any] = field(default_factory=dict)
    y0: Any = None
    path: Path | None = None
    _file: Any = field(default=None, repr=False)

    @property
    def n_traj(self) -> int:
        return int(self.y.shape[0])

    @property
    def n_t(self) -> int:
        return int(self.y.shape[1])

    @property
    def n_state(self) -> int:
        return int(self.y.shape[2])

    @property
    def lazy(self) -> bool:
        """Whether ``y`` is an open HDF5 dataset rather than an array in memory."""
        return isinstance(self.y, h5py.Dataset)

    def close(self) -> None:
        """Close the file behind a lazy dataset (no-op for loaded data)."""
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> TrajectoryData:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ------------------------------------------------------------------------------ helpers
def _attr(v: Any) -> Any:
    """An HDF5 attribute as a plain Python value (string arrays -> tuples of str)."""
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray):
        return tuple(_attr(x) for x in v.tolist()) if v.ndim == 1 else v
    if isinstance(v, np.generic):
        return v.item()
    return v


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


def _where(arr_i: np.ndarray, t: np.ndarray | None,
           names: Sequence[str] | None) -> tuple[Any, str]:
    """First non-finite value of one trajectory's array and where it is (time, component)."""
    pos = tuple(int(p) for p in np.argwhere(~np.isfinite(arr_i))[0])
    where = ""
    if len(pos) >= 1:
        where += f", time index {pos[0]}"
        if t is not None:
            where += f" (t = {t[pos[0]]:.6g})"
    if len(pos) >= 2:
        comp = pos[1]
        label = f" ({names[comp]!r})" if names is not None and comp < len(names) else ""
        where += f", component {comp}{label}" + (f" {pos[2:]}" if len(pos) > 2 else "")
    return arr_i[pos].item(), where


def _first_nonfinite(arr: np.ndarray, what: str, t: np.ndarray | None = None,
                     names: Sequence[str] | None = None) -> str | None:
    """Describe the non-finite values of ``arr`` (first axis: trajectory), or ``None``."""
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.complexfloating)):
        return None
    bad_traj = [i for i in range(arr.shape[0]) if not np.isfinite(arr[i]).all()]
    if not bad_traj:
        return None
    i = bad_traj[0]
    value, where = _where(arr[i], t, names)
    n_bad = int(sum(np.count_nonzero(~np.isfinite(arr[j])) for j in bad_traj))
    shown = ", ".join(str(j) for j in bad_traj[:10]) + (", ..." if len(bad_traj) > 10 else "")
    return (f"{what} holds {n_bad} non-finite value(s) (NaN or inf) in {len(bad_traj)} "
            f"trajectory(ies) [{shown}]; the first is {value!r} at trajectory {i}{where}")


def split_trajectories(n_traj: int, fractions: Sequence[float] = (0.8, 0.1, 0.1), *,
                       seed: int = 0) -> dict[str, np.ndarray]:
    """Split trajectory indices ``0 .. n_traj-1`` into train / val / test, by trajectory.

    Counts: ``fractions * n_traj`` rounded by largest remainder; then every split with a
    positive fraction that came out empty takes one trajectory from the largest split that
    has more than one, in the order train, val, test. So with (0.8, 0.1, 0.1): n_traj = 1 is
    all train, 2 gives (1, 1, 0), 3 gives (1, 1, 1), 5 gives (3, 1, 1), 10 gives (8, 1, 1).
    A split left empty with a positive fraction is logged as a warning. Which trajectories go
    where is a permutation drawn from ``numpy.random.default_rng(seed)``; deterministic.

    Args:
        n_traj: number of trajectories (>= 1).
        fractions: (train, val, test), each >= 0, summing to 1, train > 0.
        seed: seed of the permutation.

    Returns:
        ``{"train", "val", "test"}`` -> sorted int64 index arrays, disjoint, covering all.

    Raises:
        ValueError: impossible fractions or ``n_traj < 1``.
    """
    if n_traj < 1:
        raise ValueError(f"n_traj must be >= 1, got {n_traj}")
    fr = np.asarray(fractions, dtype=np.float64)
    if fr.shape != (3,) or not np.all(np.isfinite(fr)) or np.any(fr < 0):
        raise ValueError(f"split_fractions must be three numbers >= 0 (train, val, test), "
                         f"got {tuple(fractions)}")
    if abs(fr.sum() - 1.0) > 1e-6:
        raise ValueError(f"split_fractions must sum to 1, got {tuple(fractions)} "
                         f"(sum {fr.sum():.6g})")
    if fr[0] <= 0:
        raise ValueError("the train fraction must be > 0: the normalisation is computed on the "
                         f"train split (got split_fractions = {tuple(fractions)})")
    exact = fr * n_traj
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    for k in order[: n_traj - counts.sum()]:
        counts[k] += 1
    for k in range(3):
        if fr[k] > 0 and counts[k] == 0:
            donor = int(np.argmax(counts))
            if counts[donor] > 1:
                counts[donor] -= 1
                counts[k] += 1
            else:
                log.warning("split %r is empty: %d trajectory(ies) cannot fill every split with "
                            "a positive fraction %s", SPLIT_NAMES[k], n_traj, tuple(fractions))
    perm = np.random.default_rng(seed).permutation(n_traj)
    edges = np.cumsum(counts)
    parts = np.split(perm, edges[:-1])
    return {name: np.sort(p).astype(np.int64) for name, p in zip(SPLIT_NAMES, parts, strict=True)}


def _split_problems(splits: Mapping[str, Any], n_traj: int) -> list[str]:
    problems = []
    seen: dict[int, str] = {}
    for name in SPLIT_NAMES:
        idx = np.asarray(splits[name])
        if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
            problems.append(f"split {name!r} must be a 1-D array of integer trajectory indices, "
                            f"got dtype {idx.dtype} shape {idx.shape}")
            continue
        out = idx[(idx < 0) | (idx >= n_traj)]
        if out.size:
            problems.append(f"split {name!r} has trajectory indices out of range [0, {n_traj}): "
                            f"{out[:10].tolist()}")
        uniq, counts = np.unique(idx, return_counts=True)
        if np.any(counts > 1):
            problems.append(f"split {name!r} repeats trajectory indices "
                            f"{uniq[counts > 1][:10].tolist()}")
        for i in uniq.tolist():
            if i in seen:
                problems.append(f"splits {seen[i]!r} and {name!r} overlap: trajectory {i} is in "
                                "both (splits must be disjoint)")
                break
        for i in uniq.tolist():
            seen.setdefault(i, name)
    if np.asarray(splits["train"]).size == 0:
        problems.append("split 'train' is empty (the normalisation needs train trajectories)")
    return problems


def compute_normalisation(y: Any, train: np.ndarray) -> Normalisation:
    """Mean and std (ddof = 0) per component of ``y[train]`` over trajectories and times.

    Accumulated in float64, one trajectory at a time (``y`` may be an h5py dataset).
    """
    train = np.asarray(train, dtype=np.int64)
    if train.size == 0:
        raise ValueError("cannot compute a normalisation on an empty train split")
    n_state = y.shape[2]
    n = train.size * y.shape[1]
    total = np.zeros(n_state)
    for i in train:
        total += np.asarray(y[int(i)]).sum(axis=0, dtype=np.float64)
    mean = total / n
    sq = np.zeros(n_state)
    for i in train:
        d = np.asarray(y[int(i)], dtype=np.float64) - mean
        sq += np.einsum("ij,ij->j", d, d)
    return Normalisation(mean=mean, std=np.sqrt(sq / n))


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
    """Validate and write a dataset file atomically (schema in the module docstring).

    Args:
        path: target file (``.h5``); its directory is created if needed.
        t: ``(n_t,)`` strictly increasing finite times (stored as float64).
        y: ``(n_traj, n_t, n_state)`` float32 or float64 finite states (dtype kept).
        meta: root attributes: ``system`` (required), ``params``, ``state_names``,
            ``state_units``, ``time_unit``, ``lyapunov_exponent``, ``time_scale``,
            ``time_scale_name``, ``kind``, ``integrator``, ``rtol``, ``atol``, ``dt``,
            ``transient``, ``seed``, ``reference``, ``recipe`` (missing ones get the defaults
            of the module docstring) and any extra key (strings, numbers, bools, flat lists).
            May contain ``n_traj`` if it equals ``y.shape[0]``; not the writer's own keys
            (:data:`WRITER_ATTRS`).
        observables: name -> ``(n_traj, n_t, ...)`` numeric array; finite.
        y0: ``(n_traj, ...)`` initial conditions; finite.
        splits: explicit ``{"train", "val", "test"}`` -> trajectory indices (missing names are
            empty); otherwise computed by :func:`split_trajectories` from ``split_fractions``
            and ``split_seed``.
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
    msg = _first_nonfinite(y, "y", t, attrs["state_names"])
    if msg:
        raise NonFiniteError(f"{msg}; refusing to write {path}")
    obs: dict[str, np.ndarray] = {}
    for name, arr in (observables or {}).items():
        if not isinstance(name, str) or not name or any(not p for p in name.split("/")):
            raise ValueError(f"observable name {name!r} must be a non-empty string whose "
                             "'/'-separated parts are non-empty")
        arr = _check_series(f"observable {name!r}", arr, n_traj, n_t)
        msg = _first_nonfinite(arr, f"observable {name!r}", t)
        if msg:
            raise NonFiniteError(f"{msg}; refusing to write {path}")
        obs[name] = arr
    if y0 is not None:
        y0 = _check_series("y0", y0, n_traj, None)
        msg = _first_nonfinite(y0, "y0")
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
        problems = _split_problems(split_arrays, n_traj)
        if problems:
            raise ValueError("bad splits: " + "; ".join(problems))
        split_arrays = {k: np.sort(v).astype(np.int64) for k, v in split_arrays.items()}
    norm = compute_normalisation(y, split_arrays["train"])

    itemsize = y.dtype.itemsize
    ct = max(1, min(n_t, int(chunk_t), _MAX_CHUNK_BYTES // (n_state * itemsize)))
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
                if key in _STR_SEQ_ATTRS:
                    v = np.array(v, dtype=h5py.string_dtype())
                f.attrs[key] = v
            f.create_dataset("t", data=t)
            f.create_dataset("y", data=y, chunks=(1, ct, n_state), **comp)
            for name, arr in obs.items():
                rest = arr.shape[2:]
                per_t = max(1, int(np.prod(rest, dtype=np.int64)) * arr.dtype.itemsize)
                cto = max(1, min(n_t, int(chunk_t), _MAX_CHUNK_BYTES // per_t))
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


# ------------------------------------------------------------------------------ read
def _walk_datasets(group: h5py.Group, prefix: str = "") -> dict[str, h5py.Dataset]:
    out: dict[str, h5py.Dataset] = {}
    for name, item in group.items():
        if isinstance(item, h5py.Dataset):
            out[prefix + name] = item
        elif isinstance(item, h5py.Group):
            out.update(_walk_datasets(item, prefix + name + "/"))
    return out


def _read_meta(f: h5py.File) -> dict[str, Any]:
    meta = {k: _attr(v) for k, v in f.attrs.items()}
    meta["params"] = json.loads(meta["params"])
    return meta


def read_dataset(path: str | Path, *, load: bool = True) -> TrajectoryData:
    """Validate and read a dataset file.

    Args:
        path: the ``.h5`` file.
        load: read ``y``, the observables and ``y0`` into memory; with ``False`` they are lazy
            :class:`h5py.Dataset` handles (slice them to read) and the file stays open until
            :meth:`TrajectoryData.close` (or use the result as a context manager). Lazy handles
            must not be used across a ``fork``; :class:`physrnn.data.datasets.WindowDataset`
            reopens the file in each worker instead.

    Raises:
        RecordError: the file is missing, foreign, damaged or invalid (see
            :func:`validate_dataset`); with ``load=True`` also a NaN or infinity in ``/y``
            (named by trajectory and time index).
    """
    path = Path(path)
    check_dataset(path)
    f = h5py.File(path, "r")
    try:
        meta = _read_meta(f)
        t = f["t"][()]
        splits = {k: f["splits"][k][()].astype(np.int64) for k in SPLIT_NAMES}
        norm = Normalisation(mean=f["normalisation/mean"][()], std=f["normalisation/std"][()])
        obs = _walk_datasets(f["observables"]) if "observables" in f else {}
        y0 = f.get("y0")
        if load:
            y_all = f["y"][()]
            msg = _first_nonfinite(y_all, "'/y'", t, meta.get("state_names"))
            if msg:  # the schema never holds NaN/inf: the file was altered after writing
                raise RecordError(f"{path}: {msg}; the schema forbids non-finite states")
            data = TrajectoryData(t=t, y=y_all, meta=meta, splits=splits,
                                  normalisation=norm,
                                  observables={k: d[()] for k, d in obs.items()},
                                  y0=None if y0 is None else y0[()], path=path)
            f.close()
            return data
        return TrajectoryData(t=t, y=f["y"], meta=meta, splits=splits, normalisation=norm,
                              observables=obs, y0=y0, path=path, _file=f)
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        f.close()
        raise RecordError(f"{path}: the file is damaged (truncated or corrupted?): reading it "
                          f"failed with {type(exc).__name__}: {exc}") from None
    except BaseException:
        f.close()
        raise


# ------------------------------------------------------------------------------ re-exports
# The validator and the summary import the schema constants and helpers above, so they are
# imported last (the package ``physrnn.data`` imports this module first, so this also holds
# when one of them is imported directly).
from physrnn.data.hdf5.describe import describe_dataset  # noqa: E402
from physrnn.data.hdf5.validate import check_dataset, validate_dataset  # noqa: E402
