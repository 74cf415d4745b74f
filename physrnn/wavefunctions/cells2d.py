"""Recurrent cells with several predecessors, for 2D (and graph) recurrent wavefunctions.

Every cell maps the states and spins of the ``K`` earlier neighbours of a site (its input
slots, see :mod:`physrnn.wavefunctions.layout`) to the site's state:

    h_n = cell(h_{n_1}, ..., h_{n_K}; sigma_{n_1}, ..., sigma_{n_K}),

with ``h`` of size ``d_h`` and ``sigma`` the one-hot encoding of the neighbour's spin (local
index). An empty slot contributes a zero state and a zero one-hot vector. Write
``hbar = [h_{n_1}; ...; h_{n_K}]`` (size ``K d_h``) and ``x = [sigma_{n_1}; ...; sigma_{n_K}]``
(size ``2 K``).

* ``"rnn"``: the 2D vanilla RNN of Hibat-Allah et al., PRR 2, 023358 (2020),
  ``h_n = f(sum_k W_k [h_{n_k}; sigma_{n_k}] + b)``, written as one matrix,
  ``h_n = tanh(W [hbar; x] + b)`` (tanh as the activation ``f``).
* ``"gru"``: a gated recurrent unit generalised to ``K`` predecessors,
  ``z = sigmoid(W_z [hbar; x] + b_z)`` (update gate, ``d_h``),
  ``r = sigmoid(W_r [hbar; x] + b_r)`` (reset gate, ``K d_h``, one per predecessor entry),
  ``c = tanh(W_c [r * hbar; x] + b_c)`` (candidate),
  ``h_n = z * c + (1 - z) * (M hbar)``, where ``M`` (``d_h x K d_h``, no bias) merges the
  predecessors' states.
* ``"tensor_gru"``: the tensorised 2D GRU of Hibat-Allah, Melko and Carrasquilla (arXiv
  2207.14314), implemented from the published equations as we read them, with ``K`` slots in
  place of the left and lower neighbours: the inputs enter through the tensor product of the
  spins and the states, ``t = x (x) hbar`` (size ``2 K * K d_h``),
  ``c = tanh(W_c t + b_c)``, ``u = sigmoid(W_g t + b_g)``,
  ``h_n = u * c + (1 - u) * (U hbar)``.
  The tensor product lets every spin configuration of the neighbours select its own weight
  matrix acting on their states (with one-hot spins, ``W t = sum_k W_{k, sigma_k} h_k``).

All cells act on a batch: ``h_prev (batch, K, d_h)``, ``x (batch, K, 2)`` -> ``(batch, d_h)``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["CELLS_2D", "GRUCell2D", "TensorGRUCell2D", "VanillaCell2D", "make_cell"]


class VanillaCell2D(nn.Module):
    """``h = tanh(W [hbar; x] + b)`` (module doc); ``K`` slots, ``d_h`` hidden units."""

    def __init__(self, n_slots: int, hidden_size: int, local_size: int = 2) -> None:
        super().__init__()
        self.linear = nn.Linear(n_slots * (hidden_size + local_size), hidden_size)

    def forward(self, h_prev: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``h_prev (B, K, d_h)``, ``x (B, K, 2)`` -> ``(B, d_h)``."""
        inp = torch.cat([h_prev.flatten(1), x.flatten(1)], dim=-1)
        return torch.tanh(self.linear(inp))


class GRUCell2D(nn.Module):
    """Gated cell with ``K`` predecessors (module doc, ``"gru"``)."""

    def __init__(self, n_slots: int, hidden_size: int, local_size: int = 2) -> None:
        super().__init__()
        d_in = n_slots * (hidden_size + local_size)
        self.hidden_size = hidden_size
        self.gates = nn.Linear(d_in, hidden_size + n_slots * hidden_size)
        self.candidate = nn.Linear(d_in, hidden_size)
        self.merge = nn.Linear(n_slots * hidden_size, hidden_size, bias=False)

    def forward(self, h_prev: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``h_prev (B, K, d_h)``, ``x (B, K, 2)`` -> ``(B, d_h)``."""
        hbar = h_prev.flatten(1)
        xf = x.flatten(1)
        g = torch.sigmoid(self.gates(torch.cat([hbar, xf], dim=-1)))
        z, r = g[:, : self.hidden_size], g[:, self.hidden_size:]
        c = torch.tanh(self.candidate(torch.cat([r * hbar, xf], dim=-1)))
        return z * c + (1.0 - z) * self.merge(hbar)


class TensorGRUCell2D(nn.Module):
    """Tensorised gated cell of arXiv 2207.14314 (module doc, ``"tensor_gru"``)."""

    def __init__(self, n_slots: int, hidden_size: int, local_size: int = 2) -> None:
        super().__init__()
        d_t = (n_slots * local_size) * (n_slots * hidden_size)
        self.hidden_size = hidden_size
        self.tensor = nn.Linear(d_t, 2 * hidden_size)  # candidate and gate together
        self.merge = nn.Linear(n_slots * hidden_size, hidden_size, bias=False)

    def forward(self, h_prev: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``h_prev (B, K, d_h)``, ``x (B, K, 2)`` -> ``(B, d_h)``."""
        hbar = h_prev.flatten(1)
        t = (x.flatten(1).unsqueeze(-1) * hbar.unsqueeze(-2)).flatten(1)
        a = self.tensor(t)
        c = torch.tanh(a[:, : self.hidden_size])
        u = torch.sigmoid(a[:, self.hidden_size:])
        return u * c + (1.0 - u) * self.merge(hbar)


CELLS_2D: dict[str, type[nn.Module]] = {
    "gru": GRUCell2D,
    "rnn": VanillaCell2D,
    "tensor_gru": TensorGRUCell2D,
}


def make_cell(name: str, n_slots: int, hidden_size: int, local_size: int = 2) -> nn.Module:
    """The cell called ``name`` (a key of :data:`CELLS_2D`)."""
    if name not in CELLS_2D:
        raise ValueError(f"unknown cell {name!r}; choose one of {sorted(CELLS_2D)}")
    return CELLS_2D[name](n_slots, hidden_size, local_size)
