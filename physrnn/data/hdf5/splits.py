"""Splits by trajectory and the train-split normalisation of a ``physrnn-dataset`` file.

Schema in :mod:`physrnn.data.hdf5.schema`. Used by the writer (which draws the splits and
stores the normalisation) and by the validator (which checks stored splits and, with
``deep=True``, recomputes the normalisation).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from physrnn.data.hdf5.schema import SPLIT_NAMES, Normalisation

__all__ = ["split_trajectories", "split_problems", "compute_normalisation"]

log = logging.getLogger(__name__)


def split_trajectories(n_traj: int, fractions: Sequence[float] = (0.8, 0.1, 0.1), *,
                       seed: int = 0) -> dict[str, np.ndarray]:
    """Split trajectory indices ``0 .. n_traj-1`` into train / val / test, by trajectory.

    Counts: ``fractions * n_traj`` rounded by largest remainder; then every split with a
    positive fraction that came out empty takes one trajectory from the largest split that
    has more than one, in the order train, val, test. So with (0.8, 0.1, 0.1): n_traj = 1 is
    all train, 2 gives (1, 1, 0), 3 gives (1, 1, 1), 5 gives (3, 1, 1), 10 gives (8, 1, 1).
    A split left empty with a positive fraction is logged as a warning. Which trajectories go
    where is a permutation drawn from ``numpy.random.default_rng(seed)``; deterministic.

    Args:
        n_traj: number of trajectories (>= 1).
        fractions: (train, val, test), each >= 0, summing to 1, train > 0.
        seed: seed of the permutation.

    Returns:
        ``{"train", "val", "test"}`` -> sorted int64 index arrays, disjoint, covering all.

    Raises:
        ValueError: impossible fractions or ``n_traj < 1``.
    """
    if n_traj < 1:
        raise ValueError(f"n_traj must be >= 1, got {n_traj}")
    fr = np.asarray(fractions, dtype=np.float64)
    if fr.shape != (3,) or not np.all(np.isfinite(fr)) or np.any(fr < 0):
        raise ValueError(f"split_fractions must be three numbers >= 0 (train, val, test), "
                         f"got {tuple(fractions)}")
    if abs(fr.sum() - 1.0) > 1e-6:
        raise ValueError(f"split_fractions must sum to 1, got {tuple(fractions)} "
                         f"(sum {fr.sum():.6g})")
    if fr[0] <= 0:
        raise ValueError("the train fraction must be > 0: the normalisation is computed on the "
                         f"train split (got split_fractions = {tuple(fractions)})")
    exact = fr * n_traj
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    for k in order[: n_traj - counts.sum()]:
        counts[k] += 1
    for k in range(3):
        if fr[k] > 0 and counts[k] == 0:
            donor = int(np.argmax(counts))
            if counts[donor] > 1:
                counts[donor] -= 1
                counts[k] += 1
            else:
                log.warning("split %r is empty: %d trajectory(ies) cannot fill every split with "
                            "a positive fraction %s", SPLIT_NAMES[k], n_traj, tuple(fractions))
    perm = np.random.default_rng(seed).permutation(n_traj)
    edges = np.cumsum(counts)
    parts = np.split(perm, edges[:-1])
    return {name: np.sort(p).astype(np.int64) for name, p in zip(SPLIT_NAMES, parts, strict=True)}


def split_problems(splits: Mapping[str, Any], n_traj: int) -> list[str]:
    """List what is wrong with a set of splits (empty list: valid).

    Args:
        splits: ``{"train", "val", "test"}`` -> trajectory index arrays (all three present).
        n_traj: number of trajectories of the dataset.

    Returns:
        One message per problem: not 1-D integer, out of ``[0, n_traj)``, repeated indices,
        overlapping splits, empty train split.
    """
    problems = []
    seen: dict[int, str] = {}
    for name in SPLIT_NAMES:
        idx = np.asarray(splits[name])
        if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
            problems.append(f"split {name!r} must be a 1-D array of integer trajectory indices, "
                            f"got dtype {idx.dtype} shape {idx.shape}")
            continue
        out = idx[(idx < 0) | (idx >= n_traj)]
        if out.size:
            problems.append(f"split {name!r} has trajectory indices out of range [0, {n_traj}): "
                            f"{out[:10].tolist()}")
        uniq, counts = np.unique(idx, return_counts=True)
        if np.any(counts > 1):
            problems.append(f"split {name!r} repeats trajectory indices "
                            f"{uniq[counts > 1][:10].tolist()}")
        for i in uniq.tolist():
            if i in seen:
                problems.append(f"splits {seen[i]!r} and {name!r} overlap: trajectory {i} is in "
                                "both (splits must be disjoint)")
                break
        for i in uniq.tolist():
            seen.setdefault(i, name)
    if np.asarray(splits["train"]).size == 0:
        problems.append("split 'train' is empty (the normalisation needs train trajectories)")
    return problems


def compute_normalisation(y: Any, train: np.ndarray) -> Normalisation:
    """Mean and std (ddof = 0) per component of ``y[train]`` over trajectories and times.

    Accumulated in float64, one trajectory at a time (``y`` may be an h5py dataset).
    """
    train = np.asarray(train, dtype=np.int64)
    if train.size == 0:
        raise ValueError("cannot compute a normalisation on an empty train split")
    n_state = y.shape[2]
    n = train.size * y.shape[1]
    total = np.zeros(n_state)
    for i in train:
        total += np.asarray(y[int(i)]).sum(axis=0, dtype=np.float64)
    mean = total / n
    sq = np.zeros(n_state)
    for i in train:
        d = np.asarray(y[int(i)], dtype=np.float64) - mean
        sq += np.einsum("ij,ij->j", d, d)
    return Normalisation(mean=mean, std=np.sqrt(sq / n))

