"""Chaotic flows (kind ``"ode"``): Lorenz-63, Rossler and Lorenz-96.

Each system is a frozen parameter dataclass, a pure right-hand side ``f(t, y, params)`` with its
Jacobian (used for Lyapunov exponents) and the same right-hand side as a compilable kernel
``f(t, y, p, dy)`` (``rhs_kernel``, for the ensemble integrator of
:mod:`physrnn.data.ensemble`), and a registered
:class:`~physrnn.systems.base.DynamicalSystem` subclass (registry names ``lorenz63``,
``rossler``, ``lorenz96``). The conventions for shapes are those of
:mod:`physrnn.systems.dynamics`, which re-exports every public name of this module.

References: J. C. Sprott, *Chaos and Time-Series Analysis* (Oxford University Press, 2003) for
the Lyapunov exponents of Lorenz-63 and Rossler; P. R. Vlachas et al., Neural Networks 126, 191
(2020) for Lorenz-96.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from physrnn.errors import SystemDefinitionError
from physrnn.systems.base import DynamicalSystem, SystemInfo, register
from physrnn.systems.checks import TWO_PI, positive_param, real_param

__all__ = [
    "Lorenz63Params",
    "RosslerParams",
    "Lorenz96Params",
    "Lorenz63",
    "Rossler",
    "Lorenz96",
    "lorenz63_rhs",
    "lorenz63_jacobian",
    "rossler_rhs",
    "rossler_jacobian",
    "lorenz96_rhs",
    "lorenz96_jacobian",
    "lorenz63_rhs_kernel",
    "rossler_rhs_kernel",
    "lorenz96_rhs_kernel",
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


def _is_default(params: Any) -> bool:
    """Whether every field of ``params`` equals its dataclass default."""
    default = type(params)()
    return all(getattr(params, f.name) == getattr(default, f.name) for f in fields(params))


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


def lorenz63_rhs_kernel(t: float, y: np.ndarray, p: np.ndarray, dy: np.ndarray) -> None:
    """:func:`lorenz63_rhs` of one state ``y`` ``(3,)`` written into ``dy`` ``(3,)``, with
    ``p = (sigma, rho, beta)``; plain loops for compilation (the ensemble integrator)."""
    dy[0] = p[0] * (y[1] - y[0])
    dy[1] = y[0] * (p[1] - y[2]) - y[1]
    dy[2] = y[0] * y[1] - p[2] * y[2]


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
        positive_param(s, p, "sigma", "Prandtl number")
        real_param(s, p, "rho", "Rayleigh number ratio")
        positive_param(s, p, "beta", "geometric factor")

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

    def rhs_kernel(self) -> tuple[Any, np.ndarray]:
        """``(lorenz63_rhs_kernel, [sigma, rho, beta])`` for :mod:`physrnn.data.ensemble`."""
        p = self.params
        return lorenz63_rhs_kernel, np.array([p.sigma, p.rho, p.beta], dtype=np.float64)


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


def rossler_rhs_kernel(t: float, y: np.ndarray, p: np.ndarray, dy: np.ndarray) -> None:
    """:func:`rossler_rhs` of one state ``y`` ``(3,)`` written into ``dy``, ``p = (a, b, c)``;
    plain loops for compilation (the ensemble integrator)."""
    dy[0] = -y[1] - y[2]
    dy[1] = y[0] + p[0] * y[1]
    dy[2] = p[1] + y[2] * (y[0] - p[2])


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
        real_param(s, p, "a", "parameter")
        real_param(s, p, "b", "parameter")
        real_param(s, p, "c", "parameter")

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
        phi = rng.uniform(0.0, TWO_PI)
        r = rng.uniform(3.0, 9.0)
        return np.array([r * math.cos(phi), r * math.sin(phi), rng.uniform(0.0, 0.5)])

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        return rossler_rhs(t, y, self.params)

    def jacobian(self, t: float, y: np.ndarray) -> np.ndarray:
        return rossler_jacobian(t, y, self.params)

    def rhs_kernel(self) -> tuple[Any, np.ndarray]:
        """``(rossler_rhs_kernel, [a, b, c])`` for :mod:`physrnn.data.ensemble`."""
        p = self.params
        return rossler_rhs_kernel, np.array([p.a, p.b, p.c], dtype=np.float64)


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


def lorenz96_rhs_kernel(t: float, y: np.ndarray, p: np.ndarray, dy: np.ndarray) -> None:
    """:func:`lorenz96_rhs` of one state ``y`` ``(J,)`` written into ``dy`` ``(J,)``, with
    ``p = (F,)``; the same arithmetic in plain loops, for compilation (ensemble integrator)."""
    n = y.shape[0]
    for i in range(n):
        dy[i] = (y[(i + 1) % n] - y[i - 2]) * y[i - 1] - y[i] + p[0]


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
        real_param(self.name, self.params, "F", "forcing")

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

    def rhs_kernel(self) -> tuple[Any, np.ndarray]:
        """``(lorenz96_rhs_kernel, [F])`` for :mod:`physrnn.data.ensemble`."""
        return lorenz96_rhs_kernel, np.array([float(self.params.F)], dtype=np.float64)
