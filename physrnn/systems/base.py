"""The contract of a simulated dynamical system and the registry of named systems.

A system is physics only: a pure right-hand side ``f(t, y, params)`` (or the equivalent for
stochastic, delay, spectral and quantum dynamics), a frozen parameter dataclass, and metadata
(state names and units, time scale, Lyapunov exponent, invariants, reference). Nothing here is
trainable. :mod:`physrnn.data.simulate` turns a system into arrays.

Kinds and what they provide:

* ``"ode"``: ``rhs(t, y, params) -> dy/dt`` for ``y`` of shape ``(n_state,)``; integrated by
  :func:`scipy.integrate.solve_ivp` with the user's method and tolerances.
* ``"sde"``, ``"dde"``, ``"pde"``, ``"quantum"``: the system implements
  :meth:`DynamicalSystem.integrate` itself (Euler-Maruyama or better with an explicit
  ``numpy.random.Generator``, a delay integrator with history, ETDRK4, ``expm_multiply``).

Every state array has a fixed rank: one trajectory is ``(n_t, n_state)``.
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar, Literal

import numpy as np

from physrnn.errors import SystemDefinitionError

__all__ = [
    "SystemInfo",
    "DynamicalSystem",
    "register",
    "register_namespace",
    "get_system",
    "list_systems",
    "REGISTRY",
    "NAMESPACES",
]

Kind = Literal["ode", "sde", "dde", "pde", "quantum"]


@dataclass(frozen=True)
class SystemInfo:
    """Metadata of a dynamical system, stored with every dataset.

    Attributes:
        state_names: one name per state component, e.g. ``("x", "y", "z")``.
        state_units: unit of each component (``"1"`` for dimensionless).
        time_unit: unit of time, e.g. ``"1"`` (system units) or ``"1/J"``.
        time_scale: a characteristic time (Lyapunov time, period, relaxation time).
        time_scale_name: what ``time_scale`` is, e.g. ``"Lyapunov time"``.
        lyapunov_exponent: largest Lyapunov exponent (1 / time unit) for chaotic systems.
        invariants: names of conserved quantities (keys of ``DynamicalSystem.invariants``).
        has_solution: whether ``DynamicalSystem.solution`` gives a closed form.
        reference: literature reference for the system and its numbers.
        default_dt: default output sampling interval.
        default_transient: default transient discarded before recording (time units).
        default_method, default_rtol, default_atol: default integrator settings.
    """

    state_names: tuple[str, ...]
    state_units: tuple[str, ...]
    time_unit: str = "1"
    time_scale: float = 1.0
    time_scale_name: str = "period"
    lyapunov_exponent: float | None = None
    invariants: tuple[str, ...] = ()
    has_solution: bool = False
    reference: str = ""
    default_dt: float = 0.01
    default_transient: float = 0.0
    default_method: str = "DOP853"
    default_rtol: float = 1e-10
    default_atol: float = 1e-10


class DynamicalSystem(ABC):
    """A named dynamical system with parameters; subclasses are registered by name.

    Subclasses set the class attributes ``name``, ``kind``, ``Params`` (a frozen dataclass with
    defaults) and implement :meth:`info`, :meth:`initial_condition` and either :meth:`rhs`
    (kind ``"ode"``) or :meth:`integrate` (other kinds). Optional: :meth:`solution`,
    :meth:`invariants`, :meth:`jacobian`, :meth:`observe`.

    Args:
        params: a ``Params`` instance; ``None`` uses the defaults.
    """

    name: ClassVar[str]
    kind: ClassVar[Kind] = "ode"
    Params: ClassVar[type]

    def __init__(self, params: Any = None) -> None:
        self.params = self.Params() if params is None else params
        if not isinstance(self.params, self.Params):
            raise SystemDefinitionError(
                f"{self.name}: params must be {self.Params.__name__}, got "
                f"{type(self.params).__name__}")
        self.validate()

    # --------------------------------------------------------------- to implement
    def info(self) -> SystemInfo:  # pragma: no cover - abstract in practice
        """Metadata (may depend on the parameters, e.g. the number of states)."""
        raise NotImplementedError

    def validate(self) -> None:
        """Raise :class:`SystemDefinitionError` for impossible parameters (override)."""
        return None

    def initial_condition(self, rng: np.random.Generator) -> np.ndarray:
        """A random initial state ``(n_state,)`` drawn from ``rng`` (before any transient)."""
        raise NotImplementedError

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        """Right-hand side ``dy/dt`` for kind ``"ode"``; shape ``(n_state,)``.

        Implementations delegate to a module-level pure function ``f(t, y, params)``.
        """
        raise NotImplementedError

    def integrate(
        self,
        y0: np.ndarray,
        t: np.ndarray,
        *,
        rng: np.random.Generator,
        method: str,
        rtol: float,
        atol: float,
    ) -> np.ndarray:
        """Trajectory ``(n_t, n_state)`` at times ``t`` for kinds other than ``"ode"``."""
        raise NotImplementedError

    # --------------------------------------------------------------- optional
    jacobian: ClassVar[Callable[..., np.ndarray] | None] = None

    def solution(self, t: np.ndarray, y0: np.ndarray) -> np.ndarray | None:
        """Closed-form trajectory ``(n_t, n_state)`` from ``y0`` at ``t``, or ``None``."""
        return None

    def invariants(self, y: np.ndarray) -> dict[str, np.ndarray]:
        """Conserved quantities of states ``(..., n_state)``, each of shape ``(...)``."""
        return {}

    def observe(self, y: np.ndarray) -> np.ndarray:
        """What is recorded from the full state ``(..., n_state)``; default: everything."""
        return y

    # --------------------------------------------------------------- helpers
    @property
    def n_state(self) -> int:
        """Number of state components."""
        return len(self.info().state_names)

    def param_dict(self) -> dict[str, Any]:
        """Parameters as a plain dict (stored in dataset attributes)."""
        return {f.name: getattr(self.params, f.name) for f in fields(self.params)}

    def __repr__(self) -> str:
        ps = ", ".join(f"{k}={v!r}" for k, v in self.param_dict().items())
        return f"{type(self).__name__}({ps})"


REGISTRY: dict[str, type[DynamicalSystem]] = {}

#: Name prefix -> factory ``f(name, **params) -> DynamicalSystem`` for systems that are built
#: on demand rather than registered one by one: :func:`get_system` hands ``"prefix:name"`` to
#: ``NAMESPACES["prefix"](name, **params)``. Filled by :func:`register_namespace`; the dysts
#: adapter (:mod:`physrnn.systems.dysts_adapter`) registers ``"dysts"``.
NAMESPACES: dict[str, Callable[..., DynamicalSystem]] = {}


def register(cls: type[DynamicalSystem]) -> type[DynamicalSystem]:
    """Class decorator: add a system to :data:`REGISTRY` under ``cls.name``."""
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise SystemDefinitionError(f"system name {cls.name!r} registered twice")
    REGISTRY[cls.name] = cls
    return cls


def register_namespace(prefix: str, factory: Callable[..., DynamicalSystem]) -> None:
    """Let :func:`get_system` build ``"prefix:name"`` systems with ``factory(name, **params)``.

    Args:
        prefix: the part before ``":"``, e.g. ``"dysts"``; non-empty, without ``":"``.
        factory: builds the system from the part after ``":"`` and the keyword parameters.

    Raises:
        SystemDefinitionError: a bad prefix, or one already taken by another factory.
    """
    if not prefix or ":" in prefix:
        raise SystemDefinitionError(f"namespace prefix {prefix!r} must be non-empty without ':'")
    if NAMESPACES.get(prefix, factory) is not factory:
        raise SystemDefinitionError(f"system namespace {prefix!r} registered twice")
    NAMESPACES[prefix] = factory


def list_systems() -> list[str]:
    """Names of every registered system (imports the built-in system modules)."""
    _load_builtin()
    return sorted(REGISTRY)


def get_system(name: str, **params: Any) -> DynamicalSystem:
    """Instantiate a registered system by name with keyword parameters.

    ``get_system("lorenz63", rho=28.0)``; a name ``"prefix:name"`` whose prefix is in
    :data:`NAMESPACES` goes to that factory, e.g. ``"dysts:Lorenz"`` loads a dysts system
    through the optional adapter.

    Raises:
        SystemDefinitionError: unknown name (listing the known ones) or unknown parameter.
    """
    _load_builtin()
    prefix, sep, rest = name.partition(":")
    if sep and prefix in NAMESPACES:
        return NAMESPACES[prefix](rest, **params)
    if name not in REGISTRY:
        raise SystemDefinitionError(
            f"unknown system {name!r}; known: {', '.join(sorted(REGISTRY))}")
    cls = REGISTRY[name]
    known = {f.name for f in fields(cls.Params)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise SystemDefinitionError(f"{name}: unknown parameter(s) {', '.join(unknown)}; "
                                    f"valid: {', '.join(sorted(known))}")
    return cls(replace(cls.Params(), **params))


#: The modules whose import registers the built-in systems (and namespaces), by full path.
BUILTIN_MODULES: tuple[str, ...] = (
    "physrnn.systems.dynamics", "physrnn.systems.duffing", "physrnn.systems.mechanics",
    "physrnn.systems.chaos", "physrnn.systems.stochastic", "physrnn.systems.langevin",
    "physrnn.systems.spatiotemporal", "physrnn.spins.quench", "physrnn.systems.bath",
    "physrnn.systems.dysts_adapter",
)


def _load_builtin() -> None:
    import importlib

    # the quantum quench is a spin model (physrnn.spins) registered here as a dynamical system;
    # the dysts adapter registers the "dysts" namespace (dysts itself is imported only on use)
    for module in BUILTIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise

