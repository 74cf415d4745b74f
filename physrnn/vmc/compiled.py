"""Compile a netket operator on spin-1/2 sites into lookup tables of its local terms.

Any operator that is a sum of k-local terms ``H = c + sum_t M_t`` (``M_t`` a ``2^k x 2^k``
matrix acting on the sites ``a_1 .. a_k``) is read once into numpy tables, grouped by ``k``:

- ``sites (T, k)``: the sites of each term, ``a_1`` the most significant bit of the row index;
- ``diagonal (T, 2^k)``: ``M_t[r, r]``;
- ``columns (T, 2^k, P)`` / ``values (T, 2^k, P)``: the non-zero off-diagonal entries of each
  row, padded with value 0 to the largest count ``P`` of the group;
- ``new_bits (T, 2^k, P, k)``: the local indices that column ``c`` writes on the term's sites;
- ``first (T, 2^k, P)``: the smallest site whose local index changes (``N`` for padding).

For a configuration ``s`` the row of term ``t`` is ``r = sum_j s[a_j] 2^(k-1-j)``; every
non-zero ``M_t[r, c]`` (``c != r``) gives a connected configuration, ``s`` with the term's sites
set to the bits of ``c``. Local indices are netket's (``hilbert.states_to_local_indices``), so
no state values are involved.

Accepted operators: ``LocalOperator`` (numba or jax) and its subclasses (``GraphOperator``,
``Heisenberg``), everything with ``to_local_operator`` (``Ising``), ``PauliStrings``, and sums
and products of these (``SumOperator``, ``ProductOperator``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["TermGroup", "CompiledTerms", "local_terms", "compile_terms"]

_PAULI = {
    "I": np.eye(2, dtype=complex),
    "X": np.array([[0, 1], [1, 0]], dtype=complex),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=complex),
    "Z": np.array([[1, 0], [0, -1]], dtype=complex),
}


class UnsupportedOperatorError(TypeError):
    """The operator is not a sum of local terms that :func:`local_terms` can read."""


@dataclass(frozen=True)
class TermGroup:
    """Tables of the ``T`` terms that act on ``k`` sites (shapes in the module docstring)."""

    k: int
    sites: np.ndarray  # (T, k) int64
    diagonal: np.ndarray  # (T, 2^k) float64 or complex128
    columns: np.ndarray  # (T, 2^k, P) int64
    values: np.ndarray  # (T, 2^k, P) float64 or complex128, 0 = padding
    new_bits: np.ndarray  # (T, 2^k, P, k) int64
    first: np.ndarray  # (T, 2^k, P) int64, n_sites for padding

    @property
    def n_terms(self) -> int:
        return int(self.sites.shape[0])

    @property
    def max_off_diagonal(self) -> int:
        """``P``: the most non-zero off-diagonal entries of one row."""
        return int(self.columns.shape[2])

    @property
    def has_diagonal(self) -> bool:
        return bool(np.any(self.diagonal != 0))


@dataclass(frozen=True)
class CompiledTerms:
    """An operator as ``constant + sum`` of term groups (one per locality ``k``)."""

    n_sites: int
    constant: complex
    groups: tuple[TermGroup, ...]
    is_complex: bool

    @property
    def max_conn_size(self) -> int:
        """Diagonal plus the most off-diagonal elements one configuration can have."""
        return 1 + sum(g.n_terms * g.max_off_diagonal for g in self.groups)

    @property
    def max_locality(self) -> int:
        return max((g.k for g in self.groups), default=1)


def _dense(matrix: Any) -> np.ndarray:
    if hasattr(matrix, "toarray"):
        matrix = matrix.toarray()
    return np.asarray(matrix)


def _pauli_terms(operator: Any) -> tuple[list[tuple[tuple[int, ...], np.ndarray]], complex]:
    terms: list[tuple[tuple[int, ...], np.ndarray]] = []
    constant = 0j
    weights = np.asarray(operator.weights).reshape(-1)
    for string, weight in zip(operator.operators, weights, strict=True):
        string = "".join(str(c) for c in np.asarray(string).reshape(-1)) \
            if not isinstance(string, str) else string
        sites = tuple(i for i, c in enumerate(string) if c != "I")
        if not sites:
            constant += complex(weight)
            continue
        m = np.array([[1.0 + 0j]])
        for i in sites:
            m = np.kron(m, _PAULI[string[i]])
        terms.append((sites, complex(weight) * m))
    return terms, constant


def local_terms(operator: Any) -> tuple[list[tuple[tuple[int, ...], np.ndarray]], complex]:
    """Read a netket operator as ``(terms, constant)`` with ``terms = [(sites, matrix), ...]``.

    Raises:
        UnsupportedOperatorError: the operator is not built from local terms.
    """
    import netket as nk
    from netket.operator._local_operator.base import LocalOperatorBase
    from netket.operator._pauli_strings.base import PauliStringsBase

    if isinstance(operator, LocalOperatorBase):
        terms = [(tuple(int(i) for i in aon), _dense(m))
                 for m, aon in zip(operator.operators, operator.acting_on, strict=True)]
        return terms, complex(np.asarray(operator.constant))
    if isinstance(operator, PauliStringsBase):
        return _pauli_terms(operator)
    if isinstance(operator, nk.operator.SumOperator):
        terms, constant = [], 0j
        coefficients = np.broadcast_to(np.asarray(operator.coefficients),
                                       (len(operator.operators),))
        for op, coef in zip(operator.operators, coefficients, strict=True):
            t, c = local_terms(op)
            terms += [(sites, complex(coef) * m) for sites, m in t]
            constant += complex(coef) * c
        return terms, constant
    if isinstance(operator, nk.operator.ProductOperator):
        hilbert = operator.hilbert
        product = None
        for op in operator.operators:
            t, c = local_terms(op)
            local = nk.operator.LocalOperator(hilbert, [m for _, m in t], [s for s, _ in t],
                                              constant=c, dtype=complex)
            product = local if product is None else product @ local
        terms, constant = local_terms(product)
        coef = complex(np.asarray(operator.coefficient))
        return [(s, coef * m) for s, m in terms], coef * constant
    if hasattr(operator, "to_local_operator"):
        try:
            local = operator.to_local_operator()
        except Exception as exc:  # netket's own conversion failed (e.g. Ising with h = 0)
            raise UnsupportedOperatorError(
                f"{type(operator).__name__}.to_local_operator() failed: {exc}") from exc
        return local_terms(local)
    raise UnsupportedOperatorError(
        f"cannot read {type(operator).__name__} as a sum of local terms; supported: "
        "LocalOperator, GraphOperator, Ising, Heisenberg, PauliStrings and sums/products of them")


def _group_tables(k: int, items: list[tuple[tuple[int, ...], np.ndarray]], n_sites: int,
                  cutoff: float, dtype: type) -> TermGroup:
    dim = 2**k
    n_terms = len(items)
    sites = np.array([s for s, _ in items], dtype=np.int64).reshape(n_terms, k)
    mats = np.stack([m for _, m in items]).astype(dtype)  # (T, dim, dim)
    diagonal = np.ascontiguousarray(np.diagonal(mats, axis1=1, axis2=2))
    off = mats.copy()
    off[:, np.arange(dim), np.arange(dim)] = 0
    mask = np.abs(off) > cutoff
    p_max = int(mask.sum(-1).max()) if n_terms else 0
    columns = np.zeros((n_terms, dim, p_max), dtype=np.int64)
    values = np.zeros((n_terms, dim, p_max), dtype=dtype)
    for t, r in zip(*np.nonzero(mask.any(-1)), strict=True):
        cols = np.nonzero(mask[t, r])[0]
        columns[t, r, : len(cols)] = cols
        values[t, r, : len(cols)] = off[t, r, cols]
    shifts = np.arange(k - 1, -1, -1)
    new_bits = (columns[..., None] >> shifts) & 1  # (T, dim, P, k)
    row_bits = (np.arange(dim)[:, None] >> shifts) & 1  # (dim, k)
    changed = new_bits != row_bits[None, :, None, :]
    site_or_n = np.where(changed, sites[:, None, None, :], n_sites)
    first = site_or_n.min(-1) if k > 0 else np.full(columns.shape, n_sites)
    first = np.where(values != 0, first, n_sites)
    return TermGroup(k, sites, diagonal, columns, values, new_bits.astype(np.int64),
                     first.astype(np.int64))


def compile_terms(operator: Any, *, cutoff: float | None = None) -> CompiledTerms:
    """Compile a netket operator on spin-1/2 sites into :class:`CompiledTerms`.

    Terms acting on the same sites are summed first; off-diagonal elements with modulus
    ``<= cutoff`` (default: the operator's ``mel_cutoff``, else ``1e-12``) are dropped.

    Raises:
        UnsupportedOperatorError: see :func:`local_terms`.
        ValueError: a term with repeated or out-of-range sites, or a matrix of the wrong shape.
    """
    n_sites = int(operator.hilbert.size)
    if cutoff is None:
        cutoff = float(getattr(operator, "mel_cutoff", 1e-12) or 0.0)
    terms, constant = local_terms(operator)
    merged: dict[tuple[int, ...], np.ndarray] = {}
    for sites, m in terms:
        k = len(sites)
        if m.shape != (2**k, 2**k):
            raise ValueError(f"term on sites {sites} has a {m.shape} matrix, expected "
                             f"({2**k}, {2**k}): only spin-1/2 sites are supported")
        if len(set(sites)) != k or any(not 0 <= i < n_sites for i in sites):
            raise ValueError(f"term acts on invalid sites {sites} (N = {n_sites})")
        if k == 0:
            constant += complex(m.reshape(-1)[0])
            continue
        merged[sites] = merged[sites] + m if sites in merged else np.asarray(m, dtype=complex)
    is_complex = bool(np.iscomplexobj(constant) and constant.imag != 0) or any(
        np.any(np.abs(m.imag) > 0) for m in merged.values())
    dtype = np.complex128 if is_complex else np.float64
    by_k: dict[int, list[tuple[tuple[int, ...], np.ndarray]]] = {}
    for sites, m in merged.items():
        if not np.any(m):
            continue
        by_k.setdefault(len(sites), []).append((sites, m if is_complex else m.real))
    groups = tuple(_group_tables(k, items, n_sites, cutoff, dtype)
                   for k, items in sorted(by_k.items()))
    return CompiledTerms(n_sites, complex(constant), groups, is_complex)
