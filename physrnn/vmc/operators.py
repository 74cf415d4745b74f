"""Connected elements of netket operators, as torch tensors.

For a configuration ``s`` the operator ``H`` has a few non-zero elements ``H[s, s'_k]``; netket's
``get_conn_padded`` returns them padded to a fixed count ``K`` (padding has matrix element 0).
This module converts between physrnn's local indices and netket's local state values and hands
back torch tensors on the wavefunction's device.
"""

from __future__ import annotations

import numpy as np
import torch

from physrnn.systems.spins import check_spin_half

__all__ = ["ConnectedOperator"]


class ConnectedOperator:
    """Wrap a netket operator on spin-1/2 sites for use with physrnn wavefunctions.

    Args:
        operator: any netket operator whose hilbert space has two local states per site and no
            constraint (``Spin(1/2)``, ``Qubit``); checked here with a clear error otherwise.
    """

    def __init__(self, operator) -> None:
        check_spin_half(operator.hilbert)
        self.operator = operator
        self.hilbert = operator.hilbert
        self.n_sites = int(self.hilbert.size)
        self.local_states = np.asarray(self.hilbert.local_states)
        dtype = np.result_type(getattr(operator, "dtype", np.float64))
        self.is_complex = bool(np.issubdtype(dtype, np.complexfloating))

    def indices_to_states(self, s: torch.Tensor) -> np.ndarray:
        """Local indices ``(..., N)`` -> netket state values ``(..., N)`` (int8 when integral)."""
        values = self.local_states[s.detach().cpu().numpy()]
        if np.all(np.equal(np.mod(self.local_states, 1), 0)):
            return values.astype(np.int8)
        return values.astype(np.float32)

    def states_to_indices(self, x: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
        """netket state values ``(..., N)`` -> long tensor of local indices on ``device``."""
        idx = np.array(self.hilbert.states_to_local_indices(np.asarray(x)))
        return torch.as_tensor(idx, dtype=torch.long, device=device)

    def connected(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Connected configurations and matrix elements of a batch.

        Args:
            s: ``(batch, N)`` local indices.

        Returns:
            ``(s_conn, mels)``: ``(batch, K, N)`` long local indices on ``s.device`` and
            ``(batch, K)`` float64 (complex128 for complex operators) matrix elements
            ``H[s, s_conn]``; padded entries have element 0.
        """
        xp, mels = self.operator.get_conn_padded(self.indices_to_states(s))
        s_conn = self.states_to_indices(xp, device=s.device)
        mels_np = np.array(mels)
        dtype = torch.complex128 if self.is_complex else torch.float64
        if not self.is_complex:
            mels_np = mels_np.real
        return s_conn, torch.as_tensor(mels_np, dtype=dtype, device=s.device)
