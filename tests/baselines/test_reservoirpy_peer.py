"""reservoirpy's ESN as a peer: shapes, a sine wave, fidelity to reservoirpy's nodes, seeds."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from physrnn.baselines.forecast import BASELINES, ReservoirpyESN, make_baseline
from physrnn.nn.base import Forecaster


def test_missing_extra_error(monkeypatch):
    for mod in ("reservoirpy", "reservoirpy.mat_gen", "reservoirpy.nodes"):
        monkeypatch.setitem(sys.modules, mod, None)
    with pytest.raises(ImportError, match=r"pip install 'physrnn\[reservoirpy\]'"):
        ReservoirpyESN(20).fit(np.zeros((1, 200, 2)))


def test_registry_and_bad_arguments():
    assert BASELINES["reservoirpy-esn"] is ReservoirpyESN
    m = make_baseline("reservoirpy-esn", n_reservoir=10)
    assert isinstance(m, Forecaster) and m.name == "reservoirpy-esn"
    for kwargs, match in (({"n_reservoir": 0}, "n_reservoir"), ({"leak": 0.0}, "leak"),
                          ({"ridge": -1.0}, "ridge"), ({"target": "delta"}, "target"),
                          ({"activation": "relu"}, "activation"), ({"washout": -1}, "washout"),
                          ({"locality": (0, 1)}, "patch"), ({"seed": 1.5}, "seed")):
        with pytest.raises(ValueError, match=match):
            ReservoirpyESN(**{"n_reservoir": 10, **kwargs})


@pytest.fixture
def rpy():
    """reservoirpy itself (the tests below skip without the optional extra)."""
    return pytest.importorskip("reservoirpy")


def _sine(n_traj: int, n_t: int, period: float = 25.0, phase0: float = 0.0) -> np.ndarray:
    t = np.arange(n_t)[None, :] * 2 * np.pi / period + phase0 + np.arange(n_traj)[:, None]
    return np.stack([np.sin(t), np.cos(t)], axis=-1) * np.sqrt(2.0)


def test_shapes_and_errors(rpy):
    x = np.random.default_rng(0).normal(size=(3, 60, 4))
    m = ReservoirpyESN(30, washout=10).fit(x)
    assert m.forecast(x[:2, :20], 7).shape == (2, 7, 4)
    assert m.forecast(x[:2, :20], 0).shape == (2, 0, 4)
    assert m.states(x[:2, :20]).shape == (2, 1, 20, 30)
    with pytest.raises(ValueError, match="n_state=3"):
        m.forecast(x[:, :20, :3], 5)
    with pytest.raises(RuntimeError, match="call fit"):
        ReservoirpyESN(10).forecast(x, 3)
    with pytest.raises(ValueError, match="at least 12"):
        ReservoirpyESN(10, washout=10).fit(x[:, :11])
    with pytest.raises(ValueError, match="does not divide"):
        ReservoirpyESN(10, washout=10, locality=(3, 0)).fit(x)


def test_sine_wave_one_step_and_closed_loop(rpy):
    """A circle: one-step error tiny, four periods of closed loop close to the truth."""
    train = _sine(2, 600)
    m = ReservoirpyESN(100, spectral_radius=0.9, input_scaling=0.3, ridge=1e-9, washout=50,
                       seed=3).fit(train)
    assert m.train_nrmse_ < 1e-4
    test = _sine(2, 300, phase0=0.37)
    pred = m.forecast(test[:, :100], 100)
    assert np.max(np.abs(pred - test[:, 100:200])) < 0.05


def test_matches_reservoirpy_nodes_step_by_step(rpy):
    """The batched forecast is reservoirpy's Reservoir.step / Ridge.step arithmetic."""
    x = _sine(2, 300) + 0.1 * np.random.default_rng(1).normal(size=(2, 300, 2))
    m = ReservoirpyESN(40, washout=20, leak=0.7, target="increment", seed=5).fit(x)
    ctx = x[:, :50]
    states = m.states(ctx)
    pred = m.forecast(ctx, 12)
    res, out = m.reservoir_, m.readout_
    for i in range(ctx.shape[0]):
        res.reset()
        np.testing.assert_allclose(states[i, 0], res.run(ctx[i]), rtol=1e-12, atol=1e-13)
        u = ctx[i, -1]
        for k in range(12):
            u = u + out.step(np.concatenate([res.state["out"], u]))
            np.testing.assert_allclose(pred[i, k], u, rtol=1e-10, atol=1e-12)
            res.step(u)


def test_same_seed_reproducible_other_seed_differs(rpy):
    x = _sine(2, 200)
    a = ReservoirpyESN(30, washout=10, seed=7).fit(x).forecast(x[:, :50], 20)
    b = ReservoirpyESN(30, washout=10, seed=7).fit(x).forecast(x[:, :50], 20)
    c = ReservoirpyESN(30, washout=10, seed=8).fit(x).forecast(x[:, :50], 20)
    np.testing.assert_array_equal(a, b)
    assert np.max(np.abs(a - c)) > 1e-8


def test_local_one_patch_equals_global_and_shift_equivariance(rpy):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 80, 6))
    glob = ReservoirpyESN(25, washout=10, seed=1).fit(x)
    loc = ReservoirpyESN(25, washout=10, seed=1, locality=(6, 0)).fit(x)
    np.testing.assert_allclose(loc.forecast(x[:, :30], 5), glob.forecast(x[:, :30], 5),
                               rtol=1e-12, atol=1e-12)
    m = ReservoirpyESN(25, washout=10, seed=1, locality=(2, 1)).fit(x)
    assert m.readout_.Wout.shape == (25 + 4, 2)  # one readout for the three patches
    pred = m.forecast(x[:, :30], 5)
    np.testing.assert_allclose(m.forecast(np.roll(x[:, :30], 2, -1), 5), np.roll(pred, 2, -1),
                               rtol=1e-12, atol=1e-12)


def test_fitting_a_group_of_sequences_at_a_time_changes_nothing(monkeypatch):
    import physrnn.baselines.forecast.reservoirpy_peer as peer

    x = np.sin(np.linspace(0, 30, 300))[None, :, None] * np.ones((3, 1, 4))
    x = x + 0.1 * np.random.default_rng(0).standard_normal(x.shape)
    whole = peer.ReservoirpyESN(20, washout=10, seed=2, locality=(2, 1)).fit(x)
    monkeypatch.setattr(peer, "_STATE_BYTES", 1.0)  # one sequence per group
    grouped = peer.ReservoirpyESN(20, washout=10, seed=2, locality=(2, 1)).fit(x)
    np.testing.assert_allclose(np.asarray(grouped.readout_.Wout),
                               np.asarray(whole.readout_.Wout), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(grouped.forecast(x[:, :50], 20), whole.forecast(x[:, :50], 20),
                               rtol=1e-9, atol=1e-12)
