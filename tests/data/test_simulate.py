"""Ensemble integration: fixed rank, determinism, transients, loud failures."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from physrnn.data.simulate import SimulationError, simulate
from physrnn.systems.base import DynamicalSystem, SystemInfo


@dataclass(frozen=True)
class _DecayParams:
    rate: float = 0.5
    blow_up: bool = False


class _Decay(DynamicalSystem):
    """dy/dt = -rate y (or +y^2 when blow_up, which diverges at t = 1/y0)."""

    name = "_test_decay"
    kind = "ode"
    Params = _DecayParams

    def info(self) -> SystemInfo:
        return SystemInfo(state_names=("a", "b"), state_units=("m", "m"), default_dt=0.1,
                          default_transient=0.0, default_rtol=1e-11, default_atol=1e-12)

    def initial_condition(self, rng):
        return rng.uniform(0.5, 1.5, size=2)

    def rhs(self, t, y):
        return y**2 if self.params.blow_up else -self.params.rate * y

    def solution(self, t, y0):
        return y0[None, :] * np.exp(-self.params.rate * t)[:, None]

    def invariants(self, y):
        return {"ratio": y[..., 0] / y[..., 1]}


def test_shapes_and_accuracy():
    sys_ = _Decay()
    sim = simulate(sys_, n_traj=3, n_t=21, seed=1)
    assert sim.y.shape == (3, 21, 2) and sim.t.shape == (21,) and sim.y0.shape == (3, 2)
    np.testing.assert_allclose(sim.t[1] - sim.t[0], 0.1)
    for i in range(3):
        np.testing.assert_allclose(sim.y[i], sys_.solution(sim.t, sim.y0[i]), rtol=1e-9)
    np.testing.assert_allclose(sim.observables["invariant/ratio"],
                               np.broadcast_to(sim.y0[:, :1] / sim.y0[:, 1:], (3, 21)),
                               rtol=1e-9)
    assert sim.meta["integrator"] == "DOP853" and sim.meta["rtol"] == 1e-11
    assert sim.meta["state_names"] == ["a", "b"]
    one = simulate(sys_, n_traj=1, n_t=1)
    assert one.y.shape == (1, 1, 2)  # rank never changes


def test_t_final_and_transient():
    sys_ = _Decay()
    a = simulate(sys_, n_traj=2, t_final=1.0, seed=3)
    assert a.y.shape[1] == 11
    b = simulate(sys_, n_traj=2, t_final=1.0, transient=2.0, seed=3)
    # after a transient of 2 the initial state has decayed by exp(-rate * 2)
    np.testing.assert_allclose(b.y0, a.y0 * np.exp(-0.5 * 2.0), rtol=1e-9)


def test_deterministic_and_independent_of_workers():
    sys_ = _Decay()
    a = simulate(sys_, n_traj=6, n_t=5, seed=7)
    b = simulate(sys_, n_traj=6, n_t=5, seed=7, workers=2)
    c = simulate(sys_, n_traj=6, n_t=5, seed=8)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.allclose(a.y, c.y)
    # trajectory i does not depend on how many trajectories are drawn
    d = simulate(sys_, n_traj=3, n_t=5, seed=7)
    np.testing.assert_array_equal(a.y[:3], d.y)


def test_failure_names_trajectory():
    sys_ = _Decay(_DecayParams(blow_up=True))
    with pytest.raises(SimulationError, match=r"trajectory 0 (failed|became NaN)"):
        simulate(sys_, n_traj=2, t_final=5.0, seed=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"n_traj": 0, "n_t": 3}, "n_traj"), ({"n_t": 3, "dt": -1.0}, "dt"),
     ({}, "exactly one"), ({"n_t": 3, "t_final": 1.0}, "exactly one"),
     ({"n_t": 3, "transient": -1.0}, "transient"),
     ({"n_t": 3, "initial_conditions": np.zeros((2, 2))}, "initial_conditions")],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate(_Decay(), **kwargs)


def test_initial_conditions_used():
    y0 = np.array([[1.0, 2.0], [3.0, 4.0]])
    sim = simulate(_Decay(), n_traj=2, n_t=3, initial_conditions=y0)
    np.testing.assert_array_equal(sim.y[:, 0], y0)


def test_delay_transient_keeps_history():
    """A delay system's recording continues the transient run (no restart from one state)."""
    from physrnn.systems.base import get_system

    mg = get_system("mackey_glass")
    sim = simulate(mg, n_traj=1, n_t=50, dt=1.0, transient=100.0, seed=2)
    rng = np.random.default_rng(np.random.SeedSequence(2).spawn(1)[0])
    y0 = mg.initial_condition(rng)
    full = mg.integrate(y0, np.arange(150.0), rng=rng, method="rk4", rtol=0, atol=0)
    np.testing.assert_allclose(sim.y[0], full[100:], rtol=1e-12)
    np.testing.assert_allclose(sim.t, np.arange(100.0, 150.0))
