"""Torch datasets of forecasting windows cut from a physrnn dataset file, and their loaders.

A window is ``context + horizon`` consecutive time steps of ONE trajectory of one split
(splits are by trajectory, see :mod:`physrnn.data.hdf5`); windows never cross trajectories.
Item ``i`` of a :class:`WindowDataset` is ``(context_window, target_window)`` with shapes
``(context, n_state)`` and ``(horizon, n_state)``, normalised with the statistics of the train
split stored in the file (``(y - mean) / scale``).

Reading is lazy: the dataset stores the file's path and opens it on the first
``__getitem__`` in each process (and again after a ``fork``, detected by a changed process id),
reading only the slice ``y[traj, start:start + context + horizon]``. So it works with
``DataLoader(num_workers > 0)`` under both ``fork`` and ``spawn`` and never loads the file.

    loaders = make_loaders("lorenz63.h5", context=100, horizon=20, batch_size=64, seed=0)
    for x, y in loaders["train"]:    # x: (batch, 100, n_state), y: (batch, 20, n_state)
        ...
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from physrnn.data.hdf5 import SPLIT_NAMES, TrajectoryData, read_dataset

__all__ = ["WindowDataset", "make_loaders"]

log = logging.getLogger(__name__)

_CHUNK_CACHE_BYTES = 16 << 20


class WindowDataset(Dataset):
    """Forecasting windows inside the trajectories of one split.

    The windows of trajectory ``traj`` start at ``0, stride, 2 stride, ...`` with
    ``start + context + horizon <= n_t``; trajectories are taken in increasing index order, so
    item ``i`` is window ``i % n_windows_per_traj`` of the ``i // n_windows_per_traj``-th
    trajectory of the split (:meth:`index` returns ``(traj, start)``).

    Args:
        path_or_data: a dataset file (read lazily, per process) or a :class:`TrajectoryData`;
            loaded data is indexed in memory, lazy data is reopened from its ``path``.
        split: ``"train"``, ``"val"`` or ``"test"``.
        context: length of the input window (time steps, >= 1).
        horizon: length of the target window that follows it (time steps, >= 1).
        stride: step between consecutive window starts (>= 1).
        normalise: map states to ``(y - mean) / scale`` with the stored train-split statistics
            (``scale`` is ``std`` with zeros replaced by 1); :meth:`denormalise` inverts it.
        dtype: torch dtype of the returned tensors.

    Raises:
        RecordError: the file is missing or invalid.
        ValueError: unknown or empty split, non-positive sizes, or ``context + horizon`` longer
            than a trajectory.
    """

    def __init__(
        self,
        path_or_data: str | os.PathLike[str] | TrajectoryData,
        *,
        split: str = "train",
        context: int,
        horizon: int,
        stride: int = 1,
        normalise: bool = True,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if isinstance(path_or_data, TrajectoryData):
            data = path_or_data
            if data.lazy and data.path is None:  # pragma: no cover - read_dataset sets path
                raise ValueError("lazy TrajectoryData without a path cannot be reopened")
            self._memory = None if data.lazy else np.asarray(data.y)
            self.path = data.path
            n_traj, n_t, n_state = data.n_traj, data.n_t, data.n_state
        else:
            self.path = Path(path_or_data)
            # t, splits, normalisation and meta are read eagerly; y stays on disk
            with read_dataset(self.path, load=False) as data:
                n_traj, n_t, n_state = data.n_traj, data.n_t, data.n_state
            self._memory = None
        for name, v in (("context", context), ("horizon", horizon), ("stride", stride)):
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if split not in SPLIT_NAMES:
            raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLIT_NAMES)}")
        where = f" of {self.path}" if self.path is not None else ""
        self.traj_ids = np.asarray(data.splits[split], dtype=np.int64)
        if self.traj_ids.size == 0:
            sizes = ", ".join(f"{k} {len(v)}" for k, v in data.splits.items())
            raise ValueError(f"split {split!r}{where} has no trajectories (n_traj = "
                             f"{n_traj}; split sizes: {sizes})")
        self.split = split
        self.context = int(context)
        self.horizon = int(horizon)
        self.stride = int(stride)
        self.window = self.context + self.horizon
        self.n_t = int(n_t)
        self.n_state = int(n_state)
        self.t = np.asarray(data.t)
        if self.window > self.n_t:
            raise ValueError(
                f"context + horizon = {self.context} + {self.horizon} = {self.window} time "
                f"steps exceed the trajectory length n_t = {self.n_t}{where} "
                f"(t = {self.t[0]:.6g} .. {self.t[-1]:.6g}); shorten the windows")
        self.n_windows_per_traj = (self.n_t - self.window) // self.stride + 1
        self.normalise = bool(normalise)
        self.dtype = dtype
        self.mean = np.asarray(data.normalisation.mean, dtype=np.float64)
        self.scale = np.asarray(data.normalisation.scale, dtype=np.float64)
        self.state_names = tuple(data.meta.get("state_names", ()))
        self._file: Any = None
        self._y: Any = None
        self._pid: int | None = None

    # ------------------------------------------------------------------ indexing
    def __len__(self) -> int:
        return int(self.traj_ids.size * self.n_windows_per_traj)

    def index(self, i: int) -> tuple[int, int]:
        """``(trajectory index in the file, start time index)`` of item ``i``."""
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"window {i} out of range for {n} windows")
        k, w = divmod(int(i), self.n_windows_per_traj)
        return int(self.traj_ids[k]), w * self.stride

    def window_times(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Times ``(context,)`` and ``(horizon,)`` of item ``i`` (file time units)."""
        _, start = self.index(i)
        t = self.t[start: start + self.window]
        return t[: self.context], t[self.context:]

    # ------------------------------------------------------------------ reading
    def _states(self) -> Any:
        """The ``y`` array: in memory, or this process's own lazily opened HDF5 dataset."""
        if self._memory is not None:
            return self._memory
        pid = os.getpid()
        if self._y is None or self._pid != pid:
            # After a fork the inherited handle belongs to the parent: never use (or close) it
            # here, open a fresh one for this process.
            import h5py

            self._file = h5py.File(self.path, "r", rdcc_nbytes=_CHUNK_CACHE_BYTES)
            self._y = self._file["y"]
            self._pid = pid
        return self._y

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        traj, start = self.index(i)
        block = np.asarray(self._states()[traj, start: start + self.window, :])
        if self.normalise:
            block = (block.astype(np.float64) - self.mean) / self.scale
        x = torch.as_tensor(block, dtype=self.dtype)
        return x[: self.context].clone(), x[self.context:].clone()

    def denormalise(self, z: torch.Tensor) -> torch.Tensor:
        """Map normalised states ``(..., n_state)`` back to state units (``z * scale + mean``).

        Keeps ``z``'s dtype and device; the identity when ``normalise=False``.
        """
        if not self.normalise:
            return z
        scale = torch.as_tensor(self.scale, dtype=z.dtype, device=z.device)
        mean = torch.as_tensor(self.mean, dtype=z.dtype, device=z.device)
        return z * scale + mean

    def close(self) -> None:
        """Close this process's file handle (it is reopened on the next item)."""
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = self._y = self._pid = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_file"] = state["_y"] = state["_pid"] = None  # handles do not travel
        return state

    def __repr__(self) -> str:
        return (f"WindowDataset({self.path}, split={self.split!r}, context={self.context}, "
                f"horizon={self.horizon}, stride={self.stride}, {len(self)} windows from "
                f"{self.traj_ids.size} trajectories)")


