"""Simulated-dynamics data: physrnn's generation and loading beside dysts and plain SciPy.

Question: how fast does physrnn generate trajectories of chaotic flows, and feed training
windows from its HDF5 files, compared with dysts and with a plain SciPy loop, at the *same*
integrator and tolerance?

Part 1, generation (points per second = n_traj x n_t / wall seconds). Lorenz-63 (sigma = 10,
rho = 28, beta = 8/3) and Lorenz-96 (J = 40, F = 8), every code with DOP853 at rtol = atol =
1e-10 (``--rtol``, ``--atol``), output every dt = 0.01 (``--dt``), the same number of points and
the same initial conditions. The initial conditions are put on the attractor first (physrnn's
``simulate`` with the system's default transient, untimed); the timed runs start there with no
transient, over ``t = 0, dt, ..., (n_t - 1) dt``.

- **physrnn batched**: ``simulate(..., engine="batched")``: the whole ensemble through
  :func:`physrnn.data.ensemble.integrate_ensemble`, SciPy's DOP853 (tableau, initial step,
  error norm per trajectory, controller, dense output) compiled by numba, every trajectory with
  its own adaptive steps; numba's compilation is cached on disk and warmed up before timing.
  Chosen by measurement (``benchmarks/_ensemble_prototypes.py``, same sizes and tolerance,
  one thread, first call excluded; max abs dy against SciPy DOP853 over t <= 1)::

      system     engine                   wall s   points/s   max |dy|, t <= 1
      Lorenz-63  numba DOP853              0.158   2.03e6     1.4e-11
      Lorenz-63  numpy batched, masks      2.79    1.15e5     (no dense output: a lower
      Lorenz-63  diffrax Dopri8, vmap      0.782   4.09e5     3.3e-08     bound of its time)
      Lorenz-96  numba DOP853              0.279   2.87e5     2.5e-10
      Lorenz-96  numpy batched, masks      4.68    1.71e4     -
      Lorenz-96  diffrax Dopri8, vmap      0.920   8.70e4     2.2e-08

  (diffrax 0.7.2 on JAX 0.10.2 CPU, PIDController(rtol, atol), SaveAt(ts), float64, first
  call 5-7 s; the numpy version steps all trajectories together with accept/reject masks and
  pays ~12 numpy calls per stage for 3 or 40 numbers). numba is 3-5x faster than diffrax and
  reproduces SciPy's steps, so the tolerance means the same.
- **physrnn**: ``simulate(system, initial_conditions=..., transient=0, method="DOP853",
  engine="scipy", ...)`` with ``workers=1``, and again with ``workers=2`` (``--workers``: a
  process pool over trajectories; its start-up is part of the wall time). The two must give
  identical arrays.
- **dysts**: ``Lorenz`` / ``Lorenz96`` from ``dysts.flows`` built with *our* parameters (dysts'
  defaults differ: Lorenz has beta = 2.667, not 8/3; Lorenz96 has f = 20 and 4 sites), its
  ``dt`` attribute set to ``dt`` (``make_trajectory`` ignores its ``dt`` argument when the
  model has one) and ``make_trajectory(n_t, init_cond=..., resample=False, method="DOP853",
  rtol, atol)``: with ``resample=False`` it integrates over ``(n_t - 1) dt`` and evaluates at
  ``linspace(0, (n_t - 1) dt, n_t)``, which is checked to be spaced by ``dt``. It calls the
  same ``scipy.integrate.solve_ivp`` (with ``first_step = dt``, and a Jacobian that DOP853
  ignores); its right-hand sides are numba-compiled (Lorenz) or numpy (Lorenz96). Checked
  before timing: dysts' right-hand side equals ours at random states to 1e-12 (relative).
- **dysts default**: ``make_trajectory(n)`` of a fresh model with our parameters and the first
  initial condition, everything else dysts' default (Radau, rtol = atol = 1e-12, resampled to
  100 points per dominant period: a different output spacing and time span, shown in the
  table); fewer points (``--default-points``), one trajectory.
- **SciPy**: ``solve_ivp(rhs, ..., method="DOP853", t_eval=t)`` in a Python loop over the same
  initial conditions, with a hand-written numpy right-hand side (Lorenz-96 with three
  ``np.roll``, the common idiom). physrnn calls the same ``solve_ivp``, so the ratio measures
  the right-hand sides and physrnn's overhead: for Lorenz-63 it is ~1 (the integrator's Python
  loop dominates); for Lorenz-96 the three rolls cost ~13 us per call against ~3 us for
  physrnn's single padded array (measured here with ``timeit``), and that is most of the gap.

Every trajectory is compared with physrnn's from the same initial condition over the first
time unit (``max |dy|, t <= 1``): about the tolerance, 1e-8 at 1e-10 (differences grow with the
Lyapunov exponent after that). A larger value than 1e-6 is reported as a warning.
Numba compilation, imports and the first call of each code are warmed up before timing. Every
row is timed ``--repeats`` times, the codes interleaved (so a burst of load from other work hits
all of them alike), and the best (shortest) wall time is shown; all of them are in the JSON.

Part 3, Kuramoto-Sivashinsky (L = 32 pi, 512 points, ETDRK4 at dt = dt_int = 0.25; dysts has
no KS flow): ``integrate`` once per trajectory against once with the whole batch of initial
conditions (on the attractor), full 32 x 1,001 points (quick 8 x 201); the arrays must be
identical. Part 4, streaming: a KS set of 4 x 25,000 = 10^5 steps x 512 points (float32,
~200 MiB; quick 2 x 2,500) generated by the batched ETDRK4, written with ``write_dataset``,
then windows drawn by ``make_loaders`` (lazy reads, 0 workers): windows/s and the growth of
the resident set (largest VmRSS sampled after every batch, minus the value before the
loader) beside the file's size (see ``benchmarks/_ks_streaming.py``).

Part 2, loading (windows per second). A Lorenz-63 dataset (the physrnn simulation of part 1)
is written with ``physrnn.data.hdf5.write_dataset`` (float64, gzip chunks, split 0.8/0.1/0.1 by
trajectory) to a temporary directory; then ``--loader-batches`` batches of ``--batch-size``
windows (``--context`` + ``--horizon`` steps, normalised, float32) of the train split are drawn
(an epoch if it is shorter) by

- ``physrnn.data.datasets.make_loaders(path, num_workers=0)`` and ``num_workers=2`` (lazy HDF5
  reads per window, persistent workers; the worker start-up shows in ``first batch s``),
- ``WindowDataset`` on the file read into memory (``read_dataset(load=True)``) through a
  ``DataLoader`` (per-window indexing and collation, no HDF5),
- plain numpy in memory: the same ``(trajectory, start)`` windows in the same shuffled order,
  gathered per batch with one fancy index, normalised with the same statistics, converted to a
  torch tensor: the reference (``÷ in-memory`` = windows/s of the row over this one).

The first batch of every row is checked to equal the in-memory one (same windows, same order).
``windows/s`` counts batches 2..n (steady state, best of the repeats); the file sits in the
page cache, so this measures HDF5 decompression, slicing and the loader, not the disk.

Threads: ``--threads N`` limits torch and BLAS to N threads (``limit_threads``); SciPy's
integrators are single-threaded Python either way. On a machine shared with other work, read
the load averages recorded in the JSON before comparing numbers between runs.

Run::

    python benchmarks/data_generation.py --quick     # ~1 min on 2 loaded cores, smoke check
    python benchmarks/data_generation.py --threads 1 \\
        --json benchmarks/results/data_generation-$(date +%F)-$(hostname).json

Full size: trajectories as long as those of the dataset cards (100 time units), Lorenz-63
32 x 10,001 points and Lorenz-96 8 x 10,001 (``--l63 NxT``, ``--l96 NxT`` override), dysts
default with 1,000 / 500 points, 400 loader batches of 64 windows (context 100, horizon 20),
best of 2 repeats. Quick: 8 x 3,000 and 4 x 2,000 points, 200 / 100 dysts-default points,
100 loader batches, best of 3.
"""

