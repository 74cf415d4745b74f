"""Everything between a simulation and a torch batch.

* :mod:`physrnn.data.simulate`: integrate a system into arrays (the function is
  ``physrnn.simulate``; :class:`Simulation` is what it returns).
* :mod:`physrnn.data.hdf5`: the versioned dataset file (write atomically, read, validate).
* :mod:`physrnn.data.datasets`: torch windows and loaders (imports torch).
* :mod:`physrnn.data.cards`: dataset cards, TOML recipes with the physics written down.
* :mod:`physrnn.data.tasks`: memory tasks (adding, copy, delayed recall, heavy particle).
* :mod:`physrnn.data.importers`: recorded series (``.npy``, ``.npz``, CSV, HDF5) into the
  dataset schema (``physrnn data import``).

Only the HDF5 names are imported with the package; the others (and torch) load on first
access, so ``import physrnn.data`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from physrnn.data.hdf5 import (
    DATASET_FORMAT,
    DATASET_SCHEMA_VERSION,
    Normalisation,
    TrajectoryData,
    check_dataset,
    describe_dataset,
    read_dataset,
    split_trajectories,
    validate_dataset,
    write_dataset,
)

#: Public name -> the submodule of :mod:`physrnn.data` it is loaded from on first access.
LAZY_NAMES: dict[str, str] = {
    "Simulation": "simulate",
    "SimulationError": "simulate",
    "integrate_trajectory": "simulate",
    "WindowDataset": "datasets",
    "make_loaders": "datasets",
    "DatasetCard": "cards",
    "load_card": "cards",
    "generate_from_card": "cards",
    "simulate_card": "cards",
    "import_series": "importers",
    "read_series": "importers",
    "ImportSpec": "importers",
    "load_import_spec": "importers",
    "MemoryTask": "tasks",
    "AddingTask": "tasks",
    "CopyTask": "tasks",
    "DelayedRecallTask": "tasks",
    "HeavyParticleTask": "tasks",
    "TASKS": "tasks",
    "make_task": "tasks",
}

__all__ = [
    "DATASET_FORMAT",
    "DATASET_SCHEMA_VERSION",
    "Normalisation",
    "TrajectoryData",
    "check_dataset",
    "describe_dataset",
    "read_dataset",
    "split_trajectories",
    "validate_dataset",
    "write_dataset",
    *LAZY_NAMES,
]


def __getattr__(name: str) -> Any:
    if name in LAZY_NAMES:
        module = importlib.import_module(f"{__name__}.{LAZY_NAMES[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
