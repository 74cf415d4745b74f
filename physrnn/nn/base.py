"""The forecaster contract shared by trained models and baselines.

Everything that forecasts a time series in physrnn (an RNN, the echo-state network, persistence,
linear autoregression, SINDy) implements :class:`Forecaster`, so one evaluation scores them all
on the same splits with the same metrics.

Arrays are ``(batch, time, feature)`` float64 numpy arrays in the dataset's **normalised**
coordinates (``(y - mean) / std`` with the training-split statistics).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Forecaster", "check_series", "check_n_steps"]


@runtime_checkable
class Forecaster(Protocol):
    """Fit on training trajectories, then forecast in closed loop from a context window."""

    name: str

    def fit(self, train: np.ndarray, val: np.ndarray | None = None) -> Forecaster:
        """Fit on ``train`` ``(n_traj, n_t, n_state)``; ``val`` (same layout) for model selection.

        Returns ``self``.
        """
        ...

    def forecast(self, context: np.ndarray, n_steps: int) -> np.ndarray:
        """Closed-loop forecast.

        Args:
            context: ``(batch, n_context, n_state)`` observed history; the forecast continues
                after its last point.
            n_steps: number of future steps.

        Returns:
            ``(batch, n_steps, n_state)``: predictions of the next ``n_steps`` points.
        """
        ...


def check_series(x: np.ndarray, *, what: str, owner: str, n_state: int | None = None,
                 min_len: int = 1, min_len_reason: str = "") -> np.ndarray:
    """Return ``x`` as float64 ``(batch, time, n_state)`` or raise a ValueError naming it.

    Args:
        what: the argument's name (``"train"``, ``"context"``) for the message.
        owner: the model's name for the message.
        n_state: required number of state components (the fitted one), if known.
        min_len: minimum number of time steps, with ``min_len_reason`` explaining why.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(
            f"{owner}: {what} must be (batch, time, n_state), got an array of shape {x.shape}"
        )
    if x.shape[0] < 1:
        raise ValueError(f"{owner}: {what} is empty (batch size 0)")
    if n_state is not None and x.shape[2] != n_state:
        raise ValueError(
            f"{owner}: {what} has n_state={x.shape[2]} but the model was fitted with "
            f"n_state={n_state}"
        )
    if x.shape[1] < min_len:
        raise ValueError(
            f"{owner}: {what} has {x.shape[1]} time steps, at least {min_len} are needed"
            + (f" ({min_len_reason})" if min_len_reason else "")
        )
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{owner}: {what} contains NaN or infinite values")
    return x


def check_n_steps(n_steps: int, owner: str) -> int:
    """Validate a forecast length (an int >= 0) and return it as ``int``."""
    if isinstance(n_steps, bool) or int(n_steps) != n_steps or n_steps < 0:
        raise ValueError(f"{owner}: n_steps must be an int >= 0, got {n_steps!r}")
    return int(n_steps)