from __future__ import annotations

import itertools
import math
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks._common import (  # noqa: E402
    base_parser,
    limit_threads,
    machine_info,
    markdown_table,
    write_json,
)

METHOD = "DOP853"
SYSTEMS = ("lorenz63", "lorenz96")
LABELS = {"lorenz63": "Lorenz-63", "lorenz96": "Lorenz-96 (J=40, F=8)"}
CHECK_TIME = 1.0  # time units over which trajectories are compared with physrnn's
AGREE_WARN = 1e-6
RHS_TOL = 1e-12

FULL = {
    "sizes": {"lorenz63": (32, 10_001), "lorenz96": (8, 10_001)},
    "ks": (32, 1_001),
    "stream": (4, 25_000),
    "default_points": {"lorenz63": 1_000, "lorenz96": 500},
    "loader_batches": 400,
    "repeats": 2,
}
QUICK = {
    "sizes": {"lorenz63": (8, 3_000), "lorenz96": (4, 2_000)},
    "ks": (8, 201),
    "stream": (2, 2_500),
    "default_points": {"lorenz63": 200, "lorenz96": 100},
    "loader_batches": 100,
    "repeats": 3,
}

GEN_COLUMNS = [
    ("system", "system"),
    ("code", "code"),
    ("method", "method"),
    ("tol", "rtol = atol"),
    ("dt_out", "output dt"),
    ("n_traj", "traj"),
    ("n_t", "points/traj"),
    ("t_span", "time span"),
    ("wall_s", "wall s"),
    ("points_per_s", "points/s"),
    ("max_err", "max abs dy vs physrnn, t <= 1"),
]

