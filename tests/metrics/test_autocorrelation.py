"""Integrated autocorrelation time and split R-hat against processes with known answers.

An AR(1) process ``x_t = phi x_{t-1} + sqrt(1 - phi^2) eps_t`` has ``rho(t) = phi^t`` and
``tau_int = (1 + phi) / (1 - phi)`` exactly; independent samples have ``tau_int = 1``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from physrnn.metrics.autocorrelation import (
    autocorrelation,
    chain_statistics,
    integrated_autocorrelation_time,
    split_rhat,
)


def ar1(phi: float, n: int, n_chains: int, seed: int) -> np.ndarray:
    """``(n_chains, n)`` stationary AR(1) samples of unit variance."""
    rng = np.random.default_rng(seed)
    eps = rng.standard_normal((n_chains, n))
    x = np.empty((n_chains, n))
    x[:, 0] = eps[:, 0]
    s = math.sqrt(1.0 - phi * phi)
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + s * eps[:, t]
    return x


@pytest.mark.parametrize("method,phi", [("geyer", 0.0), ("geyer", 0.5), ("geyer", 0.8),
                                        ("geyer", 0.95), ("geyer", -0.5), ("sokal", 0.0),
                                        ("sokal", 0.8), ("sokal", 0.95)])
def test_tau_of_ar1_matches_closed_form(method, phi):
    x = ar1(phi, 50_000, 4, seed=11)
    tau = integrated_autocorrelation_time(x, method=method)
    exact = (1 + phi) / (1 - phi)
    # Sokal's relative error is sqrt(2 (2M + 1) / n); allow about 4 of them
    assert tau == pytest.approx(exact, rel=0.08), (tau, exact)


def test_autocorrelation_of_ar1_decays_as_phi_to_the_t():
    rho = autocorrelation(ar1(0.7, 100_000, 2, seed=3))
    assert rho[0] == 1.0
    np.testing.assert_allclose(rho[1:6], 0.7 ** np.arange(1, 6), atol=0.02)


def test_error_of_the_mean_matches_the_spread_of_independent_replicas():
    """The error of a correlated mean is what repeating the experiment shows."""
    phi, n = 0.9, 4000
    reps = ar1(phi, n, 300, seed=5)
    spread = reps.mean(axis=1).std(ddof=1)
    errors = np.array([chain_statistics(r).error for r in reps[:60]])
    assert np.median(errors) == pytest.approx(spread, rel=0.15)
    naive = reps[0].std(ddof=1) / math.sqrt(n)
    assert spread > 3 * naive          # ignoring the correlation would be far off


def test_constant_series_and_short_chains():
    assert integrated_autocorrelation_time(np.ones(100)) == 1.0
    st = chain_statistics(ar1(0.999, 200, 1, seed=1))
    assert not st.converged            # far too short for its correlation time
    with pytest.raises(ValueError, match="at least"):
        chain_statistics([1.0, 2.0])
    with pytest.raises(ValueError, match="NaN"):
        integrated_autocorrelation_time([1.0, np.nan, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match="method"):
        integrated_autocorrelation_time(np.arange(10.0), method="batch")
    with pytest.raises(ValueError, match="shape"):
        split_rhat(np.zeros((2, 3, 4)))


def test_split_rhat_is_one_for_mixed_chains_and_large_for_stuck_ones():
    mixed = ar1(0.5, 4000, 4, seed=2)
    assert split_rhat(mixed) == pytest.approx(1.0, abs=0.01)
    stuck = mixed + np.arange(4)[:, None]          # chains sitting in different places
    assert split_rhat(stuck) > 1.5
    drifting = mixed + np.linspace(0, 3, 4000)      # one chain that has not equilibrated
    assert split_rhat(drifting[:1]) > 1.2
