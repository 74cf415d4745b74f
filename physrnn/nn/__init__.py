"""Trainable sequence models for time series, and the forecaster contract."""

from physrnn.nn.base import Forecaster
from physrnn.nn.recurrent import RecurrentForecaster, TorchForecaster
from physrnn.nn.reservoir import EchoStateNetwork, esn_search

__all__ = ["Forecaster", "RecurrentForecaster", "TorchForecaster", "EchoStateNetwork",
           "esn_search"]
