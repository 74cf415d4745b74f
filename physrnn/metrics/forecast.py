"""Forecasting metrics in physical units: NRMSE(t), valid prediction time, long-run statistics.

Implements the forecasting protocol of ``REFERENCES.md`` (Lorenz-63 house benchmark):

* ``NRMSE(t) = sqrt(mean_k ((y_pred_k(t) - y_k(t)) / sigma_k)^2)`` with ``sigma_k`` the
  attractor's standard deviation of component ``k`` (given by the caller, e.g. from a long truth
  run), so NRMSE is dimensionless and a forecast by the attractor mean scores about 1.
* Valid prediction time (VPT): the first lead time with ``NRMSE > threshold`` (0.4), in time
  units or in Lyapunov times ``t * lambda_1``; reported as median and interquartile range.
* Long-run statistics of a free run against the truth: per-component Wasserstein-1 distance of
  the marginals (in units of ``sigma_k``) and a distance between normalised Welch power spectra,
  each beside its truth-versus-truth floor (:func:`truth_floor`).
* Drift of conserved quantities, and the Ornstein-Uhlenbeck optimal-forecast bound.

Conventions. Series are ``(batch, time, n_state)`` arrays, ``pred`` and ``truth`` aligned
sample by sample. ``dt`` is the sampling interval (system time units). Index ``i`` of a forecast
has lead time ``first_lead + i * dt``; ``first_lead`` defaults to ``dt`` because a
:class:`~physrnn.nn.base.Forecaster` returns the points *after* its context (pass
``first_lead=0`` when index 0 is the initial condition itself). Truth must be finite; a forecast
may contain NaN or infinity (a diverged model): its NRMSE is then NaN/inf there, and VPT counts
such a point as beyond the threshold.

Everything is pure numpy/scipy; nothing here draws random numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.signal import welch
from scipy.stats import wasserstein_distance

from physrnn.errors import NonFiniteError

__all__ = [
    "lead_times",
    "nrmse",
    "nrmse_curve",
    "nrmse_at",
    "valid_prediction_time",
    "summarise_vpt",
    "valid_steps",
    "wasserstein_per_component",
    "invariant_measure_distance",
    "power_spectrum_distance",
    "truth_floor",
    "ou_optimal_nrmse",
    "ou_forecast_efficiency",
]

_REDUCTIONS = ("mean", "rms", "median")


# ----------------------------------------------------------------------------- validation


def _series(x: Any, name: str) -> np.ndarray:
    """``x`` as a float64 ``(batch, time, n_state)`` array, or a ValueError naming it."""
    a = np.asarray(x, dtype=float)
    if a.ndim != 3:
        raise ValueError(f"{name} must be (batch, time, n_state), got shape {a.shape}")
    if 0 in a.shape:
        raise ValueError(f"{name} is empty: shape {a.shape}")
    return a


def _pair(pred: Any, truth: Any) -> tuple[np.ndarray, np.ndarray]:
    p, y = _series(pred, "pred"), _series(truth, "truth")
    if p.shape != y.shape:
        raise ValueError(f"pred {p.shape} and truth {y.shape} must have the same shape")
    if not np.all(np.isfinite(y)):
        raise NonFiniteError(f"truth has {np.count_nonzero(~np.isfinite(y))} non-finite values")
    return p, y


def _sigma(sigma: Any, n_state: int) -> np.ndarray:
    """Per-component scale ``(n_state,)`` (a scalar is broadcast); positive and finite."""
    s = np.asarray(sigma, dtype=float)
    if s.ndim > 1 or (s.ndim == 1 and s.shape[0] not in (1, n_state)):
        raise ValueError(f"sigma must be a scalar or ({n_state},), got shape {s.shape}")
    s = np.broadcast_to(s, (n_state,)).astype(float)
    if not np.all(np.isfinite(s) & (s > 0)):
        raise ValueError(f"sigma must be positive and finite, got {s}")
    return s


def _positive(value: float, name: str) -> float:
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be positive and finite, got {value}")
    return v


def _samples(x: Any, name: str) -> np.ndarray:
    """Samples ``(..., n_state)`` flattened to ``(n_samples, n_state)``; finite, non-empty."""
    a = np.asarray(x, dtype=float)
    if a.ndim < 2:
        raise ValueError(f"{name} must be (..., n_state) with n_state last, got {a.shape}")
    a = a.reshape(-1, a.shape[-1])
    if a.size == 0:
        raise ValueError(f"{name} is empty: shape {np.shape(x)}")
    if not np.all(np.isfinite(a)):
        raise NonFiniteError(
            f"{name} has {np.count_nonzero(~np.isfinite(a))} non-finite values "
            "(a diverged free run has no invariant measure to compare)"
        )
    return a


def _reduce(values: np.ndarray, reduce: str) -> np.ndarray:
    """Reduce ``(batch, ...)`` NRMSE values over the batch axis."""
    if reduce == "mean":
        return values.mean(axis=0)
    if reduce == "rms":
        return np.sqrt(np.mean(values**2, axis=0))
    if reduce == "median":
        return np.median(values, axis=0)
    raise ValueError(f"unknown reduce {reduce!r}; choose from {_REDUCTIONS}")


# ----------------------------------------------------------------------------- NRMSE and VPT


def lead_times(
    n_time: int,
    *,
    dt: float,
    first_lead: float | None = None,
    lyapunov_exponent: float | None = None,
) -> np.ndarray:
    """Lead times ``(n_time,)`` of forecast indices: ``first_lead + i * dt``.

    Args:
        n_time: number of forecast steps.
        dt: sampling interval (system time units).
        first_lead: lead time of index 0 (default ``dt``: the first point after the context).
        lyapunov_exponent: ``lambda_1`` in 1 / time unit; if given, the result is in Lyapunov
            times ``t * lambda_1`` instead of time units.
    """
    dt = _positive(dt, "dt")
    t0 = dt if first_lead is None else float(first_lead)
    if not (math.isfinite(t0) and t0 >= 0):
        raise ValueError(f"first_lead must be >= 0 and finite, got {first_lead}")
    t = t0 + dt * np.arange(int(n_time), dtype=float)
    if lyapunov_exponent is not None:
        t = t * _positive(lyapunov_exponent, "lyapunov_exponent")
    return t


def nrmse(pred: Any, truth: Any, sigma: Any) -> np.ndarray:
    """Normalised root-mean-square error per trajectory and time step.

    ``NRMSE[b, t] = sqrt(mean_k ((pred[b, t, k] - truth[b, t, k]) / sigma[k])^2)``.

    Args:
        pred, truth: ``(batch, time, n_state)`` in state units.
        sigma: ``(n_state,)`` (or scalar) attractor standard deviation per component, in state
            units (not estimated from ``truth``: a short window underestimates it).

    Returns:
        ``(batch, time)``, dimensionless. NaN/inf where ``pred`` is non-finite.
    """
    p, y = _pair(pred, truth)
    s = _sigma(sigma, p.shape[2])
    with np.errstate(invalid="ignore", over="ignore"):
        return np.sqrt(np.mean(((p - y) / s) ** 2, axis=2))


def nrmse_curve(pred: Any, truth: Any, sigma: Any, *, reduce: str = "mean") -> np.ndarray:
    """NRMSE versus lead time, reduced over the batch: ``(time,)``, dimensionless.

    ``reduce``: ``"mean"`` (average of per-trajectory NRMSE, the usual forecasting curve),
    ``"rms"`` (``sqrt(mean_b NRMSE[b, t]^2)``, the ensemble root-mean-square error, which is the
    quantity the Ornstein-Uhlenbeck bound :func:`ou_optimal_nrmse` refers to) or ``"median"``.
    The x-axis is :func:`lead_times`.
    """
    return _reduce(nrmse(pred, truth, sigma), reduce)


def nrmse_at(
    pred: Any,
    truth: Any,
    sigma: Any,
    *,
    dt: float,
    t: float,
    lyapunov_exponent: float | None = None,
    first_lead: float | None = None,
    reduce: str = "mean",
) -> float:
    """NRMSE at one lead time ``t``, reduced over the batch (default: averaged).

    ``t`` is in time units, or in Lyapunov times when ``lyapunov_exponent`` is given (e.g.
    ``t=1`` for one Lyapunov time). Between samples the reduced curve is interpolated linearly;
    ``t`` outside ``[first lead, last lead]`` raises ValueError. Shapes as in :func:`nrmse`.
    """
    curve = nrmse_curve(pred, truth, sigma, reduce=reduce)
    lt = lead_times(curve.shape[0], dt=dt, first_lead=first_lead,
                    lyapunov_exponent=lyapunov_exponent)
    tol = 1e-9 * max(1.0, abs(lt[-1]))
    if not (lt[0] - tol <= t <= lt[-1] + tol):
        raise ValueError(f"lead time {t} is outside the forecast's range [{lt[0]}, {lt[-1]}]")
    if curve.shape[0] == 1:
        return float(curve[0])
    return float(np.interp(t, lt, curve))


def valid_prediction_time(
    pred: Any,
    truth: Any,
    sigma: Any,
    *,
    dt: float,
    lyapunov_exponent: float | None = None,
    threshold: float = 0.4,
    first_lead: float | None = None,
    return_censored: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Valid prediction time per trajectory: the first lead time with ``NRMSE > threshold``.

    The VPT of trajectory ``b`` is the lead time (:func:`lead_times`) of the first sample whose
    NRMSE exceeds ``threshold`` (a non-finite NRMSE, from a diverged forecast, counts as
    exceeding), so it is resolved to one ``dt``: the true crossing lies in ``(VPT - dt, VPT]``.

    **Censoring.** A forecast that never exceeds the threshold gets the full horizon (the last
    lead time, ``first_lead + (time - 1) dt``): its true VPT is at least that. Ask for
    ``return_censored=True`` to get the flags and report them (:func:`summarise_vpt`); a
    horizon that censors many forecasts makes the median a lower bound.

    Args:
        pred, truth: ``(batch, time, n_state)``, state units.
        sigma: ``(n_state,)`` attractor standard deviation per component.
        dt: sampling interval (time units).
        lyapunov_exponent: ``lambda_1`` (1 / time unit); if given, VPT is in Lyapunov times.
        threshold: NRMSE threshold (dimensionless, > 0); 0.4 in the house protocol.
        first_lead: lead time of index 0 (default ``dt``).
        return_censored: also return the ``(batch,)`` boolean censoring flags.

    Returns:
        ``vpt`` ``(batch,)`` float, or ``(vpt, censored)`` if ``return_censored``.
    """
    threshold = _positive(threshold, "threshold")
    e = nrmse(pred, truth, sigma)
    lt = lead_times(e.shape[1], dt=dt, first_lead=first_lead,
                    lyapunov_exponent=lyapunov_exponent)
    invalid = ~(e <= threshold)  # NaN counts as invalid
    censored = ~invalid.any(axis=1)
    first = np.where(censored, e.shape[1] - 1, invalid.argmax(axis=1))
    vpt = lt[first]
    return (vpt, censored) if return_censored else vpt


