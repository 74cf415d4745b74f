"""The contract of an autoregressive wavefunction.

An autoregressive wavefunction over ``N`` sites with two local states factorises as

    psi(s) = prod_i p(s_i | s_<i)^(1/2) * exp(i phi(s)),

with every conditional normalised, so that ``sum_s |psi(s)|^2 = 1`` exactly and configurations
can be sampled exactly, site by site, without Markov chains.

Configurations are **local indices** (``0`` or ``1``, netket's ordering of
``hilbert.local_states``) in a ``torch.long`` tensor of shape ``(batch, n_sites)``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import nn

__all__ = ["MAX_ENUMERATION_SITES", "AutoregressiveWavefunction"]

#: Most sites whose ``2**N`` configurations :meth:`AutoregressiveWavefunction.all_configurations`
#: enumerates.
MAX_ENUMERATION_SITES = 20


class AutoregressiveWavefunction(nn.Module, ABC):
    """Base class: subclasses implement :meth:`log_conditionals` and :meth:`sample`.

    Attributes:
        n_sites: number of sites ``N``.
        local_size: number of local states (2 for spin-1/2).
    """

    n_sites: int
    local_size: int = 2

    @property
    @abstractmethod
    def is_complex(self) -> bool:
        """Whether ``log_psi`` carries a phase (complex) or is real (positive amplitudes)."""

    @property
    def dtype(self) -> torch.dtype:
        """Floating dtype of the parameters."""
        return next(self.parameters()).dtype

    @property
    def device(self) -> torch.device:
        """Device of the parameters."""
        return next(self.parameters()).device

    @property
    def n_parameters(self) -> int:
        """Number of real trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    @abstractmethod
    def log_conditionals(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Conditional log-probabilities and phases of every site given its prefix.

        Args:
            s: configurations, ``(batch, n_sites)`` long tensor of local indices.

        Returns:
            ``(log_p, phase)``: ``log_p[b, i, k] = log p(s_i = k | s_<i)``, shape
            ``(batch, n_sites, local_size)``; ``phase`` the same shape (radians) or ``None``.
        """

    @abstractmethod
    def sample(self, n_samples: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n_samples`` exact, independent samples from ``|psi|^2``.

        Returns:
            ``(n_samples, n_sites)`` long tensor of local indices on the model's device.
        """

    def log_prob(self, s: torch.Tensor) -> torch.Tensor:
        """``log |psi(s)|^2 = sum_i log p(s_i | s_<i)``, shape ``(batch,)``."""
        log_p, _ = self.log_conditionals(s)
        return log_p.gather(-1, s.unsqueeze(-1)).squeeze(-1).sum(-1)

    def log_psi(self, s: torch.Tensor) -> torch.Tensor:
        """``log psi(s)``, shape ``(batch,)``: real for positive models, complex otherwise."""
        log_p, phase = self.log_conditionals(s)
        idx = s.unsqueeze(-1)
        log_amp = 0.5 * log_p.gather(-1, idx).squeeze(-1).sum(-1)
        if phase is None:
            return log_amp
        phi = phase.gather(-1, idx).squeeze(-1).sum(-1)
        return torch.complex(log_amp, phi)

    @torch.no_grad()
    def log_psi_chunked(self, s: torch.Tensor, chunk_size: int) -> torch.Tensor:
        """:meth:`log_psi` without gradients, in chunks of ``chunk_size`` configurations."""
        if s.shape[0] <= chunk_size:
            return self.log_psi(s)
        return torch.cat([self.log_psi(c) for c in torch.split(s, chunk_size)])

    # ------------------------------------------------------------------ connected amplitudes
    @property
    def supports_prefix(self) -> bool:
        """Whether :meth:`log_psi_ratios` reuses cached prefixes (else: from scratch)."""
        return False

    def cache_nbytes_per_sample(self) -> int:
        """Memory of one sample's prefix cache in bytes (0 without prefix support)."""
        return 0

    @torch.no_grad()
    def sample_with_cache(
        self, n_samples: int, *, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, Any]:
        """:meth:`sample`, plus whatever :meth:`log_psi_ratios` can reuse (``None`` here)."""
        return self.sample(n_samples, generator=generator), None

    @torch.no_grad()
    def prefix_cache(self, s: torch.Tensor) -> Any:
        """The reusable per-site state of configurations ``s`` (``None`` here)."""
        return None

    @torch.no_grad()
    def log_psi_ratios(
        self,
        s: torch.Tensor,
        elements: Any,
        *,
        cache: Any = None,
        log_psi_s: torch.Tensor | None = None,
        chunk_size: int = 8192,
    ) -> torch.Tensor:
        """``log psi(s') - log psi(s)`` for compact connected elements (generic: from scratch).

        Args:
            s: ``(B, N)`` configurations.
            elements: a :class:`physrnn.vmc.operators.ConnectedElements` of ``s`` (``M`` rows).
            cache: ignored here; subclasses with prefix reuse take :meth:`prefix_cache`.
            log_psi_s: ``log psi(s)`` ``(B,)`` if already known.
            chunk_size: connected configurations per wavefunction call.

        Returns:
            ``(M,)`` float64, or complex128 for complex models.
        """
        wide = torch.complex128 if self.is_complex else torch.float64
        if log_psi_s is None:
            log_psi_s = self.log_psi_chunked(s, chunk_size)
        log_psi_s = log_psi_s.to(wide)
        m = len(elements)
        out = torch.empty(m, dtype=wide, device=s.device)
        for start in range(0, m, chunk_size):
            rows = torch.arange(start, min(m, start + chunk_size), device=s.device)
            conn = elements.materialise(s, rows)
            out[rows] = self.log_psi(conn).to(wide) - log_psi_s[elements.sample[rows]]
        return out

    @torch.no_grad()
    def all_configurations(self) -> torch.Tensor:
        """Every configuration, ``(2**n_sites, n_sites)``, site 0 the most significant bit;
        only for ``n_sites <= MAX_ENUMERATION_SITES``."""
        if self.n_sites > MAX_ENUMERATION_SITES:
            raise ValueError(f"enumerating 2**{self.n_sites} configurations is too large")
        n = self.n_sites
        codes = torch.arange(2**n, device=self.device)
        shifts = torch.arange(n - 1, -1, -1, device=self.device)
        return (codes.unsqueeze(-1) >> shifts) & 1

    @staticmethod
    def configuration_index(s: torch.Tensor) -> torch.Tensor:
        """Row of each configuration ``s`` ``(B, N)`` in :meth:`all_configurations`, ``(B,)``."""
        weights = 2 ** torch.arange(s.shape[-1] - 1, -1, -1, device=s.device)
        return (s * weights).sum(-1)

    @torch.no_grad()
    def psi_vector(self) -> torch.Tensor:
        """The full state vector ``psi(s)`` over :meth:`all_configurations`, complex128."""
        lp = self.log_psi(self.all_configurations()).to(torch.complex128)
        return torch.exp(lp)

    @staticmethod
    def phase_from_logits(z: torch.Tensor) -> torch.Tensor:
        """Map unbounded outputs to phases in ``(-pi, pi)`` with a softsign."""
        return math.pi * torch.nn.functional.softsign(z)
