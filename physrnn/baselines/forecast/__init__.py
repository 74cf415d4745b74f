"""Forecasting baselines: persistence, climatological mean, linear AR, reservoirs, NG-RC, SINDy."""

from physrnn.baselines.forecast.ngrc import NGRC
from physrnn.baselines.forecast.predictors import (
    BASELINES,
    ClimatologicalMean,
    ESNBaseline,
    LinearAR,
    Persistence,
    SINDyBaseline,
    make_baseline,
)
from physrnn.baselines.forecast.reservoirpy_peer import ReservoirpyESN
from physrnn.baselines.forecast.search import DEFAULT_SEARCH_SPACE, esn_search

__all__ = ["Persistence", "ClimatologicalMean", "LinearAR", "ESNBaseline", "SINDyBaseline",
           "NGRC", "ReservoirpyESN", "BASELINES", "make_baseline", "esn_search",
           "DEFAULT_SEARCH_SPACE"]
