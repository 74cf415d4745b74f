"""Ridge-regression read-out for a trained recurrent forecaster.

Gradient descent leaves the read-out of a :class:`~physrnn.nn.recurrent.RecurrentForecaster`
far from its optimum: on Lorenz-63 a well-trained GRU predicts one step ahead with an error of
~1e-3 (normalised units), and errors grow by ``e`` per Lyapunov time, so the forecast is lost
after a few Lyapunov times. The read-out is linear in its features, so its best weights for
given recurrent dynamics are a least-squares problem, the one reservoir computing solves for a
random network. :func:`fit_readout` solves it for the trained network: run the model
teacher-forced over whole training trajectories, discard a washout, and fit

    min_W  sum_t |W [phi(h_t, x_t); 1] - y_t|^2 + ridge |W|_F^2,
    y_t = x_{t+1} - x_t   (predict_increments)   or   x_{t+1},

with ``phi`` the model's read-out features (:func:`physrnn.nn.recurrent.readout_features`; the
quadratic features are what make the difference). Every column is penalised alike, as in
:class:`~physrnn.nn.reservoir.EchoStateNetwork`. The solution uses a QR factorisation of
``[A | Y]`` accumulated over row chunks (memory ``O(p^2)`` for ``p`` features, whatever the
data length) and the SVD of its ``R`` factor, ``W^T = V diag(s / (s^2 + ridge)) U^T Q^T Y``,
which is accurate for the tiny ridges that long forecasts need.
Cost: a QR of ``(rows + p) x (p + n)`` per chunk (one training trajectory when its rows pass
``max_bytes``: every long trajectory is its own chunk), about ``2 (n_t - washout + p) p^2``
flops per trajectory, then an SVD of ``p x p`` (``~20 p^3``); memory about two copies of
``(n_t - washout + p) (p + n)`` float64. For the quadratic read-out ``p = d_h (d_h + 3) / 2 +
n + 1`` grows as ``d_h^2``: with ``d_h = 128`` (``p = 8388``) a trajectory of 25 000 steps
costs ~5e12 flops (~75 s on one core) and ~5 GB, the SVD ~4 minutes, so long training
trajectories and wide networks make the refit the longest stage of a run. The fitted model
is returned in float64: one-step errors of ~1e-8 are below float32 resolution.

:func:`select_readout` fits every ridge of a grid (one factorisation) and keeps the one whose
closed-loop forecasts on *validation* windows stay valid longest.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from physrnn.errors import NonFiniteError
from physrnn.metrics.forecast import valid_steps
from physrnn.nn.recurrent import RecurrentForecaster, n_readout_features, readout_features
from physrnn.progress import Progress, lines_wanted, phase

__all__ = ["ReadoutFit", "as_series", "fit_readout", "select_readout", "readout_system"]

log = logging.getLogger(__name__)

#: Default ridge grid of :func:`select_readout` (normalised units, every column penalised).
DEFAULT_RIDGES: tuple[float, ...] = (0.0, 1e-16, 1e-14, 1e-12, 1e-10, 1e-8, 1e-6)


@dataclass
class ReadoutFit:
    """What a read-out fit measured.

    ``ridge`` the chosen regularisation; ``one_step_rmse`` the root-mean-square one-step
    error on the training rows (normalised units); ``n_rows``/``n_features`` the size of the
    least-squares problem; ``table`` one row per ridge tried by :func:`select_readout` with
    ``ridge``, ``one_step_rmse``, ``val_median_steps`` and ``val_mean_steps`` (closed-loop
    valid steps on the validation windows).
    """

    ridge: float
    one_step_rmse: float
    n_rows: int
    n_features: int
    washout: int
    table: list[dict[str, float]] = field(default_factory=list)


def as_series(series: Any, name: str, n_state: int) -> torch.Tensor:
    """``series`` as a float64 tensor ``(n_traj, time, n_state)`` (a 2-D array is one
    trajectory); ``ValueError`` for another shape, ``NonFiniteError`` for NaN or inf, both
    naming ``name``."""
    x = torch.as_tensor(np.asarray(series, dtype=np.float64))
    if x.ndim == 2:
        x = x.unsqueeze(0)
    if x.ndim != 3 or x.shape[-1] != n_state:
        raise ValueError(f"{name} must have shape (n_traj, time, {n_state}), "
                         f"got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise NonFiniteError(f"{name} holds NaN or infinite values")
    return x


class _Factorisation:
    """``R`` of ``[A | Y]`` (``A`` = features with a constant column), then ``R_A = U S V^T``.

    Cost: per chunk of trajectories (one trajectory when a trajectory's rows exceed
    ``max_bytes``) a Householder QR of ``(rows + p) x (p + n)``, then one SVD of ``p x p``:
    about ``2 (n_t - washout + p) p^2`` flops per training trajectory plus ``~20 p^3``, with
    ``p = d_h (d_h + 3) / 2 + n + 1`` for the quadratic read-out (8388 for ``d_h = 128``),
    and memory about two copies of the stacked ``(rows + p) x (p + n)`` float64 block.
    """

    def __init__(self, model: RecurrentForecaster, series: torch.Tensor, washout: int,
                 max_bytes: float = 2e8, *, progress: bool | None = None) -> None:
        p: int | None = None
        r_acc: torch.Tensor | None = None
        n_rows = 0
        n_traj = series.shape[0]
        lines = Progress(n_traj, phase="read-out refit", unit="trajectory",
                         enabled=lines_wanted(progress))
        for a, b in _chunks(n_traj, series.shape[1], washout, model, max_bytes):
            inputs, targets = model.teacher_view(series[a:b])
            with torch.no_grad():
                h, _ = model.rnn(inputs)
            holder = [r_acc]
            del r_acc
            for stacked, p_block in _stacked_rows(holder, h, inputs, targets, washout, model,
                                                  max_bytes):
                p = p_block
                holder[0] = None  # copied into stacked: keep one copy during the QR
                holder[0] = torch.linalg.qr(stacked, mode="r").R
                del stacked
            r_acc = holder[0]
            n_rows += inputs.shape[0] * (inputs.shape[1] - washout - 1)
            del h
            lines.update(b, rows=n_rows)
        assert r_acc is not None and p is not None
        if r_acc.shape[0] < r_acc.shape[1]:  # fewer rows than columns: pad R (same R^T R)
            r_acc = torch.cat([r_acc, r_acc.new_zeros(r_acc.shape[1] - r_acc.shape[0],
                                                      r_acc.shape[1])])
        self.n_rows, self.n_features = n_rows, p
        # |A w - y|^2 = |R_A w - Q^T y|^2 + |y outside span(A)|^2, the last the same for all w
        self._outside = float((r_acc[p:, p:] ** 2).sum())
        self.r_a = r_acc[:p, :p]
        self.qty = r_acc[:p, p:]
        if lines.enabled:
            lines.note(f"SVD of the {p} x {p} R factor ({n_rows} rows factorised)")
        self.u, self.s, self.vh = torch.linalg.svd(self.r_a)
        self.uqty = self.u.T @ self.qty

    def solve(self, ridge: float, rcond: float = 1e-14) -> tuple[torch.Tensor, float]:
        """``(W, one-step rmse)``: ``W`` ``(n_state, p)`` with the bias in the last column."""
        s = self.s
        if ridge > 0:
            filt = s / (s**2 + ridge)
        else:
            filt = torch.where(s > s[0] * rcond, 1.0 / s.clamp_min(1e-300), torch.zeros_like(s))
        w_t = self.vh.T @ (filt.unsqueeze(-1) * self.uqty)          # (p, n_state)
        resid = self.r_a @ w_t - self.qty                            # R-space residual
        full = float((resid**2).sum()) + self._outside
        return w_t.T.contiguous(), math.sqrt(max(full, 0.0) / (self.n_rows * self.qty.shape[1]))


def _stacked_rows(holder: list, h: torch.Tensor, x: torch.Tensor,
                  targets: torch.Tensor, washout: int, model: RecurrentForecaster,
                  max_bytes: float):
    """Blocks ``[R_acc; [phi, 1, target]]``: the running ``R`` above read-out rows.

    ``h`` ``(b, T, d_h)`` hidden states of the cell inputs ``x`` ``(b, T, n_input)``, with
    ``targets`` ``(b, T, n_output)`` (:meth:`RecurrentForecaster.teacher_view`); rows are the
    steps ``washout <= t < T - 1`` of every sequence, sequence-major, yielded in blocks of
    about ``max_bytes`` (whole sequences: at least one per block), each
    written into one preallocated tensor a few time steps at a time. ``holder[0]`` is the
    running ``R`` (``None`` at first): the caller replaces it by the ``R`` of every block
    before the next block is built.

    Yields:
        ``(stacked, p)``: ``(r + rows, p + n_output)`` float64 with ``p`` the number of
        feature columns including the constant.
    """
    b, n_t, n = x.shape
    n_out = targets.shape[-1]
    p = n_readout_features(model.hidden_size, n, model.readout) + 1
    t_rows = n_t - washout - 1
    width = p + n_out
    # whole sequences are grouped into blocks of about max_bytes (a sequence is never split)
    block = max(int(max_bytes // (8 * width)), t_rows)
    step = max(1, int(max_bytes // (8 * 4 * width)))  # feature temporaries of one slice
    per = max(1, block // t_rows)
    pieces = [[(j, washout, n_t - 1) for j in range(a, min(a + per, b))]
              for a in range(0, b, per)]
    for group in pieces:
        r_acc = holder[0]
        rows_total = sum(t1 - t0 for _, t0, t1 in group)
        r_rows = 0 if r_acc is None else r_acc.shape[0]
        stacked = torch.empty(r_rows + rows_total, width, dtype=h.dtype)
        if r_acc is not None:
            stacked[:r_rows] = r_acc
        base = r_rows
        for j, g0, g1 in group:
            for t0 in range(g0, g1, step):
                t1 = min(t0 + step, g1)
                rows = stacked[base + t0 - g0:base + t1 - g0]
                hx, xx = h[j, t0:t1], x[j, t0:t1]
                rows[:, :p - 1] = readout_features(hx, xx, model.readout)
                rows[:, p - 1] = 1.0
                target = targets[j, t0 + 1:t1 + 1]
                if model.predict_increments:
                    target = target - targets[j, t0:t1]
                rows[:, p:] = target
            base += g1 - g0
        del r_acc
        yield stacked, p


def _chunks(n_traj: int, n_t: int, washout: int, model: RecurrentForecaster,
            max_bytes: float):
    """Trajectory ranges whose feature block stays under ``max_bytes`` (float64)."""
    if n_t <= washout + 1:
        raise ValueError(f"trajectories of {n_t} steps leave nothing after a washout of "
                         f"{washout} steps (need at least {washout + 2})")
    p = (n_readout_features(model.hidden_size, model.n_input, model.readout) + 1
         + model.n_output)
    rows_per_traj = (n_t - washout - 1) * model.views_per_series
    per = max(1, int(max_bytes // (8 * p * rows_per_traj)))
    for a in range(0, n_traj, per):
        yield a, min(a + per, n_traj)


def _fitted_copy(model: RecurrentForecaster, w: torch.Tensor, dtype: torch.dtype):
    out = copy.deepcopy(model).to(dtype)
    with torch.no_grad():
        out.head.weight.copy_(w[:, :-1])
        out.head.bias.copy_(w[:, -1])
    return out.eval()


def _prepare(model: RecurrentForecaster, train: Any, washout: int, readout: str | None,
             progress: bool | None = None):
    if not isinstance(model, RecurrentForecaster):
        raise TypeError(f"fit_readout needs a RecurrentForecaster, got {type(model).__name__}")
    if readout is not None:
        model = model.with_readout(readout)
    if isinstance(washout, bool) or not isinstance(washout, int | np.integer) or washout < 0:
        raise ValueError(f"washout must be an integer >= 0, got {washout!r}")
    work = copy.deepcopy(model).to(device="cpu", dtype=torch.float64).eval()
    x = as_series(train, "train", model.n_state)
    return work, _Factorisation(work, x, int(washout), progress=progress)


def fit_readout(
    model: RecurrentForecaster,
    train: Any,
    *,
    ridge: float = 1e-10,
    washout: int = 100,
    readout: str | None = "quadratic",
    dtype: torch.dtype = torch.float64,
) -> tuple[RecurrentForecaster, ReadoutFit]:
    """Refit the read-out of ``model`` by ridge regression on teacher-forced trajectories.

    Args:
        model: a (trained) :class:`RecurrentForecaster`; it is not modified.
        train: ``(n_traj, time, n_state)`` whole training trajectories in the model's
            (normalised) coordinates; each gives ``time - washout - 1`` rows.
        ridge: Tikhonov regularisation (``>= 0``; 0 = minimum-norm least squares).
        washout: steps discarded at the start of each trajectory while the recurrent state
            forgets its zero initial value.
        readout: the read-out features of the fitted model (``"quadratic"``, the default,
            widens a linear read-out with :meth:`RecurrentForecaster.with_readout`); ``None``
            keeps the model's own.
        dtype: dtype of the returned model (float64 by default: see the module docstring).

    Returns:
        ``(fitted, info)``: a copy of ``model`` on the CPU in ``dtype``, in evaluation mode,
        with the new read-out, and a :class:`ReadoutFit`.
    """
    if not ridge >= 0:
        raise ValueError(f"ridge must be >= 0, got {ridge!r}")
    work, fac = _prepare(model, train, washout, readout)
    w, rmse = fac.solve(float(ridge))
    return _fitted_copy(work, w, dtype), ReadoutFit(float(ridge), rmse, fac.n_rows,
                                                    fac.n_features, int(washout))


def select_readout(
    model: RecurrentForecaster,
    train: Any,
    val_context: Any,
    val_truth: Any,
    *,
    ridges: tuple[float, ...] | list[float] = DEFAULT_RIDGES,
    washout: int = 100,
    readout: str | None = "quadratic",
    threshold: float = 0.4,
    dtype: torch.dtype = torch.float64,
    progress: bool | None = None,
) -> tuple[RecurrentForecaster, ReadoutFit]:
    """Fit the read-out for every ridge in ``ridges``; keep the best on validation forecasts.

    Each candidate forecasts the validation windows closed-loop from their contexts; the score
    is the median (then the mean) number of steps before the NRMSE (per-component unit scale,
    the normalised coordinates) exceeds ``threshold``. Ties go to the larger ridge. The test
    split is never seen.

    Args:
        val_context: ``(n_windows, n_context, n_state)`` validation contexts.
        val_truth: ``(n_windows, horizon, n_state)`` what followed each context.
        progress: ``False`` reports nothing; otherwise the ``read-out refit`` phase is
            bracketed by phase lines, with plain progress lines (per trajectory factorised,
            per ridge tried) where :func:`physrnn.progress.lines_wanted` says so.
        Other arguments as in :func:`fit_readout`.

    Cost: the factorisation (see the module docstring; it dominates for long trajectories
    and a quadratic read-out of a wide network), then per ridge a closed-loop forecast of
    every validation window over its horizon.

    Returns:
        ``(fitted, info)`` as :func:`fit_readout`, with ``info.table`` listing every ridge.
    """
    ridges = sorted({float(r) for r in ridges}, reverse=True)
    if not ridges or any(not r >= 0 for r in ridges):
        raise ValueError(f"ridges must be a non-empty list of numbers >= 0, got {ridges!r}")
    ctx = as_series(val_context, "val_context", model.n_state)
    truth = as_series(val_truth, "val_truth", model.n_state).numpy()
    with phase("read-out refit", enabled=progress is not False):
        return _select(model, train, ctx, truth, ridges, washout, readout, threshold, dtype,
                       progress)


def _select(model: RecurrentForecaster, train: Any, ctx: torch.Tensor, truth: np.ndarray,
            ridges: list[float], washout: int, readout: str | None, threshold: float,
            dtype: torch.dtype, progress: bool | None) -> tuple[RecurrentForecaster, ReadoutFit]:
    """:func:`select_readout` after its checks: factorise, then try every ridge."""
    work, fac = _prepare(model, train, washout, readout, progress)
    best: tuple[tuple[float, float], RecurrentForecaster, float, float] | None = None
    table = []
    lines = Progress(len(ridges), phase="read-out refit", unit="ridge",
                     enabled=lines_wanted(progress))
    for i, ridge in enumerate(ridges):
        w, rmse = fac.solve(ridge)
        cand = _fitted_copy(work, w, dtype)
        with torch.no_grad():
            pred = cand.rollout(ctx.to(dtype), truth.shape[1]).double().numpy()
        steps = valid_steps(pred, truth, threshold=threshold)
        score = (float(np.median(steps)), float(np.mean(steps)))
        table.append({"ridge": ridge, "one_step_rmse": rmse, "val_median_steps": score[0],
                      "val_mean_steps": score[1]})
        log.info("readout ridge %.1e: one-step rmse %.2e, validation median %d steps", ridge,
                 rmse, score[0])
        if best is None or score > best[0]:
            best = (score, cand, ridge, rmse)
        lines.update(i + 1, ridge=ridge, val_median_steps=score[0])
    assert best is not None
    _, fitted, ridge, rmse = best
    return fitted, ReadoutFit(ridge, rmse, fac.n_rows, fac.n_features, int(washout), table)


def readout_system(fit: ReadoutFit) -> dict[str, Any]:
    """Flat summary of a :class:`ReadoutFit` for run records (no table)."""
    return {"readout_ridge": fit.ridge, "readout_one_step_rmse": fit.one_step_rmse,
            "readout_rows": fit.n_rows, "readout_features": fit.n_features,
            "readout_washout": fit.washout}
