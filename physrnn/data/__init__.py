"""Everything between a simulation and a torch batch.

* :mod:`physrnn.data.simulate`: integrate a system into arrays.
* :mod:`physrnn.data.hdf5.file`: the versioned dataset file (write atomically, read, validate).
* :mod:`physrnn.data.datasets`: torch windows and loaders (imports torch; loaded lazily here).
"""

from __future__ import annotations

from typing import Any

from physrnn.data.hdf5.file import (
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
    "WindowDataset",
    "make_loaders",
]


def __getattr__(name: str) -> Any:
    if name in ("WindowDataset", "make_loaders"):
        from physrnn.data import datasets

        return getattr(datasets, name)
    raise AttributeError(f"module 'physrnn.data' has no attribute {name!r}")
