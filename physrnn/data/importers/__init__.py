"""Import a recorded series (``.npy``, ``.npz``, CSV, foreign HDF5) as a physrnn dataset.

``physrnn data import FILE --out data.h5`` and :func:`import_series` read the states and the
times (a time array, a time column, or ``dt``), check them (rank, finite values, strictly
increasing and uniformly spaced times), name them, split them into train / val / test (whole
trajectories, or contiguous segments in time for a single long recording) and write the
``physrnn-dataset`` schema (:mod:`physrnn.data.hdf5`) with the provenance "imported from ...".
The options form an :class:`ImportSpec`, which a small TOML file can hold
(:func:`load_import_spec`).

* :mod:`~physrnn.data.importers.spec`: the spec and its strict TOML loader;
* :mod:`~physrnn.data.importers.formats`: reading each file format;
* :mod:`~physrnn.data.importers.series`: arranging, checking, splitting and writing.

    from physrnn.data import import_series, read_dataset
    import_series("pendulum.csv", "pendulum.h5", time_column="t", units=["rad", "rad/s"],
                  time_unit="s")
    data = read_dataset("pendulum.h5")
"""

from physrnn.data.importers.formats import FORMATS, RawSeries, read_raw
from physrnn.data.importers.series import (
    ImportedSeries,
    check_times,
    file_sha256,
    import_series,
    read_series,
    split_series,
)
from physrnn.data.importers.spec import (
    ImportSpec,
    MetaSpec,
    SourceSpec,
    SplitSpec,
    StatesSpec,
    TimeSpec,
    load_import_spec,
    resolve_import_spec,
)

__all__ = [
    "import_series",
    "read_series",
    "split_series",
    "check_times",
    "file_sha256",
    "ImportedSeries",
    "ImportSpec",
    "SourceSpec",
    "TimeSpec",
    "StatesSpec",
    "MetaSpec",
    "SplitSpec",
    "load_import_spec",
    "resolve_import_spec",
    "read_raw",
    "RawSeries",
    "FORMATS",
]
