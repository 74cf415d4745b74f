"""Prefix-reusing amplitudes and cached sampling against from-scratch evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from physrnn.spins.chains import heisenberg_chain, tfim_chain, xxz_chain
from physrnn.vmc import VMC, ConnectedOperator, energy_stats, local_energies
from physrnn.wavefunctions import AutoregressiveWavefunction, RNNWavefunction1D
from physrnn.wavefunctions.prefix import log_psi_from_cache


def _random_operator(n: int, seed: int):
    """Random real 1-, 2- and 3-local terms: first-difference sites anywhere in a term."""
    import netket as nk

    rng = np.random.default_rng(seed)
    hi = nk.hilbert.Spin(0.5, n)
    ops, sites = [], []
    for k in (1, 2, 3):
        for _ in range(2):
            a = rng.normal(size=(2**k, 2**k))
            ops.append(a + a.T)
            sites.append(list(rng.choice(n, size=k, replace=False)))
    return nk.operator.LocalOperator(hi, ops, sites)


def _scratch_ratios(model, s, el):
    wide = torch.complex128 if model.is_complex else torch.float64
    with torch.no_grad():
        lp = model.log_psi(s).to(wide)
        return model.log_psi(el.materialise(s)).to(wide) - lp[el.sample]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("phase", [False, True], ids=["real", "phase"])
@pytest.mark.parametrize("n_layers", [1, 2])
@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
def test_prefix_ratios_equal_scratch(cell, n_layers, phase, dtype):
    n = 9
    model = RNNWavefunction1D(n, hidden_size=6, n_layers=n_layers, cell=cell, phase=phase,
                              dtype=dtype, seed=7)
    s, cache = model.sample_with_cache(24, generator=torch.Generator().manual_seed(1))
    conn = ConnectedOperator(_random_operator(n, seed=3))
    el = conn.elements(s)
    ratios = model.log_psi_ratios(s, el, cache=cache, chunk_size=37)
    expected = _scratch_ratios(model, s, el)
    tol = 1e-12 if dtype == torch.float64 else 2e-5
    torch.testing.assert_close(ratios, expected, rtol=0, atol=tol)
    torch.testing.assert_close(log_psi_from_cache(s, cache),
                               model.log_psi(s).detach().to(ratios.dtype), rtol=0, atol=tol)


def test_cache_from_sampling_equals_teacher_forcing():
    model = RNNWavefunction1D(10, hidden_size=8, n_layers=2, cell="lstm", phase=True,
                              dtype=torch.float64, seed=2)
    s, cache = model.sample_with_cache(32, generator=torch.Generator().manual_seed(5))
    again = model.prefix_cache(s)
    torch.testing.assert_close(cache.states, again.states, rtol=0, atol=1e-14)
    torch.testing.assert_close(cache.logit, again.logit, rtol=0, atol=1e-14)
    torch.testing.assert_close(cache.phase_logits, again.phase_logits, rtol=0, atol=1e-14)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_sampling_same_seed_same_samples(cell):
    model = RNNWavefunction1D(12, hidden_size=6, n_layers=2, cell=cell, seed=0)
    a = model.sample(50, generator=torch.Generator().manual_seed(9))
    b, _ = model.sample_with_cache(50, generator=torch.Generator().manual_seed(9))
    assert torch.equal(a, b)


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
def test_cached_sampling_matches_born_rule(cell):
    """Chi-square test of the cached sampler against |psi|^2 (N = 4, two layers)."""
    n = 4
    model = RNNWavefunction1D(n, hidden_size=6, n_layers=2, cell=cell, dtype=torch.float64,
                              seed=11)
    with torch.no_grad():
        model.amplitude_head.weight.mul_(4.0)
    probs = model.log_prob(model.all_configurations()).detach().exp().numpy()
    s = model.sample(100_000, generator=torch.Generator().manual_seed(42))
    codes = (s * (2 ** torch.arange(n - 1, -1, -1))).sum(-1).numpy()
    counts = np.bincount(codes, minlength=2**n)
    assert stats.chisquare(counts, probs * counts.sum()).pvalue > 1e-3


@pytest.mark.parametrize(
    "build",
    [lambda: tfim_chain(8, h=0.8, boundary="periodic"), lambda: heisenberg_chain(8),
     lambda: xxz_chain(8, delta=0.3, marshall_sign=False, boundary="periodic")],
    ids=["tfim", "heisenberg", "xxz"],
)
@pytest.mark.parametrize("phase", [False, True], ids=["real", "phase"])
def test_local_energies_prefix_equals_scratch_and_netket_path(build, phase):
    system = build()
    model = RNNWavefunction1D(8, hidden_size=7, n_layers=2, phase=phase, dtype=torch.float64,
                              seed=4)
    s = model.sample(40, generator=torch.Generator().manual_seed(3))
    conn = ConnectedOperator(system.operator)
    fast = local_energies(model, conn, s)
    scratch = local_energies(model, conn, s, method="scratch", chunk_size=23)
    reference = local_energies(model, ConnectedOperator(system.operator, compile=False), s,
                               method="scratch")
    torch.testing.assert_close(fast, scratch, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fast, reference, rtol=1e-12, atol=1e-12)


def test_chunking_gives_identical_results():
    system = heisenberg_chain(10, boundary="periodic")
    model = RNNWavefunction1D(10, hidden_size=8, dtype=torch.float64, seed=1)
    s, cache = model.sample_with_cache(64, generator=torch.Generator().manual_seed(0))
    conn = ConnectedOperator(system.operator)
    whole = local_energies(model, conn, s, cache=cache)
    tiny_memory = local_energies(model, conn, s, max_memory=1)  # one sample per chunk
    small_blocks = local_energies(model, conn, s, cache=cache, chunk_size=5)
    torch.testing.assert_close(whole, tiny_memory, rtol=0, atol=1e-12)
    torch.testing.assert_close(whole, small_blocks, rtol=0, atol=1e-12)


def test_float32_model_energy_and_error_bar_match_float64():
    """float32 amplitudes with float64 accumulation: same energy and error bar to 1e-5."""
    system = tfim_chain(16, h=1.0)
    m32 = RNNWavefunction1D(16, hidden_size=16, dtype=torch.float32, seed=3)
    m64 = RNNWavefunction1D(16, hidden_size=16, dtype=torch.float64, seed=3)
    m64.load_state_dict({k: v.double() for k, v in m32.state_dict().items()})
    s = m64.sample(2000, generator=torch.Generator().manual_seed(1))
    conn = ConnectedOperator(system.operator)
    e32 = local_energies(m32, conn, s)
    e64 = local_energies(m64, conn, s)
    assert e32.dtype == torch.float64
    st32, st64 = energy_stats(e32), energy_stats(e64)
    assert abs(st32.mean - st64.mean) < 1e-3 * st64.error
    assert abs(st32.error - st64.error) < 1e-5 * st64.error
    assert abs(st32.variance - st64.variance) < 1e-4 * st64.variance


def test_vmc_prefix_and_scratch_steps_agree():
    def run(method):
        system = xxz_chain(8, delta=0.5, boundary="periodic")
        model = RNNWavefunction1D(8, hidden_size=6, phase=True, dtype=torch.float64, seed=2)
        vmc = VMC(system.operator, model, n_samples=64, seed=3, method=method)
        return vmc.run(4, progress=False)["energy"]

    np.testing.assert_allclose(run("auto"), run("scratch"), rtol=1e-10, atol=1e-10)


class _ScratchOnly(AutoregressiveWavefunction):
    """A wavefunction without prefix support: the generic base-class path must be used."""

    def __init__(self, inner: RNNWavefunction1D) -> None:
        super().__init__()
        self.inner = inner
        self.n_sites = inner.n_sites

    @property
    def is_complex(self) -> bool:
        return self.inner.is_complex

    def log_conditionals(self, s):
        return self.inner.log_conditionals(s)

    def sample(self, n_samples, *, generator=None):
        return self.inner.sample(n_samples, generator=generator)


def test_generic_fallback_and_errors():
    system = heisenberg_chain(6)
    inner = RNNWavefunction1D(6, hidden_size=5, phase=True, dtype=torch.float64, seed=0)
    model = _ScratchOnly(inner)
    assert not model.supports_prefix
    s = inner.sample(20, generator=torch.Generator().manual_seed(0))
    conn = ConnectedOperator(system.operator)
    torch.testing.assert_close(local_energies(model, conn, s), local_energies(inner, conn, s),
                               rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="prefix"):
        local_energies(model, conn, s, method="prefix")
    with pytest.raises(ValueError, match="method"):
        local_energies(inner, conn, s, method="fast")
    with pytest.raises(ValueError, match="method"):
        VMC(system.operator, inner, method="fast")


def test_prefix_work_is_about_half_of_scratch_for_single_flips():
    """Count recurrent steps: prefix reuse runs sum_i (N - 1 - i) of the N^2 scratch steps."""
    from physrnn.wavefunctions import cells

    n = 12
    model = RNNWavefunction1D(n, hidden_size=4, dtype=torch.float64, seed=0)
    s = model.sample(8, generator=torch.Generator().manual_seed(0))
    conn = ConnectedOperator(tfim_chain(n).operator)
    el = conn.elements(s)
    rows = []
    original = cells.RecurrentSteps.advance

    def counting(self, prev, state, new_state=None):
        rows.append(prev.shape[0])
        return original(self, prev, state, new_state)

    cells.RecurrentSteps.advance = counting
    try:
        model.log_psi_ratios(s, el, chunk_size=10_000)
    finally:
        cells.RecurrentSteps.advance = original
    cache_steps = 8 * n  # the teacher-forced cache of s
    suffix_steps = sum(rows) - cache_steps
    assert suffix_steps == 8 * n * (n - 1) // 2
    assert suffix_steps <= 0.5 * len(el) * n


def test_diagonal_only_operator():
    """No off-diagonal elements at all (classical Ising): E_loc is the diagonal."""
    import netket as nk

    hi = nk.hilbert.Spin(0.5, 6)
    sz = nk.operator.spin.sigmaz
    zz = sum(sz(hi, i) @ sz(hi, i + 1) for i in range(5))
    model = RNNWavefunction1D(6, hidden_size=4, dtype=torch.float64, seed=0)
    s = model.sample(16, generator=torch.Generator().manual_seed(0))
    spins = 1 - 2 * s.double()  # local index 0 is spin up for Spin(1/2)
    expected = (spins[:, :-1] * spins[:, 1:]).sum(-1)
    conn = ConnectedOperator(zz)
    assert conn.compiled and len(conn.elements(s)) == 0
    torch.testing.assert_close(local_energies(model, conn, s), expected)
    # netket's Ising(h=0) cannot convert itself to a LocalOperator: netket's own path is used
    ising = ConnectedOperator(nk.operator.Ising(hi, nk.graph.Chain(6, pbc=False), h=0.0, J=1.0))
    assert not ising.compiled
    torch.testing.assert_close(local_energies(model, ising, s), expected)


def test_chunked_backward_equals_whole_batch():
    def run(grad_chunk_size):
        system = tfim_chain(7, h=0.9)
        model = RNNWavefunction1D(7, hidden_size=5, n_layers=2, phase=True,
                                  dtype=torch.float64, seed=1)
        vmc = VMC(system.operator, model, n_samples=50, seed=2,
                  grad_chunk_size=grad_chunk_size)
        return vmc.run(3, progress=False)

    a, b = run(7), run(1000)
    np.testing.assert_allclose(a["energy"], b["energy"], rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(a["grad_norm"], b["grad_norm"], rtol=1e-10)
    with pytest.raises(ValueError, match="grad_chunk_size"):
        VMC(tfim_chain(4).operator, RNNWavefunction1D(4, hidden_size=3), grad_chunk_size=0)
