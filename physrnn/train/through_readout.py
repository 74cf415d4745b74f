"""Training recurrent weights *through* the closed-form ridge read-out.

A gradient-trained forecaster is finally used with the ridge read-out of
:mod:`physrnn.train.readout` (the least-squares optimum for its recurrent dynamics), yet the
usual training (:class:`~physrnn.train.loop.Trainer`) optimises the recurrent weights for the
network's *own* linear head. On Lorenz-63 that mismatch costs more than the training gains:
the ridge read-out on untrained (random) recurrent weights forecasts longer than on trained
ones. :func:`train_through_readout` removes the mismatch. Every training trajectory is cut in
two: the first ``fit_fraction`` of it fits the read-out, the rest scores it. At every step it

1. runs the cell teacher-forced over the fitting part of every trajectory and solves the
   ridge problem of the read-out (quadratic by default, or linear in ``h``;
   :func:`~physrnn.nn.recurrent.readout_features`)
   on all those states in closed form (float64 mean normal equations on RMS-scaled columns,
   Cholesky);
2. forecasts ``batch_size`` windows drawn from the scoring parts closed-loop with that
   read-out, ``k`` steps after a ``context``-step warm-up;
3. takes as loss the mean over windows of ``log`` of the window's mean squared error
   (``loss="log"``, default; the valid prediction time of a chaotic forecast grows like
   ``-log`` of its error, so every window counts alike) or the plain mean squared error;
4. backpropagates through the rollout *and* the linear solve into the recurrent weights.

So the recurrent weights are trained for what they will be used with: the ridge read-out of
their own states, judged on forecasts of data the read-out was not fitted on. Training starts
from the model as given (the untrained network, for the comparison in the forecasting
benchmarks); after every epoch the read-out is refitted on the whole training series
(:func:`~physrnn.train.readout.select_readout`) and scored on *validation* windows, and the
best epoch (epoch 0 is the starting model) is kept, so the returned model never scores below
the start on validation.

Cost per step: the cell forward and backward over ``fit_fraction * n_traj * time`` steps
(sequential in time, batched over trajectories and patches) and over ``batch_size *
(context + k)`` rollout steps, a Gram matrix of those rows times ``p`` features (``p = d_h
(d_h + 3) / 2 + n_input + 1``: 564 for ``d_h = 32``, 2148 for ``d_h = 64`` on Lorenz-63) and
one ``p x p`` Cholesky; per epoch one read-out refit (see :mod:`physrnn.train.readout`).
Memory: the autograd graph of the whole fitting part, a few times ``rows x p`` float64 (``rows``
= fitting steps x trajectories x patches). That is small for Lorenz-63, but a local GRU of 32
units on Kuramoto-Sivashinsky (32 patches, ``p = 601``) went past 19 GB with 14,000 fitting
steps and stayed near 5 GB with 4,000 (about 25 s per step on one core): use a smaller
``fit_fraction``, shorter series or the linear read-out there.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from physrnn.errors import NonFiniteError
from physrnn.nn.recurrent import READOUTS, RecurrentForecaster, readout_features
from physrnn.progress import Progress, lines_wanted
from physrnn.train.readout import DEFAULT_RIDGES, ReadoutFit, as_series, select_readout

__all__ = ["ThroughReadoutFit", "closed_form_readout", "train_through_readout"]


@dataclass
class ThroughReadoutFit:
    """What :func:`train_through_readout` did.

    ``history`` one row per epoch (epoch 0 = the starting model) with ``epoch``, ``loss``
    (mean rollout MSE over the epoch's steps, normalised units; NaN for epoch 0),
    ``rollout_steps``, ``val_median_steps``, ``val_mean_steps`` (closed-loop valid steps of
    the refitted model on the validation windows) and ``seconds`` (cumulative);
    ``best_epoch`` the epoch returned; ``readout`` the :class:`ReadoutFit` of the returned
    model.
    """

    best_epoch: int
    readout: ReadoutFit
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)


class _RolloutModule(nn.Module):
    """``forward(context, k) = model.rollout(context, k)``, for :func:`functional_call`."""

    def __init__(self, model: RecurrentForecaster) -> None:
        super().__init__()
        self.model = model

    def forward(self, context: torch.Tensor, n_steps: int) -> torch.Tensor:
        return self.model.rollout(context, n_steps)


class _Gram(torch.autograd.Function):
    """``a^T a`` with the symmetric backward ``a (g + g^T)``: one matrix product instead of
    autograd's two."""

    @staticmethod
    def forward(ctx, a: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(a)
        return a.T @ a

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (a,) = ctx.saved_tensors
        return a @ (grad + grad.T)


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def closed_form_readout(model: RecurrentForecaster, series: torch.Tensor, *, washout: int,
                        ridge: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form ridge read-out on the teacher-forced states of ``series`` ``(b, T, n)``.

    The rows are the steps ``washout <= t < T - 1`` of every sequence of
    ``model.teacher_view(series)``, the features ``[readout_features(h_t, x_t), 1]`` and the
    targets the next value (its increment with ``predict_increments``), as in
    :func:`~physrnn.train.readout.fit_readout`.
    The feature columns are scaled to unit RMS, ``ridge`` is added to the mean Gram matrix
    ``A^T A / m`` of the scaled columns (the constant included; its condition number stays
    below ``1 / ridge``) and the system is solved by Cholesky.

    Returns:
        ``(weight, bias)`` of shapes ``(n_output, p - 1)`` and ``(n_output,)`` in the model's
        own feature units, differentiable with respect to the recurrent weights.
    """
    inputs, targets = model.teacher_view(series)
    h, _ = model.rnn(inputs)
    phi = readout_features(h[:, washout:-1], inputs[:, washout:-1], model.readout)
    phi = torch.cat([phi, phi.new_ones(phi.shape[:-1] + (1,))], dim=-1)
    y = targets[:, washout + 1:]
    if model.predict_increments:
        y = y - targets[:, washout:-1]
    a = phi.reshape(-1, phi.shape[-1])
    y = y.reshape(-1, y.shape[-1]).to(a.dtype)
    m = a.shape[0]
    # the column scaling is applied to the p x p Gram matrix, not to the m x p rows: the
    # same numbers, without two passes (and their backward) over the largest tensor
    raw = _Gram.apply(a) / m                                              # (p, p)
    scale = torch.diagonal(raw).sqrt().clamp_min(1e-150)                  # column RMS
    gram = raw / (scale.unsqueeze(0) * scale.unsqueeze(1))
    gram = gram + ridge * torch.eye(a.shape[1], dtype=a.dtype)
    chol = torch.linalg.cholesky(gram)
    rhs = (a.T @ y / m) / scale.unsqueeze(-1)
    w_t = torch.cholesky_solve(rhs, chol) / scale.unsqueeze(-1)          # (p, n_output)
    return w_t[:-1].T, w_t[-1]


def train_through_readout(
    model: RecurrentForecaster,
    train: Any,
    val_context: Any,
    val_truth: Any,
    *,
    epochs: int = 8,
    steps_per_epoch: int = 20,
    fit_fraction: float = 0.7,
    batch_size: int = 32,
    context: int = 100,
    rollout_steps: tuple[int, int] = (50, 200),
    washout: int = 100,
    lr: float = 1e-3,
    ridge: float = 1e-10,
    loss: str = "log",
    clip_grad_norm: float = 1.0,
    refit_ridges: tuple[float, ...] | list[float] = DEFAULT_RIDGES,
    refit_washout: int = 100,
    threshold: float = 0.4,
    readout: str = "quadratic",
    seed: int = 0,
    progress: bool | None = None,
) -> tuple[RecurrentForecaster, ThroughReadoutFit]:
    """Train the recurrent weights of ``model`` for its ridge read-out (see the module doc).

    Args:
        model: the starting :class:`RecurrentForecaster` (global or local); not modified.
            Its read-out is widened to ``readout``; training runs in float64 on the CPU.
        train: ``(n_traj, time, n_state)`` (or ``(time, n_state)``) training series in the
            model's normalised coordinates.
        val_context, val_truth: validation windows ``(n_windows, C, n_state)`` and
            ``(n_windows, horizon, n_state)`` that choose the ridge and the epoch.
        epochs: passes of ``steps_per_epoch`` optimiser steps each (0: only score the start).
        fit_fraction: share of every training trajectory (its start) that fits the read-out
            at each step; windows of the rest are forecast for the loss.
        batch_size: forecast windows per step.
        context: warm-up steps of every forecast window.
        rollout_steps: ``(k_first, k_last)``: the closed-loop horizon grows linearly over the
            epochs from ``k_first`` to ``k_last`` steps.
        washout: steps at the start of every fitting part left out of the read-out fit.
        lr: Adam learning rate of the recurrent weights.
        ridge: regularisation of the read-out fit at each step, on the mean Gram matrix of
            the RMS-scaled feature columns (``>= ~1e-13`` keeps it positive definite).
        loss: ``"log"`` (mean over windows of the log mean squared error) or ``"mse"``.
        clip_grad_norm: gradient-norm clip (``<= 0``: none).
        refit_ridges, refit_washout, threshold: the full-data read-out selection after each
            epoch, as in :func:`~physrnn.train.readout.select_readout`.
        readout: the read-out features solved for at every step and refitted after every
            epoch: ``"quadratic"`` (default) or ``"linear"`` (``h`` only, ``p = d_h + 1``).
        seed: seed of the window draws.
        progress: ``False`` prints nothing; otherwise one line per epoch where
            :func:`physrnn.progress.lines_wanted` says so.

    Returns:
        ``(fitted, info)``: the best epoch's model with its refitted ridge read-out (float64,
        CPU, evaluation mode) and a :class:`ThroughReadoutFit`.

    Raises:
        ValueError: bad options, or training series too short to split.
        NonFiniteError: the loss became NaN or infinite.
    """
    if not isinstance(model, RecurrentForecaster):
        raise TypeError(f"train_through_readout needs a RecurrentForecaster, "
                        f"got {type(model).__name__}")
    epochs = _check_int("epochs", epochs, 0)
    steps_per_epoch = _check_int("steps_per_epoch", steps_per_epoch, 1)
    batch_size = _check_int("batch_size", batch_size, 1)
    context = _check_int("context", context, 1)
    washout = _check_int("washout", washout, 0)
    k0, k1 = (_check_int("rollout_steps", k, 1) for k in rollout_steps)
    if not (lr > 0 and ridge > 0 and 0 < fit_fraction < 1):
        raise ValueError(f"need lr > 0, ridge > 0 and 0 < fit_fraction < 1, got lr={lr!r}, "
                         f"ridge={ridge!r}, fit_fraction={fit_fraction!r}")
    if loss not in ("log", "mse"):
        raise ValueError(f"loss must be 'log' or 'mse', got {loss!r}")
    if readout not in READOUTS:
        raise ValueError(f"unknown readout {readout!r}; choose one of {', '.join(READOUTS)}")
    if model.readout != "linear" and readout != model.readout:
        raise ValueError(f"cannot train a {model.readout!r} read-out model for a {readout!r} "
                         "read-out; start from a linear one")
    x = as_series(train, "train", model.n_state)
    n_traj, n_t, _ = x.shape
    n_fit = int(fit_fraction * n_t)
    if n_fit < washout + 2 or n_t - n_fit < context + max(k0, k1):
        raise ValueError(f"training series of {n_t} steps are too short: the fitting part "
                         f"({n_fit} steps) needs more than the washout ({washout}) and the "
                         f"rest ({n_t - n_fit}) one window (context {context} + rollout "
                         f"{max(k0, k1)})")
    fit_part, score_part = x[:, :n_fit], x[:, n_fit:]

    work = model.with_readout(readout).to(device="cpu", dtype=torch.float64).train()
    params = [p for name, p in work.named_parameters() if not name.startswith("head.")]
    opt = torch.optim.Adam(params, lr=lr)
    gen = torch.Generator().manual_seed(int(seed))
    wrapper = _RolloutModule(work)
    select = {"ridges": refit_ridges, "washout": refit_washout, "readout": readout,
              "threshold": threshold, "progress": False}
    t_start = time.perf_counter()
    history: list[dict[str, float]] = []

    def score(epoch: int, mean_loss: float, k: int):
        fitted, info = select_readout(work, x, val_context, val_truth, **select)
        row = info.table[[r["ridge"] for r in info.table].index(info.ridge)]
        history.append({"epoch": epoch, "loss": mean_loss, "rollout_steps": k,
                        "val_median_steps": row["val_median_steps"],
                        "val_mean_steps": row["val_mean_steps"],
                        "seconds": time.perf_counter() - t_start})
        return (row["val_median_steps"], row["val_mean_steps"]), fitted, info

    best_score, best_model, best_info = score(0, math.nan, 0)
    best_epoch = 0
    lines = Progress(epochs, phase="training through the read-out", unit="epoch",
                     enabled=lines_wanted(progress))
    for epoch in range(1, epochs + 1):
        k = k0 if epochs == 1 else round(k0 + (k1 - k0) * (epoch - 1) / (epochs - 1))
        total = 0.0
        for _ in range(steps_per_epoch):
            traj = torch.randint(n_traj, (batch_size,), generator=gen)
            start = torch.randint(score_part.shape[1] - context - k + 1, (batch_size,),
                                  generator=gen)
            win = score_part[traj.unsqueeze(1), start.unsqueeze(1) + torch.arange(context + k)]
            weight, bias = closed_form_readout(work, fit_part, washout=washout, ridge=ridge)
            pred = functional_call(wrapper, {"model.head.weight": weight,
                                             "model.head.bias": bias},
                                   (win[:, :context], k))
            err = ((pred - win[:, context:]) ** 2).mean(dim=(1, 2))       # (batch,)
            value = torch.log(err + 1e-300).mean() if loss == "log" else err.mean()
            if not torch.isfinite(value):
                raise NonFiniteError(f"training through the read-out: loss {float(value)} "
                                     f"at epoch {epoch}")
            opt.zero_grad(set_to_none=True)
            value.backward()
            if clip_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(params, clip_grad_norm)
            opt.step()
            total += float(value.detach())
        sc, fitted, info = score(epoch, total / steps_per_epoch, k)
        if sc > best_score:
            best_score, best_model, best_info, best_epoch = sc, fitted, info, epoch
        lines.update(epoch, loss=total / steps_per_epoch, rollout=k,
                     val_median_steps=history[-1]["val_median_steps"])
    info = ThroughReadoutFit(best_epoch, best_info, time.perf_counter() - t_start, history)
    return best_model.eval(), info
