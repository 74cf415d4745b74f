"""Config of a quantum Monte Carlo run (``physrnn qmc``): :class:`QMCRunConfig`.

The ``[system]`` section is the one of ``physrnn vmc`` (:class:`physrnn.vmc.config.SystemConfig`):
the same file describes the Hamiltonian for both, so a VMC config can be handed to
``physrnn qmc`` with a ``[qmc]`` section added (or none: the defaults). ``[qmc]`` sets the beta
ladder of :func:`physrnn.baselines.quantum.qmc.qmc_ground_state`::

    [system]
    model = "heisenberg"
    lattice = "square"
    Lx = 10
    Ly = 10

    [qmc]
    beta_start = 2.0        # first inverse temperature (1 / energy unit)
    beta_max = 512.0        # the ladder stops here at the latest
    sweeps = 20000          # measured sweeps per rung (cut to fit budget_s)
    budget_s = 600.0        # wall-clock budget of the ladder (0 = none)
    agree = 2               # consecutive agreeing doublings that end it
    sigma = 2.0             # agreement within sigma combined error bars
    production_sweeps = 0   # then one long run at the converged beta (0 = none)

``[run]`` (seed) is shared with every run kind; the seed is QMC's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from physrnn.config import RunConfig, require
from physrnn.vmc.config import SystemConfig

__all__ = ["QMCConfig", "QMCRunConfig"]


@dataclass(frozen=True)
class QMCConfig:
    """The beta-doubling ladder (module doc).

    Attributes:
        beta_start, beta_max: first and largest inverse temperature (1 / energy unit).
        sweeps: measured sweeps per rung.
        thermalization: discarded sweeps per rung; 0 = ``sweeps // 10``.
        min_sweeps: fewest sweeps the budget may cut a rung to; 0 = ``min(2000, sweeps)``.
        production_sweeps: after convergence, one run with this many sweeps at the last beta
            gives the reported energy (0 = the last rung's).
        budget_s: wall-clock budget of the whole ladder in seconds; 0 = unlimited.
        agree: consecutive agreeing doublings that end the ladder.
        sigma: agreement threshold, in combined error bars.
        correlations: measure ``<Sz_i Sz_j>`` (magnetisations, record).
        cache: store the result in the on-disk QMC cache (reference energies of later runs).
    """

    beta_start: float = 2.0
    beta_max: float = 512.0
    sweeps: int = 20_000
    thermalization: int = 0
    min_sweeps: int = 0
    production_sweeps: int = 0
    budget_s: float = 0.0
    agree: int = 2
    sigma: float = 2.0
    correlations: bool = True
    cache: bool = True

    def __post_init__(self) -> None:
        require(self.beta_start > 0, "beta_start", f"must be > 0, got {self.beta_start}")
        require(self.beta_max >= self.beta_start, "beta_max",
                f"must be >= beta_start = {self.beta_start}, got {self.beta_max}")
        require(self.sweeps >= 100, "sweeps", f"must be >= 100, got {self.sweeps}")
        require(self.thermalization >= 0, "thermalization",
                f"must be >= 0, got {self.thermalization}")
        require(0 <= self.min_sweeps <= self.sweeps, "min_sweeps",
                f"must be between 0 (automatic) and sweeps = {self.sweeps}, got "
                f"{self.min_sweeps}")
        require(self.production_sweeps >= 0, "production_sweeps",
                f"must be >= 0, got {self.production_sweeps}")
        require(self.budget_s >= 0, "budget_s", f"must be >= 0 (0 = none), got {self.budget_s}")
        require(self.agree >= 1, "agree", f"must be >= 1, got {self.agree}")
        require(self.sigma > 0, "sigma", f"must be > 0, got {self.sigma}")


@dataclass(frozen=True)
class QMCRunConfig:
    """Everything a ``physrnn qmc`` run needs; stored in full in its record."""

    system: SystemConfig = field(default_factory=SystemConfig)
    qmc: QMCConfig = field(default_factory=QMCConfig)
    run: RunConfig = field(default_factory=RunConfig)
