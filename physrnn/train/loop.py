"""The generic training loop for sequence models: teacher forcing and closed-loop rollout.

A model is anything with ``model(x, state) -> (pred, state)``, ``x`` and ``pred`` of shape
``(batch, T, n_state)`` and ``pred[:, t]`` the prediction of ``x_{t+1}`` (e.g.
:class:`~physrnn.nn.recurrent.RecurrentForecaster`). Batches are ``(context, target)`` pairs of
shapes ``(batch, C, n_state)`` and ``(batch, H, n_state)`` (the target follows the context), as
produced by :class:`~physrnn.data.datasets.WindowDataset`.

Two losses on a batch (``loss`` compares predictions and truth, default mean squared error):

* **teacher forcing**: one pass over ``w = cat(context, target)`` with the true inputs, loss of
  the one-step predictions ``pred[:, t]`` against ``w[:, t + 1]``, over the whole window
  (``teacher_forcing="window"``) or over the target steps only (``"target"``);
* **rollout of length k**: warm up on the context, then feed the predictions back for ``k``
  steps (closed loop); loss of the ``k`` predictions against ``target[:, :k]``.

The prediction of ``target[:, 0]`` is the same in both (the warm-up *is* teacher forcing on the
context), so a rollout of length 1 equals the teacher-forced loss on the first target step.

A rollout schedule (:class:`RolloutSchedule`) moves training from teacher forcing (``k = 0``) to
rollouts of increasing length over the epochs. Truncated backpropagation through time
(``tbptt=L``) detaches the recurrent state, and in a rollout also the fed-back prediction, every
``L`` steps counted from the start of the window; each truncated segment's loss is
back-propagated as soon as it is complete, so memory grows with ``L``, not with the window.

Exact resume: the trainer owns all randomness it uses. The torch RNG stream used by dropout
and by loaders without a generator is a private state forked around each epoch (the global RNG
is untouched), and the shuffling ``torch.Generator`` of the train loader is checkpointed. On CPU
with ``num_workers=0`` (or non-persistent workers), a run checkpointed after epoch ``k`` and
resumed is bit-identical to an uninterrupted one.

Example:
    >>> from physrnn.nn.recurrent import RecurrentForecaster
    >>> model = RecurrentForecaster(3, hidden_size=32)
    >>> trainer = Trainer(model, optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
    ...                   rollout_schedule=RolloutSchedule(5, 20, k_max=10), clip_grad_norm=1.0)
    >>> loader = trainer.make_loader(dataset, batch_size=64)        # doctest: +SKIP
    >>> history = trainer.fit(loader, val_loader, epochs=30)         # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from physrnn.checkpoints import check_state_shapes, load_checkpoint, save_checkpoint
from physrnn.distributed import resolve_device
from physrnn.errors import NonFiniteError
from physrnn.nn.recurrent import detach_state

__all__ = ["Trainer", "RolloutSchedule", "EpochRecord", "LOSSES", "HISTORY_KEYS"]

log = logging.getLogger(__name__)

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: Losses by name; each is the mean over batch, time and features.
LOSSES: dict[str, LossFn] = {
    "mse": F.mse_loss,
    "mae": F.l1_loss,
    "l1": F.l1_loss,
    "huber": F.huber_loss,
    "smooth_l1": F.smooth_l1_loss,
}

HISTORY_KEYS = ("epoch", "train_loss", "val_loss", "lr", "grad_norm", "grad_norm_max",
                "rollout_k", "time_s")
_INT_KEYS = ("epoch", "rollout_k")


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


def _derived_seed(seed: int, stream: int) -> int:
    return int(np.random.SeedSequence([int(seed), stream]).generate_state(1, np.uint64)[0]
               & 0x7FFF_FFFF_FFFF_FFFF)


class Trainer:
    """Train a sequence model on ``(context, target)`` batches.

    Args:
        model: ``model(x, state) -> (pred, state)``, see the module docstring. Moved to
            ``device``.
        optimizer: a torch optimizer over the model's parameters (default Adam, lr 1e-3).
        scheduler: a learning-rate scheduler, stepped once per epoch (``scheduler_step=
            "epoch"``, ``ReduceLROnPlateau`` gets the validation loss, or the training loss
            without validation) or once per optimiser step (``"batch"``).
        loss: ``"mse"``, ``"mae"``/``"l1"``, ``"huber"``, ``"smooth_l1"`` or a callable
            ``(pred, truth) -> scalar`` (mean-reduced; computed in float32 or better).
        teacher_forcing: what the teacher-forced loss covers: ``"window"`` (every one-step
            prediction in ``cat(context, target)``) or ``"target"`` (the target steps only, the
            context being a warm-up).
        rollout_schedule: the closed-loop rollout length per epoch (0 = teacher forcing):
            ``None`` (teacher forcing throughout), an ``int`` (constant), a
            :class:`RolloutSchedule` or any callable ``epoch (0-based) -> k``. ``k`` may not
            exceed the target horizon.
        clip_grad_norm: clip the total gradient 2-norm to this value (``None``: no clipping;
            the pre-clip norm is recorded either way).
        tbptt: truncation length of backpropagation through time (steps), ``None`` for full
            BPTT over the window.
        val_metric: ``"rollout"`` (closed-loop loss over the whole target horizon; fixed while
            the training objective follows the schedule, so epochs compare) or
            ``"teacher_forcing"``.
        patience: stop when the validation metric has not improved by more than ``min_delta``
            for this many epochs, and load the best weights (``restore_best``); ``None``: no
            early stopping (the best weights are still tracked, see :meth:`restore_best`).
        min_delta: minimal improvement of the validation metric that counts.
        restore_best: with ``patience``, load the best weights when :meth:`fit` returns.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"auto"`` or a ``torch.device``.
        amp: mixed precision on CUDA: ``True`` (bf16 where supported, else fp16), ``"bf16"``,
            ``"fp16"`` (with gradient scaling) or ``False``. Ignored, with a log message, on
            other devices.
        generator: the ``torch.Generator`` that shuffles the training data (checkpointed). If
            ``None`` one is created from ``seed``; a train loader built with its own generator
            (e.g. by :func:`~physrnn.data.datasets.make_loaders`) has that one checkpointed
            instead. :meth:`make_loader` builds a loader that uses this one.
        seed: seed of the private RNG streams (shuffling, dropout).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        optimizer: torch.optim.Optimizer | None = None,
        scheduler: Any = None,
        scheduler_step: str = "epoch",
        loss: str | LossFn = "mse",
        teacher_forcing: str = "window",
        rollout_schedule: int | RolloutSchedule | Callable[[int], int] | None = None,
        clip_grad_norm: float | None = None,
        tbptt: int | None = None,
        val_metric: str = "rollout",
        patience: int | None = None,
        min_delta: float = 0.0,
        restore_best: bool = True,
        device: str | torch.device = "cpu",
        amp: bool | str = False,
        generator: torch.Generator | None = None,
        seed: int = 0,
    ) -> None:
        if isinstance(loss, str):
            if loss not in LOSSES:
                raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)} "
                                 "or pass a callable")
            self.loss_name, self.loss_fn = loss, LOSSES[loss]
        elif callable(loss):
            self.loss_name = getattr(loss, "__name__", type(loss).__name__)
            self.loss_fn = loss
        else:
            raise TypeError(f"loss must be a name or a callable, got {type(loss).__name__}")
        if teacher_forcing not in ("window", "target"):
            raise ValueError(f"unknown teacher_forcing {teacher_forcing!r}; choose 'window' or "
                             "'target'")
        if scheduler_step not in ("epoch", "batch"):
            raise ValueError(f"unknown scheduler_step {scheduler_step!r}; choose 'epoch' or "
                             "'batch'")
        if val_metric not in ("rollout", "teacher_forcing"):
            raise ValueError(f"unknown val_metric {val_metric!r}; choose 'rollout' or "
                             "'teacher_forcing'")
        if isinstance(rollout_schedule, bool):
            raise TypeError("rollout_schedule must be None, an int, a RolloutSchedule or a "
                            "callable, got a bool")
        if isinstance(rollout_schedule, int | np.integer):
            if rollout_schedule < 0:
                raise ValueError(f"rollout length must be >= 0, got {rollout_schedule}")
        elif rollout_schedule is not None and not callable(rollout_schedule):
            raise TypeError("rollout_schedule must be None, an int, a RolloutSchedule or a "
                            f"callable, got {type(rollout_schedule).__name__}")
        if clip_grad_norm is not None and not clip_grad_norm > 0:
            raise ValueError(f"clip_grad_norm must be > 0 or None, got {clip_grad_norm!r}")
        if tbptt is not None and (isinstance(tbptt, bool) or int(tbptt) != tbptt or tbptt < 1):
            raise ValueError(f"tbptt must be an integer >= 1 or None, got {tbptt!r}")
        if patience is not None and (int(patience) != patience or patience < 1):
            raise ValueError(f"patience must be an integer >= 1 or None, got {patience!r}")
        if min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta!r}")

        self.device = resolve_device(device)
        self.model = model.to(self.device)
        self.optimizer = optimizer or torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.scheduler = scheduler
        self.scheduler_step = scheduler_step
        self.teacher_forcing = teacher_forcing
        self.rollout_schedule = rollout_schedule
        self.clip_grad_norm = None if clip_grad_norm is None else float(clip_grad_norm)
        self.tbptt = None if tbptt is None else int(tbptt)
        self.val_metric = val_metric
        self.patience = None if patience is None else int(patience)
        self.min_delta = float(min_delta)
        self.restore_best_at_end = bool(restore_best)
        self.seed = int(seed)

        # mixed precision
        self.amp_dtype: torch.dtype | None = None
        self.scaler: torch.amp.GradScaler | None = None
        if amp not in (False, True, "bf16", "fp16", None):
            raise ValueError(f"amp must be False, True, 'bf16' or 'fp16', got {amp!r}")
        if amp:
            if self.device.type != "cuda":
                log.info("mixed precision (amp=%r) is only used on CUDA; training on %s in %s",
                         amp, self.device, self._param_dtype())
            else:
                if amp == "fp16" or (amp is True and not torch.cuda.is_bf16_supported()):
                    self.amp_dtype = torch.float16
                    self.scaler = torch.amp.GradScaler("cuda")
                elif amp == "bf16" and not torch.cuda.is_bf16_supported():
                    raise ValueError(f"amp='bf16' is not supported on {self.device}; use 'fp16'")
                else:
                    self.amp_dtype = torch.bfloat16
                log.info("mixed precision: autocast to %s on %s", self.amp_dtype, self.device)

        # randomness: a private torch RNG stream and the shuffling generator
        g = torch.Generator()
        g.manual_seed(_derived_seed(self.seed, 0))
        self._rng_state = g.get_state()
        self._cuda_rng_state: torch.Tensor | None = None
        self._rng_active = False
        if generator is None:
            generator = torch.Generator()
            generator.manual_seed(_derived_seed(self.seed, 1))
        self.generator = generator
        self._restored_generator = False

        # progress
        self.epoch = 0
        self.elapsed_s = 0.0
        self.history: list[EpochRecord] = []
        self.best_val = math.inf
        self.best_epoch = 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.bad_epochs = 0
        self.stopped = False
        self.stop_training = False  # a callback may set it to end fit() after this epoch
        self.parallel: Any = None  # data-parallel reductions, see physrnn.train.parallel

    # ------------------------------------------------------------------ helpers
    def _param_dtype(self) -> torch.dtype:
        for p in self.model.parameters():
            if p.is_floating_point():
                return p.dtype
        return torch.get_default_dtype()

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _loss(self, pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
        if pred.dtype in (torch.float16, torch.bfloat16):
            pred = pred.float()
        if truth.dtype != pred.dtype:
            truth = truth.to(pred.dtype)
        return self.loss_fn(pred, truth)

    def _backward(self, loss: torch.Tensor) -> None:
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
        else:
            loss.backward()

    def _batch(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(batch, Sequence) or len(batch) != 2:
            raise TypeError("a batch must be a (context, target) pair, got "
                            f"{type(batch).__name__}")
        dtype = self._param_dtype()
        context, target = (torch.as_tensor(b).to(device=self.device, dtype=dtype,
                                                 non_blocking=True) for b in batch)
        if context.ndim != 3 or target.ndim != 3 or context.shape[0] != target.shape[0] \
                or context.shape[2] != target.shape[2] or context.shape[1] < 1 \
                or target.shape[1] < 1:
            raise ValueError("expected context (batch, C, n_state) and target (batch, H, "
                             f"n_state), got {tuple(context.shape)} and {tuple(target.shape)}")
        return context, target

    def rollout_length(self, epoch: int) -> int:
        """Rollout length ``k`` of epoch ``epoch`` (0-based; 0 = teacher forcing)."""
        s = self.rollout_schedule
        if s is None:
            return 0
        if isinstance(s, int | np.integer):
            return int(s)
        k = s(epoch)
        if isinstance(k, bool) or int(k) != k or k < 0:
            raise ValueError(f"rollout schedule gave {k!r} for epoch {epoch}; need an integer "
                             ">= 0")
        return int(k)

    @contextlib.contextmanager
    def _private_rng(self) -> Iterator[None]:
        """Run a block on the trainer's own torch RNG stream; the global one is untouched."""
        cuda = self.device.type == "cuda"
        index = (self.device.index if self.device.index is not None
                 else torch.cuda.current_device()) if cuda else None
        with torch.random.fork_rng(devices=[index] if cuda else []):
            torch.set_rng_state(self._rng_state)
            if cuda:
                if self._cuda_rng_state is None:
                    torch.cuda.default_generators[index].manual_seed(_derived_seed(self.seed, 2))
                else:
                    torch.cuda.set_rng_state(self._cuda_rng_state, index)
            self._rng_active = True
            try:
                yield
            finally:
                self._rng_active = False
                self._rng_state = torch.get_rng_state()
                if cuda:
                    self._cuda_rng_state = torch.cuda.get_rng_state(index)

    # ------------------------------------------------------------------ losses
    def teacher_forced_loss(self, context: torch.Tensor, target: torch.Tensor, *,
                            backward: bool = False) -> torch.Tensor:
        """Loss of the teacher-forced one-step predictions on ``cat(context, target)``.

        Args:
            context: ``(batch, C, n_state)``.
            target: ``(batch, H, n_state)``, the points after the context.
            backward: back-propagate (each truncated segment as soon as it is complete) and
                return the detached loss.

        Returns:
            The scalar loss (over the window or the target, see ``teacher_forcing``).
        """
        window = torch.cat([context, target], dim=1)
        x, y = window[:, :-1], window[:, 1:]
        n_t = x.shape[1]
        first = 0 if self.teacher_forcing == "window" else context.shape[1] - 1
        n_loss = n_t - first
        seg = self.tbptt or n_t
        state = None
        total: torch.Tensor | None = None
        for a in range(0, n_t, seg):
            b = min(a + seg, n_t)
            grad = contextlib.nullcontext() if b > first else torch.no_grad()
            with grad, self._autocast():
                pred, state = self.model(x[:, a:b], state)
            lo = max(a, first)
            if lo < b:
                piece = self._loss(pred[:, lo - a:], y[:, lo:b])
                if b - lo != n_loss:
                    piece = piece * ((b - lo) / n_loss)
                if backward:
                    self._backward(piece)
                    piece = piece.detach()
                total = piece if total is None else total + piece
            state = detach_state(state) if b < n_t else state
        assert total is not None
        return total

    def rollout_loss(self, context: torch.Tensor, target: torch.Tensor, k: int, *,
                     backward: bool = False) -> torch.Tensor:
        """Loss of a closed-loop rollout of length ``k`` against ``target[:, :k]``.

        The model warms up on ``context`` (teacher forcing), then each prediction is fed back as
        the next input. With ``tbptt=L`` the state and the fed-back prediction are detached
        before every input whose index (counted from the first context point) is a multiple
        of ``L``.

        Args:
            context: ``(batch, C, n_state)``.
            target: ``(batch, H, n_state)``.
            k: rollout length, ``1 <= k <= H``.
            backward: back-propagate (segment by segment) and return the detached loss.
        """
        n_c, horizon = context.shape[1], target.shape[1]
        if isinstance(k, bool) or int(k) != k or not 1 <= k <= horizon:
            raise ValueError(f"rollout length must be in 1..{horizon} (the target horizon), "
                             f"got {k!r}")
        k = int(k)
        seg = self.tbptt
        # warm-up on the context; segments that end on a truncation point carry no gradient
        state = None
        a = 0
        while a < n_c:
            b = n_c if seg is None else min((a // seg + 1) * seg, n_c)
            grad = contextlib.nullcontext() if b == n_c else torch.no_grad()
            with grad, self._autocast():
                pred, state = self.model(context[:, a:b], state)
            if b < n_c:
                state = detach_state(state)
            a = b
        preds = [pred[:, -1]]
        start = 0  # first prediction of the current segment
        total: torch.Tensor | None = None

        def flush(stop: int) -> None:
            nonlocal total
            piece = self._loss(torch.stack(preds[start:stop], dim=1), target[:, start:stop])
            if stop - start != k:
                piece = piece * ((stop - start) / k)
            if backward:
                self._backward(piece)
                piece = piece.detach()
            total = piece if total is None else total + piece

        for i in range(1, k):
            inp = preds[i - 1]
            if seg is not None and (n_c + i - 1) % seg == 0:
                flush(i)
                start = i
                state = detach_state(state)
                inp = inp.detach()
            with self._autocast():
                pred, state = self.model(inp.unsqueeze(1), state)
            preds.append(pred[:, -1])
        flush(k)
        assert total is not None
        return total

    def batch_loss(self, context: torch.Tensor, target: torch.Tensor, k: int = 0, *,
                   backward: bool = False) -> torch.Tensor:
        """Teacher-forced loss (``k == 0``) or rollout loss of length ``k``."""
        if k == 0:
            return self.teacher_forced_loss(context, target, backward=backward)
        return self.rollout_loss(context, target, k, backward=backward)

    # ------------------------------------------------------------------ gradient norms
    def _grad_norm(self, *, clip: bool) -> float:
        params = [p for p in self.model.parameters() if p.grad is not None]
        if not params:
            return 0.0
        if clip and self.clip_grad_norm is not None:
            norm = torch.nn.utils.clip_grad_norm_(params, self.clip_grad_norm)
        else:
            norm = torch.nn.utils.get_total_norm([p.grad for p in params])
        return float(norm)

    # ------------------------------------------------------------------ one epoch
    def _train_epoch(self, loader: Iterable, k: int, epoch: int) -> tuple[float, list[float]]:
        self.model.train()
        loss_sum, n_sum = 0.0, 0
        norms: list[float] = []
        n_batches = len(loader) if hasattr(loader, "__len__") else None
        for i, batch in enumerate(loader):
            context, target = self._batch(batch)
            where = (f"epoch {epoch}, batch {i + 1}" +
                     (f" of {n_batches}" if n_batches is not None else ""))
            if k > target.shape[1]:
                raise ValueError(f"rollout length {k} (schedule, {where}) exceeds the target "
                                 f"horizon {target.shape[1]}; lengthen the horizon or lower "
                                 "k_max")
            self.optimizer.zero_grad(set_to_none=True)
            if self.parallel is not None:  # data-parallel: the global batch's gradients
                loss, n = self.parallel.batch(self, loader, i, context, target, k)
            else:
                loss = float(self.batch_loss(context, target, k, backward=True))
                n = context.shape[0]
            if not math.isfinite(loss):
                bad = int((~torch.isfinite(context)).sum() + (~torch.isfinite(target)).sum())
                hint = (f"; the batch itself holds {bad} non-finite values (check the data)"
                        if bad else "")
                raise NonFiniteError(f"training loss is {loss} at {where}{hint}; parameters "
                                     "left unchanged by this batch")
            if self.scaler is not None:
                self.scaler.unscale_(self.optimizer)
            norm = self._grad_norm(clip=True)
            if math.isfinite(norm):
                norms.append(norm)
            elif self.scaler is None:
                raise NonFiniteError(f"gradient norm is {norm} at {where} (loss {loss:.6g}); "
                                     "parameters left unchanged by this batch")
            if self.scaler is not None:  # skips the step on inf/nan gradients
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                self.optimizer.step()
            if self.scheduler is not None and self.scheduler_step == "batch":
                self.scheduler.step()
            loss_sum += loss * n
            n_sum += n
        if n_sum == 0:
            raise ValueError(f"the train loader yielded no batches in epoch {epoch}")
        return loss_sum / n_sum, norms

    @torch.no_grad()
    def evaluate(self, loader: Iterable, *, metric: str | None = None) -> float:
        """Mean validation metric over ``loader`` (batch-size weighted), in evaluation mode.

        Args:
            metric: ``"rollout"`` (closed loop over each batch's whole horizon) or
                ``"teacher_forcing"``; default ``val_metric``.
        """
        metric = metric or self.val_metric
        if metric not in ("rollout", "teacher_forcing"):
            raise ValueError(f"unknown metric {metric!r}")
        was_training = self.model.training
        self.model.eval()
        total, n_sum = 0.0, 0
        # iterating a loader draws from the torch RNG: inside fit() that is the trainer's
        # private stream; called on its own, leave the global stream untouched
        rng = contextlib.nullcontext() if self._rng_active else torch.random.fork_rng(
            devices=[self.device.index if self.device.index is not None
                     else torch.cuda.current_device()] if self.device.type == "cuda" else [])
        try:
            with rng:
                for batch in loader:
                    context, target = self._batch(batch)
                    k = target.shape[1] if metric == "rollout" else 0
                    total += float(self.batch_loss(context, target, k)) * context.shape[0]
                    n_sum += context.shape[0]
        finally:
            self.model.train(was_training)
        if self.parallel is not None:  # a sharded loader: sums over the ranks
            total, n_sum = self.parallel.reduce_eval(loader, total, n_sum)
        if n_sum == 0:
            raise ValueError("the validation loader yielded no batches")
        return total / n_sum

    # ------------------------------------------------------------------ the loop
    def make_loader(self, dataset: Dataset, *, batch_size: int = 64, shuffle: bool = True,
                    **kwargs: Any) -> DataLoader:
        """A ``DataLoader`` over ``dataset`` that shuffles with this trainer's generator."""
        return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle,
                          generator=self.generator, **kwargs)

    def _adopt_generator(self, loader: Any) -> None:
        gen = getattr(loader, "generator", None)
        if gen is None:
            if getattr(loader, "persistent_workers", False):
                log.warning("train loader has persistent workers and no generator: a resumed "
                            "run will not repeat the shuffling of an uninterrupted one")
            return
        if gen is not self.generator:
            if self._restored_generator:
                gen.set_state(self.generator.get_state())
            self.generator = gen
        if getattr(loader, "persistent_workers", False) and self.epoch > 0:
            log.warning("train loader has persistent workers: their seeds are drawn once, so a "
                        "resumed run is not bit-identical to an uninterrupted one")

    def fit(
        self,
        train_loader: Iterable,
        val_loader: Iterable | None = None,
        *,
        epochs: int,
        callbacks: Sequence[Callable[[Trainer, EpochRecord], None]] = (),
        progress: bool | None = None,
    ) -> dict[str, np.ndarray]:
        """Train until ``epochs`` epochs have been completed in total (a resumed run continues).

        Each epoch: train on every batch of ``train_loader`` (rollout length from the
        schedule), evaluate on ``val_loader``, step the scheduler, update the best weights and
        the early-stopping counter, append an :class:`EpochRecord` to the history, then call
        every callback with ``(trainer, record)`` (checkpointing there gives an exact resume
        point; a callback may set ``trainer.stop_training = True``).

        Args:
            train_loader: iterable of ``(context, target)`` batches (a ``DataLoader``).
            val_loader: the same for validation (required with ``patience``).
            epochs: total number of epochs (completed ones count).
            callbacks: functions called at the end of each epoch.
            progress: show a progress bar; ``None`` shows it only on a terminal.

        Returns:
            The history as arrays, see :meth:`history_arrays`.

        Raises:
            NonFiniteError: NaN or infinite loss or gradient (naming epoch and batch).
        """
        if self.patience is not None and val_loader is None:
            raise ValueError("early stopping (patience) needs a val_loader")
        if self.stopped:
            log.info("early stopping ended this run at epoch %d (best epoch %d); fit() does "
                     "nothing", self.epoch, self.best_epoch)
            return self.history_arrays()
        self._adopt_generator(train_loader)
        self.stop_training = False
        disable = None if progress is None else not progress
        bar = tqdm(total=epochs, initial=min(self.epoch, epochs), disable=disable, desc="train",
                   dynamic_ncols=True, leave=True, unit="epoch")
        try:
            while self.epoch < epochs:
                rec = self._run_epoch(train_loader, val_loader)
                postfix = {"loss": f"{rec.train_loss:.3e}", "k": rec.rollout_k}
                if val_loader is not None:
                    postfix["val"] = f"{rec.val_loss:.3e}"
                bar.set_postfix(postfix, refresh=False)
                bar.update(1)
                for cb in callbacks:
                    cb(self, rec)
                if self.stopped or self.stop_training:
                    break
        finally:
            bar.close()
        if self.stopped and self.patience is not None:
            log.info("early stopping at epoch %d: no improvement of the validation metric for "
                     "%d epochs (best %.6g at epoch %d)", self.epoch, self.patience,
                     self.best_val, self.best_epoch)
        if self.patience is not None and self.restore_best_at_end:
            self.restore_best()
        return self.history_arrays()

    def _run_epoch(self, train_loader: Iterable, val_loader: Iterable | None) -> EpochRecord:
        t0 = time.perf_counter()
        epoch = self.epoch + 1
        k = self.rollout_length(self.epoch)
        lr = float(self.optimizer.param_groups[0]["lr"])
        with self._private_rng():
            train_loss, norms = self._train_epoch(train_loader, k, epoch)
            val_loss = math.nan
            if val_loader is not None:
                val_loss = self.evaluate(val_loader)
                if not math.isfinite(val_loss):
                    raise NonFiniteError(f"validation {self.val_metric} loss is {val_loss} "
                                         f"after epoch {epoch}")
        if self.scheduler is not None and self.scheduler_step == "epoch":
            if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                self.scheduler.step(val_loss if val_loader is not None else train_loss)
            else:
                self.scheduler.step()
        if val_loader is not None:
            if val_loss < self.best_val - self.min_delta:
                self.best_val, self.best_epoch, self.bad_epochs = val_loss, epoch, 0
                self.best_state = {n: t.detach().clone()
                                   for n, t in self.model.state_dict().items()}
            else:
                self.bad_epochs += 1
                if self.patience is not None and self.bad_epochs >= self.patience:
                    self.stopped = True
        self.epoch = epoch
        self.elapsed_s += time.perf_counter() - t0
        rec = EpochRecord(epoch=epoch, train_loss=train_loss, val_loss=val_loss, lr=lr,
                          grad_norm=float(np.mean(norms)) if norms else math.nan,
                          grad_norm_max=float(np.max(norms)) if norms else math.nan,
                          rollout_k=k, time_s=self.elapsed_s)
        self.history.append(rec)
        log.info("epoch %d: train %.6g (k=%d), val %.6g, lr %.3g, |g| %.3g", epoch, train_loss,
                 k, val_loss, lr, rec.grad_norm)
        return rec

    def restore_best(self) -> bool:
        """Load the weights of the best validation epoch; returns whether there were any."""
        if self.best_state is None:
            return False
        self.model.load_state_dict(self.best_state)
        log.info("restored the weights of epoch %d (validation %.6g)", self.best_epoch,
                 self.best_val)
        return True

    def history_arrays(self) -> dict[str, np.ndarray]:
        """History as ``{key: (n_epochs,) array}`` with keys :data:`HISTORY_KEYS`."""
        rows = [asdict(r) for r in self.history]
        return {k: np.asarray([r[k] for r in rows],
                              dtype=np.int64 if k in _INT_KEYS else np.float64)
                for k in HISTORY_KEYS}

    # ------------------------------------------------------------------ checkpoints
    def _settings(self) -> dict[str, Any]:
        return {"loss": self.loss_name, "teacher_forcing": self.teacher_forcing,
                "rollout_schedule": repr(self.rollout_schedule),
                "clip_grad_norm": self.clip_grad_norm, "tbptt": self.tbptt,
                "val_metric": self.val_metric, "patience": self.patience,
                "min_delta": self.min_delta, "seed": self.seed}

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue bit-identically.

        Model, optimiser, scheduler, gradient scaler, completed epochs, history, best weights
        and early-stopping counters, the private torch RNG state(s) and the shuffling
        generator's state.
        """
        return {
            "epoch": self.epoch,
            "elapsed_s": self.elapsed_s,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "scaler": None if self.scaler is None else self.scaler.state_dict(),
            "history": [asdict(r) for r in self.history],
            "best_val": self.best_val,
            "best_epoch": self.best_epoch,
            "best_state": self.best_state,
            "bad_epochs": self.bad_epochs,
            "stopped": self.stopped,
            "rng_state": self._rng_state.clone(),
            "cuda_rng_state": (None if self._cuda_rng_state is None
                               else self._cuda_rng_state.clone()),
            "generator": self.generator.get_state(),
            "settings": self._settings(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (tensors are moved to this trainer's device)."""
        saved = state.get("settings", {})
        changed = {k: (saved[k], v) for k, v in self._settings().items()
                   if k in saved and saved[k] != v}
        if changed:
            log.warning("resuming with changed training settings (saved, now): %s", changed)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state.get("scaler") is not None:
            self.scaler.load_state_dict(state["scaler"])
        self.epoch = int(state["epoch"])
        self.elapsed_s = float(state.get("elapsed_s", 0.0))
        self.history = [EpochRecord(**r) for r in state["history"]]
        self.best_val = float(state["best_val"])
        self.best_epoch = int(state["best_epoch"])
        best = state.get("best_state")
        self.best_state = (None if best is None else
                           {n: t.to(self.device) for n, t in copy.copy(best).items()})
        self.bad_epochs = int(state["bad_epochs"])
        self.stopped = bool(state["stopped"])
        self._rng_state = state["rng_state"].clone().cpu()
        cuda_state = state.get("cuda_rng_state")
        self._cuda_rng_state = (None if cuda_state is None or self.device.type != "cuda"
                                else cuda_state.clone().cpu())
        self.generator.set_state(state["generator"])
        self._restored_generator = True

    def save_checkpoint(self, path: str | Path, *, config: dict[str, Any] | None = None) -> Path:
        """Write :meth:`state_dict` (and an optional resolved ``config``) atomically."""
        return save_checkpoint(path, {"config": config or {}, "trainer": self.state_dict()})

    def resume(self, path: str | Path) -> Trainer:
        """Load a checkpoint written by :meth:`save_checkpoint` into this trainer.

        Build the trainer as for the original run (same model, optimiser, scheduler and
        settings), then ``trainer.resume(path).fit(...)``.

        Raises:
            RecordError: missing, corrupted or foreign file.
        """
        state = load_checkpoint(path)
        if "trainer" not in state:
            from physrnn.errors import RecordError

            raise RecordError(f"{path}: checkpoint holds no trainer state (keys: "
                              f"{', '.join(sorted(state))})")
        check_state_shapes(state["trainer"].get("model") if isinstance(state["trainer"], dict)
                           else None, self.model, path)
        self.load_state_dict(state["trainer"])
        log.info("resumed from %s after epoch %d", path, self.epoch)
        return self
