"""Echo-state network: exactness on linear maps, the ridge algebra, closed loop, the search."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from physrnn.baselines.forecast import esn_search
from physrnn.metrics.forecast import valid_steps
from physrnn.nn.base import Forecaster
from physrnn.nn.reservoir import EchoStateNetwork


def _linear_map(seed: int = 0) -> np.ndarray:
    """A stable, non-normal 3x3 map: a damped rotation in (x, y) coupled to a decaying z."""
    th = 0.3
    a = np.array([[np.cos(th), -np.sin(th), 0.1],
                  [np.sin(th), np.cos(th), 0.0],
                  [0.05, 0.0, 0.8]])
    return 0.97 * a


def _linear_data(a: np.ndarray, n_traj: int, n_t: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.empty((n_traj, n_t, a.shape[0]))
    x[:, 0] = rng.normal(size=(n_traj, a.shape[0]))
    for t in range(1, n_t):
        x[:, t] = x[:, t - 1] @ a.T
    return x


def _lorenz(t, y, s=10.0, r=28.0, b=8.0 / 3.0):
    return [s * (y[1] - y[0]), y[0] * (r - y[2]) - y[1], y[0] * y[1] - b * y[2]]


@pytest.fixture(scope="module")
def lorenz_norm():
    """Normalised Lorenz-63, dt = 0.02, 3600 steps after a transient (DOP853, tol 1e-10)."""
    dt, n = 0.02, 3600
    t_eval = 5.0 + dt * np.arange(n)
    sol = solve_ivp(_lorenz, (0.0, t_eval[-1]), [1.0, 1.0, 1.0], method="DOP853",
                    rtol=1e-10, atol=1e-10, t_eval=t_eval)
    x = sol.y.T
    x = (x - x[:2000].mean(0)) / x[:2000].std(0)
    return x


# -- exactness and algebra ------------------------------------------------------------------

@pytest.mark.parametrize("target", ["state", "increment"])
def test_linear_reservoir_reproduces_linear_map_exactly(target):
    a = _linear_map()
    train = _linear_data(a, n_traj=20, n_t=60, seed=1)
    test = _linear_data(a, n_traj=5, n_t=40, seed=2)
    esn = EchoStateNetwork(30, spectral_radius=0.5, leak=0.7, input_scaling=0.5,
                           bias_scaling=0.3, ridge=0.0, washout=5, activation="identity",
                           target=target, seed=3).fit(train)
    assert isinstance(esn, Forecaster)
    # one-step predictions of x_{t+1} = A x_t, for t >= washout (the fitted range)
    pred = esn.predict_one_step(test)[:, 5:-1]
    truth = test[:, 6:]
    np.testing.assert_allclose(pred, truth, rtol=0, atol=1e-8)
    # the closed loop is then exact too: x_{t+k} = A^k x_t
    fc = esn.forecast(test[:, :10], 20)
    np.testing.assert_allclose(fc, test[:, 10:30], rtol=0, atol=1e-7)


def test_tanh_reservoir_tiny_input_scaling_linear_map():
    a = _linear_map()
    train = _linear_data(a, n_traj=20, n_t=80, seed=4)
    test = _linear_data(a, n_traj=4, n_t=30, seed=5)
    esn = EchoStateNetwork(40, spectral_radius=0.8, input_scaling=1e-4, bias_scaling=0.0,
                           ridge=1e-14, washout=10, seed=6).fit(train)
    np.testing.assert_allclose(esn.predict_one_step(test)[:, 10:-1], test[:, 11:], atol=1e-8)


def test_ridge_readout_matches_numpy_lstsq(lorenz_norm):
    train = lorenz_norm[None, :800]
    ridge = 1e-3
    esn = EchoStateNetwork(50, ridge=ridge, washout=50, squared_states=True, seed=0).fit(train)
    x, z = esn.design_matrix(train)
    assert x.shape == (800 - 1 - 50, 1 + 50 + 3) and z.shape == (749, 3)
    aug_x = np.vstack([x, np.sqrt(ridge) * np.eye(x.shape[1])])
    aug_z = np.vstack([z, np.zeros((x.shape[1], 3))])
    w_ref = np.linalg.lstsq(aug_x, aug_z, rcond=None)[0].T
    np.testing.assert_allclose(esn.W_out_, w_ref, rtol=1e-7, atol=1e-9)
    # ridge = 0: the least-squares solution (X has full column rank here)
    esn0 = EchoStateNetwork(50, ridge=0.0, washout=50, seed=0).fit(train)
    x0, z0 = esn0.design_matrix(train)
    w0 = np.linalg.lstsq(x0, z0, rcond=None)[0].T
    np.testing.assert_allclose(esn0.W_out_ @ x0.T, w0 @ x0.T, atol=1e-8)


def test_design_matrix_concatenates_trajectories_with_washout_each(lorenz_norm):
    trajs = np.stack([lorenz_norm[:300], lorenz_norm[1000:1300]])
    esn = EchoStateNetwork(20, washout=30, seed=1).fit(trajs)
    x, z = esn.design_matrix(trajs)
    x0, z0 = esn.design_matrix(trajs[:1])
    x1, z1 = esn.design_matrix(trajs[1:])
    # (batched BLAS may differ from one-at-a-time in the last bit)
    np.testing.assert_allclose(x, np.vstack([x0, x1]), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(z, np.vstack([z0, z1]))
    assert x0.shape[0] == 300 - 1 - 30
    # row layout [1; r; u] with u_t the input and z = u_{t+1}
    np.testing.assert_array_equal(x0[:, 0], 1.0)
    np.testing.assert_array_equal(x0[:, -3:], trajs[0, 30:-1])
    np.testing.assert_array_equal(z0, trajs[0, 31:])


def test_states_follow_leaky_update(lorenz_norm):
    """r_{t+1} = (1 - a) r_t + a tanh(W r_t + W_in u_t + b), r_0 = 0, written out by hand."""
    u = lorenz_norm[:40]
    esn = EchoStateNetwork(15, leak=0.3, spectral_radius=1.1, washout=0, seed=4)
    esn.fit(u[None])
    x, _ = esn.design_matrix(u[None])
    r = np.zeros(15)
    for t in range(39):
        r = 0.7 * r + 0.3 * np.tanh(esn.W_ @ r + esn.W_in_ @ u[t] + esn.b_)
        np.testing.assert_allclose(x[t, 1:16], r, rtol=1e-12, atol=1e-14)


def test_squared_states_square_even_units(lorenz_norm):
    train = lorenz_norm[None, :200]
    plain = EchoStateNetwork(20, washout=10, seed=2).fit(train)
    sq = EchoStateNetwork(20, washout=10, seed=2, squared_states=True).fit(train)
    xp, _ = plain.design_matrix(train)
    xs, _ = sq.design_matrix(train)
    r_p, r_s = xp[:, 1:21], xs[:, 1:21]
    np.testing.assert_allclose(r_s[:, ::2], r_p[:, ::2] ** 2)
    np.testing.assert_array_equal(r_s[:, 1::2], r_p[:, 1::2])


def test_reservoir_matrix_spectral_radius_and_sparsity():
    esn = EchoStateNetwork(200, spectral_radius=1.3, degree=3, input_scaling=0.2, seed=5)
    esn.fit(np.random.default_rng(0).normal(size=(1, 150, 2)))
    rho = np.max(np.abs(np.linalg.eigvals(esn.W_)))
    assert rho == pytest.approx(1.3, rel=1e-10)
    assert 2.0 < np.count_nonzero(esn.W_) / 200 < 4.0
    assert np.max(np.abs(esn.W_in_)) <= 0.2
    assert esn.W_in_.shape == (200, 2) and esn.W_out_.shape == (2, 1 + 200 + 2)


# -- closed loop ----------------------------------------------------------------------------

def test_forecast_is_iterated_one_step_prediction(lorenz_norm):
    esn = EchoStateNetwork(40, leak=0.6, washout=20, seed=3).fit(lorenz_norm[None, :1000])
    ctx = np.stack([lorenz_norm[1000:1050], lorenz_norm[2000:2050]])
    fc = esn.forecast(ctx, 6)
    seq = ctx
    for k in range(6):
        nxt = esn.predict_one_step(seq)[:, -1:]
        np.testing.assert_allclose(fc[:, k:k + 1], nxt, rtol=1e-12, atol=1e-12)
        seq = np.concatenate([seq, nxt], axis=1)
    # vectorised over the batch: the same as one member at a time
    np.testing.assert_allclose(fc[1:], esn.forecast(ctx[1:], 6), rtol=1e-12, atol=1e-13)
    assert fc.shape == (2, 6, 3) and fc.dtype == np.float64
    assert esn.forecast(ctx, 0).shape == (2, 0, 3)


def test_esn_beats_persistence_on_lorenz(lorenz_norm):
    train, test = lorenz_norm[None, :2400], lorenz_norm[2400:]
    esn = EchoStateNetwork(200, spectral_radius=0.4, leak=0.9, input_scaling=0.5,
                           ridge=1e-8, washout=100, seed=0).fit(train)
    starts = range(0, 1000, 100)
    ctx = np.stack([test[s:s + 100] for s in starts])
    fut = np.stack([test[s + 100:s + 200] for s in starts])
    pred = esn.forecast(ctx, 100)
    pers = np.repeat(ctx[:, -1:], 100, axis=1)
    err_esn = np.sqrt(np.mean((pred - fut) ** 2, axis=(0, 2)))
    err_pers = np.sqrt(np.mean((pers - fut) ** 2, axis=(0, 2)))
    assert np.all(err_esn[:20] < 0.1 * err_pers[:20])
    vpt_esn, vpt_pers = valid_steps(pred, fut), valid_steps(pers, fut)
    # 0.02 * 0.9056 Lyapunov times per step: persistence lasts a few steps, the ESN > 1 LT
    assert np.median(vpt_pers) < 10
    assert np.median(vpt_esn) > 60


# -- validation metric and search -----------------------------------------------------------

def test_vpt_steps_counts_steps_before_threshold():
    true = np.zeros((3, 10, 2))
    pred = np.zeros((3, 10, 2))
    pred[0, 4:] = 0.5  # NRMSE 0.5 from step 4 on
    pred[1, 7, 0] = np.sqrt(2 * 0.41**2)  # NRMSE 0.41 at step 7 only
    pred[2, :] = 0.39  # always valid
    np.testing.assert_array_equal(valid_steps(pred, true), [4.0, 7.0, 10.0])
    pred[2, 3] = np.nan
    assert valid_steps(pred, true)[2] == 3.0


def test_esn_search_picks_best_and_is_deterministic(lorenz_norm):
    train, val = lorenz_norm[None, :1500], lorenz_norm[None, 1500:2700]
    kw = dict(n_configs=4, seed=11, n_reservoir=60, n_context=50, n_horizon=150,
              washout=50)
    best, table = esn_search(train, val, **kw)
    assert len(table) == 4
    keys = [(r["vpt_median"], r["vpt_mean"]) for r in table]
    i_best = max(range(4), key=lambda i: keys[i])
    assert [r["best"] for r in table] == [i == i_best for i in range(4)]
    row = table[i_best]
    for key in ("spectral_radius", "leak", "input_scaling", "ridge"):
        assert getattr(best, key) == row[key]
    assert row["vpt_median"] == max(k[0] for k in keys)
    # the reported score is the best model's score on the validation windows
    ctx = np.stack([val[0, s:s + 50] for s in range(0, 1200, 200)])
    fut = np.stack([val[0, s + 50:s + 200] for s in range(0, 1200, 200)])
    assert np.median(valid_steps(best.forecast(ctx, 150), fut)) == row["vpt_median"]
    # searched values vary, and a fixed seed repeats the search exactly
    assert len({r["spectral_radius"] for r in table}) == 4
    best2, table2 = esn_search(train, val, **kw)
    assert table2 == table
    np.testing.assert_array_equal(best2.W_out_, best.W_out_)
    _, table3 = esn_search(train, val, **{**kw, "seed": 12})
    assert [r["leak"] for r in table3] != [r["leak"] for r in table]


def test_esn_search_respects_space_and_rejects_unknown(lorenz_norm):
    train, val = lorenz_norm[None, :600], lorenz_norm[None, 600:900]
    _, table = esn_search(train, val, n_configs=2, n_reservoir=20, washout=20,
                          space={"ridge": (1e-6, 1e-6, "log"), "leak": (0.5, 0.6, "lin")})
    assert all(r["ridge"] == pytest.approx(1e-6) and 0.5 <= r["leak"] <= 0.6 for r in table)
    with pytest.raises(ValueError, match="unknown search dimension 'degree'"):
        esn_search(train, val, n_configs=1, space={"degree": (1, 2, "lin")})
    with pytest.raises(ValueError, match="'ridge' is set by the search"):
        esn_search(train, val, n_configs=1, ridge=1e-3)


# -- randomness and errors ------------------------------------------------------------------

def test_seed_is_explicit_and_global_rng_untouched(lorenz_norm):
    train = lorenz_norm[None, :300]
    state = np.random.get_state()[1].copy()  # noqa: NPY002 - checking legacy global state
    a = EchoStateNetwork(30, washout=10, seed=7).fit(train)
    b = EchoStateNetwork(30, washout=10, seed=7).fit(train)
    c = EchoStateNetwork(30, washout=10, seed=np.random.default_rng(7)).fit(train)
    d = EchoStateNetwork(30, washout=10, seed=np.random.default_rng(7)).fit(train)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002
    np.testing.assert_array_equal(a.W_out_, b.W_out_)
    np.testing.assert_array_equal(c.W_out_, d.W_out_)
    assert not np.array_equal(a.W_, EchoStateNetwork(30, washout=10, seed=8).fit(train).W_)


def test_clear_errors(lorenz_norm):
    esn = EchoStateNetwork(20, washout=10, seed=0)
    with pytest.raises(RuntimeError, match="call fit"):
        esn.forecast(lorenz_norm[None, :20], 5)
    with pytest.raises(ValueError, match="at least 12"):
        esn.fit(lorenz_norm[None, :11])
    with pytest.raises(ValueError, match=r"\(batch, time, n_state\)"):
        esn.fit(lorenz_norm[:100])
    esn.fit(lorenz_norm[None, :200])
    with pytest.raises(ValueError, match="n_state=2 but the model was fitted with n_state=3"):
        esn.forecast(lorenz_norm[None, :20, :2], 5)
    with pytest.raises(ValueError, match="n_steps"):
        esn.forecast(lorenz_norm[None, :20], -1)
    bad = lorenz_norm[None, :20].copy()
    bad[0, 3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        esn.forecast(bad, 5)
    with pytest.raises(ValueError, match="unknown activation 'relu'"):
        EchoStateNetwork(10, activation="relu")
    with pytest.raises(ValueError, match="leak"):
        EchoStateNetwork(10, leak=0.0)
    with pytest.raises(ValueError, match="unknown target"):
        EchoStateNetwork(10, target="delta")
