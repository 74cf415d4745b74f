"""Exact diagonalisation of netket operators on discrete Hilbert spaces.

The operator is turned into a scipy sparse matrix with ``operator.to_sparse()`` (rows and
columns ordered as ``operator.hilbert.all_states()``; for NetKet >= 3.16 spin Hilbert spaces,
local index 0 is spin up, ``local_states = [1, -1]``, and site 0 is the most significant digit).
The lowest eigenvalue comes from dense ``numpy.linalg.eigh`` when the space has at most
512 states, and from Lanczos (``scipy.sparse.linalg.eigsh(k=1, which="SA", tol=0)``) above that;
a complex Hermitian H = A + iB is handed to Lanczos as the real symmetric [[A, -B], [B, A]]
(same spectrum, each level twice), which ARPACK solves far faster than its complex driver.

Energies are in the operator's own units and conventions (NetKet's ``Ising`` and
``Heisenberg`` use Pauli matrices; see ``shared/REFERENCES.md``) and are totals, not per site.

netket is imported lazily, inside the functions, so that importing this module does not
pull in JAX.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

__all__ = ["exact_ground_state", "exact_ground_state_energy"]

#: Hilbert spaces up to this many states are diagonalised densely.
DENSE_MAX_STATES = 512

#: Relative tolerance on max |H - H^dagger| / max |H| before an operator counts as non-Hermitian.
_HERMITIAN_RTOL = 1e-10


def _hilbert_size(operator: Any, max_sites: int) -> int:
    """Number of basis states of ``operator.hilbert``; raise if it exceeds ``2**max_sites``."""
    from netket.hilbert import DiscreteHilbert

    if isinstance(max_sites, bool) or not isinstance(max_sites, int | np.integer) or max_sites < 1:
        raise ValueError(f"max_sites must be a positive integer, got {max_sites!r}")
    hilbert = getattr(operator, "hilbert", None)
    if not isinstance(hilbert, DiscreteHilbert):
        raise TypeError(
            "exact diagonalisation needs a netket operator on a discrete Hilbert space, got "
            f"{type(operator).__name__} with hilbert={hilbert!r}"
        )
    if not hasattr(operator, "to_sparse"):
        raise TypeError(f"{type(operator).__name__} has no to_sparse(); cannot diagonalise it")

    limit = 2 ** int(max_sites)
    # Product of local dimensions in Python ints (no overflow): an upper bound on the size.
    full = 1
    for d in hilbert.shape:
        full *= int(d)
    n_states = int(hilbert.n_states) if hilbert.is_indexable else None
    size = n_states if n_states is not None else full
    if size > limit:
        what = f"{size} states" if n_states is not None else f"too many states to index ({full})"
        n_sites = getattr(hilbert, "size", "?")
        raise ValueError(
            f"Hilbert space of {n_sites} sites has {what}, more than "
            f"2**max_sites = 2**{max_sites} = {limit}; exact diagonalisation would not fit. "
            "Use a closed form from physrnn.baselines.quantum.analytic (e.g. tfim_chain_energy, "
            "heisenberg_bethe_energy_per_site) or a reference value from REFERENCES.md, "
            "or raise max_sites if you really have the memory."
        )
    return size


def _hermitian_matrix(operator: Any) -> scipy.sparse.csr_matrix:
    """``operator.to_sparse()`` as CSR, after checking that it is Hermitian."""
    # copy=True: NetKet (JAX-backed) may hand out read-only index arrays.
    matrix = scipy.sparse.csr_matrix(operator.to_sparse(), copy=True)
    if matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"operator matrix is not square: shape {matrix.shape}")
    if matrix.nnz == 0:
        return matrix
    scale = float(abs(matrix).max())
    diff = matrix - matrix.conj().T
    asym = float(abs(diff).max()) if diff.nnz else 0.0
    if asym > _HERMITIAN_RTOL * scale:
        raise ValueError(
            f"operator {type(operator).__name__} is not Hermitian: max |H - H^dagger| = "
            f"{asym:.3g} (max |H| = {scale:.3g}); its ground-state energy is not defined"
        )
    return matrix


def _lowest(matrix: scipy.sparse.csr_matrix, *, vectors: bool) -> tuple[float, np.ndarray | None]:
    """Lowest eigenvalue (and eigenvector) of a Hermitian sparse matrix."""
    n = matrix.shape[0]
    if n <= DENSE_MAX_STATES:
        dense = matrix.toarray()
        dense = 0.5 * (dense + dense.conj().T)  # exactly Hermitian for LAPACK
        if vectors:
            w, v = np.linalg.eigh(dense)
            return float(w[0]), v[:, 0]
        return float(np.linalg.eigvalsh(dense)[0]), None
    complex_input = np.issubdtype(matrix.dtype, np.complexfloating)
    if complex_input:
        imag = matrix.imag.tocsr()
        imag.eliminate_zeros()
        if imag.nnz:
            # H = A + iB (A symmetric, B antisymmetric) <=> real symmetric [[A, -B], [B, A]],
            # whose eigenvectors (x, y) give H (x + iy) = E (x + iy). ARPACK's real symmetric
            # Lanczos on it is much faster than its complex (Arnoldi) driver.
            real = matrix.real.tocsr()
            embedded = scipy.sparse.bmat([[real, -imag], [imag, real]], format="csr")
            energy, xy = _lanczos_lowest(embedded)
            return energy, (xy[:n] + 1j * xy[n:] if vectors else None)
        matrix = matrix.real.tocsr()
    energy, v = _lanczos_lowest(matrix)
    if complex_input:
        v = v.astype(np.complex128)
    return energy, (v if vectors else None)


def _lanczos_lowest(matrix: scipy.sparse.csr_matrix) -> tuple[float, np.ndarray]:
    """Lowest eigenpair of a real symmetric sparse matrix by ARPACK Lanczos at full precision."""
    # Deterministic start vector (a fixed private stream; global random state is untouched).
    v0 = np.random.default_rng(0).standard_normal(matrix.shape[0])
    w, v = scipy.sparse.linalg.eigsh(
        matrix, k=1, which="SA", v0=v0, tol=0.0, return_eigenvectors=True
    )
    return float(w[0]), v[:, 0]


def exact_ground_state_energy(operator: Any, *, max_sites: int = 24) -> float:
    """Lowest eigenvalue of a Hermitian netket operator on a discrete Hilbert space.

    Args:
        operator: a netket ``DiscreteOperator`` (``Ising``, ``Heisenberg``, ``LocalOperator``,
            ...), in its own units and conventions (NetKet uses Pauli matrices).
        max_sites: refuse Hilbert spaces with more than ``2**max_sites`` states (constrained
            spaces, e.g. ``Spin(0.5, N, total_sz=0)``, count their allowed states only).

    Returns:
        The ground-state energy (total, not per site) as a Python float.

    Raises:
        ValueError: the Hilbert space is too large (the message gives its size) or the
            operator is not Hermitian.
        TypeError: not a netket operator on a discrete Hilbert space.
    """
    _hilbert_size(operator, max_sites)
    energy, _ = _lowest(_hermitian_matrix(operator), vectors=False)
    return energy


def exact_ground_state(operator: Any, *, max_sites: int = 24) -> tuple[float, np.ndarray]:
    """Ground-state energy and normalised ground-state vector of a netket operator.

    Args:
        operator: a netket ``DiscreteOperator`` on a discrete Hilbert space.
        max_sites: refuse Hilbert spaces with more than ``2**max_sites`` states.

    Returns:
        ``(energy, psi)``: the total energy as a Python float, and ``psi`` of shape
        ``(n_states,)`` with ``psi[i]`` the amplitude of ``operator.hilbert.all_states()[i]``;
        float64 for real operators, complex128 for complex ones. ``psi`` has unit 2-norm and
        its global phase is fixed so that its largest-magnitude entry (first one, on ties) is
        real and positive. With a degenerate ground state, ``psi`` is one vector of the
        ground space, not a canonical one.

    Raises:
        ValueError: the Hilbert space is too large, or the operator is not Hermitian.
        TypeError: not a netket operator on a discrete Hilbert space.
    """
    _hilbert_size(operator, max_sites)
    matrix = _hermitian_matrix(operator)
    energy, psi = _lowest(matrix, vectors=True)
    assert psi is not None
    if np.issubdtype(matrix.dtype, np.complexfloating):
        psi = np.asarray(psi, dtype=np.complex128)
    else:
        psi = np.asarray(np.real(psi), dtype=np.float64)
    psi = psi / np.linalg.norm(psi)
    pivot = psi[int(np.argmax(np.abs(psi)))]
    psi = psi * (np.abs(pivot) / pivot)  # global phase: largest entry real and positive
    return energy, psi
