"""Checks of the :class:`~physrnn.train.loop.Trainer`'s options, and its mixed precision.

:func:`check_options` raises on an option the trainer cannot use (naming it);
:func:`resolve_amp` turns the ``amp`` option into an autocast dtype and a gradient scaler, and
:func:`autocast` is the context every forward pass runs in.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from physrnn.train.rollout import check_rollout_schedule

__all__ = ["AMP_OPTIONS", "autocast", "check_options", "param_dtype", "resolve_amp"]

#: Accepted values of the ``amp`` option.
AMP_OPTIONS = (False, True, "bf16", "fp16", None)


def check_options(
    *,
    teacher_forcing: str,
    scheduler_step: str,
    val_metric: str,
    rollout_schedule: Any,
    clip_grad_norm: float | None,
    tbptt: int | None,
    patience: int | None,
    min_delta: float,
) -> None:
    """Raise ``ValueError`` (or ``TypeError`` for a rollout schedule of the wrong type) naming
    the first of these :class:`~physrnn.train.loop.Trainer` options that is invalid."""
    if teacher_forcing not in ("window", "target"):
        raise ValueError(f"unknown teacher_forcing {teacher_forcing!r}; choose 'window' or "
                         "'target'")
    if scheduler_step not in ("epoch", "batch"):
        raise ValueError(f"unknown scheduler_step {scheduler_step!r}; choose 'epoch' or "
                         "'batch'")
    if val_metric not in ("rollout", "teacher_forcing"):
        raise ValueError(f"unknown val_metric {val_metric!r}; choose 'rollout' or "
                         "'teacher_forcing'")
    check_rollout_schedule(rollout_schedule)
    if clip_grad_norm is not None and not clip_grad_norm > 0:
        raise ValueError(f"clip_grad_norm must be > 0 or None, got {clip_grad_norm!r}")
    if tbptt is not None and (isinstance(tbptt, bool) or int(tbptt) != tbptt or tbptt < 1):
        raise ValueError(f"tbptt must be an integer >= 1 or None, got {tbptt!r}")
    if patience is not None and (int(patience) != patience or patience < 1):
        raise ValueError(f"patience must be an integer >= 1 or None, got {patience!r}")
    if min_delta < 0:
        raise ValueError(f"min_delta must be >= 0, got {min_delta!r}")


def resolve_amp(
    amp: bool | str | None, device: torch.device, *, param_dtype: torch.dtype
) -> tuple[torch.dtype | None, torch.amp.GradScaler | None, str | None]:
    """The autocast dtype and gradient scaler of the ``amp`` option on ``device``.

    ``True``: bf16 where supported, else fp16 with gradient scaling; ``"bf16"``, ``"fp16"``;
    ``False``/``None``: neither. Mixed precision is only used on CUDA.

    Args:
        amp: the option.
        device: the trainer's device.
        param_dtype: the model's parameter dtype (named in the note on other devices).

    Returns:
        ``(dtype or None, scaler or None, note)``: ``note`` is a line for the log (``None``
        without ``amp``).

    Raises:
        ValueError: an unknown value, or ``"bf16"`` on a GPU without bf16.
    """
    if amp not in AMP_OPTIONS:
        raise ValueError(f"amp must be False, True, 'bf16' or 'fp16', got {amp!r}")
    if not amp:
        return None, None, None
    if device.type != "cuda":
        return None, None, (f"mixed precision (amp={amp!r}) is only used on CUDA; training on "
                            f"{device} in {param_dtype}")
    scaler = None
    if amp == "fp16" or (amp is True and not torch.cuda.is_bf16_supported()):
        dtype = torch.float16
        scaler = torch.amp.GradScaler("cuda")
    elif amp == "bf16" and not torch.cuda.is_bf16_supported():
        raise ValueError(f"amp='bf16' is not supported on {device}; use 'fp16'")
    else:
        dtype = torch.bfloat16
    return dtype, scaler, f"mixed precision: autocast to {dtype} on {device}"


def param_dtype(model: nn.Module) -> torch.dtype:
    """The dtype of ``model``'s first floating-point parameter (batches are cast to it), or
    torch's default dtype when it has none."""
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.get_default_dtype()


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """``torch.autocast`` to ``dtype`` on ``device``'s type, or a no-op for ``dtype=None``."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
