"""Prefix reuse for the 2D recurrent wavefunction (connected amplitudes without full re-runs).

In :class:`~physrnn.wavefunctions.rnn2d.RNNWavefunction2D` the hidden state of step ``t``
depends on the spins of the steps before ``t`` only (its input slots are earlier neighbours).
A connected configuration ``s'`` whose first changed spin, in the model's step order, is at
step ``f`` therefore shares the hidden states of ``s`` at every step ``t <= f``, and

    log |psi(s')|^2 - log |psi(s)|^2 = sum_{t >= f} [log p_t(s') - log p_t(s)]

(the terms before ``f`` cancel exactly and are never computed). Only the steps ``t > f`` get
new cell evaluations; each reads its neighbours' states from a per-row buffer that starts as a
copy of the sample's cached states, so cached and recomputed states mix as the recurrence
needs. For nearest-neighbour terms in the snake order this halves the cell evaluations of a
from-scratch evaluation on average. The U(1) masks of ``s'`` are rebuilt from its own prefix
counts, so a term that leaves the magnetisation sector gets ``-inf`` as from scratch.

Rows are sorted by ``f`` and processed in blocks; at step ``t`` the active rows (``f < t``) form
a prefix of the block, as in the 1D :mod:`physrnn.wavefunctions.prefix`. Differences are
accumulated in float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from physrnn.wavefunctions.symmetry import masked_log_softmax

__all__ = [
    "PrefixModel2D",
    "PrefixCache2D",
    "build_cache",
    "cache_from_states",
    "first_changed_step",
    "log_psi_ratios_2d",
]

#: Bytes of the per-block state buffer on a CPU (fits a large cache level).
CPU_BLOCK_BYTES = 1 << 24
GPU_BLOCK_BYTES = 1 << 30


class PrefixModel2D(Protocol):
    """What the prefix reuse needs of a 2D recurrent model (``RNNWavefunction2D`` has it all).

    Attributes:
        n_sites: ``N``.
        local_size: local states per site (2).
        dtype: floating dtype of the hidden states.
        order: ``(N,)`` long, the site visited at each step.
        step_of_site: ``(N,)`` long, the inverse permutation of ``order``.
        previous_slots: ``(N, K)`` long, the steps feeding each step's ``K`` input slots (``N``
            for an empty slot, the zero row of a padded state buffer).
        cell: ``cell(states (B, K, d_h), onehot (B, K, 2)) -> (B, d_h)``.
        amplitude_head: hidden state ``(..., d_h)`` -> logits ``(..., 2)``.
    """

    n_sites: int
    local_size: int
    dtype: torch.dtype
    order: torch.Tensor
    step_of_site: torch.Tensor
    cell: Any
    amplitude_head: Any

    @property
    def previous_slots(self) -> torch.Tensor: ...

    def hidden_states(self, s_steps: torch.Tensor) -> torch.Tensor: ...

    def step_phases(self, hidden: torch.Tensor) -> torch.Tensor | None: ...

    def u1_masks(self, s_steps: torch.Tensor) -> torch.Tensor | None: ...


@dataclass(frozen=True)
class PrefixCache2D:
    """Per-step hidden states and conditionals of ``B`` configurations (step order).

    Attributes:
        hidden: ``(B, N + 1, d_h)``, the state of every step; row ``N`` is zeros (the empty
            input slot of :attr:`PrefixModel2D.previous_slots`).
        log_p: ``(B, N)`` float64, ``log p_t(s_t)`` of the configurations' own spins.
        phase: ``(B, N)`` float64, ``phi_t(s_t)`` in radians, or ``None`` for positive models.
    """

    hidden: torch.Tensor
    log_p: torch.Tensor
    phase: torch.Tensor | None

    def __getitem__(self, index: slice) -> PrefixCache2D:
        """The cache of the samples ``index`` (a slice of the batch)."""
        return PrefixCache2D(self.hidden[index], self.log_p[index],
                             None if self.phase is None else self.phase[index])

    @staticmethod
    def nbytes_per_sample(n_sites: int, hidden_size: int, itemsize: int, phase: bool) -> int:
        """Memory of one sample's cache in bytes."""
        return (n_sites + 1) * hidden_size * itemsize + n_sites * 8 * (2 if phase else 1)


def _gather(table: torch.Tensor, s_steps: torch.Tensor) -> torch.Tensor:
    """``table[b, t, s[b, t]]`` of ``(B, N, 2)`` tables, ``(B, N)`` float64."""
    return table.gather(-1, s_steps.unsqueeze(-1)).squeeze(-1).double()


