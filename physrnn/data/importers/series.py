"""Turn a recorded series into a ``physrnn-dataset`` file: arrange, check, split, write.

:func:`read_series` reads a source file (:mod:`physrnn.data.importers.formats`), puts its axes
in the schema's order ``(n_traj, n_t, n_state)``, takes the times (a time array, a time column,
or ``dt``) and checks them (finite, strictly increasing, uniformly spaced within
``time.rtol``), checks that every state is finite and that the names and units match the
components. :func:`import_series` then splits it (:class:`~physrnn.data.importers.spec.SplitSpec`)
and writes it atomically with :func:`~physrnn.data.hdf5.write_dataset`, with the provenance
``source = "imported from <absolute path>"``, the file's SHA-256, its format, key and shape, and
the resolved spec as TOML in ``recipe``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from physrnn.config import to_toml
from physrnn.data.hdf5 import SPLIT_NAMES, split_trajectories, write_dataset
from physrnn.data.hdf5.schema import first_nonfinite
from physrnn.data.importers.formats import RawSeries, read_raw
from physrnn.data.importers.spec import AXES, ImportSpec, replace_section, resolve_import_spec
from physrnn.errors import ConfigError, NonFiniteError, OutputExistsError, RecordError

__all__ = ["ImportedSeries", "read_series", "split_series", "import_series", "check_times",
           "file_sha256"]

log = logging.getLogger(__name__)

#: Layout of the source array when the spec gives none, by rank.
DEFAULT_LAYOUTS = {1: "time", 2: "time,state", 3: "traj,time,state"}
#: CSV column names taken as the time column when none is named (with ``dt`` too: then the
#: two must agree).
TIME_NAMES = ("t", "time")


@dataclass(frozen=True, eq=False)
class ImportedSeries:
    """A checked series, ready to split and write.

    Attributes:
        t: ``(n_t,)`` float64 strictly increasing, uniformly spaced times (``spec.time.unit``).
        y: ``(n_traj, n_t, n_state)`` finite states, float32 (if the source was) or float64.
        dt: the sampling interval (mean spacing of ``t``).
        spec: the resolved spec (layout, time column, names and units filled in).
        source: provenance attributes (``source``, ``source_sha256``, ``source_format``,
            ``source_key``, ``source_time``, ``source_shape``, ``source_layout``).
    """

    t: np.ndarray
    y: np.ndarray
    dt: float
    spec: ImportSpec
    source: dict[str, Any]


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_times(t: np.ndarray, *, rtol: float, what: str = "the times") -> float:
    """Check a time array and return its sampling interval ``(t[-1] - t[0]) / (n_t - 1)``.

    Args:
        t: ``(n_t,)`` times, ``n_t >= 2``.
        rtol: relative tolerance of every spacing ``t[k+1] - t[k]`` against the median one.
        what: how to name the array in messages.

    Raises:
        NonFiniteError: a NaN or infinity (names the index).
        RecordError: fewer than 2 times, not strictly increasing, or not uniformly spaced
            (names the first offending index and the spacings).
    """
    if t.size < 2:
        raise RecordError(f"{what}: {t.size} time(s); a series needs at least 2 samples")
    bad = np.flatnonzero(~np.isfinite(t))
    if bad.size:
        raise NonFiniteError(f"{what} hold a non-finite value {float(t[bad[0]])!r} at index "
                             f"{bad[0]}")
    d = np.diff(t)
    bad = np.flatnonzero(d <= 0)
    if bad.size:
        k = int(bad[0])
        raise RecordError(f"{what} are not strictly increasing: t[{k}] = {float(t[k])!r} >= "
                          f"t[{k + 1}] = {float(t[k + 1])!r} (index {k + 1}); sort the samples "
                          "and drop repeated times")
    typical = float(np.median(d))
    bad = np.flatnonzero(np.abs(d - typical) > rtol * typical)
    if bad.size:
        k = int(bad[0])
        raise RecordError(
            f"{what} are not uniformly spaced: t[{k + 1}] - t[{k}] = {d[k]:.6g} (index "
            f"{k + 1}) differs from the typical (median) spacing {typical:.6g} by more than "
            f"the relative tolerance {rtol:g} ({bad.size} of {d.size} spacings do; they range "
            f"{d.min():.6g} .. {d.max():.6g}); physrnn needs a uniform grid: resample the "
            "series yourself (e.g. numpy.interp onto a uniform grid) or, for timing jitter "
            "only, raise --time-rtol")
    return float((t[-1] - t[0]) / (t.size - 1))


def _arrange(raw: RawSeries, layout: str | None, path: Path) -> tuple[np.ndarray, str]:
    """The states as ``(n_traj, n_t, n_columns)`` and the layout used."""
    arr = raw.values
    if arr.size == 0:
        raise RecordError(f"{path}: the array{f' {raw.key!r}' if raw.key else ''} is empty "
                          f"(shape {arr.shape})")
    if arr.ndim not in DEFAULT_LAYOUTS:
        raise RecordError(
            f"{path}: the array{f' {raw.key!r}' if raw.key else ''} has rank {arr.ndim} "
            f"(shape {arr.shape}); physrnn imports (n_t,), (n_t, n_state) or (n_traj, n_t, "
            "n_state) (other axis orders with --layout): select or reshape it first")
    layout = layout or DEFAULT_LAYOUTS[arr.ndim]
    axes = [a.strip() for a in layout.split(",")]
    if len(axes) != arr.ndim:
        raise ConfigError(f"{path}: layout {layout!r} names {len(axes)} axes but the array has "
                          f"rank {arr.ndim} (shape {arr.shape})")
    for name in ("traj", "state"):
        if name not in axes:
            arr = arr[..., None]
            axes.append(name)
    arr = np.transpose(arr, [axes.index(a) for a in AXES])
    return arr, layout


def _time_column_index(raw: RawSeries, column: str | int, n_col: int, path: Path) -> int:
    names = raw.columns
    if isinstance(column, str) and names is not None and column in names:
        return names.index(column)
    try:
        idx = int(column)
    except ValueError:
        shown = ", ".join(repr(c) for c in names) if names else f"indices 0 .. {n_col - 1}"
        raise ConfigError(f"{path}: no time column {column!r}; columns: {shown}") from None
    if not 0 <= idx < n_col:
        raise ConfigError(f"{path}: time column index {idx} out of range: the data has "
                          f"{n_col} columns (0 .. {n_col - 1})")
    return idx


def _times(raw: RawSeries, y: np.ndarray, spec: ImportSpec, layout: str,
           path: Path) -> tuple[np.ndarray, np.ndarray, str, Any, list[str] | None]:
    """``(t, y without a time column, how the times were given, time_column, names)``."""
    src, tsp = spec.source, spec.time
    names = list(raw.columns) if raw.columns is not None else None
    column = src.time_column
    if column is None and raw.times is None and names is not None:
        found = [c for c in names if c.strip().lower() in TIME_NAMES]
        if len(found) == 1:
            column = found[0]
            log.info("%s: column %r taken as the time column", path, column)
    t: np.ndarray | None = None
    how = ""
    if column is not None:
        idx = _time_column_index(raw, column, y.shape[2], path)
        if y.shape[2] < 2:
            raise ConfigError(f"{path}: the time column {column!r} is the only column; no "
                              "states are left")
        t = y[0, :, idx].astype(np.float64)
        if y.shape[0] > 1 and not np.array_equal(y[:, :, idx], np.broadcast_to(t, y.shape[:2])):
            raise RecordError(f"{path}: the time column {column!r} differs between "
                              "trajectories; physrnn needs one time grid for all")
        y = np.delete(y, idx, axis=2)
        column = names[idx] if names is not None else idx
        if names is not None:
            names.pop(idx)
        how = f"time column {column!r}"
    elif raw.times is not None:
        t = np.asarray(raw.times, dtype=np.float64)
        if t.ndim != 1 and max(t.shape, default=0) == t.size:
            t = t.reshape(-1)  # (n_t, 1) or (1, n_t)
        if t.ndim != 1:
            raise RecordError(f"{path}: time array {raw.time_key!r} has shape {t.shape}; it "
                              "must be one-dimensional (n_t,)")
        how = f"time array {raw.time_key!r}"
    if t is not None:
        if t.size != y.shape[1]:
            hint = ""
            if t.size in raw.values.shape:
                hint = (f"; axis {raw.values.shape.index(t.size)} of the array has that length:"
                        " say which axis is time with --layout (e.g. state,time)")
            raise RecordError(f"{path}: {how} has {t.size} values but the states have n_t = "
                              f"{y.shape[1]} (array shape {raw.values.shape}, layout "
                              f"{layout!r}){hint}")
        if tsp.t0 != 0.0:
            raise ConfigError(f"{path}: t0 applies only with dt; the times come from {how}")
        dt = check_times(t, rtol=tsp.rtol, what=f"{path}: the times ({how})")
        if tsp.dt is not None and abs(tsp.dt - dt) > tsp.rtol * dt:
            raise ConfigError(f"{path}: dt = {tsp.dt:g} disagrees with the spacing {dt:.6g} of "
                              f"{how}; give one of them")
        return t, y, how, column, names
    if tsp.dt is None:
        raise ConfigError(f"{path}: no times: give a time array (--time-key, .npz / HDF5), a "
                          "time column (--time-column, CSV or an array column) or the sampling "
                          "interval --dt")
    if y.shape[1] < 2:
        raise RecordError(f"{path}: {y.shape[1]} time step(s); a series needs at least 2 "
                          f"samples (array shape {raw.values.shape}, layout {layout!r})")
    return tsp.t0 + tsp.dt * np.arange(y.shape[1], dtype=np.float64), y, f"dt = {tsp.dt:g}", \
        None, names


def _check_finite(raw: RawSeries, y: np.ndarray, t: np.ndarray, names: list[str],
                  path: Path) -> None:
    msg = first_nonfinite(y, f"{path}: the state array", t, names)
    if msg is None:
        return
    if raw.lines is not None:  # CSV: point at the line and the column of the file
        k, c = (int(p) for p in np.argwhere(~np.isfinite(y[0]))[0])
        msg += f" (file line {raw.lines[k]}, column {names[c]!r})"
    raise NonFiniteError(msg + "; physrnn needs finite values everywhere: fill or cut the gaps")


def read_series(path: str | Path, spec: ImportSpec | str | Path | None = None,
                **options: Any) -> ImportedSeries:
    """Read and check a recorded series (nothing is written).

    Args:
        path: ``.npy``, ``.npz``, CSV or HDF5 source file.
        spec: an :class:`ImportSpec`, a spec TOML file, or ``None`` (defaults).
        **options: spec keys by their option names (see
            :func:`~physrnn.data.importers.spec.resolve_import_spec`), over ``spec``.

    Raises:
        ConfigError: bad options, a wrong key, no times, names or units that do not match.
        RecordError: unreadable or empty data, a rank other than 1-3, bad times.
        NonFiniteError: a NaN or infinity (names trajectory, time index and component).
        UnsafeFileError: a pickle-only NumPy file.
    """
    path = Path(path)
    spec = resolve_import_spec(spec, **options)
    raw = read_raw(path, spec.source)
    y, layout = _arrange(raw, spec.source.layout, path)
    t, y, how, column, header = _times(raw, y, spec, layout, path)
    n_traj, n_t, n_state = y.shape
    if n_traj * n_t * n_state == 0:
        raise RecordError(f"{path}: no data left (shape {y.shape})")
    names = spec.states.names or header or [f"y{i}" for i in range(n_state)]
    units = spec.states.units or ["1"] * n_state
    for key, v in (("names", names), ("units", units)):
        if len(v) != n_state:
            raise ConfigError(f"{path}: {len(v)} state {key} {list(v)} for {n_state} state "
                              f"components (array shape {raw.values.shape}, layout {layout!r}"
                              f"{', without the time column' if column is not None else ''})")
    _check_finite(raw, y, t, names, path)
    y = y.astype(np.float32 if y.dtype == np.float32 else np.float64, copy=False)
    y = np.ascontiguousarray(y)
    fmt = raw.format
    spec = replace_section(spec, "source", format=fmt, layout=layout, time_column=column,
                           key=raw.key or None, time_key=raw.time_key or None)
    spec = replace_section(spec, "states", names=list(names), units=list(units))
    if not spec.meta.name:
        spec = replace_section(spec, "meta", name=path.stem)
    source = {"source": f"imported from {path.resolve()}", "source_sha256": file_sha256(path),
              "source_format": fmt, "source_key": raw.key, "source_time": how,
              "source_shape": [int(s) for s in raw.values.shape], "source_layout": layout}
    return ImportedSeries(t=t, y=y, dt=float((t[-1] - t[0]) / (t.size - 1)), spec=spec,
                          source=source)


def split_series(series: ImportedSeries) -> tuple[np.ndarray, np.ndarray,
                                                  dict[str, np.ndarray], dict[str, Any]]:
    """Cut and split a series as its ``[splits]`` section says.

    Returns:
        ``(t, y, splits, info)``: the written times and ``(n_traj', n_t', n_state)`` states
        (segments in ``"time"`` mode), the split indices, and attributes describing the split
        (``split_mode``, and in time mode ``segments_per_trajectory``, ``segment_steps``,
        ``dropped_steps``).

    Raises:
        ConfigError: segments of fewer than 2 steps.
    """
    sp = series.spec.splits
    fractions = (sp.train, sp.val, sp.test)
    n_traj, n_t, n_state = series.y.shape
    mode = sp.mode
    if mode == "auto":
        mode = "trajectory" if n_traj >= sum(f > 0 for f in fractions) else "time"
    if mode == "trajectory":
        splits = split_trajectories(n_traj, fractions, seed=sp.seed)
        return series.t, series.y, splits, {"split_mode": "trajectory"}
    n_seg = sp.segments
    steps = n_t // n_seg
    if steps < 2:
        raise ConfigError(f"splits.segments = {n_seg} cuts n_t = {n_t} steps into pieces of "
                          f"{steps} step(s); lower --segments (each piece needs >= 2 steps)")
    y = series.y[:, : n_seg * steps].reshape(n_traj * n_seg, steps, n_state)
    sizes = [v.size for v in split_trajectories(n_seg, fractions, seed=0).values()]
    edges = np.cumsum([0, *sizes])
    splits = {name: np.array([j * n_seg + k for j in range(n_traj)
                              for k in range(edges[i], edges[i + 1])], dtype=np.int64)
              for i, name in enumerate(SPLIT_NAMES)}
    info = {"split_mode": "time", "segments_per_trajectory": n_seg, "segment_steps": steps,
            "dropped_steps": n_t - n_seg * steps}
    return series.t[:steps], y, splits, info


def import_series(path: str | Path, out: str | Path, *,
                  spec: ImportSpec | str | Path | None = None, overwrite: bool = False,
                  **options: Any) -> Path:
    """Import a recorded series into a ``physrnn-dataset`` file, atomically.

    Args:
        path: the source (``.npy``, ``.npz``, ``.csv`` / ``.tsv``, ``.h5`` / ``.hdf5``).
        out: the dataset file to write (``.h5``).
        spec: an :class:`ImportSpec`, a spec TOML file, or ``None``.
        overwrite: replace an existing ``out``.
        **options: spec keys by option name, over ``spec`` (``key``, ``time_key``,
            ``time_column``, ``layout``, ``dt``, ``t0``, ``time_unit``, ``time_rtol``,
            ``names``, ``units``, ``name``, ``system``, ``description``,
            ``lyapunov_exponent``, ``split``, ``segments``, ``fractions``, ``seed``, ...).

    Returns:
        The path written; it passes ``check_dataset(out, deep=True)``.

    Raises:
        OutputExistsError: ``out`` exists and ``overwrite`` is false (checked before reading).
        ConfigError, RecordError, NonFiniteError, UnsafeFileError: see :func:`read_series`;
            nothing is written.
    """
    path, out = Path(path), Path(out)
    if out.is_dir():
        raise OutputExistsError(f"{out} is a directory; give a file name for the dataset")
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} already exists; pass --overwrite to replace it")
    if out.exists() and path.exists() and out.resolve() == path.resolve():
        raise ConfigError(f"{out}: the output is the source file itself; write elsewhere")
    series = read_series(path, spec, **options)
    t, y, splits, info = split_series(series)
    s = series.spec
    if info["split_mode"] != s.splits.mode:
        s = replace_section(s, "splits", mode=info["split_mode"])
    m = s.meta
    meta: dict[str, Any] = {
        "system": m.system, "params": {}, "state_names": s.states.names,
        "state_units": s.states.units, "time_unit": s.time.unit,
        "lyapunov_exponent": m.lyapunov_exponent, "time_scale": m.time_scale,
        "time_scale_name": m.time_scale_name, "reference": m.reference, "kind": "",
        "integrator": "", "dt": float((t[-1] - t[0]) / (t.size - 1)),
        "recipe": f"# import spec of {path.resolve()} (resolved); reproduce with: physrnn "
                  "data import SOURCE --spec THIS.toml --out FILE\n" + to_toml(s),
        "dataset_name": m.name, "description": m.description,
        **series.source, **info, "split_seed": s.splits.seed,
    }
    written = write_dataset(out, t=t, y=y, meta=meta, splits=splits, overwrite=overwrite)
    log.info("imported %s (%s) into %s: y %s, %s split", path, series.source["source_time"],
             out, y.shape, info["split_mode"])
    return written
