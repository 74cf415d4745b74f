"""One-dimensional spin-1/2 chains: the transverse-field Ising, XXZ and Heisenberg chains.

Conventions (operators, units, Marshall sign, local states) are those of
:mod:`physrnn.spins.base`; each builder returns a :class:`~physrnn.spins.base.SpinSystem`
(netket hilbert space, graph and operator, total energies). The frustrated J1-J2 chain is in
:mod:`physrnn.spins.lattices`. :class:`~physrnn.spins.base.SpinSystem`,
:func:`~physrnn.spins.base.check_spin_half` and :func:`~physrnn.spins.base.custom_system` are
re-exported here.

netket is imported lazily inside the builders so that time-series users do not pay for JAX.
"""

from __future__ import annotations

import numpy as np

from physrnn.errors import SystemDefinitionError
from physrnn.spins.base import SpinSystem, check_chain, check_spin_half, custom_system

__all__ = [
    "SpinSystem",
    "tfim_chain",
    "heisenberg_chain",
    "xxz_chain",
    "check_spin_half",
    "custom_system",
]


def _chain(n_sites: int, boundary: str):
    import netket as nk

    check_chain(n_sites, boundary)
    hilbert = nk.hilbert.Spin(s=0.5, N=int(n_sites))
    graph = nk.graph.Chain(int(n_sites), pbc=(boundary == "periodic"))
    return hilbert, graph


def tfim_chain(
    n_sites: int, *, h: float = 1.0, J: float = 1.0, boundary: str = "open"
) -> SpinSystem:
    """Transverse-field Ising chain ``H = -J sum sz_i sz_{i+1} - h sum sx_i`` (Pauli matrices).

    The default ``h = 1`` is the 1D critical point ``h_c = J`` (the hardest point of the
    chain, where the correlation length diverges); :func:`~physrnn.spins.lattices.tfim_square`
    defaults instead to ``h = 3``, near its own 2D critical point ``h_c = 3.04 J``.

    Args:
        n_sites: number of spins ``N``.
        h: transverse field (units of energy; keyword-only). The critical point is ``h = J``.
        J: coupling, ``J > 0`` ferromagnetic.
        boundary: ``"open"`` or ``"periodic"``.

    Returns:
        A :class:`SpinSystem` whose operator is netket's ``Ising(h=h, J=-J)`` (total energy).
    """
    import netket as nk

    hilbert, graph = _chain(n_sites, boundary)
    operator = nk.operator.Ising(hilbert, graph, h=float(h), J=-float(J))
    params = {"lattice": "chain", "n_sites": int(n_sites), "boundary": boundary, "J": float(J),
              "h": float(h)}
    return SpinSystem("tfim", hilbert, graph, operator, params,
                      units="H = -J sum sz sz - h sum sx, Pauli matrices, total energy", e_inf=0.0)


def xxz_chain(
    n_sites: int,
    *,
    delta: float = 1.0,
    J: float = 1.0,
    boundary: str = "open",
    marshall_sign: bool = True,
) -> SpinSystem:
    """XXZ chain ``H = J sum (Sx Sx + Sy Sy + delta Sz Sz)`` in S units (``S = sigma/2``).

    ``marshall_sign`` defaults to ``True`` here: a nearest-neighbour chain is bipartite and
    unfrustrated, so for ``J > 0`` the Marshall rotation makes the ground state exactly
    positive, which a positive (stoquastic) wavefunction can then represent. The frustrated
    :func:`~physrnn.spins.lattices.j1j2_chain` defaults to ``False`` because there the rule is
    not exact.

    Args:
        n_sites: number of spins ``N``.
        delta: anisotropy (keyword-only); ``delta = 1`` is the Heisenberg chain.
        J: exchange coupling, ``J > 0`` antiferromagnetic.
        boundary: ``"open"`` or ``"periodic"``.
        marshall_sign: rotate by the Marshall sign rule (flip the sign of the exchange term), which
            requires a bipartite chain (open, or periodic with even ``N``). The spectrum is
            unchanged.

    Returns:
        A :class:`SpinSystem` with a netket ``GraphOperator`` (total energy, units of ``J``).
    """
    import netket as nk

    hilbert, graph = _chain(n_sites, boundary)
    if marshall_sign and boundary == "periodic" and n_sites % 2 == 1:
        raise SystemDefinitionError(
            f"the Marshall sign rule needs a bipartite lattice; a periodic chain with odd "
            f"n_sites={n_sites} is not bipartite (use marshall_sign=false or an even N)"
        )
    sx = np.array([[0, 1], [1, 0]], dtype=float)
    sy = np.array([[0, -1j], [1j, 0]], dtype=complex)
    sz = np.array([[1, 0], [0, -1]], dtype=float)
    exchange = (np.kron(sx, sx) + np.kron(sy, sy)).real
    sign = -1.0 if marshall_sign else 1.0
    bond = 0.25 * float(J) * (sign * exchange + float(delta) * np.kron(sz, sz))
    operator = nk.operator.GraphOperator(hilbert, graph, bond_ops=[bond])
    name = "heisenberg" if float(delta) == 1.0 else "xxz"
    params = {"lattice": "chain", "n_sites": int(n_sites), "boundary": boundary, "J": float(J),
              "delta": float(delta), "marshall_sign": bool(marshall_sign)}
    units = "H = J sum (Sx Sx + Sy Sy + delta Sz Sz), S = sigma/2, total energy"
    if marshall_sign:
        units += ", Marshall-sign rotated"
    return SpinSystem(name, hilbert, graph, operator, params, units=units, e_inf=0.0)


def heisenberg_chain(
    n_sites: int, *, J: float = 1.0, boundary: str = "open", marshall_sign: bool = True
) -> SpinSystem:
    """Heisenberg chain ``H = J sum S_i . S_{i+1}`` in S units; see :func:`xxz_chain`.

    ``marshall_sign=True`` by default for the reason given there (bipartite, unfrustrated).
    """
    return xxz_chain(n_sites, delta=1.0, J=J, boundary=boundary, marshall_sign=marshall_sign)
