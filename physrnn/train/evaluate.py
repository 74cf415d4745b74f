"""Score forecasters side by side on the same test windows with the same metrics.

Protocol (REFERENCES.md, "Forecasting protocol"): forecasts start from ``n_test`` initial
conditions taken from the **test** trajectories (never seen in training); each forecaster sees
the same context window and predicts ``horizon`` steps in closed loop. Scores, in normalised
coordinates where the attractor's per-component standard deviation is 1 (train-split
statistics):

* valid prediction time (first lead time with NRMSE > threshold), in Lyapunov times when the
  system's Lyapunov exponent is known, else in time units: median and interquartile range;
* NRMSE at one Lyapunov time (or at ``t = 1``);
* long-run statistics of a free run: per-component Wasserstein-1 / sigma and the Welch
  power-spectrum distance, beside the truth-versus-truth floor (test against validation data).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from physrnn.metrics.forecast import (
    invariant_measure_distance,
    nrmse_at,
    power_spectrum_distance,
    summarise_vpt,
    valid_prediction_time,
)
from physrnn.nn.base import Forecaster
from physrnn.progress import Progress, lines_wanted, phase

__all__ = ["ForecastWindows", "forecast_windows", "fit_all_baselines", "evaluate_forecasters"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ForecastWindows:
    """Forecast problems: ``context (n, C, d)``, ``truth (n, H, d)`` and their origin."""

    context: np.ndarray
    truth: np.ndarray
    trajectories: np.ndarray
    starts: np.ndarray


def forecast_windows(
    y: np.ndarray,
    trajectories: np.ndarray,
    *,
    n_test: int,
    context: int,
    horizon: int,
    seed: int = 0,
) -> ForecastWindows:
    """Cut ``n_test`` (context, truth) windows from the given trajectories of ``y``.

    Initial conditions are spread over the trajectories round-robin, with start times drawn
    uniformly from ``numpy.random.default_rng(seed)``.

    Args:
        y: ``(n_traj, n_t, d)`` normalised states.
        trajectories: indices of the trajectories to use (the test split).
    """
    trajectories = np.asarray(trajectories, dtype=int)
    if len(trajectories) == 0:
        raise ValueError("no trajectories to cut test windows from (empty test split)")
    n_t = y.shape[1]
    span = context + horizon
    if span > n_t:
        raise ValueError(f"context + horizon = {span} steps exceeds the trajectory length {n_t}")
    rng = np.random.default_rng(seed)
    trajs = trajectories[np.arange(n_test) % len(trajectories)]
    starts = rng.integers(0, n_t - span + 1, size=n_test)
    windows = np.stack([y[tr, s:s + span] for tr, s in zip(trajs, starts, strict=True)])
    return ForecastWindows(context=windows[:, :context].astype(np.float64),
                       truth=windows[:, context:].astype(np.float64),
                       trajectories=trajs, starts=starts)


def fit_all_baselines(
    baselines: dict[str, Forecaster],
    train: np.ndarray,
    val: np.ndarray | None,
    *,
    progress: bool | None = None,
) -> tuple[dict[str, Forecaster], dict[str, float]]:
    """Fit every baseline, in order, on ``train`` ``(n_traj, n_t, d)`` (and ``val``).

    The ``baselines`` phase of an evaluation: with ``progress`` not ``False`` it is bracketed by
    phase lines, and with plain progress lines (:func:`physrnn.progress.lines_wanted`) each
    fit is reported.

    Cost: that of each ``fit`` (the ESN's random search fits ``esn_configs`` reservoirs on
    the whole train split, each a reservoir run and an SVD of ``rows x (1 + N + d)``).

    Returns:
        ``(fitted, fit_s)``: what each ``fit`` returned, and its wall time in seconds, by name.
    """
    fitted: dict[str, Forecaster] = {}
    fit_s: dict[str, float] = {}
    lines = Progress(len(baselines), phase="baselines", unit="baseline",
                     enabled=lines_wanted(progress))
    with phase("baselines", enabled=progress is not False):
        for i, (name, base) in enumerate(baselines.items()):
            t0 = time.perf_counter()  # each fit gets its own copy: none sees another's edits
            fitted[name] = base.fit(train.copy(), None if val is None else val.copy())
            fit_s[name] = time.perf_counter() - t0
            lines.update(i + 1, fitted=name, fit_s=fit_s[name])
    return fitted, fit_s


def _long_run(model: Forecaster, seed_context: np.ndarray, n_steps: int) -> np.ndarray | None:
    try:
        run = model.forecast(seed_context, n_steps)
    except (FloatingPointError, ValueError, np.linalg.LinAlgError) as exc:
        log.warning("free run of %s failed: %s", model.name, exc)
        return None
    return run if np.all(np.isfinite(run)) else None


def _free_run_scores(row: dict[str, Any], name: str, model: Forecaster,
                     windows: ForecastWindows, n_steps: int, truth_pool: np.ndarray,
                     sigma: np.ndarray, dt: float, free_runs: dict[str, np.ndarray]) -> None:
    """Add ``w1_longrun``/``psd_longrun`` (and ``longrun_note``) of one model's free run of
    ``n_steps`` from the first test context to ``row``; keep the run in ``free_runs``."""
    run = _long_run(model, windows.context[:1], n_steps)
    if run is None:
        row["w1_longrun"] = row["psd_longrun"] = math.inf
        return
    free_runs[name] = run[0]
    row["w1_longrun"] = invariant_measure_distance(run, truth_pool, sigma)
    try:
        row["psd_longrun"] = power_spectrum_distance(run, truth_pool, dt=dt)
    except ValueError as exc:  # the free run settled on a fixed point: no spectrum
        row["psd_longrun"] = math.inf
        row["longrun_note"] = f"free run degenerate: {exc}"
        log.warning("%s: %s", name, row["longrun_note"])


def evaluate_forecasters(
    forecasters: dict[str, Forecaster],
    windows: ForecastWindows,
    *,
    dt: float,
    lyapunov_exponent: float | None,
    threshold: float = 0.4,
    free_run_steps: int = 0,
    truth_pool: np.ndarray | None = None,
    floor_pool: np.ndarray | None = None,
    return_free_runs: bool = False,
    progress: bool | None = None,
) -> tuple:
    """Forecast every window with every model and score them.

    Args:
        forecasters: fitted models by name.
        windows: the test problems (normalised coordinates).
        dt: sampling interval (time units).
        lyapunov_exponent: 1 / time unit; ``None`` or NaN reports times in time units.
        free_run_steps: length of the long free run for the long-run statistics (0 = skip).
        truth_pool: ``(n, T, d)`` true test trajectories for the long-run comparison.
        floor_pool: independent true trajectories (validation split) for the floor.
        progress: ``False`` reports nothing; otherwise the ``forecasts`` and ``free runs``
            phases are bracketed by phase lines, with plain progress lines per model where
            :func:`physrnn.progress.lines_wanted` says so.

    Cost: every model forecasts ``n`` windows of ``H`` steps (one closed-loop step at a time
    for the recurrent models and the reservoir) and runs once for ``free_run_steps`` steps;
    the long-run scores sort the ``truth_pool`` once per model.

    Returns:
        ``(rows, forecasts)``: one row per model (``model``, ``median_vpt``, ``vpt_q25``,
        ``vpt_q75``, ``vpt_iqr``, ``n_censored``, ``vpt_unit``, ``nrmse_1lyap``, ``w1_longrun``,
        ``psd_longrun``, ``forecast_s``; a free run that settles on a fixed point has no
        spectrum: ``psd_longrun = inf`` and a ``longrun_note``) plus a ``truth floor`` row when
        pools are given, and the forecasts ``(n, H, d)`` by model name; with
        ``return_free_runs`` also a dict of the long free runs ``(free_run_steps, d)`` of the
        models that stayed finite.
    """
    lam = lyapunov_exponent if lyapunov_exponent and math.isfinite(lyapunov_exponent) else None
    sigma = np.ones(windows.truth.shape[-1])
    horizon = windows.truth.shape[1]
    t_one = 1.0 / lam if lam else 1.0
    rows: list[dict[str, Any]] = []
    forecasts: dict[str, np.ndarray] = {}
    free_runs: dict[str, np.ndarray] = {}
    shown, lines_on = progress is not False, lines_wanted(progress)
    lines = Progress(len(forecasters), phase="forecasts", unit="model", enabled=lines_on)
    with phase("forecasts", enabled=shown):
        for i, (name, model) in enumerate(forecasters.items()):
            t0 = time.perf_counter()
            pred = np.asarray(model.forecast(windows.context, horizon), dtype=np.float64)
            elapsed = time.perf_counter() - t0
            forecasts[name] = pred
            vpt, censored = valid_prediction_time(pred, windows.truth, sigma, dt=dt,
                                                  lyapunov_exponent=lam, threshold=threshold,
                                                  return_censored=True)
            s = summarise_vpt(vpt, censored)
            row: dict[str, Any] = {
                "model": name, "median_vpt": s["median"], "vpt_q25": s["q25"],
                "vpt_q75": s["q75"], "vpt_iqr": s["iqr"], "n_censored": s["n_censored"],
                "n_test": s["n"], "vpt_unit": "Lyapunov times" if lam else "time units",
                "forecast_s": elapsed,
            }
            if t_one <= horizon * dt:
                row["nrmse_1lyap"] = nrmse_at(pred, windows.truth, sigma, dt=dt, t=t_one)
            rows.append(row)
            lines.update(i + 1, model=name, median_vpt=s["median"])
    if free_run_steps > 0 and truth_pool is not None:
        lines = Progress(len(forecasters), phase="free runs", unit="model", enabled=lines_on)
        with phase("free runs", enabled=shown):
            for i, (row, (name, model)) in enumerate(zip(rows, forecasters.items(),
                                                         strict=True)):
                _free_run_scores(row, name, model, windows, free_run_steps, truth_pool,
                                 sigma, dt, free_runs)
                lines.update(i + 1, model=name, w1=row["w1_longrun"])
            if floor_pool is not None:
                rows.append({"model": "truth floor",
                             "w1_longrun": invariant_measure_distance(floor_pool, truth_pool,
                                                                      sigma),
                             "psd_longrun": power_spectrum_distance(floor_pool, truth_pool,
                                                                    dt=dt)})
    if return_free_runs:
        return rows, forecasts, free_runs
    return rows, forecasts
