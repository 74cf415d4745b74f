"""Physics definitions, nothing trained: dynamical systems (registry) and quantum spin models.

    from physrnn.systems import get_system, list_systems
    lorenz = get_system("lorenz63")            # DynamicalSystem with rhs, info(), jacobian
"""

from physrnn.systems.base import DynamicalSystem, SystemInfo, get_system, list_systems, register

__all__ = ["DynamicalSystem", "SystemInfo", "get_system", "list_systems", "register"]
