"""Forecasting baselines: persistence, climatological mean, linear AR, reservoir, SINDy."""

from physrnn.baselines.forecast.predictors import (
    BASELINES,
    ClimatologicalMean,
    ESNBaseline,
    LinearAR,
    Persistence,
    SINDyBaseline,
    make_baseline,
)

__all__ = ["Persistence", "ClimatologicalMean", "LinearAR", "ESNBaseline", "SINDyBaseline",
           "BASELINES", "make_baseline"]
