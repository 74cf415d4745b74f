"""Tests for physrnn.baselines.quantum.analytic and physrnn.baselines.quantum.exact.

Every expected value comes from somewhere other than the code under test: exact
diagonalisation done here (dense numpy Kronecker products of Pauli matrices, or netket's own
matrices diagonalised with numpy), the numbers in shared/REFERENCES.md, or an independent
closed form (complete elliptic integral for the infinite TFIM chain).

Conventions (shared/REFERENCES.md): TFIM H = -J sum sz sz - h sum sx with Pauli matrices;
NetKet's Ising(h, J) is -h sum sx + J sum sz sz, so our (J, h) is NetKet's Ising(h=h, J=-J).
Heisenberg H = J sum S.S with S = sigma/2; NetKet's Heisenberg uses Pauli matrices, so
J_netket = J / 4.
"""

from __future__ import annotations

import math
import subprocess
import sys
from functools import reduce

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg
import scipy.special

from physrnn.baselines.quantum.analytic import (
    heisenberg_bethe_energy_per_site,
    tfim_chain_energy,
    tfim_infinite_chain_energy_per_site,
)
from physrnn.baselines.quantum.exact import exact_ground_state, exact_ground_state_energy

nk = pytest.importorskip("netket")

# ---------------------------------------------------------------------------------------------
# Independent reference builders (numpy / scipy only; site 0 is the leftmost Kronecker factor,
# basis state index 0 is spin up = sz eigenvalue +1, which is also NetKet's ordering).
# ---------------------------------------------------------------------------------------------

SX = np.array([[0.0, 1.0], [1.0, 0.0]])
SY = np.array([[0.0, -1.0j], [1.0j, 0.0]])
SZ = np.array([[1.0, 0.0], [0.0, -1.0]])


def _site(op: np.ndarray, i: int, n: int) -> scipy.sparse.csr_matrix:
    """``op`` acting on site ``i`` of ``n`` spins-1/2, identity elsewhere (sparse)."""
    factors = [scipy.sparse.identity(2, format="csr")] * n
    factors[i] = scipy.sparse.csr_matrix(op)
    return reduce(lambda a, b: scipy.sparse.kron(a, b, format="csr"), factors)


def _bonds(n: int, pbc: bool) -> list[tuple[int, int]]:
    """Nearest-neighbour bonds of a chain; periodic adds (n-1, 0) (so N=2 has the bond twice)."""
    bonds = [(i, i + 1) for i in range(n - 1)]
    if pbc:
        bonds.append((n - 1, 0))
    return bonds


def dense_tfim(n: int, h: float, J: float, pbc: bool) -> np.ndarray:
    """Dense H = -J sum_<ij> sz_i sz_j - h sum_i sx_i (Pauli matrices)."""
    H = scipy.sparse.csr_matrix((2**n, 2**n))
    for i, j in _bonds(n, pbc):
        H = H - J * (_site(SZ, i, n) @ _site(SZ, j, n))
    for i in range(n):
        H = H - h * _site(SX, i, n)
    return H.toarray()


def dense_heisenberg(n: int, J: float, pbc: bool) -> np.ndarray:
    """Dense H = J sum_<ij> S_i . S_j with S = sigma / 2 (real matrix)."""
    H = scipy.sparse.csr_matrix((2**n, 2**n), dtype=complex)
    for i, j in _bonds(n, pbc):
        for s in (SX, SY, SZ):
            H = H + (J / 4.0) * (_site(s, i, n) @ _site(s, j, n))
    H = H.toarray()
    assert np.abs(H.imag).max() == 0.0
    return H.real


# Dense LAPACK up to this size; above it, Lanczos. (A dense 1024 x 1024 eigvalsh takes 0.1 s on
# an idle 2-core machine but ~10 s when other processes load both cores: OpenBLAS threads stall.)
_DENSE_LIMIT = 256


