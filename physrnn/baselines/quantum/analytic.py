"""Closed-form ground-state energies of spin chains (numpy/scipy only).

Conventions (see ``shared/REFERENCES.md``):

- **Transverse-field Ising chain (TFIM)**, with **Pauli** matrices sx, sz (eigenvalues +-1)::

      H = -J sum_<ij> sz_i sz_j - h sum_i sx_i

  ``J > 0`` is the ferromagnet. The bonds <ij> are (i, i+1) for i = 0..N-2 with open boundaries,
  plus (N-1, 0) with periodic boundaries. NetKet's ``nk.operator.Ising(hilbert, graph, h, J)``
  is ``-h sum sx + J sum sz sz``, so our (J, h) is NetKet's ``Ising(h=h, J=-J)``.
- **Heisenberg chain** in "S units" (S = sigma / 2)::

      H = J sum_<ij> S_i . S_j

  ``J > 0`` is the antiferromagnet. NetKet's ``nk.operator.Heisenberg(..., J=J_nk)`` uses Pauli
  matrices, so ``J_nk = J / 4`` gives the same operator.

Energies are **total** (in units of J and h) unless the function name says "per site".
Nothing here imports netket, jax or torch.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from scipy.integrate import quad
from scipy.linalg import eigh_tridiagonal

__all__ = [
    "heisenberg_bethe_energy_per_site",
    "tfim_chain_energy",
    "tfim_infinite_chain_energy_per_site",
]

_BOUNDARIES = ("open", "periodic")


def _finite_real(value: float, name: str) -> float:
    """Return ``value`` as a Python float; raise if it is not a finite real number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return out


def _check_n_sites(n_sites: int) -> int:
    if isinstance(n_sites, bool) or not isinstance(n_sites, numbers.Integral):
        raise ValueError(
            f"n_sites must be an integer >= 2, got {n_sites!r} ({type(n_sites).__name__})"
        )
    n = int(n_sites)
    if n < 2:
        raise ValueError(f"n_sites must be an integer >= 2 (a chain needs a bond), got {n}")
    return n


def tfim_chain_energy(
    n_sites: int, *, h: float, J: float = 1.0, boundary: str = "open"
) -> float:
    """Exact ground-state energy (total) of the transverse-field Ising chain.

    ``H = -J sum_<ij> sz_i sz_j - h sum_i sx_i`` with Pauli matrices, solved by the
    Jordan-Wigner mapping to free fermions (Pfeuty 1970; Lieb, Schultz and Mattis 1961).

    - ``boundary="periodic"`` (N even): ``E0 = -sum_{m=0}^{N-1} eps(pi (2m+1) / N)`` with
      ``eps(k) = sqrt(J^2 + h^2 + 2 J h cos k)``. The ground state lies in the even
      fermion-parity sector, whose momenta are the antiperiodic ones above. For N = 2 the
      ring has the bond (0, 1) twice, ``H = -2 J sz_0 sz_1 - h (sx_0 + sx_1)`` (NetKet's
      ``Chain(2, pbc=True)`` has it once and is the open chain).
    - ``boundary="open"`` (any N >= 2): ``E0 = -sum_k s_k`` with ``s_k`` the singular values
      of the N x N upper-bidiagonal matrix with ``h`` on the diagonal and ``J`` on the
      superdiagonal. They are computed as the positive eigenvalues of the equivalent 2N x 2N
      Golub-Kahan tridiagonal matrix, which keeps the exponentially small edge-mode singular
      value in the ordered phase accurate to machine precision in absolute terms. The cost
      is O(N^2) time and O(N) memory (N = 10^4 in a few seconds); the periodic case is O(N).

    Signs: the spectrum depends only on ``|J|`` and ``|h|`` here. ``h -> -h`` is the unitary
    ``prod_i sz_i``; ``J -> -J`` is ``sx`` on every other site, which needs a bipartite chain
    (always true with open boundaries, and with periodic boundaries for the even N required).
    The test suite checks this against exact diagonalisation.

    Args:
        n_sites: number of spins N, an integer >= 2 (even for ``boundary="periodic"``).
        h: transverse field (energy units, Pauli convention).
        J: Ising coupling (energy units, Pauli convention); ``J > 0`` is ferromagnetic.
        boundary: ``"open"`` or ``"periodic"``.

    Returns:
        The total ground-state energy E0 (not per site), as a Python float.

    Raises:
        ValueError: ``n_sites`` not an integer >= 2, ``boundary`` unknown, odd ``n_sites``
            with periodic boundaries, or non-finite ``h`` / ``J``.
        TypeError: ``h`` or ``J`` not a real number.
    """
    if boundary not in _BOUNDARIES:
        raise ValueError(f"boundary must be one of {_BOUNDARIES}, got {boundary!r}")
    n = _check_n_sites(n_sites)
    a = abs(_finite_real(J, "J"))
    b = abs(_finite_real(h, "h"))

    if boundary == "periodic":
        if n % 2:
            raise ValueError(
                f"the periodic-chain closed form requires an even n_sites, got n_sites={n}: "
                "an odd ring is frustrated for the antiferromagnet and its ground state lies in "
                "the odd fermion-parity sector, which this formula does not cover; use "
                "boundary='open' or exact diagonalisation (physrnn.baselines.quantum.exact)"
            )
        k = np.pi * (2.0 * np.arange(n) + 1.0) / n
        # J^2 + h^2 + 2 J h cos k written without cancellation near k = pi and h = J.
        eps = np.sqrt((a - b) ** 2 + 4.0 * a * b * np.cos(0.5 * k) ** 2)
        return -math.fsum(eps.tolist())

    # Open chain: singular values of B (h on the diagonal, J on the superdiagonal) are the
    # positive eigenvalues of the Golub-Kahan matrix [[0, B], [B^T, 0]] after a perfect shuffle:
    # zero diagonal, off-diagonal (h, J, h, J, ..., J, h) of length 2N - 1.
    off = np.empty(2 * n - 1)
    off[0::2] = b
    off[1::2] = a
    if not off.any():
        return 0.0
    # 'sterf' (root-free QR): O(N) memory and O(N^2) time (N = 10^4 takes ~3 s on 2 cores);
    # scipy's default 'stemr' asks for a (2N)^2 workspace and fails for N ~ 3 * 10^4.
    ev = eigh_tridiagonal(np.zeros(2 * n), off, eigvals_only=True, lapack_driver="sterf")
    # The spectrum is +-s_k, so sum_k s_k = (1/2) sum |ev|, without classifying the tiny ones.
    return -0.5 * math.fsum(np.abs(ev).tolist())


