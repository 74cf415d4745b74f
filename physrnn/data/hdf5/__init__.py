"""The versioned dataset file: schema, write (atomically), read, validate, describe.

The schema (layout, attributes, units) is written down in :mod:`physrnn.data.hdf5.schema`;
:mod:`~physrnn.data.hdf5.splits`, :mod:`~physrnn.data.hdf5.write`,
:mod:`~physrnn.data.hdf5.validate`, :mod:`~physrnn.data.hdf5.read` and
:mod:`~physrnn.data.hdf5.describe` build on it, in that order. Every public name is
re-exported here.
"""

from physrnn.data.hdf5.describe import describe_dataset
from physrnn.data.hdf5.read import TrajectoryData, read_dataset
from physrnn.data.hdf5.schema import (
    CHUNK_T,
    DATASET_FORMAT,
    DATASET_SCHEMA_VERSION,
    SCHEMA_ATTRS,
    SPLIT_NAMES,
    WRITER_ATTRS,
    Normalisation,
)
from physrnn.data.hdf5.splits import compute_normalisation, split_trajectories
from physrnn.data.hdf5.validate import check_dataset, validate_dataset
from physrnn.data.hdf5.write import write_dataset

__all__ = [
    "DATASET_FORMAT",
    "DATASET_SCHEMA_VERSION",
    "SPLIT_NAMES",
    "WRITER_ATTRS",
    "SCHEMA_ATTRS",
    "CHUNK_T",
    "Normalisation",
    "TrajectoryData",
    "write_dataset",
    "read_dataset",
    "validate_dataset",
    "check_dataset",
    "describe_dataset",
    "split_trajectories",
    "compute_normalisation",
]
