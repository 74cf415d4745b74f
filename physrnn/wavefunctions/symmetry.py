"""Symmetries of autoregressive wavefunctions: U(1) masking, sign rules, symmetrisation.

**Local states.** netket >= 3.16 orders ``Spin(1/2).local_states`` as ``[1, -1]``, so local index
``0`` is spin up (``sigma^z = +1``) and ``1`` spin down; :func:`up_local_index` reads it from a
hilbert space instead of assuming it.

**U(1) (fixed magnetisation).** The magnetisation is ``M = n_up - n_down = 2 S^z_tot`` (Pauli
units, an integer of the parity of ``N``), so ``n_up = (N + M) / 2``. At autoregressive step
``k`` with ``c`` up spins among the earlier steps and ``r = N - k`` sites left (this one
included), choosing up is possible iff ``c + 1 <= n_up <= c + r`` and choosing down iff
``c <= n_up <= c + r - 1``; the forbidden state's probability is set to zero and the allowed ones
renormalised (:func:`masked_log_softmax`). Every sampled path then ends in the sector and
``sum_{s in sector} |psi(s)|^2 = 1`` exactly; configurations outside the sector have
``log p = -inf`` (``psi = 0``) and no NaN appears.

**Marshall sign.** On a bipartite lattice with sublattices ``A, B`` the fixed phase
``pi * n_down(B)``, i.e. ``psi(s) = (-1)^{n_down(B)} |psi(s)|``, is the sign of ``U psi_+``
with ``U = prod_{i in B} sigma^z_i``: the rotation that
:func:`physrnn.spins.chains.xxz_chain` applies to the Hamiltonian with ``marshall_sign=True``
(and netket's ``Heisenberg(sign_rule=True)``). Use **one** of the two: either a positive model
with the rotated Hamiltonian, or a model with the Marshall phase and the unrotated Hamiltonian
(``marshall_sign=False``); both give the same energies. Applying both cancels the sign. The
choice of which sublattice is ``B`` changes ``psi`` by ``(-1)^{n_down}``, a global sign in a
sector of fixed magnetisation.

The symmetrised wavefunction lives in :mod:`physrnn.wavefunctions.symmetrised`, the symmetry
groups in :mod:`physrnn.wavefunctions.groups`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

__all__ = [
    "magnetisation_from_hilbert",
    "marshall_phase_table",
    "masked_log_softmax",
    "n_up_for_magnetisation",
    "u1_allowed",
    "up_local_index",
]


def up_local_index(hilbert: Any) -> int:
    """Local index of spin up (the positive local state) of a netket spin-1/2 hilbert space.

    ``nk.hilbert.Spin(1/2)`` has ``local_states = [1, -1]``, so this returns ``0``.

    Raises:
        ValueError: if the space has not two local states with exactly one positive.
    """
    states = np.asarray(hilbert.local_states, dtype=float)
    positive = np.flatnonzero(states > 0)
    if states.shape != (2,) or positive.size != 1:
        raise ValueError(f"cannot tell spin up from local_states {states.tolist()}: need two "
                         "local states, one of them positive")
    return int(positive[0])


def n_up_for_magnetisation(n_sites: int, magnetisation: int) -> int:
    """Number of up spins ``(N + M) / 2`` for magnetisation ``M = n_up - n_down``.

    Raises:
        ValueError: if ``M`` is not an integer with ``|M| <= N`` and the parity of ``N``.
    """
    if isinstance(magnetisation, bool) or not isinstance(magnetisation, int | np.integer):
        raise ValueError(f"magnetisation must be an integer M = n_up - n_down (2 S^z_tot), got "
                         f"{magnetisation!r}")
    m = int(magnetisation)
    if abs(m) > n_sites or (n_sites + m) % 2:
        raise ValueError(f"magnetisation M = n_up - n_down = {m} is impossible for "
                         f"{n_sites} spins (need |M| <= {n_sites} and M of the parity of N)")
    return (n_sites + m) // 2


def magnetisation_from_hilbert(hilbert: Any) -> int | None:
    """``M = 2 S^z_tot`` of a netket ``Spin(1/2, total_sz=...)``; ``None`` if unconstrained."""
    sz = getattr(hilbert, "_total_sz", None)
    if sz is not None:
        return int(round(2 * float(sz)))
    total = getattr(getattr(hilbert, "constraint", None), "sum_value", None)  # sum of +-1 states
    return None if total is None else int(round(float(total)))


def u1_allowed(
    n_up_before: torch.Tensor, n_left: int | torch.Tensor, n_up: int, up_index: int = 0
) -> torch.Tensor:
    """Which local states keep the target sector reachable at one autoregressive step.

    Args:
        n_up_before: ``(batch,)`` number of up spins among the earlier steps, ``c`` (or
            ``(batch, N)`` for all steps at once).
        n_left: sites left including this one, ``r = N - k`` (or ``(N,)`` for all steps).
        n_up: target number of up spins.
        up_index: local index of spin up.

    Returns:
        ``(batch, 2)`` (or ``(batch, N, 2)``) bool, ``True`` where the local state is
        allowed. Both are ``False`` for a prefix that already left the sector (teacher-forced
        configurations outside it).
    """
    c = n_up_before
    up_ok = (c + 1 <= n_up) & (n_up <= c + n_left)
    down_ok = (c <= n_up) & (n_up <= c + n_left - 1)
    pair = (up_ok, down_ok) if up_index == 0 else (down_ok, up_ok)
    return torch.stack(pair, dim=-1)


def masked_log_softmax(logits: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
    """``log_softmax`` over the last axis restricted to ``allowed`` states, ``-inf`` elsewhere.

    Rows with no allowed state give ``-inf`` everywhere; no NaN appears in values or gradients.

    Args:
        logits: ``(..., d)`` unnormalised log-probabilities.
        allowed: ``(..., d)`` bool mask, or ``None`` for no constraint.
    """
    if allowed is None:
        return torch.log_softmax(logits, dim=-1)
    neg_inf = torch.tensor(-math.inf, dtype=logits.dtype, device=logits.device)
    any_allowed = allowed.any(dim=-1, keepdim=True)
    safe = torch.where(allowed | ~any_allowed, logits, neg_inf)
    return torch.where(allowed, torch.log_softmax(safe, dim=-1), neg_inf)


def marshall_phase_table(
    sublattice: np.ndarray, order: np.ndarray, up_index: int = 0
) -> torch.Tensor:
    """Fixed Marshall phase per autoregressive step and local state, ``(N, 2)`` radians.

    ``table[k, v] = pi`` if the site visited at step ``k`` is on sublattice ``B``
    (``sublattice == 1``) and ``v`` is spin down, else ``0``; summed over the steps it gives
    ``pi * n_down(B)`` (module doc).
    """
    if sublattice is None:
        raise ValueError("the Marshall sign rule needs a bipartite lattice; this graph is not "
                         "bipartite (use a learned phase, phase=True, instead)")
    b = torch.as_tensor(np.asarray(sublattice)[np.asarray(order)] == 1)
    table = torch.zeros(len(order), 2, dtype=torch.float64)
    table[b, 1 - up_index] = math.pi
    return table
