"""The Duffing oscillator (kind ``"ode"``): a driven, damped oscillator with a cubic force.

``x'' + delta x' + alpha x + beta x^3 = gamma cos(omega t)``; the defaults are the driven double
well in its chaotic regime. A frozen parameter dataclass, a pure right-hand side with its
Jacobian, the energy, and the registered :class:`~physrnn.systems.base.DynamicalSystem`
(registry name ``duffing``). The conventions for shapes, invariants and energies are those of
:mod:`physrnn.systems.dynamics`, which re-exports every public name of this module.

References: G. Duffing, *Erzwungene Schwingungen bei veranderlicher Eigenfrequenz* (Vieweg,
1918); J. Guckenheimer and P. Holmes, *Nonlinear Oscillations, Dynamical Systems, and
Bifurcations of Vector Fields* (Springer, 1983), section 2.2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from physrnn.systems.base import DynamicalSystem, SystemInfo, register
from physrnn.systems.checks import TWO_PI, nonnegative_param, real_param

__all__ = ["DuffingParams", "DuffingOscillator", "duffing_rhs", "duffing_jacobian",
           "duffing_energy"]


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
    same drive-phase reason as :class:`~physrnn.systems.dynamics.DampedDrivenOscillator`.

    G. Duffing, *Erzwungene Schwingungen bei veranderlicher Eigenfrequenz* (Vieweg, 1918);
    J. Guckenheimer and P. Holmes, *Nonlinear Oscillations, Dynamical Systems, and Bifurcations
    of Vector Fields* (Springer, 1983), section 2.2.
    """

    name = "duffing"
    kind = "ode"
    Params = DuffingParams

    def validate(self) -> None:
        s, p = self.name, self.params
        nonnegative_param(s, p, "delta", "damping")
        real_param(s, p, "alpha", "linear stiffness")
        real_param(s, p, "beta", "cubic stiffness")
        real_param(s, p, "gamma", "drive amplitude")
        nonnegative_param(s, p, "omega", "drive angular frequency")

    def _conservative(self) -> bool:
        return self.params.delta == 0 and self.params.gamma == 0

    def info(self) -> SystemInfo:
        p = self.params
        if p.omega > 0 and p.gamma != 0:
            scale, scale_name = TWO_PI / p.omega, "drive period"
        elif p.alpha > 0:
            scale, scale_name = TWO_PI / math.sqrt(p.alpha), "small-oscillation period"
        elif p.alpha < 0 and p.beta > 0:
            scale, scale_name = TWO_PI / math.sqrt(-2.0 * p.alpha), \
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