def summarise_vpt(vpt: Any, censored: Any = None) -> dict[str, float | int | None]:
    """Summary of valid prediction times ``(n,)`` (units as given): flat keys for summary.json.

    Returns ``median``, ``q25``, ``q75``, ``iqr`` (= q75 - q25), ``mean`` (floats), ``n`` and
    ``n_censored`` (ints; ``None`` when ``censored`` flags are not passed). Censored values
    enter as their horizon, so with censoring the statistics are lower bounds.
    """
    v = np.asarray(vpt, dtype=float)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"vpt must be a non-empty 1-D array, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise NonFiniteError(f"vpt has {np.count_nonzero(~np.isfinite(v))} non-finite values")
    n_censored = None
    if censored is not None:
        c = np.asarray(censored, dtype=bool)
        if c.shape != v.shape:
            raise ValueError(f"censored {c.shape} must match vpt {v.shape}")
        n_censored = int(c.sum())
    q25, med, q75 = np.percentile(v, [25.0, 50.0, 75.0])
    return {
        "median": float(med),
        "q25": float(q25),
        "q75": float(q75),
        "iqr": float(q75 - q25),
        "mean": float(v.mean()),
        "n": int(v.size),
        "n_censored": n_censored,
    }


# ----------------------------------------------------------------------------- long-run statistics


