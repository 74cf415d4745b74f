"""Integrate a dynamical system into arrays: ensembles, transients, fixed output grid.

    sim = simulate(get_system("lorenz63"), n_traj=32, n_t=10_000, seed=0)
    sim.y.shape   # (32, 10000, 3): (n_traj, n_t, n_state), always rank 3

Every trajectory ``i`` draws its initial condition from its own random stream, spawned from
``seed`` by :class:`numpy.random.SeedSequence`, so the result does not depend on the number of
worker processes or on the order in which trajectories finish. A transient of ``transient``
time units (rounded to a multiple of ``dt``) is integrated first and discarded; recorded times
continue from there, so driven systems keep their phase. A failed integration raises
:class:`SimulationError` naming the trajectory and the integrator's reason; no row is ever
silently dropped.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.integrate import solve_ivp
from tqdm.auto import tqdm

from physrnn.errors import PhysrnnError
from physrnn.systems.base import DynamicalSystem

__all__ = ["Simulation", "SimulationError", "simulate", "integrate_trajectory"]

log = logging.getLogger(__name__)


class SimulationError(PhysrnnError, RuntimeError):
    """An integration failed (integrator error, NaN or divergence); names the trajectory."""


@dataclass(frozen=True)
class Simulation:
    """The result of :func:`simulate`.

    Attributes:
        t: ``(n_t,)`` output times ``t[k] = t_0 + k dt`` (system time units), where
            ``t_0 = round(transient / dt) dt`` is the end of the discarded transient.
        y: ``(n_traj, n_t, n_obs)`` observed states (``system.observe`` of the full state).
        y0: ``(n_traj, n_state)`` full initial states at ``t = 0`` (after the transient).
        observables: extra series, e.g. ``"invariant/energy"`` of shape ``(n_traj, n_t)``.
        meta: system name, parameters, units, integrator, tolerances, dt, transient, seed.
    """

    t: np.ndarray
    y: np.ndarray
    y0: np.ndarray
    observables: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def _integrate_ode(system: DynamicalSystem, y0: np.ndarray, t: np.ndarray, method: str,
                   rtol: float, atol: float) -> tuple[np.ndarray, str]:
    if len(t) == 1:
        return y0[None, :].copy(), ""
    kwargs: dict[str, Any] = {}
    if method in ("Radau", "BDF", "LSODA") and getattr(system, "jacobian", None) is not None:
        kwargs["jac"] = system.jacobian
    sol = solve_ivp(system.rhs, (float(t[0]), float(t[-1])), y0, method=method, t_eval=t,
                    rtol=rtol, atol=atol, **kwargs)
    if sol.status != 0 or sol.y.shape[1] != len(t):
        return np.empty((0, len(y0))), f"{method} failed at t = {sol.t[-1]:.6g}: {sol.message}"
    return sol.y.T, ""


def integrate_trajectory(
    system: DynamicalSystem,
    y0: np.ndarray,
    t: np.ndarray,
    *,
    rng: np.random.Generator,
    method: str,
    rtol: float,
    atol: float,
    index: int = 0,
) -> np.ndarray:
    """Full state ``(n_t, n_state)`` at times ``t`` from ``y0``; raises :class:`SimulationError`.

    Kind ``"ode"`` uses :func:`scipy.integrate.solve_ivp`; other kinds call
    ``system.integrate``.
    """
    try:
        if system.kind == "ode":
            y, reason = _integrate_ode(system, np.asarray(y0, dtype=float), t, method, rtol, atol)
        else:
            y = np.asarray(system.integrate(np.asarray(y0, dtype=float), t, rng=rng,
                                            method=method, rtol=rtol, atol=atol))
            reason = ""
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        y, reason = np.empty((0,)), f"{type(exc).__name__}: {exc}"
    if reason:
        raise SimulationError(f"{system.name}: trajectory {index} failed: {reason}")
    if y.ndim != 2 or y.shape[0] != len(t):
        raise SimulationError(f"{system.name}: trajectory {index} returned shape {y.shape}, "
                              f"expected ({len(t)}, n_state)")
    if not np.all(np.isfinite(y)):
        k = int(np.argmax(~np.all(np.isfinite(y), axis=1)))
        raise SimulationError(f"{system.name}: trajectory {index} became NaN or infinite at "
                              f"t = {t[k]:.6g} (step {k}); lower dt or tighten the tolerances")
    return y


def _one(args: tuple) -> tuple[int, np.ndarray, np.ndarray]:
    (system, index, seed_seq, y0, dt, n_t, transient, method, rtol, atol) = args
    rng = np.random.default_rng(seed_seq)
    if y0 is None:
        y0 = np.asarray(system.initial_condition(rng), dtype=float)
    n_tr = int(round(transient / dt)) if transient > 0 else 0
    kw = {"rng": rng, "method": method, "rtol": rtol, "atol": atol, "index": index}
    if system.kind != "ode" and n_tr > 0:
        # Delay and other non-Markovian integrators keep history that a restart from one state
        # would lose: integrate transient and record in one call and drop the transient part.
        y = integrate_trajectory(system, y0, dt * np.arange(n_tr + n_t), **kw)[n_tr:]
        return index, y[0].copy(), y
    if n_tr > 0:
        y0 = integrate_trajectory(system, y0, dt * np.arange(n_tr + 1), **kw)[-1]
    t = n_tr * dt + dt * np.arange(n_t)  # absolute times: driven systems keep their phase
    y = integrate_trajectory(system, y0, t, **kw)
    return index, np.asarray(y0), y


def simulate(
    system: DynamicalSystem,
    *,
    n_traj: int = 1,
    n_t: int | None = None,
    t_final: float | None = None,
    dt: float | None = None,
    transient: float | None = None,
    method: str | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    seed: int = 0,
    initial_conditions: np.ndarray | None = None,
    workers: int = 1,
    progress: bool | None = None,
    record_invariants: bool = True,
) -> Simulation:
    """Integrate an ensemble of trajectories onto a fixed output grid.

    Args:
        system: a :class:`~physrnn.systems.base.DynamicalSystem`.
        n_traj: number of trajectories.
        n_t: number of output times; or give ``t_final`` (then ``n_t = round(t_final/dt) + 1``).
        dt: output interval (system time units); default ``system.info().default_dt``.
        transient: time integrated and discarded first; default from the system's info.
        method, rtol, atol: integrator and tolerances; defaults from the system's info
            (DOP853 with rtol = atol = 1e-10 for chaotic flows).
        seed: master seed; trajectory ``i`` uses ``SeedSequence(seed).spawn(n_traj)[i]``.
        initial_conditions: ``(n_traj, n_state)`` to start from instead of random ones (the
            transient is still applied).
        workers: processes for the ensemble (``0`` = all cores); results do not depend on it.
        progress: progress bar over trajectories; ``None`` shows it only on a terminal.
        record_invariants: also store each conserved quantity versus time.

    Returns:
        A :class:`Simulation` with ``y`` of shape ``(n_traj, n_t, n_obs)``.

    Raises:
        ValueError: inconsistent arguments.
        SimulationError: an integration failed (names the trajectory and the reason).
    """
    info = system.info()
    dt = float(info.default_dt if dt is None else dt)
    transient = float(info.default_transient if transient is None else transient)
    method = info.default_method if method is None else method
    rtol = float(info.default_rtol if rtol is None else rtol)
    atol = float(info.default_atol if atol is None else atol)
    if n_traj < 1:
        raise ValueError(f"n_traj must be >= 1, got {n_traj}")
    if not (dt > 0 and math.isfinite(dt)):
        raise ValueError(f"dt must be a positive number, got {dt}")
    if transient < 0:
        raise ValueError(f"transient must be >= 0, got {transient}")
    if (n_t is None) == (t_final is None):
        raise ValueError("give exactly one of n_t or t_final")
    if n_t is None:
        n_t = int(round(float(t_final) / dt)) + 1
    if n_t < 1:
        raise ValueError(f"n_t must be >= 1, got {n_t}")
    if initial_conditions is not None:
        initial_conditions = np.asarray(initial_conditions, dtype=float)
        if initial_conditions.ndim != 2 or initial_conditions.shape[0] != n_traj:
            raise ValueError(f"initial_conditions must have shape (n_traj={n_traj}, n_state), "
                             f"got {initial_conditions.shape}")
    seeds = np.random.SeedSequence(seed).spawn(n_traj)
    jobs = [(system, i, seeds[i], None if initial_conditions is None else initial_conditions[i],
             dt, n_t, transient, method, rtol, atol) for i in range(n_traj)]
    workers = (os.cpu_count() or 1) if workers == 0 else max(1, int(workers))
    results: list[tuple[int, np.ndarray, np.ndarray] | None] = [None] * n_traj
    disable = None if progress is None else not progress
    with tqdm(total=n_traj, desc=f"simulate {system.name}", disable=disable, unit="traj") as bar:
        if workers == 1 or n_traj == 1:
            for job in jobs:
                results[job[1]] = _one(job)
                bar.update(1)
        else:
            # spawn, not fork: forking a process that holds JAX, torch or BLAS threads can deadlock
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=min(workers, n_traj), mp_context=ctx) as pool:
                for res in pool.map(_one, jobs, chunksize=max(1, n_traj // (4 * workers))):
                    results[res[0]] = res
                    bar.update(1)
    full = np.stack([r[2] for r in results])  # type: ignore[index]
    y0 = np.stack([r[1] for r in results])  # type: ignore[index]
    y = np.asarray(system.observe(full))
    observables: dict[str, np.ndarray] = {}
    if record_invariants:
        for name, values in system.invariants(full).items():
            observables[f"invariant/{name}"] = np.asarray(values)
    n_tr = int(round(transient / dt)) if transient > 0 else 0
    t = n_tr * dt + dt * np.arange(n_t)
    meta = {
        "system": system.name,
        "kind": system.kind,
        "params": system.param_dict(),
        "state_names": list(_observed_names(system, y.shape[-1])),
        "state_units": list(_observed_units(system, y.shape[-1])),
        "time_unit": info.time_unit,
        "time_scale": info.time_scale,
        "time_scale_name": info.time_scale_name,
        "lyapunov_exponent": info.lyapunov_exponent,
        "reference": info.reference,
        "integrator": method,
        "rtol": rtol,
        "atol": atol,
        "dt": dt,
        "transient": transient,
        "seed": int(seed),
        "n_traj": int(n_traj),
    }
    return Simulation(t=t, y=y, y0=y0, observables=observables, meta=meta)


def _observed_names(system: DynamicalSystem, n_obs: int) -> tuple[str, ...]:
    names = getattr(system, "observed_names", None)
    if callable(names):
        return tuple(names())
    info_names = system.info().state_names
    return tuple(info_names[:n_obs]) if len(info_names) >= n_obs else \
        tuple(f"y{i}" for i in range(n_obs))


def _observed_units(system: DynamicalSystem, n_obs: int) -> tuple[str, ...]:
    units = getattr(system, "observed_units", None)
    if callable(units):
        return tuple(units())
    info_units = system.info().state_units
    return tuple(info_units[:n_obs]) if len(info_units) >= n_obs else ("1",) * n_obs
