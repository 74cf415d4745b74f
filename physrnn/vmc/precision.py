"""Precision where it matters: train in float32, switch the wavefunction to float64 late.

float32 resolves ``log psi`` to about ``eps_32 |log psi| ~ 1e-7 N`` (``N ln 2 / 2`` is the
size of ``|log psi|`` of a spread-out state), so local energies, which are ratios
``psi(s') / psi(s)``, carry a relative rounding error of about ``1e-7 N``: negligible early in
training, comparable with the energy differences that matter once the relative error falls to
``1e-5``-``1e-6`` on a chain of 100. float64 steps cost about twice as much on CPU, so the
bulk of training runs in float32 and the end in float64.

:class:`PrecisionSwitch` says when (a step, or once the relative spread of the local energies
falls below a threshold); :func:`to_float64` converts a model and its optimiser in place. The
:class:`~physrnn.vmc.driver.VMC` driver applies it before a step (``precision=``); the
``[vmc]`` keys ``float64_from`` and ``float64_below`` set it in a config.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["PrecisionSwitch", "to_float64"]


@dataclass(frozen=True)
class PrecisionSwitch:
    """When a float32 wavefunction moves to float64 (either condition; 0 disables it).

    Attributes:
        at_step: switch before step ``at_step + 1``, i.e. once ``at_step`` steps are done.
        rel_spread: switch once ``sqrt(Var E_loc) / |<E>|``, the mean over the last
            ``window`` steps, falls below this value (dimensionless).
        window: steps averaged by the ``rel_spread`` criterion.
    """

    at_step: int = 0
    rel_spread: float = 0.0
    window: int = 10

    def __post_init__(self) -> None:
        if self.at_step < 0:
            raise ValueError(f"at_step must be >= 0 (0: never), got {self.at_step}")
        if not self.rel_spread >= 0:
            raise ValueError(f"rel_spread must be >= 0 (0: never), got {self.rel_spread}")
        if self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")

    @property
    def enabled(self) -> bool:
        """Either criterion is set."""
        return self.at_step > 0 or self.rel_spread > 0

    def due(self, step_count: int, history: Sequence[Any]) -> bool:
        """Whether to switch before the next step.

        Args:
            step_count: completed steps.
            history: the driver's step records (``energy`` and ``variance`` attributes).
        """
        if self.at_step and step_count >= self.at_step:
            return True
        if self.rel_spread and len(history) >= self.window:
            recent = history[-self.window:]
            spread = [math.sqrt(max(r.variance, 0.0)) / abs(r.energy) if r.energy else math.inf
                      for r in recent]
            return sum(spread) / len(spread) < self.rel_spread
        return False


@torch.no_grad()
def to_float64(model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None) -> None:
    """Convert ``model``'s floating parameters and buffers, and ``optimizer``'s state, to float64.

    In place: the parameter objects stay the same (so the optimizer keeps them); their values
    are cast exactly (every float32 is a float64). Gradients are dropped. Optimiser state
    tensors (Adam's moments, SGD momentum) are cast too; integer state (``step``) is kept.
    """
    for p in model.parameters():
        if p.is_floating_point() and p.dtype != torch.float64:
            p.data = p.data.to(torch.float64)
            p.grad = None
    for module in model.modules():
        for name, b in list(module.named_buffers(recurse=False)):
            if b is not None and b.is_floating_point() and b.dtype != torch.float64:
                setattr(module, name, b.to(torch.float64))
    if optimizer is None:
        return
    for state in optimizer.state.values():
        for k, v in list(state.items()):
            if (k != "step" and isinstance(v, torch.Tensor) and v.is_floating_point()
                    and v.dtype != torch.float64):
                state[k] = v.to(torch.float64)
