"""Prototype engines for ensembles of ODE trajectories, timed to choose one (not a library).

Lorenz-63 32 x 10,001 and Lorenz-96 (J = 40) 8 x 10,001 points, dt = 0.01, rtol = atol = 1e-10,
the initial conditions of ``benchmarks/data_generation.py`` (seed 0, on the attractor). Each
engine's first call is excluded (compilation); ``max |dy|, t <= 1`` is against SciPy DOP853.

* ``numba``: :func:`physrnn.data.ensemble.integrate_ensemble` (SciPy's DOP853 compiled, one
  trajectory after another, dense output at the output times).
* ``numpy batched``: DOP853 on the whole ensemble at once in numpy, each trajectory with its
  own step and accept/reject mask, the SciPy error norm per trajectory; *without* dense
  output (states are not recorded), so its time is a lower bound of a complete one.
* ``diffrax``: ``diffeqsolve`` with ``Dopri8``, ``PIDController(rtol, atol)``,
  ``SaveAt(ts=t)``, ``jax.vmap`` over the initial conditions, float64, jitted.

Run: ``python benchmarks/_ensemble_prototypes.py [--diffrax-path DIR]`` (diffrax is not a
dependency: give a directory where ``pip install --target DIR --no-deps diffrax lineax
optimistix`` put it).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

SIZES = {"lorenz63": (32, 10_001), "lorenz96": (8, 10_001)}
DT, TOL = 0.01, 1e-10


def _ics(name: str, n: int) -> np.ndarray:
    from physrnn.data.simulate import simulate
    from physrnn.systems.base import get_system

    system = get_system(name)
    return simulate(system, n_traj=n, n_t=1, seed=0, progress=False,
                    record_invariants=False).y0


def _scipy(name: str, ics: np.ndarray, n_t: int) -> np.ndarray:
    from physrnn.data.simulate import simulate
    from physrnn.systems.base import get_system

    return simulate(get_system(name), n_traj=len(ics), n_t=n_t, transient=0.0, engine="scipy",
                    initial_conditions=ics, progress=False, record_invariants=False).y


def _numba(name: str, ics: np.ndarray, t: np.ndarray) -> np.ndarray:
    from physrnn.data.ensemble import integrate_ensemble
    from physrnn.systems.base import get_system

    return integrate_ensemble(get_system(name), ics, t, rtol=TOL, atol=TOL)


def _rhs_batch(name: str):
    if name == "lorenz63":
        def f(y):
            x, yy, z = y[:, 0], y[:, 1], y[:, 2]
            return np.stack([10.0 * (yy - x), x * (28.0 - z) - yy, x * yy - 8.0 / 3.0 * z], 1)
        return f

    def g(y):
        return (np.roll(y, -1, 1) - np.roll(y, 2, 1)) * np.roll(y, 1, 1) - y + 8.0
    return g


def _numpy_batched(name: str, ics: np.ndarray, t: np.ndarray) -> int:
    """Steps the ensemble to t[-1] with masks; returns the number of batched iterations."""
    from scipy.integrate._ivp import dop853_coefficients as c

    A, B, E3, E5 = c.A[:12, :12], c.B, c.E3, c.E5
    f = _rhs_batch(name)
    y = ics.copy()
    n_traj, n = y.shape
    tt = np.zeros(n_traj)
    h = np.full(n_traj, 1e-3)
    fy = f(y)
    K = np.empty((13, n_traj, n))
    t_end = t[-1]
    iters = 0
    while np.any(tt < t_end):
        iters += 1
        hh = np.minimum(h, t_end - tt)[:, None]
        K[0] = fy
        for s in range(1, 12):
            K[s] = f(y + hh * np.tensordot(A[s, :s], K[:s], axes=1))
        y_new = y + hh * np.tensordot(B, K[:12], axes=1)
        K[12] = f(y_new)
        scale = TOL + np.maximum(np.abs(y), np.abs(y_new)) * TOL
        e5 = np.sum((np.tensordot(E5, K, axes=1) / scale) ** 2, 1)
        e3 = np.sum((np.tensordot(E3, K, axes=1) / scale) ** 2, 1)
        err = hh[:, 0] * e5 / np.sqrt((e5 + 0.01 * e3) * n)
        ok = (err < 1.0) & (tt < t_end)
        fac = np.where(err < 1.0, np.minimum(10.0, 0.9 * np.maximum(err, 1e-300) ** -0.125),
                       np.maximum(0.2, 0.9 * err ** -0.125))
        tt = np.where(ok, tt + hh[:, 0], tt)
        y = np.where(ok[:, None], y_new, y)
        fy = np.where(ok[:, None], K[12], fy)
        h = h * fac
    return iters


def _diffrax(name: str, ics: np.ndarray, t: np.ndarray):
    import diffrax
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    if name == "lorenz63":
        def vf(_t, y, _a):
            x, yy, z = y
            return jnp.stack([10.0 * (yy - x), x * (28.0 - z) - yy, x * yy - 8.0 / 3.0 * z])
    else:
        def vf(_t, y, _a):
            return (jnp.roll(y, -1) - jnp.roll(y, 2)) * jnp.roll(y, 1) - y + 8.0
    term = diffrax.ODETerm(vf)
    ts = jnp.asarray(t)

    def one(y0):
        sol = diffrax.diffeqsolve(term, diffrax.Dopri8(), t0=ts[0], t1=ts[-1], dt0=None, y0=y0,
                                  saveat=diffrax.SaveAt(ts=ts),
                                  stepsize_controller=diffrax.PIDController(rtol=TOL, atol=TOL),
                                  max_steps=10 * len(t))
        return sol.ys

    run = jax.jit(jax.vmap(one))
    return lambda y: np.asarray(run(jnp.asarray(y)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--diffrax-path", type=str, default=None)
    args = parser.parse_args()
    if args.diffrax_path:
        sys.path.insert(0, args.diffrax_path)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks._common import limit_threads

    limit_threads(1)
    print("| system | engine | wall s | points/s | max abs dy vs SciPy, t <= 1 | note |")
    print("|---|---|---|---|---|---|")
    for name, (n_traj, n_t) in SIZES.items():
        ics = _ics(name, n_traj)
        t = DT * np.arange(n_t)
        n_check = int(round(1.0 / DT)) + 1
        ref = _scipy(name, ics[:2], n_check)
        engines = {"numba": lambda n=name, y=ics, tt=t: _numba(n, y, tt),
                   "numpy batched": lambda n=name, y=ics, tt=t: _numpy_batched(n, y, tt)}
        if args.diffrax_path:
            run = _diffrax(name, ics, t)
            engines["diffrax Dopri8 vmap"] = lambda run=run, y=ics: run(y)
        for engine, fn in engines.items():
            t0 = time.perf_counter()
            if engine != "numpy batched":
                warm = fn()  # compilation
            first = time.perf_counter() - t0
            t0 = time.perf_counter()
            out = fn()
            wall = time.perf_counter() - t0
            if engine == "numpy batched":
                dev, note = "n/a (no output)", f"{out} iterations, no dense output"
            else:
                dev = f"{float(np.max(np.abs(out[:2, :n_check] - ref))):.1e}"
                note = f"first call {first:.1f} s"
                del warm
            print(f"| {name} | {engine} | {wall:.3f} | {n_traj * n_t / wall:.3g} | {dev} | "
                  f"{note} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
