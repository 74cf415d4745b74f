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
from physrnn.baselines.forecast.search import DEFAULT_SEARCH_SPACE, esn_search

__all__ = ["Persistence", "ClimatologicalMean", "LinearAR", "ESNBaseline", "SINDyBaseline",
           "BASELINES", "make_baseline", "esn_search", "DEFAULT_SEARCH_SPACE"]
