"""Recurrent wavefunction for chains (Hibat-Allah et al., PRR 2, 023358 (2020)).

Site ``i`` receives the one-hot encoding of ``s_{i-1}`` (zeros at ``i = 0``) and the recurrent
state of site ``i - 1``; a softmax head gives ``p(s_i | s_<i)`` and, for complex models, a
softsign head gives the phase contribution ``phi_i(s_i)`` with ``phi(s) = sum_i phi_i(s_i)``.
"""

from __future__ import annotations

import torch
from torch import nn

from physrnn.wavefunctions.base import AutoregressiveWavefunction

__all__ = ["RNNWavefunction1D", "CELLS"]

CELLS: dict[str, type[nn.Module]] = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}


class RNNWavefunction1D(AutoregressiveWavefunction):
    """Autoregressive recurrent wavefunction on a chain of ``n_sites`` spin-1/2 sites.

    Args:
        n_sites: chain length ``N``.
        hidden_size: recurrent state size ``d_h``.
        n_layers: stacked recurrent layers.
        cell: ``"gru"`` (default), ``"lstm"`` or ``"rnn"`` (tanh Elman).
        phase: add a phase head (complex wavefunction); ``False`` gives positive amplitudes.
        dtype: parameter dtype, ``torch.float32`` or ``torch.float64``.
        seed: seed of the parameter initialisation; the global torch RNG is left untouched.

    Shapes:
        configurations ``(batch, n_sites)`` long tensors of local indices ``0, 1``.
    """

    def __init__(
        self,
        n_sites: int,
        *,
        hidden_size: int = 32,
        n_layers: int = 1,
        cell: str = "gru",
        phase: bool = False,
        dtype: torch.dtype = torch.float32,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if n_sites < 1:
            raise ValueError(f"n_sites must be >= 1, got {n_sites}")
        if hidden_size < 1 or n_layers < 1:
            raise ValueError(
                f"hidden_size and n_layers must be >= 1, got {hidden_size}, {n_layers}")
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; choose one of {sorted(CELLS)}")
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.n_sites = int(n_sites)
        self.hidden_size = int(hidden_size)
        self.n_layers = int(n_layers)
        self.cell = cell
        self.has_phase = bool(phase)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.rnn = CELLS[cell](self.local_size, hidden_size, num_layers=n_layers,
                                   batch_first=True)
            self.amplitude_head = nn.Linear(hidden_size, self.local_size)
            self.phase_head = nn.Linear(hidden_size, self.local_size) if phase else None
        self.to(dtype)

    @property
    def is_complex(self) -> bool:
        return self.has_phase

    def extra_repr(self) -> str:
        return (f"n_sites={self.n_sites}, hidden_size={self.hidden_size}, "
                f"n_layers={self.n_layers}, cell={self.cell!r}, phase={self.has_phase}")

    def _inputs(self, s: torch.Tensor) -> torch.Tensor:
        """One-hot of the previous spin, ``(batch, n_sites, 2)``, zeros at site 0."""
        x = torch.zeros(s.shape[0], self.n_sites, self.local_size, dtype=self.dtype,
                        device=s.device)
        if self.n_sites > 1:
            x[:, 1:].scatter_(-1, s[:, :-1].unsqueeze(-1), 1.0)
        return x

    def _heads(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        log_p = torch.log_softmax(self.amplitude_head(hidden), dim=-1)
        phase = None
        if self.phase_head is not None:
            phase = self.phase_from_logits(self.phase_head(hidden))
        return log_p, phase

    def log_conditionals(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if s.ndim != 2 or s.shape[1] != self.n_sites:
            raise ValueError(f"expected configurations of shape (batch, {self.n_sites}), "
                             f"got {tuple(s.shape)}")
        hidden, _ = self.rnn(self._inputs(s))
        return self._heads(hidden)

    @torch.no_grad()
    def sample(self, n_samples: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Exact sampling, one site at a time with the recurrent state carried forward.

        Cost ``O(n_samples * N * d_h^2)``; uniform numbers come from ``generator``.
        """
        if n_samples < 1:
            raise ValueError(f"n_samples must be >= 1, got {n_samples}")
        device = self.device
        s = torch.empty(n_samples, self.n_sites, dtype=torch.long, device=device)
        x = torch.zeros(n_samples, 1, self.local_size, dtype=self.dtype, device=device)
        uniforms = torch.rand(n_samples, self.n_sites, generator=generator, dtype=torch.float64,
                              device=device)
        state = None
        for i in range(self.n_sites):
            out, state = self.rnn(x, state)
            log_p = torch.log_softmax(self.amplitude_head(out[:, 0]), dim=-1)
            p_up = log_p[:, 0].double().exp()
            s_i = (uniforms[:, i] >= p_up).long()  # 0 with probability p(0)
            s[:, i] = s_i
            x = torch.zeros_like(x)
            x[:, 0].scatter_(-1, s_i.unsqueeze(-1), 1.0)
        return s
