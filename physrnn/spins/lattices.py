"""Square lattices and frustrated couplings: TFIM and Heisenberg on ``Lx x Ly``, J1-J2 models.

Same conventions as :mod:`physrnn.spins.base` (Pauli matrices for the TFIM, ``S = sigma/2``
for Heisenberg-type models, total energies, netket's ``local_states = [1, -1]``):

* ``tfim_square``: ``H = -J sum_<ij> sz_i sz_j - h sum_i sx_i``; the 2D critical field is
  ``h_c = 3.04438(2) J`` (Bloete and Deng 2002).
* ``heisenberg_square``: ``H = J sum_<ij> S_i . S_j``; ``xxz_square`` with the anisotropy
  ``delta``: ``H = J sum_<ij> (Sx_i Sx_j + Sy_i Sy_j + delta Sz_i Sz_j)``.
* ``j1j2_chain`` / ``j1j2_square``: ``H = J1 sum_<ij> S_i . S_j + J2 sum_<<ij>> S_i . S_j``
  (nearest and next-nearest neighbours: ``i, i+2`` on the chain, the diagonals on the square).
  ``J2 = J1 / 2`` on the chain is the Majumdar-Ghosh point, whose ground energy with open
  boundaries and even ``N`` is exactly ``-3 N J1 / 8``.

Sites are numbered as netket's ``nk.graph.Grid([Lx, Ly])``: site ``x * Ly + y`` (the numbering
:class:`~physrnn.wavefunctions.rnn2d.RNNWavefunction2D` uses). With ``marshall_sign=True`` the
Hamiltonian is rotated by ``U = prod_{i in B} sigma^z_i`` (``B`` the sublattice with ``x + y``
odd), which flips the sign of the exchange term on bonds *between* sublattices (all nearest
neighbours) and leaves it on bonds *within* one (the ``J2`` diagonals, the chain's ``i, i+2``).
The spectrum is unchanged; the rotated ground state is positive for ``J2 = 0`` only, so for
frustrated models it is a good starting sign structure, not the exact one (use a phase head).
"""

from __future__ import annotations

import numpy as np

from physrnn.errors import SystemDefinitionError
from physrnn.spins.base import BOUNDARIES, SpinSystem, check_chain

__all__ = ["tfim_square", "heisenberg_square", "xxz_square", "j1j2_chain", "j1j2_square"]

_SX = np.array([[0, 1], [1, 0]], dtype=float)
_SY = np.array([[0, -1j], [1j, 0]], dtype=complex)
_SZ = np.array([[1, 0], [0, -1]], dtype=float)
_EXCHANGE = (np.kron(_SX, _SX) + np.kron(_SY, _SY)).real
_ZZ = np.kron(_SZ, _SZ)


def _check_square(Lx: int, Ly: int, boundary: str) -> None:
    for name, v in (("Lx", Lx), ("Ly", Ly)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer):
            raise SystemDefinitionError(f"{name} must be an integer, got {v!r}")
        if v < 2:
            raise SystemDefinitionError(f"{name} must be >= 2 for a square lattice, got {v}")
    if boundary not in BOUNDARIES:
        raise SystemDefinitionError(f"boundary must be one of {BOUNDARIES}, got {boundary!r}")


def _square(Lx: int, Ly: int, boundary: str, max_neighbor_order: int = 1):
    import netket as nk

    _check_square(Lx, Ly, boundary)
    graph = nk.graph.Grid([int(Lx), int(Ly)], pbc=(boundary == "periodic"),
                          max_neighbor_order=max_neighbor_order)
    return nk.hilbert.Spin(s=0.5, N=graph.n_nodes), graph


def _check_bipartite(Lx: int, Ly: int | None, boundary: str) -> None:
    odd = [v for v in (Lx, Ly) if v is not None and v % 2 == 1 and v > 2]
    if boundary == "periodic" and odd:
        raise SystemDefinitionError(
            f"the Marshall sign rule needs a bipartite lattice; periodic boundaries with an odd "
            f"extent ({odd[0]}) are not bipartite (use marshall_sign=false or even extents)")


