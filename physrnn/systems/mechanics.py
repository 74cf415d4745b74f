"""Mechanical systems (kind ``"ode"``): the pendulum, the double pendulum and the Kepler problem.

Each system is a frozen parameter dataclass, a pure right-hand side ``f(t, y, params)`` with its
Jacobian, and a registered :class:`~physrnn.systems.base.DynamicalSystem` subclass (registry
names ``pendulum``, ``double_pendulum``, ``kepler``). The conventions for shapes, closed forms,
invariants and energies are those of :mod:`physrnn.systems.dynamics`, which re-exports every
public name of this module. The parameter and array checks are those of
:mod:`physrnn.systems.checks`.

Reference: L. D. Landau and E. M. Lifshitz, *Mechanics*, 3rd ed. (Pergamon, 1976).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ellipj, ellipkinc

from physrnn.systems.base import DynamicalSystem, SystemInfo, register
from physrnn.systems.checks import TWO_PI, check_t, check_y0, positive_param

__all__ = [
    "PendulumParams",
    "DoublePendulumParams",
    "KeplerParams",
    "Pendulum",
    "DoublePendulum",
    "Kepler",
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
]


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
    t = check_t(t)
    theta0, om0 = check_y0("pendulum", y0, 2)
    if t.size == 0:
        return np.empty((0, 2))
    w = math.sqrt(params.g / params.L)
    tau = t - t[0]
    turns = math.floor((theta0 + math.pi) / TWO_PI)
    th = theta0 - TWO_PI * turns  # in [-pi, pi)
    offset = TWO_PI * turns
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
        positive_param(self.name, self.params, "g", "gravitational acceleration")
        positive_param(self.name, self.params, "L", "length")

    def info(self) -> SystemInfo:
        return SystemInfo(
            state_names=("theta", "omega"),
            state_units=("rad", "rad/s"),
            time_unit="s",
            time_scale=TWO_PI * math.sqrt(self.params.L / self.params.g),
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
        positive_param(s, p, "m1", "mass")
        positive_param(s, p, "m2", "mass")
        positive_param(s, p, "L1", "length")
        positive_param(s, p, "L2", "length")
        positive_param(s, p, "g", "gravitational acceleration")

    def info(self) -> SystemInfo:
        slow, _ = double_pendulum_normal_mode_frequencies(self.params)
        return SystemInfo(
            state_names=("theta1", "theta2", "omega1", "omega2"),
            state_units=("rad", "rad", "rad/s", "rad/s"),
            time_unit="s",
            time_scale=TWO_PI / slow,
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
        positive_param(self.name, self.params, "GM", "gravitational parameter")

    def info(self) -> SystemInfo:
        return SystemInfo(
            state_names=("x", "y", "vx", "vy"),
            state_units=("1", "1", "1", "1"),
            time_unit="1",
            time_scale=TWO_PI / math.sqrt(self.params.GM),
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
            true_anomaly=rng.uniform(0.0, TWO_PI), periapsis_angle=rng.uniform(0.0, TWO_PI),
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
