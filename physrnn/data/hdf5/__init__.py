"""The versioned dataset file: schema, write (atomically), read, validate, describe."""

from physrnn.data.hdf5.file import (
    DATASET_FORMAT,
    DATASET_SCHEMA_VERSION,
    SPLIT_NAMES,
    WRITER_ATTRS,
    Normalisation,
    TrajectoryData,
    check_dataset,
    compute_normalisation,
    describe_dataset,
    read_dataset,
    split_trajectories,
    validate_dataset,
    write_dataset,
)

__all__ = [
    "DATASET_FORMAT",
    "DATASET_SCHEMA_VERSION",
    "SPLIT_NAMES",
    "WRITER_ATTRS",
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
