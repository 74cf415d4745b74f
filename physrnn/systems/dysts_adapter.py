"""Any chaotic flow of dysts (Gilpin, NeurIPS 2021) as a physrnn :class:`DynamicalSystem`.

    sys = dysts_system("Lorenz", rho=30.0)     # or get_system("dysts:Lorenz", rho=30.0)
    sys.rhs(0.0, y)                             # dysts' own (numba) right-hand side
    sys.info().lyapunov_exponent                # dysts' maximum_lyapunov_estimated

dysts is an optional dependency (``pip install dysts``) imported only here, lazily. Only the
continuous flows without delay (subclasses of ``dysts.base.DynSys`` in ``dysts.flows``) are
wrapped; delay systems (``MackeyGlass`` ...) are refused with a clear error.

Mapping of dysts metadata to :class:`SystemInfo`:

* parameters: dysts' ``params`` become the fields of a frozen ``Params`` dataclass with the same
  names (array parameters are stored as nested tuples); ``dysts_system(name, **params)``
  overrides them; an unknown name raises :class:`SystemDefinitionError`.
* ``rhs(t, y)`` calls ``model.rhs(y, t)`` of a dysts model built with these parameters, i.e.
  ``model._rhs(*y, t, *params sorted by name)``; ``jacobian(t, y)`` likewise when dysts has one.
* ``lyapunov_exponent`` = ``maximum_lyapunov_estimated``; ``time_scale`` is the Lyapunov time
  ``1 / lambda_max`` when positive, else dysts' dominant ``period``.
* ``default_dt`` = ``period / 100``: dysts' own sampling (``make_trajectory`` resamples to 100
  points per dominant period). dysts' ``dt`` is its *integration* step estimate (3e-4 for Lorenz),
  kept in :attr:`DystsSystem.metadata` with the other raw metadata (period, citation,
  correlation dimension, Kaplan-Yorke dimension, description ...).
* ``default_transient`` = 10 periods; :meth:`initial_condition` perturbs dysts' ``ic`` (a point on
  the attractor) by 10 % of the attractor's standard deviation per component (dysts' ``std``).
* ``reference`` = dysts' ``citation`` plus the dysts paper.
* state names ``x0 .. x{d-1}`` (dysts has none), units ``"1"``, time unit ``"1"``.

The wrapped system pickles by name and parameters (for worker processes).
"""

from __future__ import annotations

import difflib
import inspect
import math
from dataclasses import fields, make_dataclass
from typing import Any, ClassVar

import numpy as np

from physrnn.errors import SystemDefinitionError
from physrnn.systems.base import DynamicalSystem, SystemInfo, register_namespace

__all__ = ["dysts_system", "list_dysts_flows", "DystsSystem"]

_INSTALL_HINT = "dysts is not installed: pip install dysts"
_DYSTS_PAPER = ("W. Gilpin, Chaos as an interpretable benchmark for forecasting and data-driven "
                "modelling, NeurIPS Datasets and Benchmarks (2021)")
_CLASSES: dict[str, type[DystsSystem]] = {}


def _import_dysts():
    try:
        import dysts.base
        import dysts.flows
    except ImportError as exc:
        raise SystemDefinitionError(_INSTALL_HINT) from exc
    return dysts.flows, dysts.base


def list_dysts_flows() -> list[str]:
    """Names of the dysts flows the adapter can wrap (continuous, no delay), sorted."""
    flows, base = _import_dysts()
    return sorted(name for name, obj in vars(flows).items()
                  if inspect.isclass(obj) and issubclass(obj, base.DynSys)
                  and obj.__module__ == flows.__name__)


def _to_field(value: Any) -> Any:
    """dysts parameter -> hashable dataclass value (float, int or nested tuple)."""
    arr = np.asarray(value)
    if arr.ndim == 0:
        v = arr.item()
        return v if isinstance(v, bool | int) else float(v)
    return tuple(_to_field(v) for v in arr)


def _to_dysts(value: Any) -> Any:
    return np.asarray(value, dtype=float) if isinstance(value, tuple) else value