def cache_from_states(model: PrefixModel2D, s_steps: torch.Tensor, hidden: torch.Tensor,
                      log_p: torch.Tensor) -> PrefixCache2D:
    """The cache of configurations ``s_steps`` (``(B, N)`` step order) from their hidden states
    ``(B, N, d_h)`` and their own conditionals ``log p_t(s_t)`` ``(B, N)``."""
    phases = model.step_phases(hidden)
    padded = torch.cat([hidden, torch.zeros_like(hidden[:, :1])], dim=1)
    return PrefixCache2D(padded, log_p.double(),
                         None if phases is None else _gather(phases, s_steps))


@torch.no_grad()
def build_cache(model: PrefixModel2D, s: torch.Tensor) -> PrefixCache2D:
    """Teacher-forced pass over ``s`` (``(B, N)`` site order) keeping every step's state."""
    s_steps = s[:, model.order]
    hidden = model.hidden_states(s_steps)  # (B, N, d_h)
    log_p = masked_log_softmax(model.amplitude_head(hidden), model.u1_masks(s_steps))
    return cache_from_states(model, s_steps, hidden, _gather(log_p, s_steps))


def first_changed_step(model: PrefixModel2D, s: torch.Tensor, elements: Any) -> torch.Tensor:
    """``(M,)`` long: the first step (model order) where each connected row differs from its
    sample; ``N`` for a row equal to its sample."""
    current = s[elements.sample.unsqueeze(-1), elements.sites]
    steps = model.step_of_site[elements.sites]
    changed = elements.values != current
    return torch.where(changed, steps, model.n_sites).min(dim=1).values


def default_block_rows(device: torch.device, n_sites: int, hidden: int, itemsize: int) -> int:
    """Rows per block: the ``(rows, N + 1, d_h)`` state buffer within a memory target."""
    target = GPU_BLOCK_BYTES if device.type == "cuda" else CPU_BLOCK_BYTES
    rows = target // max(1, (n_sites + 1) * hidden * itemsize)
    return int(min(1 << 16, max(64, 1 << int(math.log2(max(rows, 1))))))


@torch.no_grad()
def log_psi_ratios_2d(
    model: PrefixModel2D,
    s: torch.Tensor,
    cache: PrefixCache2D,
    elements: Any,
    *,
    block_rows: int,
) -> torch.Tensor:
    """``log psi(s') - log psi(s)`` of connected rows by prefix reuse (module doc).

    Args:
        model: the 2D wavefunction that built ``cache``.
        s: ``(B, N)`` configurations, netket site order.
        cache: :func:`build_cache` of ``s``.
        elements: their :class:`~physrnn.vmc.operators.ConnectedElements` (``M`` rows).
        block_rows: rows processed together.

    Returns:
        ``(M,)`` float64, or complex128 for complex models.
    """
    n = model.n_sites
    m = len(elements)
    first = first_changed_step(model, s, elements)
    out = torch.zeros(m, dtype=torch.float64, device=s.device)
    out_phi = torch.zeros_like(out) if cache.phase is not None else None
    order = torch.sort(first, stable=True).indices
    first_sorted = first[order]
    n_active = int(torch.searchsorted(first_sorted, torch.tensor(n, device=s.device)))
    prev = model.previous_slots
    levels = torch.arange(model.local_size, device=s.device)
    steps = torch.arange(n, device=s.device)
    for start in range(0, n_active, block_rows):
        rows = order[start:start + block_rows]
        f = first_sorted[start:start + block_rows]
        sample = elements.sample[rows]
        sp = elements.materialise(s, rows)[:, model.order]  # (r, N) step order
        onehot = (sp.unsqueeze(-1) == levels).to(model.dtype)
        onehot = torch.cat([onehot, torch.zeros_like(onehot[:, :1])], dim=1)
        buf = cache.hidden[sample]  # (r, N + 1, d_h), a copy: cached states of the samples
        t0 = int(f[0]) + 1
        counts = torch.searchsorted(f, steps[t0:]).tolist()  # active rows: f < t
        for t, active in zip(range(t0, n), counts, strict=True):
            if active:
                buf[:active, t] = model.cell(buf[:active, prev[t]], onehot[:active, prev[t]])
        hidden = buf[:, :n]
        tail = steps.unsqueeze(0) >= f.unsqueeze(1)  # (r, N): the steps that can differ
        log_p = masked_log_softmax(model.amplitude_head(hidden), model.u1_masks(sp))
        delta = _gather(log_p, sp) - cache.log_p[sample]
        out[rows] = 0.5 * torch.where(tail, delta, 0.0).sum(1)
        if out_phi is not None:
            phases = model.step_phases(hidden)
            dphi = _gather(phases, sp) - cache.phase[sample]
            out_phi[rows] = torch.where(tail, dphi, 0.0).sum(1)
    if out_phi is None:
        return out
    return torch.complex(out, out_phi)