GEN_RATIO_COLUMNS = [
    ("system", "system"),
    ("batched_vs_dysts_ratio", "physrnn batched ÷ dysts"),
    ("batched_vs_scipy_ratio", "physrnn batched ÷ SciPy"),
    ("vs_scipy_ratio", "physrnn/SciPy"),
    ("vs_dysts_ratio", "physrnn/dysts"),
    ("vs_dysts_default_ratio", "physrnn/dysts default"),
    ("parallel_vs_scipy_ratio", "physrnn parallel/SciPy"),
    ("parallel_speedup_factor", "physrnn parallel/1 worker"),
]

KS_COLUMNS = [
    ("system", "system"),
    ("code", "code"),
    ("n_traj", "traj"),
    ("n_t", "points/traj"),
    ("wall_s", "wall s"),
    ("points_per_s", "points/s"),
    ("vs_loop_ratio", "÷ loop"),
]

STREAM_COLUMNS = [
    ("code", "code"),
    ("n_steps", "steps"),
    ("file_mib", "file MiB"),
    ("n_batches", "batches"),
    ("windows_per_s", "windows/s"),
    ("rss_growth_mib", "RSS growth MiB"),
    ("rss_growth_vs_file", "RSS growth ÷ file"),
]

LOAD_COLUMNS = [
    ("code", "code"),
    ("num_workers", "workers"),
    ("n_batches", "batches"),
    ("n_windows", "windows"),
    ("first_batch_s", "first batch s"),
    ("wall_s", "wall s"),
    ("windows_per_s", "windows/s"),
    ("vs_memory_ratio", "÷ in-memory"),
    ("first_batch_err", "max abs diff 1st batch"),
]


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _parse_size(text: str, option: str) -> tuple[int, int]:
    try:
        n_traj, n_t = (int(part) for part in text.lower().split("x"))
    except ValueError as exc:
        raise SystemExit(f"{option}: expected NxT (trajectories x points), got {text!r}") from exc
    if n_traj < 1 or n_t < 2:
        raise SystemExit(f"{option}: need >= 1 trajectory and >= 2 points, got {text!r}")
    return n_traj, n_t


def _parser():
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--rtol", type=float, default=1e-10,
                        help="relative tolerance of every code (DOP853)")
    parser.add_argument("--atol", type=float, default=None,
                        help="absolute tolerance of every code (default: = --rtol)")
    parser.add_argument("--dt", type=float, default=0.01, help="output interval (time units)")
    parser.add_argument("--l63", type=str, default=None,
                        help="Lorenz-63 trajectories x points (full: 32x10001; quick: 8x3000)")
    parser.add_argument("--l96", type=str, default=None,
                        help="Lorenz-96 trajectories x points (full: 8x10001; quick: 4x2000)")
    parser.add_argument("--default-points", type=int, default=None,
                        help="points of the 'dysts default' row (full: 1000 for Lorenz-63, "
                             "500 for Lorenz-96; quick: 200 / 100)")
    parser.add_argument("--workers", type=int, default=2,
                        help="processes of the parallel physrnn row (and loader workers)")
    parser.add_argument("--loader-batches", type=int, default=None,
                        help=f"batches per loader row (full: {FULL['loader_batches']}; quick: "
                             f"{QUICK['loader_batches']}); at most one epoch")
    parser.add_argument("--batch-size", type=int, default=64, help="windows per batch")
    parser.add_argument("--context", type=int, default=100, help="context window (steps)")
    parser.add_argument("--horizon", type=int, default=20, help="target window (steps)")
    parser.add_argument("--repeats", type=int, default=None,
                        help=f"timed repeats per row, interleaved, best kept (full: "
                             f"{FULL['repeats']}; quick: {QUICK['repeats']})")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the initial conditions, splits and shuffling")
    return parser


# --------------------------------------------------------------------------------------------
# Part 1: generation
# --------------------------------------------------------------------------------------------


def _scipy_rhs(name: str, params: dict[str, Any]) -> Callable[[float, np.ndarray], np.ndarray]:
    """A hand-written right-hand side, as a SciPy user would write it."""
    if name == "lorenz63":
        sigma, rho, beta = float(params["sigma"]), float(params["rho"]), float(params["beta"])

        def lorenz63(t: float, s: np.ndarray) -> np.ndarray:
            x, y, z = s
            return np.array([sigma * (y - x), x * (rho - z) - y, x * y - beta * z])

        return lorenz63
    forcing = float(params["F"])

    def lorenz96(t: float, x: np.ndarray) -> np.ndarray:
        return (np.roll(x, -1) - np.roll(x, 2)) * np.roll(x, 1) - x + forcing

    return lorenz96


def _dysts_model(name: str, params: dict[str, Any]):
    """A dysts model with our parameters (its defaults differ), or raise."""
    from dysts.flows import Lorenz, Lorenz96

    if name == "lorenz63":
        return Lorenz(parameters={"beta": float(params["beta"]), "rho": float(params["rho"]),
                                  "sigma": float(params["sigma"])})
    return Lorenz96(parameters={"f": float(params["F"])})