def make_loaders(
    path: str | os.PathLike[str],
    *,
    context: int,
    horizon: int,
    stride: int = 1,
    batch_size: int = 64,
    num_workers: int = 0,
    seed: int = 0,
    normalise: bool = True,
    dtype: torch.dtype = torch.float32,
) -> dict[str, DataLoader]:
    """Data loaders of :class:`WindowDataset` for every non-empty split of a dataset file.

    The train loader shuffles with its own ``torch.Generator`` seeded by ``seed``; val and test
    keep their order. Each loader has its own seeded generator (which also seeds the workers),
    so the global RNG is never touched. Workers stay alive between epochs
    (``persistent_workers``) so each opens the file once. A split that is empty in the file
    (e.g. with fewer than 3 trajectories) gets no loader, with a logged warning.

    Returns:
        ``{"train": DataLoader, "val": ..., "test": ...}`` (only non-empty splits).
    """
    path = Path(path)
    with read_dataset(path, load=False) as data:
        sizes = {k: int(v.size) for k, v in data.splits.items()}
    loaders: dict[str, DataLoader] = {}
    for k, name in enumerate(SPLIT_NAMES):
        if sizes[name] == 0:
            log.warning("%s: split %r is empty; no %s loader", path, name, name)
            continue
        ds = WindowDataset(path, split=name, context=context, horizon=horizon, stride=stride,
                           normalise=normalise, dtype=dtype)
        gen = torch.Generator()
        gen.manual_seed(int(seed) + k)
        # workers are spawned, not forked: forking a process that holds JAX, torch or BLAS
        # threads can deadlock (each worker opens the file itself, see WindowDataset)
        loaders[name] = DataLoader(ds, batch_size=batch_size, shuffle=name == "train",
                                   num_workers=num_workers, generator=gen,
                                   persistent_workers=num_workers > 0,
                                   multiprocessing_context="spawn" if num_workers > 0 else None)
    return loaders
