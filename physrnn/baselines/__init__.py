"""What results are compared against.

* :mod:`physrnn.baselines.quantum`: closed forms, exact diagonalisation, published numbers
  (its names are re-exported here).
* :mod:`physrnn.baselines.forecast`: persistence, climatological mean, linear AR, reservoir,
  SINDy; they pull in the reservoir and torch, so they load on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

from physrnn.baselines.quantum import (
    PUBLISHED,
    Reference,
    exact_ground_state,
    exact_ground_state_energy,
    heisenberg_bethe_energy_per_site,
    reference_energy,
    tfim_chain_energy,
    tfim_infinite_chain_energy_per_site,
)

#: Forecasting baselines, loaded from :mod:`physrnn.baselines.forecast` on first access.
FORECAST_NAMES = ("Persistence", "ClimatologicalMean", "LinearAR", "ESNBaseline",
                  "SINDyBaseline", "BASELINES", "make_baseline")

__all__ = [
    "quantum",
    "forecast",
    "tfim_chain_energy",
    "tfim_infinite_chain_energy_per_site",
    "heisenberg_bethe_energy_per_site",
    "exact_ground_state",
    "exact_ground_state_energy",
    "Reference",
    "reference_energy",
    "PUBLISHED",
    *FORECAST_NAMES,
]


def __getattr__(name: str) -> Any:
    if name == "forecast":
        return importlib.import_module(f"{__name__}.forecast")
    if name in FORECAST_NAMES:
        return getattr(importlib.import_module(f"{__name__}.forecast"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