def _check_dysts_rhs(name: str, model, system, ics: np.ndarray, seed: int) -> float:
    """Max relative difference between dysts' and physrnn's right-hand sides at random states
    around the initial conditions; raises if above ``RHS_TOL``."""
    rng = np.random.default_rng(seed + 12345)
    worst = 0.0
    for k in range(5):
        state = ics[k % len(ics)] + rng.normal(scale=3.0, size=ics.shape[1])
        ours = np.asarray(system.rhs(0.0, state), dtype=float)
        theirs = np.asarray(model.rhs(state, 0.0), dtype=float)
        if theirs.shape != ours.shape:
            raise RuntimeError(f"{name}: dysts rhs has shape {theirs.shape}, ours {ours.shape}")
        worst = max(worst, float(np.max(np.abs(theirs - ours)) / max(1.0, np.max(np.abs(ours)))))
    if worst > RHS_TOL:
        raise RuntimeError(f"{name}: dysts' right-hand side differs from physrnn's by {worst:.2e} "
                           f"(relative) > {RHS_TOL:g}: not the same equations")
    return worst


def _run_physrnn(system, ics, n_t, cfg, workers, dt=None, engine="scipy"):
    """physrnn's ``Simulation`` of ``ics`` (no transient); ``dt`` defaults to ``cfg["dt"]``."""
    from physrnn.data.simulate import simulate

    return simulate(system, n_traj=len(ics), n_t=n_t, dt=cfg["dt"] if dt is None else dt,
                    transient=0.0, method=METHOD, rtol=cfg["rtol"], atol=cfg["atol"],
                    initial_conditions=ics, workers=workers, progress=False,
                    record_invariants=False, engine=engine)


def _run_dysts(model, ics, n_t, cfg) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "jac has no effect" for DOP853
        t, y = model.make_trajectory(n_t, init_cond=ics, resample=False, method=METHOD,
                                     rtol=cfg["rtol"], atol=cfg["atol"], standardize=False,
                                     postprocess=False, return_times=True)
    if y is None:
        raise RuntimeError("dysts returned no complete trajectory")
    y = np.asarray(y).reshape(len(ics), n_t, ics.shape[1])  # undo dysts' squeeze
    spacing = np.diff(t)
    if len(t) != n_t or not np.allclose(spacing, cfg["dt"], rtol=1e-9, atol=0):
        raise RuntimeError(f"dysts output spacing {spacing.min():.6g}..{spacing.max():.6g}, "
                           f"expected {cfg['dt']:g}: resampling is not off")
    return y


def _run_scipy(rhs, ics, n_t, cfg) -> np.ndarray:
    from scipy.integrate import solve_ivp

    t = cfg["dt"] * np.arange(n_t)
    out = np.empty((len(ics), n_t, ics.shape[1]))
    for i, y0 in enumerate(ics):
        sol = solve_ivp(rhs, (t[0], t[-1]), y0, method=METHOD, t_eval=t, rtol=cfg["rtol"],
                        atol=cfg["atol"])
        if sol.status != 0:
            raise RuntimeError(f"SciPy trajectory {i}: {sol.message}")
        out[i] = sol.y.T
    return out


