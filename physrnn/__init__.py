"""physrnn: recurrent neural networks for physics, checked against exact answers.

The names a user types, at most two levels deep::

    import physrnn

    system = physrnn.tfim_chain(20, h=1.0, boundary="open")
    model = physrnn.RNNWavefunction1D(20, hidden_size=32, seed=1)
    vmc = physrnn.VMC(system.operator, model, n_samples=512, seed=1)
    exact = physrnn.baselines.quantum.tfim_chain_energy(20, h=1.0)

Subpackages (each with its own ``__all__``): :mod:`physrnn.spins` (quantum spin Hamiltonians),
:mod:`physrnn.wavefunctions`, :mod:`physrnn.vmc`, :mod:`physrnn.systems` (dynamical systems),
:mod:`physrnn.data`, :mod:`physrnn.nn`, :mod:`physrnn.train`, :mod:`physrnn.metrics`,
:mod:`physrnn.baselines`, :mod:`physrnn.distributed`, :mod:`physrnn.config`,
:mod:`physrnn.runs` (the jobs behind the command line).

Importing ``physrnn`` is cheap: every name and subpackage is loaded on first access, so a
time-series script never pays for torch, netket or JAX it does not use.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("physrnn")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

#: Subpackages and modules reachable as ``physrnn.<name>``, imported on first access.
SUBMODULES = (
    "baselines",
    "config",
    "data",
    "distributed",
    "errors",
    "io",
    "metrics",
    "nn",
    "runs",
    "spins",
    "systems",
    "train",
    "vmc",
    "wavefunctions",
)

#: Public name -> the module it is loaded from on first access.
LAZY_NAMES: dict[str, str] = {
    # quantum spin models (netket objects, built on call)
    "SpinSystem": "physrnn.spins",
    "build_system": "physrnn.spins",
    "tfim_chain": "physrnn.spins",
    "heisenberg_chain": "physrnn.spins",
    "xxz_chain": "physrnn.spins",
    "j1j2_chain": "physrnn.spins",
    "tfim_square": "physrnn.spins",
    "heisenberg_square": "physrnn.spins",
    "xxz_square": "physrnn.spins",
    "j1j2_square": "physrnn.spins",
    # autoregressive wavefunctions
    "AutoregressiveWavefunction": "physrnn.wavefunctions",
    "RNNWavefunction1D": "physrnn.wavefunctions",
    "RNNWavefunction2D": "physrnn.wavefunctions",
    "SymmetrisedWavefunction": "physrnn.wavefunctions",
    # variational Monte Carlo
    "VMC": "physrnn.vmc",
    "EnergyStats": "physrnn.vmc",
    "SRStep": "physrnn.vmc",
    "AnnealingSchedule": "physrnn.vmc",
    "make_optimizer": "physrnn.vmc",
    # dynamical systems and their data
    "DynamicalSystem": "physrnn.systems",
    "get_system": "physrnn.systems",
    "list_systems": "physrnn.systems",
    "simulate": "physrnn.data.simulate",
    "read_dataset": "physrnn.data",
    "write_dataset": "physrnn.data",
    "make_loaders": "physrnn.data",
    # forecasting models and training
    "RecurrentForecaster": "physrnn.nn",
    "EchoStateNetwork": "physrnn.nn",
    "Trainer": "physrnn.train",
    "RolloutSchedule": "physrnn.train",
    # what results are compared against
    "exact_ground_state_energy": "physrnn.baselines",
    "reference_energy": "physrnn.baselines",
    "relative_error": "physrnn.metrics",
    "v_score": "physrnn.metrics",
    "valid_prediction_time": "physrnn.metrics",
    # configs and the jobs behind the command line
    "load_config": "physrnn.config",
    "VMCRunConfig": "physrnn.vmc",
    "load_vmc_config": "physrnn.vmc",
    "TrainRunConfig": "physrnn.train",
    "run_vmc_job": "physrnn.runs.vmc",
    "run_train_job": "physrnn.runs.train",
    "read_table_h5": "physrnn.runs.collect",
    "PhysrnnError": "physrnn.errors",
}

__all__ = ["__version__", *SUBMODULES, *LAZY_NAMES]


def __getattr__(name: str) -> Any:
    """Load a subpackage or a public name on first access (PEP 562)."""
    if name in SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in LAZY_NAMES:
        value = getattr(importlib.import_module(LAZY_NAMES[name]), name)
        globals()[name] = value  # later accesses skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
