"""Dataset cards: TOML recipes that turn a named system into a reproducible HDF5 dataset.

A card (see ``datasets/*.toml``) has four sections::

    [dataset]                 # what it is
    name = "lorenz63"
    description = "Lorenz-63 on the attractor, sigma=10, rho=28, beta=8/3"

    [system]                  # which registered system, with parameters
    name = "lorenz63"
    [system.params]
    rho = 28.0

    [simulation]              # how it is integrated (0 / "" = the system's default)
    n_traj = 64
    t_final = 100.0
    dt = 0.01
    transient = 50.0
    method = "DOP853"
    rtol = 1e-10
    atol = 1e-10
    seed = 0

    [splits]                  # by trajectory, never by time
    train = 0.8
    val = 0.1
    test = 0.1
    seed = 0

``physrnn data generate CARD --out FILE`` runs it; the card's text is stored in the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from physrnn.config import ConfigError, load_config, require, to_toml

__all__ = ["DatasetCard", "load_card", "generate_from_card", "simulate_card"]


@dataclass(frozen=True)
class CardInfo:
    """``[dataset]``: a name and a description with the physics written down."""

    name: str = ""
    description: str = ""


@dataclass(frozen=True)
class CardSystem:
    """``[system]``: a registered system name (``physrnn data systems``) and its parameters."""

    name: str = "lorenz63"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CardSimulation:
    """``[simulation]``: ensemble and integrator; ``0`` or ``""`` means the system default."""

    n_traj: int = 16
    t_final: float = 100.0
    dt: float = 0.0
    transient: float = -1.0
    method: str = ""
    rtol: float = 0.0
    atol: float = 0.0
    seed: int = 0
    dtype: Literal["float32", "float64"] = "float64"
    workers: int = 1

    def __post_init__(self) -> None:
        require(self.n_traj >= 1, "n_traj", f"must be >= 1, got {self.n_traj}")
        require(self.t_final > 0, "t_final", f"must be > 0, got {self.t_final}")
        require(self.dt >= 0, "dt", f"must be > 0 (or 0 for the default), got {self.dt}")
        require(self.rtol >= 0 and self.atol >= 0, "rtol", "tolerances must be >= 0")
        require(self.seed >= 0, "seed", f"must be >= 0, got {self.seed}")
        require(self.workers >= 0, "workers", f"must be >= 0 (0 = all cores), got "
                f"{self.workers}")


@dataclass(frozen=True)
class CardSplits:
    """``[splits]``: fractions of trajectories for train / val / test, and their seed."""

    train: float = 0.8
    val: float = 0.1
    test: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        fr = (self.train, self.val, self.test)
        require(all(f >= 0 for f in fr), "train", f"split fractions must be >= 0, got {fr}")
        require(abs(sum(fr) - 1.0) < 1e-9, "train", f"split fractions must sum to 1, got {fr}")
        require(self.train > 0, "train", "must be > 0: the normalisation is computed on the "
                f"train split, got {self.train}")
        require(self.seed >= 0, "seed", f"must be >= 0, got {self.seed}")


@dataclass(frozen=True)
class DatasetCard:
    """A complete dataset recipe."""

    dataset: CardInfo = field(default_factory=CardInfo)
    system: CardSystem = field(default_factory=CardSystem)
    simulation: CardSimulation = field(default_factory=CardSimulation)
    splits: CardSplits = field(default_factory=CardSplits)


def load_card(path: str | Path | None, *, overrides: list[str] | None = None) -> DatasetCard:
    """Load a dataset card strictly (unknown keys and wrong types name the key and file)."""
    return load_config(path, overrides=overrides, cls=DatasetCard)


#: Most state values a card may ask for (n_traj x n_t x n_state): 8e10 float64 are 640 GB.
MAX_VALUES = 8e10


def simulate_card(card: DatasetCard, *, progress: bool | None = None):
    """Run the simulation a card describes; returns a :class:`~physrnn.data.simulate.Simulation`."""
    from physrnn.data.simulate import simulate
    from physrnn.errors import SystemDefinitionError
    from physrnn.systems.base import get_system

    try:
        system = get_system(card.system.name, **card.system.params)
    except TypeError as exc:  # wrong parameter type inside the dataclass
        raise ConfigError(f"[system.params]: {exc}") from None
    except SystemDefinitionError as exc:
        raise ConfigError(f"[system]: {exc}") from None
    s = card.simulation
    info = system.info()
    dt = s.dt or float(info.default_dt)
    n_values = s.n_traj * (s.t_final / dt + 1) * max(1, len(info.state_names))
    if not n_values < MAX_VALUES:
        raise ConfigError(f"simulation.t_final = {s.t_final:g} with dt = {dt:g} and n_traj = "
                          f"{s.n_traj} would store {n_values:.3g} values (more than "
                          f"{MAX_VALUES:.0e}); shorten it or raise dt")
    return simulate(
        system, n_traj=s.n_traj, t_final=s.t_final, dt=s.dt or None,
        transient=None if s.transient < 0 else s.transient, method=s.method or None,
        rtol=s.rtol or None, atol=s.atol or None, seed=s.seed, workers=s.workers,
        progress=progress,
    )


def generate_from_card(
    card: DatasetCard,
    out: str | Path,
    *,
    overwrite: bool = False,
    progress: bool | None = None,
) -> Path:
    """Simulate a card and write the dataset file atomically (see :mod:`physrnn.data.hdf5`).

    Raises:
        OutputExistsError: ``out`` exists and ``overwrite`` is false (checked before simulating).
    """
    from physrnn.data.hdf5 import write_dataset
    from physrnn.errors import OutputExistsError

    out = Path(out)
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} already exists; pass --overwrite to replace it")
    sim = simulate_card(card, progress=progress)
    dtype = np.float32 if card.simulation.dtype == "float32" else np.float64
    meta = dict(sim.meta)
    meta["recipe"] = to_toml(card)
    meta["dataset_name"] = card.dataset.name or card.system.name
    meta["description"] = card.dataset.description
    sp = card.splits
    return write_dataset(out, t=sim.t, y=sim.y.astype(dtype), meta=meta,
                         observables=sim.observables, y0=sim.y0,
                         split_fractions=(sp.train, sp.val, sp.test), split_seed=sp.seed,
                         overwrite=overwrite)
