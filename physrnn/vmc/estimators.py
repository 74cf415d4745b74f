"""Local energies and Monte Carlo statistics.

The local energy of a configuration is ``E_loc(s) = sum_s' H[s, s'] psi(s') / psi(s)``; its mean
over exact samples of ``|psi|^2`` is the variational energy and its variance vanishes on an
eigenstate. All statistics are accumulated in float64.

:func:`local_energies` takes the diagonal from the compiled operator tables
(:class:`~physrnn.vmc.operators.ConnectedOperator`) and the amplitude ratios of the connected
configurations from the model, by prefix reuse for recurrent models (each connected
configuration only re-evaluates the sites after its first difference from ``s``) or from
scratch otherwise; samples are processed in chunks that fit in a share of the free memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from physrnn.errors import NonFiniteError
from physrnn.metrics.quantum import v_score
from physrnn.vmc.operators import ConnectedOperator
from physrnn.wavefunctions.base import MAX_ENUMERATION_SITES, AutoregressiveWavefunction

__all__ = [
    "EnergyStats",
    "available_memory",
    "energy_stats",
    "exact_energy",
    "local_energies",
    "samples_per_chunk",
    "v_score",
]


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

    def v_score(self, n_sites: int, *, e_inf: float = 0.0) -> float:
        """V-score ``N Var(E) / (E - E_inf)^2`` (Wu et al., Science 2024)."""
        return v_score(n_sites, variance=self.variance, energy=self.mean, e_inf=e_inf)

    def __str__(self) -> str:
        return f"{self.mean:.8g} +- {self.error:.2g} (var {self.variance:.3g})"


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


def available_memory(device: torch.device | str) -> int:
    """Free memory in bytes on ``device`` (CUDA: ``mem_get_info``; CPU: ``MemAvailable``)."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 << 30


#: Fraction of the free memory that one local-energy evaluation may use.
MEMORY_FRACTION = 0.25


