"""The best available reference energy for a spin system, with its kind and source.

Order of preference: a closed form ("analytic"), exact diagonalisation ("exact") for small
Hilbert spaces, a published number ("published") from REFERENCES.md, a quantum Monte Carlo
ground state ("qmc", :mod:`physrnn.baselines.quantum.qmc`: from the on-disk cache, or run on
request), else nothing.
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
        kind: ``"analytic"``, ``"exact"``, ``"published"`` or ``"qmc"``.
        source: where the number comes from (formula, method or citation).
        error: its statistical error bar (QMC), else ``None``.
    """

    energy: float
    kind: str
    source: str
    error: float | None = None


def _published_key(system: SpinSystem) -> tuple:
    p = system.params
    frozen = (("J", p.get("J")),)
    return (system.name, p.get("lattice"), system.n_sites, p.get("boundary"), frozen)


def reference_energy(system: SpinSystem, *, max_exact_sites: int = 20, qmc: str = "cache",
                     qmc_budget_s: float | None = None, seed: int = 0) -> Reference | None:
    """Best available reference energy for ``system``, or ``None`` if there is none.

    Args:
        system: a :class:`SpinSystem`.
        max_exact_sites: largest ``N`` for which exact diagonalisation is attempted.
        qmc: where ED is too large and no closed form or published number exists:
            ``"cache"`` uses a converged QMC result cached on disk, ``"run"`` also runs QMC
            (ALPS, ``pip install 'physrnn[qmc]'``) when there is none, ``"off"`` never.
            Systems QMC cannot treat (sign problem) simply have no QMC reference.
        qmc_budget_s: time budget of a QMC run (``qmc = "run"``).
        seed: seed of a QMC run.
    """
    if qmc not in ("cache", "run", "off"):
        raise ValueError(f"qmc must be 'cache', 'run' or 'off', got {qmc!r}")
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
    if qmc != "off":
        found = _qmc_reference(system, run=qmc == "run", budget_s=qmc_budget_s, seed=seed)
        if found is not None:
            return found
    log.info("no reference energy available for %s", system.describe())
    return None


def _qmc_reference(system: SpinSystem, *, run: bool, budget_s: float | None,
                   seed: int) -> Reference | None:
    from physrnn.baselines.quantum.qmc import cached_qmc, qmc_ground_state
    from physrnn.errors import SignProblemError

    try:
        res = cached_qmc(system)
        if res is None and run:
            res = qmc_ground_state(system, budget_s=budget_s, seed=seed)
    except SignProblemError as exc:
        (log.warning if run else log.info)("no QMC reference: %s", exc)
        return None
    if res is None:
        return None
    how = "converged" if res.converged else f"not converged ({res.status})"
    return Reference(res.energy, "qmc", f"ALPS loop QMC, beta {res.beta:g}, {res.sweeps} "
                     f"sweeps, {how} (cache {res.hash}, {res.provenance.get('created_utc')})",
                     error=res.error)
