"""What results are compared against: closed forms, exact diagonalisation, published numbers."""

from physrnn.baselines.quantum.analytic import (
    heisenberg_bethe_energy_per_site,
    tfim_chain_energy,
    tfim_infinite_chain_energy_per_site,
)
from physrnn.baselines.quantum.reference import Reference, reference_energy

__all__ = [
    "tfim_chain_energy",
    "tfim_infinite_chain_energy_per_site",
    "heisenberg_bethe_energy_per_site",
    "Reference",
    "reference_energy",
]


def __getattr__(name: str):
    # forecasting baselines pull in the reservoir and torch: load them only when asked for
    if name in ("BASELINES", "make_baseline"):
        from physrnn.baselines.forecast import predictors as forecast

        return getattr(forecast, name)
    raise AttributeError(f"module 'physrnn.baselines' has no attribute {name!r}")
