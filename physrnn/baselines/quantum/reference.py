"""The best available reference energy for a spin system, with its kind and source.

Order of preference: a closed form ("analytic"), exact diagonalisation ("exact") for small
Hilbert spaces, a published number ("published") from REFERENCES.md, else nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from physrnn.baselines.quantum.analytic import tfim_chain_energy
from physrnn.spins.chains import SpinSystem

__all__ = ["Reference", "reference_energy", "PUBLISHED"]

log = logging.getLogger(__name__)

#: Published ground-state energies (total, conventions of physrnn.spins.chains), keyed by
#: (model, lattice, n_sites, boundary, frozen parameters).
PUBLISHED: dict[tuple, tuple[float, str]] = {
    ("heisenberg", "chain", 100, "open", (("J", 1.0),)):
        (-44.1277398933, "DMRG (TeNPy, chi=300)"),
}


@dataclass(frozen=True)
class Reference:
    """A reference ground-state energy.

    Attributes:
        energy: total ground-state energy in the system's units.
        kind: ``"analytic"``, ``"exact"`` or ``"published"``.
        source: where the number comes from (formula, method or citation).
    """

    energy: float
    kind: str
    source: str


def _published_key(system: SpinSystem) -> tuple:
    p = system.params
    frozen = (("J", p.get("J")),)
    return (system.name, p.get("lattice"), system.n_sites, p.get("boundary"), frozen)


def reference_energy(system: SpinSystem, *, max_exact_sites: int = 20) -> Reference | None:
    """Best available reference energy for ``system``, or ``None`` if there is none.

    Args:
        system: a :class:`SpinSystem`.
        max_exact_sites: largest ``N`` for which exact diagonalisation is attempted.
    """
    p = system.params
    n = system.n_sites
    if system.name == "tfim" and p.get("lattice") == "chain":
        boundary = p["boundary"]
        if boundary == "open" or n % 2 == 0:
            e = tfim_chain_energy(n, h=p["h"], J=p["J"], boundary=boundary)
            return Reference(e, "analytic", "free fermions (Jordan-Wigner), "
                             + ("bidiagonal singular values" if boundary == "open"
                                else "antiperiodic momenta"))
    published = PUBLISHED.get(_published_key(system))
    if n <= max_exact_sites:
        from physrnn.baselines.quantum.exact import exact_ground_state_energy

        e = exact_ground_state_energy(system.operator, max_sites=max_exact_sites)
        return Reference(e, "exact", "exact diagonalisation (scipy eigsh)")
    if published is not None:
        return Reference(published[0], "published", published[1])
    log.info("no reference energy available for %s", system.describe())
    return None
