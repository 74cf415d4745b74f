"""The generic training loop for sequence models, see :mod:`physrnn.train.loop`.

Also here: the run config sections of ``physrnn train`` (:class:`TrainRunConfig`), the
least-squares read-out refit (:func:`select_readout`), forecast scoring on test windows
(:func:`evaluate_forecasters`) and data-parallel training (:func:`make_data_parallel`).
"""

from physrnn.train.config import (
    DataConfig,
    EvalConfig,
    ModelConfig,
    ReadoutConfig,
    TrainConfig,
    TrainRunConfig,
)
from physrnn.train.evaluate import ForecastWindows, evaluate_forecasters, forecast_windows
from physrnn.train.loop import HISTORY_KEYS, LOSSES, EpochRecord, RolloutSchedule, Trainer
from physrnn.train.parallel import DataParallel, make_data_parallel
from physrnn.train.readout import ReadoutFit, fit_readout, select_readout

__all__ = [
    "Trainer",
    "RolloutSchedule",
    "EpochRecord",
    "LOSSES",
    "HISTORY_KEYS",
    "DataConfig",
    "ModelConfig",
    "TrainConfig",
    "ReadoutConfig",
    "EvalConfig",
    "TrainRunConfig",
    "ReadoutFit",
    "fit_readout",
    "select_readout",
    "ForecastWindows",
    "forecast_windows",
    "evaluate_forecasters",
    "DataParallel",
    "make_data_parallel",
]