def tfim_infinite_chain_energy_per_site(h: float, *, J: float = 1.0) -> float:
    """Ground-state energy per site of the infinite transverse-field Ising chain.

    ``H = -J sum_i sz_i sz_{i+1} - h sum_i sx_i`` with Pauli matrices, N -> infinity::

        e0 = -(1/pi) int_0^pi sqrt(J^2 + h^2 + 2 J h cos k) dk

    evaluated with ``scipy.integrate.quad`` at tight tolerance (absolute ~1e-14). At
    ``h = J = 1`` (the critical point) it is ``-4/pi``. Depends only on ``|J|`` and ``|h|``.

    Args:
        h: transverse field (energy units, Pauli convention).
        J: Ising coupling (energy units, Pauli convention).

    Returns:
        e0, the energy **per site**, as a Python float.
    """
    a = abs(_finite_real(J, "J"))
    b = abs(_finite_real(h, "h"))
    if a == 0.0 or b == 0.0:
        return -(a + b)
    d2 = (a - b) ** 2
    ab4 = 4.0 * a * b

    def integrand(k: float) -> float:
        return math.sqrt(d2 + ab4 * math.cos(0.5 * k) ** 2)

    value, abserr = quad(integrand, 0.0, math.pi, epsabs=1e-14, epsrel=1e-13, limit=500)
    scale = a + b
    if abserr > 1e-11 * scale:
        raise RuntimeError(
            f"quadrature for the infinite TFIM chain did not converge: h={h!r}, J={J!r}, "
            f"estimated error {abserr:.3g}"
        )
    return -value / math.pi


def heisenberg_bethe_energy_per_site(J: float = 1.0) -> float:
    """Ground-state energy per site of the infinite spin-1/2 Heisenberg chain.

    ``H = J sum_i S_i . S_{i+1}`` in S units (S = sigma / 2; multiply by 4 for Pauli units).

    - ``J > 0`` (antiferromagnet): the Bethe-ansatz result (Hulthen 1938),
      ``e0 = J (1/4 - ln 2) = -0.4431471806 J``.
    - ``J < 0`` (ferromagnet): the fully polarised state, ``e0 = J / 4`` (exact; the formula
      above would give the top of the spectrum instead, so it is not used).
    - ``J = 0``: 0.

    Args:
        J: exchange coupling in S units (energy units).

    Returns:
        e0, the energy **per site**, as a Python float.
    """
    j = _finite_real(J, "J")
    if j > 0.0:
        return j * (0.25 - math.log(2.0))
    return 0.25 * j
