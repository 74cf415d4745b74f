"""Ridge read-out refit (physrnn.train.readout) and the quadratic read-out of the RNN."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physrnn.errors import NonFiniteError
from physrnn.nn.recurrent import RecurrentForecaster, n_readout_features, readout_features
from physrnn.train.readout import _Factorisation, fit_readout, select_readout


def test_quadratic_features_are_the_monomials():
    h = torch.tensor([[2.0, 3.0, 5.0]])
    x = torch.tensor([[7.0, 11.0]])
    f = readout_features(h, x, "quadratic")
    expected = [2, 3, 5, 4, 6, 10, 9, 15, 25, 7, 11]
    assert f.tolist() == [expected]
    assert f.shape[-1] == n_readout_features(3, 2, "quadratic")
    assert readout_features(h, x, "linear") is h
    with pytest.raises(ValueError, match="unknown readout"):
        readout_features(h, x, "cubic")


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
def test_widened_readout_forecasts_as_before(cell):
    model = RecurrentForecaster(2, cell=cell, hidden_size=6, seed=1, dtype=torch.float64)
    wide = model.with_readout("quadratic")
    ctx = torch.randn(3, 12, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(wide.rollout(ctx, 20), model.rollout(ctx, 20), rtol=0, atol=1e-13)
    assert wide.readout == "quadratic" and model.readout == "linear"
    # a quadratic model built directly starts from the same linear read-out as well
    direct = RecurrentForecaster(2, cell=cell, hidden_size=6, seed=1, dtype=torch.float64,
                                 readout="quadratic")
    torch.testing.assert_close(direct.rollout(ctx, 20), model.rollout(ctx, 20))
    with pytest.raises(ValueError, match="only widen"):
        wide.with_readout("linear")


def _teacher_series(readout: str, n_traj=3, n_t=120, seed=0):
    """Trajectories generated closed-loop by a model with a known read-out."""
    torch.manual_seed(seed)
    teacher = RecurrentForecaster(2, hidden_size=5, seed=seed, dtype=torch.float64,
                                  readout=readout)
    with torch.no_grad():
        teacher.head.weight.normal_(0.0, 0.05, generator=torch.Generator().manual_seed(seed))
        teacher.head.bias.fill_(0.01)
        start = torch.randn(n_traj, 1, 2, generator=torch.Generator().manual_seed(seed + 1),
                            dtype=torch.float64)
        series = torch.cat([start, teacher.rollout(start, n_t - 1)], dim=1)
    return teacher, series.numpy()


@pytest.mark.parametrize("readout", ["linear", "quadratic"])
def test_exactly_representable_readout_is_recovered(readout):
    teacher, series = _teacher_series(readout)
    student = RecurrentForecaster(2, hidden_size=5, seed=0, dtype=torch.float64)
    student.rnn.load_state_dict(teacher.rnn.state_dict())
    fitted, info = fit_readout(student, series, ridge=0.0, washout=0, readout=readout)
    assert info.one_step_rmse < 1e-12
    torch.testing.assert_close(fitted.head.weight, teacher.head.weight, rtol=0, atol=1e-9)
    torch.testing.assert_close(fitted.head.bias, teacher.head.bias, rtol=0, atol=1e-9)
    assert info.n_rows == 3 * 119 and fitted.dtype == torch.float64 and not fitted.training
    # the input model is untouched
    assert student.readout == "linear" and student.head.weight.shape == (2, 5)


def test_ridge_solution_matches_the_normal_equations():
    """Independent answer: (A^T A + ridge I)^-1 A^T y with numpy on the same features."""
    rng = np.random.default_rng(3)
    series = np.cumsum(rng.normal(0, 0.1, size=(2, 80, 2)), axis=1)
    model = RecurrentForecaster(2, hidden_size=4, seed=2, dtype=torch.float64)
    wide = model.with_readout("quadratic")
    with torch.no_grad():
        x = torch.as_tensor(series)
        h, _ = wide.rnn(x)
        a = readout_features(h[:, 10:-1], x[:, 10:-1], "quadratic").reshape(-1, 4 + 10 + 2)
    a = np.hstack([a.numpy(), np.ones((a.shape[0], 1))])
    y = (series[:, 11:] - series[:, 10:-1]).reshape(-1, 2)
    for ridge in (1e-3, 1e-1):
        fitted, info = fit_readout(model, series, ridge=ridge, washout=10)
        w = np.linalg.solve(a.T @ a + ridge * np.eye(a.shape[1]), a.T @ y).T
        np.testing.assert_allclose(fitted.head.weight.detach().numpy(), w[:, :-1], atol=1e-9)
        np.testing.assert_allclose(fitted.head.bias.detach().numpy(), w[:, -1], atol=1e-9)
        rmse = np.sqrt(np.mean((a @ w.T - y) ** 2))
        assert info.one_step_rmse == pytest.approx(rmse, rel=1e-6)


def test_chunked_factorisation_equals_one_block():
    rng = np.random.default_rng(4)
    series = torch.as_tensor(np.cumsum(rng.normal(0, 0.1, size=(5, 60, 2)), axis=1))
    model = RecurrentForecaster(2, hidden_size=3, seed=0, dtype=torch.float64,
                                readout="quadratic")
    one = _Factorisation(model, series, 5, max_bytes=1e9)
    many = _Factorisation(model, series, 5, max_bytes=1.0)   # one trajectory per chunk
    for ridge in (0.0, 1e-6):
        w1, r1 = one.solve(ridge)
        w2, r2 = many.solve(ridge)
        torch.testing.assert_close(w1, w2, rtol=0, atol=1e-10)
        assert r1 == pytest.approx(r2, rel=1e-8)


def test_select_readout_keeps_the_best_validation_ridge():
    teacher, series = _teacher_series("quadratic", n_traj=4, n_t=150, seed=5)
    student = RecurrentForecaster(2, hidden_size=5, seed=0)
    student.rnn.load_state_dict(teacher.rnn.state_dict())
    ctx, truth = series[3:, :40], series[3:, 40:]
    fitted, info = select_readout(student, series[:3], ctx, truth, ridges=[1e2, 0.0, 1e-3],
                                  washout=0, threshold=1e-3)
    scores = {r["ridge"]: (r["val_median_steps"], r["val_mean_steps"]) for r in info.table}
    assert sorted(scores) == [0.0, 1e-3, 1e2]
    assert scores[info.ridge] == max(scores.values())
    assert info.ridge != 1e2 and scores[1e2] < scores[0.0]  # over-regularised loses
    assert fitted.readout == "quadratic" and fitted.dtype == torch.float64


def test_readout_errors():
    model = RecurrentForecaster(3, hidden_size=4)
    with pytest.raises(ValueError, match="shape"):
        fit_readout(model, np.zeros((2, 50, 2)))
    with pytest.raises(ValueError, match="washout"):
        fit_readout(model, np.zeros((2, 50, 3)), washout=49)
    with pytest.raises(NonFiniteError, match="NaN"):
        fit_readout(model, np.full((1, 50, 3), np.nan), washout=5)
    with pytest.raises(ValueError, match="ridge"):
        fit_readout(model, np.zeros((1, 50, 3)), ridge=-1.0, washout=5)
    with pytest.raises(TypeError, match="RecurrentForecaster"):
        fit_readout(torch.nn.GRU(3, 4), np.zeros((1, 50, 3)))
    with pytest.raises(ValueError, match="ridges"):
        select_readout(model, np.zeros((1, 50, 3)), np.zeros((1, 5, 3)), np.zeros((1, 5, 3)),
                       ridges=[])


def test_quadratic_readout_forecasts_lorenz63_for_lyapunov_times():
    """Physics check: an untrained 24-unit GRU with a refitted quadratic read-out forecasts
    Lorenz-63 for several Lyapunov times (persistence: ~0.1), on held-out trajectories."""
    from physrnn.data.simulate import simulate
    from physrnn.metrics import valid_prediction_time
    from physrnn.systems import get_system

    system = get_system("lorenz63")
    info = system.info()
    sim = simulate(system, n_traj=3, n_t=2501, dt=info.default_dt, seed=0, workers=1,
                   progress=False, record_invariants=False)
    y = np.asarray(sim.y)
    z = (y - y[:2].mean(axis=(0, 1))) / y[:2].std(axis=(0, 1))
    model = RecurrentForecaster(3, hidden_size=24, seed=0)
    fitted, fit = fit_readout(model, z[:2], ridge=1e-10, washout=100)
    starts = np.arange(0, 2000, 250)
    ctx = np.stack([z[2, s:s + 100] for s in starts])
    truth = np.stack([z[2, s + 100:s + 500] for s in starts])
    with torch.no_grad():
        pred = fitted.rollout(torch.as_tensor(ctx), truth.shape[1]).numpy()
    vpt = valid_prediction_time(pred, truth, np.ones(3), dt=info.default_dt,
                                lyapunov_exponent=info.lyapunov_exponent)
    assert fit.one_step_rmse < 1e-5
    assert np.median(vpt) > 2.0


def test_a_diverging_candidate_scores_zero_steps_quietly():
    from physrnn.metrics.forecast import valid_steps

    truth = np.zeros((2, 5, 1))
    pred = np.array([[0.0, 0.1, 1e200, np.inf, np.nan], [0.0, 0.0, 0.0, 0.0, 0.0]])[..., None]
    with np.errstate(all="raise"):
        steps = valid_steps(pred, truth, threshold=0.4)
    assert steps.tolist() == [2.0, 5.0]
