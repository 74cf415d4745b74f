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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.integrate import quad

from physrnn.errors import SystemDefinitionError
from physrnn.systems.base import DynamicalSystem, SystemInfo, register

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


# --------------------------------------------------------------------------- shared helpers
def check_times(t: np.ndarray, system: str) -> np.ndarray:
    """Validate output times: a finite, strictly increasing 1-D float array of length >= 1.

    Args:
        t: requested output times ``(n_t,)``; ``t[0]`` is the time of the initial state.
        system: system name, used in the error message.

    Returns:
        ``t`` as a float64 array ``(n_t,)``.

    Raises:
        SystemDefinitionError: wrong rank, empty, non-finite or not strictly increasing.
    """
    t = np.asarray(t, dtype=np.float64)
    if t.ndim != 1 or t.size == 0:
        raise SystemDefinitionError(f"{system}: t must be a non-empty 1-D array, got shape "
                                    f"{t.shape}")
    if not np.all(np.isfinite(t)):
        raise SystemDefinitionError(f"{system}: t contains non-finite values")
    if t.size > 1 and not np.all(np.diff(t) > 0):
        i = int(np.argmin(np.diff(t) > 0))
        raise SystemDefinitionError(f"{system}: t must be strictly increasing; t[{i}]={t[i]!r}, "
                                    f"t[{i + 1}]={t[i + 1]!r}")
    return t


def n_internal_steps(interval: float, dt_max: float) -> int:
    """Number of equal internal steps of at most ``dt_max`` that cover ``interval``.

    A relative slack of 1e-9 keeps ``interval = k * dt_max`` (up to round-off) at ``k`` steps.
    """
    return max(1, math.ceil(interval / dt_max * (1.0 - 1e-9)))


def _check_state(y0: np.ndarray, n_state: int, system: str, *, batched: bool) -> np.ndarray:
    y0 = np.asarray(y0, dtype=np.float64)
    want = ("(n_batch, %d)" if batched else "(%d,)") % n_state
    if y0.ndim != (2 if batched else 1) or y0.shape[-1] != n_state:
        raise SystemDefinitionError(f"{system}: y0 must have shape {want}, got {y0.shape}")
    if not np.all(np.isfinite(y0)):
        raise SystemDefinitionError(f"{system}: y0 contains non-finite values")
    return y0


def _positive(value: float, name: str, system: str, *, allow_zero: bool = False) -> None:
    ok = math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        rel = ">= 0" if allow_zero else "> 0"
        raise SystemDefinitionError(f"{system}: {name} must be finite and {rel}, got {value!r}")


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
        _positive(p.theta, "theta", self.name)
        _positive(p.sigma, "sigma", self.name, allow_zero=True)
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
        y0 = _check_state(y0, self.params.dim, self.name, batched=False)
        return self.integrate_ensemble(y0[None], t, rng=rng, method=method)[0]

    def integrate_ensemble(self, y0, t, *, rng, method="exact") -> np.ndarray:
        """Independent trajectories ``(n_batch, n_t, dim)`` from ``y0`` ``(n_batch, dim)``."""
        p = self.params
        y0 = _check_state(y0, p.dim, self.name, batched=True)
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


# --------------------------------------------------------------------------- Langevin
_POTENTIALS = ("double_well", "harmonic")


def _force(x: np.ndarray, potential: str, a: float, k: float) -> np.ndarray:
    """``-U'(x)``: double well ``U = a (x^2 - 1)^2``, harmonic ``U = k x^2 / 2``."""
    if potential == "double_well":
        return -4.0 * a * x * (x * x - 1.0)
    return -k * x


