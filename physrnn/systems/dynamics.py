"""Classical deterministic systems (kind ``"ode"``): oscillators, pendula, Kepler, chaotic flows.

Every system is three things:

* a frozen parameter dataclass (``Lorenz63Params`` ...) whose defaults are the standard values;
* a module-level **pure** right-hand side ``f(t, y, params) -> dy/dt`` (``lorenz63_rhs`` ...)
  and, for every system here, its Jacobian ``f_jacobian(t, y, params) -> (n_state, n_state)``
  (used for Lyapunov exponents and by implicit integrators);
* a registered :class:`~physrnn.systems.base.DynamicalSystem` subclass whose ``rhs`` and
  ``jacobian`` delegate to those functions and which adds the metadata (:meth:`info`), random
  initial states, parameter validation, closed forms and conserved quantities.

Registry names: ``harmonic``, ``damped_driven``, ``duffing``, ``pendulum``, ``double_pendulum``,
``kepler``, ``lorenz63``, ``rossler``, ``lorenz96``.

Conventions shared by every function below:

* ``t`` is a float in the system's time unit (``info().time_unit``).
* A right-hand side accepts ``y`` of shape ``(n_state,)`` and also ``(n_state, k)`` (the layout
  of ``solve_ivp(..., vectorized=True)``) and returns the same shape.
* A Jacobian takes ``y`` of shape ``(n_state,)`` and returns ``(n_state, n_state)`` with
  ``J[i, j] = d f_i / d y_j``.
* An invariant or energy function takes states of shape ``(..., n_state)`` (state last) and
  returns shape ``(...)``.
* A closed form ``solution(t, y0)`` takes ``t`` of shape ``(n_t,)`` and the state ``y0`` at
  time ``t[0]`` (the convention of ``solve_ivp`` and :func:`physrnn.data.simulate`), and returns
  ``(n_t, n_state)``. Driven systems depend on absolute time (the drive is ``cos(Omega t)``).
* Mechanical energies of one-body systems are per unit mass (J/kg in SI units).

References: L. D. Landau and E. M. Lifshitz, *Mechanics*, 3rd ed. (Pergamon, 1976) for the
oscillators, pendula and Kepler problem; J. C. Sprott, *Chaos and Time-Series Analysis* (Oxford
University Press, 2003) for the Lyapunov exponents of Lorenz-63 and Rossler; P. R. Vlachas et
al., Neural Networks 126, 191 (2020) for Lorenz-96.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from scipy.special import ellipj, ellipkinc

from physrnn.errors import SystemDefinitionError
from physrnn.systems.base import DynamicalSystem, SystemInfo, register

__all__ = [
    # parameter dataclasses
    "HarmonicParams",
    "DampedDrivenParams",
    "DuffingParams",
    "PendulumParams",
    "DoublePendulumParams",
    "KeplerParams",
    "Lorenz63Params",
    "RosslerParams",
    "Lorenz96Params",
    # systems
    "HarmonicOscillator",
    "DampedDrivenOscillator",
    "DuffingOscillator",
    "Pendulum",
    "DoublePendulum",
    "Kepler",
    "Lorenz63",
    "Rossler",
    "Lorenz96",
    # pure functions
    "harmonic_rhs",
    "harmonic_jacobian",
    "harmonic_solution",
    "harmonic_energy",
    "damped_driven_rhs",
    "damped_driven_jacobian",
    "damped_driven_solution",
    "duffing_rhs",
    "duffing_jacobian",
    "duffing_energy",
    "pendulum_rhs",
    "pendulum_jacobian",
    "pendulum_solution",
    "pendulum_energy",
    "double_pendulum_rhs",
    "double_pendulum_jacobian",
    "double_pendulum_energy",
    "double_pendulum_normal_mode_frequencies",
    "kepler_rhs",
    "kepler_jacobian",
    "kepler_invariants",
    "kepler_orbit_state",
    "lorenz63_rhs",
    "lorenz63_jacobian",
    "rossler_rhs",
    "rossler_jacobian",
    "lorenz96_rhs",
    "lorenz96_jacobian",
    "LORENZ63_LYAPUNOV",
    "ROSSLER_LYAPUNOV",
    "LORENZ96_LYAPUNOV_J40_F8",
]

#: Largest Lyapunov exponent of Lorenz-63 at sigma=10, rho=28, beta=8/3 (Sprott 2003).
LORENZ63_LYAPUNOV = 0.9056
#: Largest Lyapunov exponent of Rossler at a=b=0.2, c=5.7 (Sprott 2003).
ROSSLER_LYAPUNOV = 0.0714
#: Largest Lyapunov exponent of Lorenz-96 with J=40, F=8 (Vlachas et al. 2020).
LORENZ96_LYAPUNOV_J40_F8 = 1.68

_TWO_PI = 2.0 * math.pi


# ================================================================================ validation
def _real(system: str, params: Any, name: str, what: str) -> float:
    """``params.name`` as a float; raise if it is not a finite real number."""
    value = getattr(params, name)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SystemDefinitionError(f"{system}: {what} {name} must be a real number, got "
                                    f"{value!r} ({type(value).__name__})")
    out = float(value)
    if not math.isfinite(out):
        raise SystemDefinitionError(f"{system}: {what} {name} must be finite, got {value!r}")
    return out


def _positive(system: str, params: Any, name: str, what: str) -> None:
    value = _real(system, params, name, what)
    if not value > 0:
        raise SystemDefinitionError(f"{system}: {what} {name} must be > 0, got {value!r}")


def _nonnegative(system: str, params: Any, name: str, what: str) -> None:
    value = _real(system, params, name, what)
    if value < 0:
        raise SystemDefinitionError(f"{system}: {what} {name} must be >= 0, got {value!r}")


def _is_default(params: Any) -> bool:
    """Whether every field of ``params`` equals its dataclass default."""
    default = type(params)()
    return all(getattr(params, f.name) == getattr(default, f.name) for f in fields(params))


def _check_y0(system: str, y0: np.ndarray, n_state: int) -> np.ndarray:
    y0 = np.asarray(y0, dtype=float)
    if y0.shape != (n_state,):
        raise ValueError(f"{system}: y0 must have shape ({n_state},), got {y0.shape}")
    return y0


def _check_t(t: np.ndarray) -> np.ndarray:
    t = np.asarray(t, dtype=float)
    if t.ndim != 1:
        raise ValueError(f"t must have shape (n_t,), got {t.shape}")
    return t


# ============================================================================ harmonic
@dataclass(frozen=True)
class HarmonicParams:
    """Harmonic oscillator ``x'' = -omega^2 x``.

    Attributes:
        omega: angular frequency (rad/s), > 0.
    """

    omega: float = 1.0


def harmonic_rhs(t: float, y: np.ndarray, params: HarmonicParams) -> np.ndarray:
    """``d/dt (x, v) = (v, -omega^2 x)``; ``y`` is ``(2,)`` or ``(2, k)``; x in m, v in m/s."""
    return np.array([y[1], -params.omega**2 * y[0]])


def harmonic_jacobian(t: float, y: np.ndarray, params: HarmonicParams) -> np.ndarray:
    """``[[0, 1], [-omega^2, 0]]``, shape ``(2, 2)``."""
    return np.array([[0.0, 1.0], [-params.omega**2, 0.0]])


def harmonic_solution(t: np.ndarray, y0: np.ndarray, params: HarmonicParams) -> np.ndarray:
    """Closed form ``x = x0 cos(w tau) + (v0/w) sin(w tau)``, ``tau = t - t[0]``.

    Args:
        t: ``(n_t,)`` times (s); ``y0 = (x0, v0)`` is the state at ``t[0]``.

    Returns:
        ``(n_t, 2)`` array of ``(x, v)``.
    """
    t = _check_t(t)
    x0, v0 = _check_y0("harmonic", y0, 2)
    if t.size == 0:
        return np.empty((0, 2))
    w = params.omega
    tau = t - t[0]
    c, s = np.cos(w * tau), np.sin(w * tau)
    return np.stack([x0 * c + v0 / w * s, -x0 * w * s + v0 * c], axis=-1)


def harmonic_energy(y: np.ndarray, params: HarmonicParams) -> np.ndarray:
    """Energy per unit mass ``v^2/2 + omega^2 x^2/2`` (J/kg) of states ``(..., 2)`` -> ``(...)``."""
    y = np.asarray(y)
    return 0.5 * y[..., 1] ** 2 + 0.5 * params.omega**2 * y[..., 0] ** 2


@register
class HarmonicOscillator(DynamicalSystem):
    """Harmonic oscillator ``x'' = -omega^2 x``; state ``(x, v)`` in (m, m/s), time in s.

    Closed form (:meth:`solution`) and conserved energy per unit mass
    ``E = v^2/2 + omega^2 x^2/2`` (J/kg). Landau and Lifshitz, *Mechanics*, section 21.
    """

    name = "harmonic"
    kind = "ode"
    Params = HarmonicParams

    def validate(self) -> None:
        _positive(self.name, self.params, "omega", "angular frequency")

    def info(self) -> SystemInfo:
        return SystemInfo(
            state_names=("x", "v"),
            state_units=("m", "m/s"),
            time_unit="s",
            time_scale=_TWO_PI / self.params.omega,
            time_scale_name="period",
            invariants=("energy",),
            has_solution=True,
            reference="Harmonic oscillator; L. D. Landau and E. M. Lifshitz, Mechanics, 3rd ed. "
                      "(Pergamon, 1976), section 21.",
            default_dt=0.01,
        )

    def initial_condition(self, rng: np.random.Generator) -> np.ndarray:
        """``x ~ N(0, 1)`` m and ``v ~ N(0, omega^2)`` m/s (amplitude of order 1 m)."""
        return np.array([rng.normal(), self.params.omega * rng.normal()])

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        return harmonic_rhs(t, y, self.params)

    def jacobian(self, t: float, y: np.ndarray) -> np.ndarray:
        return harmonic_jacobian(t, y, self.params)

    def solution(self, t: np.ndarray, y0: np.ndarray) -> np.ndarray:
        return harmonic_solution(t, y0, self.params)

    def invariants(self, y: np.ndarray) -> dict[str, np.ndarray]:
        return {"energy": harmonic_energy(y, self.params)}


# ======================================================================== damped driven
@dataclass(frozen=True)
class DampedDrivenParams:
    """Damped driven oscillator ``x'' + 2 gamma x' + omega0^2 x = F cos(Omega t)``.

    Attributes:
        omega0: natural angular frequency (rad/s), > 0.
        gamma: damping rate (1/s), >= 0 (amplitude decays as ``exp(-gamma t)``).
        F: drive amplitude per unit mass (m/s^2).
        Omega: drive angular frequency (rad/s), >= 0.
    """

    omega0: float = 1.0
    gamma: float = 0.1
    F: float = 0.5
    Omega: float = 0.8


def damped_driven_rhs(t: float, y: np.ndarray, params: DampedDrivenParams) -> np.ndarray:
    """``d/dt (x, v) = (v, F cos(Omega t) - 2 gamma v - omega0^2 x)``; ``y`` ``(2,)``/``(2, k)``."""
    p = params
    return np.array([y[1], p.F * np.cos(p.Omega * t) - 2.0 * p.gamma * y[1] - p.omega0**2 * y[0]])


def damped_driven_jacobian(t: float, y: np.ndarray, params: DampedDrivenParams) -> np.ndarray:
    """``[[0, 1], [-omega0^2, -2 gamma]]``, shape ``(2, 2)``."""
    return np.array([[0.0, 1.0], [-params.omega0**2, -2.0 * params.gamma]])


def damped_driven_solution(
    t: np.ndarray, y0: np.ndarray, params: DampedDrivenParams
) -> np.ndarray:
    """Closed form: homogeneous + steady-state particular solution.

    Particular: ``x_p = A cos(Omega t) + B sin(Omega t)`` with
    ``A = F (omega0^2 - Omega^2) / D``, ``B = 2 gamma Omega F / D``,
    ``D = (omega0^2 - Omega^2)^2 + (2 gamma Omega)^2``. Homogeneous, ``tau = t - t[0]``:
    underdamped (``gamma < omega0``) ``exp(-gamma tau) (c cos(wd tau) + s sin(wd tau))`` with
    ``wd = sqrt(omega0^2 - gamma^2)``; critically damped ``exp(-gamma tau) (c + s tau)``;
    overdamped ``c1 exp(r1 tau) + c2 exp(r2 tau)``, ``r = -gamma +- sqrt(gamma^2 - omega0^2)``;
    the constants match ``y0`` at ``t[0]``.

    Args:
        t: ``(n_t,)`` absolute times (s); the drive phase is ``Omega t``.
        y0: ``(x, v)`` at ``t[0]`` (m, m/s).

    Returns:
        ``(n_t, 2)`` array of ``(x, v)``.
    """
    t = _check_t(t)
    x0, v0 = _check_y0("damped_driven", y0, 2)
    if t.size == 0:
        return np.empty((0, 2))
    p = params
    w0, g, Om = p.omega0, p.gamma, p.Omega
    D = (w0**2 - Om**2) ** 2 + (2.0 * g * Om) ** 2
    A = p.F * (w0**2 - Om**2) / D
    B = p.F * 2.0 * g * Om / D

    def particular(tt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, s = np.cos(Om * tt), np.sin(Om * tt)
        return A * c + B * s, Om * (-A * s + B * c)

    xp0, vp0 = particular(t[:1])
    c0 = x0 - xp0[0]  # homogeneous part at t[0]
    d0 = v0 - vp0[0]
    tau = t - t[0]
    if g < w0:
        wd = math.sqrt(w0**2 - g**2)
        s0 = (d0 + g * c0) / wd
        e = np.exp(-g * tau)
        co, si = np.cos(wd * tau), np.sin(wd * tau)
        xh = e * (c0 * co + s0 * si)
        vh = e * ((wd * s0 - g * c0) * co - (g * s0 + wd * c0) * si)
    elif g == w0:
        s0 = d0 + g * c0
        e = np.exp(-g * tau)
        xh = e * (c0 + s0 * tau)
        vh = e * (s0 - g * (c0 + s0 * tau))
    else:
        q = math.sqrt(g**2 - w0**2)
        r1, r2 = -g + q, -g - q
        c1 = (d0 - r2 * c0) / (r1 - r2)
        c2 = c0 - c1
        e1, e2 = np.exp(r1 * tau), np.exp(r2 * tau)
        xh = c1 * e1 + c2 * e2
        vh = r1 * c1 * e1 + r2 * c2 * e2
    xp, vp = particular(t)
    return np.stack([xh + xp, vh + vp], axis=-1)


@register
class DampedDrivenOscillator(DynamicalSystem):
    """Damped driven oscillator ``x'' + 2 gamma x' + omega0^2 x = F cos(Omega t)``.

    State ``(x, v)`` in (m, m/s), time in s (non-autonomous: the drive uses absolute time).
    Closed form for every damping regime (:func:`damped_driven_solution`). No conserved
    quantity unless ``gamma = F = 0`` (then the energy ``v^2/2 + omega0^2 x^2/2``).
    Landau and Lifshitz, *Mechanics*, sections 22, 25 and 26.

    The default transient is 0: the recorded grid of :func:`physrnn.data.simulate` restarts at
    ``t = 0`` after a transient, which would shift the drive phase.
    """

    name = "damped_driven"
    kind = "ode"
    Params = DampedDrivenParams

    def validate(self) -> None:
        s, p = self.name, self.params
        _positive(s, p, "omega0", "natural angular frequency")
        _nonnegative(s, p, "gamma", "damping rate")
        _real(s, p, "F", "drive amplitude")
        _nonnegative(s, p, "Omega", "drive angular frequency")

    def _conservative(self) -> bool:
        return self.params.gamma == 0 and self.params.F == 0

    def info(self) -> SystemInfo:
        p = self.params
        if p.Omega > 0:
            scale, scale_name = _TWO_PI / p.Omega, "drive period"
        else:
            scale, scale_name = _TWO_PI / p.omega0, "natural period"
        return SystemInfo(
            state_names=("x", "v"),
            state_units=("m", "m/s"),
            time_unit="s",
            time_scale=scale,
            time_scale_name=scale_name,
            invariants=("energy",) if self._conservative() else (),
            has_solution=True,
            reference="Damped driven harmonic oscillator; L. D. Landau and E. M. Lifshitz, "
                      "Mechanics, 3rd ed. (Pergamon, 1976), sections 22, 25, 26.",
            default_dt=0.01,
            default_transient=0.0,
        )

    def initial_condition(self, rng: np.random.Generator) -> np.ndarray:
        """``x ~ N(0, 1)`` m and ``v ~ N(0, omega0^2)`` m/s."""
        return np.array([rng.normal(), self.params.omega0 * rng.normal()])

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        return damped_driven_rhs(t, y, self.params)

    def jacobian(self, t: float, y: np.ndarray) -> np.ndarray:
        return damped_driven_jacobian(t, y, self.params)

    def solution(self, t: np.ndarray, y0: np.ndarray) -> np.ndarray:
        return damped_driven_solution(t, y0, self.params)

    def invariants(self, y: np.ndarray) -> dict[str, np.ndarray]:
        if not self._conservative():
            return {}
        return {"energy": harmonic_energy(y, HarmonicParams(omega=self.params.omega0))}


# ============================================================================== duffing
@dataclass(frozen=True)
class DuffingParams:
    """Duffing oscillator ``x'' + delta x' + alpha x + beta x^3 = gamma cos(omega t)``.

    Defaults are the driven double well (alpha = -1, beta = 1) in its chaotic regime
    (delta = 0.3, gamma = 0.5, omega = 1.2). Dimensionless.

    Attributes:
        delta: damping, >= 0.
        alpha: linear stiffness (negative: double well).
        beta: cubic stiffness.
        gamma: drive amplitude.
        omega: drive angular frequency, >= 0.
    """

    delta: float = 0.3
    alpha: float = -1.0
    beta: float = 1.0
    gamma: float = 0.5
    omega: float = 1.2


def duffing_rhs(t: float, y: np.ndarray, params: DuffingParams) -> np.ndarray:
    """``d/dt (x, v) = (v, gamma cos(omega t) - delta v - alpha x - beta x^3)``."""
    p = params
    x, v = y[0], y[1]
    return np.array([v, p.gamma * np.cos(p.omega * t) - p.delta * v - p.alpha * x - p.beta * x**3])


def duffing_jacobian(t: float, y: np.ndarray, params: DuffingParams) -> np.ndarray:
    """``[[0, 1], [-alpha - 3 beta x^2, -delta]]``, shape ``(2, 2)``."""
    p = params
    return np.array([[0.0, 1.0], [-p.alpha - 3.0 * p.beta * y[0] ** 2, -p.delta]])


def duffing_energy(y: np.ndarray, params: DuffingParams) -> np.ndarray:
    """``v^2/2 + alpha x^2/2 + beta x^4/4`` of states ``(..., 2)`` -> ``(...)``.

    Conserved only when ``delta = gamma = 0``.
    """
    y = np.asarray(y)
    x, v = y[..., 0], y[..., 1]
    return 0.5 * v**2 + 0.5 * params.alpha * x**2 + 0.25 * params.beta * x**4


@register
class DuffingOscillator(DynamicalSystem):
    """Duffing oscillator ``x'' + delta x' + alpha x + beta x^3 = gamma cos(omega t)``.

    State ``(x, v)``, dimensionless, non-autonomous (drive in absolute time). The energy
    ``v^2/2 + alpha x^2/2 + beta x^4/4`` is an invariant when ``delta = gamma = 0``
    (:meth:`energy` is available for any parameters). The default parameters give the chaotic
    driven double well (a Benettin estimate over 2000 time units gives a largest exponent of
    about 0.10; not a literature value, so ``info()`` leaves it ``None``). Default transient 0
    for the
    same drive-phase reason as :class:`DampedDrivenOscillator`.

    G. Duffing, *Erzwungene Schwingungen bei veranderlicher Eigenfrequenz* (Vieweg, 1918);
    J. Guckenheimer and P. Holmes, *Nonlinear Oscillations, Dynamical Systems, and Bifurcations
    of Vector Fields* (Springer, 1983), section 2.2.
    """

    name = "duffing"
    kind = "ode"
    Params = DuffingParams

    def validate(self) -> None:
        s, p = self.name, self.params
        _nonnegative(s, p, "delta", "damping")
        _real(s, p, "alpha", "linear stiffness")
        _real(s, p, "beta", "cubic stiffness")
        _real(s, p, "gamma", "drive amplitude")
        _nonnegative(s, p, "omega", "drive angular frequency")

    def _conservative(self) -> bool:
        return self.params.delta == 0 and self.params.gamma == 0

    def info(self) -> SystemInfo:
        p = self.params
        if p.omega > 0 and p.gamma != 0:
            scale, scale_name = _TWO_PI / p.omega, "drive period"
        elif p.alpha > 0:
            scale, scale_name = _TWO_PI / math.sqrt(p.alpha), "small-oscillation period"
        elif p.alpha < 0 and p.beta > 0:
            scale, scale_name = _TWO_PI / math.sqrt(-2.0 * p.alpha), \
                "small-oscillation period in a well"
        else:
            scale, scale_name = 1.0, "time unit"
        return SystemInfo(
            state_names=("x", "v"),
            state_units=("1", "1"),
            time_unit="1",
            time_scale=scale,
            time_scale_name=scale_name,
            invariants=("energy",) if self._conservative() else (),
            reference="G. Duffing, Erzwungene Schwingungen bei veraenderlicher Eigenfrequenz "
                      "(Vieweg, 1918); J. Guckenheimer and P. Holmes, Nonlinear Oscillations, "
                      "Dynamical Systems, and Bifurcations of Vector Fields (Springer, 1983), "
                      "section 2.2.",
            default_dt=0.01,
            default_transient=100.0,
        )

    def initial_condition(self, rng: np.random.Generator) -> np.ndarray:
        """``x, v ~ U(-1.5, 1.5)`` (covers both wells of the default double well)."""
        return rng.uniform(-1.5, 1.5, size=2)

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        return duffing_rhs(t, y, self.params)

    def jacobian(self, t: float, y: np.ndarray) -> np.ndarray:
        return duffing_jacobian(t, y, self.params)

    def energy(self, y: np.ndarray) -> np.ndarray:
        """Energy ``(...)`` of states ``(..., 2)`` whatever the parameters."""
        return duffing_energy(y, self.params)

    def invariants(self, y: np.ndarray) -> dict[str, np.ndarray]:
        return {"energy": duffing_energy(y, self.params)} if self._conservative() else {}


# ============================================================================= pendulum
@dataclass(frozen=True)
class PendulumParams:
    """Simple pendulum ``theta'' = -(g/L) sin(theta)``.

    Attributes:
        g: gravitational acceleration (m/s^2), > 0.
        L: length (m), > 0.
    """

    g: float = 9.81
    L: float = 1.0


def pendulum_rhs(t: float, y: np.ndarray, params: PendulumParams) -> np.ndarray:
    """``d/dt (theta, omega) = (omega, -(g/L) sin(theta))``; rad and rad/s."""
    return np.array([y[1], -(params.g / params.L) * np.sin(y[0])])


def pendulum_jacobian(t: float, y: np.ndarray, params: PendulumParams) -> np.ndarray:
    """``[[0, 1], [-(g/L) cos(theta), 0]]``, shape ``(2, 2)``."""
    return np.array([[0.0, 1.0], [-(params.g / params.L) * math.cos(y[0]), 0.0]])


def pendulum_energy(y: np.ndarray, params: PendulumParams) -> np.ndarray:
    """Energy per unit mass ``L^2 omega^2 / 2 - g L cos(theta)`` (J/kg).

    States ``(..., 2)`` -> ``(...)``.
    """
    y = np.asarray(y)
    return 0.5 * params.L**2 * y[..., 1] ** 2 - params.g * params.L * np.cos(y[..., 0])


def pendulum_solution(t: np.ndarray, y0: np.ndarray, params: PendulumParams) -> np.ndarray:
    """Exact motion through Jacobi elliptic functions (any amplitude).

    With ``w = sqrt(g/L)`` and ``k^2 = sin^2(theta0/2) + (omega0 / (2 w))^2``:

    * libration (``k < 1``): ``sin(theta/2) = k sn(u0 + w tau | k^2)``,
      ``omega = 2 k w cn(u0 + w tau | k^2)``;
    * rotation (``k > 1``): ``theta/2 = am(u0 + s k w tau | 1/k^2)``,
      ``omega = 2 s k w dn(u0 + s k w tau | 1/k^2)``, ``s = sign(omega0)``;

    ``tau = t - t[0]`` and ``u0`` fixed by ``y0``. The multiple of ``2 pi`` in ``theta0`` is
    kept. Accurate to ~1e-10 away from the separatrix ``k = 1`` (where the period diverges).

    Args:
        t: ``(n_t,)`` times (s); ``y0 = (theta0, omega0)`` (rad, rad/s) at ``t[0]``.

    Returns:
        ``(n_t, 2)`` array of ``(theta, omega)``.
    """
    t = _check_t(t)
    theta0, om0 = _check_y0("pendulum", y0, 2)
    if t.size == 0:
        return np.empty((0, 2))
    w = math.sqrt(params.g / params.L)
    tau = t - t[0]
    turns = math.floor((theta0 + math.pi) / _TWO_PI)
    th = theta0 - _TWO_PI * turns  # in [-pi, pi)
    offset = _TWO_PI * turns
    k2 = math.sin(0.5 * th) ** 2 + (om0 / (2.0 * w)) ** 2
    if k2 == 0.0 or (om0 == 0.0 and math.cos(th) == -1.0):  # resting at an equilibrium
        return np.tile([theta0, om0], (t.size, 1)).astype(float)
    if k2 < 1.0:
        # (theta, omega) -> (-theta, -omega) is a symmetry: solve with omega0 >= 0.
        sign = -1.0 if om0 < 0 else 1.0
        th_s = sign * th
        k = math.sqrt(k2)
        phi0 = math.asin(min(1.0, max(-1.0, math.sin(0.5 * th_s) / k)))
        u0 = ellipkinc(phi0, k2)
        sn, cn, _, _ = ellipj(u0 + w * tau, k2)
        theta = sign * 2.0 * np.arcsin(np.clip(k * sn, -1.0, 1.0))
        omega = sign * 2.0 * k * w * cn
    else:
        k = math.sqrt(k2)
        m = 1.0 / k2
        s = 1.0 if om0 > 0 else -1.0
        u0 = ellipkinc(0.5 * th, m)
        _, _, dn, ph = ellipj(u0 + s * k * w * tau, m)
        theta = 2.0 * ph
        omega = 2.0 * s * k * w * dn
    return np.stack([theta + offset, omega], axis=-1)


@register
class Pendulum(DynamicalSystem):
    """Simple pendulum ``theta'' = -(g/L) sin(theta)``; state ``(theta, omega)`` (rad, rad/s).

    Exact solution through Jacobi elliptic functions (:func:`pendulum_solution`); conserved
    energy per unit mass ``L^2 omega^2 / 2 - g L cos(theta)`` (J/kg). Landau and Lifshitz,
    *Mechanics*, section 11, problem 1.
    """

    name = "pendulum"
    kind = "ode"
    Params = PendulumParams

    def validate(self) -> None:
        _positive(self.name, self.params, "g", "gravitational acceleration")
        _positive(self.name, self.params, "L", "length")

    def info(self) -> SystemInfo:
        return SystemInfo(
            state_names=("theta", "omega"),
            state_units=("rad", "rad/s"),
            time_unit="s",
            time_scale=_TWO_PI * math.sqrt(self.params.L / self.params.g),
            time_scale_name="small-oscillation period",
            invariants=("energy",),
            has_solution=True,
            reference="Simple pendulum; L. D. Landau and E. M. Lifshitz, Mechanics, 3rd ed. "
                      "(Pergamon, 1976), section 11, problem 1 (elliptic-integral period).",
            default_dt=0.01,
        )

    def initial_condition(self, rng: np.random.Generator) -> np.ndarray:
        """``theta ~ U(-pi/2, pi/2)`` rad, ``omega ~ N(0, (0.5 sqrt(g/L))^2)`` rad/s (mostly
        libration, occasionally rotation)."""
        w = math.sqrt(self.params.g / self.params.L)
        return np.array([rng.uniform(-0.5 * math.pi, 0.5 * math.pi), 0.5 * w * rng.normal()])

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        return pendulum_rhs(t, y, self.params)

    def jacobian(self, t: float, y: np.ndarray) -> np.ndarray:
        return pendulum_jacobian(t, y, self.params)

    def solution(self, t: np.ndarray, y0: np.ndarray) -> np.ndarray:
        return pendulum_solution(t, y0, self.params)

    def invariants(self, y: np.ndarray) -> dict[str, np.ndarray]:
        return {"energy": pendulum_energy(y, self.params)}


# ====================================================================== double pendulum
@dataclass(frozen=True)
class DoublePendulumParams:
    """Planar double pendulum of point masses on massless rods.

    Attributes:
        m1, m2: masses (kg), > 0 (``m1`` hangs from the pivot, ``m2`` from ``m1``).
        L1, L2: rod lengths (m), > 0.
        g: gravitational acceleration (m/s^2), > 0.
    """

    m1: float = 1.0
    m2: float = 1.0
    L1: float = 1.0
    L2: float = 1.0
    g: float = 9.81


def double_pendulum_rhs(t: float, y: np.ndarray, params: DoublePendulumParams) -> np.ndarray:
    """Equations of motion from the Lagrangian (angles from the downward vertical).

    With ``d = theta1 - theta2``, ``M = m1 + m2`` and ``den = 2 m1 + m2 - m2 cos(2 d)``::

        theta1'' = [-g (2 m1 + m2) sin th1 - m2 g sin(th1 - 2 th2)
                    - 2 m2 sin(d) (w2^2 L2 + w1^2 L1 cos d)] / (L1 den)
        theta2'' = 2 sin(d) [w1^2 L1 M + g M cos th1 + w2^2 L2 m2 cos d] / (L2 den)

    Args:
        y: ``(theta1, theta2, omega1, omega2)`` (rad, rad/s), shape ``(4,)`` or ``(4, k)``.
    """
    p = params
    th1, th2, w1, w2 = y[0], y[1], y[2], y[3]
    d = th1 - th2
    sd, cd = np.sin(d), np.cos(d)
    M = p.m1 + p.m2
    den = 2.0 * p.m1 + p.m2 - p.m2 * np.cos(2.0 * d)
    n1 = (-p.g * (2.0 * p.m1 + p.m2) * np.sin(th1) - p.m2 * p.g * np.sin(th1 - 2.0 * th2)
          - 2.0 * p.m2 * sd * (w2**2 * p.L2 + w1**2 * p.L1 * cd))
    n2 = 2.0 * sd * (w1**2 * p.L1 * M + p.g * M * np.cos(th1) + w2**2 * p.L2 * p.m2 * cd)
    return np.array([w1, w2, n1 / (p.L1 * den), n2 / (p.L2 * den)])


def double_pendulum_jacobian(
    t: float, y: np.ndarray, params: DoublePendulumParams
) -> np.ndarray:
    """Analytic Jacobian of :func:`double_pendulum_rhs`, shape ``(4, 4)``."""
    p = params
    th1, th2, w1, w2 = (float(v) for v in y)
    d = th1 - th2
    sd, cd = math.sin(d), math.cos(d)
    M = p.m1 + p.m2
    den = 2.0 * p.m1 + p.m2 - p.m2 * math.cos(2.0 * d)
    dden = 2.0 * p.m2 * math.sin(2.0 * d)  # d den / d theta1 = - d den / d theta2
    n1 = (-p.g * (2.0 * p.m1 + p.m2) * math.sin(th1) - p.m2 * p.g * math.sin(th1 - 2.0 * th2)
          - 2.0 * p.m2 * sd * (w2**2 * p.L2 + w1**2 * p.L1 * cd))
    bracket = w2**2 * p.L2 * cd + w1**2 * p.L1 * math.cos(2.0 * d)
    c12 = math.cos(th1 - 2.0 * th2)
    dn1 = np.array([
        -p.g * (2.0 * p.m1 + p.m2) * math.cos(th1) - p.m2 * p.g * c12 - 2.0 * p.m2 * bracket,
        2.0 * p.m2 * p.g * c12 + 2.0 * p.m2 * bracket,
        -4.0 * p.m2 * sd * w1 * p.L1 * cd,
        -4.0 * p.m2 * sd * w2 * p.L2,
    ])
    inner = w1**2 * p.L1 * M + p.g * M * math.cos(th1) + w2**2 * p.L2 * p.m2 * cd
    n2 = 2.0 * sd * inner
    dn2 = np.array([
        2.0 * cd * inner + 2.0 * sd * (-p.g * M * math.sin(th1) - w2**2 * p.L2 * p.m2 * sd),
        -2.0 * cd * inner + 2.0 * sd * (w2**2 * p.L2 * p.m2 * sd),
        4.0 * sd * w1 * p.L1 * M,
        4.0 * sd * w2 * p.L2 * p.m2 * cd,
    ])
    dden_vec = np.array([dden, -dden, 0.0, 0.0])
    jac = np.zeros((4, 4))
    jac[0, 2] = 1.0
    jac[1, 3] = 1.0
    jac[2] = (dn1 * den - n1 * dden_vec) / (p.L1 * den**2)
    jac[3] = (dn2 * den - n2 * dden_vec) / (p.L2 * den**2)
    return jac


def double_pendulum_energy(y: np.ndarray, params: DoublePendulumParams) -> np.ndarray:
    """Total energy (J) ``T + V`` of states ``(..., 4)`` -> ``(...)``::

        T = m1 L1^2 w1^2 / 2 + m2 (L1^2 w1^2 + L2^2 w2^2 + 2 L1 L2 w1 w2 cos(th1 - th2)) / 2
        V = -(m1 + m2) g L1 cos th1 - m2 g L2 cos th2
    """
    p = params
    y = np.asarray(y)
    th1, th2, w1, w2 = y[..., 0], y[..., 1], y[..., 2], y[..., 3]
    T = (0.5 * p.m1 * p.L1**2 * w1**2
         + 0.5 * p.m2 * (p.L1**2 * w1**2 + p.L2**2 * w2**2
                         + 2.0 * p.L1 * p.L2 * w1 * w2 * np.cos(th1 - th2)))
    V = -(p.m1 + p.m2) * p.g * p.L1 * np.cos(th1) - p.m2 * p.g * p.L2 * np.cos(th2)
    return T + V


def double_pendulum_normal_mode_frequencies(params: DoublePendulumParams) -> tuple[float, float]:
    """Angular frequencies (rad/s) ``(slow, fast)`` of the small oscillations.

    Roots of ``det(K - w^2 A) = 0`` with mass matrix
    ``A = [[M L1^2, m2 L1 L2], [m2 L1 L2, m2 L2^2]]`` and stiffness
    ``K = diag(M g L1, m2 g L2)``, ``M = m1 + m2``.
    """
    p = params
    M = p.m1 + p.m2
    a11, a12, a22 = M * p.L1**2, p.m2 * p.L1 * p.L2, p.m2 * p.L2**2
    k11, k22 = M * p.g * p.L1, p.m2 * p.g * p.L2
    qa = a11 * a22 - a12**2
    qb = a11 * k22 + a22 * k11
    qc = k11 * k22
    disc = math.sqrt(qb**2 - 4.0 * qa * qc)
    return math.sqrt((qb - disc) / (2.0 * qa)), math.sqrt((qb + disc) / (2.0 * qa))


@register
class DoublePendulum(DynamicalSystem):
    """Planar double pendulum; state ``(theta1, theta2, omega1, omega2)`` (rad, rad/s), time s.

    Angles from the downward vertical, ``theta2`` absolute (not relative to rod 1). Conserved
    total energy (J, :func:`double_pendulum_energy`). Regular at low energy, chaotic at high
    energy (released from rest at large angles); the Lyapunov exponent depends on the energy
    and is not tabulated. Landau and Lifshitz, *Mechanics*, section 5, problem 1; T. Shinbrot
    et al., Am. J. Phys. 60, 491 (1992).
    """

    name = "double_pendulum"
    kind = "ode"
    Params = DoublePendulumParams

    def validate(self) -> None:
        s, p = self.name, self.params
        _positive(s, p, "m1", "mass")
        _positive(s, p, "m2", "mass")
        _positive(s, p, "L1", "length")
        _positive(s, p, "L2", "length")
        _positive(s, p, "g", "gravitational acceleration")

    def info(self) -> SystemInfo:
        slow, _ = double_pendulum_normal_mode_frequencies(self.params)
        return SystemInfo(
            state_names=("theta1", "theta2", "omega1", "omega2"),
            state_units=("rad", "rad", "rad/s", "rad/s"),
            time_unit="s",
            time_scale=_TWO_PI / slow,
            time_scale_name="period of the slow small-oscillation normal mode",
            invariants=("energy",),
            reference="Double pendulum; L. D. Landau and E. M. Lifshitz, Mechanics, 3rd ed. "
                      "(Pergamon, 1976), section 5, problem 1; T. Shinbrot, C. Grebogi, J. "
                      "Wisdom and J. A. Yorke, Am. J. Phys. 60, 491 (1992).",
            default_dt=0.01,
        )

    def initial_condition(self, rng: np.random.Generator) -> np.ndarray:
        """Released from rest with ``|theta_i| ~ U(pi/2, pi)``, random signs (chaotic regime)."""
        mag = rng.uniform(0.5 * math.pi, math.pi, size=2)
        sign = rng.choice([-1.0, 1.0], size=2)
        return np.array([mag[0] * sign[0], mag[1] * sign[1], 0.0, 0.0])

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        return double_pendulum_rhs(t, y, self.params)

    def jacobian(self, t: float, y: np.ndarray) -> np.ndarray:
        return double_pendulum_jacobian(t, y, self.params)

    def invariants(self, y: np.ndarray) -> dict[str, np.ndarray]:
        return {"energy": double_pendulum_energy(y, self.params)}


# =============================================================================== kepler
@dataclass(frozen=True)
class KeplerParams:
    """Planar Kepler problem in relative coordinates, ``r'' = -GM r / |r|^3``.

    Attributes:
        GM: gravitational parameter ``G (m1 + m2)`` (length^3 / time^2), > 0. With ``GM = 1``
            an orbit of semi-major axis 1 has period ``2 pi``.
    """

    GM: float = 1.0


def kepler_rhs(t: float, y: np.ndarray, params: KeplerParams) -> np.ndarray:
    """``d/dt (x, y, vx, vy) = (vx, vy, -GM x / r^3, -GM y / r^3)``; ``(4,)`` or ``(4, k)``."""
    x, yy, vx, vy = y[0], y[1], y[2], y[3]
    r2 = x * x + yy * yy
    f = -params.GM / (r2 * np.sqrt(r2))
    return np.array([vx, vy, f * x, f * yy])


def kepler_jacobian(t: float, y: np.ndarray, params: KeplerParams) -> np.ndarray:
    """Shape ``(4, 4)``; the acceleration block is ``GM (3 r r^T / r^5 - I / r^3)``."""
    pos = np.array([float(y[0]), float(y[1])])
    r2 = float(pos @ pos)
    r = math.sqrt(r2)
    jac = np.zeros((4, 4))
    jac[0, 2] = jac[1, 3] = 1.0
    jac[2:, :2] = params.GM * (3.0 * np.outer(pos, pos) / (r2 * r2 * r) - np.eye(2) / (r2 * r))
    return jac


def kepler_invariants(y: np.ndarray, params: KeplerParams) -> dict[str, np.ndarray]:
    """Conserved quantities per unit reduced mass of states ``(..., 4)``, each ``(...)``.

    ``energy = |v|^2/2 - GM/r``; ``angular_momentum = x vy - y vx``; Laplace-Runge-Lenz vector
    ``A = v x L - GM r/|r|``, i.e. ``runge_lenz_x = vy L - GM x/r`` and
    ``runge_lenz_y = -vx L - GM y/r`` (points to the pericentre, ``|A| = GM e``).
    """
    y = np.asarray(y)
    x, yy, vx, vy = y[..., 0], y[..., 1], y[..., 2], y[..., 3]
    r = np.sqrt(x * x + yy * yy)
    L = x * vy - yy * vx
    return {
        "energy": 0.5 * (vx * vx + vy * vy) - params.GM / r,
        "angular_momentum": L,
        "runge_lenz_x": vy * L - params.GM * x / r,
        "runge_lenz_y": -vx * L - params.GM * yy / r,
    }


def kepler_orbit_state(
    a: float,
    e: float,
    params: KeplerParams,
    *,
    true_anomaly: float = 0.0,
    periapsis_angle: float = 0.0,
    clockwise: bool = False,
) -> np.ndarray:
    """State ``(x, y, vx, vy)`` on the bound orbit with semi-major axis ``a`` and eccentricity e.

    ``r = p / (1 + e cos nu)``, ``v = sqrt(GM / p) (-sin nu, e + cos nu)`` in the perifocal
    frame (``p = a (1 - e^2)``), rotated by ``periapsis_angle``; ``true_anomaly = 0`` is the
    pericentre. The period is ``2 pi sqrt(a^3 / GM)``.
    """
    if not (a > 0 and 0 <= e < 1):
        raise ValueError(f"a bound orbit needs a > 0 and 0 <= e < 1, got a={a}, e={e}")
    p = a * (1.0 - e * e)
    r = p / (1.0 + e * math.cos(true_anomaly))
    pos = np.array([r * math.cos(true_anomaly), r * math.sin(true_anomaly)])
    vel = math.sqrt(params.GM / p) * np.array([-math.sin(true_anomaly),
                                               e + math.cos(true_anomaly)])
    if clockwise:
        pos[1], vel[1] = -pos[1], -vel[1]
    c, s = math.cos(periapsis_angle), math.sin(periapsis_angle)
    rot = np.array([[c, -s], [s, c]])
    return np.concatenate([rot @ pos, rot @ vel])


@register
class Kepler(DynamicalSystem):
    """Planar two-body problem in reduced form; state ``(x, y, vx, vy)``.

    ``r'' = -GM r / |r|^3`` for the relative coordinate. Units are any consistent set in which
    ``GM`` has the given value (with ``GM = 1`` an orbit of semi-major axis 1 has period
    ``2 pi``). Invariants per unit reduced mass: energy, angular momentum and the two components
    of the Laplace-Runge-Lenz vector. Landau and Lifshitz, *Mechanics*, section 15.
    """

    name = "kepler"
    kind = "ode"
    Params = KeplerParams

    def validate(self) -> None:
        _positive(self.name, self.params, "GM", "gravitational parameter")

    def info(self) -> SystemInfo:
        return SystemInfo(
            state_names=("x", "y", "vx", "vy"),
            state_units=("1", "1", "1", "1"),
            time_unit="1",
            time_scale=_TWO_PI / math.sqrt(self.params.GM),
            time_scale_name="orbital period at semi-major axis 1",
            invariants=("energy", "angular_momentum", "runge_lenz_x", "runge_lenz_y"),
            reference="Kepler problem; L. D. Landau and E. M. Lifshitz, Mechanics, 3rd ed. "
                      "(Pergamon, 1976), section 15.",
            default_dt=0.01,
        )

    def initial_condition(self, rng: np.random.Generator) -> np.ndarray:
        """A bound orbit with ``a = 1``, ``e ~ U(0, 0.6)``, random phase, orientation, sense."""
        return kepler_orbit_state(
            1.0, rng.uniform(0.0, 0.6), self.params,
            true_anomaly=rng.uniform(0.0, _TWO_PI), periapsis_angle=rng.uniform(0.0, _TWO_PI),
            clockwise=bool(rng.integers(2)))

    def orbit_state(self, a: float, e: float, **kwargs: Any) -> np.ndarray:
        """See :func:`kepler_orbit_state`."""
        return kepler_orbit_state(a, e, self.params, **kwargs)

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        return kepler_rhs(t, y, self.params)

    def jacobian(self, t: float, y: np.ndarray) -> np.ndarray:
        return kepler_jacobian(t, y, self.params)

    def invariants(self, y: np.ndarray) -> dict[str, np.ndarray]:
        return kepler_invariants(y, self.params)


# ============================================================================ lorenz63
@dataclass(frozen=True)
class Lorenz63Params:
    """Lorenz (1963) convection model; defaults are Lorenz's chaotic values.

    Attributes:
        sigma: Prandtl number, > 0.
        rho: reduced Rayleigh number.
        beta: geometric factor, > 0.
    """

    sigma: float = 10.0
    rho: float = 28.0
    beta: float = 8.0 / 3.0


def lorenz63_rhs(t: float, y: np.ndarray, params: Lorenz63Params) -> np.ndarray:
    """``(sigma (y - x), x (rho - z) - y, x y - beta z)``; ``y`` is ``(3,)`` or ``(3, k)``."""
    p = params
    x, yy, z = y[0], y[1], y[2]
    return np.array([p.sigma * (yy - x), x * (p.rho - z) - yy, x * yy - p.beta * z])


def lorenz63_jacobian(t: float, y: np.ndarray, params: Lorenz63Params) -> np.ndarray:
    """``[[-sigma, sigma, 0], [rho - z, -1, -x], [y, x, -beta]]``, shape ``(3, 3)``."""
    p = params
    x, yy, z = float(y[0]), float(y[1]), float(y[2])
    return np.array([[-p.sigma, p.sigma, 0.0], [p.rho - z, -1.0, -x], [yy, x, -p.beta]])


@register
class Lorenz63(DynamicalSystem):
    """Lorenz-63 ``x' = sigma (y - x)``, ``y' = x (rho - z) - y``, ``z' = x y - beta z``.

    Dimensionless state ``(x, y, z)``. At the standard parameters the largest Lyapunov exponent
    is 0.9056 (Sprott 2003) and the time scale is the Lyapunov time ``1/0.9056 = 1.104``; the
    house forecasting protocol samples every 0.01 from DOP853 at rtol = atol = 1e-10.
    E. N. Lorenz, J. Atmos. Sci. 20, 130 (1963).
    """

    name = "lorenz63"
    kind = "ode"
    Params = Lorenz63Params

    def validate(self) -> None:
        s, p = self.name, self.params
        _positive(s, p, "sigma", "Prandtl number")
        _real(s, p, "rho", "Rayleigh number ratio")
        _positive(s, p, "beta", "geometric factor")

    def info(self) -> SystemInfo:
        lyap = LORENZ63_LYAPUNOV if _is_default(self.params) else None
        return SystemInfo(
            state_names=("x", "y", "z"),
            state_units=("1", "1", "1"),
            time_unit="1",
            time_scale=1.0 / lyap if lyap else 1.0,
            time_scale_name="Lyapunov time" if lyap else "time unit",
            lyapunov_exponent=lyap,
            reference="E. N. Lorenz, J. Atmos. Sci. 20, 130 (1963); largest Lyapunov exponent "
                      "0.9056 at sigma=10, rho=28, beta=8/3 from J. C. Sprott, Chaos and "
                      "Time-Series Analysis (Oxford University Press, 2003).",
            default_dt=0.01,
            default_transient=50.0,
            default_method="DOP853",
            default_rtol=1e-10,
            default_atol=1e-10,
        )

    def initial_condition(self, rng: np.random.Generator) -> np.ndarray:
        """Gaussian around ``(0, 0, rho - 1)`` with the spread of the wings ``sqrt(beta(rho-1))``
        (about the attractor's extent at the standard parameters); apply the transient."""
        p = self.params
        spread = math.sqrt(p.beta * abs(p.rho - 1.0)) or 1.0
        return np.array([0.0, 0.0, p.rho - 1.0]) + spread * rng.normal(size=3)

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        return lorenz63_rhs(t, y, self.params)

    def jacobian(self, t: float, y: np.ndarray) -> np.ndarray:
        return lorenz63_jacobian(t, y, self.params)


# ============================================================================== rossler
@dataclass(frozen=True)
class RosslerParams:
    """Rossler (1976) flow; defaults are the standard chaotic values a = b = 0.2, c = 5.7."""

    a: float = 0.2
    b: float = 0.2
    c: float = 5.7


def rossler_rhs(t: float, y: np.ndarray, params: RosslerParams) -> np.ndarray:
    """``(-y - z, x + a y, b + z (x - c))``; ``y`` is ``(3,)`` or ``(3, k)``."""
    p = params
    x, yy, z = y[0], y[1], y[2]
    return np.array([-yy - z, x + p.a * yy, p.b + z * (x - p.c)])


def rossler_jacobian(t: float, y: np.ndarray, params: RosslerParams) -> np.ndarray:
    """``[[0, -1, -1], [1, a, 0], [z, 0, x - c]]``, shape ``(3, 3)``."""
    p = params
    x, z = float(y[0]), float(y[2])
    return np.array([[0.0, -1.0, -1.0], [1.0, p.a, 0.0], [z, 0.0, x - p.c]])


@register
class Rossler(DynamicalSystem):
    """Rossler ``x' = -y - z``, ``y' = x + a y``, ``z' = b + z (x - c)``; dimensionless.

    Largest Lyapunov exponent 0.0714 at a = b = 0.2, c = 5.7 (Sprott 2003), so the Lyapunov
    time is 14.0 (about 2.4 turns of the ~5.9-long rotation). Not every initial state is in the
    basin of the attractor; :meth:`initial_condition` draws from an annulus that is.
    O. E. Rossler, Phys. Lett. A 57, 397 (1976).
    """

    name = "rossler"
    kind = "ode"
    Params = RosslerParams

    def validate(self) -> None:
        s, p = self.name, self.params
        _real(s, p, "a", "parameter")
        _real(s, p, "b", "parameter")
        _real(s, p, "c", "parameter")

    def info(self) -> SystemInfo:
        lyap = ROSSLER_LYAPUNOV if _is_default(self.params) else None
        return SystemInfo(
            state_names=("x", "y", "z"),
            state_units=("1", "1", "1"),
            time_unit="1",
            time_scale=1.0 / lyap if lyap else 1.0,
            time_scale_name="Lyapunov time" if lyap else "time unit",
            lyapunov_exponent=lyap,
            reference="O. E. Rossler, Phys. Lett. A 57, 397 (1976); largest Lyapunov exponent "
                      "0.0714 at a=b=0.2, c=5.7 from J. C. Sprott, Chaos and Time-Series "
                      "Analysis (Oxford University Press, 2003).",
            default_dt=0.05,
            default_transient=100.0,
        )

    def initial_condition(self, rng: np.random.Generator) -> np.ndarray:
        """``(x, y)`` uniform in angle on the annulus ``3 <= r <= 9``, ``z ~ U(0, 0.5)``."""
        phi = rng.uniform(0.0, _TWO_PI)
        r = rng.uniform(3.0, 9.0)
        return np.array([r * math.cos(phi), r * math.sin(phi), rng.uniform(0.0, 0.5)])

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        return rossler_rhs(t, y, self.params)

    def jacobian(self, t: float, y: np.ndarray) -> np.ndarray:
        return rossler_jacobian(t, y, self.params)


# ============================================================================= lorenz96
@dataclass(frozen=True)
class Lorenz96Params:
    """Lorenz (1996) model on a ring of ``J`` sites with forcing ``F``.

    Attributes:
        J: number of sites, an integer >= 4.
        F: constant forcing.
    """

    J: int = 40
    F: float = 8.0


def lorenz96_rhs(t: float, y: np.ndarray, params: Lorenz96Params) -> np.ndarray:
    """``dx_i/dt = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F`` with periodic ``i``.

    ``y`` is ``(J,)`` or ``(J, k)``; returns the same shape.
    """
    y = np.asarray(y)
    pad = np.concatenate([y[-2:], y, y[:1]], axis=0)  # pad[i + 2] = x_i
    return (pad[3:] - pad[:-3]) * pad[1:-2] - y + params.F


def lorenz96_jacobian(t: float, y: np.ndarray, params: Lorenz96Params) -> np.ndarray:
    """Shape ``(J, J)``: ``d f_i/d x_{i+1} = x_{i-1}``, ``d f_i/d x_{i-2} = -x_{i-1}``,
    ``d f_i/d x_{i-1} = x_{i+1} - x_{i-2}``, ``d f_i/d x_i = -1`` (indices mod J)."""
    x = np.asarray(y, dtype=float)
    n = x.shape[0]
    i = np.arange(n)
    ip1, im1, im2 = (i + 1) % n, (i - 1) % n, (i - 2) % n
    jac = -np.eye(n)
    jac[i, ip1] = x[im1]
    jac[i, im2] = -x[im1]
    jac[i, im1] = x[ip1] - x[im2]
    return jac


@register
class Lorenz96(DynamicalSystem):
    """Lorenz-96 ``dx_i/dt = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F`` on a ring of J sites.

    Dimensionless state ``(x0, ..., x{J-1})``. ``J >= 4`` (with fewer sites the neighbours
    ``i+1``, ``i-1``, ``i-2`` are not distinct). ``x_i = F`` for all ``i`` is a fixed point.
    Largest Lyapunov exponent 1.68 for J = 40, F = 8 (Vlachas et al. 2020); not tabulated for
    other parameters. E. N. Lorenz, *Predictability: a problem partly solved*, Proc. ECMWF
    Seminar on Predictability (1996).
    """

    name = "lorenz96"
    kind = "ode"
    Params = Lorenz96Params

    def validate(self) -> None:
        J = self.params.J
        if isinstance(J, bool) or not isinstance(J, numbers.Integral):
            raise SystemDefinitionError(
                f"{self.name}: number of sites J must be an integer >= 4, got {J!r} "
                f"({type(J).__name__})")
        if J < 4:
            raise SystemDefinitionError(
                f"{self.name}: number of sites J must be >= 4, got J={J}: the coupling "
                f"(x[i+1] - x[i-2]) x[i-1] needs the neighbours i+1, i-1, i-2 to be distinct "
                f"sites on the ring")
        _real(self.name, self.params, "F", "forcing")

    def info(self) -> SystemInfo:
        p = self.params
        lyap = LORENZ96_LYAPUNOV_J40_F8 if (p.J == 40 and p.F == 8) else None
        J = int(p.J)
        return SystemInfo(
            state_names=tuple(f"x{i}" for i in range(J)),
            state_units=("1",) * J,
            time_unit="1",
            time_scale=1.0 / lyap if lyap else 1.0,
            time_scale_name="Lyapunov time" if lyap else "time unit",
            lyapunov_exponent=lyap,
            reference="E. N. Lorenz, Predictability: a problem partly solved, Proc. ECMWF "
                      "Seminar on Predictability (1996); largest Lyapunov exponent 1.68 for "
                      "J=40, F=8 from P. R. Vlachas et al., Neural Networks 126, 191 (2020).",
            default_dt=0.01,
            default_transient=20.0,
        )

    def initial_condition(self, rng: np.random.Generator) -> np.ndarray:
        """``x_i ~ N(0.3 F, (0.45 F)^2)`` independently (about the one-site statistics of the
        attractor at F = 8: mean 2.3, standard deviation 3.6); apply the transient."""
        F = float(self.params.F)
        scale = 0.45 * abs(F) or 1.0
        return 0.3 * F + scale * rng.normal(size=int(self.params.J))

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        return lorenz96_rhs(t, y, self.params)

    def jacobian(self, t: float, y: np.ndarray) -> np.ndarray:
        return lorenz96_jacobian(t, y, self.params)
