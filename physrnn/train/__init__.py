"""The generic training loop for sequence models, see :mod:`physrnn.train.loop`."""

from physrnn.train.loop import HISTORY_KEYS, LOSSES, EpochRecord, RolloutSchedule, Trainer

__all__ = ["Trainer", "RolloutSchedule", "EpochRecord", "LOSSES", "HISTORY_KEYS"]
