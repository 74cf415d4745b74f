"""What a :class:`~physrnn.train.loop.Trainer` carries between epochs: the per-epoch record,
the history, and its private torch RNG streams.

Exact resume rests on :class:`PrivateRNG`: the torch RNG stream used by dropout and by loaders
without a generator is a state owned by the trainer, swapped in around each epoch (the global
RNG is untouched) and checkpointed with the rest of the trainer's state.
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from physrnn.checkpoints import check_state_shapes, load_checkpoint
from physrnn.errors import RecordError
from physrnn.seeding import derive_seed

__all__ = ["HISTORY_KEYS", "EpochRecord", "PrivateRNG", "history_arrays", "initial_rng_state",
           "load_trainer_state", "read_trainer_checkpoint", "trainer_settings",
           "trainer_state_dict"]

HISTORY_KEYS = ("epoch", "train_loss", "val_loss", "lr", "grad_norm", "grad_norm_max",
                "rollout_k", "time_s")
#: History keys stored as integers.
INT_KEYS = ("epoch", "rollout_k")


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch measured.

    ``epoch`` counts completed epochs (1-based); ``train_loss`` is the batch-size-weighted mean
    of the training objective over the epoch (teacher forcing if ``rollout_k == 0``, else the
    rollout loss of length ``rollout_k``); ``val_loss`` the validation metric after the epoch
    (NaN without a validation loader); ``lr`` the learning rate during the epoch (first
    parameter group); ``grad_norm``/``grad_norm_max`` the mean/max over batches of the total
    gradient 2-norm *before* clipping; ``time_s`` the wall time since training began.
    """

    epoch: int
    train_loss: float
    val_loss: float
    lr: float
    grad_norm: float
    grad_norm_max: float
    rollout_k: int
    time_s: float


def history_arrays(history: Sequence[EpochRecord]) -> dict[str, np.ndarray]:
    """History as ``{key: (n_epochs,) array}`` with keys :data:`HISTORY_KEYS` (int64 for
    ``epoch`` and ``rollout_k``, float64 otherwise)."""
    rows = [asdict(r) for r in history]
    return {k: np.asarray([r[k] for r in rows],
                          dtype=np.int64 if k in INT_KEYS else np.float64)
            for k in HISTORY_KEYS}


def initial_rng_state(seed: int) -> torch.Tensor:
    """The CPU torch RNG state a trainer with ``seed`` starts from: a generator seeded with
    ``derive_seed(seed, 0)`` (:mod:`physrnn.seeding`); a ``uint8`` CPU tensor."""
    g = torch.Generator()
    g.manual_seed(derive_seed(seed, 0))
    return g.get_state()


class PrivateRNG:
    """A trainer's own torch RNG streams, swapped in around a block of work.

    Attributes:
        cpu_state: the CPU stream's state (``uint8`` CPU tensor), at first
            :func:`initial_rng_state` ``(seed)``.
        cuda_state: the CUDA stream's state on a CUDA device, ``None`` until the first block
            (then that device's generator is seeded with ``derive_seed(seed, 2)``).
        active: true inside :meth:`fork`.

    Args:
        seed: the trainer's seed.
        device: the trainer's device (a CUDA device also gets a CUDA stream).
    """

    def __init__(self, seed: int, device: torch.device) -> None:
        self.seed = int(seed)
        self.device = device
        self.cpu_state = initial_rng_state(self.seed)
        self.cuda_state: torch.Tensor | None = None
        self.active = False

    def _cuda_index(self) -> int | None:
        if self.device.type != "cuda":
            return None
        return self.device.index if self.device.index is not None else \
            torch.cuda.current_device()

    @contextlib.contextmanager
    def fork(self) -> Iterator[None]:
        """Run a block on these streams; the global ones are restored afterwards."""
        index = self._cuda_index()
        cuda = index is not None
        with torch.random.fork_rng(devices=[index] if cuda else []):
            torch.set_rng_state(self.cpu_state)
            if cuda:
                if self.cuda_state is None:
                    torch.cuda.default_generators[index].manual_seed(derive_seed(self.seed, 2))
                else:
                    torch.cuda.set_rng_state(self.cuda_state, index)
            self.active = True
            try:
                yield
            finally:
                self.active = False
                self.cpu_state = torch.get_rng_state()
                if cuda:
                    self.cuda_state = torch.cuda.get_rng_state(index)

    def guard(self) -> contextlib.AbstractContextManager:
        """Inside :meth:`fork`: nothing (the block draws from these streams); outside: a
        ``torch.random.fork_rng`` that leaves the global streams untouched."""
        if self.active:
            return contextlib.nullcontext()
        index = self._cuda_index()
        return torch.random.fork_rng(devices=[] if index is None else [index])

    def state(self) -> dict[str, torch.Tensor | None]:
        """Copies ``{"rng_state": cpu_state, "cuda_rng_state": cuda_state or None}`` (the keys
        of a trainer checkpoint)."""
        return {"rng_state": self.cpu_state.clone(),
                "cuda_rng_state": None if self.cuda_state is None else self.cuda_state.clone()}

    def set_state(self, rng_state: torch.Tensor,
                  cuda_rng_state: torch.Tensor | None = None) -> None:
        """Replace the CPU stream by ``rng_state`` (e.g. :func:`initial_rng_state` of another
        seed), and the CUDA stream by ``cuda_rng_state`` when it is given and the device is a
        CUDA one (otherwise the CUDA stream is left as it is); both are copied to the CPU."""
        self.cpu_state = rng_state.clone().cpu()
        if cuda_rng_state is not None and self.device.type == "cuda":
            self.cuda_state = cuda_rng_state.clone().cpu()


