"""The compiled ensemble DOP853 (physrnn.data.ensemble) and the batched engines of simulate.

Independent answers: SciPy's DOP853 at the same and at a much tighter tolerance, a closed form
(harmonic oscillator) with its conserved energy, the Lorenz-96 energy budget integrated along
the trajectories, the Lorenz-63 largest Lyapunov exponent (Sprott 2003), and for
Kuramoto-Sivashinsky the one-trajectory integrator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from scipy.integrate import simpson, solve_ivp

pytest.importorskip("numba")

from physrnn.data.ensemble import EnsembleFailure, ensemble_support, integrate_ensemble  # noqa: E402
from physrnn.data.simulate import SimulationError, simulate  # noqa: E402
from physrnn.systems.base import DynamicalSystem, SystemInfo, get_system  # noqa: E402


def _on_attractor(name: str, n: int, seed: int = 0) -> np.ndarray:
    return simulate(get_system(name), n_traj=n, n_t=1, seed=seed,
                    progress=False, record_invariants=False).y0


def _scipy(system, y0, t, tol):
    sol = solve_ivp(system.rhs, (t[0], t[-1]), y0, method="DOP853", t_eval=t, rtol=tol,
                    atol=tol)
    assert sol.success
    return sol.y.T


@pytest.mark.parametrize("name, n", [("lorenz63", 4), ("lorenz96", 2), ("rossler", 2)])
def test_matches_scipy_dop853_over_the_first_time_unit(name, n):
    system = get_system(name)
    ics = _on_attractor(name, n)
    t = 0.01 * np.arange(101)
    for tol in (1e-10, 1e-6):
        y = integrate_ensemble(system, ics, t, rtol=tol, atol=tol)
        assert y.shape == (n, 101, system.n_state)
        for i in range(n):
            same = _scipy(system, ics[i], t, tol)
            # the same algorithm step for step: agreement to rounding, far below the tolerance
            assert np.max(np.abs(y[i] - same)) < 1e-3 * tol * (1 + np.abs(same).max())
        # and accurate to about the tolerance against a much tighter reference
        truth = _scipy(system, ics[0], t, 1e-13)
        assert np.max(np.abs(y[0] - truth)) < 1e3 * tol


@dataclass(frozen=True)
class _OscParams:
    omega: float = 2.0
    blow_up: bool = False


def _osc_kernel(t, y, p, dy):
    dy[0] = y[1]
    dy[1] = -p[0] * p[0] * y[0]


def _blow_kernel(t, y, p, dy):
    dy[0] = y[0] * y[0]
    dy[1] = 0.0


class _Oscillator(DynamicalSystem):
    """x'' = -omega^2 x (or x' = x^2, which diverges at t = 1/x0, when blow_up)."""

    name = "_test_oscillator"
    kind = "ode"
    Params = _OscParams

    def info(self) -> SystemInfo:
        return SystemInfo(state_names=("x", "v"), state_units=("m", "m/s"), default_dt=0.05,
                          invariants=("energy",), has_solution=True)

    def initial_condition(self, rng):
        return rng.uniform(-1.0, 1.0, size=2)

    def rhs(self, t, y):
        if self.params.blow_up:
            return np.array([y[0] ** 2, 0.0])
        return np.array([y[1], -self.params.omega**2 * y[0]])

    def rhs_kernel(self):
        f = _blow_kernel if self.params.blow_up else _osc_kernel
        return f, np.array([self.params.omega])

    def solution(self, t, y0):
        w = self.params.omega
        x = y0[0] * np.cos(w * t) + y0[1] / w * np.sin(w * t)
        v = -y0[0] * w * np.sin(w * t) + y0[1] * np.cos(w * t)
        return np.stack([x, v], axis=-1)

    def invariants(self, y):
        return {"energy": 0.5 * y[..., 1] ** 2 + 0.5 * self.params.omega**2 * y[..., 0] ** 2}


def test_closed_form_and_energy_through_simulate():
    system = _Oscillator()
    sim = simulate(system, n_traj=5, n_t=401, seed=3, progress=False)  # 20 time units
    assert sim.meta["engine"] == "numba DOP853"
    ref = simulate(system, n_traj=5, n_t=2, seed=3, engine="scipy", progress=False)
    np.testing.assert_array_equal(sim.y0, ref.y0)  # the same seeds give the same states
    for i in range(5):
        np.testing.assert_allclose(sim.y[i], system.solution(sim.t, sim.y0[i]), rtol=0,
                                   atol=1e-8)
    energy = sim.observables["invariant/energy"]
    np.testing.assert_allclose(energy, energy[:, :1] * np.ones((1, 401)), rtol=1e-8)


def test_lorenz96_energy_budget_along_batched_trajectories():
    # d/dt sum x^2/2 = -sum x^2 + F sum x: the advection conserves energy, so the change of
    # the energy equals the time integral of forcing minus dissipation
    system = get_system("lorenz96")
    y = integrate_ensemble(system, _on_attractor("lorenz96", 3), 0.01 * np.arange(501))
    energy = 0.5 * np.sum(y**2, axis=-1)
    source = -np.sum(y**2, axis=-1) + 8.0 * np.sum(y, axis=-1)
    budget = simpson(source, dx=0.01, axis=-1)
    change = energy[:, -1] - energy[:, 0]
    np.testing.assert_allclose(change, budget, rtol=0, atol=1e-5 * np.abs(source).max())
    assert np.all(np.abs(change) > 1.0)  # not a trivial identity


def test_lorenz63_largest_lyapunov_exponent_from_batched_runs():
    """Benettin with finite perturbations: 8 reference trajectories and 8 partners 1e-8 apart,
    integrated together, renormalised every time unit for 250 time units. Sprott: 0.9056;
    finite-time estimates spread by ~0.01 over 500 time units, so 8 x 250 gives ~0.005."""
    system = get_system("lorenz63")
    ref = _on_attractor("lorenz63", 8, seed=5)
    rng = np.random.default_rng(5)
    d0 = 1e-8
    kick = rng.normal(size=ref.shape)
    partner = ref + d0 * kick / np.linalg.norm(kick, axis=1, keepdims=True)
    logs = np.zeros(8)
    t = np.array([0.0, 1.0])
    for _ in range(250):
        both = integrate_ensemble(system, np.concatenate([ref, partner]), t)[:, -1]
        ref, other = both[:8], both[8:]
        d = np.linalg.norm(other - ref, axis=1)
        logs += np.log(d / d0)
        partner = ref + (other - ref) * (d0 / d)[:, None]
    lam = logs / 250.0
    assert float(np.mean(lam)) == pytest.approx(0.9056, abs=0.03)
    assert np.all(np.abs(lam - 0.9056) < 0.1)


def test_simulate_engines_agree_and_record_themselves():
    system = get_system("lorenz63")
    ics = _on_attractor("lorenz63", 3)
    kw = {"n_traj": 3, "n_t": 301, "transient": 0.0, "initial_conditions": ics,
          "progress": False}
    fast = simulate(system, **kw)
    slow = simulate(system, engine="scipy", **kw)
    assert fast.meta["engine"] == "numba DOP853" and slow.meta["engine"] == "scipy"
    assert np.max(np.abs(fast.y[:, :101] - slow.y[:, :101])) < 1e-11
    # a transient is integrated as by SciPy: same steps, same end state to rounding
    a = simulate(system, n_traj=2, n_t=3, transient=1.0, seed=4, progress=False)
    b = simulate(system, n_traj=2, n_t=3, transient=1.0, seed=4, engine="scipy", progress=False)
    np.testing.assert_allclose(a.y, b.y, rtol=0, atol=1e-11)
    np.testing.assert_allclose(a.t, b.t)


def test_fallback_and_errors():
    @dataclass(frozen=True)
    class _P:
        rate: float = 1.0

    class _NoKernel(DynamicalSystem):
        name = "_test_no_kernel"
        Params = _P

        def info(self):
            return SystemInfo(state_names=("a",), state_units=("1",), default_dt=0.1)

        def initial_condition(self, rng):
            return rng.uniform(1.0, 2.0, size=1)

        def rhs(self, t, y):
            return -y

    sim = simulate(_NoKernel(), n_traj=2, n_t=5, progress=False)
    assert sim.meta["engine"] == "scipy"
    assert "no rhs_kernel" in ensemble_support(_NoKernel(), "DOP853")
    with pytest.raises(ValueError, match="engine='batched' is not available.*no rhs_kernel"):
        simulate(_NoKernel(), n_traj=2, n_t=5, engine="batched")
    lor = get_system("lorenz63")
    assert simulate(lor, n_traj=1, n_t=3, transient=0, method="RK45",
                    progress=False).meta["engine"] == "scipy"
    with pytest.raises(ValueError, match="engine must be one of"):
        simulate(lor, n_traj=1, n_t=3, engine="gpu")
    with pytest.raises(ValueError, match="y0s must have shape"):
        integrate_ensemble(lor, np.zeros((2, 4)), np.arange(3.0))
    with pytest.raises(ValueError, match="strictly increasing"):
        integrate_ensemble(lor, np.zeros((2, 3)), np.array([0.0, 1.0, 1.0]))


def test_divergence_names_the_trajectory():
    system = _Oscillator(_OscParams(blow_up=True))
    y0 = np.array([[-1.0, 0.0], [0.5, 0.0], [-0.5, 0.0]])  # x0 = 0.5 diverges at t = 2
    with pytest.raises(EnsembleFailure, match="trajectory 1 failed at t = 2"):
        integrate_ensemble(system, y0, np.linspace(0.0, 3.0, 31), rtol=1e-8, atol=1e-8)
    with pytest.raises(SimulationError, match="trajectory 1 failed"):
        simulate(system, n_traj=3, n_t=31, dt=0.1, transient=0.0, initial_conditions=y0,
                 progress=False)


# ----------------------------------------------------------------------- Kuramoto-Sivashinsky
def test_ks_batch_equals_one_at_a_time():
    system = get_system("kuramoto_sivashinsky", n_modes=128)
    rng = np.random.default_rng(0)
    y0 = np.stack([system.initial_condition(rng) for _ in range(3)])
    t = np.concatenate([0.25 * np.arange(41), [10.1, 10.6]])  # uneven last intervals too
    batch = system.integrate(y0, t)
    assert batch.shape == (3, t.size, 128) and batch.flags["C_CONTIGUOUS"]
    for i in range(3):
        np.testing.assert_array_equal(batch[i], system.integrate(y0[i], t))
    kw = {"n_traj": 3, "n_t": 20, "transient": 5.0, "seed": 2, "progress": False}
    fast = simulate(system, **kw)
    slow = simulate(system, engine="scipy", **kw)
    assert fast.meta["engine"] == "batched integrate" and slow.meta["engine"] == "scipy"
    np.testing.assert_array_equal(fast.y, slow.y)
    np.testing.assert_array_equal(fast.y0, slow.y0)


def test_ks_batched_etdrk4_fourth_order():
    """Two initial conditions at once (Kassam-Trefethen's and a shifted one), 20 time units:
    the error against a dt = 1/64 reference falls ~16x per halving of dt for both."""
    x = get_system("kuramoto_sivashinsky").grid
    u0 = np.stack([np.cos(x / 16) * (1 + np.sin(x / 16)),
                   np.cos(x / 16 + 1.0) * (1 + np.sin(x / 16 + 1.0))])
    t = np.arange(0.0, 20.0001, 1.0)

    def run(h):
        return get_system("kuramoto_sivashinsky", dt_int=h).integrate(u0, t)

    ref = run(1 / 64)
    errs = np.array([np.max(np.abs(run(h) - ref), axis=(1, 2)) for h in (0.5, 0.25, 0.125)])
    ratios = errs[:-1] / errs[1:]
    assert np.all(errs[-1] < 1e-4)
    assert np.all((ratios >= 10.0) & (ratios <= 22.0)), (errs, ratios)
    assert math.isfinite(float(ratios.min()))


def test_ks_batch_bad_shapes():
    system = get_system("kuramoto_sivashinsky")
    with pytest.raises(Exception, match="y0 must have shape"):
        system.integrate(np.zeros((2, 3, 64)), np.arange(3.0))
    bad = np.zeros((2, 64))
    bad[1, 3] = np.nan
    with pytest.raises(Exception, match="non-finite"):
        system.integrate(bad, np.arange(3.0))
