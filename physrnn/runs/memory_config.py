"""Config of a memory experiment (``physrnn memory``): :class:`MemoryRunConfig`.

One section, ``[memory]``: the task, the delays (time steps between what must be remembered
and the step where it is needed), the cells and their variants, and the training budget of
every run. ``physrnn memory`` builds it from its options; it is stored in full in the run's
``record.h5``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from physrnn.config import require

__all__ = ["MEMORY_CELLS", "MEMORY_VARIANTS", "MemoryConfig", "MemoryRunConfig"]

#: The recurrent cells a memory experiment compares.
MEMORY_CELLS = ("rnn", "lstm", "gru")  # the order of the table; all in physrnn.nn.CELLS
#: Variants of the plain tanh RNN (see :mod:`physrnn.runs.memory`).
MEMORY_VARIANTS = ("plain", "clip", "orthogonal", "identity")


@dataclass(frozen=True)
class MemoryConfig:
    """The ``[memory]`` section.

    Attributes:
        task: ``"adding"``, ``"recall"`` or ``"copy"`` (:mod:`physrnn.data.tasks`).
        delays: delays to train at, in time steps (each ``>= 1``).
        models: cells, from :data:`MEMORY_CELLS`.
        variants: from :data:`MEMORY_VARIANTS`; those other than ``"plain"`` apply to the tanh
            RNN only.
        seeds: training runs per (delay, cell, variant).
        steps: optimiser steps per run (batches of 64 fresh sequences).
        hidden: hidden units ``d_h`` of every cell.
        lr: Adam learning rate.
    """

    task: Literal["adding", "recall", "copy"] = "adding"
    delays: list[int] = field(default_factory=lambda: [10, 50, 100])
    models: list[str] = field(default_factory=lambda: ["rnn", "lstm", "gru"])
    variants: list[str] = field(default_factory=lambda: ["plain"])
    seeds: int = 1
    steps: int = 1000
    hidden: int = 64
    lr: float = 1e-3

    def __post_init__(self) -> None:
        require(bool(self.delays) and min(self.delays) >= 1, "delays",
                f"must be a non-empty list of integers >= 1, got {self.delays}")
        for m in self.models:
            require(m in MEMORY_CELLS, "models",
                    f"unknown cell {m!r}; choose {', '.join(MEMORY_CELLS)}")
        for v in self.variants:
            require(v in MEMORY_VARIANTS, "variants",
                    f"unknown variant {v!r}; choose {', '.join(MEMORY_VARIANTS)}")
        require(self.seeds >= 1, "seeds", f"must be >= 1, got {self.seeds}")
        require(self.steps >= 1, "steps", f"must be >= 1, got {self.steps}")


@dataclass(frozen=True)
class MemoryRunConfig:
    """Everything a ``physrnn memory`` run needs; stored in full in its record."""

    memory: MemoryConfig = field(default_factory=MemoryConfig)
