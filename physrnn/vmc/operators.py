"""Connected elements of netket operators, as torch tensors on the wavefunction's device.

For a configuration ``s`` the operator ``H`` has a few non-zero elements ``H[s, s'_k]``.
:class:`ConnectedOperator` compiles the operator once into tables of its local terms
(:mod:`physrnn.vmc.compiled`) and generates the elements with torch gathers, in batches, on the
device of ``s``: no netket call, no JAX/numpy round trip per step. Two forms:

- :meth:`ConnectedOperator.elements` (compact, what the local energies use): the diagonal
  ``H[s, s]`` of every sample, computed without copying ``s``, and one row per non-zero
  off-diagonal element: sample index, the sites the element rewrites and their new local
  indices, the first site where ``s'`` differs from ``s``, and ``H[s, s']``. Memory
  ``O(batch * K * k)`` for ``K`` connected elements of locality ``k``, never ``O(batch K N)``.
- :meth:`ConnectedOperator.connected`: netket's padded layout, ``(batch, K, N)`` configurations
  and ``(batch, K)`` elements (diagonal first; padding repeats ``s`` with element 0).

Operators that are not sums of local terms fall back to netket's ``get_conn_padded``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from physrnn.spins.chains import check_spin_half
from physrnn.vmc.compiled import CompiledTerms, UnsupportedOperatorError, compile_terms

__all__ = ["ConnectedOperator", "ConnectedElements"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectedElements:
    """Compact connected elements of a batch of ``B`` configurations (``M`` off-diagonal rows).

    Attributes:
        diagonal: ``(B,)`` ``H[s, s]`` (float64, or complex128 for complex operators).
        sample: ``(M,)`` long, the configuration each row belongs to.
        sites: ``(M, k)`` long, sites rewritten by the row (unchanged ones may be included).
        values: ``(M, k)`` long, the local indices written there.
        first: ``(M,)`` long, the smallest site where ``s'`` differs from ``s``.
        mels: ``(M,)`` ``H[s, s']``, same dtype as ``diagonal``.
    """

    diagonal: torch.Tensor
    sample: torch.Tensor
    sites: torch.Tensor
    values: torch.Tensor
    first: torch.Tensor
    mels: torch.Tensor

    def __len__(self) -> int:
        return int(self.sample.shape[0])

    def materialise(self, s: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """The connected configurations ``s'`` of ``rows`` (all rows if ``None``), ``(m, N)``."""
        sample, sites, values = self.sample, self.sites, self.values
        if rows is not None:
            sample, sites, values = sample[rows], sites[rows], values[rows]
        out = s.index_select(0, sample)
        return out.scatter_(1, sites, values.to(out.dtype))

    def first_values(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        """``s'[first]`` of each row, ``(m,)`` long."""
        sites, values, first = self.sites, self.values, self.first
        if rows is not None:
            sites, values, first = sites[rows], values[rows], first[rows]
        col = (sites == first.unsqueeze(-1)).to(torch.int8).argmax(-1, keepdim=True)
        return values.gather(1, col).squeeze(1)


@dataclass(frozen=True)
class _DeviceGroup:
    k: int
    n_terms: int
    p: int
    sites: torch.Tensor  # (T, k)
    offsets: torch.Tensor  # (T,) t * 2^k
    pow2: torch.Tensor  # (k,)
    diagonal: torch.Tensor | None  # (T * 2^k,)
    values: torch.Tensor  # (T * 2^k, P)
    new_bits: torch.Tensor  # (T * 2^k, P, k)
    first: torch.Tensor  # (T * 2^k, P)


class ConnectedOperator:
    """A netket operator on spin-1/2 sites, compiled for use with physrnn wavefunctions.

    Args:
        operator: any netket operator whose hilbert space has two local states per site and no
            constraint (``Spin(1/2)``, ``Qubit``); checked here with a clear error otherwise.
        compile: compile the local terms into torch tables (default); ``False`` always uses
            netket's ``get_conn_padded`` (the reference path).

    Attributes:
        n_sites: ``N``. is_complex: whether elements are complex (the operator's dtype).
        compiled: whether the torch path is in use. max_conn_size: ``K`` of :meth:`connected`.
    """

    def __init__(self, operator, *, compile: bool = True) -> None:
        check_spin_half(operator.hilbert)
        self.operator = operator
        self.hilbert = operator.hilbert
        self.n_sites = int(self.hilbert.size)
        self.local_states = np.asarray(self.hilbert.local_states)
        dtype = np.result_type(getattr(operator, "dtype", np.float64))
        self.terms: CompiledTerms | None = None
        if compile:
            try:
                self.terms = compile_terms(operator)
            except UnsupportedOperatorError as exc:
                log.info("using netket's get_conn_padded: %s", exc)
        compiled_complex = self.terms.is_complex if self.terms is not None else False
        self.is_complex = bool(np.issubdtype(dtype, np.complexfloating)) or compiled_complex
        self._mel_dtype = torch.complex128 if self.is_complex else torch.float64
        self._tables: dict[str, list[_DeviceGroup]] = {}

    @property
    def compiled(self) -> bool:
        return self.terms is not None

    @property
    def max_conn_size(self) -> int:
        if self.terms is not None:
            return self.terms.max_conn_size
        return int(self.operator.max_conn_size)

    @property
    def max_locality(self) -> int:
        """Largest number of sites one off-diagonal row rewrites (``N`` for the netket path)."""
        return self.terms.max_locality if self.terms is not None else self.n_sites

    def __repr__(self) -> str:
        how = "compiled" if self.compiled else "netket get_conn_padded"
        return (f"ConnectedOperator({type(self.operator).__name__}, N={self.n_sites}, "
                f"K={self.max_conn_size}, {how})")

    # ------------------------------------------------------------------ conversions
    def indices_to_states(self, s: torch.Tensor) -> np.ndarray:
        """Local indices ``(..., N)`` -> netket state values ``(..., N)`` (int8 when integral)."""
        values = self.local_states[s.detach().cpu().numpy()]
        if np.all(np.equal(np.mod(self.local_states, 1), 0)):
            return values.astype(np.int8)
        return values.astype(np.float32)

    def states_to_indices(self, x: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
        """netket state values ``(..., N)`` -> long tensor of local indices on ``device``."""
        idx = np.array(self.hilbert.states_to_local_indices(np.asarray(x)))
        return torch.as_tensor(idx, dtype=torch.long, device=device)

    # ------------------------------------------------------------------ compiled tables
    def _device_tables(self, device: torch.device) -> list[_DeviceGroup]:
        key = str(device)
        if key not in self._tables:
            assert self.terms is not None
            groups = []
            mel = self._mel_dtype
            for g in self.terms.groups:
                dim = 2**g.k

                def t(a, dtype=torch.long):
                    return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)

                groups.append(_DeviceGroup(
                    k=g.k, n_terms=g.n_terms, p=g.max_off_diagonal,
                    sites=t(g.sites),
                    offsets=torch.arange(g.n_terms, device=device) * dim,
                    pow2=t(2 ** np.arange(g.k - 1, -1, -1)),
                    diagonal=t(g.diagonal.reshape(-1), mel) if g.has_diagonal else None,
                    values=t(g.values.reshape(g.n_terms * dim, -1), mel),
                    new_bits=t(g.new_bits.reshape(g.n_terms * dim, g.max_off_diagonal, g.k)),
                    first=t(g.first.reshape(g.n_terms * dim, -1)),
                ))
            self._tables[key] = groups
        return self._tables[key]

    def _check(self, s: torch.Tensor) -> None:
        if s.ndim != 2 or s.shape[1] != self.n_sites:
            raise ValueError(f"expected configurations of shape (batch, {self.n_sites}), "
                             f"got {tuple(s.shape)}")

    def diagonal(self, s: torch.Tensor) -> torch.Tensor:
        """``H[s, s]`` of a batch, ``(batch,)``, without copying ``s``."""
        return self.elements(s, off_diagonal=False).diagonal

    def elements(self, s: torch.Tensor, *, off_diagonal: bool = True) -> ConnectedElements:
        """Compact connected elements of ``s`` (``(batch, N)`` local indices), on ``s.device``.

        Rows are ordered by term group, then sample, then term; see :class:`ConnectedElements`.
        """
        self._check(s)
        if self.terms is None:
            return self._elements_netket(s)
        device, batch = s.device, s.shape[0]
        diag = torch.full((batch,), self.terms.constant if self.is_complex
                          else self.terms.constant.real, dtype=self._mel_dtype, device=device)
        k_max = self.terms.max_locality
        parts: list[tuple[torch.Tensor, ...]] = []
        for g in self._device_tables(device):
            if g.diagonal is None and (g.p == 0 or not off_diagonal):
                continue
            rows = (s[:, g.sites] * g.pow2).sum(-1) + g.offsets  # (B, T)
            if g.diagonal is not None:
                diag += g.diagonal[rows].sum(-1)
            if g.p == 0 or not off_diagonal:
                continue
            vals = g.values[rows]  # (B, T, P)
            b, t, p = torch.nonzero(vals, as_tuple=True)
            flat = rows[b, t]
            sites = g.sites[t]
            bits = g.new_bits[flat, p]
            if g.k < k_max:
                pad = k_max - g.k
                sites = torch.cat([sites, sites[:, :1].expand(-1, pad)], 1)
                bits = torch.cat([bits, bits[:, :1].expand(-1, pad)], 1)
            parts.append((b, sites, bits, g.first[flat, p], vals[b, t, p]))
        if not parts:
            empty = torch.empty(0, dtype=torch.long, device=device)
            return ConnectedElements(diag, empty, empty.view(0, k_max), empty.view(0, k_max),
                                     empty, torch.empty(0, dtype=self._mel_dtype, device=device))
        cols = [torch.cat(c) for c in zip(*parts, strict=True)]
        return ConnectedElements(diag, *cols)

    def _elements_netket(self, s: torch.Tensor) -> ConnectedElements:
        s_conn, mels = self.connected_netket(s)
        batch, k, n = s_conn.shape
        differs = s_conn != s.unsqueeze(1)  # (B, K, N)
        is_diag = ~differs.any(-1)
        diag = (mels * is_diag).sum(-1)
        b, j = torch.nonzero(~is_diag & (mels != 0), as_tuple=True)
        first = differs[b, j].to(torch.int8).argmax(-1)
        sites = torch.arange(n, device=s.device).expand(len(b), n)
        return ConnectedElements(diag, b, sites, s_conn[b, j], first, mels[b, j])

    # ------------------------------------------------------------------ padded layout
    def connected(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Connected configurations and matrix elements of a batch, netket's padded layout.

        Args:
            s: ``(batch, N)`` local indices.

        Returns:
            ``(s_conn, mels)``: ``(batch, K, N)`` long local indices on ``s.device`` and
            ``(batch, K)`` float64 (complex128 for complex operators) matrix elements
            ``H[s, s_conn]``; ``s_conn[:, 0] = s`` carries the diagonal; padded entries repeat
            ``s`` with element 0. ``K = max_conn_size``.
        """
        self._check(s)
        if self.terms is None:
            return self.connected_netket(s)
        el = self.elements(s)
        batch, n = s.shape
        k = self.max_conn_size
        s_conn = s.unsqueeze(1).expand(batch, k, n).clone()
        mels = torch.zeros(batch, k, dtype=self._mel_dtype, device=s.device)
        mels[:, 0] = el.diagonal
        if len(el):
            order = torch.sort(el.sample, stable=True).indices
            sample = el.sample[order]
            counts = torch.bincount(sample, minlength=batch)
            starts = torch.cumsum(counts, 0) - counts
            pos = torch.arange(len(el), device=s.device) - starts[sample] + 1
            s_conn[sample, pos] = el.materialise(s, order)
            mels[sample, pos] = el.mels[order]
        return s_conn, mels

    def connected_netket(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """As :meth:`connected`, through netket's ``get_conn_padded`` (reference path; host)."""
        xp, mels = self.operator.get_conn_padded(self.indices_to_states(s))
        s_conn = self.states_to_indices(xp, device=s.device)
        mels_np = np.array(mels)
        if not self.is_complex:
            mels_np = mels_np.real
        return s_conn, torch.as_tensor(mels_np, dtype=self._mel_dtype, device=s.device)
