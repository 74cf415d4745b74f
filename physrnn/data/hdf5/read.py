"""Read a ``physrnn-dataset`` file (schema in :mod:`physrnn.data.hdf5.schema`).

:func:`read_dataset` validates the file first (:func:`~physrnn.data.hdf5.validate.check_dataset`)
and returns a :class:`TrajectoryData`, in memory or as lazy HDF5 handles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from physrnn.data.hdf5.schema import (
    SPLIT_NAMES,
    Normalisation,
    first_nonfinite,
    read_meta,
    walk_datasets,
)
from physrnn.data.hdf5.validate import check_dataset
from physrnn.errors import RecordError

__all__ = ["TrajectoryData", "read_dataset"]


@dataclass(frozen=True, eq=False)
class TrajectoryData:
    """A dataset read by :func:`read_dataset`.

    Attributes:
        t: ``(n_t,)`` float64 times (``meta["time_unit"]``).
        y: ``(n_traj, n_t, n_state)`` states: a numpy array, or with ``load=False`` a lazy
            :class:`h5py.Dataset` (slice it to read; valid until :meth:`close`).
        meta: every root attribute (``params`` parsed into a dict, string lists as tuples).
        splits: ``{"train", "val", "test"}`` -> sorted int64 trajectory indices.
        normalisation: train-split :class:`Normalisation`.
        observables: name -> ``(n_traj, n_t, ...)`` array (or lazy dataset).
        y0: ``(n_traj, ...)`` initial conditions, or ``None``.
        path: the file it was read from.
    """

    t: np.ndarray
    y: Any
    meta: dict[str, Any]
    splits: dict[str, np.ndarray]
    normalisation: Normalisation
    observables: dict[str, Any] = field(default_factory=dict)
    y0: Any = None
    path: Path | None = None
    _file: Any = field(default=None, repr=False)

    @property
    def n_traj(self) -> int:
        return int(self.y.shape[0])

    @property
    def n_t(self) -> int:
        return int(self.y.shape[1])

    @property
    def n_state(self) -> int:
        return int(self.y.shape[2])

    @property
    def lazy(self) -> bool:
        """Whether ``y`` is an open HDF5 dataset rather than an array in memory."""
        return isinstance(self.y, h5py.Dataset)

    def close(self) -> None:
        """Close the file behind a lazy dataset (no-op for loaded data)."""
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> TrajectoryData:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_dataset(path: str | Path, *, load: bool = True) -> TrajectoryData:
    """Validate and read a dataset file.

    Args:
        path: the ``.h5`` file.
        load: read ``y``, the observables and ``y0`` into memory; with ``False`` they are lazy
            :class:`h5py.Dataset` handles (slice them to read) and the file stays open until
            :meth:`TrajectoryData.close` (or use the result as a context manager). Lazy handles
            must not be used across a ``fork``; :class:`physrnn.data.datasets.WindowDataset`
            reopens the file in each worker instead.

    Raises:
        RecordError: the file is missing, foreign, damaged or invalid (see
            :func:`validate_dataset`); with ``load=True`` also a NaN or infinity in ``/y``
            (named by trajectory and time index).
    """
    path = Path(path)
    check_dataset(path)
    f = h5py.File(path, "r")
    try:
        meta = read_meta(f)
        t = f["t"][()]
        splits = {k: f["splits"][k][()].astype(np.int64) for k in SPLIT_NAMES}
        norm = Normalisation(mean=f["normalisation/mean"][()], std=f["normalisation/std"][()])
        obs = walk_datasets(f["observables"]) if "observables" in f else {}
        y0 = f.get("y0")
        if load:
            y_all = f["y"][()]
            msg = first_nonfinite(y_all, "'/y'", t, meta.get("state_names"))
            if msg:  # the schema never holds NaN/inf: the file was altered after writing
                raise RecordError(f"{path}: {msg}; the schema forbids non-finite states")
            data = TrajectoryData(t=t, y=y_all, meta=meta, splits=splits,
                                  normalisation=norm,
                                  observables={k: d[()] for k, d in obs.items()},
                                  y0=None if y0 is None else y0[()], path=path)
            f.close()
            return data
        return TrajectoryData(t=t, y=f["y"], meta=meta, splits=splits, normalisation=norm,
                              observables=obs, y0=y0, path=path, _file=f)
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        f.close()
        raise RecordError(f"{path}: the file is damaged (truncated or corrupted?): reading it "
                          f"failed with {type(exc).__name__}: {exc}") from None
    except BaseException:
        f.close()
        raise

