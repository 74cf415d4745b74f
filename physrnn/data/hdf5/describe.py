"""Human summary of a ``physrnn-dataset`` file, for ``physrnn data info``.

:func:`describe_dataset` validates the file (:func:`~physrnn.data.hdf5.validate.check_dataset`)
and summarises its system, shapes, time span (in Lyapunov times where known), integrator,
splits, normalisation and provenance. Schema in :mod:`physrnn.data.hdf5.schema`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from physrnn.data.hdf5.schema import (
    DATASET_FORMAT,
    SCHEMA_ATTRS,
    SPLIT_NAMES,
    Normalisation,
    read_meta,
    walk_datasets,
)
from physrnn.data.hdf5.validate import check_dataset

__all__ = ["describe_dataset"]


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
        m = read_meta(f)
        t = f["t"][()]
        y = f["y"]
        n_traj, n_t, n_state = y.shape
        y_info = (y.dtype, y.chunks, y.compression)
        splits = {k: int(f["splits"][k].shape[0]) for k in SPLIT_NAMES}
        norm = Normalisation(mean=f["normalisation/mean"][()], std=f["normalisation/std"][()])
        obs = {k: (d.shape, d.dtype) for k, d in walk_datasets(f["observables"]).items()} \
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
