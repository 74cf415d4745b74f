"""Compiled DOP853 for ensembles of ODE trajectories: SciPy's algorithm, numba's speed.

    from physrnn.data.ensemble import integrate_ensemble
    y = integrate_ensemble(get_system("lorenz63"), y0s, dt * np.arange(10_001))
    y.shape   # (n_traj, n_t, n_state)

:func:`integrate_ensemble` runs the Dormand-Prince 8(5,3) method of
:class:`scipy.integrate.DOP853` step for step, compiled by numba: the same Butcher tableau
(read from SciPy), the same initial step (``select_initial_step``), the same error norm per
trajectory (the 5th- and 3rd-order estimates combined as in Hairer's DOP853, scaled by
``atol + rtol max(|y|, |y_new|)``), the same controller (safety 0.9, factors 0.2 .. 10, exponent
-1/8, no growth after a rejection) and the same 7th-order dense output at the output times. So
``rtol`` and ``atol`` mean exactly what they mean for ``solve_ivp(..., method="DOP853")``, and
the trajectories agree with SciPy's to rounding (the loops sum in another order), i.e. far below
the tolerance over the first time units; every trajectory keeps its own adaptive steps.

A system takes part by providing ``rhs_kernel() -> (f, params)``: ``f(t, y, params, dy)`` a
plain-Python function in numba's subset writing ``dy/dt`` of one state ``y`` ``(n_state,)``
into ``dy``, and ``params`` a float64 vector (see :mod:`physrnn.systems.chaos`). Systems without
the hook, or a missing numba (an optional dependency, installed with the ``dysts`` extra), are
reported by :func:`ensemble_support` so callers fall back to SciPy.

Measured against the alternatives (a batched DOP853 in numpy with masks, diffrax), see
``benchmarks/data_generation.py``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np

from physrnn.systems.base import DynamicalSystem

__all__ = ["ensemble_support", "integrate_ensemble", "EnsembleFailure", "ENGINE_NAME"]

#: Name recorded in dataset metadata for this engine.
ENGINE_NAME = "numba DOP853"


class EnsembleFailure(RuntimeError):
    """A trajectory of the ensemble failed; ``index`` and ``t`` say which and where."""

    def __init__(self, index: int, t: float, reason: str) -> None:
        super().__init__(f"trajectory {index} failed at t = {t:.6g}: {reason}")
        self.index, self.t, self.reason = index, t, reason


def _numba():
    try:
        import numba
    except ImportError:  # pragma: no cover - numba comes with the dysts and test extras
        return None
    return numba


def ensemble_support(system: DynamicalSystem, method: str) -> str:
    """``""`` when :func:`integrate_ensemble` can run ``system`` with ``method``, else why not."""
    if system.kind != "ode":
        return f"kind {system.kind!r} is not an ODE"
    if method != "DOP853":
        return f"method {method!r} is not DOP853"
    if not callable(getattr(system, "rhs_kernel", None)):
        return f"{system.name} has no rhs_kernel"
    if _numba() is None:
        return "numba is not installed"
    return ""


def _tableau() -> tuple[np.ndarray, ...]:
    from scipy.integrate._ivp import dop853_coefficients as c

    return (np.ascontiguousarray(c.A, dtype=np.float64), np.ascontiguousarray(c.B),
            np.ascontiguousarray(c.C), np.ascontiguousarray(c.E3), np.ascontiguousarray(c.E5),
            np.ascontiguousarray(c.D))


@functools.cache
def _compiled_rhs(rhs: Callable):
    """``rhs`` compiled as a C callback of signature ``(t, y, params, dy) -> None`` (cached on
    disk by numba, so a new process does not compile it again)."""
    numba = _numba()
    t = numba.types
    arr = t.float64[::1]
    return numba.cfunc(t.void(t.float64, arr, arr, arr), cache=True)(rhs)


@functools.lru_cache(maxsize=1)
def _compiled_run() -> Callable:
    """The compiled integrator; the right-hand side is an argument of function type, so one
    compilation (cached on disk) serves every system."""
    return _numba().njit(cache=True)(_dop853_run)


def _dop853_run(f, y0s, t_eval, p, rtol, atol, A, B, C, E3, E5, D, out, fail_t):
    """DOP853 of every row of ``y0s`` onto ``t_eval`` into ``out``; ``fail_t[i]`` = time of
    failure of trajectory ``i`` (else NaN). Compiled by :func:`_compiled_run`."""
    n_traj, n = y0s.shape
    n_t = t_eval.size
    K = np.empty((16, n))
    F = np.empty((7, n))
    y = np.empty(n)
    y_new = np.empty(n)
    ys = np.empty(n)
    f_cur = np.empty(n)
    f1 = np.empty(n)
    y_old = np.empty(n)
    t_bound = t_eval[n_t - 1]
    for i in range(n_traj):
        t = t_eval[0]
        y[:] = y0s[i]
        out[i, 0] = y
        if n_t == 1:
            continue
        f(t, y, p, f_cur)
        # select_initial_step (order 7)
        d0 = 0.0
        d1 = 0.0
        for k in range(n):
            sc = atol + abs(y[k]) * rtol
            d0 += (y[k] / sc) ** 2
            d1 += (f_cur[k] / sc) ** 2
        d0 = math.sqrt(d0) / math.sqrt(n)
        d1 = math.sqrt(d1) / math.sqrt(n)
        h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
        h0 = min(h0, t_bound - t)
        for k in range(n):
            ys[k] = y[k] + h0 * f_cur[k]
        f(t + h0, ys, p, f1)
        d2 = 0.0
        for k in range(n):
            sc = atol + abs(y[k]) * rtol
            d2 += ((f1[k] - f_cur[k]) / sc) ** 2
        d2 = math.sqrt(d2) / math.sqrt(n) / h0
        if d1 <= 1e-15 and d2 <= 1e-15:
            h1 = max(1e-6, h0 * 1e-3)
        else:
            h1 = (0.01 / max(d1, d2)) ** (1.0 / 8.0)
        h_abs = min(100.0 * h0, h1, t_bound - t)
        j = 1
        failed = False
        while t < t_bound:
            min_step = 10.0 * abs(np.nextafter(t, np.inf) - t)
            if h_abs < min_step:
                h_abs = min_step
            accepted = False
            rejected = False
            h = 0.0
            t_new = t
            while not accepted:
                if h_abs < min_step:
                    break
                h = h_abs
                t_new = t + h
                if t_new > t_bound:
                    t_new = t_bound
                h = t_new - t
                h_abs = abs(h)
                K[0] = f_cur
                for s in range(1, 12):
                    for k in range(n):
                        acc = 0.0
                        for q in range(s):
                            acc += K[q, k] * A[s, q]
                        ys[k] = y[k] + acc * h
                    f(t + C[s] * h, ys, p, K[s])
                for k in range(n):
                    acc = 0.0
                    for q in range(12):
                        acc += K[q, k] * B[q]
                    y_new[k] = y[k] + h * acc
                f(t + h, y_new, p, K[12])
                e5 = 0.0
                e3 = 0.0
                for k in range(n):
                    sc = atol + max(abs(y[k]), abs(y_new[k])) * rtol
                    a5 = 0.0
                    a3 = 0.0
                    for q in range(13):
                        a5 += K[q, k] * E5[q]
                        a3 += K[q, k] * E3[q]
                    e5 += (a5 / sc) ** 2
                    e3 += (a3 / sc) ** 2
                if e5 == 0.0 and e3 == 0.0:
                    err = 0.0
                else:
                    err = abs(h) * e5 / math.sqrt((e5 + 0.01 * e3) * n)
                if err < 1.0:
                    factor = 10.0 if err == 0.0 else min(10.0, 0.9 * err ** (-1.0 / 8.0))
                    if rejected:
                        factor = min(1.0, factor)
                    h_abs *= factor
                    accepted = True
                else:
                    h_abs *= max(0.2, 0.9 * err ** (-1.0 / 8.0))
                    rejected = True
            if not accepted:
                fail_t[i] = t
                failed = True
                break
            t_old = t
            y_old[:] = y
            t = t_new
            y[:] = y_new
            f_cur[:] = K[12]
            if j < n_t and t_eval[j] <= t:
                for s in range(13, 16):  # the extra stages of the dense output
                    for k in range(n):
                        acc = 0.0
                        for q in range(s):
                            acc += K[q, k] * A[s, q]
                        ys[k] = y_old[k] + acc * h
                    f(t_old + C[s] * h, ys, p, K[s])
                for k in range(n):
                    dy = y[k] - y_old[k]
                    F[0, k] = dy
                    F[1, k] = h * K[0, k] - dy
                    F[2, k] = 2.0 * dy - h * (f_cur[k] + K[0, k])
                    for r in range(4):
                        acc = 0.0
                        for q in range(16):
                            acc += D[r, q] * K[q, k]
                        F[3 + r, k] = h * acc
                h_dense = t - t_old
                while j < n_t and t_eval[j] <= t:
                    x = (t_eval[j] - t_old) / h_dense
                    for k in range(n):
                        v = 0.0
                        for r in range(7):
                            v += F[6 - r, k]
                            v *= x if r % 2 == 0 else 1.0 - x
                        out[i, j, k] = v + y_old[k]
                    j += 1
        if failed:
            continue
        for jj in range(n_t):
            for k in range(n):
                if not math.isfinite(out[i, jj, k]):
                    failed = True
            if failed:
                fail_t[i] = t_eval[jj]
                break



def integrate_ensemble(
    system: DynamicalSystem,
    y0s: np.ndarray,
    t: np.ndarray,
    *,
    rtol: float = 1e-10,
    atol: float = 1e-10,
) -> np.ndarray:
    """Integrate every initial state of ``y0s`` with DOP853 onto the output times ``t``.

    Args:
        system: an ODE system with ``rhs_kernel`` (see :func:`ensemble_support`).
        y0s: ``(n_traj, n_state)`` initial states at ``t[0]``.
        t: ``(n_t,)`` strictly increasing output times (system time units).
        rtol, atol: tolerances, as in :func:`scipy.integrate.solve_ivp`.

    Returns:
        ``(n_traj, n_t, n_state)`` states at ``t``.

    Raises:
        ValueError: unsupported system or bad shapes or times.
        EnsembleFailure: a trajectory's step fell below the resolution of ``t`` (divergence,
            NaN); names the first such trajectory.
    """
    why = ensemble_support(system, "DOP853")
    if why:
        raise ValueError(f"integrate_ensemble: {why}")
    y0s = np.ascontiguousarray(y0s, dtype=np.float64)
    t = np.ascontiguousarray(t, dtype=np.float64)
    if y0s.ndim != 2 or y0s.shape[1] != system.n_state:
        raise ValueError(f"y0s must have shape (n_traj, {system.n_state}), got {y0s.shape}")
    if t.ndim != 1 or t.size < 1 or (t.size > 1 and not np.all(np.diff(t) > 0)):
        raise ValueError("t must be a non-empty, strictly increasing 1D array")
    if not (rtol > 0 and atol > 0):
        raise ValueError(f"rtol and atol must be > 0, got {rtol}, {atol}")
    rhs, params = system.rhs_kernel()
    out = np.empty((y0s.shape[0], t.size, y0s.shape[1]))
    fail_t = np.full(y0s.shape[0], np.nan)
    _compiled_run()(_compiled_rhs(rhs), y0s, t, np.ascontiguousarray(params, dtype=np.float64),
                    float(rtol), float(atol), *_tableau(), out, fail_t)
    bad = np.flatnonzero(~np.isnan(fail_t))
    if bad.size:
        i = int(bad[0])
        raise EnsembleFailure(i, float(fail_t[i]), "step size below the resolution of t, or a "
                                                    "non-finite state (divergence)")
    return out
