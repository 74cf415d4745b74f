"""Convergence-curve helpers of ``reproduce_rnn_wavefunctions.py``: window means, the
power-law extrapolation of a missed target, and the thinned curve stored in the JSON."""

from __future__ import annotations

import math
from typing import Any

CURVE_POINTS = 400  # most points of the stored convergence curve (window means)
MIN_DECAY = -0.2  # a fitted exponent above this is reported as "no trend"


def window_means(steps: Any, energies: Any, n_windows: int) -> tuple[Any, Any]:
    """Mean step and mean energy of ``n_windows`` consecutive, equal windows."""
    import numpy as np

    parts = np.array_split(np.arange(len(steps)), min(n_windows, len(steps)))
    return (np.array([steps[p].mean() for p in parts if len(p)]),
            np.array([energies[p].mean() for p in parts if len(p)]))


def extrapolate(steps: Any, energies: Any, reference: float | None, target: float,
                s_per_step: float, errors: Any = None, n_windows: int = 8) -> dict[str, Any]:
    """Power-law fit of ``|E - E_ref| / |E_ref|`` over the last half of the curve.

    Args:
        steps, energies: the training curve (per step).
        errors: per-step standard errors of the energies, to tell a trend from noise.

    Returns ``status``: ``"fit"``, ``"no trend"`` (fewer than 4 windows above the reference,
    or an exponent above :data:`MIN_DECAY`), ``"noise-limited"`` (the windows' distance to
    the reference is below 3 times their statistical error, or the fit already crosses the
    target within the steps done), ``"too few steps"`` or ``"no reference"``; for a fit the
    exponent ``b`` of ``rel ~ step^b``, the ``steps_needed`` and ``time_needed_s`` for
    ``target`` at ``s_per_step``. An extrapolation, not a measurement.
    """
    import numpy as np

    if reference is None:
        return {"status": "no reference"}
    steps = np.asarray(steps, dtype=float)
    energies = np.asarray(energies, dtype=float)
    if len(steps) < 2 * n_windows:
        return {"status": "too few steps", "n_steps": len(steps)}
    tail = steps >= steps[-1] / 2
    x, e = window_means(steps[tail], energies[tail], n_windows)
    rel = (e - reference) / abs(reference)
    out: dict[str, Any] = {"windows_step": x, "windows_rel_error": rel}
    if errors is not None:
        err = np.asarray(errors, dtype=float)[tail]
        parts = np.array_split(np.arange(len(err)), len(x))
        noise = np.array([math.sqrt((err[p] ** 2).sum()) / len(p) for p in parts])
        out["windows_rel_noise"] = noise / abs(reference)
        if np.median(rel) < 3 * np.median(out["windows_rel_noise"]):
            return {**out, "status": "noise-limited"}
    keep = rel > 0
    if keep.sum() < 4 or x[keep].max() / x[keep].min() < 1.2:
        return {**out, "status": "no trend"}
    b, a = np.polyfit(np.log(x[keep]), np.log(rel[keep]), 1)
    out.update(exponent=float(b), log_prefactor=float(a))
    if not b < MIN_DECAY:  # flat, rising, or too slow to mean anything
        return {**out, "status": "no trend"}
    needed = math.exp((math.log(target) - a) / b)
    if needed <= steps[-1]:  # the fit says "done", the measured energy disagrees
        return {**out, "status": "noise-limited", "steps_needed": needed}
    return {**out, "status": "fit", "steps_needed": needed,
            "time_needed_s": needed * s_per_step}


def thin_curve(history: dict[str, Any], n_points: int = CURVE_POINTS) -> dict[str, list]:
    """The training curve as window means (at most ``n_points`` windows)."""
    import numpy as np

    steps = history["step"].astype(float)
    x, e = window_means(steps, history["energy"], n_points)
    _, var = window_means(steps, history["variance"], n_points)
    _, t = window_means(steps, history["time_s"], n_points)
    return {"step": x.tolist(), "energy": e.tolist(), "variance": var.tolist(),
            "time_s": t.tolist(), "points_are": "means over windows of consecutive steps",
            "n_steps": int(len(steps)), "last_energy": float(np.asarray(history["energy"])[-1])}


def human_time(seconds: float | None) -> str | None:
    if seconds is None or not math.isfinite(seconds):
        return None
    for unit, size in (("y", 3.156e7), ("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"
