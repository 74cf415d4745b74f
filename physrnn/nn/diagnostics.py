"""Why backpropagation through time (BPTT) gradients vanish or explode: measurements on a model.

Every function here takes a *recurrent model* ``rnn`` of one of three kinds:

- a torch ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` (any number of layers, unidirectional, no
  ``proj_size``); the cell is re-implemented step by step from the module's own parameters
  (``weight_ih_l0`` ...) with torch's equations, so that single steps can be differentiated;
- a :class:`~physrnn.nn.recurrent.RecurrentForecaster` (its inner ``.rnn`` is used; the linear
  read-out is not part of the recurrence and is left out);
- any ``nn.Module`` exposing ``step(x_t, state) -> (out, state)`` with ``x_t`` ``(B, F)`` and a
  state that is a tensor ``(B, H)`` (or ``(L, B, H)``) or a tuple of such tensors whose first
  entry is the hidden state ``h``. Without an explicit ``state`` the module needs a
  ``hidden_size`` attribute (zeros ``(B, hidden_size)`` are used).

Shapes: the input series ``x`` is ``(B, T, F)`` (batch, time, feature) whatever the module's
``batch_first``. The *hidden state* ``h_t`` is the last layer's ``h`` after reading ``x_t``,
``(B, H)``; ``outputs`` handed to a ``loss_fn`` are these stacked, ``(B, T, H)``. The *full state*
``s_t`` (what the dynamics map ``s_{t+1} = f(s_t, x_{t+1})`` acts on) is, per sample, the
concatenation of every layer's ``h`` (and ``c`` for an LSTM): ``D = L * H`` (``2 * L * H`` for an
LSTM). One time step is one sample of the series; rates are per step (natural log).

Quantities:

- :func:`hidden_gradient_norms` ``||dL/dh_t||`` for every ``t`` (Frobenius norm over the batch);
- :func:`step_jacobians` ``J_t = ds_{t+1}/ds_t`` along a trajectory, :func:`jacobian_spectra`,
  :func:`product_spectra` (singular values of ``J_{t+k-1} ... J_t``, renormalised products) and
  :func:`lyapunov_like_rates` (QR / Benettin iteration: the average log growth per step of
  ``D`` independent directions, the Lyapunov exponents of the driven hidden dynamics);
- :func:`per_step_weight_gradients` / :func:`per_step_weight_contributions` the term that each
  time step adds to the gradient of the shared weights (BPTT sums these);
- :func:`verdict` "vanishing" / "exploding" / "healthy" from the fitted per-step growth rate.

Figures of these quantities are drawn by the application tier
(:func:`physrnn.runs.plotting.plot_gradient_norms`, ``plot_jacobian_spectra``,
``plot_weight_contributions``); nothing here plots.

Inter-layer dropout of a torch module is not applied (the diagnostics follow the evaluation-mode
dynamics). Nothing here draws random numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "hidden_gradient_norms",
    "step_jacobians",
    "jacobian_spectra",
    "product_spectra",
    "lyapunov_like_rates",
    "per_step_weight_gradients",
    "per_step_weight_contributions",
    "verdict",
    "VANISHING_RATE",
    "EXPLODING_RATE",
]

#: :func:`verdict` thresholds on the per-step log growth rate of ``||dL/dh_t||`` going backwards
#: from the loss: below ``VANISHING_RATE`` (a factor ``exp(-0.05) ~ 0.951`` per step, ``e^-5``
#: over 100 steps) the gradient vanishes, above ``EXPLODING_RATE`` it explodes.
VANISHING_RATE = -0.05
EXPLODING_RATE = 0.05

_MODES = ("RNN_TANH", "RNN_RELU", "GRU", "LSTM")


# --------------------------------------------------------------------------------------------
# one differentiable cell step for every supported model
# --------------------------------------------------------------------------------------------


def _torch_cell_step(m: nn.RNNBase, x_t: torch.Tensor,
                     state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """One step of a torch RNN/GRU/LSTM with torch's equations; state tensors ``(L, B, H)``."""
    h = state[0]
    c = state[1] if m.mode == "LSTM" else None
    inp = x_t
    hs, cs = [], []
    for layer in range(m.num_layers):
        w_ih = getattr(m, f"weight_ih_l{layer}")
        w_hh = getattr(m, f"weight_hh_l{layer}")
        b_ih = getattr(m, f"bias_ih_l{layer}") if m.bias else None
        b_hh = getattr(m, f"bias_hh_l{layer}") if m.bias else None
        gi = F.linear(inp, w_ih, b_ih)
        gh = F.linear(h[layer], w_hh, b_hh)
        if m.mode == "RNN_TANH":
            hn = torch.tanh(gi + gh)
        elif m.mode == "RNN_RELU":
            hn = torch.relu(gi + gh)
        elif m.mode == "GRU":
            i_r, i_z, i_n = gi.chunk(3, dim=-1)
            h_r, h_z, h_n = gh.chunk(3, dim=-1)
            r = torch.sigmoid(i_r + h_r)
            z = torch.sigmoid(i_z + h_z)
            n = torch.tanh(i_n + r * h_n)
            hn = (1.0 - z) * n + z * h[layer]
        else:  # LSTM
            i, f, g, o = (gi + gh).chunk(4, dim=-1)
            cn = torch.sigmoid(f) * c[layer] + torch.sigmoid(i) * torch.tanh(g)
            hn = torch.sigmoid(o) * torch.tanh(cn)
            cs.append(cn)
        hs.append(hn)
        inp = hn
    if m.mode == "LSTM":
        return torch.stack(hs), torch.stack(cs)
    return (torch.stack(hs),)


