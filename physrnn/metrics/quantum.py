"""Quantum-state metrics: relative energy error, fidelity, V-score (pure functions, no torch)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["relative_error", "fidelity", "v_score"]


def relative_error(value: float, *, reference: float) -> float:
    """``|value - reference| / |reference|`` (dimensionless).

    Args:
        value: the estimate, e.g. a variational energy (any unit).
        reference: the exact or best-known value, in the unit of ``value``.

    Raises:
        ValueError: if ``reference`` is zero.
    """
    if reference == 0:
        raise ValueError("relative error against a zero reference is undefined")
    return abs(value - reference) / abs(reference)


def fidelity(psi: np.ndarray, phi: np.ndarray) -> float:
    """``|<psi|phi>|^2 / (<psi|psi><phi|phi>)`` of two state vectors ``(dim,)``, in [0, 1]."""
    psi = np.asarray(psi).ravel()
    phi = np.asarray(phi).ravel()
    num = abs(np.vdot(psi, phi)) ** 2
    return float(num / (np.vdot(psi, psi).real * np.vdot(phi, phi).real))


def v_score(n_sites: int, *, variance: float, energy: float, e_inf: float = 0.0) -> float:
    """V-score ``N Var(E) / (E - E_inf)^2`` (Wu et al. 2024), dimensionless.

    Args:
        n_sites: number of sites ``N``.
        variance: variance of the local energy, in (energy unit)^2 of the **total** energy.
        energy: the **total** variational energy ``E`` (not per site).
        e_inf: the infinite-temperature energy ``E_inf = Tr H / dim``, total, in the unit of
            ``energy`` (0 for traceless Hamiltonians).

    Returns:
        The V-score, ``inf`` when ``E == E_inf``.
    """
    denom = (energy - e_inf) ** 2
    return float(n_sites * variance / denom) if denom > 0 else math.inf
