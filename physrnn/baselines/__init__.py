"""What results are compared against: closed forms, exact diagonalisation, published numbers."""

from physrnn.baselines.analytic import (
    heisenberg_bethe_energy_per_site,
    tfim_chain_energy,
    tfim_infinite_chain_energy_per_site,
)
from physrnn.baselines.forecast import BASELINES, make_baseline
from physrnn.baselines.reference import Reference, reference_energy

__all__ = [
    "tfim_chain_energy",
    "tfim_infinite_chain_energy_per_site",
    "heisenberg_bethe_energy_per_site",
    "Reference",
    "reference_energy",
    "BASELINES",
    "make_baseline",
]