def langevin_paths(
    x0: np.ndarray,
    v0: np.ndarray,
    t: np.ndarray,
    *,
    force,
    m: float,
    gamma: float,
    kT: float,
    dt_int: float,
    rng: np.random.Generator,
    method: str = "baoab",
) -> tuple[np.ndarray, np.ndarray]:
    """Underdamped Langevin paths for a batch of independent particles.

    ``dx = v dt``, ``dv = (F(x)/m - gamma v) dt + sqrt(2 gamma kT / m) dW``.

    ``"baoab"`` (Leimkuhler and Matthews 2013), per step ``h``: B: ``v += h/2 F(x)/m``;
    A: ``x += h/2 v``; O: ``v = c v + sqrt((1 - c^2) kT/m) xi`` with ``c = e^{-gamma h}``
    (the exact Ornstein-Uhlenbeck velocity update); A; B. One force evaluation per step; second
    order in the weak sense for configurational averages, exact ``<x^2>`` for a harmonic
    potential at any stable step. ``"euler_maruyama"``: first order, for comparison.

    Args:
        x0, v0: initial positions and velocities ``(n_batch,)``.
        t: output times ``(n_t,)``; each interval is split into equal steps <= ``dt_int``.
        force: ``F(x) = -U'(x)``, vectorised.
        m, gamma, kT: mass, friction (1 / time), temperature (energy units, k_B = 1).
        rng: the only source of randomness.

    Returns:
        ``(x, v)``, each ``(n_t, n_batch)``.
    """
    x = np.array(x0, dtype=np.float64)
    v = np.array(v0, dtype=np.float64)
    xs = np.empty((t.size, *x.shape))
    vs = np.empty((t.size, *x.shape))
    xs[0], vs[0] = x, v
    f = force(x)
    for n in range(t.size - 1):
        steps = n_internal_steps(t[n + 1] - t[n], dt_int)
        h = (t[n + 1] - t[n]) / steps
        if method == "baoab":
            c = math.exp(-gamma * h)
            s = math.sqrt(-math.expm1(-2.0 * gamma * h) * kT / m)
            for _ in range(steps):
                v += (0.5 * h / m) * f
                x += 0.5 * h * v
                v = c * v + s * rng.standard_normal(x.shape)
                x += 0.5 * h * v
                f = force(x)
                v += (0.5 * h / m) * f
        else:  # euler_maruyama
            s = math.sqrt(2.0 * gamma * kT / m * h)
            for _ in range(steps):
                x, v = x + h * v, v + h * (f / m - gamma * v) + s * rng.standard_normal(x.shape)
                f = force(x)
        xs[n + 1], vs[n + 1] = x, v
    return xs, vs


@dataclass(frozen=True)
class LangevinParams:
    """Parameters of the underdamped Langevin particle (reduced units, k_B = 1).

    Attributes:
        potential: ``"double_well"`` (``U = a (x^2 - 1)^2``, minima at +-1, barrier ``a``) or
            ``"harmonic"`` (``U = k x^2 / 2``).
        a: double-well barrier height (energy).
        k: harmonic spring constant (energy / length^2).
        m: mass.
        gamma: friction rate (1 / time).
        kT: temperature (energy); default: barrier = 2 kT, so the particle hops between wells
            every few tens of time units.
        dt_int: largest internal step (time); each output interval is split into equal steps.
    """

    potential: str = "double_well"
    a: float = 1.0
    k: float = 1.0
    m: float = 1.0
    gamma: float = 1.0
    kT: float = 0.5
    dt_int: float = 0.01


