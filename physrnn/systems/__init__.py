"""Physics definitions, nothing trained: simulated dynamical systems and their registry.

    from physrnn.systems import get_system, list_systems
    lorenz = get_system("lorenz63")            # DynamicalSystem with rhs, info(), jacobian

Every system is a frozen parameter dataclass, a pure right-hand side and a registered
:class:`DynamicalSystem` subclass; the classes below load with their module on first access
(quantum spin models are in :mod:`physrnn.spins`). Nothing here imports torch or netket.
"""

from __future__ import annotations

import importlib
from typing import Any

from physrnn.systems.base import (
    REGISTRY,
    DynamicalSystem,
    SystemInfo,
    get_system,
    list_systems,
    register,
    register_namespace,
)

#: Public name -> the submodule of :mod:`physrnn.systems` it is loaded from on first access.
LAZY_NAMES: dict[str, str] = {
    "HarmonicOscillator": "dynamics",
    "HarmonicParams": "dynamics",
    "DampedDrivenOscillator": "dynamics",
    "DampedDrivenParams": "dynamics",
    "DuffingOscillator": "duffing",
    "DuffingParams": "duffing",
    "Pendulum": "mechanics",
    "PendulumParams": "mechanics",
    "DoublePendulum": "mechanics",
    "DoublePendulumParams": "mechanics",
    "Kepler": "mechanics",
    "KeplerParams": "mechanics",
    "Lorenz63": "chaos",
    "Lorenz63Params": "chaos",
    "Rossler": "chaos",
    "RosslerParams": "chaos",
    "Lorenz96": "chaos",
    "Lorenz96Params": "chaos",
    "LORENZ63_LYAPUNOV": "chaos",
    "ROSSLER_LYAPUNOV": "chaos",
    "LORENZ96_LYAPUNOV_J40_F8": "chaos",
    "OrnsteinUhlenbeck": "stochastic",
    "OUParams": "stochastic",
    "Langevin": "langevin",
    "LangevinParams": "langevin",
    "KuramotoSivashinsky": "spatiotemporal",
    "KSParams": "spatiotemporal",
    "MackeyGlass": "spatiotemporal",
    "MackeyGlassParams": "spatiotemporal",
    "HeavyParticleBath": "bath",
    "BathParams": "bath",
    "DystsSystem": "dysts_adapter",
    "dysts_system": "dysts_adapter",
    "list_dysts_flows": "dysts_adapter",
}

__all__ = ["DynamicalSystem", "SystemInfo", "get_system", "list_systems", "register",
           "register_namespace", "REGISTRY", *LAZY_NAMES]


def __getattr__(name: str) -> Any:
    if name in LAZY_NAMES:
        module = importlib.import_module(f"{__name__}.{LAZY_NAMES[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
