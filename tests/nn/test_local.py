"""Local (parallel) models with shared weights: windows, equivariance, locality, read-outs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from physrnn.nn.local import LocalRecurrentForecaster, PeriodicPatches
from physrnn.nn.local_reservoir import LocalESN
from physrnn.nn.recurrent import RecurrentForecaster, readout_features
from physrnn.train import Trainer
from physrnn.train.readout import fit_readout


def test_windows_wrap_around_the_ring():
    pp = PeriodicPatches(10, 2, overlap=3)
    assert pp.n_patches == 5 and pp.width == 8
    for p in range(5):
        expected = [(2 * p - 3 + k) % 10 for k in range(8)]
        assert pp.index[p].tolist() == expected
    x = np.arange(10.0)
    w = pp.windows(x)
    assert w.shape == (5, 8)
    np.testing.assert_array_equal(pp.assemble(pp.core(w)), x)  # owned sites tile the ring
    xt = torch.arange(20.0).reshape(2, 10)
    np.testing.assert_array_equal(pp.windows(xt).numpy(), pp.windows(xt.numpy()))


@pytest.mark.parametrize("kwargs, match", [
    ({"n_sites": 10, "patch": 3}, "does not divide"),
    ({"n_sites": 10, "patch": 2, "overlap": 5}, "longer than the ring"),
    ({"n_sites": 10, "patch": 0}, "patch >= 1"),
    ({"n_sites": 10, "patch": 2, "overlap": -1}, "overlap >= 0"),
    ({"n_sites": 10, "patch": 2.0}, "must be an integer"),
])
def test_bad_patches_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PeriodicPatches(**kwargs)


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
def test_local_rnn_is_equivariant_under_patch_shifts(cell):
    torch.manual_seed(0)
    m = LocalRecurrentForecaster(12, patch=3, overlap=2, cell=cell, hidden_size=8,
                                 readout="quadratic", dtype=torch.float64)
    x = torch.randn(2, 15, 12, dtype=torch.float64)
    y, _ = m(x)
    y_shift, _ = m(torch.roll(x, 3, dims=-1))
    torch.testing.assert_close(torch.roll(y, 3, dims=-1), y_shift, rtol=0, atol=1e-12)
    r = m.rollout(x, 7)
    r_shift = m.rollout(torch.roll(x, 3, dims=-1), 7)
    torch.testing.assert_close(torch.roll(r, 3, dims=-1), r_shift, rtol=0, atol=1e-12)


def test_local_rnn_reads_only_its_window():
    m = LocalRecurrentForecaster(20, patch=2, overlap=3, hidden_size=6, dtype=torch.float64)
    x = torch.randn(1, 4, 20, dtype=torch.float64)
    y, _ = m(x)
    far = x.clone()
    far[..., 10] += 5.0  # outside patch 0's window (sites 17..19, 0..4)
    y_far, _ = m(far)
    torch.testing.assert_close(y[..., :2], y_far[..., :2], rtol=0, atol=0)
    assert not torch.allclose(y[..., 10:12], y_far[..., 10:12])


def test_one_patch_without_overlap_is_the_global_model():
    glob = RecurrentForecaster(5, hidden_size=7, seed=3, readout="quadratic",
                               dtype=torch.float64)
    loc = LocalRecurrentForecaster(5, patch=5, overlap=0, hidden_size=7, seed=3,
                                   readout="quadratic", dtype=torch.float64)
    x = torch.randn(3, 9, 5, dtype=torch.float64)
    torch.testing.assert_close(glob(x)[0], loc(x)[0], rtol=0, atol=0)


def test_local_readout_refit_is_the_least_squares_solution():
    torch.manual_seed(1)
    m = LocalRecurrentForecaster(8, patch=2, overlap=1, hidden_size=5, readout="linear",
                                 dtype=torch.float64)
    train = torch.randn(2, 60, 8, dtype=torch.float64)
    fitted, info = fit_readout(m, train, ridge=0.0, washout=5, readout="quadratic")
    # independent: explicit rows [phi(h, window), 1] -> owned-site increments, numpy lstsq
    wide = m.with_readout("quadratic")
    inputs, own = wide.teacher_view(train)
    with torch.no_grad():
        h, _ = wide.rnn(inputs)
    feats = readout_features(h, inputs, "quadratic")[:, 5:-1]
    a = torch.cat([feats, torch.ones(*feats.shape[:-1], 1, dtype=feats.dtype)], -1)
    z = own[:, 6:] - own[:, 5:-1]
    sol = np.linalg.lstsq(a.reshape(-1, a.shape[-1]).numpy(), z.reshape(-1, 2).numpy(),
                          rcond=None)[0]
    pred = a.reshape(-1, a.shape[-1]).numpy() @ sol
    with torch.no_grad():
        ours, _ = fitted(train)
    ours_incr = (fitted.teacher_view(ours)[1] - own)[:, 5:-1].reshape(-1, 2).numpy()
    np.testing.assert_allclose(ours_incr, pred, atol=1e-8)
    assert info.n_rows == 2 * 4 * (60 - 5 - 1)


def test_trainer_trains_a_local_model():
    torch.manual_seed(0)
    n = 12
    t = np.arange(400) * 0.1
    x = np.sin(t[:, None] - 2 * np.pi * np.arange(n)[None, :] / n)  # a travelling wave
    data = torch.as_tensor(x[None], dtype=torch.float32)
    m = LocalRecurrentForecaster(n, patch=3, overlap=1, hidden_size=8, seed=0)
    windows = data[0].unfold(0, 21, 10).permute(0, 2, 1)          # (k, 21, n)
    loader = [(windows[:, :20], windows[:, 20:])]
    trainer = Trainer(m, optimizer=torch.optim.Adam(m.parameters(), lr=1e-2))
    before = trainer.teacher_forced_loss(windows[:, :20], windows[:, 20:]).item()
    trainer.fit(loader, epochs=60, progress=False)
    after = trainer.teacher_forced_loss(windows[:, :20], windows[:, 20:]).item()
    assert after < 0.2 * before


def _ring_linear(n: int, n_t: int, seed: int) -> np.ndarray:
    """x_{t+1, i} = 0.6 x_i + 0.3 x_{i-1} + 0.1 x_{i+1} + unit white noise, on a ring."""
    rng = np.random.default_rng(seed)
    x = np.empty((n_t, n))
    x[0] = rng.standard_normal(n)
    for t in range(n_t - 1):
        x[t + 1] = 0.6 * x[t] + 0.3 * np.roll(x[t], 1) + 0.1 * np.roll(x[t], -1)
        x[t + 1] += rng.standard_normal(n)
    return x


def test_local_esn_windows_and_targets_recover_a_local_linear_law():
    # input_scaling = 0: the reservoir stays at 0 and the read-out is a linear regression of
    # the owned sites on the window, which must find the law (each owned site from its
    # neighbours, one set of weights for every site)
    train = _ring_linear(12, 4000, 0)[None]
    m = LocalESN(3, overlap=1, n_reservoir=10, input_scaling=0.0, ridge=1e-9, washout=10,
                 seed=0).fit(train)
    law = np.zeros((3, 5))  # owned site k sits at window column k + 1
    for k in range(3):
        law[k, k:k + 3] = [0.3, 0.6, 0.1]
    np.testing.assert_allclose(m.W_out_[:, 1 + 10:], law, atol=0.03)
    assert m.train_nrmse_ == pytest.approx(1.0, abs=0.05)  # the noise is all that is left
    test = _ring_linear(12, 50, 1)[None]
    one = m.predict_one_step(test)[:, :-1]
    exact = 0.6 * test[:, :-1] + 0.3 * np.roll(test[:, :-1], 1, -1) + 0.1 * np.roll(
        test[:, :-1], -1, -1)
    assert np.sqrt(np.mean((one - exact) ** 2)) < 0.1


def test_local_esn_readout_is_the_ridge_solution():
    rng = np.random.default_rng(0)
    train = rng.standard_normal((2, 50, 8))
    m = LocalESN(2, overlap=1, n_reservoir=15, ridge=1e-3, washout=4, seed=2,
                 target="increment", leak=0.7)
    m.fit(train)
    # independent reimplementation of eqs. (1)-(2): explicit loops over patches and time
    w_dense = m.W_.toarray()
    rows, zs = [], []
    for j in range(2):
        for p in range(4):
            idx = [(2 * p - 1 + k) % 8 for k in range(4)]
            r = np.zeros(15)
            for t in range(49):
                u = train[j, t, idx]
                r = 0.3 * r + 0.7 * np.tanh(w_dense @ r + m.W_in_ @ u + m.b_)
                if t >= 4:
                    g = r.copy()
                    g[::2] **= 2
                    rows.append(np.concatenate([[1.0], g, u]))
                    zs.append(train[j, t + 1, idx[1:3]] - u[1:3])
    x, z = np.array(rows), np.array(zs)
    w = np.linalg.solve(x.T @ x + 1e-3 * np.eye(x.shape[1]), x.T @ z)
    np.testing.assert_allclose(m.W_out_, w.T, rtol=1e-7, atol=1e-9)
    assert m.n_rows_ == x.shape[0]
    resid = np.sqrt(np.mean((x @ w - z) ** 2))
    assert m.train_nrmse_ == pytest.approx(resid, rel=1e-6)


def test_local_esn_forecast_is_equivariant_and_checked():
    rng = np.random.default_rng(3)
    train = rng.standard_normal((1, 80, 12))
    m = LocalESN(4, overlap=2, n_reservoir=20, washout=5, seed=1).fit(train)
    ctx = rng.standard_normal((2, 10, 12))
    f = m.forecast(ctx, 6)
    f_shift = m.forecast(np.roll(ctx, 4, axis=-1), 6)
    np.testing.assert_allclose(np.roll(f, 4, axis=-1), f_shift, atol=1e-12)
    with pytest.raises(ValueError, match="n_state=11"):
        m.forecast(ctx[..., :11], 3)
    with pytest.raises(ValueError, match="does not divide"):
        LocalESN(5, n_reservoir=10, washout=2).fit(train)
    with pytest.raises(RuntimeError, match="call fit"):
        LocalESN(4).forecast(ctx, 2)
    with pytest.raises(ValueError, match="leak"):
        LocalESN(4, leak=0.0)


def test_local_esn_quadratic_window_features_hold_a_quadratic_law():
    # x_{t+1, i} = 0.5 x_i + 0.2 x_{i-1} x_{i+1} + noise: in the span of the quadratic window
    # features only (input_scaling = 0 keeps the reservoir at 0)
    rng = np.random.default_rng(4)
    x = np.empty((3000, 10))
    x[0] = rng.standard_normal(10)
    for t in range(2999):
        x[t + 1] = 0.5 * x[t] + 0.2 * np.roll(x[t], 1) * np.roll(x[t], -1)
        x[t + 1] += 0.5 * rng.standard_normal(10)
    quad = LocalESN(2, overlap=1, n_reservoir=4, input_scaling=0.0, ridge=1e-9, washout=2,
                    seed=0, window_features="quadratic").fit(x[None])
    assert quad.W_out_.shape == (2, 1 + 4 + 4 + 10)
    assert quad.train_nrmse_ == pytest.approx(0.5, rel=0.05)  # only the noise is left
    i, j = np.triu_indices(4)
    w_quad = quad.W_out_[0, 1 + 4 + 4:]  # owned site 0 = window column 1; neighbours 0 and 2
    k = int(np.flatnonzero((i == 0) & (j == 2))[0])
    assert w_quad[k] == pytest.approx(0.2, abs=0.02)
    assert np.abs(np.delete(w_quad, k)).max() < 0.03
    with pytest.raises(ValueError, match="window_features"):
        LocalESN(2, window_features="cubic")


def test_local_esn_with_ridge_equals_a_fresh_fit():
    rng = np.random.default_rng(5)
    train = rng.standard_normal((1, 60, 8))
    a = LocalESN(2, overlap=1, n_reservoir=12, ridge=1e-2, washout=3, seed=4).fit(train)
    b = LocalESN(2, overlap=1, n_reservoir=12, ridge=1e-5, washout=3, seed=4).fit(train)
    c = a.with_ridge(1e-5)
    np.testing.assert_allclose(c.W_out_, b.W_out_, rtol=1e-10, atol=1e-12)
    assert c.train_nrmse_ == pytest.approx(b.train_nrmse_, rel=1e-9)
    assert a.ridge == 1e-2 and a.W_out_ is not c.W_out_


def test_local_esn_input_noise_gives_the_errors_in_variables_slope():
    # independent AR(1) sites x_{t+1} = a x_t + e (var e = 1): with Gaussian noise of std s on
    # the inputs and clean targets, least squares gives the attenuated slope
    # a var(x) / (var(x) + s^2), var(x) = 1 / (1 - a^2); neighbours get no weight
    rng = np.random.default_rng(5)
    a, s, n_t = 0.8, 1.0, 20000
    x = np.empty((n_t, 8))
    x[0] = rng.standard_normal(8) / math.sqrt(1 - a * a)
    for t in range(n_t - 1):
        x[t + 1] = a * x[t] + rng.standard_normal(8)
    kw = dict(overlap=1, n_reservoir=10, input_scaling=0.0, ridge=1e-9, washout=10, seed=0)
    clean = LocalESN(1, **kw).fit(x[None])
    noisy = LocalESN(1, input_noise=s, **kw).fit(x[None])
    var = 1.0 / (1 - a * a)
    np.testing.assert_allclose(clean.W_out_[0, 11:], [0.0, a, 0.0], atol=0.01)
    np.testing.assert_allclose(noisy.W_out_[0, 11:], [0.0, a * var / (var + s * s), 0.0],
                               atol=0.01)
    again = LocalESN(1, input_noise=s, **kw).fit(x[None])
    np.testing.assert_array_equal(again.W_out_, noisy.W_out_)      # the seed fixes the noise
    assert noisy.config()["input_noise"] == s
    with pytest.raises(ValueError, match="input_noise"):
        LocalESN(1, input_noise=-0.1)
