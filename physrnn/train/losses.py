"""The two training objectives on a ``(context, target)`` batch, as pure functions.

Conventions of :mod:`physrnn.train.loop`: ``model(x, state) -> (pred, state)`` with
``pred[:, t]`` the prediction of ``x_{t+1}``; ``context`` ``(batch, C, n_state)`` and ``target``
``(batch, H, n_state)``, the points after the context.

* **teacher forcing** (:func:`teacher_forced_loss`): one pass over ``w = cat(context, target)``
  with the true inputs, loss of the one-step predictions ``pred[:, t]`` against ``w[:, t + 1]``,
  over the whole window (``teacher_forcing="window"``) or over the target steps only
  (``"target"``);
* **rollout of length k** (:func:`rollout_loss`): warm up on the context, then feed the
  predictions back for ``k`` steps (closed loop); loss of the ``k`` predictions against
  ``target[:, :k]``.

The prediction of ``target[:, 0]`` is the same in both (the warm-up *is* teacher forcing on the
context), so a rollout of length 1 equals the teacher-forced loss on the first target step.
Truncated backpropagation through time (``tbptt=L``) detaches the recurrent state, and in a
rollout also the fed-back prediction, every ``L`` steps counted from the start of the window;
each truncated segment's loss is back-propagated as soon as it is complete, so memory grows
with ``L``, not with the window.

Both functions take the pieces of the trainer they need explicitly:

* ``loss``: ``(pred, truth) -> scalar`` (mean-reduced);
* ``tbptt``: truncation length of backpropagation through time (steps) or ``None``;
* ``backward``: called on each truncated segment's loss as soon as it is complete (``None``:
  no backward pass, the loss keeps its graph);
* ``autocast``: a factory of the context manager that wraps every forward pass (mixed
  precision).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from physrnn.nn.recurrent import detach_state

__all__ = ["LOSSES", "LossFn", "as_batch", "resolve_loss", "rollout_loss",
           "teacher_forced_loss", "widened_loss"]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Autocast = Callable[[], contextlib.AbstractContextManager]

#: Losses by name; each is the mean over batch, time and features.
LOSSES: dict[str, LossFn] = {
    "mse": F.mse_loss,
    "mae": F.l1_loss,
    "l1": F.l1_loss,
    "huber": F.huber_loss,
    "smooth_l1": F.smooth_l1_loss,
}


def resolve_loss(loss: str | LossFn) -> tuple[str, LossFn]:
    """``(name, function)`` of a loss given by name (:data:`LOSSES`) or as a callable.

    Raises:
        ValueError: an unknown name.
        TypeError: neither a name nor a callable.
    """
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)} "
                             "or pass a callable")
        return loss, LOSSES[loss]
    if callable(loss):
        return getattr(loss, "__name__", type(loss).__name__), loss
    raise TypeError(f"loss must be a name or a callable, got {type(loss).__name__}")


def widened_loss(loss: LossFn, pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """``loss(pred, truth)`` computed in float32 or better: half-precision predictions (from
    autocast) are cast to float32 and ``truth`` to the predictions' dtype."""
    if pred.dtype in (torch.float16, torch.bfloat16):
        pred = pred.float()
    if truth.dtype != pred.dtype:
        truth = truth.to(pred.dtype)
    return loss(pred, truth)


