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

__all__ = ["Forecaster"]


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
