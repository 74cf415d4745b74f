"""Optimisers and gradient vectors shared by the VMC driver and the training loop.

* :func:`make_optimizer`: Adam (or plain SGD) with a learning-rate schedule over a number of
  steps (VMC steps or training epochs);
* :func:`grad_norm`: the total gradient 2-norm, optionally clipping it;
* :func:`flat_grad`: the gradients of a list of parameters as one float64 vector, the form in
  which gradients are reduced over ranks and SR directions are written back.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

__all__ = ["COMPLEX_GRADS", "flat_grad", "grad_norm", "make_optimizer"]

#: How :func:`flat_grad` writes a complex gradient.
COMPLEX_GRADS = ("pairs", "real")


def make_optimizer(
    model: torch.nn.Module,
    *,
    lr: float = 1e-2,
    schedule: str = "constant",
    n_steps: int = 1000,
    lr_final: float = 1e-4,
    optimizer: str = "adam",
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """Adam (or plain SGD) with a learning-rate schedule over ``n_steps``.

    Args:
        model: the module whose ``parameters()`` are optimised.
        lr: initial learning rate.
        schedule: ``"constant"``, ``"cosine"`` (cosine decay from ``lr`` to ``lr_final``) or
            ``"exponential"`` (geometric decay from ``lr`` to ``lr_final``).
        n_steps: number of scheduler steps over which the schedule runs.
        lr_final: learning rate reached after ``n_steps`` (cosine, exponential).
        optimizer: ``"adam"`` or ``"sgd"`` (no momentum: with SR, imaginary-time steps of
            size ``lr``).

    Returns:
        ``(optimizer, scheduler)``; step the scheduler once per step (or epoch).
    """
    if optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    elif optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=lr)
    else:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose 'adam' or 'sgd'")
    if schedule == "constant":
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    elif schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(n_steps, 1),
                                                           eta_min=lr_final)
    elif schedule == "exponential":
        gamma = (lr_final / lr) ** (1.0 / max(n_steps, 1))
        sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=gamma)
    else:
        raise ValueError(f"unknown learning-rate schedule {schedule!r}; "
                         "choose 'constant', 'cosine' or 'exponential'")
    return opt, sched


def flat_grad(params: Iterable[torch.Tensor], *, complex_grads: str = "pairs") -> torch.Tensor:
    """The gradients of ``params``, flattened and concatenated in order, as float64.

    A parameter whose ``grad`` is ``None`` contributes zeros. A complex gradient is written
    according to ``complex_grads``:

    * ``"pairs"``: its real and imaginary parts interleaved (``torch.view_as_real``), ``2
      numel`` entries, so that the vector can be written back exactly (the training loop's
      data-parallel reduction);
    * ``"real"``: ``numel`` entries, the real part only (torch's complex-to-real cast), one
      entry per parameter element, the layout of :func:`physrnn.vmc.sr.apply_direction`
      (wavefunction parameters are real, so nothing is dropped there).

    For real parameters both give the same vector.

    Args:
        params: the parameters (e.g. the trainable ones of a model, in ``parameters()`` order).
        complex_grads: ``"pairs"`` or ``"real"``.

    Returns:
        ``(P,)`` float64 on the parameters' device (``P = 0``: an empty CPU vector).
    """
    if complex_grads not in COMPLEX_GRADS:
        raise ValueError(f"unknown complex_grads {complex_grads!r}; choose one of "
                         f"{COMPLEX_GRADS}")
    pairs = complex_grads == "pairs"
    parts = []
    for p in params:
        if p.grad is None:
            size = p.numel() * (2 if pairs and p.is_complex() else 1)
            parts.append(torch.zeros(size, dtype=torch.float64, device=p.device))
            continue
        g = p.grad.detach()
        if pairs and g.is_complex():
            g = torch.view_as_real(g)
        parts.append(g.reshape(-1).to(torch.float64))
    if not parts:
        return torch.zeros(0, dtype=torch.float64)
    return torch.cat(parts)


def grad_norm(params: Iterable[torch.Tensor], *, max_norm: float | None = None) -> float:
    """Total 2-norm of the gradients of ``params`` (those whose ``grad`` is set), before
    clipping; with ``max_norm`` the gradients are then clipped in place to that total norm
    (``torch.nn.utils.clip_grad_norm_``). 0 when no parameter has a gradient."""
    with_grad = [p for p in params if p.grad is not None]
    if not with_grad:
        return 0.0
    if max_norm is not None:
        norm = torch.nn.utils.clip_grad_norm_(with_grad, max_norm)
    else:
        norm = torch.nn.utils.get_total_norm([p.grad for p in with_grad])
    return float(norm)
