"""The outer-product per-sample Jacobian: equal to single-sample autograd, and safe fallbacks."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from physrnn.spins.chains import heisenberg_chain
from physrnn.vmc import VMC, ConnectedOperator, local_energies
from physrnn.vmc.jacobian import outer_verified, per_sample_log_psi_grads
from physrnn.vmc.outer import OuterUnsupported, outer_unsupported_reason
from physrnn.vmc.sr import SRStep, gram, solve_sr
from physrnn.wavefunctions import RNNWavefunction1D
from physrnn.wavefunctions.rnn2d import RNNWavefunction2D

F64 = torch.float64


def _samples(model, n: int = 9, seed: int = 0) -> torch.Tensor:
    return model.sample(n, generator=torch.Generator().manual_seed(seed))


def _assert_equals_loop(model, s, **kwargs) -> torch.Tensor:
    fast = per_sample_log_psi_grads(model, s, method="outer", **kwargs)
    ref = per_sample_log_psi_grads(model, s, method="loop")
    assert fast.shape == ref.shape == (s.shape[0], model.n_parameters)
    assert fast.dtype == ref.dtype
    torch.testing.assert_close(fast, ref, rtol=1e-10, atol=1e-12)
    return fast


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
@pytest.mark.parametrize("n_layers", [1, 2])
@pytest.mark.parametrize("phase", [False, True], ids=["real", "phase"])
def test_outer_equals_loop_1d(cell, n_layers, phase):
    model = RNNWavefunction1D(7, hidden_size=5, n_layers=n_layers, cell=cell, phase=phase,
                              dtype=F64, seed=3)
    fast = _assert_equals_loop(model, _samples(model))
    assert fast.is_complex() == phase
    # chunks of samples give the same rows
    torch.testing.assert_close(per_sample_log_psi_grads(model, _samples(model), method="outer",
                                                        chunk_size=2), fast, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kind", ["gru-u1", "tensor_gru-phase-marshall", "rnn-periodic"])
def test_outer_equals_loop_2d(kind):
    if kind == "gru-u1":
        model = RNNWavefunction2D(3, 2, hidden_size=4, magnetisation=0, dtype=F64, seed=1)
    elif kind == "tensor_gru-phase-marshall":
        model = RNNWavefunction2D(2, 3, hidden_size=4, cell="tensor_gru", phase=True,
                                  marshall_sign=True, dtype=F64, seed=1)
    else:
        model = RNNWavefunction2D(3, 3, hidden_size=4, cell="rnn", boundary="periodic",
                                  dtype=F64, seed=1)
    fast = _assert_equals_loop(model, _samples(model))
    assert fast.is_complex() == model.is_complex


def test_outer_float32_model_matches_float64_rows():
    model = RNNWavefunction1D(6, hidden_size=4, n_layers=2, phase=True, seed=0)
    s = _samples(model)
    fast = per_sample_log_psi_grads(model, s, method="outer")
    assert fast.dtype == torch.complex128
    torch.testing.assert_close(fast, per_sample_log_psi_grads(model, s, method="loop"),
                               rtol=1e-4, atol=1e-5)


def test_out_buffer_is_written_and_checked():
    model = RNNWavefunction1D(5, hidden_size=3, dtype=F64, seed=0)
    s = _samples(model, 6)
    buf = torch.full((6, model.n_parameters), math.nan, dtype=F64)
    got = per_sample_log_psi_grads(model, s, method="outer", out=buf, chunk_size=4)
    assert got is buf
    torch.testing.assert_close(buf, per_sample_log_psi_grads(model, s, method="loop"),
                               rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="out must be"):
        per_sample_log_psi_grads(model, s, out=torch.empty(6, 3, dtype=F64))


def test_frozen_and_unused_parameters():
    """A frozen layer gets no column; a trainable one that log_psi does not use gets zeros."""
    model = RNNWavefunction1D(5, hidden_size=3, phase=True, dtype=F64, seed=0)
    model.amplitude_head.weight.requires_grad_(False)
    s = _samples(model, 5)
    _assert_equals_loop(model, s)
    real = RNNWavefunction1D(5, hidden_size=3, dtype=F64, seed=0)
    real.extra = nn.Linear(3, 2).to(F64)  # covered, never called
    fast = _assert_equals_loop(real, s)
    assert bool((fast[:, -8:] == 0).all())


def test_sr_and_minsr_directions_unchanged():
    system = heisenberg_chain(6, marshall_sign=True)
    op = ConnectedOperator(system.operator)
    for model in (RNNWavefunction1D(6, hidden_size=4, n_layers=2, phase=True, dtype=F64,
                                    seed=2),
                  RNNWavefunction2D(2, 3, hidden_size=4, magnetisation=0, dtype=F64, seed=2)):
        s = _samples(model, 12)
        e_loc = local_energies(model, op, s)
        for mode in ("sr", "minsr"):
            ref, _ = SRStep(mode=mode, jacobian="loop").direction(model, s, e_loc)
            got, used = SRStep(mode=mode, jacobian="outer").direction(model, s, e_loc)
            assert used == mode
            torch.testing.assert_close(got, ref, rtol=1e-9, atol=1e-11)


def test_auto_uses_outer_where_verified_and_falls_back_elsewhere():
    from physrnn.wavefunctions import SymmetrisedWavefunction
    from physrnn.wavefunctions.groups import square_point_group

    plain = RNNWavefunction2D(2, 2, hidden_size=3, seed=0)
    assert outer_verified(plain, _samples(plain, 3))
    sym = SymmetrisedWavefunction(RNNWavefunction2D(2, 2, hidden_size=3, dtype=F64, seed=0),
                                  square_point_group(2, 2))
    assert outer_unsupported_reason(sym) is None  # covered, but the batch is expanded
    s = _samples(sym, 5)
    with pytest.raises(OuterUnsupported, match="batch"):
        per_sample_log_psi_grads(sym, s, method="outer")
    assert not outer_verified(sym, s)
    torch.testing.assert_close(per_sample_log_psi_grads(sym, s),
                               per_sample_log_psi_grads(sym, s, method="loop"),
                               rtol=1e-10, atol=1e-12)


class _ScaledChain(RNNWavefunction1D):
    """A learned scalar outside any layer: not covered."""

    def __init__(self) -> None:
        super().__init__(5, hidden_size=3, dtype=F64, seed=0)
        self.scale = nn.Parameter(torch.tensor(0.7, dtype=F64))

    def log_psi(self, s):
        return self.scale * super().log_psi(s)


class _TiedChain(RNNWavefunction1D):
    """The head's weight is also used outside its layer: only the numerical check sees it."""

    def __init__(self) -> None:
        super().__init__(5, hidden_size=3, dtype=F64, seed=0)

    def log_psi(self, s):
        return super().log_psi(s) + 0.1 * self.amplitude_head.weight.sum() * s[:, 0]


