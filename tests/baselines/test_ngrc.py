"""NG-RC: exact recovery inside its feature space, the local version, Lorenz-63, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from physrnn.baselines.forecast import BASELINES, NGRC, Persistence, make_baseline
from physrnn.baselines.forecast.ngrc import n_features, patch_indices
from physrnn.nn.base import Forecaster


def _iterate(step, x0: np.ndarray, n_t: int) -> np.ndarray:
    """Iterate ``x_{t+1} = step(x_t, x_{t-1}, x_{t-2})`` from ``x0`` ``(b, 3, n)`` to ``n_t``.

    The three initial points are independent, so a map that reads only ``x_t, x_{t-1}`` is
    followed from index 1 on: drop ``out[:, 0]``.
    """
    out = np.empty((x0.shape[0], n_t, x0.shape[2]))
    out[:, :3] = x0
    for t in range(3, n_t):
        out[:, t] = step(out[:, t - 1], out[:, t - 2], out[:, t - 3])
    return out


def test_contract_and_registry():
    m = make_baseline("ngrc", k=2, s=1)
    assert isinstance(m, NGRC) and BASELINES["ngrc"] is NGRC
    assert isinstance(m, Forecaster) and m.name == "ngrc"


@pytest.mark.parametrize(("n_in", "k", "degree"), [(3, 2, 2), (2, 3, 2), (2, 2, 3), (4, 1, 1)])
def test_feature_count_closed_form(n_in, k, degree):
    x = np.random.default_rng(0).normal(size=(2, 30, n_in))
    m = NGRC(k, 2, degree=degree).fit(x)
    kn = k * n_in
    expected = {1: 1 + kn, 2: 1 + kn + kn * (kn + 1) // 2,
                3: 1 + kn + kn * (kn + 1) // 2 + kn * (kn + 1) * (kn + 2) // 6}[degree]
    assert m.n_features_ == n_features(n_in, k, degree=degree) == expected
    assert m.W_out_.shape == (n_in, expected)
    assert NGRC(k, constant=False, degree=degree).fit(x).n_features_ == expected - 1


@pytest.mark.parametrize("solver", ["normal", "svd"])
@pytest.mark.parametrize("s", [1, 2])
def test_linear_ar2_recovered_exactly(solver, s):
    """x_{t+1} = A x_t + B x_{t-s} lies in the linear part: one- and multi-step are exact."""
    rng = np.random.default_rng(1)
    a = 0.5 * np.eye(3) + 0.1 * rng.normal(size=(3, 3))
    b = 0.1 * rng.normal(size=(3, 3))

    def step(x1, x2, x3):
        return x1 @ a.T + (x2 if s == 1 else x3) @ b.T

    first = 1 if s == 1 else 0
    data = _iterate(step, rng.normal(size=(20, 3, 3)), 25)[:, first:]
    m = NGRC(2, s, ridge=0.0, target="state", solver=solver).fit(data)
    # the quadratic columns make the design ill-conditioned and the normal equations square
    # its condition number: at ridge = 0 they keep ~8 digits (2.8e-9 seen on one CPU)
    tol = 1e-8 if solver == "normal" else 1e-10
    assert m.train_nrmse_ < tol
    test = _iterate(step, rng.normal(size=(4, 3, 3)), 30 + first)[:, first:]
    one = m.predict_one_step(test[:, :-1])
    np.testing.assert_allclose(one, test[:, 1 + s:], atol=tol)
    pred = m.forecast(test[:, :10], 20)
    np.testing.assert_allclose(pred, test[:, 10:], atol=tol)


@pytest.mark.parametrize("solver", ["auto", "normal", "svd"])
def test_quadratic_map_recovered_exactly(solver):
    """x_{t+1} = x_t + c + L [x_t; x_{t-1}] + Q (x_t x_{t-1} monomials): the increment target."""
    rng = np.random.default_rng(2)
    # a contracting linear part keeps the orbits bounded (|x| < 2 here)
    lin = np.hstack([-0.3 * np.eye(2), 0.1 * rng.normal(size=(2, 2))])

    def step(x1, x2, _x3):
        return (x1 + 0.05 + np.concatenate([x1, x2], -1) @ lin.T
                + 0.1 * np.stack([x1[:, 0] * x2[:, 1], -x1[:, 1] ** 2 + x1[:, 0] * x2[:, 0]], -1))

    data = _iterate(step, rng.uniform(-1, 1, size=(40, 3, 2)), 13)[:, 1:]
    m = NGRC(2, 1, ridge=0.0, solver=solver).fit(data)
    test = _iterate(step, rng.uniform(-1, 1, size=(5, 3, 2)), 15)[:, 1:]
    # the normal equations square the design's condition number: at ridge = 0 they lose digits
    tol = 1e-8 if solver == "normal" else 1e-10
    np.testing.assert_allclose(m.predict_one_step(test)[:, :-1], test[:, 2:], atol=tol)
    np.testing.assert_allclose(m.forecast(test[:, :4], 10), test[:, 4:], atol=tol)
    # nonzero coefficients only where the truth has them (constant, linear, two products)
    assert np.sum(np.abs(m.W_out_) > 1e-8) <= 2 + 8 + 3


def test_local_with_one_patch_equals_global():
    x = np.random.default_rng(3).normal(size=(3, 50, 5))
    glob = NGRC(2, 2, ridge=1e-3).fit(x)
    loc = NGRC(2, 2, ridge=1e-3, locality=(5, 0)).fit(x)
    np.testing.assert_allclose(loc.W_out_, glob.W_out_, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(loc.forecast(x[:, :10], 7), glob.forecast(x[:, :10], 7),
                               rtol=1e-12, atol=1e-14)


def test_patch_indices_wrap():
    inputs, own = patch_indices(8, 4, 1)
    np.testing.assert_array_equal(inputs, [[7, 0, 1, 2, 3, 4], [3, 4, 5, 6, 7, 0]])
    np.testing.assert_array_equal(own.ravel(), np.arange(8))


def _ring(n_traj, n_t, n, rng, coef=(0.5, 0.3, 0.2)):
    a, b, c = coef
    x = np.empty((n_traj, n_t, n))
    x[:, 0] = rng.normal(size=(n_traj, n))
    for t in range(1, n_t):
        prev = x[:, t - 1]
        x[:, t] = a * prev + b * np.roll(prev, 1, -1) + c * np.roll(prev, -1, -1)
    return x


def test_local_recovers_periodic_linear_system_and_is_equivariant():
    """x_{t+1,i} = a x_i + b x_{i-1} + c x_{i+1} on a ring of 12 sites, patches of 3."""
    rng = np.random.default_rng(4)
    data = _ring(30, 8, 12, rng)
    m = NGRC(1, 1, degree=2, ridge=0.0, target="state", locality=(3, 1)).fit(data)
    assert m.W_out_.shape == (3, n_features(5, 1))
    test = _ring(3, 12, 12, rng)
    np.testing.assert_allclose(m.forecast(test[:, :1], 11), test[:, 1:], atol=1e-10)
    # a shift by a multiple of the patch is an exact symmetry of the shared-weight model
    pred = m.forecast(test[:, :1], 6)
    np.testing.assert_allclose(m.forecast(np.roll(test[:, :1], 3, -1), 6), np.roll(pred, 3, -1),
                               rtol=0, atol=1e-13)
    # any shift, since the fitted model is the translation-invariant truth
    np.testing.assert_allclose(m.forecast(np.roll(test[:, :1], 1, -1), 6), np.roll(pred, 1, -1),
                               atol=1e-10)


def test_local_fits_many_patches_with_one_readout():
    """Shared weights: the readout size does not grow with the field (512 sites, patches of 8)."""
    x = np.random.default_rng(5).normal(size=(1, 40, 512))
    m = NGRC(2, 1, locality=(8, 2), ridge=1e-4).fit(x)
    assert m.W_out_.shape == (8, n_features(12, 2))
    assert m.forecast(x[:, :5], 3).shape == (1, 3, 512)


def test_lorenz63_several_lyapunov_times():
    """Paper settings (k = 2, s = 1, quadratic, dt = 0.025), 4000 training steps."""
    from physrnn.data.simulate import simulate
    from physrnn.metrics.forecast import valid_prediction_time
    from physrnn.systems import get_system

    dt, lam = 0.025, 0.9056
    y = simulate(get_system("lorenz63"), n_traj=1, n_t=6500, dt=dt, seed=1, progress=False).y[0]
    mu, sd = y[:4000].mean(0), y[:4000].std(0)
    x = (y - mu) / sd
    train, test = x[None, :4000], x[4000:]
    starts = np.arange(0, 2000, 100)
    ctx = np.stack([test[s:s + 5] for s in starts])
    truth = np.stack([test[s + 5:s + 405] for s in starts])
    sig = test.std(0)
    vpt = valid_prediction_time(NGRC(2, 1, ridge=1e-6).fit(train).forecast(ctx, 400),
                                truth, sig, dt=dt, lyapunov_exponent=lam)
    base = valid_prediction_time(Persistence().fit(train).forecast(ctx, 400), truth, sig,
                                 dt=dt, lyapunov_exponent=lam)
    assert np.median(vpt) > 2.0  # measured 5-6 Lyapunov times
    assert np.median(vpt) > 5 * np.median(base)


def test_bad_inputs():
    x = np.zeros((1, 20, 6))
    with pytest.raises(ValueError, match="k must be"):
        NGRC(0)
    with pytest.raises(ValueError, match="s must be"):
        NGRC(2, 0)
    with pytest.raises(ValueError, match="ridge"):
        NGRC(ridge=-1.0)
    with pytest.raises(ValueError, match="target"):
        NGRC(target="delta")
    with pytest.raises(ValueError, match="locality"):
        NGRC(locality=(4,))
    with pytest.raises(ValueError, match="patch=4 does not divide"):
        NGRC(locality=(4, 1)).fit(x)
    with pytest.raises(ValueError, match="wider than the field"):
        NGRC(locality=(3, 2)).fit(x)
    with pytest.raises(ValueError, match="at least 5"):
        NGRC(2, 3).fit(x[:, :3])
    rng = np.random.default_rng(0)
    m = NGRC(3, 2).fit(rng.normal(size=(2, 30, 6)))
    with pytest.raises(ValueError, match="at least 5.*warm up"):
        m.forecast(np.zeros((1, 4, 6)), 3)
    with pytest.raises(ValueError, match="n_state=5"):
        m.forecast(np.zeros((1, 8, 5)), 3)
    with pytest.raises(RuntimeError, match="call fit"):
        NGRC().forecast(np.zeros((1, 5, 6)), 3)
    assert m.forecast(np.zeros((2, 5, 6)), 0).shape == (2, 0, 6)
