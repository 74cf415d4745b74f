"""The underdamped Langevin particle (kind ``"sde"``) and its Boltzmann statistics.

``dx = v dt``, ``dv = (-U'(x)/m - gamma v) dt + sqrt(2 gamma kT / m) dW`` in a double-well or
harmonic potential (registry name ``"langevin"``), integrated with the BAOAB splitting of
Leimkuhler and Matthews (or Euler-Maruyama for comparison); its stationary (Boltzmann)
statistics by closed form or quadrature. The conventions (time units, Wiener process,
randomness from an explicit ``numpy.random.Generator``, shapes) are those of
:mod:`physrnn.systems.stochastic`, which re-exports every public name of this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.integrate import quad

from physrnn.errors import SystemDefinitionError
from physrnn.systems.base import DynamicalSystem, SystemInfo, register
from physrnn.systems.checks import check_state, check_times, n_internal_steps, positive_value

__all__ = ["Langevin", "LangevinParams", "langevin_paths"]


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
            positive_value(getattr(p, key), key, self.name)
        positive_value(p.gamma, "gamma", self.name, allow_zero=True)
        positive_value(p.kT, "kT", self.name, allow_zero=True)
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
        y0 = check_state(y0, 2, self.name, batched=False)
        return self.integrate_ensemble(y0[None], t, rng=rng, method=method)[0]

    def integrate_ensemble(self, y0, t, *, rng, method="baoab") -> np.ndarray:
        """Independent particles ``(n_batch, n_t, 2)`` from ``y0`` ``(n_batch, 2)``."""
        p = self.params
        y0 = check_state(y0, 2, self.name, batched=True)
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
