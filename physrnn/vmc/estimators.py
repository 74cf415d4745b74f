"""Local energies and Monte Carlo statistics.

The local energy of a configuration is ``E_loc(s) = sum_s' H[s, s'] psi(s') / psi(s)``; its mean
over exact samples of ``|psi|^2`` is the variational energy and its variance vanishes on an
eigenstate. All statistics are accumulated in float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from physrnn.errors import NonFiniteError
from physrnn.vmc.operators import ConnectedOperator
from physrnn.wavefunctions.base import AutoregressiveWavefunction

__all__ = ["EnergyStats", "energy_stats", "local_energies", "v_score"]


@dataclass(frozen=True)
class EnergyStats:
    """Mean energy with its standard error, and the variance of the local energies.

    Attributes:
        mean: ``<E_loc>`` (real part), total energy in the operator's units.
        error: standard error of the mean, ``sqrt(Var / n)`` (samples are independent).
        variance: ``Var(E_loc)`` (real), zero on an eigenstate.
        imag: imaginary part of ``<E_loc>``, zero within errors for a Hermitian operator.
        n_samples: number of samples.
    """

    mean: float
    error: float
    variance: float
    imag: float
    n_samples: int

    def v_score(self, n_sites: int, e_inf: float = 0.0) -> float:
        """V-score ``N Var(E) / (E - E_inf)^2`` (Wu et al., Science 2024)."""
        return v_score(n_sites, self.variance, self.mean, e_inf)

    def __str__(self) -> str:
        return f"{self.mean:.8g} +- {self.error:.2g} (var {self.variance:.3g})"


def v_score(n_sites: int, variance: float, energy: float, e_inf: float = 0.0) -> float:
    """V-score ``N Var(E) / (E - E_inf)^2``; ``E_inf = Tr H / dim`` (0 for traceless models)."""
    denom = (energy - e_inf) ** 2
    return float(n_sites * variance / denom) if denom > 0 else math.inf


def energy_stats(e_loc: torch.Tensor) -> EnergyStats:
    """Statistics of a ``(batch,)`` tensor of local energies (real or complex), in float64."""
    n = int(e_loc.shape[0])
    if n < 2:
        raise ValueError(f"need at least 2 samples for an error bar, got {n}")
    e = e_loc.to(torch.complex128) if e_loc.is_complex() else e_loc.to(torch.float64)
    mean = e.mean()
    var = float(((e - mean).abs() ** 2).sum() / (n - 1))
    return EnergyStats(
        mean=float(mean.real),
        error=math.sqrt(var / n),
        variance=var,
        imag=float(mean.imag) if e.is_complex() else 0.0,
        n_samples=n,
    )


@torch.no_grad()
def local_energies(
    model: AutoregressiveWavefunction,
    operator: ConnectedOperator,
    s: torch.Tensor,
    *,
    log_psi_s: torch.Tensor | None = None,
    chunk_size: int = 8192,
) -> torch.Tensor:
    """Local energies ``E_loc(s)`` of a batch of configurations.

    Args:
        model: the wavefunction.
        operator: connected elements of the Hamiltonian.
        s: ``(batch, N)`` local indices.
        log_psi_s: ``log psi(s)`` if already computed, ``(batch,)``.
        chunk_size: configurations per wavefunction call when evaluating connected amplitudes.

    Returns:
        ``(batch,)`` float64 for positive models with a real operator, complex128 otherwise.

    Raises:
        NonFiniteError: if any local energy is NaN or infinite.
    """
    if log_psi_s is None:
        log_psi_s = model.log_psi_chunked(s, chunk_size)
    s_conn, mels = operator.connected(s)
    batch, k, n = s_conn.shape
    log_psi_conn = model.log_psi_chunked(s_conn.reshape(batch * k, n), chunk_size)
    log_psi_conn = log_psi_conn.reshape(batch, k)
    complex_out = model.is_complex or operator.is_complex
    wide = torch.complex128 if model.is_complex else torch.float64
    ratio = torch.exp(log_psi_conn.to(wide) - log_psi_s.to(wide).unsqueeze(-1))
    e_loc = (mels * ratio).sum(-1)
    if not complex_out and e_loc.is_complex():
        e_loc = e_loc.real
    if not torch.isfinite(e_loc).all():
        bad = int((~torch.isfinite(e_loc)).sum())
        raise NonFiniteError(f"{bad} of {batch} local energies are NaN or infinite")
    return e_loc
