"""Variational Monte Carlo on top of autoregressive wavefunctions."""

from physrnn.vmc.driver import VMC, StepRecord, make_optimizer
from physrnn.vmc.estimators import (
    EnergyStats,
    energy_stats,
    exact_energy,
    local_energies,
    v_score,
)
from physrnn.vmc.operators import ConnectedElements, ConnectedOperator

__all__ = [
    "VMC",
    "StepRecord",
    "make_optimizer",
    "EnergyStats",
    "energy_stats",
    "exact_energy",
    "local_energies",
    "v_score",
    "ConnectedOperator",
    "ConnectedElements",
]