class DystsSystem(DynamicalSystem):
    """Base of the per-flow classes made by :func:`dysts_system` (not registered by name).

    Attributes:
        metadata: dysts' raw metadata of the flow (``dt``, ``period``, ``citation`` ...).
        model: the dysts model instance with this system's parameters.
    """

    kind: ClassVar[str] = "ode"
    flow_name: ClassVar[str]
    _flow_cls: ClassVar[type]

    def __init__(self, params: Any = None) -> None:
        super().__init__(params)
        pars = {f.name: _to_dysts(getattr(self.params, f.name)) for f in fields(self.params)}
        self.model = self._flow_cls(parameters=pars)
        self.metadata: dict[str, Any] = {
            key: getattr(self.model, key, None)
            for key in ("dt", "period", "maximum_lyapunov_estimated", "citation",
                        "description", "correlation_dimension", "kaplan_yorke_dimension",
                        "lyapunov_spectrum_estimated", "hamiltonian", "nonautonomous")
        }
        self._dimension = int(getattr(self.model, "dimension", len(self.model.ic)))

    def info(self) -> SystemInfo:
        md = self.metadata
        lam = md["maximum_lyapunov_estimated"]
        period = md["period"]
        dt_int = md["dt"]
        if lam is not None and float(lam) > 0:
            time_scale, scale_name = 1.0 / float(lam), "Lyapunov time"
        elif period is not None:
            time_scale, scale_name = float(period), "period"
        else:
            time_scale, scale_name = 1.0, "time unit"
        if period is not None and float(period) > 0:
            default_dt, transient = float(period) / 100.0, 10.0 * float(period)
        else:
            default_dt, transient = float(dt_int or 0.01), 0.0
        citation = str(md["citation"]).strip() if md["citation"] else ""
        ref = f"{citation}; via dysts: {_DYSTS_PAPER}" if citation else f"dysts: {_DYSTS_PAPER}"
        d = self._dimension
        return SystemInfo(
            state_names=tuple(f"x{i}" for i in range(d)),
            state_units=("1",) * d,
            time_unit="1",
            time_scale=time_scale,
            time_scale_name=scale_name,
            lyapunov_exponent=None if lam is None else float(lam),
            reference=ref,
            default_dt=default_dt,
            default_transient=transient,
            default_method="DOP853",
            default_rtol=1e-10,
            default_atol=1e-10,
        )

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        """dysts' right-hand side ``(n_state,)`` at ``(t, y)``."""
        return np.asarray(self.model.rhs(np.asarray(y, dtype=float), t), dtype=float)

    def jacobian(self, t: float, y: np.ndarray) -> np.ndarray:  # type: ignore[override]
        """dysts' Jacobian ``(n_state, n_state)``; raises if the flow has none."""
        if not self.model.has_jacobian():
            raise SystemDefinitionError(f"dysts:{self.flow_name} has no analytic Jacobian")
        return np.asarray(self.model.jac(np.asarray(y, dtype=float), t), dtype=float)

    def initial_condition(self, rng: np.random.Generator) -> np.ndarray:
        """dysts' ``ic`` plus ``0.1 * std * N(0, 1)`` per component (before the transient)."""
        ic = np.asarray(self.model.ic, dtype=float).reshape(-1)
        std = np.asarray(getattr(self.model, "std", np.ones_like(ic)), dtype=float)
        if std.shape != ic.shape or not np.all(np.isfinite(std)):
            std = np.ones_like(ic)
        return ic + 0.1 * std * rng.standard_normal(ic.shape)

    def __reduce__(self):
        # the per-flow class is made at run time: pickle by flow name and parameters
        return (_rebuild, (self.flow_name, self.param_dict()))


def _rebuild(name: str, params: dict[str, Any]) -> DystsSystem:
    return dysts_system(name, **params)


def _system_class(name: str) -> type[DystsSystem]:
    if name in _CLASSES:
        return _CLASSES[name]
    flows, base = _import_dysts()
    obj = getattr(flows, name, None)
    if not (inspect.isclass(obj) and issubclass(obj, base.BaseDyn)):
        known = list_dysts_flows()
        close = difflib.get_close_matches(name, known, n=5, cutoff=0.5) or known[:5]
        raise SystemDefinitionError(f"unknown dysts flow {name!r}; close matches: "
                                    f"{', '.join(close)} ({len(known)} flows in dysts.flows)")
    if not issubclass(obj, base.DynSys):
        raise SystemDefinitionError(f"dysts flow {name!r} is a {obj.__mro__[1].__name__} "
                                    "(delay or discrete system); only ODE flows are supported")
    defaults = obj().params
    spec = [(key, Any, _to_field(val)) for key, val in sorted(defaults.items())]
    params_cls = make_dataclass(f"{name}Params", spec, frozen=True)
    params_cls.__doc__ = f"Parameters of dysts' {name} flow (defaults from dysts)."
    cls = type(f"Dysts{name}", (DystsSystem,), {
        "name": f"dysts:{name}",
        "flow_name": name,
        "Params": params_cls,
        "_flow_cls": obj,
        "__doc__": f"dysts flow {name} wrapped as a physrnn system.",
    })
    _CLASSES[name] = cls
    return cls


def dysts_system(name: str, **params: Any) -> DynamicalSystem:
    """A dysts flow as a :class:`DynamicalSystem` (kind ``"ode"``).

    Args:
        name: dysts class name in ``dysts.flows``, e.g. ``"Lorenz"``, ``"Rossler"``.
        **params: overrides of dysts' parameters (same names).

    Raises:
        SystemDefinitionError: dysts missing (``pip install dysts``), unknown flow (with close
            matches), delay flow, or unknown parameter.
    """
    cls = _system_class(str(name))
    known = [f.name for f in fields(cls.Params)]
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise SystemDefinitionError(f"dysts:{name}: unknown parameter(s) {', '.join(unknown)}; "
                                    f"valid: {', '.join(known)}")
    values = {k: _to_field(v) for k, v in params.items()}
    for key, val in values.items():
        if isinstance(val, float) and not math.isfinite(val):
            raise SystemDefinitionError(f"dysts:{name}: parameter {key} must be finite")
    return cls(cls.Params(**values))


# get_system("dysts:<name>", ...) is routed here; importing this module does not import dysts
register_namespace("dysts", dysts_system)