def wasserstein_per_component(a: Any, b: Any, sigma: Any) -> np.ndarray:
    """Wasserstein-1 distance between the marginal distributions of each component.

    All leading axes (batch and time) are pooled into one sample per component:
    ``W_k = W1(a[..., k], b[..., k]) / sigma_k`` with :func:`scipy.stats.wasserstein_distance`.

    Args:
        a, b: ``(..., n_state)`` samples, e.g. ``(batch, time, n_state)`` free runs (state
            units); leading shapes may differ. Must be finite (NonFiniteError otherwise).
        sigma: ``(n_state,)`` attractor standard deviation per component (state units).

    Returns:
        ``(n_state,)``, in units of ``sigma_k``; 0 for identical samples.
    """
    x, y = _samples(a, "a"), _samples(b, "b")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"a has {x.shape[1]} components and b has {y.shape[1]}")
    s = _sigma(sigma, x.shape[1])
    w = [wasserstein_distance(x[:, k], y[:, k]) for k in range(x.shape[1])]
    return np.asarray(w, dtype=float) / s


def invariant_measure_distance(a: Any, b: Any, sigma: Any) -> float:
    """Mean over components of :func:`wasserstein_per_component` (units of sigma)."""
    return float(wasserstein_per_component(a, b, sigma).mean())