def as_batch(batch: Any, *, device: torch.device,
             dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """A loader's ``(context, target)`` pair as tensors on ``device`` in ``dtype``.

    Raises:
        TypeError: not a pair.
        ValueError: not ``(batch, C, n_state)`` and ``(batch, H, n_state)`` with ``C, H >= 1``.
    """
    if not isinstance(batch, Sequence) or len(batch) != 2:
        raise TypeError("a batch must be a (context, target) pair, got "
                        f"{type(batch).__name__}")
    context, target = (torch.as_tensor(b).to(device=device, dtype=dtype, non_blocking=True)
                       for b in batch)
    if context.ndim != 3 or target.ndim != 3 or context.shape[0] != target.shape[0] \
            or context.shape[2] != target.shape[2] or context.shape[1] < 1 \
            or target.shape[1] < 1:
        raise ValueError("expected context (batch, C, n_state) and target (batch, H, "
                         f"n_state), got {tuple(context.shape)} and {tuple(target.shape)}")
    return context, target


def teacher_forced_loss(
    model: nn.Module,
    context: torch.Tensor,
    target: torch.Tensor,
    *,
    loss: LossFn,
    teacher_forcing: str = "window",
    tbptt: int | None = None,
    backward: Callable[[torch.Tensor], None] | None = None,
    autocast: Autocast = contextlib.nullcontext,
) -> torch.Tensor:
    """Loss of the teacher-forced one-step predictions on ``cat(context, target)``.

    Args:
        model: the sequence model.
        context: ``(batch, C, n_state)``.
        target: ``(batch, H, n_state)``, the points after the context.
        loss, tbptt, backward, autocast: see the module docstring.
        teacher_forcing: ``"window"`` (every one-step prediction in the window) or
            ``"target"`` (the predictions of the target steps only).

    Returns:
        The scalar loss, detached if ``backward`` is given.
    """
    window = torch.cat([context, target], dim=1)
    x, y = window[:, :-1], window[:, 1:]
    n_t = x.shape[1]
    first = 0 if teacher_forcing == "window" else context.shape[1] - 1
    n_loss = n_t - first
    seg = tbptt or n_t
    state = None
    total: torch.Tensor | None = None
    for a in range(0, n_t, seg):
        b = min(a + seg, n_t)
        grad = contextlib.nullcontext() if b > first else torch.no_grad()
        with grad, autocast():
            pred, state = model(x[:, a:b], state)
        lo = max(a, first)
        if lo < b:
            piece = loss(pred[:, lo - a:], y[:, lo:b])
            if b - lo != n_loss:
                piece = piece * ((b - lo) / n_loss)
            if backward is not None:
                backward(piece)
                piece = piece.detach()
            total = piece if total is None else total + piece
        state = detach_state(state) if b < n_t else state
    assert total is not None
    return total


def rollout_loss(
    model: nn.Module,
    context: torch.Tensor,
    target: torch.Tensor,
    k: int,
    *,
    loss: LossFn,
    tbptt: int | None = None,
    backward: Callable[[torch.Tensor], None] | None = None,
    autocast: Autocast = contextlib.nullcontext,
) -> torch.Tensor:
    """Loss of a closed-loop rollout of length ``k`` against ``target[:, :k]``.

    The model warms up on ``context`` (teacher forcing), then each prediction is fed back as
    the next input. With ``tbptt=L`` the state and the fed-back prediction are detached
    before every input whose index (counted from the first context point) is a multiple
    of ``L``.

    Args:
        model: the sequence model.
        context: ``(batch, C, n_state)``.
        target: ``(batch, H, n_state)``.
        k: rollout length, ``1 <= k <= H``.
        loss, tbptt, backward, autocast: see the module docstring.

    Returns:
        The scalar loss, detached if ``backward`` is given.
    """
    n_c, horizon = context.shape[1], target.shape[1]
    if isinstance(k, bool) or int(k) != k or not 1 <= k <= horizon:
        raise ValueError(f"rollout length must be in 1..{horizon} (the target horizon), "
                         f"got {k!r}")
    k = int(k)
    seg = tbptt
    # warm-up on the context; segments that end on a truncation point carry no gradient
    state = None
    a = 0
    while a < n_c:
        b = n_c if seg is None else min((a // seg + 1) * seg, n_c)
        grad = contextlib.nullcontext() if b == n_c else torch.no_grad()
        with grad, autocast():
            pred, state = model(context[:, a:b], state)
        if b < n_c:
            state = detach_state(state)
        a = b
    preds = [pred[:, -1]]
    start = 0  # first prediction of the current segment
    total: torch.Tensor | None = None

    def flush(stop: int) -> None:
        nonlocal total
        piece = loss(torch.stack(preds[start:stop], dim=1), target[:, start:stop])
        if stop - start != k:
            piece = piece * ((stop - start) / k)
        if backward is not None:
            backward(piece)
            piece = piece.detach()
        total = piece if total is None else total + piece

    for i in range(1, k):
        inp = preds[i - 1]
        if seg is not None and (n_c + i - 1) % seg == 0:
            flush(i)
            start = i
            state = detach_state(state)
            inp = inp.detach()
        with autocast():
            pred, state = model(inp.unsqueeze(1), state)
        preds.append(pred[:, -1])
    flush(k)
    assert total is not None
    return total
