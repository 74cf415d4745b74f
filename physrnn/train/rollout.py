"""Closed-loop rollout lengths per epoch: :class:`RolloutSchedule` and its checks.

A rollout schedule maps an epoch (0-based) to the rollout length ``k`` of that epoch's training
objective (0: teacher forcing), see :mod:`physrnn.train.loop`. The trainer accepts ``None``
(teacher forcing throughout), an ``int`` (a constant length), a :class:`RolloutSchedule` or any
callable ``epoch -> k``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["RolloutSchedule", "check_rollout_schedule", "rollout_length"]


@dataclass(frozen=True)
class RolloutSchedule:
    """Rollout length per epoch: teacher forcing, then a linear ramp from ``k_min`` to ``k_max``.

    Epochs are counted from 0. Before ``start_epoch`` the length is 0 (teacher forcing); from
    ``start_epoch`` to ``end_epoch`` it grows linearly (rounded) from ``k_min`` to ``k_max``;
    from ``end_epoch`` on it is ``k_max``. ``RolloutSchedule(0, 0, k_max=k)`` is a constant
    rollout of length ``k``; ``RolloutSchedule(5, 20, k_max=10)`` trains 5 epochs with teacher
    forcing, then ramps from 1 to 10 steps by epoch 20.
    """

    start_epoch: int
    end_epoch: int
    k_min: int = field(default=1, kw_only=True)
    k_max: int = field(kw_only=True)

    def __post_init__(self) -> None:
        if not 0 <= self.start_epoch <= self.end_epoch:
            raise ValueError(f"need 0 <= start_epoch <= end_epoch, got {self.start_epoch}, "
                             f"{self.end_epoch}")
        if not 1 <= self.k_min <= self.k_max:
            raise ValueError(f"need 1 <= k_min <= k_max, got {self.k_min}, {self.k_max}")

    def __call__(self, epoch: int) -> int:
        if epoch < self.start_epoch:
            return 0
        if epoch >= self.end_epoch:
            return self.k_max
        frac = (epoch - self.start_epoch) / (self.end_epoch - self.start_epoch)
        return int(round(self.k_min + frac * (self.k_max - self.k_min)))


def check_rollout_schedule(schedule: Any) -> None:
    """Raise if ``schedule`` is not ``None``, an ``int >= 0`` or a callable.

    Raises:
        TypeError: a bool, or neither an int nor a callable.
        ValueError: a negative int.
    """
    if isinstance(schedule, bool):
        raise TypeError("rollout_schedule must be None, an int, a RolloutSchedule or a "
                        "callable, got a bool")
    if isinstance(schedule, int | np.integer):
        if schedule < 0:
            raise ValueError(f"rollout length must be >= 0, got {schedule}")
    elif schedule is not None and not callable(schedule):
        raise TypeError("rollout_schedule must be None, an int, a RolloutSchedule or a "
                        f"callable, got {type(schedule).__name__}")


def rollout_length(schedule: int | Callable[[int], int] | None, epoch: int) -> int:
    """Rollout length ``k`` of epoch ``epoch`` (0-based; 0 = teacher forcing) under ``schedule``.

    Raises:
        ValueError: the schedule gave something other than an integer ``>= 0``.
    """
    if schedule is None:
        return 0
    if isinstance(schedule, int | np.integer):
        return int(schedule)
    k = schedule(epoch)
    if isinstance(k, bool) or int(k) != k or k < 0:
        raise ValueError(f"rollout schedule gave {k!r} for epoch {epoch}; need an integer "
                         ">= 0")
    return int(k)
