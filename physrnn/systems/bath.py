"""A heavy particle coupled to a hidden bath of harmonic oscillators (Caldeira-Leggett/Zwanzig).

The registered system ``"heavy_particle_bath"`` (kind ``"ode"``) is the classical Hamiltonian

    H = P^2 / (2 M) + U(X)
        + sum_j [ p_j^2 / (2 m) + m w_j^2 / 2 (x_j - c_j X / (m w_j^2))^2 ],   j = 1 .. n_bath

with a **harmonic** ``U(X) = k X^2 / 2`` or a **double-well** ``U(X) = V0 ((X / x0)^2 - 1)^2``
potential. The counter-term inside the square keeps ``U`` the effective potential of the particle
(Zwanzig, J. Stat. Phys. 9, 215 (1973); Caldeira and Leggett, Ann. Phys. 149, 374 (1983);
Zwanzig, *Nonequilibrium Statistical Mechanics*, OUP 2001, ch. 1). Eliminating the bath gives
the generalised Langevin equation

    M X'' = -U'(X) - int_0^t K(t - s) X'(s) ds + xi(t),    K(t) = sum_j c_j^2/(m w_j^2) cos(w_j t),

whose noise ``xi`` is set by the bath's initial state. Only ``(X, P)`` is observed
(:meth:`HeavyParticleBath.observe`), so the observed dynamics are **non-Markovian**: a forecaster
of ``(X, P)`` needs memory of the past to infer the hidden bath. That is what this system tests.

**Bath discretisation.** Ohmic spectral density with exponential cutoff,
``J(w) = (pi/2) sum_j c_j^2 / (m w_j) delta(w - w_j) ~ eta w exp(-w / w_c)``, ``eta = M gamma``,
discretised as in Craig and Manolopoulos, J. Chem. Phys. 122, 084106 (2005):

    w_j = -w_c ln((j - 1/2) / n_bath),    c_j = w_j sqrt(2 eta m w_c / (pi n_bath)).

Every mode carries the same reorganisation ``c_j^2 / (m w_j^2) = 2 eta w_c / (pi n_bath)``, so
``K(0) = 2 eta w_c / pi`` exactly, as in the continuum, where
``K(t) = (2 eta / pi) w_c / (1 + (w_c t)^2)``. For ``w_c`` large against the particle's
frequencies the friction becomes Markovian, ``-eta X' = -M gamma X'`` (damping rate ``gamma``).
A finite bath recurs: the memory kernel is faithful only for ``t`` well below
``2 pi / min_j |w_j - w_{j+1}|`` (about ``2 pi n_bath / w_c`` at the low end of the spectrum).
The bath mass ``m`` only rescales the bath coordinates; ``X(t)`` does not depend on it.

**Initial conditions** (:meth:`HeavyParticleBath.initial_condition`), all classical Boltzmann
at temperature ``kT`` (energy units): ``P ~ N(0, M kT)``; ``X ~ N(0, kT / k)`` (harmonic) or from
``exp(-U(X) / kT)`` by inverse-CDF sampling on a grid (double well); the bath in equilibrium with
the particle held at ``X``: ``x_j ~ N(c_j X / (m w_j^2), kT / (m w_j^2))``, ``p_j ~ N(0, m kT)``
(:func:`thermal_bath`). With this bath ``<xi(t) xi(s)> = kT K(t - s)`` (fluctuation-dissipation).

State ``(X, P, x_1 .. x_n, p_1 .. p_n)``, all in the system's units (mass ``M``'s unit, ``k``'s
unit, time ``1``); conserved: total energy ``H``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from physrnn.errors import SystemDefinitionError
from physrnn.systems.base import DynamicalSystem, SystemInfo, register

__all__ = [
    "BathParams",
    "HeavyParticleBath",
    "bath_modes",
    "f",
    "energy",
    "jacobian",
    "potential",
    "thermal_bath",
    "memory_kernel",
]

_POTENTIALS = ("harmonic", "double_well")


@dataclass(frozen=True)
class BathParams:
    """Parameters of :class:`HeavyParticleBath` (system units).

    Attributes:
        M: mass of the heavy particle.
        potential: ``"harmonic"`` (``U = k X^2 / 2``) or ``"double_well"``
            (``U = V0 ((X / x0)^2 - 1)^2``).
        k: spring constant of the harmonic potential (``w_0 = sqrt(k / M)``).
        V0: barrier height of the double well.
        x0: position of the double-well minima ``+-x0``.
        n_bath: number of bath oscillators.
        m: mass of each bath oscillator (does not change ``X(t)``).
        gamma: damping rate; the Ohmic friction coefficient is ``eta = M gamma``. ``0`` decouples.
        omega_c: cutoff frequency of the Ohmic spectral density.
        kT: temperature (energy units) of the thermal initial conditions; must be ``> 0``.
    """

    M: float = 10.0
    potential: str = "harmonic"
    k: float = 10.0
    V0: float = 1.0
    x0: float = 1.0
    n_bath: int = 20
    m: float = 1.0
    gamma: float = 0.2
    omega_c: float = 2.0
    kT: float = 1.0


@lru_cache(maxsize=64)
def bath_modes(params: BathParams) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies ``w_j`` and couplings ``c_j``, each ``(n_bath,)`` (module docstring)."""
    n = int(params.n_bath)
    j = np.arange(1, n + 1, dtype=float)
    w = -float(params.omega_c) * np.log((j - 0.5) / n)
    eta = float(params.M) * float(params.gamma)
    c = w * math.sqrt(2.0 * eta * float(params.m) * float(params.omega_c) / (math.pi * n))
    w.setflags(write=False)
    c.setflags(write=False)
    return w, c


