"""Variational Monte Carlo on top of autoregressive wavefunctions.

The driver (:class:`VMC`), its energy statistics, Markov-chain sampling of a model
(:class:`MetropolisSampler`, the alternative to exact sampling), stochastic reconfiguration
(:class:`SRStep`), variational annealing (:class:`AnnealingSchedule`), the run config
sections and the factory that builds a driver from a config. The modules themselves
(``physrnn.vmc.sr``, ``physrnn.vmc.parallel``, ...) hold the lower-level pieces.
"""

from physrnn.optim import make_optimizer
from physrnn.vmc.annealing import AnnealingSchedule
from physrnn.vmc.config import (
    SystemConfig,
    VMCConfig,
    VMCRunConfig,
    WavefunctionConfig,
    load_vmc_config,
)
from physrnn.vmc.driver import VMC, StepRecord
from physrnn.vmc.estimators import (
    EnergyStats,
    energy_stats,
    exact_energy,
    local_energies,
    v_score,
)
from physrnn.vmc.factory import build_vmc, build_wavefunction
from physrnn.vmc.metropolis import MetropolisSampler
from physrnn.vmc.operators import ConnectedElements, ConnectedOperator
from physrnn.vmc.sr import SRInfo, SRStep

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
    "SRStep",
    "SRInfo",
    "AnnealingSchedule",
    "SystemConfig",
    "WavefunctionConfig",
    "VMCConfig",
    "VMCRunConfig",
    "load_vmc_config",
    "build_vmc",
    "build_wavefunction",
    "MetropolisSampler",
]