def _run_dysts_default(name, params, y0, n_points) -> tuple[np.ndarray, np.ndarray]:
    model = _dysts_model(name, params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t, y = model.make_trajectory(n_points, init_cond=y0, return_times=True)
    if y is None:
        raise RuntimeError("dysts default: integration did not complete")
    return np.asarray(t), np.asarray(y).reshape(n_points, -1)


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _generation(name: str, n_traj: int, n_t: int, n_default: int, cfg: dict[str, Any],
                log: Callable[[str], None]) -> tuple[list[dict[str, Any]], dict[str, Any], Any]:
    """Rows of part 1 for one system, its ratio row, and physrnn's 1-worker Simulation."""
    import dysts  # noqa: F401  (import cost outside the timings)

    from physrnn.data.simulate import simulate
    from physrnn.systems.base import get_system

    system = get_system(name)
    params = system.param_dict()
    info = system.info()
    # initial conditions on the attractor (untimed): the system's own transient
    prep = simulate(system, n_traj=n_traj, n_t=1, dt=cfg["dt"], transient=info.default_transient,
                    method=METHOD, rtol=cfg["rtol"], atol=cfg["atol"], seed=cfg["seed"],
                    progress=False, record_invariants=False)
    ics = np.asarray(prep.y0, dtype=float)
    model = _dysts_model(name, params)
    model.dt = cfg["dt"]  # make_trajectory uses the model's dt, not its dt argument
    rhs_dev = _check_dysts_rhs(name, model, system, ics, cfg["seed"])
    rhs = _scipy_rhs(name, params)
    n_check = min(n_t, int(round(CHECK_TIME / cfg["dt"])) + 1)
    t_span = (n_t - 1) * cfg["dt"]

    # warm-up: imports, numba compilation, first calls (Radau's Jacobian too)
    warm = ics[:1]
    _run_physrnn(system, warm, 5, cfg, 1)
    _run_physrnn(system, warm, 5, cfg, 1, engine="batched")  # numba: load or compile
    _run_dysts(model, warm, 5, cfg)
    _run_scipy(rhs, warm, 5, cfg)
    _run_dysts_default(name, params, warm[0], 5)

    tol = cfg["rtol"] if cfg["rtol"] == cfg["atol"] else f"{cfg['rtol']:g} / {cfg['atol']:g}"
    base = {"system": LABELS[name], "system_name": name, "params": params, "method": METHOD,
            "tol": tol,
            "rtol": cfg["rtol"], "atol": cfg["atol"], "dt_out": cfg["dt"], "n_traj": n_traj,
            "n_t": n_t, "t_span": t_span}
    sides = {
        "physrnn batched": ("physrnn simulate, engine='batched' (numba DOP853)", 1,
                            lambda: _run_physrnn(system, ics, n_t, cfg, 1, engine="batched").y),
        "physrnn": ("physrnn simulate, engine='scipy', 1 worker", 1,
                    lambda: _run_physrnn(system, ics, n_t, cfg, 1)),
        "physrnn parallel": (f"physrnn simulate, engine='scipy', {cfg['workers']} workers",
                             cfg["workers"],
                             lambda: _run_physrnn(system, ics, n_t, cfg, cfg["workers"]).y),
        "dysts": ("dysts make_trajectory (DOP853, no resampling)", 1,
                  lambda: _run_dysts(model, ics, n_t, cfg)),
        "SciPy": ("SciPy solve_ivp loop", 1, lambda: _run_scipy(rhs, ics, n_t, cfg)),
        "dysts default": ("dysts default make_trajectory", 1,
                          lambda: _run_dysts_default(name, params, ics[0], n_default)),
    }
    walls: dict[str, list[float]] = {side: [] for side in sides}
    outputs: dict[str, Any] = {}
    # interleaved repeats (best of cfg["repeats"]): a burst of load hits every code alike
    for rep in range(cfg["repeats"]):
        for side, (_, _, run) in sides.items():
            log(f"# {name}: {side}, repeat {rep + 1}/{cfg['repeats']} ...")
            out, wall = _timed(run)
            walls[side].append(wall)
            outputs[side] = out
            n_points = n_default if side == "dysts default" else n_traj * n_t
            log(f"#   {wall:.2f} s, {n_points / wall:.0f} points/s")
    sim = outputs["physrnn"]
    y_ref = sim.y
    if not np.array_equal(outputs["physrnn parallel"], y_ref):
        raise RuntimeError(f"{name}: physrnn with {cfg['workers']} workers differs from 1 worker "
                           "(results must not depend on workers)")

    rows: list[dict[str, Any]] = []
    for side, (label, workers, _) in sides.items():
        wall = min(walls[side])
        extra: dict[str, Any] = {}
        if side == "dysts default":
            t_def, y_def = outputs[side]
            dt_def = float(t_def[1] - t_def[0])
            # compare with physrnn on dysts' own output grid for t <= CHECK_TIME (untimed)
            n_def_check = int(np.sum(t_def <= CHECK_TIME + 1e-12))
            dev = None
            if n_def_check >= 2:
                ref = _run_physrnn(system, ics[:1], n_def_check, cfg, 1, dt=dt_def).y[0]
                dev = float(np.max(np.abs(y_def[:n_def_check] - ref)))
            n_points = n_default
            extra = {"method": "Radau", "tol": 1e-12, "rtol": 1e-12, "atol": 1e-12,
                     "dt_out": dt_def, "n_traj": 1, "n_t": n_default,
                     "t_span": float(t_def[-1] - t_def[0]), "max_err_full": None}
        else:
            y = y_ref if side == "physrnn" else outputs[side]
            dev = float(np.max(np.abs(y[0, :n_check] - y_ref[0, :n_check])))
            n_points = n_traj * n_t
            extra = {"max_err_full": float(np.max(np.abs(y - y_ref)))}
        rows.append({**base, "code": label, "side": side, "workers": workers, "wall_s": wall,
                     "walls_s": walls[side], "median_wall_s": float(np.median(walls[side])),
                     "points_per_s": n_points / wall, "max_err": dev,
                     "rhs_rel_dev": rhs_dev if side.startswith("dysts") else None, **extra})
    for row in rows:
        if row["max_err"] is not None and row["max_err"] > AGREE_WARN:
            log(f"# warning: {name}: {row['code']} departs from physrnn by {row['max_err']:.1e} "
                f"> {AGREE_WARN:g} within t <= {CHECK_TIME:g}")

    speed = {r["side"]: r["points_per_s"] for r in rows}
    ratio = {
        "system": LABELS[name],
        "system_name": name,
        "batched_vs_dysts_ratio": speed["physrnn batched"] / speed["dysts"],
        "batched_vs_scipy_ratio": speed["physrnn batched"] / speed["SciPy"],
        "vs_scipy_ratio": speed["physrnn"] / speed["SciPy"],
        "vs_dysts_ratio": speed["physrnn"] / speed["dysts"],
        "vs_dysts_default_ratio": speed["physrnn"] / speed["dysts default"],
        "parallel_vs_scipy_ratio": speed["physrnn parallel"] / speed["SciPy"],
        "parallel_speedup_factor": speed["physrnn parallel"] / speed["physrnn"],
    }
    return rows, ratio, sim


# --------------------------------------------------------------------------------------------
# Part 2: loading
# --------------------------------------------------------------------------------------------


class _Indices:
    """A dataset of its own indices: reproduces a loader's shuffled order, untimed."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


def _time_batches(iterable, n_batches: int) -> tuple[list[Any], float, float]:
    """Draw ``n_batches`` batches; returns (first batch, seconds to the first, total seconds)."""
    t0 = time.perf_counter()
    it = iter(iterable)
    first = next(it)
    t_first = time.perf_counter() - t0
    for _ in itertools.islice(it, n_batches - 1):
        pass
    return first, t_first, time.perf_counter() - t0


def _loading(sim_t, sim_y, sim_y0, meta, cfg, tmp: Path,
             log: Callable[[str], None]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    import torch
    from torch.utils.data import DataLoader

    from physrnn.data.datasets import WindowDataset, make_loaders
    from physrnn.data.hdf5 import read_dataset, write_dataset

    path = tmp / "lorenz63.h5"
    _, write_s = _timed(lambda: write_dataset(path, t=sim_t, y=sim_y, meta=meta, y0=sim_y0,
                                              split_fractions=(0.8, 0.1, 0.1),
                                              split_seed=cfg["seed"]))
    size_mb = path.stat().st_size / 2**20
    log(f"# wrote {path.name}: {sim_y.shape}, {size_mb:.1f} MiB in {write_s:.2f} s")

    ctx, hor, bs, seed = cfg["context"], cfg["horizon"], cfg["batch_size"], cfg["seed"]
    data = read_dataset(path, load=True)
    mean = np.asarray(data.normalisation.mean, dtype=np.float64)
    scale = np.asarray(data.normalisation.scale, dtype=np.float64)
    ds_mem = WindowDataset(data, split="train", context=ctx, horizon=hor)
    n_epoch_batches = math.ceil(len(ds_mem) / bs)
    n_batches = min(cfg["loader_batches"], n_epoch_batches)
    if n_batches < 2:
        raise SystemExit("the train split gives fewer than 2 batches: lengthen the Lorenz-63 "
                         "trajectories (--l63) or shrink --batch-size / --context")

    def gen() -> torch.Generator:  # make_loaders seeds the train loader with seed + 0
        g = torch.Generator()
        g.manual_seed(seed)
        return g

    # the shuffled order of the first epoch, as the train loaders draw it
    order = [b.numpy() for b in itertools.islice(
        DataLoader(_Indices(len(ds_mem)), batch_size=bs, shuffle=True, generator=gen()),
        n_batches)]
    traj_ids, n_win, window = ds_mem.traj_ids, ds_mem.n_windows_per_traj, ctx + hor
    y_mem = np.asarray(data.y)
    offsets = np.arange(window)

    def memory_batches():
        for idx in order:
            k, w = np.divmod(idx, n_win)
            block = y_mem[traj_ids[k][:, None], (w * ds_mem.stride)[:, None] + offsets]
            xb = torch.as_tensor((block - mean) / scale, dtype=torch.float32)
            yield xb[:, :ctx], xb[:, ctx:]

    candidates: list[tuple[str, int, Callable[[], Any]]] = [
        ("numpy in memory (gather per batch)", 0, memory_batches),
        ("physrnn make_loaders (HDF5)", 0,
         lambda: make_loaders(path, context=ctx, horizon=hor, batch_size=bs, num_workers=0,
                              seed=seed)["train"]),
        ("physrnn make_loaders (HDF5)", cfg["workers"],
         lambda: make_loaders(path, context=ctx, horizon=hor, batch_size=bs,
                              num_workers=cfg["workers"], seed=seed)["train"]),
        ("physrnn WindowDataset in memory + DataLoader", 0,
         lambda: DataLoader(ds_mem, batch_size=bs, shuffle=True, generator=gen())),
    ]
    reference = None
    timings: list[dict[str, list[float]]] = [{"first": [], "total": []} for _ in candidates]
    errors = [0.0] * len(candidates)
    for rep in range(cfg["repeats"]):  # interleaved repeats, best of cfg["repeats"]
        for k, (code, workers, make) in enumerate(candidates):
            log(f"# loader: {code}, workers {workers}, repeat {rep + 1}/{cfg['repeats']} ...")
            source = make()
            first, t_first, total = _time_batches(source, n_batches)
            del source  # stops persistent workers
            if reference is None:
                reference = first
            err = max(float((first[0] - reference[0]).abs().max()),
                      float((first[1] - reference[1]).abs().max()))
            if first[0].shape != reference[0].shape or err > 1e-5:
                raise RuntimeError(f"loader {code!r} (workers {workers}) gives other windows "
                                   f"than the in-memory reference (max diff {err:.2e})")
            errors[k] = max(errors[k], err)
            timings[k]["first"].append(t_first)
            timings[k]["total"].append(total)
            log(f"#   {(n_batches - 1) * bs / (total - t_first):.0f} windows/s (first batch "
                f"{t_first:.3f} s)")
    rows: list[dict[str, Any]] = []
    for (code, workers, _), tim, err in zip(candidates, timings, errors, strict=True):
        steady = min(tot - first for tot, first in zip(tim["total"], tim["first"], strict=True))
        rows.append({"code": code, "num_workers": workers, "n_batches": n_batches,
                     "batch_size": bs, "n_windows": n_batches * bs,
                     "first_batch_s": min(tim["first"]), "wall_s": min(tim["total"]),
                     "walls_s": tim["total"], "windows_per_s": (n_batches - 1) * bs / steady,
                     "first_batch_err": err})
    mem_rate = rows[0]["windows_per_s"]
    for row in rows:
        row["vs_memory_ratio"] = row["windows_per_s"] / mem_rate
    settings = {"path_size_mib": size_mb, "write_s": write_s, "shape": list(sim_y.shape),
                "dtype": str(sim_y.dtype), "train_windows": len(ds_mem),
                "epoch_batches": n_epoch_batches, "train_trajectories": int(traj_ids.size),
                "context": ctx, "horizon": hor, "batch_size": bs, "compression": "gzip"}
    return rows, settings


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.threads is not None:
        limit_threads(args.threads)
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    base = QUICK if args.quick else FULL
    sizes = dict(base["sizes"])
    if args.l63:
        sizes["lorenz63"] = _parse_size(args.l63, "--l63")
    if args.l96:
        sizes["lorenz96"] = _parse_size(args.l96, "--l96")
    default_points = dict(base["default_points"])
    if args.default_points is not None:
        if args.default_points < 3:
            raise SystemExit("--default-points must be >= 3")
        default_points = {k: args.default_points for k in default_points}
    cfg = {
        "rtol": float(args.rtol),
        "atol": float(args.rtol if args.atol is None else args.atol),
        "dt": float(args.dt),
        "sizes": sizes,
        "default_points": default_points,
        "workers": int(args.workers),
        "loader_batches": int(args.loader_batches if args.loader_batches is not None
                              else base["loader_batches"]),
        "batch_size": int(args.batch_size),
        "context": int(args.context),
        "horizon": int(args.horizon),
        "repeats": int(args.repeats if args.repeats is not None else base["repeats"]),
        "seed": int(args.seed),
    }
    if not (cfg["rtol"] > 0 and cfg["atol"] > 0 and cfg["dt"] > 0):
        raise SystemExit("--rtol, --atol and --dt must be positive")
    if cfg["workers"] < 1 or cfg["batch_size"] < 1 or cfg["context"] < 1 or cfg["horizon"] < 1:
        raise SystemExit("--workers, --batch-size, --context and --horizon must be >= 1")
    if cfg["repeats"] < 1:
        raise SystemExit("--repeats must be >= 1")
    if cfg["loader_batches"] < 2:
        raise SystemExit("--loader-batches must be >= 2 (the first batch is timed apart)")

    import torch

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    size_text = ", ".join(f"{LABELS[k]} {n} x {t}" for k, (n, t) in sizes.items())
    print(f"# {METHOD}, rtol = {cfg['rtol']:g}, atol = {cfg['atol']:g} on every code "
          f"(dysts default: its own Radau 1e-12, resampled); output dt = {cfg['dt']:g}; "
          f"{size_text} (trajectories x points), same initial conditions on the attractor, no "
          f"transient timed; physrnn parallel: {cfg['workers']} workers; loader: context "
          f"{cfg['context']}, horizon {cfg['horizon']}, batch {cfg['batch_size']}; best of "
          f"{cfg['repeats']} interleaved repeats; torch "
          f"threads {torch.get_num_threads()}, --threads {args.threads}", flush=True)

    t_start = time.perf_counter()
    gen_rows: list[dict[str, Any]] = []
    gen_ratios: list[dict[str, Any]] = []
    l63 = None
    for name in SYSTEMS:
        n_traj, n_t = sizes[name]
        rows, ratio, arrays = _generation(name, n_traj, n_t, default_points[name], cfg, log)
        gen_rows += rows
        gen_ratios.append(ratio)
        if name == "lorenz63":
            l63 = arrays

    assert l63 is not None
    from benchmarks._ks_streaming import ks_generation, ks_streaming

    ks_rows = ks_generation(*base["ks"], cfg["repeats"], cfg["seed"], log)
    with tempfile.TemporaryDirectory(prefix="physrnn-bench-") as tmp:
        load_rows, load_settings = _loading(l63.t, l63.y, l63.y0, l63.meta, cfg, Path(tmp), log)
        stream_row = ks_streaming(*base["stream"], cfg, Path(tmp), log)
    total_s = time.perf_counter() - t_start
    load_after = os.getloadavg() if hasattr(os, "getloadavg") else None

    print()
    print("Generation (points/s = trajectories x points / wall s; max abs dy: first trajectory "
          f"against physrnn's over t <= {CHECK_TIME:g}):")
    print()
    print(markdown_table(gen_rows, GEN_COLUMNS))
    print()
    print("Generation ratios, points/s of physrnn over the peer's (> 1: physrnn faster):")
    print()
    print(markdown_table(gen_ratios, GEN_RATIO_COLUMNS))
    print()
    print("Kuramoto-Sivashinsky, L = 32 pi, 512 points, ETDRK4 dt = 0.25, the same initial "
          "conditions on the attractor (÷ loop: points/s over the one-trajectory loop's; the "
          "arrays are identical):")
    print()
    print(markdown_table(ks_rows, KS_COLUMNS))
    print()
    print(f"Streaming a KS set ({stream_row['n_traj']} x {stream_row['n_t']} steps x 512, "
          f"float32, {stream_row['array_mib']:.0f} MiB as an array, file "
          f"{stream_row['file_mib']:.0f} MiB gzip): windows of {cfg['context']} + "
          f"{cfg['horizon']} by make_loaders (lazy reads, 0 workers); RSS growth = largest "
          f"VmRSS sampled after each batch minus VmRSS before the loader:")
    print()
    print(markdown_table([stream_row], STREAM_COLUMNS))
    print()
    print(f"Loading Lorenz-63 windows, train split ({load_settings['train_trajectories']} "
          f"trajectories, {load_settings['train_windows']} windows of {cfg['context']} + "
          f"{cfg['horizon']}, batch {cfg['batch_size']}; windows/s over batches 2..n; file "
          f"{load_settings['path_size_mib']:.1f} MiB gzip, written in "
          f"{load_settings['write_s']:.2f} s):")
    print()
    print(markdown_table(load_rows, LOAD_COLUMNS))
    print()
    print(f"total {total_s:.0f} s; load average before {load_before}, after {load_after}")
    if args.quick:
        print("(--quick: a smoke check, not a result)")

    if args.json is not None:
        from importlib.metadata import PackageNotFoundError, version

        machine = machine_info(import_jax=False)
        try:
            dysts_version = version("dysts")
        except PackageNotFoundError:  # pragma: no cover - dysts was imported above
            dysts_version = None
        versions = {k: machine.get(k) for k in ("physrnn", "numpy", "scipy", "torch")}
        versions["dysts"] = dysts_version
        versions["h5py"] = version("h5py")
        try:
            versions["numba"] = version("numba")
        except PackageNotFoundError:
            versions["numba"] = None
        payload = {
            "benchmark": "data_generation",
            "question": "generation (points/s) of Lorenz-63 and Lorenz-96 by physrnn (batched "
                        "and per trajectory), dysts and plain SciPy at the same DOP853 "
                        "tolerance; batched against one-at-a-time Kuramoto-Sivashinsky; "
                        "loading (windows/s) of physrnn's HDF5 datasets against in-memory "
                        "numpy, and streaming windows of a 10^5-step 512-point KS file",
            "quick": bool(args.quick),
            "settings": {
                **cfg,
                "method": METHOD,
                "threads": args.threads,
                "check_time": CHECK_TIME,
                "initial_conditions": "physrnn simulate with the system's default transient "
                                      "(untimed), then every code starts there, transient 0",
                "dysts": "model built with our parameters, model.dt = dt, make_trajectory("
                         "resample=False, method='DOP853', rtol, atol, standardize=False, "
                         "postprocess=False); solve_ivp first_step = dt",
                "dysts_default": "fresh model with our parameters, make_trajectory(n, "
                                 "init_cond=first initial condition), dysts' defaults (Radau, "
                                 "1e-12, resampled to 100 points per period)",
                "points_per_s": "n_traj * n_t / wall seconds (warm: imports and JIT excluded)",
                "windows_per_s": "batch_size * (n_batches - 1) / time of batches 2..n",
                "loader": load_settings,
                "ks": {"params": {"L": "32 pi", "n_modes": 512, "dt_int": 0.25}, "dt": 0.25,
                       "size": list(base["ks"]), "stream_size": list(base["stream"])},
                "load_average_before": load_before,
                "load_average_after": load_after,
                "total_s": total_s,
            },
            "rows": {"generation": gen_rows, "loading": load_rows, "ks_generation": ks_rows,
                     "ks_streaming": [stream_row]},
            "ratios": {"generation": gen_ratios,
                       "loading": [{"code": r["code"], "num_workers": r["num_workers"],
                                    "vs_memory_ratio": r["vs_memory_ratio"]}
                                   for r in load_rows]},
            "machine": machine,
            "versions": versions,
        }
        dest = write_json(args.json, payload)
        print(f"wrote {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
