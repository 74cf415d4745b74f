"""Parameter and array checks shared by the built-in dynamical systems.

Two families:

* for the deterministic systems (:mod:`physrnn.systems.dynamics`, :mod:`~physrnn.systems.duffing`,
  :mod:`~physrnn.systems.mechanics`, :mod:`~physrnn.systems.chaos`): :func:`real_param`,
  :func:`positive_param`, :func:`nonnegative_param` read one field of a parameter dataclass and
  raise :class:`~physrnn.errors.SystemDefinitionError` naming the system, what the parameter is
  and its name; :func:`check_y0` and :func:`check_t` check the arrays a closed form is given;
* for the fixed-step integrators (:mod:`physrnn.systems.stochastic`,
  :mod:`~physrnn.systems.langevin`, :mod:`~physrnn.systems.spatiotemporal`):
  :func:`check_times`, :func:`check_state`, :func:`positive_value` and
  :func:`n_internal_steps`.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from physrnn.errors import SystemDefinitionError

__all__ = [
    "TWO_PI",
    "real_param",
    "positive_param",
    "nonnegative_param",
    "check_y0",
    "check_t",
    "check_times",
    "check_state",
    "positive_value",
    "n_internal_steps",
]

#: ``2 pi``, to turn angular frequencies (rad / time unit) into periods (time units).
TWO_PI = 2.0 * math.pi


# =========================================================== parameters of a dataclass
def real_param(system: str, params: Any, name: str, what: str) -> float:
    """``params.name`` as a float; raise if it is not a finite real number.

    Args:
        system: registry name of the system, quoted in the error.
        params: the parameter dataclass.
        name: the field to read.
        what: what the parameter is, e.g. ``"damping"`` (quoted in the error).

    Raises:
        SystemDefinitionError: a bool, a non-number, NaN or infinity.
    """
    value = getattr(params, name)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SystemDefinitionError(f"{system}: {what} {name} must be a real number, got "
                                    f"{value!r} ({type(value).__name__})")
    out = float(value)
    if not math.isfinite(out):
        raise SystemDefinitionError(f"{system}: {what} {name} must be finite, got {value!r}")
    return out


def positive_param(system: str, params: Any, name: str, what: str) -> None:
    """Raise :class:`SystemDefinitionError` unless ``params.name`` is finite and ``> 0``.

    Arguments as for :func:`real_param`.
    """
    value = real_param(system, params, name, what)
    if not value > 0:
        raise SystemDefinitionError(f"{system}: {what} {name} must be > 0, got {value!r}")


def nonnegative_param(system: str, params: Any, name: str, what: str) -> None:
    """Raise :class:`SystemDefinitionError` unless ``params.name`` is finite and ``>= 0``.

    Arguments as for :func:`real_param`.
    """
    value = real_param(system, params, name, what)
    if value < 0:
        raise SystemDefinitionError(f"{system}: {what} {name} must be >= 0, got {value!r}")


# =========================================================== arrays of a closed form
def check_y0(system: str, y0: np.ndarray, n_state: int) -> np.ndarray:
    """``y0`` as a float array of shape ``(n_state,)``.

    Raises:
        ValueError: another shape (the message names the system).
    """
    y0 = np.asarray(y0, dtype=float)
    if y0.shape != (n_state,):
        raise ValueError(f"{system}: y0 must have shape ({n_state},), got {y0.shape}")
    return y0


def check_t(t: np.ndarray) -> np.ndarray:
    """``t`` as a float array of shape ``(n_t,)`` (not checked for order or finiteness).

    Raises:
        ValueError: another rank.
    """
    t = np.asarray(t, dtype=float)
    if t.ndim != 1:
        raise ValueError(f"t must have shape (n_t,), got {t.shape}")
    return t


# =========================================================== fixed-step integrators
def check_times(t: np.ndarray, system: str) -> np.ndarray:
    """Validate output times: a finite, strictly increasing 1-D float array of length >= 1.

    Args:
        t: requested output times ``(n_t,)``; ``t[0]`` is the time of the initial state.
        system: system name, used in the error message.

    Returns:
        ``t`` as a float64 array ``(n_t,)``.

    Raises:
        SystemDefinitionError: wrong rank, empty, non-finite or not strictly increasing.
    """
    t = np.asarray(t, dtype=np.float64)
    if t.ndim != 1 or t.size == 0:
        raise SystemDefinitionError(f"{system}: t must be a non-empty 1-D array, got shape "
                                    f"{t.shape}")
    if not np.all(np.isfinite(t)):
        raise SystemDefinitionError(f"{system}: t contains non-finite values")
    if t.size > 1 and not np.all(np.diff(t) > 0):
        i = int(np.argmin(np.diff(t) > 0))
        raise SystemDefinitionError(f"{system}: t must be strictly increasing; t[{i}]={t[i]!r}, "
                                    f"t[{i + 1}]={t[i + 1]!r}")
    return t


def n_internal_steps(interval: float, dt_max: float) -> int:
    """Number of equal internal steps of at most ``dt_max`` that cover ``interval``.

    A relative slack of 1e-9 keeps ``interval = k * dt_max`` (up to round-off) at ``k`` steps.
    """
    return max(1, math.ceil(interval / dt_max * (1.0 - 1e-9)))


def check_state(y0: np.ndarray, n_state: int, system: str, *, batched: bool) -> np.ndarray:
    """A finite float64 initial state ``(n_state,)``, or ``(n_batch, n_state)`` if ``batched``.

    Raises:
        SystemDefinitionError: wrong shape or a non-finite value.
    """
    y0 = np.asarray(y0, dtype=np.float64)
    want = ("(n_batch, %d)" if batched else "(%d,)") % n_state
    if y0.ndim != (2 if batched else 1) or y0.shape[-1] != n_state:
        raise SystemDefinitionError(f"{system}: y0 must have shape {want}, got {y0.shape}")
    if not np.all(np.isfinite(y0)):
        raise SystemDefinitionError(f"{system}: y0 contains non-finite values")
    return y0


def positive_value(value: float, name: str, system: str, *, allow_zero: bool = False) -> None:
    """Raise :class:`SystemDefinitionError` unless ``value`` is finite and ``> 0``.

    With ``allow_zero=True`` the condition is ``>= 0``.
    """
    ok = math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        rel = ">= 0" if allow_zero else "> 0"
        raise SystemDefinitionError(f"{system}: {name} must be finite and {rel}, got {value!r}")
