"""Training recurrent weights through the closed-form ridge read-out (train.through_readout)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physrnn.errors import NonFiniteError
from physrnn.nn.local import LocalRecurrentForecaster
from physrnn.nn.recurrent import RecurrentForecaster, readout_features
from physrnn.train.through_readout import closed_form_readout, train_through_readout


def _lorenz(n_t: int, seed: int = 0) -> np.ndarray:
    """Normalised Lorenz-63 samples every 0.02 time units (RK4 with 10 substeps)."""
    def f(u):
        x, y, z = u
        return np.array([10.0 * (y - x), x * (28.0 - z) - y, x * y - 8.0 / 3.0 * z])

    u = np.array([1.0, 1.0, 20.0]) + np.random.default_rng(seed).normal(size=3)
    h = 0.002
    out = []
    for i in range(n_t + 500):
        for _ in range(10):
            k1 = f(u)
            k2 = f(u + h / 2 * k1)
            k3 = f(u + h / 2 * k2)
            k4 = f(u + h * k3)
            u = u + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        if i >= 500:
            out.append(u)
    y = np.array(out)
    return (y - y.mean(0)) / y.std(0)


def test_closed_form_readout_equals_an_independent_ridge_solve():
    model = RecurrentForecaster(2, hidden_size=3, readout="quadratic", seed=2,
                                dtype=torch.float64)
    x = torch.randn(2, 40, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    w, b = closed_form_readout(model, x, washout=5, ridge=1e-3)
    # the same problem in NumPy: rows t = 5 .. 38 of both sequences, unit-RMS columns
    with torch.no_grad():
        h, _ = model.rnn(x)
    a = np.concatenate([readout_features(h[:, 5:-1], x[:, 5:-1], "quadratic").numpy(),
                        np.ones((2, 34, 1))], -1).reshape(-1, 3 + 6 + 2 + 1)
    y = (x[:, 6:] - x[:, 5:-1]).numpy().reshape(-1, 2)
    d = np.sqrt((a**2).mean(0))
    g = (a / d).T @ (a / d) / len(a) + 1e-3 * np.eye(a.shape[1])
    sol = np.linalg.solve(g, (a / d).T @ y / len(a)) / d[:, None]
    np.testing.assert_allclose(w.detach().numpy(), sol[:-1].T, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b.detach().numpy(), sol[-1], rtol=1e-9, atol=1e-12)


def test_closed_form_readout_gradient_equals_plain_autograd():
    """The fast solve (scaling on the Gram matrix, symmetric Gram backward) has the gradient
    of the textbook formula written with plain autograd operations."""
    model = RecurrentForecaster(2, hidden_size=3, readout="quadratic", seed=4,
                                dtype=torch.float64)
    x = torch.randn(3, 30, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    probe = torch.randn(2, 3 + 6 + 2 + 1, generator=torch.Generator().manual_seed(3),
                        dtype=torch.float64)

    def grads(solve):
        model.zero_grad()
        w, b = solve()
        (torch.cat([w, b[:, None]], 1) * probe).sum().backward()
        return [p.grad.clone() for p in model.rnn.parameters()]

    def plain():
        h, _ = model.rnn(x)
        a = torch.cat([readout_features(h[:, 4:-1], x[:, 4:-1], "quadratic"),
                       torch.ones(3, 25, 1, dtype=torch.float64)], -1).reshape(-1, 12)
        y = (x[:, 5:] - x[:, 4:-1]).reshape(-1, 2)
        d = a.pow(2).mean(0).sqrt()
        g = (a / d).T @ (a / d) / len(a) + 1e-4 * torch.eye(12, dtype=torch.float64)
        sol = torch.linalg.solve(g, (a / d).T @ y / len(a)) / d[:, None]
        return sol[:-1].T, sol[-1]

    fast = grads(lambda: closed_form_readout(model, x, washout=4, ridge=1e-4))
    for got, want in zip(fast, grads(plain), strict=True):
        assert float(want.abs().max()) > 1e-6          # the probe reaches every parameter
        torch.testing.assert_close(got, want, rtol=1e-7, atol=1e-10)


def test_closed_form_readout_recovers_a_linear_map():
    """x_{t+1} = M x_t lies in the x columns of the quadratic read-out: the fit finds M - I."""
    rng = np.random.default_rng(0)
    m = np.array([[0.9, -0.3], [0.3, 0.9]])
    x = [rng.normal(size=(4, 2))]
    for _ in range(60):
        x.append(x[-1] @ m.T)
    series = torch.as_tensor(np.stack(x, 1))
    model = RecurrentForecaster(2, hidden_size=3, readout="quadratic", seed=0,
                                dtype=torch.float64)
    w, b = closed_form_readout(model, series, washout=2, ridge=1e-14)
    pred = readout_features(model.rnn(series)[0], series, "quadratic") @ w.T + b
    np.testing.assert_allclose((series[:, :-1] + pred[:, :-1]).detach().numpy(),
                               series[:, 1:].numpy(), atol=1e-6)


def test_training_moves_only_the_recurrent_weights_and_lowers_the_loss():
    z = _lorenz(1000)
    val = _lorenz(700, seed=1)
    ctx, truth = np.stack([val[:100], val[300:400]]), np.stack([val[100:300], val[400:600]])
    model = RecurrentForecaster(3, hidden_size=5, seed=0)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    fitted, info = train_through_readout(model, z, ctx, truth, epochs=3, steps_per_epoch=5,
                                         batch_size=8, context=50, rollout_steps=(10, 10),
                                         washout=20, lr=1e-2, ridge=1e-8,
                                         refit_ridges=(1e-10, 1e-6), seed=3, progress=False)
    for k, v in model.state_dict().items():           # the model passed in is untouched
        torch.testing.assert_close(v, start[k], rtol=0, atol=0)
    assert [r["epoch"] for r in info.history] == [0, 1, 2, 3]
    losses = [r["loss"] for r in info.history[1:]]
    assert losses[-1] < losses[0] - 0.5, losses           # log-MSE falls by > 0.5 (x 1.6)
    assert fitted.readout == "quadratic" and fitted.dtype == torch.float64
    assert not fitted.training
    assert 0 <= info.best_epoch <= 3 and info.readout.ridge in (1e-10, 1e-6)
    best = max(info.history, key=lambda r: (r["val_median_steps"], r["val_mean_steps"]))
    assert best["epoch"] == info.best_epoch
    if info.best_epoch > 0:
        moved = [not torch.equal(fitted.rnn.state_dict()[k].float(), model.rnn.state_dict()[k])
                 for k in model.rnn.state_dict()]
        assert any(moved)


def test_the_linear_readout_is_solved_on_h_alone_and_trained_for():
    """readout="linear": the closed form is the ridge solve on [h, 1]; training keeps it linear
    and lowers the rollout loss."""
    model = RecurrentForecaster(2, hidden_size=3, seed=2, dtype=torch.float64)
    x = torch.randn(2, 40, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    w, b = closed_form_readout(model, x, washout=5, ridge=1e-3)
    with torch.no_grad():
        h, _ = model.rnn(x)
    a = np.concatenate([h[:, 5:-1].numpy(), np.ones((2, 34, 1))], -1).reshape(-1, 4)
    y = (x[:, 6:] - x[:, 5:-1]).numpy().reshape(-1, 2)
    d = np.sqrt((a**2).mean(0))
    g = (a / d).T @ (a / d) / len(a) + 1e-3 * np.eye(4)
    sol = np.linalg.solve(g, (a / d).T @ y / len(a)) / d[:, None]
    np.testing.assert_allclose(w.detach().numpy(), sol[:-1].T, rtol=1e-9, atol=1e-12)

    z = _lorenz(1000)
    val = _lorenz(700, seed=1)
    ctx, truth = np.stack([val[:100], val[300:400]]), np.stack([val[100:300], val[400:600]])
    fitted, info = train_through_readout(RecurrentForecaster(3, hidden_size=8, seed=0), z, ctx,
                                         truth, epochs=3, steps_per_epoch=5, batch_size=8,
                                         context=50, rollout_steps=(10, 10), washout=20,
                                         lr=1e-2, ridge=1e-8, refit_ridges=(1e-10, 1e-6),
                                         readout="linear", seed=3, progress=False)
    assert fitted.readout == "linear" and fitted.head.weight.shape == (3, 8)
    losses = [r["loss"] for r in info.history[1:]]
    assert losses[-1] < losses[0], losses


def test_a_local_model_trains_through_the_readout():
    rng = np.random.default_rng(0)
    n = 8
    x = [rng.normal(size=n)]
    for _ in range(400):       # a local linear law on a ring: each site reads its neighbours
        u = x[-1]
        x.append(0.6 * u + 0.2 * np.roll(u, 1) + 0.15 * np.roll(u, -1))
        x[-1] = x[-1] + 0.3 * np.sin(np.arange(n) + len(x) * 0.3)
    z = np.array(x)
    model = LocalRecurrentForecaster(n, patch=2, overlap=1, hidden_size=3, seed=0)
    fitted, info = train_through_readout(model, z, z[None, 200:230], z[None, 230:260],
                                         epochs=1, steps_per_epoch=1, batch_size=2,
                                         context=20, rollout_steps=(5, 5), washout=5,
                                         refit_washout=5, progress=False)
    assert isinstance(fitted, LocalRecurrentForecaster)
    with torch.no_grad():
        assert fitted.rollout(torch.as_tensor(z[None, :30]), 7).shape == (1, 7, n)
    assert len(info.history) == 2


@pytest.mark.parametrize("kwargs, match", [
    ({"fit_fraction": 1.5}, "fit_fraction"),
    ({"loss": "l1"}, "loss must be"),
    ({"epochs": -1}, "epochs must be"),
    ({"rollout_steps": (5, 0)}, "rollout_steps must be"),
    ({"context": 400}, "too short"),
    ({"readout": "cubic"}, "unknown readout"),
])
def test_bad_options_are_refused(kwargs, match):
    z = _lorenz(300)
    with pytest.raises(ValueError, match=match):
        train_through_readout(RecurrentForecaster(3, hidden_size=2), z, z[None, :20],
                              z[None, 20:40], **kwargs)


def test_bad_model_and_data_are_refused():
    z = _lorenz(300)
    with pytest.raises(ValueError, match="start from a linear one"):
        train_through_readout(RecurrentForecaster(3, hidden_size=2, readout="quadratic"), z,
                              z[None, :20], z[None, 20:40], readout="linear")
    with pytest.raises(TypeError, match="RecurrentForecaster"):
        train_through_readout(torch.nn.GRU(3, 2), z, z[None, :20], z[None, 20:40])
    with pytest.raises(ValueError, match="shape"):
        train_through_readout(RecurrentForecaster(3, hidden_size=2), z[:, :2], z[None, :20],
                              z[None, 20:40])
    bad = z.copy()
    bad[10, 1] = np.nan
    with pytest.raises(NonFiniteError, match="NaN"):
        train_through_readout(RecurrentForecaster(3, hidden_size=2), bad, z[None, :20],
                              z[None, 20:40])
