"""Recurrent wavefunction for chains (Hibat-Allah et al., PRR 2, 023358 (2020)).

Site ``i`` receives the one-hot encoding of ``s_{i-1}`` (zeros at ``i = 0``) and the recurrent
state of site ``i - 1``; a softmax head gives ``p(s_i | s_<i)`` and, for complex models, a
softsign head gives the phase contribution ``phi_i(s_i)`` with ``phi(s) = sum_i phi_i(s_i)``.
"""

from __future__ import annotations

import torch
from torch import nn

from physrnn.nn.recurrent import CELLS
from physrnn.wavefunctions.base import AutoregressiveWavefunction
from physrnn.wavefunctions.cells import RecurrentSteps
from physrnn.wavefunctions.prefix import (
    PrefixCache,
    default_block_rows,
    log_psi_ratios,
    run_with_cache,
)

__all__ = ["RNNWavefunction1D", "CELLS"]

class RNNWavefunction1D(AutoregressiveWavefunction):
    """Autoregressive recurrent wavefunction on a chain of ``n_sites`` spin-1/2 sites.

    Args:
        n_sites: chain length ``N``.
        hidden_size: recurrent state size ``d_h``.
        n_layers: stacked recurrent layers.
        cell: ``"gru"`` (default), ``"lstm"`` or ``"rnn"`` (tanh Elman).
        phase: add a phase head (complex wavefunction); ``False`` gives positive amplitudes.
        dtype: parameter dtype, ``torch.float32`` or ``torch.float64``.
        seed: seed of the parameter initialisation; the global torch RNG is left untouched.

    Shapes:
        configurations ``(batch, n_sites)`` long tensors of local indices ``0, 1``.
    """

    def __init__(
        self,
        n_sites: int,
        *,
        hidden_size: int = 32,
        n_layers: int = 1,
        cell: str = "gru",
        phase: bool = False,
        dtype: torch.dtype = torch.float32,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if n_sites < 1:
            raise ValueError(f"n_sites must be >= 1, got {n_sites}")
        if hidden_size < 1 or n_layers < 1:
            raise ValueError(
                f"hidden_size and n_layers must be >= 1, got {hidden_size}, {n_layers}")
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; choose one of {sorted(CELLS)}")
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.n_sites = int(n_sites)
        self.hidden_size = int(hidden_size)
        self.n_layers = int(n_layers)
        self.cell = cell
        self.has_phase = bool(phase)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.rnn = CELLS[cell](self.local_size, hidden_size, num_layers=n_layers,
                                   batch_first=True)
            self.amplitude_head = nn.Linear(hidden_size, self.local_size)
            self.phase_head = nn.Linear(hidden_size, self.local_size) if phase else None
        self.to(dtype)

    @property
    def is_complex(self) -> bool:
        return self.has_phase

    def extra_repr(self) -> str:
        return (f"n_sites={self.n_sites}, hidden_size={self.hidden_size}, "
                f"n_layers={self.n_layers}, cell={self.cell!r}, phase={self.has_phase}")

    def _inputs(self, s: torch.Tensor) -> torch.Tensor:
        """One-hot of the previous spin, ``(batch, n_sites, 2)``, zeros at site 0."""
        levels = torch.arange(self.local_size, device=s.device)
        prev = (s[:, :-1].unsqueeze(-1) == levels).to(self.dtype)  # out of place: vmap-able
        first = torch.zeros(s.shape[0], 1, self.local_size, dtype=self.dtype, device=s.device)
        return torch.cat([first, prev], dim=1)

    def _heads(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        log_p = torch.log_softmax(self.amplitude_head(hidden), dim=-1)
        phase = None
        if self.phase_head is not None:
            phase = self.phase_from_logits(self.phase_head(hidden))
        return log_p, phase

    def log_conditionals(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        self._check_shape(s)
        hidden, _ = self.rnn(self._inputs(s))
        return self._heads(hidden)

    # ------------------------------------------------------------------ cached evaluation
    def recurrent_steps(self) -> RecurrentSteps:
        """Single-site view of the current parameters (rebuild after every update)."""
        return RecurrentSteps(self.rnn, self.cell, self.amplitude_head, self.phase_head)

    @property
    def supports_prefix(self) -> bool:
        return True

    def cache_nbytes_per_sample(self) -> int:
        state = (2 if self.cell == "lstm" else 1) * self.hidden_size
        return PrefixCache.nbytes_per_sample(self.n_sites, self.n_layers, state,
                                             self.dtype.itemsize, self.has_phase)

    def _uniforms(self, n_samples: int, generator: torch.Generator | None) -> torch.Tensor:
        if n_samples < 1:
            raise ValueError(f"n_samples must be >= 1, got {n_samples}")
        return torch.rand(n_samples, self.n_sites, generator=generator, dtype=torch.float64,
                          device=self.device)

    @torch.no_grad()
    def sample(self, n_samples: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Exact sampling, one site at a time with the recurrent state carried forward.

        Cost ``O(n_samples * N * n_layers * d_h^2)``: one step per site and layer, nothing
        recomputed; uniform numbers ``(n_samples, N)`` come from ``generator``.
        """
        uniforms = self._uniforms(n_samples, generator)
        s, _ = run_with_cache(self.recurrent_steps(), self.n_sites, n_samples=n_samples,
                              uniforms=uniforms, keep_cache=False)
        return s

    @torch.no_grad()
    def sample_with_cache(
        self, n_samples: int, *, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, PrefixCache]:
        """:meth:`sample` (the same samples for the same generator state) and the
        :class:`PrefixCache` of the samples, ``O(n_samples N n_layers d_h)`` memory."""
        uniforms = self._uniforms(n_samples, generator)
        s, cache = run_with_cache(self.recurrent_steps(), self.n_sites, n_samples=n_samples,
                                  uniforms=uniforms, keep_cache=True)
        return s, cache

    @torch.no_grad()
    def prefix_cache(self, s: torch.Tensor) -> PrefixCache:
        """Per-site recurrent states of ``s`` (``(B, N)`` local indices)."""
        self._check_shape(s)
        _, cache = run_with_cache(self.recurrent_steps(), self.n_sites, s=s)
        return cache

    @torch.no_grad()
    def log_psi_ratios(
        self,
        s: torch.Tensor,
        elements,
        *,
        cache: PrefixCache | None = None,
        log_psi_s: torch.Tensor | None = None,
        chunk_size: int | None = None,
    ) -> torch.Tensor:
        """``log psi(s') - log psi(s)`` of compact connected elements, reusing prefixes.

        Args:
            s: ``(B, N)`` configurations.
            elements: their :class:`physrnn.vmc.operators.ConnectedElements` (``M`` rows).
            cache: :meth:`prefix_cache` of ``s`` (computed here if ``None``).
            log_psi_s: unused (the ratio is computed from per-site differences).
            chunk_size: most connected configurations evaluated together; the default is a
                working set that fits the CPU cache (large on a GPU).

        Returns:
            ``(M,)`` float64 (complex128 with a phase head).
        """
        self._check_shape(s)
        steps = self.recurrent_steps()
        if cache is None:
            _, cache = run_with_cache(steps, self.n_sites, s=s)
        rows = default_block_rows(s.device, self.hidden_size, self.dtype.itemsize)
        if chunk_size is not None:
            rows = max(1, min(rows, int(chunk_size)))
        return log_psi_ratios(
            steps, s, cache, elements.sample, elements.first,
            lambda r: elements.materialise(s, r), elements.first_values(), block_rows=rows,
        )

    def _check_shape(self, s: torch.Tensor) -> None:
        if s.ndim != 2 or s.shape[1] != self.n_sites:
            raise ValueError(f"expected configurations of shape (batch, {self.n_sites}), "
                             f"got {tuple(s.shape)}")
