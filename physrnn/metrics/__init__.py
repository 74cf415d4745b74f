"""Metrics in physical units, each compared against an independent answer.

* :mod:`physrnn.metrics.quantum`: relative error, fidelity, V-score.
* :mod:`physrnn.metrics.forecast`: NRMSE versus lead time, valid prediction time in Lyapunov
  times, invariant-measure and power-spectrum distances, invariant drift, the OU bound.
* :mod:`physrnn.metrics.invariants`: the drift of a conserved quantity.
* :mod:`physrnn.metrics.lyapunov`: the largest Lyapunov exponent (Benettin).
* :mod:`physrnn.metrics.autocorrelation`: integrated autocorrelation time (Geyer, Sokal) and
  split R-hat of Markov chains.

Nothing here imports torch, netket or the VMC driver.
"""

from physrnn.metrics.autocorrelation import (
    chain_statistics,
    integrated_autocorrelation_time,
    split_rhat,
)
from physrnn.metrics.forecast import (
    invariant_measure_distance,
    lead_times,
    nrmse,
    nrmse_at,
    nrmse_curve,
    ou_forecast_efficiency,
    ou_optimal_nrmse,
    power_spectrum_distance,
    summarise_vpt,
    truth_floor,
    valid_prediction_time,
    valid_steps,
    wasserstein_per_component,
)
from physrnn.metrics.invariants import invariant_drift
from physrnn.metrics.lyapunov import largest_lyapunov_exponent
from physrnn.metrics.quantum import fidelity, relative_error, v_score

__all__ = [
    "relative_error",
    "fidelity",
    "v_score",
    "largest_lyapunov_exponent",
    "lead_times",
    "nrmse",
    "nrmse_curve",
    "nrmse_at",
    "valid_prediction_time",
    "summarise_vpt",
    "valid_steps",
    "wasserstein_per_component",
    "invariant_measure_distance",
    "power_spectrum_distance",
    "truth_floor",
    "invariant_drift",
    "ou_optimal_nrmse",
    "ou_forecast_efficiency",
    "integrated_autocorrelation_time",
    "split_rhat",
    "chain_statistics",
]
