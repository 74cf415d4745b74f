"""Heavy particle in a harmonic bath: conservation, closed forms, hidden memory."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from physrnn.errors import SystemDefinitionError
from physrnn.systems.base import get_system
from physrnn.systems.bath import (
    BathParams,
    bath_modes,
    f,
    jacobian,
    memory_kernel,
    thermal_bath,
)


def _run(system, y0, t, rtol=1e-10, atol=1e-10):
    sol = solve_ivp(system.rhs, (t[0], t[-1]), y0, method="DOP853", t_eval=t, rtol=rtol,
                    atol=atol)
    assert sol.status == 0
    return sol.y.T


@pytest.mark.parametrize("pot", ["harmonic", "double_well"])
def test_energy_conserved_long_run(pot):
    system = get_system("heavy_particle_bath", potential=pot)
    y0 = system.initial_condition(np.random.default_rng(0))
    t = np.linspace(0.0, 200.0, 401)  # ~32 bare periods, ~270 periods of the fastest mode
    y = _run(system, y0, t, rtol=1e-12, atol=1e-12)
    E = system.invariants(y)["energy"]
    assert E.shape == (401,)
    assert np.max(np.abs(E - E[0])) / abs(E[0]) < 1e-8
    # the particle really exchanges energy with the bath
    e_particle = y[:, 1] ** 2 / (2 * system.params.M)
    assert np.ptp(e_particle) > 0.1


def test_zero_coupling_is_free_oscillator():
    system = get_system("heavy_particle_bath", gamma=0.0, M=2.0, k=3.0)
    y0 = system.initial_condition(np.random.default_rng(1))
    t = np.linspace(0.0, 30.0, 301)
    y = _run(system, y0, t)
    w0 = math.sqrt(3.0 / 2.0)
    X0, P0 = y0[:2]
    X = X0 * np.cos(w0 * t) + P0 / (2.0 * w0) * np.sin(w0 * t)
    P = -2.0 * w0 * X0 * np.sin(w0 * t) + P0 * np.cos(w0 * t)
    np.testing.assert_allclose(y[:, 0], X, atol=1e-8)
    np.testing.assert_allclose(y[:, 1], P, atol=1e-8)


def test_harmonic_normal_mode_solution_matches_integration():
    system = get_system("heavy_particle_bath", n_bath=8, gamma=0.5, omega_c=1.5)
    assert system.info().has_solution
    y0 = system.initial_condition(np.random.default_rng(2))
    t = np.linspace(0.0, 20.0, 81)
    np.testing.assert_allclose(system.solution(t, y0), _run(system, y0, t), atol=1e-8)
    assert get_system("heavy_particle_bath", potential="double_well").solution(t, y0) is None


def test_hidden_bath_gives_memory():
    system = get_system("heavy_particle_bath")
    rng = np.random.default_rng(3)
    y_a = system.initial_condition(rng)
    y_b = y_a.copy()
    y_b[2:] = thermal_bath(y_a[0], system.params, rng)  # same (X, P), another bath
    np.testing.assert_array_equal(system.observe(y_a), system.observe(y_b))
    t = np.linspace(0.0, 20.0, 201)
    X_a = system.observe(_run(system, y_a, t))[:, 0]
    X_b = system.observe(_run(system, y_b, t))[:, 0]
    assert np.max(np.abs(X_a - X_b)) > 0.1


def test_observe_shape_and_names():
    system = get_system("heavy_particle_bath", n_bath=5)
    info = system.info()
    assert info.state_names[:2] == ("X", "P") and len(info.state_names) == 12
    assert system.observe(np.zeros((3, 7, 12))).shape == (3, 7, 2)
    assert system.observe(np.zeros(12)).shape == (2,)
    assert system.observed_names() == ("X", "P")
    assert math.isclose(info.time_scale, 2 * math.pi)


def test_rhs_vectorised_and_jacobian():
    params = BathParams(n_bath=4, potential="double_well")
    rng = np.random.default_rng(4)
    ys = rng.standard_normal((5, 10))
    batched = f(0.0, ys, params)
    np.testing.assert_allclose(batched, np.stack([f(0.0, y, params) for y in ys]))
    y, eps = ys[0], 1e-6
    num = np.stack([(f(0.0, y + eps * e, params) - f(0.0, y - eps * e, params)) / (2 * eps)
                    for e in np.eye(10)], axis=1)
    np.testing.assert_allclose(jacobian(0.0, y, params), num, atol=1e-7)


def test_spectral_density_discretisation():
    params = BathParams(n_bath=50, gamma=0.3, omega_c=2.0)
    w, c = bath_modes(params)
    assert np.all(w > 0) and np.all(np.diff(w) < 0)
    # K(0) = 2 eta w_c / pi exactly; the discrete kernel converges to the continuum one
    eta = params.M * params.gamma
    assert math.isclose(memory_kernel(np.array(0.0), params), 2 * eta * 2.0 / math.pi)
    t = np.linspace(0.0, 3.0, 31)
    exact = memory_kernel(t, params, continuum=True)
    err_50 = np.max(np.abs(memory_kernel(t, params) - exact))
    err_200 = np.max(np.abs(memory_kernel(t, BathParams(n_bath=200, gamma=0.3)) - exact))
    assert err_200 < 0.04 < 0.1 * exact[0]
    assert err_200 < err_50 / 2


def test_thermal_initial_conditions():
    system = get_system("heavy_particle_bath", n_bath=3, kT=0.5)
    rng = np.random.default_rng(5)
    y = np.stack([system.initial_condition(rng) for _ in range(4000)])
    # equipartition: <P^2/2M> = kT/2, <k X^2/2> = kT/2
    assert abs(np.mean(y[:, 1] ** 2) / (2 * 10.0) - 0.25) < 0.02
    assert abs(np.mean(10.0 * y[:, 0] ** 2 / 2) - 0.25) < 0.02
    dw = get_system("heavy_particle_bath", potential="double_well", kT=0.2)
    X = np.array([dw.initial_condition(rng)[0] for _ in range(500)])
    assert np.mean(np.abs(np.abs(X) - 1.0) < 0.5) > 0.9  # mostly near the minima +-1


def test_simulate_observes_xp():
    from physrnn.data.simulate import simulate

    system = get_system("heavy_particle_bath", n_bath=4)
    sim = simulate(system, n_traj=2, n_t=21, seed=0, progress=False)
    assert sim.y.shape == (2, 21, 2)
    assert sim.meta["state_names"] == ["X", "P"]
    E = sim.observables["invariant/energy"]
    assert np.max(np.abs(E / E[:, :1] - 1.0)) < 1e-8  # default DOP853 at 1e-10


def test_errors():
    with pytest.raises(SystemDefinitionError, match="potential"):
        get_system("heavy_particle_bath", potential="quartic")
    with pytest.raises(SystemDefinitionError, match="n_bath"):
        get_system("heavy_particle_bath", n_bath=0)
    with pytest.raises(SystemDefinitionError, match="kT"):
        get_system("heavy_particle_bath", kT=0.0)