class _Stepper(nn.Module):
    """``forward(x_t (B, F), state: tuple) -> state: tuple``: one step of the recurrence."""

    def __init__(self, core: nn.Module, kind: str, tensor_state: bool) -> None:
        super().__init__()
        self.core = core
        self.kind = kind
        self.tensor_state = tensor_state

    def forward(self, x_t: torch.Tensor, state: tuple[torch.Tensor, ...]
                ) -> tuple[torch.Tensor, ...]:
        if self.kind == "torch":
            return _torch_cell_step(self.core, x_t, state)
        _, new = self.core.step(x_t, state[0] if self.tensor_state else state)
        if isinstance(new, torch.Tensor):
            return (new,)
        if isinstance(new, tuple | list) and all(isinstance(s, torch.Tensor) for s in new):
            return tuple(new)
        raise TypeError(f"{type(self.core).__name__}.step must return (out, state) with a tensor "
                        f"or a tuple of tensors as state, got {type(new).__name__}")


def _prepare(rnn: nn.Module, x: torch.Tensor, state: Any
             ) -> tuple[_Stepper, tuple[torch.Tensor, ...], str]:
    """Resolve the model into (stepper, initial state as a tuple, parameter-name prefix)."""
    if not isinstance(x, torch.Tensor) or x.ndim != 3:
        raise ValueError("x must be a tensor of shape (batch, time, features), got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    if x.shape[1] < 1:
        raise ValueError("x must hold at least one time step")
    prefix = ""
    core = rnn
    if not isinstance(rnn, nn.RNNBase) and isinstance(getattr(rnn, "rnn", None), nn.RNNBase):
        core, prefix = rnn.rnn, "rnn."
    b = x.shape[0]
    if isinstance(core, nn.RNNBase):
        if core.mode not in _MODES:
            raise ValueError(f"unsupported recurrent mode {core.mode!r}")
        if core.bidirectional:
            raise ValueError("bidirectional RNNs have no causal hidden dynamics to diagnose")
        if getattr(core, "proj_size", 0):
            raise ValueError("LSTMs with proj_size > 0 are not supported")
        if x.shape[-1] != core.input_size:
            raise ValueError(f"x has {x.shape[-1]} features, the RNN expects {core.input_size}")
        w = core.weight_ih_l0
        if x.dtype != w.dtype or x.device != w.device:
            raise ValueError(f"x is {x.dtype} on {x.device}, the RNN's parameters are {w.dtype} "
                             f"on {w.device}")
        shape = (core.num_layers, b, core.hidden_size)
        n_state = 2 if core.mode == "LSTM" else 1
        if state is None:
            state0 = tuple(x.new_zeros(shape) for _ in range(n_state))
        else:
            state0 = (state,) if isinstance(state, torch.Tensor) else tuple(state)
            if len(state0) != n_state or any(tuple(s.shape) != shape for s in state0):
                raise ValueError(f"state must be {n_state} tensor(s) of shape {shape} for this "
                                 f"{core.mode}, got {[tuple(s.shape) for s in state0]}")
        return _Stepper(core, "torch", True), state0, prefix
    if callable(getattr(rnn, "step", None)):
        if state is None:
            hidden = getattr(rnn, "hidden_size", None)
            if hidden is None:
                raise ValueError(f"{type(rnn).__name__} has no hidden_size attribute: pass the "
                                 "initial state explicitly (state=...)")
            state = x.new_zeros(b, int(hidden))
        if isinstance(state, torch.Tensor):
            return _Stepper(rnn, "step", True), (state,), prefix
        if isinstance(state, tuple | list) and all(isinstance(s, torch.Tensor) for s in state):
            return _Stepper(rnn, "step", False), tuple(state), prefix
        raise TypeError(f"state must be a tensor or a tuple of tensors, got {type(state).__name__}")
    raise TypeError(f"{type(rnn).__name__} is neither a torch nn.RNN/GRU/LSTM, a model with an "
                    "inner .rnn of those, nor a module with step(x_t, state) -> (out, state)")


def _last(s: torch.Tensor) -> torch.Tensor:
    """The last layer of a state tensor: ``(L, B, H) -> (B, H)``; ``(B, H)`` unchanged."""
    return s[-1] if s.ndim == 3 else s


def _unroll(stepper: _Stepper, x: torch.Tensor, state0: tuple[torch.Tensor, ...],
            params: Callable[[int], dict[str, torch.Tensor]] | None = None
            ) -> list[tuple[torch.Tensor, ...]]:
    """States after every step, ``T`` tuples; ``params(t)`` substitutes step ``t``'s weights."""
    states = []
    s = state0
    for t in range(x.shape[1]):
        if params is None:
            s = stepper(x[:, t], s)
        else:
            s = torch.func.functional_call(stepper, params(t), (x[:, t], s))
        states.append(s)
    return states


def _scalar_loss(loss_fn: Callable[[torch.Tensor], torch.Tensor], outputs: torch.Tensor
                 ) -> torch.Tensor:
    loss = loss_fn(outputs)
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise ValueError("loss_fn(outputs (B, T, H)) must return a scalar tensor, got "
                         f"{tuple(loss.shape) if isinstance(loss, torch.Tensor) else loss!r}")
    if not torch.isfinite(loss):
        raise ValueError(f"loss_fn returned a non-finite loss ({loss.item()})")
    return loss.reshape(())


# --------------------------------------------------------------------------------------------
# gradient norms per time step
# --------------------------------------------------------------------------------------------


def hidden_gradient_norms(rnn: nn.Module, x: torch.Tensor,
                          loss_fn: Callable[[torch.Tensor], torch.Tensor], *, state: Any = None,
                          include_cell: bool = False) -> torch.Tensor:
    """``||dL/dh_t||`` for every time step: how much the loss still feels each hidden state.

    ``L = loss_fn(outputs)`` with ``outputs`` ``(B, T, H)`` the last layer's hidden states; the
    derivative is the total one (through the direct use of ``h_t`` in the loss and through all
    later steps), taken with the other layers' states at ``t`` held fixed.

    Args:
        rnn: a model (see the module docstring).
        x: ``(B, T, F)`` inputs.
        loss_fn: ``outputs (B, T, H) -> scalar``.
        state: initial state (``None``: zeros).
        include_cell: also count ``dL/dc_t`` (an LSTM's cell state, the second state tensor),
            i.e. the norm of ``(dL/dh_t, dL/dc_t)``.

    Returns:
        ``(T,)`` norms (Frobenius over batch and hidden units), detached, in ``x``'s dtype.
    """
    stepper, state0, _ = _prepare(rnn, x, state)
    if include_cell and len(state0) < 2:
        raise ValueError("include_cell=True needs a state (h, c) (an LSTM)")
    state0 = tuple(s.detach().requires_grad_(True) for s in state0)
    states = _unroll(stepper, x, state0)
    outputs = torch.stack([_last(s[0]) for s in states], dim=1)
    loss = _scalar_loss(loss_fn, outputs)
    n_parts = 2 if include_cell else 1
    targets = [s[i] for s in states for i in range(n_parts)]
    grads = torch.autograd.grad(loss, targets, allow_unused=True)
    norms = []
    for t in range(len(states)):
        sq = x.new_zeros(())
        for i in range(n_parts):
            g = grads[t * n_parts + i]
            if g is not None:
                sq = sq + _last(g).pow(2).sum()
        norms.append(sq.sqrt())
    return torch.stack(norms).detach()


def per_step_weight_gradients(rnn: nn.Module, x: torch.Tensor,
                              loss_fn: Callable[[torch.Tensor], torch.Tensor], *,
                              state: Any = None) -> dict[str, torch.Tensor]:
    """The contribution of every time step to the gradient of each shared recurrent weight.

    BPTT's gradient of a weight ``W`` used at every step is ``dL/dW = sum_t dL/dW_t`` where
    ``W_t`` is the copy used at step ``t``. Here every step gets its own copy (a ``(T, *shape)``
    leaf tensor, substituted with :func:`torch.func.functional_call`), so the terms are exact
    and sum to the ordinary gradient. Memory: ``T`` copies of the recurrent parameters.

    Args: as :func:`hidden_gradient_norms`.

    Returns:
        ``{name: (T, *param.shape)}`` with the names of ``rnn.named_parameters()`` (for a
        forecaster ``"rnn.weight_hh_l0"`` ...); only parameters of the recurrence.
    """
    stepper, state0, prefix = _prepare(rnn, x, state)
    n_t = x.shape[1]
    copies = {name: p.detach().unsqueeze(0).expand(n_t, *p.shape).clone().requires_grad_(True)
              for name, p in stepper.named_parameters()}
    if not copies:
        raise ValueError(f"{type(rnn).__name__} has no parameters in its recurrence")
    states = _unroll(stepper, x, state0, params=lambda t: {n: c[t] for n, c in copies.items()})
    loss = _scalar_loss(loss_fn, torch.stack([_last(s[0]) for s in states], dim=1))
    grads = torch.autograd.grad(loss, list(copies.values()), allow_unused=True)
    out = {}
    for (name, c), g in zip(copies.items(), grads, strict=True):
        key = prefix + name.removeprefix("core.")
        out[key] = torch.zeros_like(c) if g is None else g.detach()
    return out


def per_step_weight_contributions(rnn: nn.Module, x: torch.Tensor,
                                  loss_fn: Callable[[torch.Tensor], torch.Tensor], *,
                                  state: Any = None) -> dict[str, torch.Tensor]:
    """Frobenius norms of :func:`per_step_weight_gradients`: ``{name: (T,)}``.

    A weight whose contributions come only from the last few steps before the loss learns no
    long-range dependence (vanishing gradients); one dominated by early steps explodes.
    """
    grads = per_step_weight_gradients(rnn, x, loss_fn, state=state)
    return {k: g.reshape(g.shape[0], -1).norm(dim=1) for k, g in grads.items()}


# --------------------------------------------------------------------------------------------
# Jacobians of the hidden dynamics
# --------------------------------------------------------------------------------------------


def _flat(state: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """State tuple -> ``(B, D)`` per-sample vectors (layers, then h before c)."""
    parts = [s.transpose(0, 1).reshape(s.shape[1], -1) if s.ndim == 3 else s.reshape(s.shape[0], -1)
             for s in state]
    return torch.cat(parts, dim=1)


def _unflat(z: torch.Tensor, like: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    out, a = [], 0
    for s in like:
        n = s.numel() // (s.shape[1] if s.ndim == 3 else s.shape[0])
        piece = z[:, a: a + n]
        a += n
        if s.ndim == 3:
            out.append(piece.reshape(s.shape[1], s.shape[0], *s.shape[2:]).transpose(0, 1))
        else:
            out.append(piece.reshape(s.shape))
    return tuple(out)


def step_jacobians(rnn: nn.Module, x: torch.Tensor, *, state: Any = None,
                   vectorize: bool = True) -> torch.Tensor:
    """Jacobians ``J_t = ds_{t+1}/ds_t`` of one step, input ``x_{t+1}`` fixed, along the
    trajectory driven by ``x``.

    ``s_t`` is the full state after reading ``x_t`` (all layers; ``h`` then ``c`` for an LSTM,
    see the module docstring), so stacked layers are handled exactly. Each Jacobian costs ``D``
    vector-Jacobian products of one cell step (batched with ``vmap`` when ``vectorize``, else a
    loop; the results are identical).

    Args:
        rnn: a model (see the module docstring).
        x: ``(B, T, F)`` inputs, ``T >= 2``.
        state: initial state (``None``: zeros).

    Returns:
        ``(T-1, B, D, D)`` with ``J[t, b, i, j] = d s_{t+1}[b, i] / d s_t[b, j]``.
    """
    stepper, state0, _ = _prepare(rnn, x, state)
    if x.shape[1] < 2:
        raise ValueError("step_jacobians needs at least two time steps")
    with torch.no_grad():
        traj = _unroll(stepper, x, state0)
    jac = []
    for t in range(x.shape[1] - 1):
        z = _flat(traj[t]).detach().requires_grad_(True)
        with torch.enable_grad():
            out = _flat(stepper(x[:, t + 1], _unflat(z, traj[t])))
        d = out.shape[1]
        eye = torch.eye(d, dtype=out.dtype, device=out.device)
        if vectorize:
            # rows i of every sample's Jacobian: vjp with e_i broadcast over the batch
            cot = eye.unsqueeze(1).expand(d, *out.shape)
            (rows,) = torch.autograd.grad(out, z, cot, is_grads_batched=True)  # (D_i, B, D_j)
        else:
            rows = torch.stack([torch.autograd.grad(out, z, eye[i].expand_as(out),
                                                    retain_graph=True)[0] for i in range(d)])
        jac.append(rows.transpose(0, 1))
    return torch.stack(jac).detach()


def jacobian_spectra(jacobians: torch.Tensor) -> torch.Tensor:
    """Singular values of every step Jacobian, ``(..., D, D) -> (..., D)``, descending.

    Singular values below 1 shrink the backpropagated gradient in that direction, above 1
    amplify it.
    """
    if jacobians.ndim < 2 or jacobians.shape[-1] != jacobians.shape[-2]:
        raise ValueError(f"jacobians must be (..., D, D), got {tuple(jacobians.shape)}")
    return torch.linalg.svdvals(jacobians)


def product_spectra(jacobians: torch.Tensor, lags: Iterable[int], *, log: bool = False
                    ) -> dict[int, torch.Tensor]:
    """Singular values of ``P_t(k) = J_{t+k-1} ... J_{t+1} J_t`` (``k`` steps of the dynamics).

    The backpropagated gradient ``dL/ds_t = P_t(k)^T dL/ds_{t+k}``, so these say how much
    ``k`` steps shrink or stretch it. Products are accumulated with a running rescaling by
    their norm (the log scale is kept aside), so long products neither overflow nor underflow;
    singular values smaller than ``eps`` times the largest are at round-off level.

    Args:
        jacobians: ``(N, B, D, D)`` from :func:`step_jacobians` (``N = T - 1``).
        lags: product lengths ``1 <= k <= N``.
        log: return natural logs of the singular values (use for long products).

    Returns:
        ``{k: (N - k + 1, B, D)}`` descending singular values (or their logs) for every start
        ``t``.
    """
    if jacobians.ndim != 4 or jacobians.shape[-1] != jacobians.shape[-2]:
        raise ValueError(f"jacobians must be (N, B, D, D), got {tuple(jacobians.shape)}")
    n = jacobians.shape[0]
    out = {}
    for k in lags:
        k = int(k)
        if not 1 <= k <= n:
            raise ValueError(f"lag {k} is outside 1..{n} (the number of Jacobians)")
        res = []
        for t in range(n - k + 1):
            p = jacobians[t]
            logscale = torch.zeros(p.shape[:-2], dtype=p.dtype, device=p.device)
            for s in range(t + 1, t + k):
                p = jacobians[s] @ p
                scale = torch.linalg.matrix_norm(p).clamp_min(torch.finfo(p.dtype).tiny)
                p = p / scale[..., None, None]
                logscale = logscale + scale.log()
            sv = torch.linalg.svdvals(p)
            res.append(sv.log() + logscale[..., None] if log else sv * logscale.exp()[..., None])
        out[k] = torch.stack(res)
    return out


def lyapunov_like_rates(jacobians: torch.Tensor, *, per_sample: bool = False) -> torch.Tensor:
    """Average log growth per step of ``D`` directions under the step Jacobians (QR iteration).

    The Benettin / QR algorithm: ``Q_0 = I``, ``J_t Q_t = Q_{t+1} R_t``, rates
    ``lambda_i = (1/N) sum_t log |R_t[i, i]|``; these are the Lyapunov exponents of the hidden
    dynamics driven by the input, per time step (natural log). ``max lambda < 0`` means
    contracting dynamics and vanishing long-range gradients, ``> 0`` expanding dynamics and
    exploding ones. For ``s_{t+1} = rho Q s_t`` with ``Q`` orthogonal every rate is ``log rho``.

    Args:
        jacobians: ``(N, B, D, D)`` from :func:`step_jacobians`.
        per_sample: return ``(B, D)`` rates instead of their mean over the batch.

    Returns:
        ``(D,)`` (or ``(B, D)``) rates, sorted descending.
    """
    if jacobians.ndim != 4 or jacobians.shape[-1] != jacobians.shape[-2]:
        raise ValueError(f"jacobians must be (N, B, D, D), got {tuple(jacobians.shape)}")
    n, b, d, _ = jacobians.shape
    q = torch.eye(d, dtype=jacobians.dtype, device=jacobians.device).expand(b, d, d)
    acc = jacobians.new_zeros(b, d)
    tiny = torch.finfo(jacobians.dtype).tiny
    for t in range(n):
        q, r = torch.linalg.qr(jacobians[t] @ q)
        acc = acc + torch.diagonal(r, dim1=-2, dim2=-1).abs().clamp_min(tiny).log()
    rates = (acc / n).sort(dim=-1, descending=True).values
    return rates if per_sample else rates.mean(dim=0)


# --------------------------------------------------------------------------------------------
# verdict
# --------------------------------------------------------------------------------------------


def verdict(norms: torch.Tensor | np.ndarray, *, vanishing_rate: float = VANISHING_RATE,
            exploding_rate: float = EXPLODING_RATE) -> dict[str, Any]:
    """Classify per-step gradient norms as vanishing, exploding or healthy.

    ``rate`` is the least-squares slope of ``log ||dL/dh_t||`` against ``k = T - 1 - t`` (steps
    before the loss at the end of the series): the log growth per step of the gradient as it
    travels backwards. ``rate < vanishing_rate`` (default -0.05, i.e. the gradient shrinks by
    more than ~4.9 % per step) is "vanishing", ``rate > exploding_rate`` (default +0.05) is
    "exploding", anything between is "healthy". Exact zeros count as the smallest positive
    float (extreme vanishing).

    Args:
        norms: ``(T,)`` norms in time order, ``T >= 2``, e.g. from :func:`hidden_gradient_norms`.

    Returns:
        ``{"kind", "rate", "decay_per_step" (= exp(rate)), "text"}``.
    """
    a = np.asarray(norms.detach().cpu() if isinstance(norms, torch.Tensor) else norms,
                   dtype=np.float64)
    if a.ndim != 1 or a.size < 2:
        raise ValueError(f"norms must have shape (T,) with T >= 2, got {a.shape}")
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError("norms must be finite and non-negative (a NaN or inf gradient is "
                         "already an explosion: check the loss and the inputs)")
    if not vanishing_rate < exploding_rate:
        raise ValueError("vanishing_rate must be smaller than exploding_rate")
    y = np.log(np.maximum(a, np.finfo(np.float64).tiny))
    k = np.arange(a.size - 1, -1, -1, dtype=np.float64)  # steps before the loss
    kc = k - k.mean()
    rate = float(np.dot(kc, y - y.mean()) / np.dot(kc, kc))
    if rate < vanishing_rate:
        kind = "vanishing"
    elif rate > exploding_rate:
        kind = "exploding"
    else:
        kind = "healthy"
    decay = math.exp(rate)
    text = (f"{kind}: gradient norm x{decay:.4g} per step backwards from the loss "
            f"(rate {rate:+.4g}/step, x{decay ** (a.size - 1):.3g} over {a.size - 1} steps)")
    return {"kind": kind, "rate": rate, "decay_per_step": decay, "text": text}
