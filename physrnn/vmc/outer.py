"""Per-sample ``d log psi / d theta`` from one batched backward pass: the outer-product form.

An affine map ``y = x W^T + b`` that a wavefunction applies to sample ``k`` at its recurrent
steps ``t`` (inputs ``x_{k,t}``, outputs ``y_{k,t}``) contributes

    d log psi(s_k) / dW = sum_t g_{k,t} x_{k,t}^T,    d log psi(s_k) / db = sum_t g_{k,t},

with ``g_{k,t} = d log psi(s_k) / d y_{k,t}``. The samples of a batch are independent (no layer
mixes rows), so ``g_{k,t}`` is also the gradient of ``sum_k log psi(s_k)`` with respect to
``y_{k,t}``: one forward pass with autograd over all samples and one backward pass of the
batch sum (two for complex ``log psi``: its real and imaginary parts) give every ``g``, and
the per-sample gradients of a weight are one batched matrix product ``(n, out, T) @ (n, T,
in)``. Nothing is copied per sample or per step; the cost is about that of the gradient of
the batch plus one matrix product per weight (:func:`outer_product_grads`).

What is covered:

- ``nn.Linear`` (forward hooks record the input and output of every call);
- ``nn.GRU``, ``nn.LSTM`` and ``nn.RNN`` (tanh or relu; uni-directional, no projection, no
  dropout while training): during the pass their ``forward`` is replaced by an unrolled,
  equivalent step loop that exposes the gate pre-activations of the input and recurrent
  projections (torch's fused kernels hide them).

A model is supported when every trainable parameter is a weight or bias of such a module
(:func:`outer_unsupported_reason`), and every recorded call has the batch as its leading axis;
otherwise :class:`OuterUnsupported` is raised and the caller uses another method
(:func:`physrnn.vmc.jacobian.per_sample_log_psi_grads` does, and checks the form once per
model against single-sample autograd).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "OUTER_BLOCK",
    "OUTER_ROWS",
    "OuterUnsupported",
    "outer_product_grads",
    "outer_unsupported_reason",
]

#: Default samples x sites per forward/backward pass of :func:`outer_product_grads`: bounds the
#: autograd memory (about ``OUTER_ROWS * 10 * gate width`` floats) and keeps every temporary
#: small enough to be reused by the allocator (1D GRU, N = 100, d_h 64, one CPU thread: 160-250
#: samples per pass 0.23 s for 500 samples, all 500 at once 0.28 s, 84 at a time 0.31 s).
OUTER_ROWS = 1 << 14

#: Samples per batched matrix product of :func:`outer_product_grads`.
OUTER_BLOCK = 64

#: ``nn.RNNBase.mode`` values the unrolled loop implements.
RNN_MODES = ("GRU", "LSTM", "RNN_TANH", "RNN_RELU")


class OuterUnsupported(RuntimeError):
    """The model (or this call of it) is outside what the outer-product form covers."""


@dataclass
class _Affine:
    """Every call of one affine map: inputs ``(b, ..., in)`` and outputs ``(b, ..., out)``."""

    weight: torch.Tensor
    bias: torch.Tensor | None
    xs: list[torch.Tensor] = field(default_factory=list)
    ys: list[torch.Tensor] = field(default_factory=list)


class _Tape:
    """The affine maps of one forward pass, keyed by their parameters."""

    def __init__(self, batch: int) -> None:
        self.batch = batch
        self.maps: dict[tuple[int, int], _Affine] = {}

    def record(self, weight: torch.Tensor, bias: torch.Tensor | None, x: torch.Tensor,
               y: torch.Tensor) -> None:
        if not y.requires_grad:  # evaluated without autograd: contributes nothing
            return
        if (x.ndim < 2 or x.shape[0] != self.batch or y.shape[:-1] != x.shape[:-1]
                or x.shape[-1] != weight.shape[1] or y.shape[-1] != weight.shape[0]):
            raise OuterUnsupported(f"an affine map was applied to a tensor of shape "
                                   f"{tuple(x.shape)}, not to the batch of {self.batch} rows")
        key = (id(weight), id(bias))
        if key not in self.maps:
            self.maps[key] = _Affine(weight, bias)
        self.maps[key].xs.append(x.detach())
        self.maps[key].ys.append(y)


def _rnn_weights(rnn: nn.RNNBase, layer: int) -> tuple[torch.Tensor, ...]:
    w_ih = getattr(rnn, f"weight_ih_l{layer}")
    w_hh = getattr(rnn, f"weight_hh_l{layer}")
    b_ih = getattr(rnn, f"bias_ih_l{layer}") if rnn.bias else None
    b_hh = getattr(rnn, f"bias_hh_l{layer}") if rnn.bias else None
    return w_ih, w_hh, b_ih, b_hh


def _rnn_reason(rnn: nn.RNNBase) -> str | None:
    if rnn.mode not in RNN_MODES:
        return f"recurrent mode {rnn.mode!r}"
    if rnn.bidirectional or getattr(rnn, "proj_size", 0):
        return "bidirectional or projected recurrent layers"
    return None


def _unrolled(rnn: nn.RNNBase, tape: _Tape, inp: torch.Tensor,
              hx: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple:
    """``rnn(inp, hx)`` as an explicit loop over steps, recording both projections.

    ``inp`` ``(b, T, in)`` (``batch_first``) or ``(T, b, in)``; returns what ``rnn`` returns:
    ``(output, h_n)`` or, for an LSTM, ``(output, (h_n, c_n))``.
    """
    if not isinstance(inp, torch.Tensor) or inp.ndim != 3:
        raise OuterUnsupported("packed or unbatched input to a recurrent layer")
    if rnn.training and rnn.dropout > 0 and rnn.num_layers > 1:
        raise OuterUnsupported("dropout between recurrent layers while training")
    x = inp if rnn.batch_first else inp.transpose(0, 1)
    b = x.shape[0]
    hidden, lstm = rnn.hidden_size, rnn.mode == "LSTM"
    zeros = x.new_zeros(rnn.num_layers, b, hidden)
    if hx is None:
        h0, c0 = zeros, zeros
    elif lstm:
        h0, c0 = hx
    else:
        h0, c0 = hx, zeros
    finals_h, finals_c = [], []
    for layer in range(rnn.num_layers):
        w_ih, w_hh, b_ih, b_hh = _rnn_weights(rnn, layer)
        gi = F.linear(x, w_ih, b_ih)  # (b, T, G): every step's input projection at once
        tape.record(w_ih, b_ih, x, gi)
        h, c = h0[layer], c0[layer]
        outs = []
        for gt in gi.unbind(1):  # one backward node for all steps (not one per slice)
            gh = F.linear(h, w_hh, b_hh)
            tape.record(w_hh, b_hh, h, gh)
            # split, not sliced: the backward of a slice zero-fills the whole tensor
            if rnn.mode == "GRU":
                a_r, a_z, a_n = gt.split(hidden, dim=1)
                g_r, g_z, g_n = gh.split(hidden, dim=1)
                z = torch.sigmoid(a_z + g_z)
                n = torch.tanh(a_n + torch.sigmoid(a_r + g_r) * g_n)
                h = n + z * (h - n)
            elif lstm:
                a_i, a_f, a_g, a_o = (gt + gh).split(hidden, dim=1)
                c = torch.sigmoid(a_f) * c + torch.sigmoid(a_i) * torch.tanh(a_g)
                h = torch.sigmoid(a_o) * torch.tanh(c)
            elif rnn.mode == "RNN_TANH":
                h = torch.tanh(gt + gh)
            else:
                h = torch.relu(gt + gh)
            outs.append(h)
        x = torch.stack(outs, dim=1)
        finals_h.append(h)
        finals_c.append(c)
    out = x if rnn.batch_first else x.transpose(0, 1)
    h_n = torch.stack(finals_h)
    return (out, (h_n, torch.stack(finals_c))) if lstm else (out, h_n)


def _covered(model: nn.Module) -> tuple[list[nn.Linear], list[nn.RNNBase], set[int]]:
    """The supported modules of ``model`` and the ids of the parameters they own."""
    linears, rnns, owned = [], [], set()
    for module in model.modules():
        if isinstance(module, nn.Linear) and type(module).forward is nn.Linear.forward:
            if isinstance(module.weight, nn.Parameter):  # not a parametrised weight
                linears.append(module)
                owned.add(id(module.weight))
                if isinstance(module.bias, nn.Parameter):
                    owned.add(id(module.bias))
        elif type(module) in (nn.GRU, nn.LSTM, nn.RNN) and _rnn_reason(module) is None:
            rnns.append(module)
            for layer in range(module.num_layers):
                owned.update(id(t) for t in _rnn_weights(module, layer) if t is not None)
    return linears, rnns, owned


def outer_unsupported_reason(model: nn.Module) -> str | None:
    """``None`` when every trainable parameter of ``model`` is owned by a module the form
    covers (module doc), else why not."""
    _, _, owned = _covered(model)
    for name, p in model.named_parameters():
        if p.requires_grad and id(p) not in owned:
            return f"parameter {name!r} is not the weight or bias of a covered layer"
    return None


@contextlib.contextmanager
def _tracing(model: nn.Module, tape: _Tape) -> Iterator[None]:
    """Record every covered affine map of ``model`` into ``tape`` while the block runs."""
    linears, rnns, _ = _covered(model)

    def hook(module: nn.Module, args: tuple, out: torch.Tensor) -> None:
        if len(args) != 1:
            raise OuterUnsupported("a linear layer called with several arguments")
        tape.record(module.weight, module.bias, args[0], out)

    handles = [m.register_forward_hook(hook) for m in linears]
    swapped = []
    try:
        for rnn in rnns:
            if "forward" in vars(rnn):
                raise OuterUnsupported("a recurrent layer with a replaced forward")
            rnn.forward = functools.partial(_unrolled, rnn, tape)
            swapped.append(rnn)
        yield
    finally:
        for handle in handles:
            handle.remove()
        for rnn in swapped:
            del rnn.forward


def _rows(tensors: list[torch.Tensor], lo: int, hi: int, width: int) -> torch.Tensor:
    """Samples ``lo:hi`` of every call, ``(hi - lo, T, width)`` (no copy for one call)."""
    parts = [t[lo:hi].reshape(hi - lo, -1, width) for t in tensors]
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


def _per_sample(out: torch.Tensor, columns: dict[int, tuple[int, int]], amap: _Affine,
                gys: list[torch.Tensor | None], written: set[int]) -> None:
    """Write (or add, for a parameter already written) the per-sample gradients of one
    affine map into the columns of its parameters in ``out`` ``(b, p)``.

    One batched matrix product per block of :data:`OUTER_BLOCK` samples, so that the
    temporaries stay small (and are reused by the allocator instead of being mapped afresh).
    """
    b = out.shape[0]
    n_out, n_in = amap.weight.shape
    gs = [torch.zeros_like(y) if gy is None else gy for y, gy in zip(amap.ys, gys, strict=True)]
    targets = [(param, columns[id(param)]) for param in (amap.weight, amap.bias)
               if param is not None and id(param) in columns]
    again = {id(param) for param, _ in targets if id(param) in written}
    for lo in range(0, b, OUTER_BLOCK):
        hi = min(b, lo + OUTER_BLOCK)
        g = _rows(gs, lo, hi, n_out)  # (m, T, out)
        for param, (start, size) in targets:
            if param is amap.weight:
                value = torch.bmm(g.transpose(1, 2), _rows(amap.xs, lo, hi, n_in))
            else:
                value = g.sum(1)
            dest = out[lo:hi, start:start + size]
            if id(param) in again:
                dest.add_(value.reshape(hi - lo, size))
            else:
                dest.copy_(value.reshape(hi - lo, size))
    written.update(id(param) for param, _ in targets)


def outer_product_grads(model: nn.Module, s: torch.Tensor, params: list[torch.Tensor], *,
                        out: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sample gradients of ``model.log_psi`` by the outer-product form (module doc).

    Args:
        model: the wavefunction (``log_psi(s) -> (b,)`` real or complex).
        s: ``(b, N)`` configurations.
        params: the parameters to differentiate, in the column order of the result; each must
            be owned by a covered layer.
        out: where to write the result, ``(b, p)`` of the result's dtype (e.g. a buffer
            reused between steps); ``None``: a new tensor.

    Returns:
        ``(b, p)`` float64, or complex128 for complex ``log psi`` (``d Re + i d Im``).

    Raises:
        OuterUnsupported: the model, or this forward pass, is outside the form.
    """
    reason = outer_unsupported_reason(model)
    if reason is not None:
        raise OuterUnsupported(reason)
    b = s.shape[0]
    tape = _Tape(b)
    with torch.enable_grad(), _tracing(model, tape):
        log_psi = model.log_psi(s)
    if log_psi.shape != (b,):
        raise OuterUnsupported(f"log_psi returned shape {tuple(log_psi.shape)}, expected ({b},)")
    complex_out = log_psi.is_complex()
    columns: dict[int, tuple[int, int]] = {}
    for p in params:
        columns[id(p)] = (sum(size for _, size in columns.values()), p.numel())
    n_cols = sum(size for _, size in columns.values())
    dtype = torch.complex128 if complex_out else torch.float64
    if out is None:
        out = torch.empty(b, n_cols, dtype=dtype, device=s.device)
    elif out.shape != (b, n_cols) or out.dtype != dtype:
        raise ValueError(f"out must be ({b}, {n_cols}) {dtype}, got {tuple(out.shape)} "
                         f"{out.dtype}")
    maps = list(tape.maps.values())
    ys = [y for m in maps for y in m.ys]
    parts = [log_psi.real, log_psi.imag] if complex_out else [log_psi]
    for i, part in enumerate(parts):
        if not part.requires_grad or not ys:
            gys: list[torch.Tensor | None] = [None] * len(ys)
        else:
            gys = list(torch.autograd.grad(part.sum(), ys, retain_graph=i + 1 < len(parts),
                                           allow_unused=True))
        target = torch.view_as_real(out)[..., i] if complex_out else out
        written: set[int] = set()
        start = 0
        for m in maps:
            _per_sample(target, columns, m, gys[start:start + len(m.ys)], written)
            start += len(m.ys)
        for p in params:  # parameters this pass did not use
            if id(p) not in written:
                lo, size = columns[id(p)]
                target[:, lo:lo + size] = 0.0
    return out
