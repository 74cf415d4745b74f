"""Local energies against the dense Hamiltonian, and the VMC gradient and driver."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physrnn.errors import NonFiniteError, SystemDefinitionError
from physrnn.spins.chains import heisenberg_chain, tfim_chain, xxz_chain
from physrnn.vmc import VMC, ConnectedOperator, energy_stats, local_energies
from physrnn.wavefunctions import RNNWavefunction1D


def _dense_local_energies(model, operator, s):
    """E_loc(s) = <s|H|psi> / <s|psi> from the dense matrix and the full state vector."""
    hilbert = operator.hilbert
    h = np.asarray(operator.to_dense())
    psi = model.psi_vector().numpy()  # ordered like all_configurations (site 0 most significant)
    # map physrnn's enumeration onto netket's basis order
    configs = model.all_configurations().numpy()
    states = np.asarray(hilbert.local_states)[configs]
    nk_index = np.asarray(hilbert.states_to_numbers(states))
    psi_nk = np.zeros(hilbert.n_states, dtype=complex)
    psi_nk[nk_index] = psi
    rows = np.asarray(hilbert.states_to_numbers(np.asarray(hilbert.local_states)[s.numpy()]))
    return (h[rows] @ psi_nk) / psi_nk[rows]


@pytest.mark.parametrize(
    "build",
    [
        lambda: tfim_chain(7, h=0.7, boundary="open"),
        lambda: tfim_chain(8, h=1.3, boundary="periodic", J=-0.5),
        lambda: heisenberg_chain(8, boundary="periodic"),
        lambda: xxz_chain(7, delta=0.4, boundary="open", marshall_sign=False),
    ],
    ids=["tfim-obc", "tfim-pbc", "heisenberg-marshall", "xxz"],
)
@pytest.mark.parametrize("phase", [False, True])
def test_local_energies_equal_dense(build, phase):
    system = build()
    n = system.n_sites
    model = RNNWavefunction1D(n, hidden_size=6, n_layers=2, phase=phase, dtype=torch.float64,
                              seed=4)
    s = model.sample(40, generator=torch.Generator().manual_seed(3))
    e_loc = local_energies(model, ConnectedOperator(system.operator), s, chunk_size=17)
    expected = _dense_local_energies(model, system.operator, s)
    np.testing.assert_allclose(e_loc.numpy(), expected if phase else expected.real,
                               rtol=1e-10, atol=1e-10)


def test_local_energies_random_local_operator():
    """Any netket operator on spin-1/2 sites is accepted as-is (here a random 2- and 3-local)."""
    import netket as nk

    rng = np.random.default_rng(0)
    hi = nk.hilbert.Spin(0.5, 6)

    def herm(d):
        a = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
        return a + a.conj().T

    op = nk.operator.LocalOperator(hi, [herm(4), herm(8), herm(2)], [[0, 3], [1, 2, 5], [4]])
    model = RNNWavefunction1D(6, hidden_size=5, phase=True, dtype=torch.float64, seed=1)
    s = model.sample(30, generator=torch.Generator().manual_seed(0))
    conn = ConnectedOperator(op)
    assert conn.is_complex
    e_loc = local_energies(model, conn, s)
    np.testing.assert_allclose(e_loc.numpy(), _dense_local_energies(model, op, s), rtol=1e-9,
                               atol=1e-9)


def test_operator_on_spin_one_rejected():
    import netket as nk

    hi = nk.hilbert.Spin(1.0, 4)
    op = nk.operator.spin.sigmax(hi, 0) @ nk.operator.spin.sigmax(hi, 1)
    with pytest.raises(SystemDefinitionError, match="spin-1/2"):
        ConnectedOperator(op)
    with pytest.raises(SystemDefinitionError, match="spin-1/2"):
        VMC(op, RNNWavefunction1D(4, hidden_size=4))


def test_impossible_chains_rejected():
    with pytest.raises(SystemDefinitionError, match="n_sites"):
        tfim_chain(1)
    with pytest.raises(SystemDefinitionError, match="boundary"):
        tfim_chain(6, boundary="twisted")
    with pytest.raises(SystemDefinitionError, match="bipartite"):
        heisenberg_chain(7, boundary="periodic", marshall_sign=True)


def test_model_operator_size_mismatch():
    with pytest.raises(ValueError, match="sites"):
        VMC(tfim_chain(6).operator, RNNWavefunction1D(5, hidden_size=4))


def test_gradient_equals_exact_energy_gradient():
    """The surrogate-loss gradient equals d<H>/dtheta of the exact energy, in expectation.

    With all 2^N configurations weighted by |psi|^2 the estimator is exact, so we compare the
    driver's loss with autograd through E(theta) = psi^dagger H psi on N = 5.
    """
    system = tfim_chain(5, h=0.9, boundary="open")
    model = RNNWavefunction1D(5, hidden_size=4, phase=True, dtype=torch.float64, seed=9)
    conn = ConnectedOperator(system.operator)
    s = model.all_configurations()
    weights = model.log_prob(s).detach().exp()
    log_psi = model.log_psi(s)
    e_loc = local_energies(model, conn, s, log_psi_s=log_psi.detach())
    e_mean = (weights * e_loc).sum()
    surrogate = 2 * (weights * (torch.conj(log_psi) * (e_loc - e_mean)).real).sum()
    g_vmc = torch.autograd.grad(surrogate, list(model.parameters()))

    h = torch.as_tensor(np.asarray(system.operator.to_dense()), dtype=torch.complex128)
    hi = system.hilbert
    idx = torch.as_tensor(np.asarray(hi.states_to_numbers(
        np.asarray(hi.local_states)[s.numpy()])))
    psi = torch.zeros(2**5, dtype=torch.complex128).index_put((idx,), torch.exp(model.log_psi(s)))
    energy = (psi.conj() @ h @ psi).real / (psi.conj() @ psi).real
    g_exact = torch.autograd.grad(energy, list(model.parameters()))
    for a, b in zip(g_vmc, g_exact, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


def test_energy_stats():
    e = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    st = energy_stats(e)
    assert st.mean == 2.5
    assert st.variance == pytest.approx(np.var([1, 2, 3, 4], ddof=1))
    assert st.error == pytest.approx(np.sqrt(st.variance / 4))
    assert st.v_score(10) == pytest.approx(10 * st.variance / 2.5**2)


def test_nan_energy_stops_with_clear_error():
    system = tfim_chain(6, h=1.0)
    model = RNNWavefunction1D(6, hidden_size=4, seed=0)
    with torch.no_grad():
        model.amplitude_head.bias.fill_(float("nan"))
    vmc = VMC(system.operator, model, n_samples=16)
    with pytest.raises(NonFiniteError, match="NaN"):
        vmc.step()
    assert vmc.step_count == 0


def test_driver_reproducible():
    def run():
        system = tfim_chain(6, h=1.0)
        model = RNNWavefunction1D(6, hidden_size=4, seed=2)
        vmc = VMC(system.operator, model, n_samples=32, seed=5)
        return vmc.run(5, progress=False)["energy"]

    np.testing.assert_array_equal(run(), run())
