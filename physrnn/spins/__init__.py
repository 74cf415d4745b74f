"""Quantum spin-1/2 Hamiltonians as netket (hilbert, graph, operator) triples, and quenches.

:mod:`~physrnn.spins.base` holds the contract (:class:`SpinSystem`, the conventions, the
checks), :mod:`~physrnn.spins.chains` and :mod:`~physrnn.spins.lattices` the builders,
:mod:`~physrnn.spins.build` the look-up by name or config, :mod:`~physrnn.spins.quench` the
quench dynamics. Every builder takes its sizes positionally and its options by keyword.

netket is imported inside the builders, so importing this package does not load JAX.
"""

from physrnn.spins.base import SpinSystem, check_chain, check_spin_half, custom_system
from physrnn.spins.build import SYSTEMS, build_system
from physrnn.spins.chains import heisenberg_chain, tfim_chain, xxz_chain
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
    "check_chain",
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