@register
class Langevin(DynamicalSystem):
    r"""Underdamped Langevin particle in a 1-D potential (kind ``"sde"``).

    ``dx = v dt``, ``dv = (-U'(x)/m - gamma v) dt + sqrt(2 gamma kT / m) dW``, state
    ``(x, v)``. The stationary law is Boltzmann, ``p(x, v) ~ exp(-(U(x) + m v^2 / 2) / kT)``:
    ``<v^2> = kT / m`` always, ``<x^2> = kT / k`` for the harmonic potential and a
    one-dimensional quadrature of ``exp(-U / kT)`` for the double well
    (:meth:`stationary_density`, :meth:`stationary_moments`).

    Methods: ``"baoab"`` (default; Leimkuhler-Matthews splitting, see :func:`langevin_paths`)
    and ``"euler_maruyama"``.

    References: B. Leimkuhler and C. Matthews, Appl. Math. Res. Express 2013, 34 (2013)
    (BAOAB); H. A. Kramers, Physica 7, 284 (1940) (double-well escape).
    """

    name = "langevin"
    kind = "sde"
    Params = LangevinParams
    methods = ("baoab", "euler_maruyama")

    def validate(self) -> None:
        p = self.params
        if p.potential not in _POTENTIALS:
            raise SystemDefinitionError(f"{self.name}: unknown potential {p.potential!r}; "
                                        f"valid: {', '.join(_POTENTIALS)}")
        for key in ("a", "k", "m", "dt_int"):
            _positive(getattr(p, key), key, self.name)
        _positive(p.gamma, "gamma", self.name, allow_zero=True)
        _positive(p.kT, "kT", self.name, allow_zero=True)
        if self.omega0 * p.dt_int >= 2.0:
            raise SystemDefinitionError(
                f"{self.name}: dt_int={p.dt_int!r} is unstable: omega0 * dt_int = "
                f"{self.omega0 * p.dt_int:.3g} must be < 2 (omega0 = {self.omega0:.3g})")

    @property
    def omega0(self) -> float:
        """Angular frequency of small oscillations at the potential minimum (1 / time)."""
        p = self.params
        curvature = 8.0 * p.a if p.potential == "double_well" else p.k
        return math.sqrt(curvature / p.m)

    def info(self) -> SystemInfo:
        p = self.params
        ref = ("B. Leimkuhler and C. Matthews, Appl. Math. Res. Express 2013, 34 (2013) (BAOAB); "
               "H. A. Kramers, Physica 7, 284 (1940)")
        return SystemInfo(
            state_names=("x", "v"),
            state_units=("1", "1"),
            time_unit="1",
            time_scale=2.0 * math.pi / self.omega0,
            time_scale_name="oscillation period at the potential minimum",
            lyapunov_exponent=None,
            invariants=(),
            has_solution=False,
            reference=ref,
            default_dt=0.05,
            default_transient=max(10.0, 10.0 / p.gamma) if p.gamma > 0 else 0.0,
            default_method="baoab",
        )

    def potential(self, x) -> np.ndarray:
        """``U(x)`` (energy) for positions of any shape."""
        p = self.params
        x = np.asarray(x, dtype=np.float64)
        if p.potential == "double_well":
            return p.a * (x * x - 1.0) ** 2
        return 0.5 * p.k * x * x

    def force(self, x) -> np.ndarray:
        """``F(x) = -U'(x)`` for positions of any shape."""
        p = self.params
        return _force(np.asarray(x, dtype=np.float64), p.potential, p.a, p.k)

    def initial_condition(self, rng: np.random.Generator) -> np.ndarray:
        """``(x, v)``: ``v ~ N(0, kT/m)``; ``x`` Boltzmann for the harmonic potential, a random
        well ``+-1`` plus a Gaussian of the well's thermal width for the double well."""
        p = self.params
        v = math.sqrt(p.kT / p.m) * rng.standard_normal()
        width = math.sqrt(p.kT / (p.m * self.omega0**2))
        if p.potential == "harmonic":
            x = width * rng.standard_normal()
        else:
            x = rng.choice((-1.0, 1.0)) + width * rng.standard_normal()
        return np.array([x, v])

    def integrate(self, y0, t, *, rng, method="baoab", rtol=0.0, atol=0.0) -> np.ndarray:
        """Trajectory ``(n_t, 2)`` (columns ``x``, ``v``) at times ``t`` from ``y0`` ``(2,)``.

        ``rtol``/``atol`` are unused (fixed step ``dt_int``).
        """
        y0 = _check_state(y0, 2, self.name, batched=False)
        return self.integrate_ensemble(y0[None], t, rng=rng, method=method)[0]

    def integrate_ensemble(self, y0, t, *, rng, method="baoab") -> np.ndarray:
        """Independent particles ``(n_batch, n_t, 2)`` from ``y0`` ``(n_batch, 2)``."""
        p = self.params
        y0 = _check_state(y0, 2, self.name, batched=True)
        t = check_times(t, self.name)
        if method not in self.methods:
            raise SystemDefinitionError(f"{self.name}: unknown method {method!r}; valid: "
                                        f"{', '.join(self.methods)}")
        xs, vs = langevin_paths(
            y0[:, 0], y0[:, 1], t, force=lambda x: _force(x, p.potential, p.a, p.k), m=p.m,
            gamma=p.gamma, kT=p.kT, dt_int=p.dt_int, rng=rng, method=method)
        out = np.stack([xs, vs], axis=-1)  # (n_t, n_batch, 2)
        if not np.all(np.isfinite(out)):
            raise SystemDefinitionError(f"{self.name}: integration produced non-finite values "
                                        f"(dt_int={p.dt_int!r}, method={method!r})")
        return np.ascontiguousarray(np.moveaxis(out, 0, 1))

    # ----------------------------------------------------------------- stationary statistics
    def _boltzmann_integral(self, g) -> float:
        p = self.params
        emin = 0.0  # both potentials have min U = 0

        def w(x):
            return math.exp(-(float(self.potential(x)) - emin) / p.kT)

        # the weight is negligible beyond |x| where U > 60 kT
        if p.potential == "double_well":
            xmax = math.sqrt(1.0 + math.sqrt(60.0 * p.kT / p.a))
            pts = [-1.0, 0.0, 1.0]
        else:
            xmax = math.sqrt(120.0 * p.kT / p.k)
            pts = [0.0]
        val, _ = quad(lambda x: g(x) * w(x), -xmax, xmax, points=pts, limit=200,
                      epsabs=0.0, epsrel=1e-12)
        return val

    def stationary_density(self, x) -> np.ndarray:
        """Normalised Boltzmann density of ``x``, ``exp(-U(x)/kT) / Z`` (1 / length); any shape.

        Requires ``kT > 0``.
        """
        p = self.params
        if p.kT <= 0:
            raise SystemDefinitionError(f"{self.name}: stationary density needs kT > 0")
        z = self._boltzmann_integral(lambda x: 1.0)
        return np.exp(-self.potential(x) / p.kT) / z

    def stationary_moments(self) -> dict[str, float]:
        """Exact stationary moments: ``"x2"`` = ``<x^2>``, ``"v2"`` = ``<v^2>`` = kT/m,
        ``"x4"`` = ``<x^4>``, ``"abs_x"`` = ``<|x|>``.

        Harmonic: ``<x^2> = kT/k``, ``<x^4> = 3 (kT/k)^2``, ``<|x|> = sqrt(2 kT / (pi k))``
        (closed forms); double well: quadrature of the Boltzmann weight (relative error ~1e-12).
        """
        p = self.params
        if p.kT <= 0:
            raise SystemDefinitionError(f"{self.name}: stationary moments need kT > 0")
        if p.potential == "harmonic":
            s2 = p.kT / p.k
            return {"x2": s2, "v2": p.kT / p.m, "x4": 3.0 * s2 * s2,
                    "abs_x": math.sqrt(2.0 * s2 / math.pi)}
        z = self._boltzmann_integral(lambda x: 1.0)
        return {
            "x2": self._boltzmann_integral(lambda x: x * x) / z,
            "v2": p.kT / p.m,
            "x4": self._boltzmann_integral(lambda x: x**4) / z,
            "abs_x": self._boltzmann_integral(abs) / z,
        }
