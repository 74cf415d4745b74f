"""Stochastic differential equations (kind ``"sde"``) and their exact statistics.

Two systems, both registered in :data:`physrnn.systems.base.REGISTRY`:

* ``"ornstein_uhlenbeck"`` (:class:`OrnsteinUhlenbeck`): ``dx = -theta (x - mu) dt + sigma dW``
  for ``dim`` independent components, integrated with the *exact* discretisation (exact in
  distribution for any step), with closed-form mean, variance, autocorrelation and the best
  possible forecast error.
* ``"langevin"`` (:class:`Langevin`): an underdamped particle in a double-well or harmonic
  potential, ``dx = v dt``, ``dv = (-U'(x)/m - gamma v) dt + sqrt(2 gamma kT / m) dW``,
  integrated with the BAOAB splitting of Leimkuhler and Matthews (or Euler-Maruyama for
  comparison); its stationary (Boltzmann) statistics by closed form or quadrature.

Conventions: time is in the system's own units (``"1"``); ``dW`` is a standard Wiener process
(``<dW^2> = dt``). All randomness comes from the ``numpy.random.Generator`` passed in; nothing
touches global random state. ``rtol`` and ``atol`` of :meth:`integrate` are accepted for the
common interface and unused: both schemes are fixed-step, their step is a parameter
(``n_substeps`` or ``dt_int``) stored with the dataset.

Shapes: one trajectory is ``(n_t, n_state)``; an ensemble from :meth:`integrate_ensemble` is
``(n_batch, n_t, n_state)`` (batch, time, feature).

This module defines the Ornstein-Uhlenbeck process; the Langevin particle lives in
:mod:`physrnn.systems.langevin` and is re-exported here, as are the time-grid checks
:func:`~physrnn.systems.checks.check_times` and
:func:`~physrnn.systems.checks.n_internal_steps`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from physrnn.errors import SystemDefinitionError
from physrnn.systems.base import DynamicalSystem, SystemInfo, register
from physrnn.systems.checks import check_state, check_times, n_internal_steps, positive_value
from physrnn.systems.langevin import Langevin, LangevinParams, langevin_paths

__all__ = [
    "OrnsteinUhlenbeck",
    "OUParams",
    "Langevin",
    "LangevinParams",
    "ou_exact_paths",
    "langevin_paths",
    "check_times",
    "n_internal_steps",
]


# --------------------------------------------------------------------------- Ornstein-Uhlenbeck
def ou_exact_paths(
    x0: np.ndarray,
    t: np.ndarray,
    *,
    theta: float,
    mu: float,
    sigma: float,
    rng: np.random.Generator,
    n_substeps: int = 1,
) -> np.ndarray:
    """Ornstein-Uhlenbeck paths by the exact update, any number of independent components.

    Over a step ``h`` the transition is Gaussian and is sampled exactly:
    ``x_{n+1} = mu + (x_n - mu) e^{-theta h} + sigma sqrt((1 - e^{-2 theta h}) / (2 theta)) xi``
    with ``xi ~ N(0, 1)``, so the law of the output does not depend on ``h`` or ``n_substeps``.

    Args:
        x0: initial values ``(..., dim)`` (any leading shape).
        t: output times ``(n_t,)``, strictly increasing; ``t[0]`` is the time of ``x0``.
        theta: mean-reversion rate (1 / time unit), > 0.
        mu: long-time mean (unit of x).
        sigma: noise amplitude (unit of x / sqrt(time unit)).
        rng: the only source of randomness.
        n_substeps: equal exact substeps per output interval (same law for any value).

    Returns:
        ``(n_t, *x0.shape)``; entry 0 is ``x0``.
    """
    x = np.array(x0, dtype=np.float64)
    out = np.empty((t.size, *x.shape))
    out[0] = x
    for n in range(t.size - 1):
        h = (t[n + 1] - t[n]) / n_substeps
        decay = math.exp(-theta * h)
        noise = sigma * math.sqrt(-math.expm1(-2.0 * theta * h) / (2.0 * theta))
        for _ in range(n_substeps):
            x = mu + (x - mu) * decay + noise * rng.standard_normal(x.shape)
        out[n + 1] = x
    return out


def _ou_euler_paths(x0, t, *, theta, mu, sigma, rng, n_substeps):
    x = np.array(x0, dtype=np.float64)
    out = np.empty((t.size, *x.shape))
    out[0] = x
    for n in range(t.size - 1):
        h = (t[n + 1] - t[n]) / n_substeps
        sq = sigma * math.sqrt(h)
        for _ in range(n_substeps):
            x = x - theta * (x - mu) * h + sq * rng.standard_normal(x.shape)
        out[n + 1] = x
    return out


@dataclass(frozen=True)
class OUParams:
    """Parameters of the Ornstein-Uhlenbeck process.

    Attributes:
        theta: mean-reversion rate (1 / time unit); relaxation time ``1 / theta``.
        mu: long-time mean (unit of x).
        sigma: noise amplitude (unit of x / sqrt(time unit)); stationary variance
            ``sigma^2 / (2 theta)``.
        dim: number of independent components (state dimension).
        n_substeps: exact substeps per output interval; the law of the output is the same for
            every value (a check of exactness), only the cost grows.
    """

    theta: float = 1.0
    mu: float = 0.0
    sigma: float = 1.0
    dim: int = 1
    n_substeps: int = 1


@register
class OrnsteinUhlenbeck(DynamicalSystem):
    r"""Ornstein-Uhlenbeck process ``dx = -theta (x - mu) dt + sigma dW`` (kind ``"sde"``).

    ``dim`` independent components with the same parameters. The process is Gaussian and
    Markov; for ``x(0) = x0`` (deterministic)

    * mean ``E x(t) = mu + (x0 - mu) e^{-theta t}``,
    * variance ``Var x(t) = sigma^2 / (2 theta) (1 - e^{-2 theta t})``,
    * stationary variance ``sigma^2 / (2 theta)``, stationary autocorrelation
      ``rho(tau) = e^{-theta |tau|}``,
    * the best possible forecast ``x(t + tau)`` from ``x(t)`` is the conditional mean; its
      error normalised by the stationary standard deviation is
      ``NRMSE*(tau) = sqrt(1 - e^{-2 theta tau})``, the floor any forecaster can reach.

    Methods: ``"exact"`` (default, the exact Gaussian transition, see :func:`ou_exact_paths`)
    and ``"euler_maruyama"`` (first order, biased stationary variance
    ``sigma^2 / (theta (2 - theta h))``; for comparison only).

    Reference: G. E. Uhlenbeck and L. S. Ornstein, Phys. Rev. 36, 823 (1930); exact update:
    D. T. Gillespie, Phys. Rev. E 54, 2084 (1996).
    """

    name = "ornstein_uhlenbeck"
    kind = "sde"
    Params = OUParams
    methods = ("exact", "euler_maruyama")

    def validate(self) -> None:
        p = self.params
        positive_value(p.theta, "theta", self.name)
        positive_value(p.sigma, "sigma", self.name, allow_zero=True)
        if not math.isfinite(p.mu):
            raise SystemDefinitionError(f"{self.name}: mu must be finite, got {p.mu!r}")
        for key in ("dim", "n_substeps"):
            v = getattr(p, key)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
                raise SystemDefinitionError(f"{self.name}: {key} must be an integer >= 1, "
                                            f"got {v!r}")

    def info(self) -> SystemInfo:
        p = self.params
        names = ("x",) if p.dim == 1 else tuple(f"x{i}" for i in range(p.dim))
        return SystemInfo(
            state_names=names,
            state_units=("1",) * p.dim,
            time_unit="1",
            time_scale=1.0 / p.theta,
            time_scale_name="relaxation time 1/theta",
            lyapunov_exponent=None,
            invariants=(),
            has_solution=False,
            reference=("G. E. Uhlenbeck and L. S. Ornstein, Phys. Rev. 36, 823 (1930); exact "
                       "update: D. T. Gillespie, Phys. Rev. E 54, 2084 (1996)"),
            default_dt=0.1 / p.theta,
            default_transient=0.0,
            default_method="exact",
        )

    def initial_condition(self, rng: np.random.Generator) -> np.ndarray:
        """A draw from the stationary law ``N(mu, sigma^2 / (2 theta))``, shape ``(dim,)``."""
        p = self.params
        return p.mu + math.sqrt(self.stationary_variance()) * rng.standard_normal(p.dim)

    def integrate(self, y0, t, *, rng, method="exact", rtol=0.0, atol=0.0) -> np.ndarray:
        """Trajectory ``(n_t, dim)`` at times ``t`` from ``y0`` ``(dim,)`` at ``t[0]``.

        ``rtol``/``atol`` are unused (fixed-step schemes). ``method``: ``"exact"`` or
        ``"euler_maruyama"``.
        """
        y0 = check_state(y0, self.params.dim, self.name, batched=False)
        return self.integrate_ensemble(y0[None], t, rng=rng, method=method)[0]

    def integrate_ensemble(self, y0, t, *, rng, method="exact") -> np.ndarray:
        """Independent trajectories ``(n_batch, n_t, dim)`` from ``y0`` ``(n_batch, dim)``."""
        p = self.params
        y0 = check_state(y0, p.dim, self.name, batched=True)
        t = check_times(t, self.name)
        kw = dict(theta=p.theta, mu=p.mu, sigma=p.sigma, rng=rng, n_substeps=int(p.n_substeps))
        if method == "exact":
            out = ou_exact_paths(y0, t, **kw)
        elif method == "euler_maruyama":
            out = _ou_euler_paths(y0, t, **kw)
        else:
            raise SystemDefinitionError(f"{self.name}: unknown method {method!r}; valid: "
                                        f"{', '.join(self.methods)}")
        return np.ascontiguousarray(np.moveaxis(out, 0, 1))

    # ----------------------------------------------------------------- exact statistics
    def stationary_variance(self) -> float:
        """``sigma^2 / (2 theta)`` (unit of x squared)."""
        p = self.params
        return p.sigma**2 / (2.0 * p.theta)

    def autocorrelation(self, tau) -> np.ndarray:
        """Stationary autocorrelation ``exp(-theta |tau|)``; ``tau`` any shape, same shape out."""
        return np.exp(-self.params.theta * np.abs(np.asarray(tau, dtype=np.float64)))

    def optimal_forecast_nrmse(self, tau) -> np.ndarray:
        """Best possible forecast error ``sqrt(1 - exp(-2 theta tau))`` at lead time ``tau``.

        The RMSE of the conditional mean ``mu + (x(t) - mu) e^{-theta tau}`` divided by the
        stationary standard deviation; ``tau >= 0``, any shape.
        """
        tau = np.asarray(tau, dtype=np.float64)
        return np.sqrt(-np.expm1(-2.0 * self.params.theta * tau))

    def mean(self, t, x0) -> np.ndarray:
        """``E x(t) = mu + (x0 - mu) e^{-theta t}``: ``t`` ``(n_t,)``, ``x0`` ``(dim,)`` ->
        ``(n_t, dim)``; ``t`` is measured from the time of ``x0``."""
        p = self.params
        t = np.asarray(t, dtype=np.float64).reshape(-1, 1)
        x0 = np.asarray(x0, dtype=np.float64).reshape(1, -1)
        return p.mu + (x0 - p.mu) * np.exp(-p.theta * t)

    def variance(self, t) -> np.ndarray:
        """``Var x(t) = sigma^2 / (2 theta) (1 - e^{-2 theta t})`` from a fixed ``x0``;
        ``t`` any shape, same shape out."""
        t = np.asarray(t, dtype=np.float64)
        return self.stationary_variance() * -np.expm1(-2.0 * self.params.theta * t)
