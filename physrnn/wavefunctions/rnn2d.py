"""Recurrent wavefunction on 2D lattices and general graphs (Hibat-Allah et al., PRR 2, 023358).

The sites are visited in an autoregressive order (the snake order on ``Lx x Ly`` square lattices,
see :mod:`physrnn.wavefunctions.layout`); the recurrent state of each site is computed by a cell
(:mod:`physrnn.wavefunctions.cells2d`) from the states and one-hot spins of its earlier
neighbours, and a softmax head gives ``p(s_n | s_<n)`` over the site's two local states:

    psi(s) = prod_n p(s_n | s_<n)^(1/2) exp(i sum_n phi_n(s_n)).

Phases ``phi_n`` come from a learned softsign head (``phase=True``, for frustrated models), from
the fixed Marshall sign rule (``marshall_sign=True``, see :mod:`physrnn.wavefunctions.symmetry`),
or both (summed). With ``magnetisation=M`` the conditionals are masked so that only
configurations with ``n_up - n_down = M`` have weight, and ``psi`` stays exactly normalised in
that sector (U(1) symmetry, exact sampling).

**Site order of inputs and outputs.** Configurations ``s`` are in netket's site numbering
(``nk.graph.Grid([Lx, Ly])``: site ``x * Ly + y``), shape ``(batch, N)``, local indices
``0``/``1`` (``0`` is spin up for ``nk.hilbert.Spin(1/2)``). The model permutes them into its
order internally: ``s[:, model.order]`` is the sequence it generates, and
``log_conditionals(s)[0][:, i]`` is the conditional of site ``i`` given the sites visited before
it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from physrnn.wavefunctions.base import AutoregressiveWavefunction
from physrnn.wavefunctions.cells2d import CELLS_2D, make_cell
from physrnn.wavefunctions.layout import Layout, layout_from_graph, square_layout
from physrnn.wavefunctions.prefix2d import (
    PrefixCache2D,
    build_cache,
    cache_from_states,
    default_block_rows,
    log_psi_ratios_2d,
)
from physrnn.wavefunctions.symmetry import (
    marshall_phase_table,
    masked_log_softmax,
    n_up_for_magnetisation,
    u1_allowed,
)

__all__ = ["RNNWavefunction2D"]


class RNNWavefunction2D(AutoregressiveWavefunction):
    """Autoregressive recurrent wavefunction on an ``Lx x Ly`` lattice or any graph.

    Args:
        Lx, Ly: lattice extents (``N = Lx Ly`` sites, netket ``Grid([Lx, Ly])`` numbering);
            leave both ``None`` when giving ``layout`` (or use :meth:`from_graph`).
        layout: a :class:`~physrnn.wavefunctions.layout.Layout` (order and previous-neighbour
            table) instead of ``Lx, Ly``.
        hidden_size: recurrent state size ``d_h``.
        cell: ``"gru"`` (default), ``"rnn"`` (tanh) or ``"tensor_gru"`` (tensorised gated cell of
            arXiv 2207.14314); see :mod:`physrnn.wavefunctions.cells2d`.
        boundary: ``"open"`` or ``"periodic"`` (``Lx, Ly`` only): periodic adds the neighbours
            across the boundary visited earlier as two more input slots.
        phase: add a learned phase head (complex wavefunction).
        marshall_sign: add the fixed Marshall phase ``pi n_down(B)`` (bipartite lattices only).
        magnetisation: ``None`` (no constraint) or ``M = n_up - n_down = 2 S^z_tot``; then only
            that sector has weight and ``log_psi = -inf`` outside it.
        up_index: local index of spin up (``0`` for netket ``Spin(1/2)``; see
            :func:`~physrnn.wavefunctions.symmetry.up_local_index`).
        dtype: parameter dtype, ``torch.float32`` or ``torch.float64``.
        seed: seed of the parameter initialisation; the global torch RNG is left untouched.

    Attributes:
        order: ``(N,)`` long buffer, the site visited at each step.
        step_of_site: ``(N,)`` long buffer, its inverse.
    """

    def __init__(
        self,
        Lx: int | None = None,
        Ly: int | None = None,
        *,
        layout: Layout | None = None,
        hidden_size: int = 32,
        cell: str = "gru",
        boundary: str = "open",
        phase: bool = False,
        marshall_sign: bool = False,
        magnetisation: int | None = None,
        up_index: int = 0,
        dtype: torch.dtype = torch.float32,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if layout is None:
            if Lx is None or Ly is None:
                raise ValueError("give the lattice extents Lx and Ly, or a layout")
            for name, v in (("Lx", Lx), ("Ly", Ly)):
                if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                    raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
            layout = square_layout(Lx, Ly, boundary=boundary)
        elif Lx is not None or Ly is not None:
            raise ValueError("give either Lx and Ly or a layout, not both")
        if hidden_size < 1:
            raise ValueError(f"hidden_size must be >= 1, got {hidden_size}")
        if cell not in CELLS_2D:
            raise ValueError(f"unknown cell {cell!r}; choose one of {sorted(CELLS_2D)}")
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        if up_index not in (0, 1):
            raise ValueError(f"up_index must be 0 or 1, got {up_index!r}")
        self.Lx, self.Ly = Lx, Ly
        self.boundary = boundary if Lx is not None else None
        self.layout = layout
        self.n_sites = layout.n_sites
        self.n_slots = layout.n_slots
        self.hidden_size = int(hidden_size)
        self.cell_name = cell
        self.has_phase = bool(phase)
        self.marshall_sign = bool(marshall_sign)
        self.up_index = int(up_index)
        self.magnetisation = None if magnetisation is None else int(magnetisation)
        self.n_up = (None if magnetisation is None
                     else n_up_for_magnetisation(self.n_sites, magnetisation))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.cell = make_cell(cell, self.n_slots, self.hidden_size, self.local_size)
            self.amplitude_head = nn.Linear(self.hidden_size, self.local_size)
            self.phase_head = nn.Linear(self.hidden_size, self.local_size) if phase else None
        n = self.n_sites
        prev = torch.as_tensor(layout.previous, dtype=torch.long)
        self._prev_list: list[list[int]] = prev.tolist()
        self.register_buffer("order", torch.as_tensor(layout.order, dtype=torch.long),
                             persistent=False)
        self.register_buffer("step_of_site", torch.as_tensor(layout.step_of_site,
                                                             dtype=torch.long), persistent=False)
        self.register_buffer("_prev_padded", torch.where(prev < 0, n, prev), persistent=False)
        table = (marshall_phase_table(layout.sublattice, layout.order, self.up_index)
                 if marshall_sign else torch.zeros(n, self.local_size))
        self.register_buffer("_fixed_phase", table, persistent=False)
        self.to(dtype)

    @classmethod
    def from_graph(
        cls, graph: Any, *, ordering: str | Any = "auto", **kwargs: Any
    ) -> RNNWavefunction2D:
        """A model on any netket graph: ``ordering`` as in
        :func:`~physrnn.wavefunctions.layout.layout_from_graph` (snake for lattices with
        coordinates), the other keywords as in the constructor."""
        if "boundary" in kwargs:
            raise ValueError("boundary is set by the graph; do not pass it to from_graph")
        return cls(layout=layout_from_graph(graph, ordering=ordering), **kwargs)

    @property
    def previous_slots(self) -> torch.Tensor:
        """``(N, K)`` long: for each step (model order) the steps feeding its ``K`` input slots,
        ``N`` for an empty slot (the zero row appended to a ``(B, N + 1, ...)`` buffer)."""
        return self._prev_padded

    @property
    def is_complex(self) -> bool:
        return self.has_phase or self.marshall_sign

    def extra_repr(self) -> str:
        where = (f"Lx={self.Lx}, Ly={self.Ly}, boundary={self.boundary!r}" if self.Lx is not None
                 else f"n_sites={self.n_sites}")
        return (f"{where}, slots={list(self.layout.slot_names)}, hidden_size={self.hidden_size},"
                f" cell={self.cell_name!r}, phase={self.has_phase}, "
                f"marshall_sign={self.marshall_sign}, magnetisation={self.magnetisation}")

    # ------------------------------------------------------------------ evaluation
    def _check_shape(self, s: torch.Tensor) -> None:
        if s.ndim != 2 or s.shape[1] != self.n_sites:
            raise ValueError(f"expected configurations of shape (batch, {self.n_sites}), "
                             f"got {tuple(s.shape)}")

    def _neighbour_states(self, states: list[torch.Tensor], k: int,
                          zero: torch.Tensor) -> torch.Tensor:
        """``(B, K, d_h)`` states of the earlier neighbours of step ``k`` (zeros for pads)."""
        return torch.stack([states[j] if j >= 0 else zero for j in self._prev_list[k]], dim=1)

    def step_phases(self, hidden: torch.Tensor) -> torch.Tensor | None:
        """``(B, N, 2)`` phases (radians) in step order, or ``None`` for a positive model."""
        if not self.is_complex:
            return None
        fixed = self._fixed_phase.to(hidden.dtype).expand(hidden.shape[0], -1, -1)
        if self.phase_head is None:
            return fixed
        return self.phase_from_logits(self.phase_head(hidden)) + fixed

    def u1_masks(self, s_steps: torch.Tensor) -> torch.Tensor | None:
        """``(B, N, 2)`` U(1) masks of teacher-forced configurations in step order."""
        if self.n_up is None:
            return None
        up = (s_steps == self.up_index).long()
        before = torch.cumsum(up, dim=1) - up
        left = self.n_sites - torch.arange(self.n_sites, device=s_steps.device)
        return u1_allowed(before, left, self.n_up, self.up_index)

    def log_conditionals(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher-forced conditionals in **site** order (module doc).

        Args:
            s: ``(batch, N)`` long, local indices in netket's site order.

        Returns:
            ``log_p (batch, N, 2)`` (``-inf`` for states the U(1) constraint forbids) and the
            phases ``(batch, N, 2)`` in radians or ``None``.
        """
        self._check_shape(s)
        s_steps = s[:, self.order]
        hidden = self.hidden_states(s_steps)
        log_p = masked_log_softmax(self.amplitude_head(hidden), self.u1_masks(s_steps))
        phase = self.step_phases(hidden)
        back = self.step_of_site
        return log_p[:, back], None if phase is None else phase[:, back]

    def hidden_states(self, s_steps: torch.Tensor) -> torch.Tensor:
        """Teacher-forced hidden states ``(B, N, d_h)`` of configurations in **step** order."""
        b, n = s_steps.shape
        levels = torch.arange(self.local_size, device=s_steps.device)
        onehot = (s_steps.unsqueeze(-1) == levels).to(self.dtype)  # out of place: vmap-able
        onehot = torch.cat([onehot, torch.zeros_like(onehot[:, :1])], dim=1)  # empty slot
        x_nb = onehot[:, self._prev_padded]  # (B, N, K, 2)
        zero = torch.zeros(b, self.hidden_size, dtype=self.dtype, device=s_steps.device)
        states: list[torch.Tensor] = []
        for k in range(n):
            states.append(self.cell(self._neighbour_states(states, k, zero), x_nb[:, k]))
        return torch.stack(states, dim=1)

    # ------------------------------------------------------------------ prefix reuse
    @property
    def supports_prefix(self) -> bool:
        return True

    def cache_nbytes_per_sample(self) -> int:
        return PrefixCache2D.nbytes_per_sample(self.n_sites, self.hidden_size,
                                               self.dtype.itemsize, self.is_complex)

    @torch.no_grad()
    def prefix_cache(self, s: torch.Tensor) -> PrefixCache2D:
        """Every step's hidden state and conditional of ``s`` (``(B, N)``, site order)."""
        self._check_shape(s)
        return build_cache(self, s)

    @torch.no_grad()
    def sample_with_cache(
        self, n_samples: int, *, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, PrefixCache2D]:
        """:meth:`sample` and the :meth:`prefix_cache` of the samples, from the same pass."""
        s_steps, states, log_p = self._sample_steps(n_samples, generator, keep=True)
        cache = cache_from_states(self, s_steps, torch.stack(states, dim=1),
                                  torch.stack(log_p, dim=1))
        return s_steps[:, self.step_of_site], cache

    @torch.no_grad()
    def log_psi_ratios(
        self,
        s: torch.Tensor,
        elements: Any,
        *,
        cache: PrefixCache2D | None = None,
        log_psi_s: torch.Tensor | None = None,
        chunk_size: int | None = None,
    ) -> torch.Tensor:
        """``log psi(s') - log psi(s)`` of compact connected elements, reusing prefixes.

        Args:
            s: ``(B, N)`` configurations.
            elements: their :class:`physrnn.vmc.operators.ConnectedElements` (``M`` rows).
            cache: :meth:`prefix_cache` of ``s`` (computed here if ``None``).
            log_psi_s: unused (the ratio is a sum of per-step differences).
            chunk_size: most connected configurations evaluated together (default: a state
                buffer of :data:`~physrnn.wavefunctions.prefix2d.CPU_BLOCK_BYTES`).

        Returns:
            ``(M,)`` float64 (complex128 for complex models); see
            :mod:`physrnn.wavefunctions.prefix2d`.
        """
        self._check_shape(s)
        if cache is None:
            cache = build_cache(self, s)
        rows = default_block_rows(s.device, self.n_sites, self.hidden_size, self.dtype.itemsize)
        if chunk_size is not None:
            rows = max(1, min(rows, int(chunk_size)))
        return log_psi_ratios_2d(self, s, cache, elements, block_rows=rows)

    @torch.no_grad()
    def sample(self, n_samples: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Exact samples of ``|psi|^2``, one site at a time in the model's order.

        Cost ``O(n_samples N K d_h^2)``; the uniforms ``(n_samples, N)`` (float64) come from
        ``generator``, so the global RNG is untouched. With a magnetisation every sample is in
        the sector.

        Returns:
            ``(n_samples, N)`` long tensor of local indices in netket's site order.
        """
        s_steps, _, _ = self._sample_steps(n_samples, generator, keep=False)
        return s_steps[:, self.step_of_site]

    def _sample_steps(
        self, n_samples: int, generator: torch.Generator | None, *, keep: bool
    ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Samples in **step** order ``(n_samples, N)``; with ``keep``, also every step's hidden
        state ``(n_samples, d_h)`` and the sampled value's ``log p`` ``(n_samples,)``."""
        if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
            raise ValueError(f"n_samples must be an integer >= 1, got {n_samples!r}")
        n, dev = self.n_sites, self.device
        uniforms = torch.rand(n_samples, n, generator=generator, dtype=torch.float64, device=dev)
        s_steps = torch.zeros(n_samples, n, dtype=torch.long, device=dev)
        onehot = torch.zeros(n_samples, n + 1, self.local_size, dtype=self.dtype, device=dev)
        zero = torch.zeros(n_samples, self.hidden_size, dtype=self.dtype, device=dev)
        n_up_before = torch.zeros(n_samples, dtype=torch.long, device=dev)
        rows = torch.arange(n_samples, device=dev)
        states: list[torch.Tensor] = []
        chosen: list[torch.Tensor] = []
        for k in range(n):
            h = self.cell(self._neighbour_states(states, k, zero), onehot[:, self._prev_padded[k]])
            states.append(h)
            allowed = None
            if self.n_up is not None:
                allowed = u1_allowed(n_up_before, n - k, self.n_up, self.up_index)
            log_p = masked_log_softmax(self.amplitude_head(h), allowed)
            v = (uniforms[:, k] < log_p[:, 1].double().exp()).long()
            s_steps[:, k] = v
            onehot[rows, k, v] = 1.0
            n_up_before += (v == self.up_index).long()
            if keep:
                chosen.append(log_p.gather(1, v.unsqueeze(1)).squeeze(1))
        return s_steps, states, chosen
