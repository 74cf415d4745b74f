"""Trainable sequence models for time series, the forecaster contract, and diagnostics.

:mod:`physrnn.nn.diagnostics` measures why a recurrent model remembers or forgets: per-step
gradient norms, step-Jacobian spectra and their products, per-step weight-gradient
contributions, and a verdict (vanishing, exploding or healthy); its main functions are
re-exported here.
"""

from physrnn.nn.base import Forecaster
from physrnn.nn.diagnostics import (
    hidden_gradient_norms,
    jacobian_spectra,
    lyapunov_like_rates,
    per_step_weight_contributions,
    product_spectra,
    step_jacobians,
    verdict,
)
from physrnn.nn.recurrent import RecurrentForecaster, TorchForecaster, closed_loop
from physrnn.nn.reservoir import EchoStateNetwork

__all__ = [
    "Forecaster",
    "RecurrentForecaster",
    "TorchForecaster",
    "closed_loop",
    "EchoStateNetwork",
    "hidden_gradient_norms",
    "step_jacobians",
    "jacobian_spectra",
    "product_spectra",
    "lyapunov_like_rates",
    "per_step_weight_contributions",
    "verdict",
]
