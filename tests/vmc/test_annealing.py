"""Variational annealing: schedules, the free-energy gradient, and escaping a local minimum."""

from __future__ import annotations

import math

import pytest
import torch

from physrnn.spins.chains import tfim_chain
from physrnn.vmc import ConnectedOperator, local_energies
from physrnn.vmc.annealing import (
    AnnealingSchedule,
    annealed_surrogate,
    annealed_vmc,
    free_energy_local,
)
from physrnn.vmc.sr import per_sample_log_psi_grads, solve_sr
from physrnn.wavefunctions import RNNWavefunction1D


def _dense_h(operator, model) -> torch.Tensor:
    """Hamiltonian in the order of ``model.all_configurations()``, from the compiled operator."""
    configs = model.all_configurations()
    el = ConnectedOperator(operator).elements(configs)
    cols = (el.materialise(configs) * 2 ** torch.arange(model.n_sites - 1, -1, -1)).sum(-1)
    h = torch.diag(el.diagonal.to(torch.complex128))
    h.index_put_((el.sample, cols), el.mels.to(torch.complex128), accumulate=True)
    return h


def test_linear_schedule():
    sch = AnnealingSchedule(2.0, n_warmup=3, n_anneal=4)
    assert [sch(k) for k in range(9)] == [2.0, 2.0, 2.0, 2.0, 1.5, 1.0, 0.5, 0.0, 0.0]
    assert sch.n_steps == 7
    assert AnnealingSchedule(1.0, n_anneal=0)(0) == 0.0


def test_exponential_schedule():
    sch = AnnealingSchedule(1.0, n_warmup=2, n_anneal=10, kind="exponential", T_final=0.1)
    ts = [sch(k) for k in range(14)]
    assert ts[:3] == [1.0, 1.0, 1.0]
    assert all(a > b for a, b in zip(ts[2:11], ts[3:12], strict=True))
    assert ts[12] == ts[13] == pytest.approx(0.1)
    # geometric in the middle: T(x) - T_final proportional to floor**x - floor
    assert ts[7] == pytest.approx(0.1 + 0.9 * (1e-3 ** 0.5 - 1e-3) / (1 - 1e-3))


@pytest.mark.parametrize("kwargs", [
    {"T0": 0.0}, {"T0": 1.0, "T_final": 2.0}, {"T0": 1.0, "n_anneal": -1},
    {"T0": 1.0, "kind": "cosine"}, {"T0": math.inf},
])
def test_schedule_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        AnnealingSchedule(**kwargs)


def test_free_energy_local():
    e = torch.tensor([1.0, -2.0])
    lp = torch.tensor([-0.5, -1.5])
    torch.testing.assert_close(free_energy_local(e, lp, 2.0),
                               torch.tensor([0.0, -5.0], dtype=torch.float64))
    assert free_energy_local(e.to(torch.complex64), lp, 1.0).dtype == torch.complex128
    with pytest.raises(ValueError, match="T"):
        free_energy_local(e, lp, -1.0)
    with pytest.raises(ValueError, match="shape"):
        free_energy_local(e, lp[:1], 1.0)


@pytest.mark.parametrize("phase", [False, True])
@pytest.mark.parametrize("T", [0.0, 0.7])
def test_surrogate_gradient_is_exact_free_energy_gradient(phase, T):
    """Exact expectations (weights p(s) over all 2^5 configurations) against autograd of F."""
    system = tfim_chain(5, h=0.6)
    model = RNNWavefunction1D(5, hidden_size=4, phase=phase, dtype=torch.float64, seed=2)
    h = _dense_h(system.operator, model)
    configs = model.all_configurations()
    # exact F = <psi|H|psi> + T sum_s p log p, differentiated by autograd
    log_psi = model.log_psi(configs)
    psi = torch.exp(log_psi.to(torch.complex128))
    log_p = 2.0 * log_psi.real
    f_exact = (psi.conj() @ h @ psi).real + T * (torch.exp(log_p) * log_p).sum()
    exact = torch.autograd.grad(f_exact, list(model.parameters()))
    # surrogate with the same weights
    e_loc = local_energies(model, ConnectedOperator(system.operator), configs)
    p = torch.exp(log_p.detach())
    loss = annealed_surrogate(model.log_psi(configs), e_loc, log_p, T, weights=p)
    got = torch.autograd.grad(loss, list(model.parameters()))
    for a, b in zip(got, exact, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)
    # SR takes F_loc in place of E_loc: its force F = Re(Ob^H eps) is half the exact dF/dtheta;
    # with a huge diagonal shift lambda, delta = (S + lambda)^-1 F -> F / lambda
    O = per_sample_log_psi_grads(model, configs)
    f_loc = free_energy_local(e_loc, log_p, T)
    flat = torch.cat([g.reshape(-1) for g in exact])
    n_p = O.shape[1]
    big = 1e8  # delta -> F / shift for a huge shift
    delta = solve_sr(O, f_loc, diag_shift=big, mode="sr", weights=p)
    torch.testing.assert_close(2 * big * delta, flat, rtol=1e-5, atol=1e-7)
    assert delta.shape == (n_p,)


def test_uniform_weights_equal_sample_mean():
    model = RNNWavefunction1D(4, hidden_size=3, dtype=torch.float64, seed=0)
    s = model.sample(8, generator=torch.Generator().manual_seed(1))
    e = torch.randn(8, dtype=torch.float64)
    lp = model.log_prob(s).detach()
    a = annealed_surrogate(model.log_psi(s), e, lp, 0.3)
    b = annealed_surrogate(model.log_psi(s), e, lp, 0.3,
                           weights=torch.full((8,), 1 / 8, dtype=torch.float64))
    torch.testing.assert_close(a, b)


def _fidelity(model, psi0: torch.Tensor) -> float:
    with torch.no_grad():
        return float(abs(torch.vdot(psi0, model.psi_vector())) ** 2)


def test_annealing_escapes_polarised_minimum():
    """Ferromagnetic TFIM, N=6, h=0.3 (open): the ground state is the symmetric cat
    (|up..up> + |down..down>)/sqrt 2 + O(h). Plain VMC with a positive RNN collapses onto one
    polarised branch (fidelity ~0.5, energy within ~h^N of the cat's, so the energy gradient
    cannot bring the other branch back); a short warm-up at T0 = 1 keeps both branches and
    anneals into the cat (fidelity ~0.99). Same model, seeds, samples and 150 Adam steps."""
    system = tfim_chain(6, h=0.3)
    model0 = RNNWavefunction1D(6, hidden_size=8, dtype=torch.float64, seed=0)
    w, v = torch.linalg.eigh(_dense_h(system.operator, model0))
    psi0 = v[:, 0]
    op = ConnectedOperator(system.operator)
    plain, annealed = [], []
    for seed in range(3):
        for schedule, out in ((None, plain),
                              (AnnealingSchedule(1.0, n_warmup=30, n_anneal=75), annealed)):
            model = RNNWavefunction1D(6, hidden_size=8, dtype=torch.float64, seed=seed)
            trace = annealed_vmc(model, op, schedule, 150, n_samples=128, seed=seed)
            assert trace[-1][0] == 0.0
            out.append(_fidelity(model, psi0))
    assert max(plain) < 0.6
    assert min(annealed) > 0.9
