"""Classical deterministic systems (kind ``"ode"``): oscillators, pendula, Kepler, chaotic flows.

This module defines the linear oscillators (harmonic, damped driven), both with closed forms.
The nonlinear Duffing oscillator lives in :mod:`physrnn.systems.duffing`, the pendula and the
Kepler problem in :mod:`physrnn.systems.mechanics`, the chaotic flows (Lorenz-63, Rossler,
Lorenz-96) in :mod:`physrnn.systems.chaos`; every public name of the three is re-exported here,
so ``from physrnn.systems.dynamics import ...`` covers all nine systems. The parameter and
array checks are those of :mod:`physrnn.systems.checks`.

Every system is three things:

* a frozen parameter dataclass (``Lorenz63Params`` ...) whose defaults are the standard values;
* a module-level **pure** right-hand side ``f(t, y, params) -> dy/dt`` (``lorenz63_rhs`` ...)
  and, for all nine systems, its Jacobian ``f_jacobian(t, y, params) -> (n_state, n_state)``
  (used for Lyapunov exponents and by implicit integrators);
* a registered :class:`~physrnn.systems.base.DynamicalSystem` subclass whose ``rhs`` and
  ``jacobian`` delegate to those functions and which adds the metadata (:meth:`info`), random
  initial states, parameter validation, closed forms and conserved quantities.

Registry names: ``harmonic``, ``damped_driven``, ``duffing``, ``pendulum``, ``double_pendulum``,
``kepler``, ``lorenz63``, ``rossler``, ``lorenz96``.

Conventions shared by every function below and in the three modules above:

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
from dataclasses import dataclass

import numpy as np

from physrnn.systems.base import DynamicalSystem, SystemInfo, register
from physrnn.systems.chaos import (
    LORENZ63_LYAPUNOV,
    LORENZ96_LYAPUNOV_J40_F8,
    ROSSLER_LYAPUNOV,
    Lorenz63,
    Lorenz63Params,
    Lorenz96,
    Lorenz96Params,
    Rossler,
    RosslerParams,
    lorenz63_jacobian,
    lorenz63_rhs,
    lorenz63_rhs_kernel,
    lorenz96_jacobian,
    lorenz96_rhs,
    lorenz96_rhs_kernel,
    rossler_jacobian,
    rossler_rhs,
    rossler_rhs_kernel,
)
from physrnn.systems.checks import (
    TWO_PI,
    check_t,
    check_y0,
    nonnegative_param,
    positive_param,
    real_param,
)
from physrnn.systems.duffing import (
    DuffingOscillator,
    DuffingParams,
    duffing_energy,
    duffing_jacobian,
    duffing_rhs,
)
from physrnn.systems.mechanics import (
    DoublePendulum,
    DoublePendulumParams,
    Kepler,
    KeplerParams,
    Pendulum,
    PendulumParams,
    double_pendulum_energy,
    double_pendulum_jacobian,
    double_pendulum_normal_mode_frequencies,
    double_pendulum_rhs,
    kepler_invariants,
    kepler_jacobian,
    kepler_orbit_state,
    kepler_rhs,
    pendulum_energy,
    pendulum_jacobian,
    pendulum_rhs,
    pendulum_solution,
)

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
    "lorenz63_rhs_kernel",
    "lorenz96_rhs_kernel",
    "rossler_rhs_kernel",
    "lorenz63_jacobian",
    "rossler_rhs",
    "rossler_jacobian",
    "lorenz96_rhs",
    "lorenz96_jacobian",
    "LORENZ63_LYAPUNOV",
    "ROSSLER_LYAPUNOV",
    "LORENZ96_LYAPUNOV_J40_F8",
]


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
    t = check_t(t)
    x0, v0 = check_y0("harmonic", y0, 2)
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
        positive_param(self.name, self.params, "omega", "angular frequency")

    def info(self) -> SystemInfo:
        return SystemInfo(
            state_names=("x", "v"),
            state_units=("m", "m/s"),
            time_unit="s",
            time_scale=TWO_PI / self.params.omega,
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
    t = check_t(t)
    x0, v0 = check_y0("damped_driven", y0, 2)
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
        positive_param(s, p, "omega0", "natural angular frequency")
        nonnegative_param(s, p, "gamma", "damping rate")
        real_param(s, p, "F", "drive amplitude")
        nonnegative_param(s, p, "Omega", "drive angular frequency")

    def _conservative(self) -> bool:
        return self.params.gamma == 0 and self.params.F == 0

    def info(self) -> SystemInfo:
        p = self.params
        if p.Omega > 0:
            scale, scale_name = TWO_PI / p.Omega, "drive period"
        else:
            scale, scale_name = TWO_PI / p.omega0, "natural period"
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
