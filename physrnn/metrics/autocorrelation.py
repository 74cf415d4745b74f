"""Autocorrelation of Markov chains: integrated autocorrelation time and split R-hat.

Pure NumPy functions for the output of any Markov-chain Monte Carlo: a Metropolis-sampled
wavefunction, a QMC time series, a classical spin chain. A series is ``(n,)`` (one chain) or
``(n_chains, n)`` (several independent chains of equal length), in any unit.

Convention: the **integrated autocorrelation time** is

    tau_int = 1 + 2 sum_{t >= 1} rho(t),

with ``rho(t)`` the normalised autocorrelation function, so that the variance of the mean of
``n`` correlated samples of variance ``sigma^2`` is ``sigma^2 tau_int / n`` and the effective
sample size is ``n / tau_int``. Independent samples have ``tau_int = 1``; an AR(1) process
``x_t = phi x_{t-1} + noise`` has ``tau_int = (1 + phi) / (1 - phi)``. (NetKet's ``tau_corr``
is ``(tau_int - 1) / 2`` in this notation.)

The sum is cut by Geyer's initial monotone sequence (default) or Sokal's automatic window
(A. Sokal, *Monte Carlo methods in statistical mechanics*, Cargese lectures 1996: the smallest
``M`` with ``M >= c tau_int(M)``, ``c = 5``).
Split R-hat follows Gelman et al., *Bayesian Data Analysis* (3rd ed.), section 11.4: each chain
is cut in halves and the between-half variance compared with the within-half variance; values
near 1 (below ~1.01-1.05) say the chains have mixed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["autocorrelation", "integrated_autocorrelation_time", "split_rhat",
           "ChainStatistics", "chain_statistics"]


def _as_chains(x, *, name: str = "x", min_length: int = 4) -> np.ndarray:
    """``x`` as a float64 array ``(n_chains, n)``; one chain if 1D."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2:
        raise ValueError(f"{name} must be (n,) or (n_chains, n), got shape {a.shape}")
    if a.shape[1] < min_length:
        raise ValueError(f"{name} needs at least {min_length} samples per chain, "
                         f"got {a.shape[1]}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or inf")
    return a


def autocorrelation(x) -> np.ndarray:
    """Normalised autocorrelation function ``rho(t)``, ``t = 0 .. n-1``, shape ``(n,)``.

    For several chains ``(n_chains, n)`` the autocovariances of the chains (each about its own
    mean) are averaged before normalising. A constant series gives ``rho = [1, 0, 0, ...]``.
    Computed with a zero-padded FFT (``O(n log n)``); the estimator divides by ``n``, not
    ``n - t`` (biased, positive semi-definite).
    """
    a = _as_chains(x, min_length=2)
    n = a.shape[1]
    d = a - a.mean(axis=1, keepdims=True)
    size = 1 << (2 * n - 1).bit_length()
    f = np.fft.rfft(d, n=size, axis=1)
    acov = np.fft.irfft(f * np.conj(f), n=size, axis=1)[:, :n].mean(axis=0) / n
    out = np.zeros(n)
    if acov[0] <= 0:
        out[0] = 1.0
        return out
    return acov / acov[0]


def integrated_autocorrelation_time(x, *, method: str = "geyer", c: float = 5.0) -> float:
    """Integrated autocorrelation time ``tau_int`` in samples (module convention).

    Args:
        x: ``(n,)`` or ``(n_chains, n)`` samples in time order.
        method: ``"geyer"`` (default): Geyer's initial monotone sequence estimator (Statist.
            Sci. 7, 473 (1992)); the sums of consecutive pairs ``rho(2k) + rho(2k+1)`` are added
            while positive and kept non-increasing, which also handles anticorrelated chains
            (``tau_int < 1``). ``"sokal"``: Sokal's automatic window, the smallest ``M`` with
            ``M >= c tau_int(M)`` (meant for positively correlated chains).
        c: Sokal's window constant.

    Returns:
        ``tau_int`` (``1.0`` for a constant series). A chain too short for its correlation
        time gives a lower bound; :func:`chain_statistics` flags it.
    """
    return _tau_and_window(x, method=method, c=c)[0]


