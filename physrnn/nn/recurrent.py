"""Recurrent forecasters (Elman RNN, LSTM, GRU) for time series, with closed-loop rollout.

A :class:`RecurrentForecaster` reads a series ``x`` of shape ``(batch, time, n_state)`` (in the
dataset's normalised coordinates, see :mod:`physrnn.data.datasets`) and predicts, at every time
step ``t``, the next point ``x_{t+1}``:

    h_t = cell(x_t, h_{t-1}),        x_hat_{t+1} = x_t + W h_t + b      (predict_increments)
                                     x_hat_{t+1} =       W h_t + b      (otherwise)

Predicting increments makes the untrained model close to persistence and suits data sampled
finely compared with the system's time scale.

With ``readout="quadratic"`` the read-out acts on the features
``phi(h_t, x_t) = [h_t, (h_t h_t^T)_{i<=j}, x_t]`` (``d_h + d_h (d_h + 1) / 2 + n`` of them)
instead of ``h_t``. Gradient training starts from the linear read-out (the extra columns are
initialised at zero); :func:`physrnn.train.readout.fit_readout` then solves for the read-out by
ridge regression on teacher-forced states, which reaches one-step errors gradient descent does
not (Lorenz-63: ~1e-8 against ~1e-3 in normalised units).

Forecasting from a context window is a *warm-up* (teacher-forced pass over the context, giving
the carried state and the prediction of the first future point) followed by a *closed-loop
rollout* in which every prediction is fed back as the next input, one cell step per time step
with the carried state (nothing is recomputed).

:class:`TorchForecaster` wraps a trained module in the :class:`~physrnn.nn.base.Forecaster`
protocol (numpy in, numpy out) so that evaluations score it beside the classical baselines.
Training lives in :mod:`physrnn.train`.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["CELLS", "READOUTS", "RecurrentForecaster", "TorchForecaster", "detach_state",
           "closed_loop", "n_readout_features", "readout_features"]

log = logging.getLogger(__name__)

#: The recurrent cells by name, the one table of the package (forecasters, 1D wavefunctions,
#: memory tasks and the CLI): ``"rnn"`` is the tanh Elman network.
CELLS: dict[str, type[nn.Module]] = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}

#: Read-out feature maps of :class:`RecurrentForecaster` (see the module docstring).
READOUTS: tuple[str, ...] = ("linear", "quadratic")

#: The recurrent state: ``(n_layers, batch, hidden)`` for GRU/RNN, a pair of those for LSTM.
State = Any


def detach_state(state: State) -> State:
    """Detach a recurrent state (a tensor, a tuple/list of tensors, or ``None``) from the graph.

    Used by truncated backpropagation through time; keeps the structure (an LSTM's ``(h, c)``
    stays a tuple).
    """
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, tuple | list):
        return type(state)(detach_state(s) for s in state)
    if isinstance(state, dict):
        return {k: detach_state(v) for k, v in state.items()}
    raise TypeError(f"cannot detach a recurrent state of type {type(state).__name__}")


def readout_features(h: torch.Tensor, x: torch.Tensor, readout: str) -> torch.Tensor:
    """Read-out features of hidden states ``h`` ``(..., d_h)`` and inputs ``x`` ``(..., n)``.

    ``"linear"``: ``h`` itself. ``"quadratic"``: ``[h, (h h^T)_{i<=j}, x]``, of width
    ``d_h + d_h (d_h + 1) / 2 + n``, the monomials in row-major upper-triangle order.
    """
    if readout == "linear":
        return h
    if readout == "quadratic":
        i, j = torch.triu_indices(h.shape[-1], h.shape[-1], device=h.device)
        return torch.cat([h, h[..., i] * h[..., j], x.to(h.dtype)], dim=-1)
    raise ValueError(f"unknown readout {readout!r}; choose one of {', '.join(READOUTS)}")


def n_readout_features(hidden_size: int, n_state: int, readout: str) -> int:
    """Width of :func:`readout_features`."""
    if readout == "linear":
        return hidden_size
    if readout == "quadratic":
        return hidden_size + hidden_size * (hidden_size + 1) // 2 + n_state
    raise ValueError(f"unknown readout {readout!r}; choose one of {', '.join(READOUTS)}")


class RecurrentForecaster(nn.Module):
    """One-step-ahead recurrent forecaster with a linear or quadratic read-out.

    Args:
        n_state: number of state components ``n`` (features).
        cell: ``"gru"`` (default), ``"lstm"`` or ``"rnn"`` (tanh Elman network).
        hidden_size: recurrent state size per layer.
        n_layers: stacked recurrent layers.
        dropout: dropout probability between stacked layers and on the last layer's output
            before the read-out (active in training mode only).
        predict_increments: predict ``x_{t+1} - x_t`` and add ``x_t`` (default) instead of
            ``x_{t+1}`` itself.
        readout: ``"linear"`` (``W h + b``, default) or ``"quadratic"`` (``W phi(h, x) + b``
            with the quadratic features of :func:`readout_features`).
        seed: seed of the parameter initialisation; the global torch RNG is left untouched.
        dtype: parameter dtype, ``torch.float32`` or ``torch.float64``.

    Shapes:
        series ``(batch, time, n_state)``; the state is ``(n_layers, batch, hidden_size)``
        (GRU, RNN) or a pair of those ``(h, c)`` (LSTM). Units are those of the input (the
        dataset's normalised coordinates); one time step is the data's sampling interval.

    Example:
        >>> model = RecurrentForecaster(3, cell="gru", hidden_size=16)
        >>> context = torch.zeros(4, 50, 3)
        >>> model.rollout(context, 20).shape
        torch.Size([4, 20, 3])
    """

    def __init__(
        self,
        n_state: int,
        *,
        cell: str = "gru",
        hidden_size: int = 128,
        n_layers: int = 1,
        dropout: float = 0.0,
        predict_increments: bool = True,
        readout: str = "linear",
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        for name, v in (("n_state", n_state), ("hidden_size", hidden_size),
                        ("n_layers", n_layers)):
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; choose one of {', '.join(sorted(CELLS))}")
        if readout not in READOUTS:
            raise ValueError(f"unknown readout {readout!r}; choose one of {', '.join(READOUTS)}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.n_state = int(n_state)
        #: width of the cell's input and of the read-out's output (``n_state`` here; a local
        #: model, :class:`physrnn.nn.local.LocalRecurrentForecaster`, reads a patch with its
        #: neighbours and predicts the patch only)
        self.n_input = int(n_state)
        self.n_output = int(n_state)
        self.cell = cell
        self.hidden_size = int(hidden_size)
        self.n_layers = int(n_layers)
        self.dropout = float(dropout)
        self.predict_increments = bool(predict_increments)
        self.readout = readout
        self.seed = int(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            # torch applies its dropout between layers only (and warns for one layer)
            self.rnn = CELLS[cell](self.n_state, self.hidden_size, num_layers=self.n_layers,
                                   dropout=self.dropout if self.n_layers > 1 else 0.0,
                                   batch_first=True)
            self.out_dropout = nn.Dropout(self.dropout)
        self.head = self.initial_head()
        self.to(dtype)

    def initial_head(self) -> nn.Linear:
        """A fresh read-out ``n_readout_features(hidden, n_input) -> n_output`` from ``seed``.

        The linear part is torch's default initialisation (drawn after the cell's weights from
        the model's seed); for the quadratic read-out the extra feature columns start at zero,
        so the model starts as its linear counterpart.
        """
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            CELLS[self.cell](self.n_input, self.hidden_size, num_layers=self.n_layers,
                             batch_first=True)  # the cell's draws: the head comes after them
            linear = nn.Linear(self.hidden_size, self.n_output)
        if self.readout == "linear":
            return linear
        wide = nn.Linear(n_readout_features(self.hidden_size, self.n_input, self.readout),
                         self.n_output)
        with torch.no_grad():
            wide.weight.zero_()
            wide.weight[:, :self.hidden_size] = linear.weight
            wide.bias.copy_(linear.bias)
        return wide

    @property
    def views_per_series(self) -> int:
        """Sequences the cell runs per input series (1; a local model: one per patch)."""
        return 1

    def teacher_view(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """What the cell reads and what the read-out predicts, for a series ``x``.

        Args:
            x: ``(batch, T, n_state)``.

        Returns:
            ``(inputs, targets)``: ``(batch * views, T, n_input)`` and
            ``(batch * views, T, n_output)``; here both are ``x`` itself. The read-out at step
            ``t`` predicts ``targets[:, t + 1]`` (minus ``targets[:, t]`` with
            ``predict_increments``) from the cell's state after ``inputs[:, t]``.
        """
        return x, x

    @property
    def dtype(self) -> torch.dtype:
        return self.head.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    def extra_repr(self) -> str:
        return (f"n_state={self.n_state}, cell={self.cell!r}, hidden_size={self.hidden_size}, "
                f"n_layers={self.n_layers}, dropout={self.dropout}, "
                f"predict_increments={self.predict_increments}, readout={self.readout!r}")

    def with_readout(self, readout: str) -> RecurrentForecaster:
        """A copy with the read-out ``readout`` and the same recurrent weights.

        The old read-out weights are kept on the features both read-outs share (``h``), new
        feature columns start at zero, so the copy forecasts as ``self`` (to rounding) until its
        read-out is refitted (:func:`physrnn.train.readout.fit_readout`).
        """
        if readout not in READOUTS:
            raise ValueError(f"unknown readout {readout!r}; choose one of {', '.join(READOUTS)}")
        if readout == self.readout:
            return copy.deepcopy(self)
        if self.readout != "linear":
            raise ValueError(f"can only widen a linear read-out, this one is {self.readout!r}")
        out = copy.deepcopy(self)
        wide = nn.Linear(n_readout_features(self.hidden_size, self.n_input, readout),
                         self.n_output, dtype=self.dtype, device=self.device)
        with torch.no_grad():
            wide.weight.zero_()
            wide.weight[:, :self.hidden_size] = self.head.weight
            wide.bias.copy_(self.head.bias)
        out.head = wide
        out.readout = readout
        return out

    def _check(self, x: torch.Tensor, name: str) -> None:
        if x.ndim != 3 or x.shape[-1] != self.n_state:
            raise ValueError(f"{name} must have shape (batch, time, {self.n_state}), "
                             f"got {tuple(x.shape)}")

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        """Teacher-forced one-step-ahead predictions.

        Args:
            x: ``(batch, T, n_state)`` inputs ``x_0 .. x_{T-1}``.
            state: the state carried from earlier steps (``None``: zeros).

        Returns:
            ``(pred, state)``: ``pred`` ``(batch, T, n_state)`` with ``pred[:, t]`` the
            prediction of ``x_{t+1}`` (so ``pred[:, :-1]`` is compared with ``x[:, 1:]`` and
            ``pred[:, -1]`` forecasts the first point after ``x``); ``state`` after step ``T-1``.
        """
        self._check(x, "x")
        h, state = self.rnn(x, state)
        out = self.head(readout_features(self.out_dropout(h), x, self.readout))
        if self.predict_increments:
            out = x + out
        return out, state

    def step(self, x_t: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """One cell step: ``x_t`` ``(batch, n_state)`` -> (prediction of ``x_{t+1}``, state)."""
        pred, state = self(x_t.unsqueeze(1), state)
        return pred[:, 0], state

    def warmup(self, context: torch.Tensor) -> tuple[State, torch.Tensor]:
        """Run over ``context`` ``(batch, C, n_state)``.

        Returns:
            ``(state, next_pred)``: the state after the last context point and the prediction
            ``(batch, n_state)`` of the first point after the context.
        """
        self._check(context, "context")
        if context.shape[1] < 1:
            raise ValueError("context must hold at least one time step")
        pred, state = self(context)
        return state, pred[:, -1]

    def rollout(self, context: torch.Tensor, n_steps: int) -> torch.Tensor:
        """Closed-loop forecast: warm up on ``context``, then feed predictions back.

        Args:
            context: ``(batch, C, n_state)`` observed history, ``C >= 1``.
            n_steps: number of future points (``>= 0``).

        Returns:
            ``(batch, n_steps, n_state)``: predictions of the ``n_steps`` points after the
            context. Gradients flow through the whole rollout (call under ``torch.no_grad()``
            to forecast only).
        """
        if isinstance(n_steps, bool) or not isinstance(n_steps, int | np.integer) or n_steps < 0:
            raise ValueError(f"n_steps must be an integer >= 0, got {n_steps!r}")
        if n_steps == 0:
            self._check(context, "context")
            return context.new_zeros(context.shape[0], 0, self.n_state)
        state, nxt = self.warmup(context)
        preds = [nxt]
        for _ in range(int(n_steps) - 1):
            nxt, state = self.step(nxt, state)
            preds.append(nxt)
        return torch.stack(preds, dim=1)


def closed_loop(model: nn.Module, context: torch.Tensor, n_steps: int) -> torch.Tensor:
    """Closed-loop rollout of any sequence model ``model(x, state) -> (pred, state)``.

    Uses ``model.rollout`` when the model has one; otherwise warms up with ``model(context)``
    and feeds each prediction back as a one-step input. Shapes as in
    :meth:`RecurrentForecaster.rollout`.
    """
    if hasattr(model, "rollout"):
        return model.rollout(context, n_steps)
    if n_steps < 0:
        raise ValueError(f"n_steps must be >= 0, got {n_steps!r}")
    if n_steps == 0:
        return context.new_zeros(context.shape[0], 0, context.shape[-1])
    pred, state = model(context, None)
    preds = [pred[:, -1]]
    for _ in range(int(n_steps) - 1):
        pred, state = model(preds[-1].unsqueeze(1), state)
        preds.append(pred[:, -1])
    return torch.stack(preds, dim=1)


class TorchForecaster:
    """A trained torch sequence model as a :class:`~physrnn.nn.base.Forecaster`.

    The model is trained with :class:`physrnn.train.Trainer`; this adapter only forecasts.
    Arrays are float64 numpy arrays in the dataset's normalised coordinates, axis order
    ``(batch, time, feature)``; forecasts are computed in the model's dtype on its device, in
    evaluation mode (no dropout), without gradients, ``batch_size`` series at a time.

    Args:
        model: a trained module with ``model(x, state) -> (pred, state)`` (e.g. a
            :class:`RecurrentForecaster`); ``None`` to pass it to :meth:`fit` later.
        name: the name shown in tables; default the model's cell (``"gru"``, ...) or class.
        batch_size: series per forward pass in :meth:`forecast` (memory cap).

    Example:
        >>> f = TorchForecaster(RecurrentForecaster(3, hidden_size=8))
        >>> f.forecast(np.zeros((2, 10, 3)), 5).shape
        (2, 5, 3)
    """

    def __init__(self, model: nn.Module | None = None, *, name: str | None = None,
                 batch_size: int = 1024) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self._name = name
        self.batch_size = int(batch_size)

    @property
    def name(self) -> str:
        if self._name is not None:
            return self._name
        if self.model is None:
            return "torch"
        return str(getattr(self.model, "cell", type(self.model).__name__.lower()))

    def fit(self, train: Any, val: np.ndarray | None = None) -> TorchForecaster:
        """Accept a trained module; this adapter does not train.

        ``fit(module)`` wraps ``module``. ``fit(train_array, val)`` leaves an already wrapped
        (trained) model unchanged so that an evaluation may call ``fit`` on every forecaster
        alike; without a model it raises.

        Raises:
            RuntimeError: no model to forecast with (train one with :mod:`physrnn.train`).
        """
        if isinstance(train, nn.Module):
            self.model = train
            return self
        if self.model is None:
            raise RuntimeError(
                "TorchForecaster does not train models: train with physrnn.train.Trainer, "
                "then pass the trained module (TorchForecaster(model) or .fit(model))")
        log.info("%s: the wrapped model is already trained (physrnn.train); fit() leaves it "
                 "unchanged", self.name)
        return self

    def forecast(self, context: np.ndarray, n_steps: int) -> np.ndarray:
        """Closed-loop forecast, see :meth:`physrnn.nn.base.Forecaster.forecast`.

        Returns:
            ``(batch, n_steps, n_state)`` float64.
        """
        if self.model is None:
            raise RuntimeError("TorchForecaster has no model; train one with physrnn.train "
                               "and pass it to TorchForecaster(model)")
        context = np.asarray(context)
        if context.ndim != 3 or context.shape[1] < 1:
            raise ValueError("context must have shape (batch, n_context >= 1, n_state), "
                             f"got {context.shape}")
        if isinstance(n_steps, bool) or not isinstance(n_steps, int | np.integer) or n_steps < 0:
            raise ValueError(f"n_steps must be an integer >= 0, got {n_steps!r}")
        param = next(self.model.parameters())
        was_training = self.model.training
        self.model.eval()
        out = []
        try:
            with torch.no_grad():
                for a in range(0, context.shape[0], self.batch_size):
                    x = torch.as_tensor(context[a: a + self.batch_size], dtype=param.dtype,
                                        device=param.device)
                    out.append(closed_loop(self.model, x, int(n_steps)).double().cpu().numpy())
        finally:
            self.model.train(was_training)
        if not out:
            return np.zeros((0, int(n_steps), context.shape[2]))
        return np.concatenate(out, axis=0)

    def __repr__(self) -> str:
        return f"TorchForecaster(name={self.name!r}, model={self.model!r})"
