"""Tests for physrnn.systems.dynamics: classical ODE systems checked against physics.

Independent references used here (none of them is the code under test):

* numerical integration of ``rhs`` by SciPy's DOP853 at tight tolerance, compared with the
  closed forms (harmonic, damped driven, pendulum) and a finite difference of the closed forms
  compared with ``rhs`` (so a wrong ODE and a wrong closed form cannot agree by accident);
* conservation laws along DOP853 trajectories, plus a pointwise check ``grad E . f = 0`` and a
  check that deliberately wrong formulas do drift (so the tests have teeth);
* the Euler-Lagrange equations of the double pendulum solved here as a 2x2 linear system;
* textbook facts: Kepler's third law, the steady-state amplitude of a driven oscillator, the
  stable fixed points of Lorenz-63 below the Hopf bifurcation, the energy budget of Lorenz-96;
* the largest Lyapunov exponent of Lorenz-63 (0.9056, Sprott 2003) by the Benettin / QR method,
  which uses ``jacobian``; each ``jacobian`` is checked against finite differences of ``rhs``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import cumulative_simpson, solve_ivp

from physrnn.errors import SystemDefinitionError
from physrnn.systems import dynamics as dyn
from physrnn.systems.base import REGISTRY, DynamicalSystem, SystemInfo, get_system

NAMES = ("harmonic", "damped_driven", "duffing", "pendulum", "double_pendulum", "kepler",
         "lorenz63", "rossler", "lorenz96")
CHAOTIC = ("duffing", "double_pendulum", "lorenz63", "rossler", "lorenz96")
TIGHT = {"method": "DOP853", "rtol": 1e-12, "atol": 1e-12}


def integrate(system: DynamicalSystem, y0, t, *, rtol=1e-10, atol=1e-10) -> np.ndarray:
    """DOP853 trajectory ``(n_t, n_state)`` at ``t`` from ``y0`` at ``t[0]``."""
    sol = solve_ivp(system.rhs, (t[0], t[-1]), np.asarray(y0, dtype=float), method="DOP853",
                    t_eval=t, rtol=rtol, atol=atol)
    assert sol.success, sol.message
    return sol.y.T


# ------------------------------------------------------------------------------ the contract
@pytest.mark.parametrize("name", NAMES)
def test_contract(name):
    system = get_system(name)
    assert name in REGISTRY and isinstance(system, REGISTRY[name])
    assert system.kind == "ode"
    info = system.info()
    assert isinstance(info, SystemInfo)
    n = system.n_state
    assert len(info.state_units) == n and len(set(info.state_names)) == n
    assert info.time_scale > 0 and info.time_scale_name and info.reference
    assert info.default_dt > 0 and info.default_transient >= 0
    # deterministic, finite random initial states of fixed rank
    y0 = system.initial_condition(np.random.default_rng(7))
    np.testing.assert_array_equal(y0, system.initial_condition(np.random.default_rng(7)))
    assert y0.shape == (n,) and np.all(np.isfinite(y0))
    assert not np.array_equal(y0, system.initial_condition(np.random.default_rng(8)))
    # rhs: (n,) -> (n,), and the solve_ivp vectorized layout (n, k) -> (n, k) column by column
    f = system.rhs(0.3, y0)
    assert f.shape == (n,) and np.all(np.isfinite(f))
    ys = np.stack([system.initial_condition(np.random.default_rng(s)) for s in range(5)], axis=1)
    fs = system.rhs(0.3, ys)
    assert fs.shape == (n, 5)
    for k in range(5):
        np.testing.assert_allclose(fs[:, k], system.rhs(0.3, ys[:, k]), rtol=1e-14, atol=1e-14)
    # invariants: keys as announced, shape (...) for states (..., n)
    batch = np.stack([ys.T, ys.T])  # (2, 5, n)
    inv = system.invariants(batch)
    assert tuple(inv) == info.invariants
    for values in inv.values():
        assert np.shape(values) == (2, 5)
    # solution only where announced
    sol = system.solution(np.linspace(0.0, 1.0, 4), y0)
    assert (sol is not None) == info.has_solution
    if sol is not None:
        assert sol.shape == (4, n)
        np.testing.assert_allclose(sol[0], y0, rtol=1e-12, atol=1e-12)
    # the pure module-level function is what rhs delegates to
    assert np.array_equal(getattr(dyn, f"{name}_rhs")(0.3, y0, system.params), f)


def test_registry_names_and_parameters():
    expected = {"harmonic": dyn.HarmonicOscillator, "damped_driven": dyn.DampedDrivenOscillator,
                "duffing": dyn.DuffingOscillator, "pendulum": dyn.Pendulum,
                "double_pendulum": dyn.DoublePendulum, "kepler": dyn.Kepler,
                "lorenz63": dyn.Lorenz63, "rossler": dyn.Rossler, "lorenz96": dyn.Lorenz96}
    for name, cls in expected.items():
        assert REGISTRY[name] is cls
    lor = get_system("lorenz63", rho=10.0)
    assert lor.params.rho == 10.0 and lor.params.sigma == 10.0
    assert lor.info().lyapunov_exponent is None  # only tabulated at the standard parameters
    std = get_system("lorenz63").info()
    assert std.lyapunov_exponent == 0.9056
    assert std.time_scale == pytest.approx(1 / 0.9056) and std.time_scale_name == "Lyapunov time"
    assert (std.default_dt, std.default_method, std.default_rtol, std.default_atol) == \
        (0.01, "DOP853", 1e-10, 1e-10)
    assert std.default_transient >= 10
    assert get_system("rossler").info().lyapunov_exponent == pytest.approx(0.0714)
    assert "Sprott" in get_system("rossler").info().reference
    with pytest.raises(SystemDefinitionError, match="rh0") as exc:
        get_system("lorenz63", rh0=10.0)
    assert "rho" in str(exc.value)  # the valid names are listed
    with pytest.raises(SystemDefinitionError, match="bogus"):
        get_system("pendulum", bogus=1.0, g=9.81)


def test_lorenz63_below_hopf_settles_on_a_fixed_point():
    # rho = 10 < rho_H = sigma (sigma + beta + 3) / (sigma - beta - 1) ~ 24.74: C+- are stable.
    system = get_system("lorenz63", rho=10.0)
    y = integrate(system, [1.0, 1.0, 1.0], np.array([0.0, 60.0]), rtol=1e-9, atol=1e-9)[-1]
    c = math.sqrt(8 / 3 * 9.0)
    np.testing.assert_allclose(np.abs(y), [c, c, 9.0], atol=1e-6)
    np.testing.assert_allclose(system.rhs(0.0, y), 0.0, atol=1e-5)


@pytest.mark.parametrize(
    "name, params, culprit",
    [
        ("harmonic", {"omega": -1.0}, "omega"),
        ("harmonic", {"omega": float("nan")}, "omega"),
        ("damped_driven", {"gamma": -0.1}, "gamma"),
        ("duffing", {"delta": -0.3}, "delta"),
        ("pendulum", {"L": 0.0}, "L"),
        ("pendulum", {"g": "9.81"}, "g"),
        ("double_pendulum", {"m2": -1.0}, "m2"),
        ("double_pendulum", {"L1": 0.0}, "L1"),
        ("kepler", {"GM": 0.0}, "GM"),
        ("lorenz63", {"sigma": -10.0}, "sigma"),
        ("lorenz63", {"beta": float("inf")}, "beta"),
        ("rossler", {"c": float("nan")}, "c"),
        ("lorenz96", {"F": float("nan")}, "F"),
    ],
)
def test_impossible_parameters_raise(name, params, culprit):
    with pytest.raises(SystemDefinitionError, match=rf"{name}: .*\b{culprit}\b"):
        get_system(name, **params)


def test_wrong_params_type_raises():
    with pytest.raises(SystemDefinitionError, match="Lorenz63Params"):
        dyn.Lorenz63(dyn.RosslerParams())


# ----------------------------------------------------------------------------- closed forms
def _fd_check_solution(system: DynamicalSystem, y0, t0: float, probes, h: float = 1e-5):
    """Central difference of the closed form equals rhs on it (the closed form solves rhs)."""
    ts = [t0]
    for s in probes:
        ts += [s - h, s, s + h]
    sol = system.solution(np.array(ts), np.asarray(y0, dtype=float))
    for k, s in enumerate(probes):
        ym, y, yp = sol[1 + 3 * k], sol[2 + 3 * k], sol[3 + 3 * k]
        deriv = (yp - ym) / (2 * h)
        np.testing.assert_allclose(deriv, system.rhs(s, y), rtol=0, atol=1e-7 * (1 + abs(y).max()))


def test_harmonic_closed_form_matches_integration_and_rhs():
    system = get_system("harmonic", omega=2.3)
    y0 = np.array([0.7, -1.2])
    period = 2 * math.pi / 2.3
    t = np.linspace(0.0, 6 * period, 601)
    exact = system.solution(t, y0)
    np.testing.assert_allclose(integrate(system, y0, t), exact, rtol=0, atol=1e-7)
    # after a whole number of periods the state returns (independent of the formula)
    np.testing.assert_allclose(exact[-1], y0, atol=1e-12)
    _fd_check_solution(system, y0, 0.0, probes=[0.3, 1.7, 5.0, 9.9])
    # starting time t[0] != 0: the autonomous solution depends on t - t[0] only
    np.testing.assert_allclose(system.solution(t + 4.2, y0), exact, atol=1e-12)
    # energy (J/kg) is the textbook v^2/2 + w^2 x^2/2 and constant along the closed form
    e = system.invariants(exact)["energy"]
    np.testing.assert_allclose(e, 0.5 * 1.2**2 + 0.5 * 2.3**2 * 0.7**2, rtol=1e-12)


@pytest.mark.parametrize(
    "params",
    [
        {},  # defaults: underdamped, gamma = 0.1 < omega0 = 1
        {"omega0": 1.3, "gamma": 0.05, "F": 2.0, "Omega": 1.29},  # near resonance
        {"omega0": 1.0, "gamma": 1.0, "F": 0.5, "Omega": 0.7},  # critically damped
        {"omega0": 1.0, "gamma": 2.5, "F": 0.5, "Omega": 0.7},  # overdamped
        {"omega0": 1.0, "gamma": 0.2, "F": 0.3, "Omega": 0.0},  # constant force
    ],
)
def test_damped_driven_closed_form(params):
    system = get_system("damped_driven", **params)
    p = system.params
    y0 = np.array([0.4, -0.9])
    n_periods = 5 * system.info().time_scale
    for t0 in (0.0, 3.7):  # the drive is in absolute time: start away from t = 0 too
        t = np.linspace(t0, t0 + n_periods, 801)
        exact = system.solution(t, y0)
        np.testing.assert_allclose(exact[0], y0, atol=1e-13)
        np.testing.assert_allclose(integrate(system, y0, t), exact, rtol=0, atol=1e-7)
        _fd_check_solution(system, y0, t0, probes=[t0 + 0.2, t0 + 2.9, t0 + 11.3])
    # textbook steady state: amplitude F / sqrt((w0^2 - W^2)^2 + 4 g^2 W^2) once transients die
    slowest = p.gamma - math.sqrt(max(p.gamma**2 - p.omega0**2, 0.0))  # decay rate
    t0 = 60 / slowest
    t = np.linspace(t0, t0 + 4 * 2 * math.pi / max(p.Omega, 1.0), 8001)
    x = system.solution(np.concatenate([[0.0], t]), y0)[1:, 0]
    amp = p.F / math.sqrt((p.omega0**2 - p.Omega**2) ** 2 + 4 * p.gamma**2 * p.Omega**2)
    if p.Omega > 0:
        assert np.max(np.abs(x)) == pytest.approx(amp, rel=1e-4)
    else:
        np.testing.assert_allclose(x, p.F / p.omega0**2, rtol=1e-9)
    assert system.info().invariants == () and system.invariants(np.zeros((3, 2))) == {}


def test_damped_driven_without_damping_or_drive_is_conservative():
    system = get_system("damped_driven", gamma=0.0, F=0.0, omega0=1.7)
    assert system.info().invariants == ("energy",)
    y = system.solution(np.linspace(0, 20, 50), np.array([1.0, 0.5]))
    e = system.invariants(y)["energy"]
    np.testing.assert_allclose(e, e[0], rtol=1e-12)


@pytest.mark.parametrize(
    "y0",
    [
        (0.1, 0.0),  # small libration
        (2.9, 0.0),  # large libration (period ~ 2.6x the small-oscillation one)
        (-1.0, -3.0),  # libration with negative initial velocity
        (0.5, 7.0),  # rotation (k > 1)
        (-2.0, -8.0),  # rotation the other way
        (1.0 + 4 * math.pi, 2.0),  # winding number kept
    ],
)
def test_pendulum_exact_solution_matches_integration(y0):
    system = get_system("pendulum")
    t = np.linspace(0.0, 5 * system.info().time_scale, 501)
    exact = system.solution(t, np.array(y0))
    np.testing.assert_allclose(exact[0], y0, atol=1e-10)
    np.testing.assert_allclose(integrate(system, y0, t), exact, rtol=0, atol=1e-7)
    _fd_check_solution(system, y0, 0.0, probes=[0.5, 3.3, 7.1])


def test_pendulum_large_amplitude_period():
    # T = 4 K(m) sqrt(L/g), m = sin^2(theta0/2) (Landau-Lifshitz section 11, problem 1); the
    # time of the first return to theta0 is found by integration, not by the closed form.
    from scipy.special import ellipk

    system = get_system("pendulum", g=9.81, L=2.0)
    theta0 = 2.0
    expected = 4 * ellipk(math.sin(theta0 / 2) ** 2) * math.sqrt(2.0 / 9.81)

    def turning(t, y):
        return y[1]

    turning.direction = 1.0  # omega crosses 0 upwards: at -theta0 after half a period
    sol = solve_ivp(system.rhs, (0, 10), [theta0, 0.0], events=turning, **TIGHT)
    assert sol.t_events[0][0] == pytest.approx(expected / 2, rel=1e-9)


# ------------------------------------------------------------------------------ invariants
def _relative_drift(values: np.ndarray, scale: float) -> float:
    return float(np.max(np.abs(values - values[0])) / scale)


def test_pendulum_energy_conserved_and_sensitive():
    system = get_system("pendulum")
    p = system.params
    t = np.linspace(0.0, 30 * 4.0, 3001)  # about 30 large-amplitude periods
    y = integrate(system, [2.5, 0.0], t, rtol=1e-12, atol=1e-12)
    e = system.invariants(y)["energy"]
    assert _relative_drift(e, abs(e[0])) < 1e-8
    # a wrong kinetic prefactor (L instead of L^2 with L != 1) would drift visibly
    wrong_sys = get_system("pendulum", L=2.0)
    y2 = integrate(wrong_sys, [2.5, 0.0], t, rtol=1e-12, atol=1e-12)
    e2 = wrong_sys.invariants(y2)["energy"]
    assert _relative_drift(e2, abs(e2[0])) < 1e-8
    wrong = 0.5 * 2.0 * y2[:, 1] ** 2 - p.g * 2.0 * np.cos(y2[:, 0])
    assert _relative_drift(wrong, abs(wrong[0])) > 1e-2


def test_duffing_undamped_energy_conserved():
    system = get_system("duffing", delta=0.0, gamma=0.0)
    assert system.info().invariants == ("energy",)
    t = np.linspace(0.0, 200.0, 2001)  # tens of oscillations across both wells
    y = integrate(system, [1.8, 0.0], t, rtol=1e-12, atol=1e-12)
    assert np.any(y[:, 0] < -1.0)  # it crosses to the other well
    e = system.invariants(y)["energy"]
    assert _relative_drift(e, abs(e[0])) < 1e-8
    wrong = 0.5 * y[:, 1] ** 2 - 0.5 * y[:, 0] ** 2 + 0.5 * y[:, 0] ** 4  # beta x^4 / 2
    assert _relative_drift(wrong, abs(wrong[0])) > 1e-2


def test_duffing_damped_energy_decreases_and_is_no_invariant():
    system = get_system("duffing", gamma=0.0)  # damped, undriven: dE/dt = -delta v^2
    assert system.info().invariants == () and system.invariants(np.zeros((2, 2))) == {}
    t = np.linspace(0.0, 30.0, 3001)
    y = integrate(system, [1.8, 0.0], t)
    e = system.energy(y)
    assert np.all(np.diff(e) <= 1e-12)
    # energy balance E(t) - E(0) = -delta int_0^t v^2 dt' (Simpson, error ~ dt^4)
    dissipated = cumulative_simpson(0.3 * y[:, 1] ** 2, x=t, initial=0.0)
    np.testing.assert_allclose(e - e[0], -dissipated, atol=1e-7)


def test_double_pendulum_energy_conserved_in_chaotic_regime():
    system = get_system("double_pendulum")
    p = system.params
    y0 = np.array([2.0, -2.5, 0.0, 0.0])  # high energy: chaotic
    t = np.linspace(0.0, 20 * system.info().time_scale, 4001)
    y = integrate(system, y0, t, rtol=1e-12, atol=1e-12)
    e = system.invariants(y)["energy"]
    scale = (p.m1 + p.m2) * p.g * p.L1 + p.m2 * p.g * p.L2
    assert _relative_drift(e, scale) < 1e-8
    assert np.ptp(np.unwrap(y[:, 1])) > 2 * math.pi  # the lower arm flips over: not a libration
    # forgetting the factor 2 of the cross term in T would drift
    th1, th2, w1, w2 = y.T
    wrong = e - p.m2 * p.L1 * p.L2 * w1 * w2 * np.cos(th1 - th2) / 2
    assert _relative_drift(wrong, scale) > 1e-2


def test_double_pendulum_rhs_matches_euler_lagrange():
    # L = T - V with T, V as in the docstring; d/dt dL/dw - dL/dth = 0 gives A(q) q'' = b
    p = dyn.DoublePendulumParams(m1=1.3, m2=0.7, L1=0.9, L2=1.4, g=9.81)
    system = dyn.DoublePendulum(p)
    M = p.m1 + p.m2
    rng = np.random.default_rng(3)
    for _ in range(20):
        th1, th2 = rng.uniform(-math.pi, math.pi, 2)
        w1, w2 = rng.normal(0, 3, 2)
        d = th1 - th2
        A = np.array([[M * p.L1**2, p.m2 * p.L1 * p.L2 * math.cos(d)],
                      [p.m2 * p.L1 * p.L2 * math.cos(d), p.m2 * p.L2**2]])
        b = np.array([-p.m2 * p.L1 * p.L2 * math.sin(d) * w2**2 - M * p.g * p.L1 * math.sin(th1),
                      p.m2 * p.L1 * p.L2 * math.sin(d) * w1**2 - p.m2 * p.g * p.L2 * math.sin(th2)])
        acc = np.linalg.solve(A, b)
        f = system.rhs(0.0, np.array([th1, th2, w1, w2]))
        np.testing.assert_allclose(f, [w1, w2, *acc], rtol=1e-10, atol=1e-10)


def test_double_pendulum_small_oscillation_normal_mode():
    # start along the slow normal mode (eigenvector of A^-1 K); after one slow period it is back
    p = dyn.DoublePendulumParams(m1=2.0, m2=1.0, L1=1.0, L2=0.5)
    system = dyn.DoublePendulum(p)
    M = p.m1 + p.m2
    A = np.array([[M * p.L1**2, p.m2 * p.L1 * p.L2], [p.m2 * p.L1 * p.L2, p.m2 * p.L2**2]])
    K = np.diag([M * p.g * p.L1, p.m2 * p.g * p.L2])
    w2, vecs = np.linalg.eig(np.linalg.solve(A, K))
    order = np.argsort(w2.real)
    slow, fast = np.sqrt(w2.real[order])
    assert dyn.double_pendulum_normal_mode_frequencies(p) == pytest.approx((slow, fast), rel=1e-12)
    assert system.info().time_scale == pytest.approx(2 * math.pi / slow, rel=1e-12)
    amp = 1e-4
    y0 = np.concatenate([amp * vecs[:, order[0]].real, [0.0, 0.0]])
    y = integrate(system, y0, np.array([0.0, 2 * math.pi / slow]), rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(y[-1], y0, atol=1e-3 * amp)


def test_kepler_invariants_on_eccentric_orbit():
    system = get_system("kepler", GM=1.5)
    a, e = 1.2, 0.5
    y0 = system.orbit_state(a, e, true_anomaly=0.7, periapsis_angle=0.3)
    inv0 = system.invariants(y0)
    # textbook values: E = -GM / (2a), L = sqrt(GM a (1 - e^2)), |A| = GM e along the pericentre
    assert inv0["energy"] == pytest.approx(-1.5 / (2 * a), rel=1e-13)
    assert inv0["angular_momentum"] == pytest.approx(math.sqrt(1.5 * a * (1 - e**2)), rel=1e-13)
    np.testing.assert_allclose([inv0["runge_lenz_x"], inv0["runge_lenz_y"]],
                               [1.5 * e * math.cos(0.3), 1.5 * e * math.sin(0.3)], rtol=1e-12)
    period = 2 * math.pi * math.sqrt(a**3 / 1.5)  # Kepler's third law
    t = np.linspace(0.0, 20 * period, 2001)
    y = integrate(system, y0, t, rtol=1e-12, atol=1e-12)
    inv = system.invariants(y)
    assert _relative_drift(inv["energy"], abs(inv0["energy"])) < 1e-8
    assert _relative_drift(inv["angular_momentum"], abs(inv0["angular_momentum"])) < 1e-8
    for k in ("runge_lenz_x", "runge_lenz_y"):
        assert _relative_drift(inv[k], 1.5 * e) < 1e-7
    np.testing.assert_allclose(y[-1], y0, atol=1e-7)  # closed orbit after whole periods
    # GM / r^2 in place of GM / r in the energy would not be conserved on an eccentric orbit
    r = np.hypot(y[:, 0], y[:, 1])
    wrong = 0.5 * (y[:, 2] ** 2 + y[:, 3] ** 2) - 1.5 / r**2
    assert _relative_drift(wrong, abs(wrong[0])) > 1e-2


def test_kepler_clockwise_orbit_and_initial_conditions_are_bound():
    system = get_system("kepler")
    y0 = system.orbit_state(1.0, 0.3, clockwise=True)
    assert system.invariants(y0)["angular_momentum"] < 0
    rng = np.random.default_rng(0)
    for _ in range(20):
        inv = system.invariants(system.initial_condition(rng))
        assert inv["energy"] == pytest.approx(-0.5, rel=1e-12)  # a = 1, GM = 1
        assert math.hypot(inv["runge_lenz_x"], inv["runge_lenz_y"]) < 0.6


@pytest.mark.parametrize("name", ["harmonic", "pendulum", "double_pendulum", "kepler"])
def test_invariants_are_pointwise_conserved_and_not_trivial(name):
    # dE/dt = grad E . f = 0 at arbitrary states (central difference along the flow), while E
    # does change in a generic direction of state space.
    system = get_system(name)
    rng = np.random.default_rng(11)
    h = 1e-6
    for _ in range(10):
        y = system.initial_condition(rng)
        if name == "double_pendulum":
            y[2:] = rng.normal(0, 2, 2)
        f = system.rhs(0.0, y)
        g = rng.normal(size=y.shape)
        for key in system.info().invariants:
            def inv(z, key=key):
                return float(system.invariants(z)[key])
            along = (inv(y + h * f) - inv(y - h * f)) / (2 * h)
            across = (inv(y + h * g) - inv(y - h * g)) / (2 * h)
            assert abs(along) < 1e-6 * (1 + np.linalg.norm(f)), key
            assert abs(across) > 1e-3, key


# ----------------------------------------------------------------------------- Jacobians
@pytest.mark.parametrize("name", NAMES)
def test_jacobian_matches_finite_differences(name):
    params = {"J": 7} if name == "lorenz96" else {}
    system = get_system(name, **params)
    rng = np.random.default_rng(5)
    h = 1e-6
    for _ in range(5):
        y = system.initial_condition(rng)
        if name == "double_pendulum":
            y[2:] = rng.normal(0, 2, 2)
        t = rng.uniform(0, 10)
        jac = system.jacobian(t, y)
        n = y.size
        assert jac.shape == (n, n)
        fd = np.empty((n, n))
        for j in range(n):
            e = np.zeros(n)
            e[j] = h
            fd[:, j] = (system.rhs(t, y + e) - system.rhs(t, y - e)) / (2 * h)
        np.testing.assert_allclose(jac, fd, rtol=1e-6, atol=1e-6 * (1 + np.abs(fd).max()))


def _lyapunov_spectrum(system, y0, *, t_total, t_renorm, n_exp, rtol, seed=0):
    """Benettin / QR: integrate (y, Q) with dQ/dt = J(y) Q by DOP853, re-orthonormalise every
    ``t_renorm`` and average log |diag R|. Returns the ``n_exp`` largest exponents."""
    n = y0.size

    def aug(t, z):
        y, q = z[:n], z[n:].reshape(n, n_exp)
        return np.concatenate([system.rhs(t, y), (system.jacobian(t, y) @ q).ravel()])

    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n_exp)))
    y = np.asarray(y0, dtype=float)
    sums = np.zeros(n_exp)
    t = 0.0
    for _ in range(int(round(t_total / t_renorm))):
        sol = solve_ivp(aug, (t, t + t_renorm), np.concatenate([y, q.ravel()]), method="DOP853",
                        rtol=rtol, atol=rtol)
        assert sol.success, sol.message
        z = sol.y[:, -1]
        y, q = z[:n], z[n:].reshape(n, n_exp)
        q, r = np.linalg.qr(q)
        sums += np.log(np.abs(np.diag(r)))
        t += t_renorm
    return sums / t


def _on_attractor(system, seed=0, rtol=1e-10):
    info = system.info()
    y0 = system.initial_condition(np.random.default_rng(seed))
    return integrate(system, y0, np.array([0.0, info.default_transient]), rtol=rtol, atol=rtol)[-1]


@pytest.mark.parametrize(
    "name, t_total, t_renorm, rtol, tol",
    [
        # finite-time estimates fluctuate: measured spread over seeds ~0.01 (Lorenz-63, 500 time
        # units), ~0.005 (Rossler, 2000), ~0.03 (Lorenz-96, 200); each runs in ~2 s here
        ("lorenz63", 500.0, 5.0, 1e-7, 0.03),
        ("rossler", 2000.0, 5.0, 1e-8, 0.015),
        ("lorenz96", 200.0, 1.0, 1e-8, 0.1),
    ],
)
def test_largest_lyapunov_exponent_fast(name, t_total, t_renorm, rtol, tol):
    system = get_system(name)
    y0 = _on_attractor(system)
    (lam,) = _lyapunov_spectrum(system, y0, t_total=t_total, t_renorm=t_renorm, n_exp=1,
                                rtol=rtol)
    assert lam == pytest.approx(system.info().lyapunov_exponent, abs=tol)


@pytest.mark.slow
def test_lorenz63_lyapunov_spectrum_slow():
    # Sprott (2003): (0.9056, 0, -14.5723); ~10 s here
    system = get_system("lorenz63")
    p = system.params
    y0 = _on_attractor(system, seed=1)
    lams = _lyapunov_spectrum(system, y0, t_total=2000.0, t_renorm=0.5, n_exp=3, rtol=1e-9)
    assert lams[0] == pytest.approx(0.9056, abs=0.015)
    assert lams[1] == pytest.approx(0.0, abs=0.01)  # the direction of the flow
    assert lams[2] == pytest.approx(-14.5723, abs=0.015)
    # the sum is the phase-space contraction rate: trace J = -(sigma + 1 + beta), exactly
    assert lams.sum() == pytest.approx(-(p.sigma + 1 + p.beta), abs=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, t_total, t_renorm, rtol, tol",
    [("rossler", 20000.0, 10.0, 1e-9, 0.005), ("lorenz96", 2000.0, 1.0, 1e-9, 0.03)],
)
def test_largest_lyapunov_exponent_slow(name, t_total, t_renorm, rtol, tol):
    system = get_system(name)
    y0 = _on_attractor(system, seed=3)
    (lam,) = _lyapunov_spectrum(system, y0, t_total=t_total, t_renorm=t_renorm, n_exp=1,
                                rtol=rtol, seed=3)
    assert lam == pytest.approx(system.info().lyapunov_exponent, abs=tol)


# ------------------------------------------------------------------------------- Lorenz-96
def test_lorenz96_fixed_point_and_energy_budget():
    for J, F in [(40, 8.0), (4, 3.0), (9, -1.5)]:
        system = get_system("lorenz96", J=J, F=F)
        info = system.info()
        assert info.state_names == tuple(f"x{i}" for i in range(J))
        np.testing.assert_allclose(system.rhs(0.0, np.full(J, F)), 0.0, atol=1e-12)
        # the advection conserves sum x^2 / 2: d/dt sum x^2/2 = -sum x^2 + F sum x
        x = np.random.default_rng(J).normal(size=J) * 3
        f = system.rhs(0.0, x)
        assert x @ f == pytest.approx(-x @ x + F * x.sum(), rel=1e-12, abs=1e-10)
        # explicit loop with modular indices
        ref = [(x[(i + 1) % J] - x[i - 2]) * x[i - 1] - x[i] + F for i in range(J)]
        np.testing.assert_allclose(f, ref, rtol=1e-14, atol=1e-13)
    assert get_system("lorenz96").info().lyapunov_exponent == 1.68
    assert get_system("lorenz96", J=36).info().lyapunov_exponent is None
    assert get_system("lorenz96", F=10.0).info().lyapunov_exponent is None


@pytest.mark.parametrize("J", [3, 0, -5])
def test_lorenz96_too_few_sites_raises(J):
    with pytest.raises(SystemDefinitionError, match=r"lorenz96: .*J must be >= 4, got J="):
        get_system("lorenz96", J=J)


@pytest.mark.parametrize("J", [40.0, 4.5, True])
def test_lorenz96_sites_must_be_integer(J):
    with pytest.raises(SystemDefinitionError, match="integer"):
        get_system("lorenz96", J=J)


# ---------------------------------------------------------------- initial states are sensible
def test_rossler_initial_conditions_reach_the_attractor():
    system = get_system("rossler")
    rng = np.random.default_rng(2)
    for _ in range(5):
        y0 = system.initial_condition(rng)
        t = np.linspace(0.0, system.info().default_transient + 100.0, 2001)
        y = integrate(system, y0, t, rtol=1e-8, atol=1e-8)[1000:]
        assert np.all(np.isfinite(y))
        assert -15 < y[:, 0].min() and y[:, 0].max() < 15 and 0 <= y[:, 2].min()
        assert y[:, 2].max() < 30 and np.ptp(y[:, 0]) > 10  # oscillating, not at rest


def test_chaotic_flows_are_sensitive_to_initial_conditions():
    # two states 1e-8 apart separate by orders of magnitude within a few Lyapunov times
    for name in ("lorenz63", "lorenz96", "double_pendulum"):
        system = get_system(name)
        y0 = system.initial_condition(np.random.default_rng(4))
        t_end = 15 * system.info().time_scale
        ts = np.array([0.0, t_end])
        a = integrate(system, y0, ts)[-1]
        b = integrate(system, y0 + 1e-8, ts)[-1]
        assert np.linalg.norm(a - b) > 1e-4, name
