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

Engines (``engine=``): ``"scipy"`` integrates each trajectory with
:func:`scipy.integrate.solve_ivp` (optionally in worker processes); ``"batched"`` integrates
the whole ensemble at once: ODEs with a compiled right-hand side (``rhs_kernel``, e.g.
Lorenz-63 and Lorenz-96) through :func:`physrnn.data.ensemble.integrate_ensemble` (SciPy's
DOP853 step for step, compiled: the same tolerances mean the same, trajectories agree with
SciPy's to rounding over the first time units, and drift apart later at the rate of the
Lyapunov exponent like any two codes), systems whose ``integrate`` takes a batch of initial
states (``batch_integrate = True``, e.g. Kuramoto-Sivashinsky) in one vectorised call, which
gives exactly the one-at-a-time arrays. ``"auto"`` (the default) is ``"batched"`` where the
system and method support it and ``"scipy"`` otherwise; ``meta["engine"]`` records the engine.
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

from physrnn.data.ensemble import (
    ENGINE_NAME,
    EnsembleFailure,
    ensemble_support,
    integrate_ensemble,
)
from physrnn.errors import PhysrnnError
from physrnn.systems.base import DynamicalSystem

__all__ = ["Simulation", "SimulationError", "simulate", "integrate_trajectory", "ENGINES"]

#: Largest array (bytes) of one batched ``integrate`` call; larger ensembles go in chunks.
_CHUNK_BYTES = 2**28
#: Values of ``simulate(engine=...)``.
ENGINES = ("auto", "scipy", "batched")

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


def _choose_engine(system: DynamicalSystem, method: str, engine: str) -> str:
    """``"scipy"``, ``ENGINE_NAME`` (compiled DOP853) or ``"batched integrate"``."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "scipy":
        return "scipy"
    if system.kind == "ode":
        why = ensemble_support(system, method)
        if not why:
            return ENGINE_NAME
    else:
        why = "" if getattr(system, "batch_integrate", False) else \
            f"{system.name}.integrate takes one initial state at a time"
        if not why:
            return "batched integrate"
    if engine == "batched":
        raise ValueError(f"engine='batched' is not available for {system.name}: {why}; use "
                         f"engine='auto' or 'scipy'")
    return "scipy"


def _batched(system: DynamicalSystem, jobs: list[tuple], chosen: str
             ) -> tuple[np.ndarray, np.ndarray]:
    """``(y0 (n_traj, n_state), full states (n_traj, n_t, n_state))`` of every job at once,
    with the initial conditions and transients of :func:`_one`."""
    (_, _, _, _, dt, n_t, transient, method, rtol, atol) = jobs[0]
    y0s = []
    for (_, _, seed_seq, y0, *_rest) in jobs:
        rng = np.random.default_rng(seed_seq)
        y0s.append(np.asarray(system.initial_condition(rng) if y0 is None else y0, dtype=float))
    y0 = np.stack(y0s)
    n_tr = int(round(transient / dt)) if transient > 0 else 0
    t = n_tr * dt + dt * np.arange(n_t)
    if chosen == "batched integrate":
        # as _one for non-ODE kinds: transient and record in one call, the transient dropped
        # in chunks of trajectories of <= _CHUNK_BYTES each (rows are independent)
        t_all = dt * np.arange(n_tr + n_t)
        chunk = max(1, int(_CHUNK_BYTES // (8 * len(t_all) * y0.shape[1])))
        full = np.concatenate([
            _checked(system, system.integrate(y0[i:i + chunk], t_all, rng=None, method=method,
                                              rtol=rtol, atol=atol), t_all, i)[:, n_tr:]
            for i in range(0, len(y0), chunk)])
        return full[:, 0].copy(), full
    try:
        if n_tr > 0:  # the steps do not depend on the output times: end state as SciPy's
            y0 = integrate_ensemble(system, y0, np.array([0.0, n_tr * dt]), rtol=rtol,
                                    atol=atol)[:, -1]
        full = integrate_ensemble(system, y0, t, rtol=rtol, atol=atol)
    except EnsembleFailure as exc:
        raise SimulationError(f"{system.name}: {exc}; lower dt or tighten the tolerances") \
            from exc
    return y0, full


def _checked(system: DynamicalSystem, y: np.ndarray, t: np.ndarray, first: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 3 or y.shape[1] != len(t):
        raise SimulationError(f"{system.name}: batched integrate returned shape {y.shape}, "
                              f"expected (n_traj, {len(t)}, n_state)")
    bad = ~np.all(np.isfinite(y), axis=(1, 2))
    if bad.any():
        raise SimulationError(f"{system.name}: trajectory {first + int(np.argmax(bad))} became "
                              f"NaN or "
                              f"infinite; lower dt or tighten the tolerances")
    return y


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
    engine: str = "auto",
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
        engine: ``"auto"`` (batched where supported), ``"scipy"`` (one trajectory at a time,
            ``workers`` processes) or ``"batched"`` (the whole ensemble at once; ``workers`` is
            ignored); see the module docstring. Seeds and initial conditions are the same.

    Returns:
        A :class:`Simulation` with ``y`` of shape ``(n_traj, n_t, n_obs)``.

    Raises:
        ValueError: inconsistent arguments, or ``engine="batched"`` for a system or method
            without a batched integrator (the message says why).
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
    chosen = _choose_engine(system, method, engine)
    jobs = [(system, i, seeds[i], None if initial_conditions is None else initial_conditions[i],
             dt, n_t, transient, method, rtol, atol) for i in range(n_traj)]
    workers = (os.cpu_count() or 1) if workers == 0 else max(1, int(workers))
    results: list[tuple[int, np.ndarray, np.ndarray] | None] = [None] * n_traj
    disable = None if progress is None else not progress
    with tqdm(total=n_traj, desc=f"simulate {system.name}", disable=disable, unit="traj") as bar:
        if chosen != "scipy":
            y0_all, full_all = _batched(system, jobs, chosen)
            results = [(i, y0_all[i], full_all[i]) for i in range(n_traj)]
            bar.update(n_traj)
        elif workers == 1 or n_traj == 1:
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
        "engine": chosen,
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