def potential(X: np.ndarray, params: BathParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``U(X)``, ``U'(X)``, ``U''(X)`` of the particle's potential (same shape as ``X``)."""
    X = np.asarray(X, dtype=float)
    if params.potential == "harmonic":
        k = float(params.k)
        return 0.5 * k * X**2, k * X, np.full_like(X, k)
    V0, x0 = float(params.V0), float(params.x0)
    u = (X / x0) ** 2 - 1.0
    return V0 * u**2, 4.0 * V0 * u * X / x0**2, 4.0 * V0 * (3.0 * X**2 / x0**2 - 1.0) / x0**2


def f(t: float, y: np.ndarray, params: BathParams) -> np.ndarray:
    """Hamilton's equations ``dy/dt`` for states ``y`` of shape ``(..., 2 + 2 n_bath)``.

    ``X' = P/M``, ``P' = -U'(X) + sum_j c_j (x_j - c_j X / (m w_j^2))``, ``x_j' = p_j / m``,
    ``p_j' = -m w_j^2 x_j + c_j X``. Pure, vectorised over leading axes, ``t`` unused.
    """
    y = np.asarray(y, dtype=float)
    n = int(params.n_bath)
    w, c = bath_modes(params)
    M, m = float(params.M), float(params.m)
    X, P = y[..., 0], y[..., 1]
    x, p = y[..., 2:2 + n], y[..., 2 + n:]
    _, dU, _ = potential(X, params)
    out = np.empty_like(y)
    out[..., 0] = P / M
    out[..., 1] = -dU + x @ c - X * np.sum(c**2 / (m * w**2))
    out[..., 2:2 + n] = p / m
    out[..., 2 + n:] = -m * w**2 * x + c * X[..., None]
    return out


def energy(y: np.ndarray, params: BathParams) -> np.ndarray:
    """Total energy ``H`` of states ``(..., 2 + 2 n_bath)``; shape ``(...)``."""
    y = np.asarray(y, dtype=float)
    n = int(params.n_bath)
    w, c = bath_modes(params)
    M, m = float(params.M), float(params.m)
    X, P = y[..., 0], y[..., 1]
    x, p = y[..., 2:2 + n], y[..., 2 + n:]
    U, _, _ = potential(X, params)
    shift = c / (m * w**2)
    bath = np.sum(p**2 / (2.0 * m) + 0.5 * m * w**2 * (x - shift * X[..., None]) ** 2, axis=-1)
    return P**2 / (2.0 * M) + U + bath


def jacobian(t: float, y: np.ndarray, params: BathParams) -> np.ndarray:
    """Jacobian ``d f / d y`` ``(n_state, n_state)`` at one state ``y`` ``(n_state,)``."""
    y = np.asarray(y, dtype=float)
    n = int(params.n_bath)
    w, c = bath_modes(params)
    M, m = float(params.M), float(params.m)
    _, _, d2U = potential(y[0], params)
    Jm = np.zeros((2 + 2 * n, 2 + 2 * n))
    ix, ip = np.arange(2, 2 + n), np.arange(2 + n, 2 + 2 * n)
    Jm[0, 1] = 1.0 / M
    Jm[1, 0] = -float(d2U) - np.sum(c**2 / (m * w**2))
    Jm[1, ix] = c
    Jm[ix, ip] = 1.0 / m
    Jm[ip, ix] = -m * w**2
    Jm[ip, 0] = c
    return Jm


def thermal_bath(X: float, params: BathParams, rng: np.random.Generator) -> np.ndarray:
    """Bath ``(x_1 .. x_n, p_1 .. p_n)``, shape ``(2 n_bath,)``, drawn at ``kT`` around ``X``.

    ``x_j ~ N(c_j X / (m w_j^2), kT / (m w_j^2))``, ``p_j ~ N(0, m kT)``: the bath's canonical
    distribution with the particle held at ``X``.
    """
    w, c = bath_modes(params)
    m, kT = float(params.m), float(params.kT)
    x = c * float(X) / (m * w**2) + rng.standard_normal(w.size) * np.sqrt(kT / (m * w**2))
    p = rng.standard_normal(w.size) * math.sqrt(m * kT)
    return np.concatenate([x, p])


def memory_kernel(t: np.ndarray, params: BathParams, *, continuum: bool = False) -> np.ndarray:
    """Friction kernel ``K(t)`` (shape of ``t``) of the discrete bath, or of its continuum limit.

    Discrete: ``sum_j c_j^2 / (m w_j^2) cos(w_j t)``; continuum (Ohmic, exponential cutoff):
    ``(2 eta / pi) w_c / (1 + (w_c t)^2)``.
    """
    t = np.asarray(t, dtype=float)
    if continuum:
        eta, wc = float(params.M) * float(params.gamma), float(params.omega_c)
        return 2.0 * eta / math.pi * wc / (1.0 + (wc * t) ** 2)
    w, c = bath_modes(params)
    return np.cos(t[..., None] * w) @ (c**2 / (float(params.m) * w**2))


@register
class HeavyParticleBath(DynamicalSystem):
    """Heavy particle + hidden harmonic bath; observes ``(X, P)`` only (module docstring).

    Example::

        sys = get_system("heavy_particle_bath", n_bath=20, gamma=0.2, omega_c=2.0)
        sim = simulate(sys, n_traj=16, t_final=100.0)      # sim.y: (16, n_t, 2) = (X, P)
    """

    name = "heavy_particle_bath"
    kind = "ode"
    Params = BathParams

    def validate(self) -> None:
        p = self.params
        if p.potential not in _POTENTIALS:
            raise SystemDefinitionError(f"heavy_particle_bath: potential must be one of "
                                        f"{_POTENTIALS}, got {p.potential!r}")
        if isinstance(p.n_bath, bool) or not isinstance(p.n_bath, int | np.integer) \
                or p.n_bath < 1:
            raise SystemDefinitionError(f"heavy_particle_bath: n_bath must be an integer >= 1, "
                                        f"got {p.n_bath!r}")
        for key in ("M", "m", "omega_c", "kT", "V0", "x0"):
            v = float(getattr(p, key))
            if not (v > 0 and math.isfinite(v)):
                raise SystemDefinitionError(f"heavy_particle_bath: {key} must be > 0, got {v}")
        for key in ("k", "gamma"):
            v = float(getattr(p, key))
            if not (v >= 0 and math.isfinite(v)):
                raise SystemDefinitionError(f"heavy_particle_bath: {key} must be >= 0, got {v}")
        if p.potential == "harmonic" and float(p.k) == 0.0:
            raise SystemDefinitionError("heavy_particle_bath: harmonic potential needs k > 0 "
                                        "(a free particle has no thermal position distribution)")

    def info(self) -> SystemInfo:
        p = self.params
        n = int(p.n_bath)
        names = ("X", "P") + tuple(f"x_{j}" for j in range(1, n + 1)) \
            + tuple(f"p_{j}" for j in range(1, n + 1))
        if p.potential == "harmonic":
            omega0 = math.sqrt(float(p.k) / float(p.M))
            scale_name = "period 2 pi sqrt(M/k) of the bare oscillator"
        else:
            omega0 = math.sqrt(8.0 * float(p.V0) / (float(p.M) * float(p.x0) ** 2))
            scale_name = "period of small oscillations in a well, 2 pi sqrt(M x0^2 / (8 V0))"
        return SystemInfo(
            state_names=names,
            state_units=("1",) * len(names),
            time_unit="1",
            time_scale=2.0 * math.pi / omega0,
            time_scale_name=scale_name,
            lyapunov_exponent=None,
            invariants=("energy",),
            has_solution=p.potential == "harmonic",
            reference=("Caldeira-Leggett / Zwanzig model: Zwanzig, J. Stat. Phys. 9, 215 (1973); "
                       "Caldeira and Leggett, Ann. Phys. 149, 374 (1983); Ohmic bath with "
                       "exponential cutoff discretised as in Craig and Manolopoulos, J. Chem. "
                       "Phys. 122, 084106 (2005)"),
            default_dt=0.1,
            default_transient=0.0,
            default_method="DOP853",
            default_rtol=1e-10,
            default_atol=1e-10,
        )

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        """``dy/dt`` ``(n_state,)``; see :func:`f`."""
        return f(t, y, self.params)

    def jacobian(self, t: float, y: np.ndarray) -> np.ndarray:  # type: ignore[override]
        """``(n_state, n_state)``; see :func:`jacobian`."""
        return jacobian(t, y, self.params)

    def invariants(self, y: np.ndarray) -> dict[str, np.ndarray]:
        """``{"energy": H}`` of states ``(..., n_state)``."""
        return {"energy": energy(y, self.params)}

    def observe(self, y: np.ndarray) -> np.ndarray:
        """``(X, P)`` of states ``(..., n_state)``: shape ``(..., 2)``; the bath stays hidden."""
        return np.asarray(y)[..., :2]

    def observed_names(self) -> tuple[str, ...]:
        """Names of what :meth:`observe` returns."""
        return ("X", "P")

    def observed_units(self) -> tuple[str, ...]:
        """Units of what :meth:`observe` returns."""
        return ("1", "1")

    def initial_condition(self, rng: np.random.Generator) -> np.ndarray:
        """Thermal state ``(2 + 2 n_bath,)`` at ``kT`` (module docstring), drawn from ``rng``."""
        p = self.params
        kT, M = float(p.kT), float(p.M)
        if p.potential == "harmonic":
            X = rng.standard_normal() * math.sqrt(kT / float(p.k))
        else:
            # inverse CDF of exp(-U/kT) on a grid covering U < 40 kT
            x_max = float(p.x0) * math.sqrt(1.0 + math.sqrt(40.0 * kT / float(p.V0)))
            grid = np.linspace(-x_max, x_max, 8001)
            U, _, _ = potential(grid, p)
            weight = np.exp(-(U - U.min()) / kT)
            cdf = np.concatenate([[0.0], np.cumsum(0.5 * (weight[1:] + weight[:-1]))])
            X = float(np.interp(rng.uniform() * cdf[-1], cdf, grid))
        P = rng.standard_normal() * math.sqrt(M * kT)
        return np.concatenate([[X, P], thermal_bath(X, p, rng)])

    def solution(self, t: np.ndarray, y0: np.ndarray) -> np.ndarray | None:
        """Exact trajectory ``(n_t, n_state)`` for the harmonic potential (normal modes).

        ``y0`` is the state at ``t[0]`` (as for integration). ``None`` for the double well.
        """
        p = self.params
        if p.potential != "harmonic":
            return None
        t = np.asarray(t, dtype=float)
        y0 = np.asarray(y0, dtype=float)
        n = int(p.n_bath)
        w, c = bath_modes(p)
        M, m = float(p.M), float(p.m)
        # potential matrix in q = (X, x_1 .. x_n), mass-weighted
        K = np.zeros((n + 1, n + 1))
        K[0, 0] = float(p.k) + np.sum(c**2 / (m * w**2))
        K[0, 1:] = K[1:, 0] = -c
        K[np.arange(1, n + 1), np.arange(1, n + 1)] = m * w**2
        mass = np.r_[M, np.full(n, m)]
        s = 1.0 / np.sqrt(mass)
        omega2, V = np.linalg.eigh(s[:, None] * K * s[None, :])
        omega = np.sqrt(np.clip(omega2, 0.0, None))
        q0, p0 = np.r_[y0[0], y0[2:2 + n]], np.r_[y0[1], y0[2 + n:]]
        a = V.T @ (q0 / s)          # mass-weighted positions in normal modes
        b = V.T @ (p0 * s)          # mass-weighted velocities in normal modes
        tau = (t - t[0])[:, None]
        wt = omega[None, :] * tau
        sinc = np.where(omega > 0, np.sin(wt) / np.where(omega > 0, omega, 1.0), tau)
        u = np.cos(wt) * a + sinc * b
        v = -omega * np.sin(wt) * a + np.cos(wt) * b
        q = (u @ V.T) * s
        mom = (v @ V.T) / s
        out = np.empty((t.size, 2 + 2 * n))
        out[:, 0], out[:, 1] = q[:, 0], mom[:, 0]
        out[:, 2:2 + n], out[:, 2 + n:] = q[:, 1:], mom[:, 1:]
        return out
