"""Metropolis chains on |psi|^2 against the exact distribution of the same model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physrnn.metrics.autocorrelation import chain_statistics
from physrnn.spins import heisenberg_chain, tfim_chain
from physrnn.vmc.driver import VMC
from physrnn.vmc.estimators import exact_energy
from physrnn.vmc.metropolis import MetropolisSampler
from physrnn.wavefunctions import RNNWavefunction1D


def _model(n: int, seed: int = 0) -> RNNWavefunction1D:
    m = RNNWavefunction1D(n, hidden_size=8, seed=seed, dtype=torch.float64)
    with torch.no_grad():   # a far-from-uniform distribution
        for p in m.parameters():
            p.mul_(3.0)
    return m


@pytest.mark.parametrize("moves", ["flip", "exchange"])
def test_chains_sample_the_exact_distribution(moves):
    n = 6
    model = _model(n)
    edges = [(i, i + 1) for i in range(n - 1)]
    sampler = MetropolisSampler(32, moves=moves, edges=edges, burn_in=30, seed=1)
    gen = torch.Generator().manual_seed(2)
    s, _ = sampler.sample(model, 32 * 400, gen)
    idx = (s * (2 ** torch.arange(n - 1, -1, -1))).sum(1).numpy()
    freq = np.bincount(idx, minlength=2 ** n) / len(idx)
    with torch.no_grad():
        allc = model.all_configurations()
        p = model.log_prob(allc).exp().double().numpy()
        aidx = (allc * (2 ** torch.arange(n - 1, -1, -1))).sum(1).numpy()
    exact = np.zeros(2 ** n)
    exact[aidx] = p
    if moves == "exchange":   # the chains stay at total Sz = 0: compare within the sector
        sector = np.array([bin(k).count("1") == n // 2 for k in range(2 ** n)])
        assert freq[~sector].sum() == 0
        exact = np.where(sector, exact, 0.0)
        exact /= exact.sum()
    tv = 0.5 * np.abs(freq - exact).sum()
    assert tv < 0.03, tv
    assert 0 < sampler.acceptance <= 1
    assert sampler.last_chains.shape == (32, 400, n)


def test_metropolis_vmc_estimate_agrees_with_exact_sampling_and_counts_correlations():
    system = tfim_chain(8, h=1.0)
    model = _model(8, seed=3)
    vmc_exact = VMC(system.operator, model, n_samples=64, seed=0)
    e_ex = vmc_exact.estimate(20_000)
    sampler = MetropolisSampler(16, burn_in=20, seed=4)
    vmc_mc = VMC(system.operator, model, n_samples=64, seed=0, sampler=sampler)
    e_mc = vmc_mc.estimate(16 * 1000)
    exact = exact_energy(model, vmc_exact.operator)          # by enumeration, no sampling
    assert abs(e_ex.mean - exact) < 4 * e_ex.error
    assert abs(e_mc.mean - exact) < 4 * e_mc.error
    # one sweep between samples of an 8-site chain: correlated, and the error bar says so
    chains = sampler.last_chains
    from physrnn.vmc.estimators import local_energies

    e = local_energies(model, vmc_mc.operator, chains.reshape(-1, 8)).real.double()
    st = chain_statistics(e.reshape(16, -1).numpy())
    assert st.tau_int > 1.0 and st.rhat < 1.05
    assert e_mc.error > np.sqrt(e_mc.variance / e_mc.n_samples)


def test_training_with_metropolis_samples_lowers_the_energy():
    system = heisenberg_chain(6)
    model = _model(6, seed=5)
    edges = list(system.graph.edges())
    sampler = MetropolisSampler(16, moves="exchange", edges=edges, burn_in=10, seed=0)
    vmc = VMC(system.operator, model, n_samples=128, seed=0, sampler=sampler,
              optimizer=torch.optim.Adam(model.parameters(), lr=1e-2))
    from physrnn.baselines.quantum.exact import exact_ground_state_energy

    e0 = exact_ground_state_energy(system.operator)            # -2.4936 (S units)
    first = vmc.estimate(16 * 200)
    vmc.run(60, progress=False)
    last = vmc.estimate(16 * 200)
    assert last.mean < first.mean - 5 * np.hypot(first.error, last.error)
    assert (last.mean - e0) < 0.5 * (first.mean - e0)        # halfway to the ground state


def test_bad_sampler_settings():
    with pytest.raises(ValueError, match="edges"):
        MetropolisSampler(4, moves="exchange")
    with pytest.raises(ValueError, match="moves"):
        MetropolisSampler(4, moves="cluster")
    with pytest.raises(ValueError, match="multiple"):
        MetropolisSampler(4).sample(_model(4), 10, torch.Generator())
