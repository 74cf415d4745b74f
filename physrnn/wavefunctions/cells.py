"""Single-site steps of a stacked ``nn.GRU`` / ``nn.LSTM`` / ``nn.RNN`` for cached evaluation.

:class:`RecurrentSteps` reads the weights of a torch recurrent module (and the dense heads of a
wavefunction) once, without gradients, and advances a batch of recurrent states by one site.
It is what exact sampling and the prefix-reusing local energies run on, so both see exactly
the same arithmetic.

What makes a step cheap:

- the first layer's input is the one-hot encoding of the previous spin (zeros at site 0), so
  its input projection is a row of a ``(3, G)`` table, picked with one ``index_select``
  (``G`` = gate width: ``3 d_h`` GRU, ``4 d_h`` LSTM, ``d_h`` RNN);
- ``tanh(x) = 2 sigmoid(2 x) - 1``, with the factor 2 folded into the weights once: torch's
  CPU ``tanh`` is several times slower than its ``sigmoid``;
- GRU and Elman states are stored shifted, ``q = (h + 1) / 2``: then ``tanh`` outputs are plain
  sigmoids (``n = 2 u - 1`` becomes ``u``) and the GRU update is one ``lerp``,
  ``q' = lerp(u, q, z)``; the shift is folded into every weight and bias that reads ``h``
  (``h W = q (2 W) - W 1``);
- in float32 on the CPU the matrix products go through oneDNN (:data:`USE_ONEDNN`), which
  uses AVX-512 where the CPU has it;
- the two-state softmax head reduces to one logit difference ``d = a_1 - a_0``,
  ``log p(s_i = v) = log sigmoid((2 v - 1) d)``.

State layout: one tensor ``(batch, n_layers, S)`` with ``S = d_h`` (GRU, RNN: shifted ``q``) or
``2 d_h`` (LSTM: ``h`` then ``c``), updated in place by :meth:`RecurrentSteps.advance`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["RecurrentSteps"]


#: Use oneDNN's matrix product for float32 on the CPU when torch provides it: it picks the
#: widest vector instructions the CPU has (about 2x MKL's on AVX-512 AMD CPUs).
USE_ONEDNN = True


class _Affine:
    """``x -> x W^T + b`` for ``W (out, in)``, through oneDNN when that is possible."""

    def __init__(self, w: torch.Tensor, b: torch.Tensor) -> None:
        self.w_t = w.t().contiguous()
        self.b = b.contiguous()
        self.packed = None
        if (USE_ONEDNN and w.device.type == "cpu" and w.dtype == torch.float32
                and torch.backends.mkldnn.is_available()
                and hasattr(torch.ops.mkldnn, "_linear_pointwise")):
            try:
                packed = torch.ops.mkldnn._reorder_linear_weight(w.contiguous(), 2048)
                probe = torch.ones(2, w.shape[1], dtype=w.dtype)
                torch.ops.mkldnn._linear_pointwise(probe, packed, self.b, "none", [], "")
                self.packed = packed
            except (RuntimeError, TypeError, AttributeError):
                self.packed = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.packed is not None:
            return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.b, "none", [], "")
        return torch.addmm(self.b, x, self.w_t)


@dataclass(frozen=True)
class _Layer:
    ih: _Affine | None  # input projection, None for the first layer (a table)
    hh: _Affine  # recurrent projection


def _tanh_scale(kind: str, hidden: int, gate_width: int, dtype, device) -> torch.Tensor:
    """Per-gate factor 2 on the pre-activations that go through ``tanh``."""
    scale = torch.ones(gate_width, dtype=dtype, device=device)
    if kind == "gru":
        scale[2 * hidden:] = 2.0  # n gate
    elif kind == "lstm":
        scale[2 * hidden:3 * hidden] = 2.0  # g gate (order i, f, g, o)
    else:
        scale[:] = 2.0
    return scale


class RecurrentSteps:
    """Step-by-step view of a recurrent wavefunction's network (no gradients).

    Args:
        rnn: the ``nn.GRU`` / ``nn.LSTM`` / ``nn.RNN`` (tanh) module, ``batch_first`` irrelevant.
        kind: ``"gru"``, ``"lstm"`` or ``"rnn"``.
        amplitude_head: ``nn.Linear(d_h, 2)``.
        phase_head: ``nn.Linear(d_h, 2)`` or ``None``.

    The weights are copied (and rescaled) at construction: build a new instance after every
    parameter update.
    """

    @torch.no_grad()
    def __init__(self, rnn: nn.RNNBase, kind: str, amplitude_head: nn.Linear,
                 phase_head: nn.Linear | None) -> None:
        if kind not in ("gru", "lstm", "rnn"):
            raise ValueError(f"unknown cell {kind!r}")
        if kind == "rnn" and getattr(rnn, "nonlinearity", "tanh") != "tanh":
            raise ValueError("only tanh Elman cells are supported")
        self.kind = kind
        self.hidden = int(rnn.hidden_size)
        self.n_layers = int(rnn.num_layers)
        self.state_size = 2 * self.hidden if kind == "lstm" else self.hidden
        #: states are stored as q = (h + 1) / 2 (GRU, RNN) or h (LSTM)
        self.shifted = kind != "lstm"
        w0 = rnn.weight_ih_l0
        self.dtype, self.device = w0.dtype, w0.device
        gate_width = int(w0.shape[0])
        scale = _tanh_scale(kind, self.hidden, gate_width, self.dtype, self.device)
        layers = []
        for layer in range(self.n_layers):
            w_ih = getattr(rnn, f"weight_ih_l{layer}") * scale[:, None]
            w_hh = getattr(rnn, f"weight_hh_l{layer}") * scale[:, None]
            b_ih = getattr(rnn, f"bias_ih_l{layer}", None)
            b_hh = getattr(rnn, f"bias_hh_l{layer}", None)
            zeros = torch.zeros(gate_width, dtype=self.dtype, device=self.device)
            b_ih = zeros if b_ih is None else b_ih * scale
            b_hh = zeros if b_hh is None else b_hh * scale
            hh = _Affine(*self._reads_state(w_hh, b_hh))
            if layer == 0:
                # rows: no input (site 0), one-hot(0), one-hot(1)
                self.input_table = torch.stack([b_ih, b_ih + w_ih[:, 0], b_ih + w_ih[:, 1]])
                layers.append(_Layer(None, hh))
            else:
                layers.append(_Layer(_Affine(*self._reads_state(w_ih, b_ih)), hh))
        self.layers = tuple(layers)
        w, b = amplitude_head.weight, amplitude_head.bias
        heads_w = [w[1] - w[0]]
        heads_b = [b[1] - b[0]]
        self.has_phase = phase_head is not None
        if phase_head is not None:
            heads_w += [phase_head.weight[0], phase_head.weight[1]]
            heads_b += [phase_head.bias[0], phase_head.bias[1]]
        head_w, head_b = self._reads_state(torch.stack(heads_w), torch.stack(heads_b))
        self.head_w_t = head_w.t().contiguous()  # (d_h, 1 or 3)
        self.head_b = head_b.contiguous()
        self.logit_w = self.head_w_t[:, 0].contiguous()  # (d_h,)
        self.logit_b = self.head_b[0]
        self.phase_w_t = self.head_w_t[:, 1:].contiguous() if self.has_phase else None
        self.phase_b = self.head_b[1:] if self.has_phase else None

    def _reads_state(self, w: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Weights ``(out, d_h)`` and bias that act on ``h``, rewritten to act on the stored
        state: ``h W^T + b = q (2 W)^T + (b - W 1)`` when states are shifted."""
        if not self.shifted:
            return w, b
        return 2.0 * w, b - w.sum(1)

    # ------------------------------------------------------------------ one site
    def initial_state(self, batch: int) -> torch.Tensor:
        """State before site 0 (``h = 0``), ``(batch, n_layers, S)``."""
        fill = 0.5 if self.shifted else 0.0
        return torch.full((batch, self.n_layers, self.state_size), fill, dtype=self.dtype,
                          device=self.device)

    def advance(self, prev: torch.Tensor, state: torch.Tensor,
                new_state: torch.Tensor | None = None) -> torch.Tensor:
        """Consume the input of one site.

        Args:
            prev: ``(a,)`` long input codes: 0 = no input (site 0), ``1 + s_{i-1}`` otherwise.
            state: ``(a, n_layers, S)`` states after site ``i - 1`` (a view is fine).
            new_state: where to write the states after site ``i``, ``(a, n_layers, S)``, not
                overlapping ``state``; ``None`` updates ``state`` in place.

        Returns:
            ``(a, d_h)`` stored state of the top layer at site ``i`` (a view of the new
            state), the input of :meth:`head`.
        """
        if new_state is None:
            new_state = state
        inp = self.input_table.index_select(0, prev)
        hidden = self.hidden
        out = inp
        for index, layer in enumerate(self.layers):
            if index > 0:
                inp = layer.ih(out)
            if self.kind == "gru":
                q = state[:, index]
                gh = layer.hh(q)
                rz = torch.add(inp[:, : 2 * hidden], gh[:, : 2 * hidden]).sigmoid_()
                u = torch.addcmul(inp[:, 2 * hidden:], rz[:, :hidden], gh[:, 2 * hidden:])
                out = torch.lerp(u.sigmoid_(), q, rz[:, hidden:], out=new_state[:, index])
            elif self.kind == "lstm":
                h_old, c_old = state[:, index, :hidden], state[:, index, hidden:]
                gates = layer.hh(h_old).add_(inp).sigmoid_()
                i_g, f_g = gates[:, :hidden], gates[:, hidden:2 * hidden]
                g_g, o_g = gates[:, 2 * hidden:3 * hidden], gates[:, 3 * hidden:]
                g_g = g_g.mul(2.0).sub_(1.0)
                c = torch.addcmul(f_g * c_old, i_g, g_g)
                h = torch.sigmoid(2.0 * c).mul_(2.0).sub_(1.0).mul_(o_g)
                new_state[:, index, hidden:] = c
                new_state[:, index, :hidden] = h
                out = new_state[:, index, :hidden]
            else:
                gh = layer.hh(state[:, index]).add_(inp)
                out = torch.sigmoid(gh, out=new_state[:, index])
        return out

    def logit(self, q: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """Head logit difference ``d - b_d`` (without its bias) of top states ``(a, d_h)``,
        ``(a,)``; written into ``out`` if given. Add :attr:`logit_b` to get ``d``."""
        if out is None:
            return torch.mv(q, self.logit_w)
        return torch.mv(q, self.logit_w, out=out)

    def phase_logits(self, q: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """Phase logits ``z`` of top states without their bias, ``(a, 2)``; add
        :attr:`phase_b` to get ``z``."""
        if out is None:
            return torch.mm(q, self.phase_w_t)
        return torch.mm(q, self.phase_w_t, out=out)

    def head(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Head outputs of top-layer states ``(a, d_h)`` (as returned by :meth:`advance`).

        Returns:
            ``(d, z)``: ``d (a,)`` the logit difference ``a_1 - a_0``
            (``log p(v) = log sigmoid((2 v - 1) d)``); ``z (a, 2)`` the phase logits, or
            ``None`` (phase ``phi(v) = pi softsign(z_v)``).
        """
        out = torch.addmm(self.head_b, q, self.head_w_t)
        return out[:, 0], (out[:, 1:3] if self.has_phase else None)

    @staticmethod
    def log_prob_of(d: torch.Tensor, sign: torch.Tensor) -> torch.Tensor:
        """``log p(v)`` from the logit difference ``d`` and ``sign = 2 v - 1`` (same shape)."""
        return nn.functional.logsigmoid(d * sign)

    @staticmethod
    def phase_of(z: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``pi softsign(z_v)`` for phase logits ``z (..., 2)`` and local indices ``v (...)``."""
        zv = z.gather(-1, v.unsqueeze(-1)).squeeze(-1)
        return math.pi * nn.functional.softsign(zv)
