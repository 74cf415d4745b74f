"""Quantum spin-1/2 Hamiltonians as netket (hilbert, graph, operator) triples, and quenches.

netket is imported inside the builders, so importing this package does not load JAX.
"""

from physrnn.spins.chains import (
    SYSTEMS,
    SpinSystem,
    build_system,
    check_spin_half,
    custom_system,
    heisenberg_chain,
    tfim_chain,
    xxz_chain,
)
from physrnn.spins.lattices import (
    heisenberg_square,
    j1j2_chain,
    j1j2_square,
    tfim_square,
    xxz_square,
)

__all__ = [
    "SpinSystem",
    "SYSTEMS",
    "build_system",
    "check_spin_half",
    "custom_system",
    "tfim_chain",
    "xxz_chain",
    "heisenberg_chain",
    "j1j2_chain",
    "tfim_square",
    "heisenberg_square",
    "xxz_square",
    "j1j2_square",
]
