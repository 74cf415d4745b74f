"""The local free energy of an autoregressive wavefunction and its surrogate loss.

For a normalised Born distribution ``p(s) = |psi(s)|^2`` the entropy ``S = -<log p>`` has the
per-sample estimator ``-log p(s)``, so the free energy ``F = <E> - T S`` has the local estimator

    F_loc(s) = E_loc(s) + T log p(s)          (energy units; ``<F_loc> = <E> - T S``),

and its gradient has the form of the energy gradient with ``E_loc`` replaced by ``F_loc``
(derivation in :mod:`physrnn.vmc.annealing`, which schedules ``T``).
"""

from __future__ import annotations

import math

import torch

__all__ = ["annealed_surrogate", "free_energy_local"]


def free_energy_local(e_loc: torch.Tensor, log_prob: torch.Tensor, T: float) -> torch.Tensor:
    """``F_loc(s) = E_loc(s) + T log |psi(s)|^2``, shape ``(batch,)``, detached.

    ``e_loc`` ``(batch,)`` real or complex (energy units), ``log_prob`` ``(batch,)`` the exact
    ``log |psi|^2`` of the samples, ``T >= 0`` in energy units. Its sample mean estimates
    ``F = <E> - T S``.
    """
    if T < 0 or not math.isfinite(T):
        raise ValueError(f"T must be finite and >= 0, got {T}")
    if e_loc.shape != log_prob.shape:
        raise ValueError(f"e_loc {tuple(e_loc.shape)} and log_prob {tuple(log_prob.shape)} "
                         "must have the same shape")
    wide = torch.complex128 if e_loc.is_complex() else torch.float64
    return (e_loc.detach().to(wide) + T * log_prob.detach().to(torch.float64)).to(wide)


def annealed_surrogate(
    log_psi: torch.Tensor,
    e_loc: torch.Tensor,
    log_prob: torch.Tensor,
    T: float,
    *,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Scalar loss whose gradient is the free-energy gradient ``dF/dtheta``.

    ``2 Re mean(conj(log psi) (F_loc - mean F_loc))`` with ``F_loc`` detached; ``T = 0`` is the
    energy surrogate of :class:`physrnn.vmc.VMC`.

    Args:
        log_psi: ``(batch,)`` ``log psi`` of the samples, with the autograd graph.
        e_loc: ``(batch,)`` local energies.
        log_prob: ``(batch,)`` ``log |psi|^2`` of the samples (detached here).
        T: temperature ``>= 0``, energy units.
        weights: optional ``(batch,)`` probabilities replacing the uniform sample mean (e.g.
            ``p(s)`` over all configurations for an exact expectation); must sum to 1.

    Returns:
        A 0-d float64 tensor.
    """
    f_loc = free_energy_local(e_loc, log_prob, T)
    if weights is None:
        weights = torch.full(f_loc.shape, 1.0 / f_loc.shape[0], dtype=torch.float64,
                             device=f_loc.device)
    w = weights.detach().to(torch.float64)
    centred = f_loc - (w * f_loc).sum()
    if log_psi.is_complex():
        terms = (torch.conj(log_psi.to(torch.complex128)) * centred).real
    else:
        terms = log_psi.to(torch.float64) * centred.real
    return 2.0 * (w * terms).sum()
