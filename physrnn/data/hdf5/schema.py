"""The one versioned HDF5 schema for simulated-dynamics datasets: constants, tables, readers.

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
(:func:`physrnn.io.atomic_path`), so a crash never leaves a half-written file under the final
name; an existing file is never replaced without ``overwrite=True``. Non-finite values are never
written: a NaN in ``y`` is an error naming the trajectory and the time index.

The package is split by job, each module importing only those above it in this list:

* :mod:`physrnn.data.hdf5.schema` (this module): the format constants, the attribute tables,
  :class:`Normalisation`, and the small readers shared by the others
  (:func:`attribute_value`, :func:`read_meta`, :func:`walk_datasets`, :func:`first_nonfinite`).
* :mod:`physrnn.data.hdf5.splits`: :func:`~physrnn.data.hdf5.splits.split_trajectories`,
  :func:`~physrnn.data.hdf5.splits.split_problems` and
  :func:`~physrnn.data.hdf5.splits.compute_normalisation` (the train-split statistics).
* :mod:`physrnn.data.hdf5.write`: :func:`~physrnn.data.hdf5.write.write_dataset`.
* :mod:`physrnn.data.hdf5.validate`: ``validate_dataset`` lists every problem of a file
  (foreign, corrupted or truncated, outdated or future schema version, missing datasets,
  inconsistent shapes, bad splits); ``check_dataset`` raises
  :class:`~physrnn.errors.RecordError` with that list.
* :mod:`physrnn.data.hdf5.read`: ``read_dataset`` (checks before reading) and ``TrajectoryData``.
* :mod:`physrnn.data.hdf5.describe`: the human summary ``describe_dataset``.

Every public name is re-exported by :mod:`physrnn.data.hdf5`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

__all__ = [
    "DATASET_FORMAT",
    "DATASET_SCHEMA_VERSION",
    "SPLIT_NAMES",
    "CHUNK_T",
    "MAX_CHUNK_BYTES",
    "WRITER_ATTRS",
    "STR_ATTRS",
    "FLOAT_ATTRS",
    "INT_ATTRS",
    "STR_SEQ_ATTRS",
    "SCHEMA_ATTRS",
    "Normalisation",
    "attribute_value",
    "read_meta",
    "walk_datasets",
    "nonfinite_location",
    "first_nonfinite",
]

DATASET_FORMAT = "physrnn-dataset"
DATASET_SCHEMA_VERSION = 1
SPLIT_NAMES = ("train", "val", "test")
#: Default time length of an HDF5 chunk of ``/y`` (number of time steps).
CHUNK_T = 1024
#: Upper bound on the size of one HDF5 chunk, in bytes (1 MiB).
MAX_CHUNK_BYTES = 1 << 20

#: Attributes set by :func:`~physrnn.data.hdf5.write.write_dataset` itself; a ``meta`` dict
#: may not contain them (``n_traj`` is allowed when it equals ``y.shape[0]``).
WRITER_ATTRS = ("format", "schema_version", "physrnn_version", "git_revision", "created_utc")

#: Root attributes that are strings (``params`` is JSON object text).
STR_ATTRS = ("system", "time_unit", "time_scale_name", "kind", "integrator", "reference",
             "recipe", "physrnn_version", "git_revision", "created_utc", "params", "format")
#: Root attributes that are real numbers (NaN when unknown).
FLOAT_ATTRS = ("lyapunov_exponent", "time_scale", "rtol", "atol", "dt", "transient")
#: Root attributes that are integers.
INT_ATTRS = ("schema_version", "seed", "n_traj")
#: Root attributes that are ``(n_state,)`` string arrays.
STR_SEQ_ATTRS = ("state_names", "state_units")
#: Every root attribute of the schema (each present in every valid file).
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


# ------------------------------------------------------------------------------ readers
def attribute_value(v: Any) -> Any:
    """An HDF5 attribute as a plain Python value (string arrays -> tuples of str)."""
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray):
        return tuple(attribute_value(x) for x in v.tolist()) if v.ndim == 1 else v
    if isinstance(v, np.generic):
        return v.item()
    return v


def read_meta(f: h5py.File) -> dict[str, Any]:
    """Every root attribute of an open dataset file as plain values, ``params`` parsed.

    Args:
        f: an open file that passed :func:`~physrnn.data.hdf5.validate.check_dataset`.

    Returns:
        attribute name -> value (:func:`attribute_value`), with ``params`` a dict.
    """
    meta = {k: attribute_value(v) for k, v in f.attrs.items()}
    meta["params"] = json.loads(meta["params"])
    return meta


def walk_datasets(group: h5py.Group, prefix: str = "") -> dict[str, h5py.Dataset]:
    """Every dataset below ``group``, by its ``/``-joined path relative to ``group``.

    Args:
        group: an HDF5 group, e.g. ``f["observables"]``.
        prefix: prepended to each name (used for the recursion into nested groups).

    Returns:
        name -> dataset handle, e.g. ``{"invariant/energy": <Dataset>}`` (not read).
    """
    out: dict[str, h5py.Dataset] = {}
    for name, item in group.items():
        if isinstance(item, h5py.Dataset):
            out[prefix + name] = item
        elif isinstance(item, h5py.Group):
            out.update(walk_datasets(item, prefix + name + "/"))
    return out


def nonfinite_location(arr_i: np.ndarray, t: np.ndarray | None,
                       names: Sequence[str] | None) -> tuple[Any, str]:
    """First non-finite value of one trajectory's array and where it is (time, component).

    Args:
        arr_i: ``(n_t, ...)`` one trajectory; must hold at least one NaN or inf.
        t: ``(n_t,)`` times to quote beside the time index, or ``None``.
        names: state component names to quote beside the component index, or ``None``.

    Returns:
        ``(value, where)``: the value and a text such as ``", time index 3 (t = 0.3),
        component 1 ('y')"``.
    """
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


def first_nonfinite(arr: np.ndarray, what: str, t: np.ndarray | None = None,
                    names: Sequence[str] | None = None) -> str | None:
    """Describe the non-finite values of ``arr`` (first axis: trajectory), or ``None``.

    Args:
        arr: ``(n_traj, ...)`` array (or h5py dataset); non-float dtypes are always finite.
        what: how to name the array in the message, e.g. ``"'/y'"``.
        t: ``(n_t,)`` times, quoted beside the time index.
        names: state component names, quoted beside the component index.

    Returns:
        A message naming how many values, which trajectories and the first position, or
        ``None`` when every value is finite.
    """
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.complexfloating)):
        return None
    bad_traj = [i for i in range(arr.shape[0]) if not np.isfinite(arr[i]).all()]
    if not bad_traj:
        return None
    i = bad_traj[0]
    value, where = nonfinite_location(arr[i], t, names)
    n_bad = int(sum(np.count_nonzero(~np.isfinite(arr[j])) for j in bad_traj))
    shown = ", ".join(str(j) for j in bad_traj[:10]) + (", ..." if len(bad_traj) > 10 else "")
    return (f"{what} holds {n_bad} non-finite value(s) (NaN or inf) in {len(bad_traj)} "
            f"trajectory(ies) [{shown}]; the first is {value!r} at trajectory {i}{where}")