# ---------------------------------------------------------------------------- checkpoints
def trainer_settings(trainer: Any) -> dict[str, Any]:
    """The training settings of a trainer that a checkpoint stores (``repr`` of the rollout
    schedule); resuming with different ones logs a warning."""
    return {"loss": trainer.loss_name, "teacher_forcing": trainer.teacher_forcing,
            "rollout_schedule": repr(trainer.rollout_schedule),
            "clip_grad_norm": trainer.clip_grad_norm, "tbptt": trainer.tbptt,
            "val_metric": trainer.val_metric, "patience": trainer.patience,
            "min_delta": trainer.min_delta, "seed": trainer.seed}


def trainer_state_dict(trainer: Any) -> dict[str, Any]:
    """The checkpoint state of a :class:`~physrnn.train.loop.Trainer`: model, optimiser,
    scheduler, gradient scaler, completed epochs, history, best weights and early-stopping
    counters, the private RNG states (:class:`PrivateRNG`), the shuffling generator's state and
    ``trainer.settings()``."""
    return {
        "epoch": trainer.epoch,
        "elapsed_s": trainer.elapsed_s,
        "model": trainer.model.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": None if trainer.scheduler is None else trainer.scheduler.state_dict(),
        "scaler": None if trainer.scaler is None else trainer.scaler.state_dict(),
        "history": [asdict(r) for r in trainer.history],
        "best_val": trainer.best_val,
        "best_epoch": trainer.best_epoch,
        "best_state": trainer.best_state,
        "bad_epochs": trainer.bad_epochs,
        "stopped": trainer.stopped,
        **trainer.rng.state(),  # "rng_state", "cuda_rng_state"
        "generator": trainer.generator.get_state(),
        "settings": trainer.settings(),
    }


def load_trainer_state(trainer: Any, state: dict[str, Any]) -> None:
    """Restore a :func:`trainer_state_dict` into ``trainer`` (tensors moved to its device);
    the settings are not compared here (:meth:`~physrnn.train.loop.Trainer.load_state_dict`)."""
    trainer.model.load_state_dict(state["model"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    if trainer.scheduler is not None and state.get("scheduler") is not None:
        trainer.scheduler.load_state_dict(state["scheduler"])
    if trainer.scaler is not None and state.get("scaler") is not None:
        trainer.scaler.load_state_dict(state["scaler"])
    trainer.epoch = int(state["epoch"])
    trainer.elapsed_s = float(state.get("elapsed_s", 0.0))
    trainer.history = [EpochRecord(**r) for r in state["history"]]
    trainer.best_val = float(state["best_val"])
    trainer.best_epoch = int(state["best_epoch"])
    best = state.get("best_state")
    trainer.best_state = (None if best is None else
                          {n: t.to(trainer.device) for n, t in copy.copy(best).items()})
    trainer.bad_epochs = int(state["bad_epochs"])
    trainer.stopped = bool(state["stopped"])
    trainer.rng.cpu_state = state["rng_state"].clone().cpu()
    cuda_state = state.get("cuda_rng_state")
    trainer.rng.cuda_state = (None if cuda_state is None or trainer.device.type != "cuda"
                              else cuda_state.clone().cpu())
    trainer.generator.set_state(state["generator"])
    trainer.generator_restored = True


def read_trainer_checkpoint(path: str | os.PathLike[str], model: nn.Module) -> dict[str, Any]:
    """The trainer state of a checkpoint written by ``Trainer.save_checkpoint``, after checking
    that its parameter shapes fit ``model``.

    Raises:
        RecordError: missing, corrupted or foreign file, or no trainer state in it.
    """
    state = load_checkpoint(path)
    if "trainer" not in state:
        raise RecordError(f"{path}: checkpoint holds no trainer state (keys: "
                          f"{', '.join(sorted(state))})")
    check_state_shapes(state["trainer"].get("model") if isinstance(state["trainer"], dict)
                       else None, model, path)
    return state["trainer"]
