"""Quantum baselines: closed forms, exact diagonalisation, published reference energies."""

from physrnn.baselines.quantum.analytic import (
    heisenberg_bethe_energy_per_site,
    tfim_chain_energy,
    tfim_infinite_chain_energy_per_site,
)
from physrnn.baselines.quantum.reference import Reference, reference_energy

__all__ = [
    "tfim_chain_energy",
    "tfim_infinite_chain_energy_per_site",
    "heisenberg_bethe_energy_per_site",
    "Reference",
    "reference_energy",
]
