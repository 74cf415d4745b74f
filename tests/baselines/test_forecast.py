"""Forecasting baselines: each does exactly what it claims, on systems with known answers."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from physrnn.baselines.forecast.predictors import (
    BASELINES,
    ClimatologicalMean,
    ESNBaseline,
    LinearAR,
    Persistence,
    SINDyBaseline,
    make_baseline,
)
from physrnn.nn.base import Forecaster
from physrnn.nn.reservoir import EchoStateNetwork

SIGMA, RHO, BETA = 10.0, 28.0, 8.0 / 3.0


def _lorenz(t, y):
    return [SIGMA * (y[1] - y[0]), y[0] * (RHO - y[2]) - y[1], y[0] * y[1] - BETA * y[2]]


@pytest.fixture(scope="module")
def lorenz_raw():
    """Lorenz-63 in its own units, dt = 0.01, 2500 steps after a transient (DOP853, 1e-10)."""
    dt = 0.01
    t_eval = 5.0 + dt * np.arange(2500)
    sol = solve_ivp(_lorenz, (0.0, t_eval[-1]), [1.0, 1.0, 1.0], method="DOP853",
                    rtol=1e-10, atol=1e-10, t_eval=t_eval)
    return dt, sol.y.T


def _linear_system(n_traj=6, n_t=30, seed=0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    a = q @ np.diag([0.95, 0.8, -0.5]) @ q.T + 0.1 * rng.normal(size=(3, 3))
    x = np.empty((n_traj, n_t, 3))
    x[:, 0] = rng.normal(size=(n_traj, 3))
    for t in range(1, n_t):
        x[:, t] = x[:, t - 1] @ a.T
    return a, x


# -- persistence and mean -------------------------------------------------------------------

def test_persistence_repeats_last_point():
    rng = np.random.default_rng(0)
    train = rng.normal(size=(2, 20, 4))
    ctx = rng.normal(size=(5, 7, 4))
    model = Persistence().fit(train)
    out = model.forecast(ctx, 9)
    assert out.shape == (5, 9, 4) and out.dtype == np.float64
    np.testing.assert_array_equal(out, np.broadcast_to(ctx[:, -1:, :], (5, 9, 4)))
    assert model.forecast(ctx, 0).shape == (5, 0, 4)
    assert model.forecast(ctx[:, -1:], 1).shape == (5, 1, 4)


def test_mean_forecasts_training_mean():
    rng = np.random.default_rng(1)
    train = rng.normal(loc=[1.0, -2.0, 0.5], size=(3, 50, 3))
    model = ClimatologicalMean().fit(train)
    np.testing.assert_allclose(model.mean_, train.reshape(-1, 3).mean(0), rtol=1e-14)
    out = model.forecast(rng.normal(size=(4, 10, 3)), 6)
    assert out.shape == (4, 6, 3)
    np.testing.assert_allclose(out, np.broadcast_to(train.reshape(-1, 3).mean(0), (4, 6, 3)))
    out[0, 0, 0] = 99.0  # a writable copy, not a view of mean_
    assert model.mean_[0] != 99.0


# -- linear autoregression ------------------------------------------------------------------

@pytest.mark.parametrize("intercept", [True, False])
def test_linear_ar1_recovers_a_and_forecasts_powers(intercept):
    a, x = _linear_system()
    model = LinearAR(order=1, intercept=intercept).fit(x)
    assert model.coef_.shape == (1, 3, 3)
    np.testing.assert_allclose(model.coef_[0], a, atol=1e-10)
    np.testing.assert_allclose(model.intercept_, 0.0, atol=1e-10)
    x0 = np.random.default_rng(9).normal(size=(2, 3))
    out = model.forecast(x0[:, None, :], 15)
    truth = np.stack([x0 @ np.linalg.matrix_power(a, t).T for t in range(1, 16)], axis=1)
    np.testing.assert_allclose(out, truth, atol=1e-9)


def test_linear_ar2_recovers_damped_oscillator_coefficients():
    """x'' + 2 zeta w x' + w^2 x = 0 sampled every dt obeys x_{t+1} = a1 x_t + a2 x_{t-1} with
    a1 = 2 exp(-zeta w dt) cos(w_d dt), a2 = -exp(-2 zeta w dt), w_d = w sqrt(1 - zeta^2)."""
    w, zeta, dt = 2.0, 0.1, 0.05
    wd = w * np.sqrt(1 - zeta**2)
    t = dt * np.arange(200)
    rng = np.random.default_rng(2)
    amp, phase = rng.uniform(0.5, 2.0, 4), rng.uniform(0, 2 * np.pi, 4)
    x = (amp[:, None] * np.exp(-zeta * w * t) * np.cos(wd * t + phase[:, None]))[..., None]
    model = LinearAR(order=2).fit(x)
    a1 = 2 * np.exp(-zeta * w * dt) * np.cos(wd * dt)
    a2 = -np.exp(-2 * zeta * w * dt)
    np.testing.assert_allclose(model.coef_[:, 0, 0], [a1, a2], rtol=1e-9)
    # and continues a fresh trajectory exactly
    fresh = (1.3 * np.exp(-zeta * w * t) * np.cos(wd * t + 0.4))[None, :, None]
    np.testing.assert_allclose(model.forecast(fresh[:, :10], 100), fresh[:, 10:110], atol=1e-9)
    # the wrong order cannot represent it
    ar1 = LinearAR(order=1).fit(x)
    assert np.max(np.abs(ar1.forecast(fresh[:, :10], 100) - fresh[:, 10:110])) > 0.1


def test_linear_ar_ridge_matches_closed_form():
    x = np.cumsum(np.random.default_rng(3).normal(size=(4, 40, 3)), axis=1)  # random walks
    ridge = 0.7
    model = LinearAR(order=2, ridge=ridge, intercept=False).fit(x)
    feats = np.concatenate([x[:, 1:-1], x[:, :-2]], axis=2).reshape(-1, 6)
    target = x[:, 2:].reshape(-1, 3)
    w = np.linalg.solve(feats.T @ feats + ridge * np.eye(6), feats.T @ target)
    np.testing.assert_allclose(model.coef_[0], w[:3].T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.coef_[1], w[3:].T, rtol=1e-10, atol=1e-12)
    # with an intercept, only the A_k are penalised: ridge on centred features and targets
    mi = LinearAR(order=2, ridge=ridge, intercept=True).fit(x)
    fc, tc = feats - feats.mean(0), target - target.mean(0)
    wc = np.linalg.solve(fc.T @ fc + ridge * np.eye(6), fc.T @ tc)
    np.testing.assert_allclose(np.concatenate([mi.coef_[0].T, mi.coef_[1].T]), wc, rtol=1e-9,
                               atol=1e-11)
    np.testing.assert_allclose(mi.intercept_, target.mean(0) - feats.mean(0) @ wc, atol=1e-9)


# -- ESN baseline ---------------------------------------------------------------------------

def test_esn_baseline_runs_search(lorenz_raw):
    _, x = lorenz_raw
    x = (x - x.mean(0)) / x.std(0)
    model = make_baseline("esn", n_configs=2, n_reservoir=40, washout=30, n_context=30,
                          n_horizon=60, seed=1)
    model.fit(x[None, :1200], x[None, 1200:1800])
    assert isinstance(model.model_, EchoStateNetwork) and len(model.table_) == 2
    assert sum(r["best"] for r in model.table_) == 1
    out = model.forecast(x[None, 1800:1850], 25)
    np.testing.assert_array_equal(out, model.model_.forecast(x[None, 1800:1850], 25))
    # without val, the end of each training trajectory is held out
    m2 = ESNBaseline(n_configs=1, n_reservoir=20, washout=20, n_horizon=40, seed=0)
    m2.fit(x[None, :800])
    assert m2.forecast(x[None, :30], 5).shape == (1, 5, 3)


# -- SINDy ----------------------------------------------------------------------------------

def test_sindy_recovers_lorenz_coefficients(lorenz_raw):
    pytest.importorskip("pysindy")
    dt, x = lorenz_raw
    model = SINDyBaseline(dt=dt, threshold=0.1, fd_order=4).fit(x[None, :2000])
    names = model.feature_names_
    xi = model.coefficients_
    expected = np.zeros_like(xi)
    col = {n: i for i, n in enumerate(names)}
    expected[0, col["x0"]], expected[0, col["x1"]] = -SIGMA, SIGMA
    expected[1, col["x0"]], expected[1, col["x1"]], expected[1, col["x0 x2"]] = RHO, -1.0, -1.0
    expected[2, col["x2"]], expected[2, col["x0 x1"]] = -BETA, 1.0
    assert np.all((xi != 0) == (expected != 0))  # the sparsity pattern is exact
    np.testing.assert_allclose(xi, expected, rtol=1e-3)  # 4th-order differences: ~1e-4
    # forecasts follow the truth for about one time unit (~1 Lyapunov time)
    out = model.forecast(x[None, 1990:2001], 100)
    assert out.shape == (1, 100, 3)
    err = np.abs(out[0] - x[2001:2101]) / x[:2000].std(0)
    assert err.max() < 0.05


def test_sindy_in_normalised_coordinates_forecasts(lorenz_raw):
    pytest.importorskip("pysindy")
    dt, x = lorenz_raw
    xn = (x - x[:2000].mean(0)) / x[:2000].std(0)
    model = make_baseline("sindy", dt=dt).fit(np.stack([xn[:1000], xn[1000:2000]]))
    assert isinstance(model, Forecaster)
    out = model.forecast(np.stack([xn[1500:1501], xn[2000:2001]]), 50)
    truth = np.stack([xn[1501:1551], xn[2001:2051]])
    assert np.sqrt(np.mean((out - truth) ** 2)) < 0.02
    assert model.forecast(xn[None, :5], 0).shape == (1, 0, 3)


def test_sindy_diverging_model_raises_or_fills_nan(lorenz_raw):
    pytest.importorskip("pysindy")
    dt, x = lorenz_raw
    model = SINDyBaseline(dt=dt).fit(x[None, :500])
    model.coefficients_ = np.zeros_like(model.coefficients_)
    model.coefficients_[0, model.feature_names_.index("x0^2")] = 1.0  # x' = x^2 blows up
    ctx = np.array([[[5.0, 0.0, 0.0]]])
    with pytest.raises(FloatingPointError, match="batch member 0"):
        model.forecast(ctx, 50)
    model.on_failure = "nan"
    out = model.forecast(ctx, 50)
    assert out.shape == (1, 50, 3) and np.isnan(out[0, -1]).all() and np.isfinite(out[0, 0]).all()


def test_sindy_missing_dependency_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "pysindy", None)  # makes `import pysindy` fail
    with pytest.raises(ImportError, match="pysindy is not installed: pip install pysindy"):
        SINDyBaseline(dt=0.01).fit(np.zeros((1, 20, 3)))


# -- registry and errors --------------------------------------------------------------------

def test_registry_builds_every_baseline():
    assert set(BASELINES) == {"persistence", "mean", "linear", "esn", "sindy", "ngrc",
                              "reservoirpy-esn"}
    kwargs = {"sindy": {"dt": 0.01}, "linear": {"order": 3}}
    for name in BASELINES:
        model = make_baseline(name, **kwargs.get(name, {}))
        assert isinstance(model, BASELINES[name])
        assert isinstance(model, Forecaster) and model.name == name
    assert make_baseline("linear", order=3).order == 3
    with pytest.raises(ValueError, match=r"unknown baseline 'dmd'; choose from \['esn'"):
        make_baseline("dmd")


def test_clear_shape_and_argument_errors():
    rng = np.random.default_rng(4)
    train = rng.normal(size=(2, 30, 3))
    ar = LinearAR(order=3).fit(train)
    with pytest.raises(ValueError, match=r"2 time steps, at least 3 .*order p=3"):
        ar.forecast(train[:, :2], 4)
    with pytest.raises(ValueError, match="n_state=2 but the model was fitted with n_state=3"):
        ar.forecast(train[:, :, :2], 4)
    with pytest.raises(ValueError, match="n_state=4 but the model was fitted with n_state=3"):
        Persistence().fit(train).forecast(rng.normal(size=(1, 5, 4)), 2)
    with pytest.raises(ValueError, match=r"must be \(batch, time, n_state\)"):
        ClimatologicalMean().fit(train[0])
    with pytest.raises(ValueError, match="n_steps"):
        Persistence().fit(train).forecast(train, 2.5)
    with pytest.raises(RuntimeError, match="call fit"):
        LinearAR(order=1).forecast(train, 2)
    with pytest.raises(ValueError, match="at least 4"):
        LinearAR(order=3).fit(train[:, :3])
    with pytest.raises(ValueError, match="order must be an int >= 1"):
        LinearAR(order=0)
    with pytest.raises(ValueError, match="dt must be finite and > 0"):
        SINDyBaseline(dt=0.0)
    with pytest.raises(ValueError, match="on_failure"):
        SINDyBaseline(dt=0.1, on_failure="ignore")
