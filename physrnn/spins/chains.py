"""Quantum spin-1/2 lattice models as netket (hilbert, graph, operator) triples.

Conventions (also in REFERENCES.md of the project):

* **Transverse-field Ising model** uses **Pauli** matrices,
  ``H = -J sum_<ij> sz_i sz_j - h sum_i sx_i`` with ``J = 1`` the ferromagnet. NetKet's
  ``nk.operator.Ising(hilbert, graph, h, J)`` is ``-h sum sx + J sum sz sz``, so it is called here
  with ``J -> -J``. Energies are totals in units of ``J``.
* **Heisenberg / XXZ** uses **spin-1/2** operators ``S = sigma / 2`` ("S units"),
  ``H = J sum_<ij> (Sx_i Sx_j + Sy_i Sy_j + delta Sz_i Sz_j)``. With ``marshall_sign=True``
  (default) the Hamiltonian is rotated by the Marshall sign rule ``U = prod_{i in B} sigma^z_i``
  on a bipartite lattice, which flips the sign of the exchange (off-diagonal) term; the spectrum
  is unchanged and, for ``J > 0``, the ground state becomes positive in the ``sz`` basis, so a
  positive (stoquastic) wavefunction can represent it.
* Spin states follow netket: ``hilbert.local_states`` is ``[1, -1]`` (local index 0 is spin up).
  physrnn works with local indices ``0 .. 1`` and maps through the hilbert space, never through
  hard-coded values.

netket is imported lazily inside the builders so that time-series users do not pay for JAX.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from physrnn.errors import SystemDefinitionError

__all__ = [
    "SpinSystem",
    "tfim_chain",
    "heisenberg_chain",
    "xxz_chain",
    "build_system",
    "check_spin_half",
    "SYSTEMS",
    "custom_system",
]

_BOUNDARIES = ("open", "periodic")


@dataclass(frozen=True)
class SpinSystem:
    """A spin-1/2 lattice model ready for variational Monte Carlo.

    Attributes:
        name: registry name of the model (``"tfim"``, ``"heisenberg"``, ``"xxz"``, ``"custom"``).
        hilbert: netket hilbert space of ``n_sites`` spin-1/2 sites.
        graph: netket graph (lattice) or ``None`` for a custom operator.
        operator: netket operator, the Hamiltonian in the units stated by ``units``.
        params: the physical parameters (``J``, ``h``, ``delta``, boundary ...).
        units: a sentence stating operator convention and energy unit.
        e_inf: infinite-temperature energy ``Tr H / 2^N`` (total), used by the V-score.
    """

    name: str
    hilbert: Any
    graph: Any
    operator: Any
    params: dict[str, Any] = field(default_factory=dict)
    units: str = ""
    e_inf: float = 0.0

    @property
    def n_sites(self) -> int:
        """Number of lattice sites ``N``."""
        return int(self.hilbert.size)

    def describe(self) -> str:
        """One-line human description, e.g. ``tfim chain N=20 open (h=1, J=1)``."""
        p = {k: v for k, v in self.params.items() if k not in ("n_sites", "boundary", "lattice")}
        ps = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in p.items())
        lattice = self.params.get("lattice", "")
        boundary = self.params.get("boundary", "")
        return f"{self.name} {lattice} N={self.n_sites} {boundary} ({ps})".replace("  ", " ")


def _check_chain(n_sites: int, boundary: str) -> None:
    if isinstance(n_sites, bool) or not isinstance(n_sites, int | np.integer):
        raise SystemDefinitionError(f"n_sites must be an integer, got {n_sites!r}")
    if n_sites < 2:
        raise SystemDefinitionError(f"n_sites must be >= 2 for a chain, got {n_sites}")
    if boundary not in _BOUNDARIES:
        raise SystemDefinitionError(f"boundary must be one of {_BOUNDARIES}, got {boundary!r}")
    if boundary == "periodic" and n_sites < 3:
        raise SystemDefinitionError(f"a periodic chain needs n_sites >= 3, got {n_sites}")


def _chain(n_sites: int, boundary: str):
    import netket as nk

    _check_chain(n_sites, boundary)
    hilbert = nk.hilbert.Spin(s=0.5, N=int(n_sites))
    graph = nk.graph.Chain(int(n_sites), pbc=(boundary == "periodic"))
    return hilbert, graph


def tfim_chain(
    n_sites: int, h: float = 1.0, *, J: float = 1.0, boundary: str = "open"
) -> SpinSystem:
    """Transverse-field Ising chain ``H = -J sum sz_i sz_{i+1} - h sum sx_i`` (Pauli matrices).

    Args:
        n_sites: number of spins ``N``.
        h: transverse field (units of energy). The critical point is ``h = J``.
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
    delta: float = 1.0,
    *,
    J: float = 1.0,
    boundary: str = "open",
    marshall_sign: bool = True,
) -> SpinSystem:
    """XXZ chain ``H = J sum (Sx Sx + Sy Sy + delta Sz Sz)`` in S units (``S = sigma/2``).

    Args:
        n_sites: number of spins ``N``.
        delta: anisotropy; ``delta = 1`` is the Heisenberg chain.
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
    """Heisenberg chain ``H = J sum S_i . S_{i+1}`` in S units; see :func:`xxz_chain`."""
    return xxz_chain(n_sites, 1.0, J=J, boundary=boundary, marshall_sign=marshall_sign)


SYSTEMS = {
    "tfim": tfim_chain,
    "heisenberg": heisenberg_chain,
    "xxz": xxz_chain,
}


def build_system(config) -> SpinSystem:
    """Build a :class:`SpinSystem` from a ``SystemConfig`` (see :mod:`physrnn.vmc.config`).

    ``lattice = "chain"`` uses ``n_sites``; ``"square"`` the ``Lx x Ly`` lattice of
    :mod:`physrnn.spins.lattices`. ``J`` is ``J1`` of the ``j1j2`` model.
    """
    model, boundary = config.model, config.boundary
    if model not in ("tfim", "heisenberg", "xxz", "j1j2"):
        raise SystemDefinitionError(
            f"unknown model {model!r}; known: heisenberg, j1j2, tfim, xxz")
    delta = 1.0 if model == "heisenberg" else float(config.delta)
    if config.lattice == "square":
        from physrnn.spins.lattices import j1j2_square, tfim_square, xxz_square

        lx, ly = config.Lx, config.Ly
        if model == "tfim":
            return tfim_square(lx, ly, config.h, J=config.J, boundary=boundary)
        if model == "j1j2":
            return j1j2_square(lx, ly, config.J2, J1=config.J, boundary=boundary,
                               marshall_sign=config.marshall_sign)
        return xxz_square(lx, ly, delta, J=config.J, boundary=boundary,
                          marshall_sign=config.marshall_sign)
    if config.lattice != "chain":
        raise SystemDefinitionError(
            f"unknown lattice {config.lattice!r}; choose 'chain' or 'square'")
    if model == "tfim":
        return tfim_chain(config.n_sites, config.h, J=config.J, boundary=boundary)
    if model == "j1j2":
        from physrnn.spins.lattices import j1j2_chain

        return j1j2_chain(config.n_sites, config.J2, J1=config.J, boundary=boundary,
                          marshall_sign=config.marshall_sign)
    return xxz_chain(config.n_sites, delta, J=config.J, boundary=boundary,
                     marshall_sign=config.marshall_sign)


def check_spin_half(hilbert) -> None:
    """Raise :class:`SystemDefinitionError` unless ``hilbert`` is an unconstrained spin-1/2 space.

    physrnn wavefunctions have two local states per site; any netket discrete hilbert space
    with two local states (``Spin(1/2)``, ``Qubit``) and no global constraint is accepted.
    """
    import netket as nk

    if not isinstance(hilbert, nk.hilbert.DiscreteHilbert):
        raise SystemDefinitionError(
            f"operator acts on {hilbert!r}: physrnn needs a discrete spin-1/2 space")
    if not hilbert.is_finite or any(int(n) != 2 for n in hilbert.shape):
        raise SystemDefinitionError(
            f"operator acts on {hilbert!r} with local dimensions {tuple(hilbert.shape)}: "
            "physrnn wavefunctions need spin-1/2 (two local states) on every site"
        )
    if getattr(hilbert, "constrained", False):
        raise SystemDefinitionError(
            f"operator acts on the constrained space {hilbert!r}: fixed-magnetisation sampling "
            "is not supported yet; build the operator on the unconstrained space"
        )


def custom_system(operator, *, name: str = "custom", e_inf: float | None = None) -> SpinSystem:
    """Wrap any netket operator on spin-1/2 sites as a :class:`SpinSystem`.

    Args:
        operator: a netket operator whose hilbert space passes :func:`check_spin_half`.
        name: label used in records.
        e_inf: ``Tr H / 2^N``; computed exactly from the diagonal for ``N <= 20`` if ``None``,
            otherwise set to 0 with a note in ``units``.
    """
    check_spin_half(operator.hilbert)
    units = "as given by the operator"
    if e_inf is None:
        if operator.hilbert.size <= 20:
            e_inf = float(np.real(operator.to_sparse().diagonal().mean()))
        else:
            e_inf = 0.0
            units += " (e_inf assumed 0 for the V-score)"
    return SpinSystem(name, operator.hilbert, getattr(operator, "graph", None), operator,
                      {"n_sites": int(operator.hilbert.size)}, units=units, e_inf=float(e_inf))
