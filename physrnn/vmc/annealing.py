"""Variational annealing: minimise the free energy ``F = <E> - T S`` while ``T -> 0``.

For an autoregressive wavefunction the Born distribution ``p(s) = |psi(s)|^2`` is normalised
exactly, so its Shannon entropy ``S = -sum_s p(s) log p(s) = -<log p>`` has the unbiased
per-sample estimator ``-log p(s)`` and the free energy the local estimator

    F_loc(s) = E_loc(s) + T log p(s)          (energy units; ``<F_loc> = <E> - T S``).

Gradient. With ``O = d log psi / d theta`` (real parameters) ``d log p = 2 Re O`` and
``<d log p> = sum_s dp = 0``, hence

    dS/dtheta = -sum_s dp log p - sum_s p d log p = -<(d log p)(log p - <log p>)>,
    dF/dtheta = 2 Re <O^* (F_loc - <F_loc>)>,

the same form as the energy gradient with ``E_loc`` replaced by ``F_loc`` (Hibat-Allah et al.,
Nat. Mach. Intell. 3, 952 (2021)). :func:`annealed_surrogate` is the matching loss and
:func:`free_energy_local` the local estimator (both in :mod:`physrnn.vmc.free_energy`), and SR
(:mod:`physrnn.vmc.sr`) takes ``F_loc`` in place of ``E_loc``.

Schedule: ``T = T0`` for ``n_warmup`` steps, then down to ``T_final`` over ``n_anneal`` steps
(linearly, or exponentially towards ``T_final`` via ``T0 * (T_min/T0)^x`` with a floor), then
``T_final`` (0 by default: the plain energy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from physrnn.vmc.driver import VMC
from physrnn.vmc.free_energy import annealed_surrogate, free_energy_local

__all__ = ["AnnealingSchedule", "annealed_surrogate", "annealed_vmc", "free_energy_local"]


@dataclass(frozen=True)
class AnnealingSchedule:
    """Temperature ``T(step)`` in energy units (``step`` counts from 0).

    Args:
        T0: initial temperature ``> 0``.
        n_warmup: steps held at ``T0``.
        n_anneal: steps over which ``T`` falls from ``T0`` to ``T_final``.
        kind: ``"linear"`` or ``"exponential"`` (geometric decay from ``T0`` to
            ``T0 * exp_floor``, then shifted so that it ends exactly at ``T_final``).
        T_final: temperature after annealing, ``0 <= T_final <= T0``.
        exp_floor: ratio reached by the geometric part of the exponential schedule.
    """

    T0: float
    n_warmup: int = 0
    n_anneal: int = 100
    kind: str = "linear"
    T_final: float = 0.0
    exp_floor: float = 1e-3

    def __post_init__(self) -> None:
        if not (math.isfinite(self.T0) and self.T0 > 0):
            raise ValueError(f"T0 must be finite and > 0, got {self.T0}")
        if not 0 <= self.T_final <= self.T0:
            raise ValueError(f"T_final must be in [0, T0], got {self.T_final}")
        if self.n_warmup < 0 or self.n_anneal < 0:
            raise ValueError(f"n_warmup and n_anneal must be >= 0, got {self.n_warmup}, "
                             f"{self.n_anneal}")
        if self.kind not in ("linear", "exponential"):
            raise ValueError(f"unknown kind {self.kind!r}; choose 'linear' or 'exponential'")
        if not 0 < self.exp_floor < 1:
            raise ValueError(f"exp_floor must be in (0, 1), got {self.exp_floor}")

    @property
    def n_steps(self) -> int:
        """Steps until ``T`` reaches ``T_final`` (warm-up plus annealing)."""
        return self.n_warmup + self.n_anneal

    def __call__(self, step: int) -> float:
        """``T`` at ``step`` (``T0`` during warm-up, ``T_final`` after ``n_steps``)."""
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        if step < self.n_warmup:
            return float(self.T0)
        if self.n_anneal == 0 or step >= self.n_steps:
            return float(self.T_final)
        x = (step - self.n_warmup) / self.n_anneal
        if self.kind == "linear":
            return float(self.T0 + (self.T_final - self.T0) * x)
        # geometric T0 -> T0*floor, affinely mapped so that x=0 -> T0 and x=1 -> T_final
        g = self.exp_floor ** x
        return float(self.T_final + (self.T0 - self.T_final) * (g - self.exp_floor)
                     / (1.0 - self.exp_floor))


def annealed_vmc(
    model: torch.nn.Module,
    operator: object,
    schedule: AnnealingSchedule | None,
    n_steps: int,
    *,
    n_samples: int = 128,
    optimizer: torch.optim.Optimizer | None = None,
    seed: int = 0,
) -> list[tuple[float, float, float]]:
    """Annealed VMC through :class:`~physrnn.vmc.driver.VMC`, recording ``T`` and ``F``.

    Args:
        model: an autoregressive wavefunction.
        operator: a netket operator or :class:`~physrnn.vmc.operators.ConnectedOperator`.
        schedule: the temperature schedule; ``None`` is plain VMC (``T = 0``).
        n_steps: optimisation steps.
        n_samples: exact samples per step.
        optimizer: default ``Adam(lr=1e-2)``.
        seed: seed of the sampling generator.

    Returns:
        Per step ``(T, <E_loc>, <F_loc>)`` of the samples drawn before the update.
    """
    vmc = VMC(operator, model, n_samples=n_samples, optimizer=optimizer, seed=seed,
              annealing=schedule)
    out = []
    for _ in range(n_steps):
        rec = vmc.step()
        out.append((vmc.temperature, rec.energy, vmc.free_energy))
    return out