def _tau_and_window(x, *, method: str, c: float) -> tuple[float, int, bool]:
    """(tau_int, the last lag summed, whether the estimator's stopping rule was met)."""
    rho = autocorrelation(x)
    n = len(rho)
    if method == "sokal":
        taus = 1.0 + 2.0 * np.cumsum(rho[1:])
        m = np.arange(1, n)
        ok = m >= c * taus
        if np.any(ok):
            k = int(np.argmax(ok))
            return float(taus[k]), int(m[k]), True
        return float(taus[-1]), int(m[-1]), False
    if method != "geyer":
        raise ValueError(f"method must be 'geyer' or 'sokal', got {method!r}")
    pairs = rho[: 2 * (n // 2)].reshape(-1, 2).sum(axis=1)        # Gamma_k, k = 0, 1, ...
    negative = np.flatnonzero(pairs <= 0)
    stop = int(negative[0]) if negative.size else len(pairs)
    gam = np.minimum.accumulate(pairs[:stop]) if stop else pairs[:1]
    return float(-1.0 + 2.0 * gam.sum()), 2 * max(stop, 1) - 1, bool(negative.size)


def split_rhat(x) -> float:
    """Split R-hat of ``(n_chains, n)`` samples (``n >= 4``); one chain is split in two.

    Returns:
        ``sqrt(var_hat / W)`` over the ``2 n_chains`` half-chains, with ``W`` the mean
        within-half variance and ``var_hat = (m-1)/m W + B/m`` (``m`` the half length, ``B`` the
        between-half variance times ``m``). 1.0 when every half has the same mean; ``nan`` when
        all samples are equal.
    """
    a = _as_chains(x)
    half = a.shape[1] // 2
    parts = np.concatenate([a[:, :half], a[:, half:2 * half]], axis=0)   # (2 n_chains, half)
    means = parts.mean(axis=1)
    w = parts.var(axis=1, ddof=1).mean()
    b = half * means.var(ddof=1)
    if w == 0:
        return math.nan if b == 0 else math.inf
    var_hat = (half - 1) / half * w + b / half
    return float(math.sqrt(var_hat / w))


@dataclass(frozen=True)
class ChainStatistics:
    """Mean and error of a correlated series.

    Attributes:
        mean: sample mean (unit of the series).
        error: standard error of the mean, ``sqrt(var * tau_int / n_total)``.
        variance: sample variance over all chains.
        tau_int: integrated autocorrelation time in samples (module convention).
        n_samples: total samples ``n_chains * n``.
        n_effective: ``n_samples / tau_int``.
        rhat: split R-hat (:func:`split_rhat`).
        window: the last lag summed.
        converged: the estimator's stopping rule was met and each chain holds at least
            ``50 tau_int`` samples (``False``: too short for its correlation time; ``tau_int``
            and ``error`` are then lower bounds).
    """

    mean: float
    error: float
    variance: float
    tau_int: float
    n_samples: int
    n_effective: float
    rhat: float
    window: int
    converged: bool


def chain_statistics(x, *, method: str = "geyer", c: float = 5.0) -> ChainStatistics:
    """:class:`ChainStatistics` of ``(n,)`` or ``(n_chains, n)`` samples (``method`` and ``c``
    as in :func:`integrated_autocorrelation_time`)."""
    a = _as_chains(x)
    tau, window, ok = _tau_and_window(a, method=method, c=c)
    ok = ok and a.shape[1] >= 50 * tau
    tau = max(tau, 1e-12)
    n_total = a.size
    var = float(a.var(ddof=1)) if n_total > 1 else 0.0
    return ChainStatistics(mean=float(a.mean()), error=math.sqrt(max(var * tau, 0.0) / n_total),
                           variance=var, tau_int=tau, n_samples=int(n_total),
                           n_effective=n_total / tau, rhat=split_rhat(a), window=window,
                           converged=ok)
