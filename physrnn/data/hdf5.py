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
(:func:`physrnn.records.atomic_path`), so a crash never leaves a half-written file under the
final name; an existing file is never replaced without ``overwrite=True``. Non-finite values
are never written: a NaN in ``y`` is an error naming the trajectory and the time index.

:func:`validate_dataset` lists every problem of a file (foreign, corrupted or truncated,
outdated or future schema version, missing datasets, inconsistent shapes, bad splits);
:func:`check_dataset` raises :class:`~physrnn.errors.RecordError` with that list and
:func:`read_dataset` checks before reading.
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

import physrnn
from physrnn.errors import NonFiniteError, OutputExistsError, RecordError
from physrnn.records import atomic_path, provenance

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


# ------------------------------------------------------------------------------ validate
def _walk_datasets(group: h5py.Group, prefix: str = "") -> dict[str, h5py.Dataset]:
    out: dict[str, h5py.Dataset] = {}
    for name, item in group.items():
        if isinstance(item, h5py.Dataset):
            out[prefix + name] = item
        elif isinstance(item, h5py.Group):
            out.update(_walk_datasets(item, prefix + name + "/"))
    return out


def _is_real(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _validate_open(f: h5py.File, deep: bool) -> list[str]:
    problems: list[str] = []
    fmt = _attr(f.attrs.get("format"))
    if fmt is None:
        contents = sorted(f.keys())[:8]
        return [f"not a physrnn dataset: no 'format' attribute (a foreign HDF5 file; top-level "
                f"contents {contents}); physrnn datasets have format = {DATASET_FORMAT!r}"]
    if fmt != DATASET_FORMAT:
        return [f"not a physrnn dataset: format attribute is {fmt!r}, expected "
                f"{DATASET_FORMAT!r}"]
    version = _attr(f.attrs.get("schema_version"))
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

    attrs = {k: _attr(v) for k, v in f.attrs.items()}
    for key in SCHEMA_ATTRS:
        if key not in attrs:
            problems.append(f"missing root attribute {key!r}")
            continue
        v = attrs[key]
        if key in _STR_ATTRS and not isinstance(v, str):
            problems.append(f"attribute {key!r} must be a string, got {v!r}")
        elif key in _FLOAT_ATTRS and not _is_real(v):
            problems.append(f"attribute {key!r} must be a number, got {v!r}")
        elif key in _INT_ATTRS and not (isinstance(v, int) and not isinstance(v, bool)):
            problems.append(f"attribute {key!r} must be an integer, got {v!r}")
        elif key in _STR_SEQ_ATTRS and not (isinstance(v, tuple)
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
    for key in _STR_SEQ_ATTRS:
        if isinstance(attrs.get(key), tuple) and len(attrs[key]) != n_state:
            problems.append(f"attribute {key!r} has {len(attrs[key])} entries but '/y' has "
                            f"n_state = {n_state}")

    obs = f.get("observables")
    if obs is not None:
        if not isinstance(obs, h5py.Group):
            problems.append("'/observables' must be a group")
        else:
            for name, d in _walk_datasets(obs).items():
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
            problems.extend(_split_problems(splits, n_traj))

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
            value, where = _where(yi, t, names)
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


# ------------------------------------------------------------------------------ read
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
            :func:`validate_dataset`).
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
            data = TrajectoryData(t=t, y=f["y"][()], meta=meta, splits=splits,
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


# ------------------------------------------------------------------------------ describe
def _fmt_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def _num(v: Any) -> str:
    return "unknown" if isinstance(v, float) and math.isnan(v) else f"{v:.6g}"


def _vec(a: np.ndarray, names: Sequence[str]) -> str:
    items = [f"{n}={v:.4g}" for n, v in zip(names, a.tolist(), strict=False)]
    return ", ".join(items[:8]) + (f", ... ({len(items)} total)" if len(items) > 8 else "")


def describe_dataset(path: str | Path) -> str:
    """A human summary of a dataset file (validated first), for ``physrnn data info``.

    Raises:
        RecordError: the file is missing, foreign, damaged or invalid.
    """
    path = Path(path)
    check_dataset(path)
    with h5py.File(path, "r") as f:
        m = _read_meta(f)
        t = f["t"][()]
        y = f["y"]
        n_traj, n_t, n_state = y.shape
        y_info = (y.dtype, y.chunks, y.compression)
        splits = {k: int(f["splits"][k].shape[0]) for k in SPLIT_NAMES}
        norm = Normalisation(mean=f["normalisation/mean"][()], std=f["normalisation/std"][()])
        obs = {k: (d.shape, d.dtype) for k, d in _walk_datasets(f["observables"]).items()} \
            if "observables" in f else {}
        y0_shape = f["y0"].shape if "y0" in f else None
    names = m["state_names"]
    units = m["state_units"]
    duration = float(t[-1] - t[0])
    tu = m["time_unit"]
    lines = [f"physrnn dataset {path} ({_fmt_bytes(path.stat().st_size)}, "
             f"{DATASET_FORMAT} v{m['schema_version']})"]

    def row(k: str, v: str) -> None:
        lines.append(f"  {k:<14} {v}")

    extra = {k: v for k, v in m.items() if k not in SCHEMA_ATTRS}
    if extra.get("dataset_name"):
        row("name", str(extra["dataset_name"]))
    if extra.get("description"):
        row("description", str(extra["description"]))
    kind = f" ({m['kind']})" if m["kind"] else ""
    row("system", f"{m['system']}{kind}  params {json.dumps(m['params'], sort_keys=True)}")
    row("states", f"{n_state}: " + ", ".join(f"{n} [{u}]" for n, u in
                                             list(zip(names, units, strict=True))[:8])
        + (" ..." if n_state > 8 else ""))
    row("shape", f"y (n_traj={n_traj}, n_t={n_t}, n_state={n_state}) {y_info[0]}, chunks "
                 f"{y_info[1]}, {y_info[2] or 'uncompressed'}")
    row("time", f"t = {t[0]:.6g} .. {t[-1]:.6g} [{tu}], dt = {_num(m['dt'])}, transient "
                f"(discarded before t[0]) {_num(m['transient'])}")
    dur = f"{duration:.6g} time units [{tu}]"
    lam = m["lyapunov_exponent"]
    if isinstance(lam, float) and math.isfinite(lam) and lam > 0:
        dur += f" = {duration * lam:.4g} Lyapunov times (lambda_max = {lam:.4g} / [{tu}])"
    elif isinstance(m["time_scale"], float) and math.isfinite(m["time_scale"]) \
            and m["time_scale"] > 0:
        name = m["time_scale_name"] or "time scales"
        dur += f" = {duration / m['time_scale']:.4g} x {name} ({m['time_scale']:.4g})"
    row("duration", dur)
    integ = m["integrator"] or "unknown"
    row("integrator", f"{integ}, rtol = {_num(m['rtol'])}, atol = {_num(m['atol'])}, "
                      f"seed = {m['seed'] if m['seed'] >= 0 else 'none'}")
    row("splits", f"train {splits['train']}, val {splits['val']}, test {splits['test']} "
                  "trajectories (by trajectory)")
    row("norm. mean", _vec(norm.mean, names) + " (train split)")
    row("norm. std", _vec(norm.std, names))
    if obs:
        row("observables", "; ".join(f"{k} {s} {d}" for k, (s, d) in obs.items()))
    if y0_shape is not None:
        row("y0", f"initial conditions {y0_shape}")
    row("provenance", f"physrnn {m['physrnn_version']}, git {m['git_revision']}, created "
                      f"{m['created_utc']}")
    if m["reference"]:
        row("reference", m["reference"])
    recipe = m["recipe"]
    row("recipe", f"{len(recipe.splitlines())} lines stored (attribute 'recipe')" if recipe
        else "none stored")
    for k, v in extra.items():
        if k not in ("dataset_name", "description"):
            row(k, str(v))
    return "\n".join(lines)
