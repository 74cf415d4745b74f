"""Conserved quantities along a trajectory: how far a forecast lets an invariant drift."""

from __future__ import annotations

from typing import Any

import numpy as np

from physrnn.errors import NonFiniteError

__all__ = ["invariant_drift"]


def invariant_drift(values: Any, *, relative: bool = True) -> np.ndarray:
    """Largest departure of a conserved quantity from its initial value.

    ``max_t |I(t) - I(0)|``, divided by ``|I(0)|`` if ``relative`` (dimensionless; an
    ``I(0) = 0`` raises ValueError), else in the quantity's own units (energy, angular
    momentum, ...).

    Args:
        values: ``(batch, time)`` one invariant, or ``(batch, time, n_invariants)``.

    Returns:
        ``(batch,)``, or ``(batch, n_invariants)`` for 3-D input. NaN/inf in ``values`` raise.
    """
    v = np.asarray(values, dtype=float)
    if v.ndim not in (2, 3) or 0 in v.shape:
        raise ValueError(f"values must be (batch, time[, n_invariants]), got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise NonFiniteError(f"values has {np.count_nonzero(~np.isfinite(v))} non-finite entries")
    i0 = v[:, :1]
    drift = np.abs(v - i0).max(axis=1)
    if not relative:
        return drift
    if np.any(i0 == 0):
        raise ValueError("relative drift of an invariant whose initial value is 0 is undefined; "
                         "use relative=False")
    return drift / np.abs(i0[:, 0])
