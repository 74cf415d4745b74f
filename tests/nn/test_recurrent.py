"""Recurrent forecasters: one-step predictions, warm-up, closed-loop rollout, Forecaster adapter."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physrnn.nn.base import Forecaster
from physrnn.nn.recurrent import (
    RecurrentForecaster,
    TorchForecaster,
    closed_loop,
    detach_state,
)

CELLS = ("gru", "lstm", "rnn")


def _series(batch=3, n_t=12, n_state=2, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, n_t, n_state, generator=g, dtype=dtype)


@pytest.mark.parametrize("cell", CELLS)
def test_forward_shapes_and_state(cell):
    model = RecurrentForecaster(2, cell=cell, hidden_size=8, n_layers=2, dtype=torch.float64)
    x = _series()
    pred, state = model(x)
    assert pred.shape == x.shape and pred.dtype == torch.float64
    if cell == "lstm":
        assert isinstance(state, tuple) and state[0].shape == state[1].shape == (2, 3, 8)
    else:
        assert state.shape == (2, 3, 8)
    # carrying the state over a split gives the same predictions as one pass
    p1, s1 = model(x[:, :5])
    p2, _ = model(x[:, 5:], s1)
    torch.testing.assert_close(torch.cat([p1, p2], 1), pred, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cell", CELLS)
def test_increments_predict_x_plus_delta(cell):
    kw = dict(cell=cell, hidden_size=8, seed=3, dtype=torch.float64)
    inc = RecurrentForecaster(2, predict_increments=True, **kw)
    direct = RecurrentForecaster(2, predict_increments=False, **kw)
    x = _series()
    pred_inc, _ = inc(x)
    pred_dir, _ = direct(x)
    # same seed -> same weights; the increment model adds the input to the head's output
    torch.testing.assert_close(pred_inc, x + pred_dir, rtol=0, atol=1e-14)
    h, _ = inc.rnn(x)
    torch.testing.assert_close(pred_inc - x, inc.head(h), rtol=1e-12, atol=1e-12)
    assert not torch.allclose(pred_inc, pred_dir)


@pytest.mark.parametrize("cell", CELLS)
def test_rollout_equals_step_by_step_forward(cell):
    model = RecurrentForecaster(2, cell=cell, hidden_size=8, n_layers=2, seed=1,
                                dtype=torch.float64).eval()
    context = _series(n_t=7)
    n_steps = 6
    with torch.no_grad():
        out = model.rollout(context, n_steps)
        # by hand: warm up, then one forward call per step with the carried state
        pred, state = model(context)
        nxt = pred[:, -1]
        manual = [nxt]
        for _ in range(n_steps - 1):
            p, state = model(nxt[:, None], state)
            nxt = p[:, 0]
            manual.append(nxt)
        manual = torch.stack(manual, 1)
        # and as teacher forcing on the generated series (one pass, no carried state)
        full, _ = model(torch.cat([context, out[:, :-1]], 1))
    assert out.shape == (3, n_steps, 2)
    assert torch.equal(out, manual)
    torch.testing.assert_close(full[:, context.shape[1] - 1:], out, rtol=1e-12, atol=1e-12)
    assert torch.equal(closed_loop(model, context, n_steps), out)


def test_warmup_gives_state_and_first_prediction():
    model = RecurrentForecaster(2, hidden_size=8, dtype=torch.float64)
    context = _series(n_t=5)
    state, nxt = model.warmup(context)
    pred, state_ref = model(context)
    assert nxt.shape == (3, 2)
    assert torch.equal(nxt, pred[:, -1]) and torch.equal(state, state_ref)
    assert torch.equal(model.rollout(context, 1)[:, 0], nxt)
    assert model.rollout(context, 0).shape == (3, 0, 2)


def test_rollout_backpropagates_through_feedback():
    model = RecurrentForecaster(2, hidden_size=8, dtype=torch.float64)
    context = _series(n_t=5).requires_grad_(True)
    model.rollout(context, 4)[:, -1].sum().backward()
    assert context.grad is not None and context.grad.abs().sum() > 0


def test_seeded_init_leaves_global_rng_alone():
    before = torch.get_rng_state()
    a = RecurrentForecaster(3, hidden_size=8, seed=7)
    assert torch.equal(torch.get_rng_state(), before)
    b = RecurrentForecaster(3, hidden_size=8, seed=7)
    c = RecurrentForecaster(3, hidden_size=8, seed=8)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert not torch.equal(a.head.weight, c.head.weight)
    assert a.dtype == torch.float32


def test_detach_state_keeps_structure():
    h = torch.ones(1, 2, 3, requires_grad=True) * 2
    assert detach_state(None) is None
    assert not detach_state(h).requires_grad
    pair = detach_state((h, h))
    assert isinstance(pair, tuple) and not pair[1].requires_grad
    with pytest.raises(TypeError):
        detach_state("state")


def test_invalid_arguments():
    with pytest.raises(ValueError, match="unknown cell"):
        RecurrentForecaster(2, cell="transformer")
    with pytest.raises(ValueError, match="hidden_size"):
        RecurrentForecaster(2, hidden_size=0)
    with pytest.raises(ValueError, match="dropout"):
        RecurrentForecaster(2, dropout=1.0)
    model = RecurrentForecaster(2, hidden_size=4)
    with pytest.raises(ValueError, match=r"\(batch, time, 2\)"):
        model(torch.zeros(3, 5, 4))
    with pytest.raises(ValueError, match="n_steps"):
        model.rollout(torch.zeros(1, 3, 2), -1)


def test_dropout_only_in_training_mode():
    model = RecurrentForecaster(2, hidden_size=16, n_layers=2, dropout=0.5,
                                dtype=torch.float64)
    x = _series()
    model.eval()
    assert torch.equal(model(x)[0], model(x)[0])
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        assert not torch.equal(model(x)[0], model(x)[0])


# ------------------------------------------------------------------ Forecaster adapter
def test_torch_forecaster_shapes_and_values():
    model = RecurrentForecaster(3, cell="lstm", hidden_size=8, seed=2)
    f = TorchForecaster(model, batch_size=2)
    assert isinstance(f, Forecaster)
    assert f.name == "lstm"
    rng = np.random.default_rng(0)
    context = rng.standard_normal((5, 10, 3))
    out = f.forecast(context, 7)
    assert out.shape == (5, 7, 3) and out.dtype == np.float64
    with torch.no_grad():
        ref = model.eval().rollout(torch.as_tensor(context, dtype=torch.float32), 7)
    np.testing.assert_allclose(out, ref.double().numpy(), rtol=1e-6, atol=1e-6)
    assert f.forecast(context, 0).shape == (5, 0, 3)
    assert f.forecast(context[:0], 4).shape == (0, 4, 3)
    with pytest.raises(ValueError, match="context"):
        f.forecast(context[0], 3)


def test_torch_forecaster_fit_contract():
    model = RecurrentForecaster(2, hidden_size=4)
    model.train()
    empty = TorchForecaster(name="my-gru")
    with pytest.raises(RuntimeError, match="physrnn.train"):
        empty.fit(np.zeros((2, 20, 2)))
    with pytest.raises(RuntimeError, match="physrnn.train"):
        empty.forecast(np.zeros((1, 3, 2)), 2)
    assert empty.fit(model) is empty and empty.model is model
    assert empty.name == "my-gru"
    # a wrapped trained model is left unchanged by fit(data)
    before = [p.clone() for p in model.parameters()]
    assert empty.fit(np.zeros((2, 20, 2))) is empty
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    empty.forecast(np.zeros((1, 3, 2)), 2)
    assert model.training  # the model's mode is restored after forecasting
