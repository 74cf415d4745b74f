"""The spin-1/2 model contract: :class:`SpinSystem`, its conventions and the shared checks.

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

The builders are in :mod:`physrnn.spins.chains` (1D nearest-neighbour chains) and
:mod:`physrnn.spins.lattices` (square lattices and J1-J2 models); :mod:`physrnn.spins.build`
builds any of them from a ``SystemConfig``. netket is imported lazily inside the builders so that
time-series users do not pay for JAX.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from physrnn.errors import SystemDefinitionError

__all__ = [
    "BOUNDARIES",
    "SpinSystem",
    "check_chain",
    "check_spin_half",
    "custom_system",
]

#: Boundary conditions every builder accepts.
BOUNDARIES = ("open", "periodic")


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


def check_chain(n_sites: int, boundary: str) -> None:
    """Raise :class:`SystemDefinitionError` unless ``n_sites`` and ``boundary`` make a chain.

    Args:
        n_sites: number of spins ``N``; an integer >= 2 (>= 3 for periodic boundaries).
        boundary: one of :data:`BOUNDARIES`.
    """
    if isinstance(n_sites, bool) or not isinstance(n_sites, int | np.integer):
        raise SystemDefinitionError(f"n_sites must be an integer, got {n_sites!r}")
    if n_sites < 2:
        raise SystemDefinitionError(f"n_sites must be >= 2 for a chain, got {n_sites}")
    if boundary not in BOUNDARIES:
        raise SystemDefinitionError(f"boundary must be one of {BOUNDARIES}, got {boundary!r}")
    if boundary == "periodic" and n_sites < 3:
        raise SystemDefinitionError(f"a periodic chain needs n_sites >= 3, got {n_sites}")


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