def _bond(J: float, marshall: bool, delta: float = 1.0) -> np.ndarray:
    """``J (Sx Sx + Sy Sy + delta Sz Sz)`` as a 4x4 matrix (``delta = 1``: ``J S_i . S_j``);
    Marshall-rotated (exchange sign flipped) if asked."""
    return 0.25 * float(J) * ((-1.0 if marshall else 1.0) * _EXCHANGE + float(delta) * _ZZ)


def tfim_square(
    Lx: int, Ly: int | None = None, *, h: float = 3.0, J: float = 1.0, boundary: str = "open"
) -> SpinSystem:
    """Transverse-field Ising model on an ``Lx x Ly`` square lattice (Pauli matrices).

    The default ``h = 3`` sits near the 2D critical field ``h_c = 3.04438 J`` (each site has
    four neighbours, so the ordered phase survives to a larger field than the chain's
    ``h_c = J``, which is why :func:`~physrnn.spins.chains.tfim_chain` defaults to ``h = 1``).

    Args:
        Lx, Ly: lattice extents (``Ly = Lx`` when omitted); ``N = Lx Ly``. Both positional;
            every other option is keyword-only.
        h: transverse field; ``h_c = 3.04438 J`` in 2D.
        J: coupling, ``J > 0`` ferromagnetic.
        boundary: ``"open"`` or ``"periodic"``.
    """
    import netket as nk

    Ly = Lx if Ly is None else Ly
    hilbert, graph = _square(Lx, Ly, boundary)
    operator = nk.operator.Ising(hilbert, graph, h=float(h), J=-float(J))
    params = {"lattice": f"square {Lx}x{Ly}", "Lx": int(Lx), "Ly": int(Ly),
              "boundary": boundary, "J": float(J), "h": float(h)}
    return SpinSystem("tfim", hilbert, graph, operator, params,
                      units="H = -J sum sz sz - h sum sx, Pauli matrices, total energy", e_inf=0.0)


def heisenberg_square(
    Lx: int, Ly: int | None = None, *, J: float = 1.0, boundary: str = "open",
    marshall_sign: bool = True,
) -> SpinSystem:
    """Heisenberg antiferromagnet ``H = J sum_<ij> S_i . S_j`` on an ``Lx x Ly`` square lattice.

    ``marshall_sign=True`` (default) rotates the Hamiltonian so that its ground state is
    positive (bipartite lattices only: open, or periodic with even extents). The default
    differs from :func:`j1j2_square` (``False``) because without ``J2`` the lattice is
    unfrustrated and the rotated ground state is exactly positive.
    """
    return j1j2_square(Lx, Ly, J2=0.0, J1=J, boundary=boundary, marshall_sign=marshall_sign)


def xxz_square(
    Lx: int, Ly: int | None = None, *, delta: float = 1.0, J: float = 1.0,
    boundary: str = "open", marshall_sign: bool = True,
) -> SpinSystem:
    """XXZ model ``H = J sum_<ij> (Sx Sx + Sy Sy + delta Sz Sz)`` on an ``Lx x Ly`` lattice.

    ``delta = 1`` (keyword-only, like every option after ``Lx, Ly``) is
    :func:`heisenberg_square`; ``marshall_sign`` as there (default ``True``: the
    nearest-neighbour square lattice is bipartite and unfrustrated; bipartite only).
    """
    import netket as nk

    if float(delta) == 1.0:
        return heisenberg_square(Lx, Ly, J=J, boundary=boundary, marshall_sign=marshall_sign)
    Ly = Lx if Ly is None else Ly
    hilbert, graph = _square(Lx, Ly, boundary)
    if marshall_sign:
        _check_bipartite(Lx, Ly, boundary)
    operator = nk.operator.GraphOperator(hilbert, graph,
                                         bond_ops=[_bond(J, marshall_sign, delta)])
    params = {"lattice": f"square {Lx}x{Ly}", "Lx": int(Lx), "Ly": int(Ly),
              "boundary": boundary, "J": float(J), "delta": float(delta),
              "marshall_sign": bool(marshall_sign)}
    units = "H = J sum (Sx Sx + Sy Sy + delta Sz Sz), S = sigma/2, total energy"
    return SpinSystem("xxz", hilbert, graph, operator, params,
                      units=units + (", Marshall-sign rotated" if marshall_sign else ""),
                      e_inf=0.0)