@pytest.mark.parametrize("cls", [_ScaledChain, _TiedChain])
def test_auto_is_correct_for_models_outside_the_form(cls):
    model = cls()
    s = _samples(model, 6)
    assert not outer_verified(model, s)
    torch.testing.assert_close(per_sample_log_psi_grads(model, s),
                               per_sample_log_psi_grads(model, s, method="loop"),
                               rtol=1e-10, atol=1e-12)
    if cls is _ScaledChain:
        assert "scale" in outer_unsupported_reason(model)
        with pytest.raises(OuterUnsupported, match="scale"):
            per_sample_log_psi_grads(model, s, method="outer")


def test_recurrent_layer_is_restored_after_a_failed_pass():
    model = RNNWavefunction1D(4, hidden_size=3, n_layers=2, dtype=F64, seed=0)
    model.rnn.dropout = 0.5
    model.train()
    s = _samples(model, 3)
    with pytest.raises(OuterUnsupported, match="dropout"):
        per_sample_log_psi_grads(model, s, method="outer")
    assert "forward" not in vars(model.rnn)
    model.eval()
    _assert_equals_loop(model, s)


@pytest.mark.parametrize("m", [7, 300])
def test_gram_is_the_symmetric_product(m):
    a = torch.randn(m, 40, dtype=F64, generator=torch.Generator().manual_seed(m))
    k = gram(a)
    torch.testing.assert_close(k, a @ a.T, rtol=1e-12, atol=1e-12)
    assert torch.equal(k, k.T)
    torch.testing.assert_close(gram(a.T), a.T @ a, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_solve_overwrite_gives_the_same_direction(complex_, weighted):
    g = torch.Generator().manual_seed(1)
    dt = torch.complex128 if complex_ else F64
    O = torch.randn(300, 500, dtype=dt, generator=g) + 2.0
    e = torch.randn(300, dtype=dt, generator=g)
    w = torch.rand(300, dtype=F64, generator=g) if weighted else None
    w = None if w is None else w / w.sum()
    ref = solve_sr(O, e, mode="minsr", weights=w)
    got = solve_sr(O.clone(), e, mode="minsr", weights=w, overwrite=True)
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-12)


def test_vmc_minsr_step_uses_the_outer_form():
    system = heisenberg_chain(6, marshall_sign=True)
    runs = []
    for jacobian in ("loop", "auto"):
        model = RNNWavefunction1D(6, hidden_size=4, dtype=F64, seed=1)
        vmc = VMC(system.operator, model, n_samples=32, seed=3,
                  optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
                  sr=SRStep(mode="minsr", jacobian=jacobian))
        for _ in range(3):
            vmc.step()
        runs.append(torch.cat([p.detach().reshape(-1) for p in model.parameters()]))
    torch.testing.assert_close(runs[1], runs[0], rtol=1e-9, atol=1e-11)
    with pytest.raises(ValueError, match="jacobian"):
        SRStep(jacobian="fast")