def samples_per_chunk(
    model: AutoregressiveWavefunction,
    operator: ConnectedOperator,
    n_samples: int,
    *,
    max_memory: int | None = None,
    cache_given: bool = False,
) -> int:
    """How many samples to process together so that one chunk stays under ``max_memory``.

    Per sample: the prefix cache (unless given), the compact connected elements
    (``K x (2 k + 3)`` longs and a matrix element) and the gathers over all terms.
    ``max_memory`` defaults to :data:`MEMORY_FRACTION` of the free memory of the device.
    """
    if max_memory is None:
        max_memory = int(MEMORY_FRACTION * available_memory(model.device))
    k = operator.max_conn_size
    loc = operator.max_locality
    per_sample = k * (2 * loc + 4) * 8 * 2
    if operator.terms is not None:
        per_sample += 8 * 4 * sum(g.n_terms * (g.k + max(g.max_off_diagonal, 1))
                                  for g in operator.terms.groups)
    if not cache_given:
        per_sample += model.cache_nbytes_per_sample()
    return int(max(1, min(n_samples, max_memory // max(per_sample, 1))))


@torch.no_grad()
def local_energies(
    model: AutoregressiveWavefunction,
    operator: ConnectedOperator | Any,
    s: torch.Tensor,
    *,
    log_psi_s: torch.Tensor | None = None,
    cache: Any = None,
    chunk_size: int | None = None,
    method: str = "auto",
    max_memory: int | None = None,
) -> torch.Tensor:
    """Local energies ``E_loc(s)`` of a batch of configurations.

    ``E_loc(s) = H[s, s] + sum_{s'} H[s, s'] exp(log psi(s') - log psi(s))``: the diagonal
    comes straight from the operator's tables; the off-diagonal ratios from
    :meth:`~physrnn.wavefunctions.AutoregressiveWavefunction.log_psi_ratios`, by prefix reuse
    (``method="prefix"``, the default ``"auto"`` when the model supports it) or from scratch
    (``"scratch"``). Ratios, sums and the result are float64 (complex128), whatever the
    model's dtype.

    Args:
        model: the wavefunction.
        operator: a :class:`ConnectedOperator` (or a netket operator, compiled here).
        s: ``(batch, N)`` local indices.
        log_psi_s: ``log psi(s)`` if already computed, ``(batch,)`` (scratch path only).
        cache: ``model.sample_with_cache`` / ``model.prefix_cache`` of ``s`` (prefix path).
        chunk_size: most connected configurations evaluated together (``None``: a size
            chosen for the device).
        method: ``"auto"``, ``"prefix"`` or ``"scratch"``.
        max_memory: bytes one chunk of samples may use (default: a quarter of the free memory
            of the device); samples are processed in chunks that fit.

    Returns:
        ``(batch,)`` float64 for positive models with a real operator, complex128 otherwise.

    Raises:
        NonFiniteError: if any local energy is NaN or infinite.
        ValueError: an unknown ``method``, or ``"prefix"`` for a model without prefix support.
    """
    if not isinstance(operator, ConnectedOperator):
        operator = ConnectedOperator(operator)
    if method not in ("auto", "prefix", "scratch"):
        raise ValueError(f"unknown method {method!r}; choose 'auto', 'prefix' or 'scratch'")
    if method == "prefix" and not model.supports_prefix:
        raise ValueError(f"{type(model).__name__} does not support prefix reuse")
    prefix = model.supports_prefix and method != "scratch"
    batch = int(s.shape[0])
    per_chunk = samples_per_chunk(model, operator, batch, max_memory=max_memory,
                                  cache_given=cache is not None or not prefix)
    if not prefix and log_psi_s is None:
        log_psi_s = model.log_psi_chunked(s, chunk_size or 8192)
    complex_out = model.is_complex or operator.is_complex
    parts = []
    for start in range(0, batch, per_chunk):
        part = slice(start, min(batch, start + per_chunk))
        s_c = s[part]
        el = operator.elements(s_c)
        if prefix:
            ratios = model.log_psi_ratios(s_c, el, cache=None if cache is None else cache[part],
                                          chunk_size=chunk_size)
        else:
            ratios = model.log_psi_ratios(s_c, el, log_psi_s=log_psi_s[part],
                                          chunk_size=chunk_size or 8192)
        terms = el.mels * torch.exp(ratios)
        e_loc = el.diagonal.to(terms.dtype).index_add(0, el.sample, terms)
        parts.append(e_loc)
    e_loc = torch.cat(parts) if len(parts) > 1 else parts[0]
    if not complex_out and e_loc.is_complex():
        e_loc = e_loc.real
    if not torch.isfinite(e_loc).all():
        bad = int((~torch.isfinite(e_loc)).sum())
        raise NonFiniteError(f"{bad} of {batch} local energies are NaN or infinite")
    return e_loc


#: Largest number of sites :func:`exact_energy` enumerates (``2**N`` amplitudes).
EXACT_MAX_SITES = MAX_ENUMERATION_SITES


@torch.no_grad()
def exact_energy(
    model: AutoregressiveWavefunction,
    operator: ConnectedOperator | Any,
    *,
    chunk_size: int = 8192,
) -> float:
    """The exact variational energy ``<psi|H|psi> / <psi|psi>`` by enumeration (no sampling).

    ``psi`` is evaluated once on all ``2**N`` configurations; every configuration of nonzero
    amplitude contributes ``conj(psi(s)) sum_s' H[s, s'] psi(s')`` with the connected elements
    of the compiled operator, so the cost is one batch of ``2**N`` amplitudes plus the
    connected elements, not ``2**N`` local energies. Use it to resolve energy differences
    far below the statistical error of a sampled estimate (small lattices, e.g. 4 x 4).

    Args:
        model: the wavefunction, ``N <= 20`` sites.
        operator: a :class:`ConnectedOperator` (or a netket operator, compiled here).
        chunk_size: configurations whose connected elements are built together.

    Returns:
        The energy, in the operator's units (real part; the imaginary part of a Hermitian
        ``H`` vanishes up to rounding).

    Raises:
        ValueError: for more than :data:`EXACT_MAX_SITES` sites or a zero state.
    """
    if model.n_sites > EXACT_MAX_SITES:
        raise ValueError(f"exact_energy enumerates 2**N configurations: N = {model.n_sites} "
                         f"is above {EXACT_MAX_SITES}")
    if not isinstance(operator, ConnectedOperator):
        operator = ConnectedOperator(operator)
    configs = model.all_configurations()
    psi = torch.exp(model.log_psi_chunked(configs, chunk_size).to(torch.complex128))
    norm = float((psi.abs() ** 2).sum())
    if not norm > 0:
        raise ValueError("the wavefunction is zero on every configuration")
    support = torch.nonzero(psi.abs() > 0).squeeze(1)
    total = torch.zeros((), dtype=torch.complex128, device=configs.device)
    for start in range(0, len(support), chunk_size):
        rows = support[start:start + chunk_size]
        s = configs[rows]
        el = operator.elements(s)
        h_psi = el.diagonal.to(torch.complex128) * psi[rows]
        if len(el):
            cols = model.configuration_index(el.materialise(s))
            h_psi = h_psi.index_add(0, el.sample, el.mels.to(torch.complex128) * psi[cols])
        total = total + (psi[rows].conj() * h_psi).sum()
    return float(total.real) / norm
