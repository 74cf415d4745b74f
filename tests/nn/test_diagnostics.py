"""BPTT diagnostics: gradient norms per step, step Jacobians, spectra, per-step weight gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from physrnn.nn import diagnostics as dg
from physrnn.nn.recurrent import RecurrentForecaster
from physrnn.runs import plotting

D64 = torch.float64


def _x(batch=3, n_t=9, n_in=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, n_t, n_in, generator=g, dtype=D64)


def _torch_rnn(kind, *, hidden=4, layers=1, n_in=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    m = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[kind](
        n_in, hidden, num_layers=layers, batch_first=True).to(D64)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=D64) * 0.6)
    return m


class LinearCell(nn.Module):
    """h_{t+1} = W h_t + U x_{t+1}; ``step(x_t (B, F), h (B, H)) -> (h, h)``."""

    def __init__(self, w: torch.Tensor, u: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w.clone())
        self.u = nn.Parameter(u.clone())
        self.hidden_size = w.shape[0]

    def step(self, x_t, h):
        h = h @ self.w.T + x_t @ self.u.T
        return h, h


def _linear_cell(rho, hidden=5, n_in=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(hidden, hidden, generator=g, dtype=D64))
    return LinearCell(rho * q, torch.randn(hidden, n_in, generator=g, dtype=D64))


def _last_loss(out):
    return (out[:, -1] ** 2).sum()


def _all_loss(out):
    return (out.sin() * torch.linspace(0.5, 1.5, out.shape[1], dtype=out.dtype)[:, None]).sum()


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("layers", [1, 2])
def test_step_by_step_cell_matches_torch_forward(kind, layers):
    m = _torch_rnn(kind, layers=layers)
    x = _x()
    stepper, s0, _ = dg._prepare(m, x, None)
    states = dg._unroll(stepper, x, s0)
    ref_out, ref_state = m(x)
    torch.testing.assert_close(torch.stack([s[0][-1] for s in states], 1), ref_out,
                               rtol=1e-12, atol=1e-12)
    ref_state = ref_state if isinstance(ref_state, tuple) else (ref_state,)
    for a, b in zip(states[-1], ref_state, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["rnn", "gru"])
def test_gradient_norms_equal_chain_rule_through_step_jacobians(kind):
    m = _torch_rnn(kind, hidden=4, seed=3)
    x = _x(n_t=10, seed=4)
    norms = dg.hidden_gradient_norms(m, x, _last_loss)
    assert norms.shape == (10,)
    # by hand: dL/dh_{T-1} from torch's own forward, then g_t = J_t^T g_{t+1}
    out, _ = m(x)
    g = 2.0 * out[:, -1].detach()
    jac = dg.step_jacobians(m, x)
    assert jac.shape == (9, 3, 4, 4)
    expected = [g.norm()]
    for t in range(8, -1, -1):
        g = torch.einsum("bij,bi->bj", jac[t], g)
        expected.append(g.norm())
    torch.testing.assert_close(norms, torch.stack(expected[::-1]), rtol=1e-10, atol=1e-14)
    # the gradient is not trivially constant: the check can fail
    assert norms.max() / norms.min() > 1.5


@pytest.mark.parametrize("rho", [0.5, 0.9, 1.0, 1.5])
def test_linear_orthogonal_recurrence_decays_exactly_as_rho_power(rho):
    cell = _linear_cell(rho)
    n_t = 20
    x = _x(batch=3, n_t=n_t, seed=5)
    v = torch.randn(3, 5, generator=torch.Generator().manual_seed(6), dtype=D64)
    norms = dg.hidden_gradient_norms(cell, x, lambda out: (out[:, -1] * v).sum())
    k = torch.arange(n_t - 1, -1, -1, dtype=D64)
    torch.testing.assert_close(norms, rho ** k * v.norm(), rtol=1e-10, atol=0.0)
    res = dg.verdict(norms)
    assert abs(res["rate"] - math.log(rho)) < 1e-6
    assert res["decay_per_step"] == pytest.approx(rho, rel=1e-6)
    expected = {0.5: "vanishing", 0.9: "vanishing", 1.0: "healthy", 1.5: "exploding"}[rho]
    assert res["kind"] == expected and res["text"].startswith(expected)
    # the hidden dynamics: every Jacobian is W, every Lyapunov-like rate log(rho)
    jac = dg.step_jacobians(cell, x)
    torch.testing.assert_close(jac, cell.w.detach().expand(n_t - 1, 3, 5, 5))
    torch.testing.assert_close(dg.lyapunov_like_rates(jac), torch.full((5,), math.log(rho),
                                                                       dtype=D64))
    sv = dg.jacobian_spectra(jac)
    torch.testing.assert_close(sv, torch.full((n_t - 1, 3, 5), rho, dtype=D64))
    prods = dg.product_spectra(jac, [1, 7, 19])
    assert prods[7].shape == (13, 3, 5) and prods[19].shape == (1, 3, 5)
    torch.testing.assert_close(prods[7], torch.full((13, 3, 5), rho ** 7, dtype=D64))
    logs = dg.product_spectra(jac, [19], log=True)[19]
    torch.testing.assert_close(logs, torch.full((1, 3, 5), 19 * math.log(rho), dtype=D64))


def test_verdict_thresholds_and_errors():
    t = np.arange(30)
    assert dg.verdict(np.exp(-0.04 * (29 - t)))["kind"] == "healthy"
    assert dg.verdict(np.exp(-0.06 * (29 - t)))["kind"] == "vanishing"
    assert dg.verdict(np.exp(+0.06 * (29 - t)))["kind"] == "exploding"
    assert dg.verdict(np.exp(-0.04 * (29 - t)), vanishing_rate=-0.01)["kind"] == "vanishing"
    with pytest.raises(ValueError, match="finite"):
        dg.verdict(np.array([1.0, np.nan, 2.0]))
    with pytest.raises(ValueError, match="T >= 2"):
        dg.verdict(np.ones(1))


def _finite_difference_jacobians(m, x, eps=1e-6):
    stepper, s0, _ = dg._prepare(m, x, None)
    with torch.no_grad():
        traj = dg._unroll(stepper, x, s0)
        out = []
        for t in range(x.shape[1] - 1):
            z = dg._flat(traj[t])
            cols = []
            for j in range(z.shape[1]):
                dz = torch.zeros_like(z)
                dz[:, j] = eps
                plus = dg._flat(stepper(x[:, t + 1], dg._unflat(z + dz, traj[t])))
                minus = dg._flat(stepper(x[:, t + 1], dg._unflat(z - dz, traj[t])))
                cols.append((plus - minus) / (2 * eps))
            out.append(torch.stack(cols, dim=-1))
    return torch.stack(out)


@pytest.mark.parametrize("kind,layers", [("rnn", 1), ("gru", 1), ("lstm", 1), ("lstm", 2)])
def test_step_jacobians_equal_finite_differences(kind, layers):
    m = _torch_rnn(kind, hidden=3, layers=layers, seed=7)
    x = _x(batch=2, n_t=5, seed=8)
    jac = dg.step_jacobians(m, x)
    d = 3 * layers * (2 if kind == "lstm" else 1)
    assert jac.shape == (4, 2, d, d)
    torch.testing.assert_close(jac, _finite_difference_jacobians(m, x), rtol=1e-7, atol=1e-8)
    torch.testing.assert_close(dg.step_jacobians(m, x, vectorize=False), jac)


def test_product_spectra_match_explicit_products():
    m = _torch_rnn("gru", hidden=4, seed=9)
    jac = dg.step_jacobians(m, _x(n_t=8, seed=10))
    p = jac[4] @ jac[3] @ jac[2]
    torch.testing.assert_close(dg.product_spectra(jac, [3])[3][2], torch.linalg.svdvals(p))
    with pytest.raises(ValueError, match="lag"):
        dg.product_spectra(jac, [8])


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_per_step_weight_gradients_sum_to_bptt_gradient(kind):
    m = _torch_rnn(kind, hidden=4, layers=2, seed=11)
    x = _x(n_t=7, seed=12)
    per_step = dg.per_step_weight_gradients(m, x, _all_loss)
    m.zero_grad()
    _all_loss(m(x)[0]).backward()
    names = {n for n, _ in m.named_parameters()}
    assert set(per_step) == names
    for name, p in m.named_parameters():
        assert per_step[name].shape == (7, *p.shape)
        torch.testing.assert_close(per_step[name].sum(0), p.grad, rtol=1e-10, atol=1e-12)
    norms = dg.per_step_weight_contributions(m, x, _all_loss)
    assert norms["weight_hh_l0"].shape == (7,)
    # the first step's hidden-to-hidden weight acts on the zero state: no contribution
    assert norms["weight_hh_l0"][0] == 0.0 and norms["weight_hh_l0"][1:].min() > 0


def test_forecaster_uses_inner_rnn_and_parameter_names():
    model = RecurrentForecaster(2, cell="lstm", hidden_size=4, dtype=D64, seed=2)
    x = _x(n_t=6, seed=13)
    torch.testing.assert_close(dg.hidden_gradient_norms(model, x, _all_loss),
                               dg.hidden_gradient_norms(model.rnn, x, _all_loss))
    per_step = dg.per_step_weight_gradients(model, x, _all_loss)
    assert set(per_step) == {n for n, _ in model.named_parameters() if n.startswith("rnn.")}
    model.zero_grad()
    h, _ = model.rnn(x)
    _all_loss(h).backward()
    torch.testing.assert_close(per_step["rnn.weight_hh_l0"].sum(0), model.rnn.weight_hh_l0.grad)
    with_c = dg.hidden_gradient_norms(model, x, _all_loss, include_cell=True)
    h_only = dg.hidden_gradient_norms(model, x, _all_loss)
    assert torch.all(with_c >= h_only) and torch.any(with_c > h_only * 1.001)


def test_linear_cell_weight_contributions_sum_and_explicit_state():
    cell = _linear_cell(0.8)
    x = _x(n_t=6, seed=14)
    h0 = torch.randn(3, 5, generator=torch.Generator().manual_seed(15), dtype=D64)
    per_step = dg.per_step_weight_gradients(cell, x, _all_loss, state=h0)
    h, outs = h0, []
    for t in range(6):
        _, h = cell.step(x[:, t], h)
        outs.append(h)
    _all_loss(torch.stack(outs, 1)).backward()
    torch.testing.assert_close(per_step["w"].sum(0), cell.w.grad)
    torch.testing.assert_close(per_step["u"].sum(0), cell.u.grad)


def test_clear_errors():
    x = _x()
    with pytest.raises(ValueError, match="bidirectional"):
        dg.hidden_gradient_norms(nn.GRU(2, 3, batch_first=True, bidirectional=True).double(),
                                 x, _last_loss)
    with pytest.raises(ValueError, match="batch, time, features"):
        dg.step_jacobians(_torch_rnn("gru"), x[0])
    with pytest.raises(ValueError, match="features"):
        dg.step_jacobians(_torch_rnn("gru", n_in=3), x)
    with pytest.raises(ValueError, match="scalar"):
        dg.hidden_gradient_norms(_torch_rnn("gru"), x, lambda out: out)
    with pytest.raises(TypeError, match="step"):
        dg.hidden_gradient_norms(nn.Linear(2, 2), x, _last_loss)
    with pytest.raises(ValueError, match="include_cell"):
        dg.hidden_gradient_norms(_torch_rnn("gru"), x, _last_loss, include_cell=True)
    with pytest.raises(ValueError, match="state must be"):
        dg.hidden_gradient_norms(_torch_rnn("lstm"), x, _last_loss,
                                 state=torch.zeros(1, 3, 4, dtype=D64))


def test_plots_write_png_atomically(tmp_path):
    """The figures of the diagnostics (drawn by the application tier, physrnn.runs.plotting)."""
    m = _torch_rnn("gru", hidden=4, seed=16)
    x = _x(n_t=12, seed=17)
    norms = {"gru": dg.hidden_gradient_norms(m, x, _last_loss),
             "linear 0.7": dg.hidden_gradient_norms(_linear_cell(0.7), x, _last_loss)}
    p1 = plotting.plot_gradient_norms(norms, tmp_path / "figs" / "norms.png")
    p2 = plotting.plot_jacobian_spectra(dg.jacobian_spectra(dg.step_jacobians(m, x)),
                                        tmp_path / "figs" / "spectra.png")
    p3 = plotting.plot_weight_contributions({"w": np.array([1e-3, 1e-2, 1.0])},
                                            tmp_path / "figs" / "terms.png")
    for p in (p1, p2, p3):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(f.name for f in (tmp_path / "figs").iterdir()) == ["norms.png", "spectra.png",
                                                                     "terms.png"]
    with pytest.raises(ValueError, match="empty"):
        plotting.plot_gradient_norms({}, tmp_path / "x.png")


def test_the_library_does_not_plot():
    assert not [n for n in dg.__all__ if n.startswith("plot")]
