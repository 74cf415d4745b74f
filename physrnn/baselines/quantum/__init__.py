"""Quantum baselines: closed forms, exact diagonalisation, QMC (ALPS), reference energies.

Energies are totals in the Hamiltonian's own units unless a name says "per site"; netket is
imported inside the exact-diagonalisation functions only.
"""

from physrnn.baselines.quantum.analytic import (
    heisenberg_bethe_energy_per_site,
    tfim_chain_energy,
    tfim_infinite_chain_energy_per_site,
)
from physrnn.baselines.quantum.exact import exact_ground_state, exact_ground_state_energy
from physrnn.baselines.quantum.qmc import QMCResult, cached_qmc, qmc_ground_state
from physrnn.baselines.quantum.reference import PUBLISHED, Reference, reference_energy

__all__ = [
    "tfim_chain_energy",
    "tfim_infinite_chain_energy_per_site",
    "heisenberg_bethe_energy_per_site",
    "exact_ground_state",
    "exact_ground_state_energy",
    "Reference",
    "reference_energy",
    "PUBLISHED",
    "QMCResult",
    "qmc_ground_state",
    "cached_qmc",
]
