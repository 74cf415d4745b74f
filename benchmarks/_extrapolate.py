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


def time_to_accuracy(times: Any, energies: Any, errors: Any, reference: float | None,
                     tolerance: float, *, window: int = 25) -> dict[str, Any]:
    """When the training energy first *stays* within ``tolerance`` of the reference.

    The per-step training energies are averaged over consecutive windows of ``window``
    steps; the relative error of a window is ``|mean - E_ref| / |E_ref|``. The answer is the
    wall time at the end of the first window after which every window, to the end of the
    run, lies within ``tolerance``. A measurement, not an extrapolation: a run that ends
    outside the tolerance has not reached it, whatever it did before.

    Args:
        times: ``(n_steps,)`` wall seconds since the first step began, at the end of each step.
        energies: ``(n_steps,)`` training energy estimates (totals).
        errors: ``(n_steps,)`` their standard errors, or ``None``.
        reference: the reference energy (total), or ``None``.
        tolerance: the relative error to reach, e.g. ``1e-3``.
        window: steps per window (the last, shorter window is dropped).

    Returns:
        ``reached`` (bool), ``time_s`` and ``step`` (end of the first lasting window, or
        ``None``), ``window``, ``last_window_rel_error`` and ``window_rel_noise`` (the median
        statistical error of a window mean, relative: a tolerance below about twice this
        cannot be judged from the training curve alone).
    """
    import numpy as np

    t = np.asarray(times, dtype=float)
    e = np.asarray(energies, dtype=float)
    n_win = len(e) // window
    out: dict[str, Any] = {"reached": False, "time_s": None, "step": None, "window": window,
                           "last_window_rel_error": None, "window_rel_noise": None}
    if reference is None or n_win == 0:
        return out
    means = e[: n_win * window].reshape(n_win, window).mean(axis=1)
    rel = np.abs(means - reference) / abs(reference)
    out["last_window_rel_error"] = float(rel[-1])
    if errors is not None:
        err = np.asarray(errors, dtype=float)[: n_win * window].reshape(n_win, window)
        noise = np.sqrt((err**2).sum(axis=1)) / window
        out["window_rel_noise"] = float(np.median(noise) / abs(reference))
    outside = np.nonzero(rel > tolerance)[0]
    first = 0 if len(outside) == 0 else int(outside[-1]) + 1
    if first < n_win:
        end = (first + 1) * window - 1
        out.update(reached=True, time_s=float(t[end]), step=end + 1)
    return out