def _normalised_spectra(x: np.ndarray, name: str, dt: float, nperseg: int) -> np.ndarray:
    """Welch spectra ``(n_freq, n_state)`` averaged over the batch, each summing to 1."""
    _, pxx = welch(x, fs=1.0 / dt, nperseg=nperseg, axis=1)  # (batch, n_freq, n_state)
    p = pxx.mean(axis=0)
    total = p.sum(axis=0)
    if not np.all(total > 0):
        raise ValueError(f"{name} has a component with zero power (constant series)")
    return p / total


def power_spectrum_distance(
    a: Any,
    b: Any,
    *,
    dt: float,
    nperseg: int = 256,
    distance: str = "l1",
) -> float:
    """Distance between the normalised power spectra of two sets of series.

    For each component ``k``, the Welch power spectral density (:func:`scipy.signal.welch`,
    Hann window, ``nperseg`` samples per segment, mean removed per segment) is averaged over
    the batch and normalised to a probability distribution ``P_k(f)`` over the frequency bins
    (sum 1). The distance is the mean over components of

    * ``"l1"``: total variation, ``0.5 * sum_f |P_k(f) - Q_k(f)|``, in ``[0, 1]``;
    * ``"hellinger"``: ``sqrt(0.5 * sum_f (sqrt P_k(f) - sqrt Q_k(f))^2)``, in ``[0, 1]``.

    Both are symmetric in ``a`` and ``b``, 0 for identical spectra and 1 for spectra with
    disjoint support. Only the *shape* of the spectrum is compared (the variance is in
    :func:`wasserstein_per_component`).

    Args:
        a, b: ``(batch, time, n_state)`` series sampled every ``dt``; batch and time may differ.
            Must be finite.
        dt: sampling interval (time units); sets the frequency grid (1 / time unit).
        nperseg: samples per Welch segment, capped at the shorter series so both spectra share
            one frequency grid (resolution ``1 / (nperseg dt)``).
        distance: ``"l1"`` or ``"hellinger"``.

    Returns:
        The distance, a float in ``[0, 1]``.
    """
    x, y = _series(a, "a"), _series(b, "b")
    if x.shape[2] != y.shape[2]:
        raise ValueError(f"a has {x.shape[2]} components and b has {y.shape[2]}")
    for arr, name in ((x, "a"), (y, "b")):
        if not np.all(np.isfinite(arr)):
            raise NonFiniteError(f"{name} has {np.count_nonzero(~np.isfinite(arr))} "
                                 "non-finite values")
    dt = _positive(dt, "dt")
    n = min(int(nperseg), x.shape[1], y.shape[1])
    if n < 2:
        raise ValueError(f"nperseg must be >= 2 and the series at least 2 long, got {n}")
    p = _normalised_spectra(x, "a", dt, n)
    q = _normalised_spectra(y, "b", dt, n)
    if distance == "l1":
        d = 0.5 * np.abs(p - q).sum(axis=0)
    elif distance == "hellinger":
        d = np.sqrt(0.5 * ((np.sqrt(p) - np.sqrt(q)) ** 2).sum(axis=0))
    else:
        raise ValueError(f"unknown distance {distance!r}; choose 'l1' or 'hellinger'")
    return float(d.mean())


