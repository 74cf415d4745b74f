"""Autoregressive wavefunction: normalisation, autoregressive property, exact sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from physrnn.wavefunctions import RNNWavefunction1D


@pytest.mark.parametrize("phase", [False, True])
@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_normalised(phase, cell, dtype):
    """sum_s |psi(s)|^2 = 1 over all 2^N states, for every variant."""
    model = RNNWavefunction1D(8, hidden_size=6, n_layers=2, cell=cell, phase=phase, dtype=dtype,
                              seed=3)
    psi = model.psi_vector()
    assert psi.shape == (2**8,)
    norm = float((psi.abs() ** 2).sum())
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert abs(norm - 1.0) < tol
    assert model.is_complex == phase
    if phase:  # a phase head must actually produce non-trivial phases
        assert float(psi.angle().abs().max()) > 1e-3


@pytest.mark.parametrize("n_sites", [1, 2, 10])
def test_normalised_default_cell(n_sites):
    model = RNNWavefunction1D(n_sites, hidden_size=16, dtype=torch.float64, seed=0)
    with torch.no_grad():
        total = float(model.log_prob(model.all_configurations()).exp().sum())
    assert abs(total - 1.0) < 1e-12
    # configuration_index inverts the enumeration
    index = model.configuration_index(model.all_configurations())
    assert torch.equal(index, torch.arange(2**n_sites))


@pytest.mark.parametrize("phase", [False, True])
def test_autoregressive_property(phase):
    """Changing s_j leaves p(s_i | s_<i) unchanged for every i <= j."""
    n = 9
    model = RNNWavefunction1D(n, hidden_size=8, n_layers=2, phase=phase, dtype=torch.float64,
                              seed=5)
    g = torch.Generator().manual_seed(0)
    s = torch.randint(0, 2, (16, n), generator=g)
    log_p, ph = model.log_conditionals(s)
    for j in range(n):
        s2 = s.clone()
        s2[:, j] = 1 - s2[:, j]
        log_p2, ph2 = model.log_conditionals(s2)
        torch.testing.assert_close(log_p2[:, : j + 1], log_p[:, : j + 1], rtol=0, atol=1e-12)
        if phase:
            torch.testing.assert_close(ph2[:, : j + 1], ph[:, : j + 1], rtol=0, atol=1e-12)
        if j + 1 < n:  # and the later conditionals do depend on s_j
            assert (log_p2[:, j + 1 :] - log_p[:, j + 1 :]).abs().max() > 1e-6


def test_sampling_matches_born_rule():
    """Chi-square test of exact samples against |psi|^2 on N = 4 (16 outcomes)."""
    n = 4
    model = RNNWavefunction1D(n, hidden_size=8, dtype=torch.float64, seed=11)
    # sharpen the distribution so that the test has power against wrong conditionals
    with torch.no_grad():
        model.amplitude_head.weight.mul_(4.0)
    probs = model.log_prob(model.all_configurations()).detach().exp().numpy()
    g = torch.Generator().manual_seed(42)
    s = model.sample(200_000, generator=g)
    codes = (s * (2 ** torch.arange(n - 1, -1, -1))).sum(-1).numpy()
    counts = np.bincount(codes, minlength=2**n)
    chi2, p = stats.chisquare(counts, probs * counts.sum())
    assert p > 1e-3, f"chi2={chi2:.1f}, p={p:.2g}"
    # and the test has power: a slightly wrong distribution is rejected
    wrong = probs.copy()
    wrong[0] *= 1.05
    wrong /= wrong.sum()
    assert stats.chisquare(counts, wrong * counts.sum()).pvalue < 1e-3


def test_sampling_reproducible_and_no_global_rng():
    model = RNNWavefunction1D(6, hidden_size=4, seed=0)
    state = torch.random.get_rng_state()
    a = model.sample(64, generator=torch.Generator().manual_seed(7))
    b = model.sample(64, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    assert torch.equal(state, torch.random.get_rng_state())
    assert a.shape == (64, 6) and a.dtype == torch.long
    assert set(a.unique().tolist()) <= {0, 1}
    # same seed gives same parameters
    m2 = RNNWavefunction1D(6, hidden_size=4, seed=0)
    for p1, p2 in zip(model.parameters(), m2.parameters(), strict=True):
        assert torch.equal(p1, p2)


def test_log_psi_consistency():
    """The phase head's output is the phase of psi: ``phi(s) = sum_i phi_i(s_i)``.

    With the phase head's weights zeroed and bias ``(0, b)``, every site whose spin has local
    index 1 adds ``pi softsign(b) = pi / 2`` (b = 1), so ``psi(s) = sqrt(p(s)) i^{n_1(s)}``;
    the amplitudes do not depend on the phase head, and the state stays normalised.
    """
    n = 5
    model = RNNWavefunction1D(n, hidden_size=4, phase=True, dtype=torch.float64, seed=2)
    s = model.all_configurations()
    lp = model.log_psi(s)
    assert lp.is_complex() and lp.shape == (2**n,)
    torch.testing.assert_close(2 * lp.real, model.log_prob(s))
    log_p = model.log_prob(s).detach()
    with torch.no_grad():
        model.phase_head.weight.zero_()
        model.phase_head.bias.copy_(torch.tensor([0.0, 1.0], dtype=torch.float64))
    n_ones = s.sum(-1).to(torch.float64)
    lp = model.log_psi(s).detach()
    torch.testing.assert_close(lp.imag, 0.5 * math.pi * n_ones, rtol=0, atol=1e-12)
    torch.testing.assert_close(lp.real, 0.5 * log_p, rtol=0, atol=1e-12)
    expected = torch.exp(0.5 * log_p).to(torch.complex128) * (1j) ** n_ones
    psi = model.psi_vector()
    torch.testing.assert_close(psi, expected, rtol=0, atol=1e-12)
    assert abs(float((psi.abs() ** 2).sum()) - 1.0) < 1e-12
    # the phase interferes: overlap with the positive state sqrt(p) is |sum_s p(s) i^n1(s)|
    overlap = abs(complex(torch.vdot(torch.exp(0.5 * log_p).to(torch.complex128), psi)))
    assert overlap < 0.99


@pytest.mark.parametrize(
    "kwargs, match",
    [({"n_sites": 0}, "n_sites"), ({"n_sites": 4, "hidden_size": 0}, "hidden_size"),
     ({"n_sites": 4, "cell": "transformer"}, "cell"),
     ({"n_sites": 4, "dtype": torch.float16}, "dtype")],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RNNWavefunction1D(**kwargs)


def test_wrong_shape_rejected():
    model = RNNWavefunction1D(5, hidden_size=4)
    with pytest.raises(ValueError, match="shape"):
        model.log_psi(torch.zeros(3, 6, dtype=torch.long))
