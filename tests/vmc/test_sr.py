"""Stochastic reconfiguration: per-sample gradients, SR/minSR algebra, and optimisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physrnn.baselines.quantum.exact import exact_ground_state_energy
from physrnn.spins.chains import tfim_chain
from physrnn.vmc import ConnectedOperator, local_energies
from physrnn.vmc.sr import (
    SRStep,
    apply_direction,
    per_sample_log_psi_grads,
    solve_sr,
    sr_direction,
    sr_step,
)
from physrnn.wavefunctions import RNNWavefunction1D


def _dense_h(system, model) -> torch.Tensor:
    """The Hamiltonian in the order of ``model.all_configurations()`` (site 0 most significant),
    built from the compiled operator's connected elements (no netket ``to_dense`` JIT)."""
    configs = model.all_configurations()
    el = ConnectedOperator(system.operator).elements(configs)
    weights = 2 ** torch.arange(model.n_sites - 1, -1, -1)
    cols = (el.materialise(configs) * weights).sum(-1)
    h = torch.diag(el.diagonal.to(torch.complex128))
    h.index_put_((el.sample, cols), el.mels.to(torch.complex128), accumulate=True)
    return h


def _exact_energy(model, h: torch.Tensor) -> torch.Tensor:
    """``<psi|H|psi>`` by enumeration, differentiable (psi is normalised exactly)."""
    psi = torch.exp(model.log_psi(model.all_configurations()).to(torch.complex128))
    return (psi.conj() @ h @ psi).real


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("phase", [False, True])
def test_per_sample_grads_equal_single_sample_autograd(cell, phase):
    model = RNNWavefunction1D(5, hidden_size=4, n_layers=2, cell=cell, phase=phase,
                              dtype=torch.float64, seed=1)
    s = model.sample(6, generator=torch.Generator().manual_seed(2))
    fast = per_sample_log_psi_grads(model, s, chunk_size=4)
    ref = per_sample_log_psi_grads(model, s, method="loop")
    assert fast.shape == (6, model.n_parameters)
    assert fast.is_complex() == phase
    torch.testing.assert_close(fast, ref, rtol=1e-10, atol=1e-12)
    # one row against a plain backward pass through log_psi of that sample alone
    model.zero_grad()
    model.log_psi(s[3:4]).real.sum().backward()
    flat = torch.cat([p.grad.reshape(-1) for p in model.parameters()]).double()
    torch.testing.assert_close(fast[3].real, flat, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("method", ["vmap", "jacrev"])
@pytest.mark.parametrize("kind", ["phase", "u1-real", "symmetrised"])
def test_per_sample_grads_2d_model(method, kind):
    from physrnn.wavefunctions import SymmetrisedWavefunction
    from physrnn.wavefunctions.groups import square_point_group
    from physrnn.wavefunctions.rnn2d import RNNWavefunction2D

    if kind == "phase":
        model = RNNWavefunction2D(2, 2, hidden_size=3, phase=True, dtype=torch.float64, seed=0)
    else:
        model = RNNWavefunction2D(3, 3 if kind == "symmetrised" else 2, hidden_size=3,
                                  cell="tensor_gru", magnetisation=1 if kind == "symmetrised"
                                  else 0, dtype=torch.float64, seed=0)
    if kind == "symmetrised":
        model = SymmetrisedWavefunction(model, square_point_group(3, 3))
    s = model.sample(7, generator=torch.Generator().manual_seed(0))
    fast = per_sample_log_psi_grads(model, s, method=method, chunk_size=3)
    assert fast.is_complex() == model.is_complex
    torch.testing.assert_close(fast, per_sample_log_psi_grads(model, s, method="loop"),
                               rtol=1e-10, atol=1e-12)


def test_auto_grads_fall_back_when_vmap_cannot_batch_the_model():
    """``nn.GRU`` has no vmap rule: ``method="vmap"`` raises, ``"auto"`` uses ``jacrev``."""
    model = RNNWavefunction1D(4, hidden_size=3, dtype=torch.float64, seed=0)
    s = model.sample(5, generator=torch.Generator().manual_seed(0))
    with pytest.raises(RuntimeError):
        per_sample_log_psi_grads(model, s, method="vmap")
    torch.testing.assert_close(per_sample_log_psi_grads(model, s, method="auto"),
                               per_sample_log_psi_grads(model, s, method="loop"),
                               rtol=1e-10, atol=1e-12)


def _random_problem(n: int, p: int, complex_: bool, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    dt = torch.complex128 if complex_ else torch.float64
    return torch.randn(n, p, dtype=dt, generator=g), torch.randn(n, dtype=dt, generator=g)


def _numpy_sr(O: np.ndarray, e: np.ndarray, lam: float) -> np.ndarray:
    n = O.shape[0]
    ob = (O - O.mean(0)) / np.sqrt(n)
    eps = (e - e.mean()) / np.sqrt(n)
    s = (ob.conj().T @ ob).real
    f = (ob.conj().T @ eps).real
    return np.linalg.solve(s + lam * np.eye(s.shape[0]), f)


@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.parametrize("shape", [(12, 30), (40, 9)], ids=["p>n", "n>p"])
def test_all_modes_and_solvers_agree_with_numpy(complex_, shape):
    O, e = _random_problem(*shape, complex_)
    lam = 1e-2
    expected = _numpy_sr(O.numpy(), e.numpy(), lam)
    for mode in ("sr", "minsr", "auto"):
        for solver in ("cholesky", "eigh", "cg"):
            got = solve_sr(O, e, diag_shift=lam, mode=mode, solver=solver, cg_tol=1e-13)
            assert got.dtype == torch.float64
            np.testing.assert_allclose(got.numpy(), expected, rtol=1e-7, atol=1e-9,
                                       err_msg=f"{mode}/{solver}")


def test_relative_shift_and_eigh_pseudo_inverse():
    O, e = _random_problem(30, 8, False)
    n = O.shape[0]
    ob = (O - O.mean(0)) / np.sqrt(n)
    s = ob.T @ ob
    f = ob.T @ ((e - e.mean()) / np.sqrt(n))
    a = s + 0.1 * torch.eye(8) + 0.5 * torch.diag(torch.diagonal(s))
    got = solve_sr(O, e, diag_shift=0.1, diag_shift_rel=0.5)
    torch.testing.assert_close(got, torch.linalg.solve(a, f))
    got_cg = solve_sr(O, e, diag_shift=0.1, diag_shift_rel=0.5, solver="cg", cg_tol=1e-13)
    torch.testing.assert_close(got_cg, torch.linalg.solve(a, f))
    # no shift, rank-deficient S (p > n): the pseudo-inverse gives the minimum-norm solution
    O2, e2 = _random_problem(6, 15, False)
    pinv = solve_sr(O2, e2, diag_shift=0.0, mode="sr", solver="eigh", rcond=1e-10)
    minsr = solve_sr(O2, e2, diag_shift=0.0, mode="minsr", solver="eigh", rcond=1e-10)
    torch.testing.assert_close(pinv, minsr, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("phase", [False, True])
def test_exact_sr_matches_dense_expectations_and_energy_gradient(phase):
    """With weights p(s) over all configurations: S, F from exact expectations, F = dE/2."""
    system = tfim_chain(5, h=0.8)
    model = RNNWavefunction1D(5, hidden_size=3, phase=phase, dtype=torch.float64, seed=3)
    h = _dense_h(system, model)
    configs = model.all_configurations()
    with torch.no_grad():
        p = torch.exp(model.log_prob(configs))
    e_loc = local_energies(model, ConnectedOperator(system.operator), configs)
    O = per_sample_log_psi_grads(model, configs)
    lam = 1e-3
    got = solve_sr(O, e_loc, diag_shift=lam, mode="sr", weights=p)
    got_min = solve_sr(O, e_loc, diag_shift=lam, mode="minsr", weights=p)
    # dense: S_ij = Re(<O_i^* O_j> - <O_i>^* <O_j>), F_i = Re(<O_i^* E_loc> - <O_i>^* <E>)
    Oc = O.to(torch.complex128)
    mean_o = p.to(torch.complex128) @ Oc
    s_mat = ((Oc.conj().T * p) @ Oc - torch.outer(mean_o.conj(), mean_o)).real
    e_c = e_loc.to(torch.complex128)
    f_vec = ((Oc.conj().T * p) @ e_c - mean_o.conj() * (p.to(e_c.dtype) @ e_c)).real
    dense = torch.linalg.solve(s_mat + lam * torch.eye(len(f_vec), dtype=torch.float64), f_vec)
    torch.testing.assert_close(got, dense, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(got_min, dense, rtol=1e-6, atol=1e-8)
    # F is half the exact gradient of <H>
    model.zero_grad()
    _exact_energy(model, h).backward()
    grad = torch.cat([q.grad.reshape(-1) for q in model.parameters()])
    torch.testing.assert_close(2 * f_vec, grad, rtol=1e-8, atol=1e-10)


def test_apply_direction_and_sgd_step():
    model = RNNWavefunction1D(4, hidden_size=3, seed=0)
    before = torch.cat([q.detach().reshape(-1) for q in model.parameters()]).double()
    delta = torch.linspace(-1, 1, model.n_parameters, dtype=torch.float64)
    apply_direction(model, delta)
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    after = torch.cat([q.detach().reshape(-1) for q in model.parameters()]).double()
    torch.testing.assert_close(after, before - 0.1 * delta, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        apply_direction(model, delta[:-1])


def test_bad_arguments():
    O, e = _random_problem(5, 3, False)
    with pytest.raises(ValueError, match="diag_shift"):
        solve_sr(O, e, diag_shift=-1.0)
    with pytest.raises(ValueError, match="solver"):
        solve_sr(O, e, solver="lu")
    with pytest.raises(ValueError, match="mode"):
        solve_sr(O, e, mode="natural")
    with pytest.raises(ValueError, match="diag_shift_rel"):
        solve_sr(O, e, mode="minsr", diag_shift_rel=0.1)
    with pytest.raises(ValueError, match="weights"):
        solve_sr(O, e, weights=torch.ones(5))
    with pytest.raises(ValueError, match="diag shifts"):
        SRStep(diag_shift=-1e-3)
    with pytest.raises(ValueError, match="solver"):
        SRStep(solver="qr")
    model = RNNWavefunction1D(4, hidden_size=3, seed=0)
    s = model.sample(4)
    with pytest.raises(ValueError, match="mode"):
        sr_direction(model, s, torch.zeros(4), mode="bad")
    with pytest.raises(ValueError, match="method"):
        per_sample_log_psi_grads(model, s, method="vmap2")


def _tfim6():
    system = tfim_chain(6, h=1.0)
    return system, ConnectedOperator(system.operator), exact_ground_state_energy(system.operator)


def test_dense_h_matches_netket():
    system = tfim_chain(4, h=0.7)
    model = RNNWavefunction1D(4, hidden_size=2, seed=0)
    e = torch.linalg.eigvalsh(_dense_h(system, model))[0]
    assert abs(float(e) - exact_ground_state_energy(system.operator)) < 1e-10


def test_one_sr_step_lowers_exact_energy():
    system, op, _ = _tfim6()
    model = RNNWavefunction1D(6, hidden_size=6, dtype=torch.float64, seed=5)
    h = _dense_h(system, model)
    with torch.no_grad():
        e_before = float(_exact_energy(model, h))
    s = model.sample(128, generator=torch.Generator().manual_seed(0))
    info = sr_step(model, s, local_energies(model, op, s),
                   torch.optim.SGD(model.parameters(), lr=0.05), diag_shift=1e-3)
    assert info.mode == "minsr" and info.n_params == model.n_parameters
    with torch.no_grad():
        assert float(_exact_energy(model, h)) < e_before - 1e-2


def test_sr_converges_on_tfim6():
    """40 sampled SR steps (minSR, SGD lr 0.1) reach relative error < 1e-3 against ED."""
    system, op, e0 = _tfim6()
    model = RNNWavefunction1D(6, hidden_size=6, dtype=torch.float64, seed=0)
    h = _dense_h(system, model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    step = SRStep(diag_shift=1e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(40):
        s = model.sample(128, generator=gen)
        step(model, s, local_energies(model, op, s), opt)
    with torch.no_grad():
        energy = float(_exact_energy(model, h))
    assert abs((energy - e0) / e0) < 1e-3


def test_vmc_driver_with_sr_reaches_the_ground_state():
    """SR through VMC(sr=SRStep(...)) with plain SGD: TFIM N = 6 within 1e-3 of ED."""
    from physrnn.vmc.driver import VMC
    from physrnn.vmc.sr import SRStep

    system = tfim_chain(6, h=1.0)
    model = RNNWavefunction1D(6, hidden_size=8, dtype=torch.float64, seed=0)
    vmc = VMC(system.operator, model, n_samples=128, seed=0, sr=SRStep(diag_shift=1e-3),
              optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    vmc.run(50, progress=False)
    e0 = exact_ground_state_energy(system.operator)
    with torch.no_grad():
        psi = model.psi_vector()
    h = torch.as_tensor(system.operator.to_dense()).to(torch.complex128)
    energy = float((psi.conj() @ h @ psi).real)
    assert abs((energy - e0) / e0) < 1e-3