def lowest_pair(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two lowest eigenvalues (ascending) and the lowest eigenvector of a Hermitian matrix."""
    if matrix.shape[0] <= _DENSE_LIMIT:
        w, v = np.linalg.eigh(matrix)
        return w[:2], v[:, 0]
    v0 = np.random.default_rng(1234).standard_normal(matrix.shape[0]).astype(matrix.dtype)
    w, v = scipy.sparse.linalg.eigsh(
        scipy.sparse.csr_matrix(matrix), k=2, which="SA", v0=v0, tol=0.0
    )
    order = np.argsort(w)
    return w[order], v[:, order[0]]


def lowest(matrix: np.ndarray) -> float:
    return float(lowest_pair(matrix)[0][0])


def netket_ising(n: int, h: float, J: float, pbc: bool):
    """NetKet operator for our TFIM (J, h): NetKet's Ising(h=h, J=-J)."""
    hi = nk.hilbert.Spin(0.5, n)
    return nk.operator.Ising(hi, nk.graph.Chain(n, pbc=pbc), h=h, J=-J)


def netket_heisenberg(n: int, J: float, pbc: bool, **hilbert_kwargs):
    """NetKet operator for H = J sum S.S (S units): NetKet's Heisenberg(J=J/4), Pauli."""
    hi = nk.hilbert.Spin(0.5, n, **hilbert_kwargs)
    return nk.operator.Heisenberg(hi, nk.graph.Chain(n, pbc=pbc), J=J / 4.0)


BOUNDARIES = [("open", False), ("periodic", True)]

# ---------------------------------------------------------------------------------------------
# TFIM chain closed forms
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("h", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("boundary, pbc", BOUNDARIES)
@pytest.mark.parametrize("n", [8, 10])
def test_tfim_closed_form_equals_netket_ed(n, boundary, pbc, h):
    H = netket_ising(n, h, 1.0, pbc).to_sparse().toarray()
    assert tfim_chain_energy(n, h=h, J=1.0, boundary=boundary) == pytest.approx(
        lowest(H), abs=1e-10, rel=0
    )


@pytest.mark.parametrize("h, J", [(0.5, 1.0), (-0.7, 1.0), (1.0, -1.3), (-0.4, -0.6)])
@pytest.mark.parametrize("pbc", [False, True])
def test_netket_ising_matrix_is_our_convention(h, J, pbc):
    """Pins NetKet's sign convention and basis ordering against our own Kronecker build."""
    n = 6
    ours = dense_tfim(n, h, J, pbc)
    theirs = netket_ising(n, h, J, pbc).to_sparse().toarray()
    np.testing.assert_allclose(theirs, ours, atol=1e-14, rtol=0)


@pytest.mark.parametrize(
    "n, boundary, pbc",
    [(6, "open", False), (6, "periodic", True), (2, "open", False), (2, "periodic", True),
     (3, "open", False), (4, "periodic", True)],
)
@pytest.mark.parametrize("h", [0.5, 1.0, 2.0])
def test_tfim_closed_form_equals_kronecker_ed(n, boundary, pbc, h):
    """Independent of netket. Periodic N=2 means the bond (0,1) counted twice."""
    e_ed = lowest(dense_tfim(n, h, 1.0, pbc))
    assert tfim_chain_energy(n, h=h, boundary=boundary) == pytest.approx(e_ed, abs=1e-10, rel=0)


@pytest.mark.parametrize(
    "J, h",
    [(1.0, -0.7), (-1.0, 0.7), (-1.3, -0.4), (0.6, 1.1), (-0.6, 1.1), (-2.0, 0.3), (0.8, -3.0)],
)
@pytest.mark.parametrize("n, boundary, pbc", [(8, "open", False), (8, "periodic", True),
                                              (7, "open", False), (5, "open", False)])
def test_tfim_sign_of_J_and_h_does_not_matter(J, h, n, boundary, pbc):
    """The closed form uses |J| and |h|: check the claim against ED with the signs kept."""
    e_ed = lowest(dense_tfim(n, h, J, pbc))
    e = tfim_chain_energy(n, h=h, J=J, boundary=boundary)
    assert e == pytest.approx(e_ed, abs=1e-10, rel=0)


@pytest.mark.parametrize("n", [4, 6])
def test_tfim_limits_h_or_J_zero(n):
    # Classical Ising: all bonds satisfied; free spins: every spin along the field.
    approx = pytest.approx
    assert tfim_chain_energy(n, h=0.0, J=1.5, boundary="open") == approx(-1.5 * (n - 1), abs=1e-12)
    assert tfim_chain_energy(n, h=0.0, J=-1.5, boundary="periodic") == approx(-1.5 * n, abs=1e-12)
    assert tfim_chain_energy(n, h=0.8, J=0.0, boundary="open") == approx(-0.8 * n, abs=1e-12)
    assert tfim_chain_energy(n, h=-0.8, J=0.0, boundary="periodic") == approx(-0.8 * n, abs=1e-12)
    assert tfim_chain_energy(n, h=0.0, J=0.0, boundary="open") == 0.0
    assert tfim_chain_energy(n, h=0.0, J=1.5, boundary="open") == pytest.approx(
        lowest(dense_tfim(n, 0.0, 1.5, False)), abs=1e-12
    )


# shared/REFERENCES.md, "Quantum ground-state energies" table (TFIM chain, h = 1, J = 1).
@pytest.mark.parametrize(
    "n, boundary, expected",
    [
        (10, "open", -12.3814899997),
        (20, "open", -25.1077971116),
        (100, "open", -126.9618767397),
        (10, "periodic", -12.7849064430),
        (20, "periodic", -25.4909896864),
        (100, "periodic", -127.3291906120),
    ],
)
def test_tfim_references_table(n, boundary, expected):
    e = tfim_chain_energy(n, h=1.0, J=1.0, boundary=boundary)
    assert e == pytest.approx(expected, abs=1e-8, rel=0)


@pytest.mark.parametrize("n", [50, 100, 301])
@pytest.mark.parametrize("h", [0.3, 1.0, 2.0])
def test_tfim_open_matches_plain_svd_of_bidiagonal(n, h):
    """The definition, computed with LAPACK's SVD instead of the Golub-Kahan route."""
    B = np.diag(np.full(n, h)) + np.diag(np.ones(n - 1), k=1)
    expected = -float(np.sum(scipy.linalg.svdvals(B)))
    e = tfim_chain_energy(n, h=h, J=1.0, boundary="open")
    assert e == pytest.approx(expected, abs=1e-10, rel=0)


# ---------------------------------------------------------------------------------------------
# Infinite TFIM chain
# ---------------------------------------------------------------------------------------------


def test_tfim_infinite_critical_is_minus_four_over_pi():
    assert tfim_infinite_chain_energy_per_site(1.0) == pytest.approx(-4.0 / math.pi, abs=1e-10)


@pytest.mark.parametrize("h", [0.0, 0.3, 0.999, 1 - 1e-9, 1.0, 1.001, 2.0, 5.0, -1.7])
@pytest.mark.parametrize("J", [1.0, -1.0, 0.5])
def test_tfim_infinite_matches_elliptic_integral(h, J):
    """int_0^pi sqrt(a^2 + b^2 + 2ab cos k) dk = 2 (a+b) E(4ab / (a+b)^2), E = ellipe(m)."""
    a, b = abs(J), abs(h)
    m = min(4 * a * b / (a + b) ** 2, 1.0)  # rounding can push m just above 1 (ellipe -> nan)
    expected = -(2.0 / math.pi) * (a + b) * scipy.special.ellipe(m)
    assert tfim_infinite_chain_energy_per_site(h, J=J) == pytest.approx(expected, abs=1e-10, rel=0)


@pytest.mark.parametrize("h", [0.5, 1.0, 2.0])
def test_tfim_periodic_chain_approaches_infinite_chain(h):
    n = 2000
    e_n = tfim_chain_energy(n, h=h, J=1.0, boundary="periodic") / n
    assert abs(e_n - tfim_infinite_chain_energy_per_site(h)) < 1e-5


# ---------------------------------------------------------------------------------------------
# Heisenberg chain
# ---------------------------------------------------------------------------------------------


def test_bethe_value():
    assert heisenberg_bethe_energy_per_site() == pytest.approx(-0.4431471806, abs=1e-9)
    assert heisenberg_bethe_energy_per_site(2.5) == pytest.approx(2.5 * -0.4431471806, abs=1e-9)
    assert heisenberg_bethe_energy_per_site(0.0) == 0.0


def test_ferromagnetic_heisenberg_is_fully_polarised():
    """J < 0: e0 = J/4 exactly, also at finite N (checked by dense ED of a ring)."""
    n = 8
    e_ed = lowest(dense_heisenberg(n, -1.0, pbc=True)) / n
    assert heisenberg_bethe_energy_per_site(-1.0) == pytest.approx(e_ed, abs=1e-12)
    assert e_ed == pytest.approx(-0.25, abs=1e-12)


@pytest.mark.parametrize("n, expected", [(16, -7.142296360617), (20, -8.904386529876)])
def test_heisenberg_reference_finite_size_correction(n, expected):
    """REFERENCES.md PBC values: E0/N = e_Bethe - pi^2 / (12 N^2) (c = 1, v = pi/2), to 3%."""
    correction = math.pi**2 / (12 * n**2)
    deviation = expected / n - heisenberg_bethe_energy_per_site(1.0)
    assert deviation == pytest.approx(-correction, rel=0.03)


@pytest.mark.parametrize("n", [8, 10])
@pytest.mark.parametrize("pbc", [False, True])
def test_heisenberg_ed_matches_kronecker(n, pbc):
    """Small, fast case: exact.py on NetKet's Heisenberg(J=1/4) vs dense S.S build."""
    e = exact_ground_state_energy(netket_heisenberg(n, 1.0, pbc))
    assert isinstance(e, float)
    assert e == pytest.approx(lowest(dense_heisenberg(n, 1.0, pbc)), abs=1e-10, rel=0)


def test_heisenberg_constrained_hilbert_space():
    """Sz = 0 sector (252 states) holds the singlet ground state of the full space."""
    e_sector = exact_ground_state_energy(netket_heisenberg(10, 1.0, True, total_sz=0))
    assert e_sector == pytest.approx(lowest(dense_heisenberg(10, 1.0, True)), abs=1e-10, rel=0)


# shared/REFERENCES.md: Heisenberg chain N=16 (S units), Lanczos ED. 2-3 s each on an idle
# 2-core machine (mostly netket's to_sparse), 6 s when the cores are shared: marked slow.
@pytest.mark.slow
@pytest.mark.parametrize("pbc, expected", [(True, -7.142296360617), (False, -6.911737145575)])
def test_heisenberg_n16_references(pbc, expected):
    e = exact_ground_state_energy(netket_heisenberg(16, 1.0, pbc))
    assert e == pytest.approx(expected, abs=1e-8, rel=0)


# ---------------------------------------------------------------------------------------------
# exact.py: energies, vectors, complex operators
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [8, 10])  # 256 states: dense path; 1024: Lanczos path
@pytest.mark.parametrize("pbc", [False, True])
def test_exact_energy_tfim_matches_kronecker(n, pbc):
    e = exact_ground_state_energy(netket_ising(n, 0.9, 1.0, pbc))
    assert e == pytest.approx(lowest(dense_tfim(n, 0.9, 1.0, pbc)), abs=1e-10, rel=0)


# shared/REFERENCES.md: TFIM chain h=1, N=10 ("closed form = ED"), here through the Lanczos path.
@pytest.mark.parametrize("pbc, expected", [(False, -12.3814899997), (True, -12.7849064430)])
def test_exact_energy_tfim_references(pbc, expected):
    e = exact_ground_state_energy(netket_ising(10, 1.0, 1.0, pbc))
    assert e == pytest.approx(expected, abs=1e-9, rel=0)


@pytest.mark.parametrize("n, h, pbc", [(8, 1.0, False), (8, 2.0, True), (10, 1.0, True),
                                       (10, 2.0, False)])
def test_exact_ground_state_vector(n, h, pbc):
    H = dense_tfim(n, h, 1.0, pbc)
    w, v0 = lowest_pair(H)
    assert w[1] - w[0] > 1e-3  # non-degenerate, so the vector is defined up to phase
    e, psi = exact_ground_state(netket_ising(n, h, 1.0, pbc))
    assert isinstance(e, float)
    assert psi.shape == (2**n,)
    assert psi.dtype == np.float64
    assert e == pytest.approx(w[0], abs=1e-10, rel=0)
    assert np.linalg.norm(psi) == pytest.approx(1.0, abs=1e-12)
    assert abs(np.vdot(v0, psi)) == pytest.approx(1.0, abs=1e-10)
    assert np.linalg.norm(H @ psi - e * psi) < 1e-8
    pivot = psi[np.argmax(np.abs(psi))]
    assert pivot > 0


def _dm_chain_netket(n: int):
    """Complex Hermitian chain: sum zz + 0.5 sum x + 0.3 sum (x_i y_j - y_i x_j)."""
    hi = nk.hilbert.Spin(0.5, n)
    sx, sy, sz = nk.operator.spin.sigmax, nk.operator.spin.sigmay, nk.operator.spin.sigmaz
    H = sum(sz(hi, i) @ sz(hi, j) for i, j in _bonds(n, True))
    H = H + 0.5 * sum(sx(hi, i) for i in range(n))
    H = H + 0.3 * sum(sx(hi, i) @ sy(hi, j) - sy(hi, i) @ sx(hi, j) for i, j in _bonds(n, True))
    return H


def _dm_chain_dense(n: int) -> np.ndarray:
    H = scipy.sparse.csr_matrix((2**n, 2**n), dtype=complex)
    for i, j in _bonds(n, True):
        H = H + _site(SZ, i, n) @ _site(SZ, j, n)
        H = H + 0.3 * (_site(SX, i, n) @ _site(SY, j, n) - _site(SY, i, n) @ _site(SX, j, n))
    for i in range(n):
        H = H + 0.5 * _site(SX, i, n)
    return H.toarray()


@pytest.mark.parametrize("n", [6, 10])
def test_exact_complex_hermitian_operator(n):
    dense = _dm_chain_dense(n)
    assert np.abs(dense.imag).max() > 0.1  # genuinely complex
    op = _dm_chain_netket(n)
    e = exact_ground_state_energy(op)
    assert e == pytest.approx(lowest(dense), abs=1e-10, rel=0)
    e2, psi = exact_ground_state(op)
    assert e2 == pytest.approx(e, abs=1e-10)
    assert np.iscomplexobj(psi)
    assert np.linalg.norm(psi) == pytest.approx(1.0, abs=1e-12)
    Hnk = op.to_sparse()
    assert np.linalg.norm(Hnk @ psi - e * psi) < 1e-8
    pivot = psi[np.argmax(np.abs(psi))]
    assert abs(pivot.imag) < 1e-14 and pivot.real > 0


def test_exact_complex_dtype_real_operator():
    """A complex-typed matrix with zero imaginary part takes the real Lanczos path."""
    hi = nk.hilbert.Spin(0.5, 10)
    op = nk.operator.Ising(hi, nk.graph.Chain(10, pbc=True), h=1.0, J=-1.0, dtype=complex)
    assert np.iscomplexobj(op.to_sparse().data)
    e, psi = exact_ground_state(op)
    assert e == pytest.approx(-12.7849064430, abs=1e-9)  # REFERENCES.md, TFIM h=1 N=10 PBC
    assert psi.dtype == np.complex128
    assert np.linalg.norm(op.to_sparse() @ psi - e * psi) < 1e-8


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_sites", [1, 0, -4, 2.5, True])
def test_bad_n_sites(n_sites):
    with pytest.raises(ValueError, match="n_sites"):
        tfim_chain_energy(n_sites, h=1.0)


def test_bad_boundary():
    with pytest.raises(ValueError, match="boundary.*twisted"):
        tfim_chain_energy(8, h=1.0, boundary="twisted")


def test_periodic_odd_n():
    with pytest.raises(ValueError, match="even n_sites.*n_sites=9"):
        tfim_chain_energy(9, h=1.0, boundary="periodic")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_parameters(bad):
    with pytest.raises(ValueError, match="h must be finite"):
        tfim_chain_energy(8, h=bad)
    with pytest.raises(ValueError, match="J must be finite"):
        tfim_infinite_chain_energy_per_site(1.0, J=bad)
    with pytest.raises(ValueError, match="J must be finite"):
        heisenberg_bethe_energy_per_site(bad)


def test_ed_too_large_hilbert_space():
    op = netket_ising(30, 1.0, 1.0, pbc=True)
    with pytest.raises(ValueError, match=r"1073741824 states.*2\*\*max_sites = 2\*\*24"):
        exact_ground_state_energy(op)
    with pytest.raises(ValueError, match=r"1073741824 states"):
        exact_ground_state(op)
    with pytest.raises(ValueError, match="too many states to index"):
        exact_ground_state_energy(netket_ising(100, 1.0, 1.0, pbc=False))
    with pytest.raises(ValueError, match=r"4096 states.*2\*\*10.*tfim_chain_energy"):
        exact_ground_state_energy(netket_ising(12, 1.0, 1.0, pbc=False), max_sites=10)


def test_ed_non_hermitian_operator():
    hi = nk.hilbert.Spin(0.5, 4)
    op = nk.operator.spin.sigmaz(hi, 0) + nk.operator.spin.sigmap(hi, 1)
    with pytest.raises(ValueError, match="not Hermitian"):
        exact_ground_state_energy(op)


def test_ed_rejects_non_operator():
    with pytest.raises(TypeError, match="discrete Hilbert space"):
        exact_ground_state_energy(np.eye(4))


def test_imports_do_not_pull_in_heavy_frameworks():
    code = (
        "import sys, physrnn.baselines.quantum.analytic, physrnn.baselines.quantum.exact\n"
        "heavy = [m for m in ('netket', 'jax', 'torch') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
