"""The generic training loop for sequence models: teacher forcing and closed-loop rollout.

A model is anything with ``model(x, state) -> (pred, state)``, ``x`` and ``pred`` of shape
``(batch, T, n_state)`` and ``pred[:, t]`` the prediction of ``x_{t+1}`` (e.g.
:class:`~physrnn.nn.recurrent.RecurrentForecaster`). Batches are ``(context, target)`` pairs of
shapes ``(batch, C, n_state)`` and ``(batch, H, n_state)`` (the target follows the context), as
produced by :class:`~physrnn.data.datasets.WindowDataset`.

Two losses on a batch (:mod:`physrnn.train.losses`; ``loss`` compares predictions and truth,
default mean squared error): **teacher forcing** over the window (or the target steps) and a
closed-loop **rollout of length k** against ``target[:, :k]``, both with optional truncated
backpropagation through time (``tbptt``). A rollout schedule (:class:`RolloutSchedule`,
:mod:`physrnn.train.rollout`) moves training from teacher forcing (``k = 0``) to rollouts of
increasing length over the epochs.

Exact resume: the trainer owns all randomness it uses. The torch RNG stream used by dropout
and by loaders without a generator is a private state forked around each epoch (the global RNG
is untouched; :class:`~physrnn.train.state.PrivateRNG`, :meth:`Trainer.rng_state`), and the
shuffling ``torch.Generator`` of the train loader is checkpointed. On CPU with
``num_workers=0`` (or non-persistent workers), a run checkpointed after epoch ``k`` and resumed
is bit-identical to an uninterrupted one.

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
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from physrnn.checkpoints import save_checkpoint
from physrnn.distributed import resolve_device
from physrnn.errors import NonFiniteError
from physrnn.optim import grad_norm
from physrnn.progress import Progress, lines_wanted
from physrnn.seeding import derive_seed
from physrnn.train import losses
from physrnn.train.losses import LOSSES, LossFn, as_batch, resolve_loss, widened_loss
from physrnn.train.options import autocast, check_options, param_dtype, resolve_amp
from physrnn.train.rollout import RolloutSchedule, rollout_length
from physrnn.train.state import (
    HISTORY_KEYS,
    EpochRecord,
    PrivateRNG,
    history_arrays,
    load_trainer_state,
    read_trainer_checkpoint,
    trainer_settings,
    trainer_state_dict,
)

# RolloutSchedule, EpochRecord, LOSSES and HISTORY_KEYS are re-exported from .rollout/.state/.losses
__all__ = ["Trainer", "RolloutSchedule", "EpochRecord", "LOSSES", "HISTORY_KEYS"]

log = logging.getLogger(__name__)


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
        self.loss_name, self.loss_fn = resolve_loss(loss)
        check_options(teacher_forcing=teacher_forcing, scheduler_step=scheduler_step,
                      val_metric=val_metric, rollout_schedule=rollout_schedule,
                      clip_grad_norm=clip_grad_norm, tbptt=tbptt, patience=patience,
                      min_delta=min_delta)

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

        # mixed precision: autocast dtype (None: off) and the fp16 gradient scaler
        self.amp_dtype, self.scaler, note = resolve_amp(amp, self.device,
                                                        param_dtype=self._param_dtype())
        if note:
            log.info("%s", note)

        # randomness: private torch RNG streams and the shuffling generator
        #: The private torch RNG streams (:class:`~physrnn.train.state.PrivateRNG`):
        #: ``trainer.rng.state()`` and ``trainer.rng.set_state(...)`` get and set them.
        self.rng = PrivateRNG(self.seed, self.device)
        if generator is None:
            generator = torch.Generator()
            generator.manual_seed(derive_seed(self.seed, 1))
        self.generator = generator
        #: True once a checkpoint restored the generator's state (handed to a loader's own).
        self.generator_restored = False

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
        self._lines: Progress | None = None  # plain progress lines while fit() runs

    # ------------------------------------------------------------------ helpers
    def _param_dtype(self) -> torch.dtype:
        return param_dtype(self.model)

    def _autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.device, self.amp_dtype)

    def _loss(self, pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
        return widened_loss(self.loss_fn, pred, truth)

    def _backward(self, loss: torch.Tensor) -> None:
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
        else:
            loss.backward()

    def _batch(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        return as_batch(batch, device=self.device, dtype=self._param_dtype())

    def rollout_length(self, epoch: int) -> int:
        """Rollout length ``k`` of epoch ``epoch`` (0-based; 0 = teacher forcing)."""
        return rollout_length(self.rollout_schedule, epoch)

    def _private_rng(self) -> contextlib.AbstractContextManager:
        return self.rng.fork()  # the trainer's own torch RNG streams; the global ones untouched

    # ------------------------------------------------------------------ losses
    def teacher_forced_loss(self, context: torch.Tensor, target: torch.Tensor, *,
                            backward: bool = False) -> torch.Tensor:
        """Loss of the teacher-forced one-step predictions on ``cat(context, target)`` (over the
        window or the target, see ``teacher_forcing``): :func:`physrnn.train.losses.
        teacher_forced_loss` with this trainer's settings. ``context`` ``(batch, C, n_state)``,
        ``target`` ``(batch, H, n_state)``; ``backward``: back-propagate each truncated segment
        as soon as it is complete and return the detached loss."""
        return losses.teacher_forced_loss(
            self.model, context, target, loss=self._loss, teacher_forcing=self.teacher_forcing,
            tbptt=self.tbptt, backward=self._backward if backward else None,
            autocast=self._autocast)

    def rollout_loss(self, context: torch.Tensor, target: torch.Tensor, k: int, *,
                     backward: bool = False) -> torch.Tensor:
        """Loss of a closed-loop rollout of length ``1 <= k <= H`` against ``target[:, :k]``:
        :func:`physrnn.train.losses.rollout_loss` with this trainer's settings; ``backward``:
        back-propagate segment by segment and return the detached loss."""
        return losses.rollout_loss(self.model, context, target, k, loss=self._loss,
                                   tbptt=self.tbptt,
                                   backward=self._backward if backward else None,
                                   autocast=self._autocast)

    def batch_loss(self, context: torch.Tensor, target: torch.Tensor, k: int = 0, *,
                   backward: bool = False) -> torch.Tensor:
        """Teacher-forced loss (``k == 0``) or rollout loss of length ``k``."""
        if k == 0:
            return self.teacher_forced_loss(context, target, backward=backward)
        return self.rollout_loss(context, target, k, backward=backward)

    # ------------------------------------------------------------------ gradient norms
    def _grad_norm(self, *, clip: bool) -> float:
        return grad_norm(self.model.parameters(),
                         max_norm=self.clip_grad_norm if clip else None)

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
            if n_batches and self._lines is not None:
                self._lines.update(epoch - 1 + (i + 1) / n_batches, batch=f"{i + 1}/{n_batches}",
                                   loss=loss_sum / n_sum)
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
        try:
            with self.rng.guard():
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
            if self.generator_restored:
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
        self._lines = Progress(epochs, phase="train", unit="epoch", start=min(self.epoch, epochs),
                               enabled=lines_wanted(progress))
        try:
            while self.epoch < epochs:
                rec = self._run_epoch(train_loader, val_loader)
                postfix = {"loss": f"{rec.train_loss:.3e}", "k": rec.rollout_k}
                if val_loader is not None:
                    postfix["val"] = f"{rec.val_loss:.3e}"
                bar.set_postfix(postfix, refresh=False)
                bar.update(1)
                self._lines.update(self.epoch, **{"loss": rec.train_loss, **(
                    {"val": rec.val_loss} if val_loader is not None else {})})
                for cb in callbacks:
                    cb(self, rec)
                if self.stopped or self.stop_training:
                    break
        finally:
            bar.close()
            self._lines = None
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
        return history_arrays(self.history)

    # ------------------------------------------------------------------ checkpoints
    def settings(self) -> dict[str, Any]:
        """The training settings stored in a checkpoint; a resume with different ones warns."""
        return trainer_settings(self)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue bit-identically: model, optimiser, scheduler, scaler,
        progress, best weights, RNG states (:func:`~physrnn.train.state.trainer_state_dict`)."""
        return trainer_state_dict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (tensors are moved to this trainer's device)."""
        saved = state.get("settings", {})
        changed = {k: (saved[k], v) for k, v in self.settings().items()
                   if k in saved and saved[k] != v}
        if changed:
            log.warning("resuming with changed training settings (saved, now): %s", changed)
        load_trainer_state(self, state)

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
        self.load_state_dict(read_trainer_checkpoint(path, self.model))
        log.info("resumed from %s after epoch %d", path, self.epoch)
        return self
