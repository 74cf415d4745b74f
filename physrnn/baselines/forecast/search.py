"""Random search of echo-state-network hyperparameters, scored by valid prediction time.

The search is part of the ESN baseline (:class:`~physrnn.baselines.forecast.ESNBaseline`): it
fits :class:`~physrnn.nn.EchoStateNetwork` models and scores their forecasts with
:func:`physrnn.metrics.forecast.valid_steps`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from physrnn.metrics.forecast import valid_steps
from physrnn.nn.base import check_series
from physrnn.nn.reservoir import EchoStateNetwork

__all__ = ["esn_search", "DEFAULT_SEARCH_SPACE"]

log = logging.getLogger("physrnn.nn.reservoir")  # the search's lines keep their logger name

# (low, high, scale): scale "log" samples log-uniformly, "lin" uniformly.
DEFAULT_SEARCH_SPACE: dict[str, tuple[float, float, str]] = {
    "spectral_radius": (0.1, 1.5, "lin"),
    "leak": (0.1, 1.0, "lin"),
    "input_scaling": (0.01, 2.0, "log"),
    "ridge": (1e-10, 1e-2, "log"),
}


@dataclass(frozen=True)
class _Windows:
    context: np.ndarray  # (n_windows, n_context, n_state)
    future: np.ndarray   # (n_windows, n_horizon, n_state)


def _validation_windows(val: np.ndarray, n_context: int, n_horizon: int | None,
                        max_windows: int) -> _Windows:
    """Non-overlapping (context, future) windows, spread evenly over the trajectories."""
    n_traj, n_t, _ = val.shape
    if n_t < n_context + 1:
        raise ValueError(f"esn_search: validation trajectories have {n_t} steps, need at least "
                         f"n_context + 1 = {n_context + 1}")
    n_horizon = min(n_t - n_context, 1000) if n_horizon is None else int(n_horizon)
    if n_horizon < 1 or n_context + n_horizon > n_t:
        raise ValueError(f"esn_search: n_context={n_context} + n_horizon={n_horizon} does not "
                         f"fit in validation trajectories of {n_t} steps")
    span = n_context + n_horizon
    per_traj = n_t // span
    starts = [(i, k * span) for k in range(per_traj) for i in range(n_traj)]
    starts = starts[:max_windows]
    ctx = np.stack([val[i, s:s + n_context] for i, s in starts])
    fut = np.stack([val[i, s + n_context:s + span] for i, s in starts])
    return _Windows(ctx, fut)


def esn_search(
    train: np.ndarray,
    val: np.ndarray,
    *,
    n_configs: int = 32,
    seed: int = 0,
    n_reservoir: int = 500,
    n_context: int | None = None,
    n_horizon: int | None = None,
    max_windows: int = 20,
    space: Mapping[str, tuple[float, float, str]] | None = None,
    threshold: float = 0.4,
    **esn_kwargs,
) -> tuple[EchoStateNetwork, list[dict]]:
    """Random search of ESN hyperparameters scored by valid prediction time on validation.

    Every configuration uses the same random reservoir draw (derived from ``seed``), so scores
    differ by hyperparameters only; the search is deterministic for a fixed ``seed``.

    Args:
        train: ``(n_traj, n_t, n_state)`` training trajectories (normalised units).
        val: ``(n_val, n_t_val, n_state)`` validation trajectories, cut into non-overlapping
            windows of ``n_context`` teacher-forced steps followed by ``n_horizon`` forecast
            steps (at most ``max_windows`` windows).
        n_configs: number of random configurations.
        seed: seeds both the sampler and the reservoir.
        n_reservoir: reservoir size of every configuration.
        n_context: context length (default: the ESN's ``washout``, at least 1).
        n_horizon: forecast length (default: what fits, at most 1000 steps).
        space: ``{name: (low, high, "lin" | "log")}`` for any of ``spectral_radius``, ``leak``,
            ``input_scaling``, ``ridge`` (merged over :data:`DEFAULT_SEARCH_SPACE`; low == high
            fixes a value).
        threshold: NRMSE threshold of the valid prediction time (sigma = 1, normalised units).
        **esn_kwargs: fixed :class:`EchoStateNetwork` arguments (``bias_scaling``, ``washout``,
            ``squared_states``, ``target``, ...).

    Returns:
        ``(best, table)``: the best network (fitted on ``train``) and one dict per tried
        configuration in the order tried, with its hyperparameters and ``vpt_median``,
        ``vpt_q25``, ``vpt_q75``, ``vpt_mean`` in **steps** (multiply by dt * lambda_1 for
        Lyapunov times) and ``best`` (True for the chosen one). Best = largest median, ties by
        largest mean, then first tried.
    """
    if n_configs < 1:
        raise ValueError(f"esn_search: n_configs must be >= 1, got {n_configs}")
    for key in ("spectral_radius", "leak", "input_scaling", "ridge", "seed", "n_reservoir"):
        if key in esn_kwargs:
            raise ValueError(f"esn_search: {key!r} is set by the search; pass it through "
                             f"'space' (or the search's own argument) instead")
    space_full = dict(DEFAULT_SEARCH_SPACE)
    for key, rng_spec in (space or {}).items():
        if key not in DEFAULT_SEARCH_SPACE:
            raise ValueError(f"esn_search: unknown search dimension {key!r}; choose from "
                             f"{tuple(DEFAULT_SEARCH_SPACE)}")
        lo, hi, scale = rng_spec
        if scale not in ("lin", "log") or lo > hi or (scale == "log" and lo <= 0):
            raise ValueError(f"esn_search: bad range for {key!r}: {rng_spec!r}")
        space_full[key] = (float(lo), float(hi), scale)
    train = check_series(train, what="train", owner="esn_search")
    val = check_series(val, what="val", owner="esn_search", n_state=train.shape[2])
    washout = int(esn_kwargs.get("washout", 100))
    n_context = max(1, washout) if n_context is None else int(n_context)
    win = _validation_windows(val, n_context, n_horizon, max_windows)

    ss_sampler, ss_res = np.random.SeedSequence(seed).spawn(2)
    sampler = np.random.default_rng(ss_sampler)
    res_seed = int(ss_res.generate_state(1)[0])

    table: list[dict] = []
    best_model: EchoStateNetwork | None = None
    best_key: tuple[float, float] | None = None
    best_idx = -1
    for i in range(n_configs):
        hp = {}
        for key, (lo, hi, scale) in space_full.items():
            if scale == "log":
                hp[key] = float(np.exp(sampler.uniform(np.log(lo), np.log(hi))))
            else:
                hp[key] = float(sampler.uniform(lo, hi))
        model = EchoStateNetwork(n_reservoir, seed=res_seed, **hp, **esn_kwargs)
        model.fit(train)
        pred = model.forecast(win.context, win.future.shape[1])
        vpt = valid_steps(pred, win.future, threshold=threshold)
        row = {"index": i, **hp, "vpt_median": float(np.median(vpt)),
               "vpt_q25": float(np.quantile(vpt, 0.25)),
               "vpt_q75": float(np.quantile(vpt, 0.75)), "vpt_mean": float(np.mean(vpt)),
               "train_nrmse": model.train_nrmse_, "best": False}
        table.append(row)
        log.info("esn_search %d/%d: %s -> median VPT %.1f steps", i + 1, n_configs, hp,
                 row["vpt_median"])
        key = (row["vpt_median"], row["vpt_mean"])
        if best_key is None or key > best_key:
            best_key, best_model, best_idx = key, model, i
    table[best_idx]["best"] = True
    assert best_model is not None
    return best_model, table