def truth_floor(
    metric: Callable[..., Any],
    truth_a: Any,
    truth_b: Any = None,
    *args: Any,
    **kwargs: Any,
) -> Any:
    """The truth-versus-truth value of a long-run distance, to report beside a model's value.

    ``metric(truth_a, truth_b, *args, **kwargs)`` for two independent truth runs (different
    initial conditions, same length as the model's free run). A finite sample never gives 0, so
    a model is only as good as this floor says it can be. If ``truth_b`` is ``None``, the batch
    axis of ``truth_a`` is split into two halves (needs ``batch >= 2``).

    Example: ``truth_floor(invariant_measure_distance, truth_a, truth_b, sigma)`` or
    ``truth_floor(power_spectrum_distance, truth_a, truth_b, dt=0.01)``.
    """
    if truth_b is None:
        t = np.asarray(truth_a)
        if t.ndim < 2 or t.shape[0] < 2:
            raise ValueError(f"splitting truth_a needs batch >= 2, got shape {t.shape}")
        half = t.shape[0] // 2
        truth_a, truth_b = t[:half], t[half:2 * half]
    return metric(truth_a, truth_b, *args, **kwargs)


# ----------------------------------------------------------------------------- the OU bound


def ou_optimal_nrmse(tau: Any, theta: float) -> np.ndarray:
    """Best possible NRMSE of an Ornstein-Uhlenbeck forecast at lead time ``tau``.

    For ``dx = -theta (x - mu) dt + sigma dW`` started from the stationary law, the conditional
    mean ``mu + (x0 - mu) e^{-theta tau}`` is the optimal forecast; its ensemble RMS error in
    units of the stationary standard deviation is ``sqrt(1 - exp(-2 theta tau))``. Compare with
    ``nrmse_curve(..., reduce="rms")`` (not the mean of per-path NRMSE, which is smaller: for
    one component by a factor ``sqrt(2 / pi)``).

    Args:
        tau: lead times ``>= 0`` (time units), any shape.
        theta: relaxation rate (1 / time unit).

    Returns:
        Same shape as ``tau``, dimensionless, in ``[0, 1)``.
    """
    t = np.asarray(tau, dtype=float)
    theta = _positive(theta, "theta")
    if np.any(t < 0):
        raise ValueError("lead times tau must be >= 0")
    return np.sqrt(-np.expm1(-2.0 * theta * t))


def ou_forecast_efficiency(
    pred: Any,
    truth: Any,
    sigma: Any,
    *,
    dt: float,
    theta: float,
    first_lead: float | None = None,
) -> np.ndarray:
    """Efficiency of an Ornstein-Uhlenbeck forecast per lead time: optimal NRMSE / its NRMSE.

    ``eff(t) = ou_optimal_nrmse(t, theta) / nrmse_curve(pred, truth, sigma, reduce="rms")(t)``:
    1 for the optimal (conditional-mean) forecast up to sampling error, below 1 for a worse one
    (persistence: ``sqrt((1 + e^{-theta t}) / 2)``).

    Args:
        pred, truth: ``(batch, time, n_state)`` OU paths started from the stationary law.
        sigma: stationary standard deviation ``sigma_noise / sqrt(2 theta)`` (state units).
        dt, theta, first_lead: as in :func:`lead_times` and :func:`ou_optimal_nrmse`.

    Returns:
        ``(time,)``, dimensionless. NaN at a lead time of 0 (0 / 0).
    """
    curve = nrmse_curve(pred, truth, sigma, reduce="rms")
    best = ou_optimal_nrmse(lead_times(curve.shape[0], dt=dt, first_lead=first_lead), theta)
    with np.errstate(invalid="ignore", divide="ignore"):
        return best / curve


def valid_steps(pred: Any, truth: Any, *, threshold: float = 0.4) -> np.ndarray:
    """Valid prediction time in **steps** per trajectory, in normalised units (``sigma = 1``).

    ``NRMSE(t) = sqrt(mean_k (pred_k(t) - truth_k(t))^2)``; the result is the number of leading
    steps with ``NRMSE <= threshold`` (a non-finite NRMSE counts as exceeding, quietly), the
    whole horizon if none exceeds it. Unlike :func:`valid_prediction_time` it counts steps
    (index of the first invalid step) and takes no scale: for scoring candidates in searches.

    Args:
        pred, truth: ``(batch, time, n_state)`` arrays in normalised units.
        threshold: NRMSE threshold (dimensionless).

    Returns:
        ``(batch,)`` float64.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # a diverged forecast just fails
        err = np.sqrt(np.mean((pred - truth) ** 2, axis=-1))
    bad = ~(err <= threshold)  # NaN counts as failed
    return np.where(bad.any(axis=1), bad.argmax(axis=1), err.shape[1]).astype(np.float64)
