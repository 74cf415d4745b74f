"""Largest Lyapunov exponent of a dynamical system by the two-trajectory (Benettin) method."""

from __future__ import annotations

import math

import numpy as np
from scipy.integrate import solve_ivp

__all__ = ["largest_lyapunov_exponent"]


def largest_lyapunov_exponent(
    system,
    *,
    t_total: float = 1000.0,
    renorm_time: float = 1.0,
    d0: float = 1e-8,
    transient: float | None = None,
    seed: int = 0,
    method: str | None = None,
    rtol: float | None = None,
    atol: float | None = None,
) -> tuple[float, float]:
    """Largest Lyapunov exponent by the two-trajectory (Benettin) method.

    A reference and a perturbed trajectory, a distance ``d0`` apart, are integrated together
    (one stacked ODE, same integrator and tolerances as the data) for ``renorm_time``; the
    separation is logged and renormalised to ``d0`` along its current direction; repeat until
    ``t_total``.

    Args:
        system: a deterministic :class:`~physrnn.systems.base.DynamicalSystem` (kind "ode").
        t_total: averaging time (system time units).
        renorm_time: time between renormalisations.
        d0: separation (state units), small enough to stay linear over ``renorm_time``.
        transient: time to reach the attractor first (default from the system's info).

    Returns:
        ``(lambda_1, standard_error)`` in 1 / time unit; the error is from blocks of the
        per-segment growth rates (10 blocks).
    """
    from physrnn.data.simulate import integrate_trajectory

    info = system.info()
    method = method or info.default_method
    rtol = rtol or info.default_rtol
    atol = atol or info.default_atol
    rng = np.random.default_rng(seed)
    y = np.asarray(system.initial_condition(rng), dtype=float)
    transient = info.default_transient if transient is None else transient
    kw = {"rng": rng, "method": method, "rtol": rtol, "atol": atol}
    if transient > 0:
        y = integrate_trajectory(system, y, np.array([0.0, transient]), **kw)[-1]
    u = rng.normal(size=y.shape)
    x = y + d0 * u / np.linalg.norm(u)
    n = y.size
    n_seg = max(10, int(round(t_total / renorm_time)))
    rates = np.empty(n_seg)

    def twin(t: float, z: np.ndarray) -> np.ndarray:  # reference and perturbed, stacked
        return np.concatenate([system.rhs(t, z[:n]), system.rhs(t, z[n:])])

    for k in range(n_seg):
        sol = solve_ivp(twin, (0.0, renorm_time), np.concatenate([y, x]), method=method,
                        rtol=rtol, atol=atol)
        if sol.status != 0:
            raise FloatingPointError(f"integration failed in segment {k}: {sol.message}")
        y, x = sol.y[:n, -1], sol.y[n:, -1]
        d = np.linalg.norm(x - y)
        if not (d > 0 and math.isfinite(d)):
            raise FloatingPointError(f"separation became {d} at segment {k}")
        rates[k] = math.log(d / d0) / renorm_time
        x = y + (x - y) * (d0 / d)
    blocks = np.array_split(rates, 10)
    means = np.array([b.mean() for b in blocks])
    return float(rates.mean()), float(means.std(ddof=1) / math.sqrt(len(means)))