def _j1j2_operator(hilbert, graph, J1: float, J2: float, marshall: bool):
    import netket as nk

    bonds, colors = [_bond(J1, marshall)], [0]
    if J2 != 0.0:
        bonds.append(_bond(J2, False))   # same sublattice: not rotated
        colors.append(1)
    return nk.operator.GraphOperator(hilbert, graph, bond_ops=bonds, bond_ops_colors=colors)


def j1j2_chain(
    n_sites: int, *, J2: float = 0.5, J1: float = 1.0, boundary: str = "open",
    marshall_sign: bool = False,
) -> SpinSystem:
    """J1-J2 chain ``H = J1 sum S_i . S_{i+1} + J2 sum S_i . S_{i+2}`` in S units.

    ``J2 = 0.5 J1`` (the default; keyword-only, like every option) is the Majumdar-Ghosh point
    (open boundaries, even ``N``: ``E0 = -3 N J1 / 8`` exactly). ``marshall_sign=True``
    rotates the ``J1`` bonds only. It defaults to ``False``, unlike
    :func:`~physrnn.spins.chains.xxz_chain` and
    :func:`~physrnn.spins.chains.heisenberg_chain` (``True``): the ``J2`` bonds frustrate the
    chain, so the Marshall rule no longer gives the ground state's sign and the unrotated
    Hamiltonian is the plain starting point (a model with a phase head learns the sign).
    """
    import netket as nk

    check_chain(n_sites, boundary)
    if boundary == "periodic" and n_sites < 5:
        raise SystemDefinitionError(
            f"a periodic J1-J2 chain needs n_sites >= 5 (distinct second neighbours), got "
            f"{n_sites}")
    if marshall_sign:
        _check_bipartite(n_sites, None, boundary)
    graph = nk.graph.Chain(int(n_sites), pbc=(boundary == "periodic"), max_neighbor_order=2)
    hilbert = nk.hilbert.Spin(s=0.5, N=int(n_sites))
    operator = _j1j2_operator(hilbert, graph, float(J1), float(J2), marshall_sign)
    params = {"lattice": "chain", "n_sites": int(n_sites), "boundary": boundary,
              "J1": float(J1), "J2": float(J2), "marshall_sign": bool(marshall_sign)}
    return SpinSystem("j1j2", hilbert, graph, operator, params, units=_units(marshall_sign),
                      e_inf=0.0)


def j1j2_square(
    Lx: int, Ly: int | None = None, *, J2: float = 0.5, J1: float = 1.0,
    boundary: str = "open", marshall_sign: bool = False,
) -> SpinSystem:
    """J1-J2 model on an ``Lx x Ly`` square lattice (``J2`` on the plaquette diagonals).

    ``Lx, Ly`` are positional (``Ly = Lx`` when omitted); every option is keyword-only. The
    default ``J2 = 0.5 J1`` is the maximally frustrated point of the square lattice.
    ``marshall_sign`` defaults to ``False``, unlike :func:`heisenberg_square` (``True``), for
    the reason given in :func:`j1j2_chain`: with ``J2 != 0`` the Marshall rule is only a
    starting sign structure, not the exact one.
    """
    Ly = Lx if Ly is None else Ly
    hilbert, graph = _square(Lx, Ly, boundary, max_neighbor_order=2 if J2 != 0.0 else 1)
    if marshall_sign:
        _check_bipartite(Lx, Ly, boundary)
    operator = _j1j2_operator(hilbert, graph, float(J1), float(J2), marshall_sign)
    name = "heisenberg" if J2 == 0.0 else "j1j2"
    params = {"lattice": f"square {Lx}x{Ly}", "Lx": int(Lx), "Ly": int(Ly),
              "boundary": boundary, "J1": float(J1), "J2": float(J2),
              "marshall_sign": bool(marshall_sign)}
    return SpinSystem(name, hilbert, graph, operator, params, units=_units(marshall_sign),
                      e_inf=0.0)


def _units(marshall: bool) -> str:
    units = "H = J1 sum S.S (nn) + J2 sum S.S (nnn), S = sigma/2, total energy"
    return units + (", Marshall-sign rotated (J1 bonds)" if marshall else "")
