"""Forecasting metrics against answers known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest

from physrnn.errors import NonFiniteError
from physrnn.metrics import forecast as forecast_metrics
from physrnn.metrics import (
    invariant_measure_distance,
    lead_times,
    nrmse,
    nrmse_at,
    nrmse_curve,
    ou_forecast_efficiency,
    ou_optimal_nrmse,
    power_spectrum_distance,
    summarise_vpt,
    truth_floor,
    valid_prediction_time,
    wasserstein_per_component,
)

LAMBDA = 0.9056  # Lorenz-63 largest Lyapunov exponent (REFERENCES.md)
DT = 0.01


def diverging_forecast(eps, n_time=2000, sigma=(7.9, 9.0, 8.6), seed=0):
    """Truth (random) and a forecast with NRMSE(t) = eps_b exp(LAMBDA t) exactly, t = (i+1) DT."""
    rng = np.random.default_rng(seed)
    eps = np.asarray(eps, dtype=float)
    sigma = np.asarray(sigma)
    truth = rng.normal(size=(eps.size, n_time, sigma.size)) * sigma
    t = lead_times(n_time, dt=DT)
    growth = eps[:, None] * np.exp(LAMBDA * t)[None, :]
    signs = rng.choice([-1.0, 1.0], size=truth.shape)  # |error_k| / sigma_k = growth
    return truth + signs * sigma * growth[:, :, None], truth, sigma


def test_reexported_from_metrics():
    import physrnn.metrics as m

    for name in forecast_metrics.__all__:
        assert getattr(m, name) is getattr(forecast_metrics, name)
        assert name in m.__all__


def test_nrmse_definition_shape_and_scaling():
    truth = np.zeros((2, 3, 2))
    pred = np.zeros_like(truth)
    pred[0, 1] = [3.0, 4.0]  # errors in units of sigma = (1, 2): (3, 2) -> sqrt((9 + 4) / 2)
    e = nrmse(pred, truth, [1.0, 2.0])
    assert e.shape == (2, 3)
    assert e[0, 1] == pytest.approx(math.sqrt(6.5))
    assert np.count_nonzero(e) == 1
    # units: scaling states and sigma together leaves NRMSE unchanged
    assert np.allclose(nrmse(10 * pred, 10 * truth, [10.0, 20.0]), e)
    assert nrmse_curve(pred, truth, [1.0, 2.0]).shape == (3,)
    assert nrmse_curve(pred, truth, 1.0, reduce="rms")[1] == pytest.approx(math.sqrt(12.5 / 2))
    with pytest.raises(ValueError, match="same shape"):
        nrmse(pred[:, :2], truth, 1.0)
    with pytest.raises(ValueError, match="sigma"):
        nrmse(pred, truth, [1.0, 0.0])
    with pytest.raises(ValueError, match="batch, time, n_state"):
        nrmse(pred[0], truth[0], 1.0)
    with pytest.raises(ValueError, match="reduce"):
        nrmse_curve(pred, truth, 1.0, reduce="max")


def test_vpt_matches_analytic_crossing_in_time_and_lyapunov_units():
    eps = np.array([1e-4, 1e-3, 3e-3, 1e-2])
    pred, truth, sigma = diverging_forecast(eps)
    t_cross = np.log(0.4 / eps) / LAMBDA  # NRMSE(t) = eps exp(lambda t) = 0.4
    vpt = valid_prediction_time(pred, truth, sigma, dt=DT)
    assert vpt.shape == (4,)
    # the first sample beyond the threshold: within one dt after the crossing
    assert np.all(vpt > t_cross) and np.all(vpt <= t_cross + DT + 1e-12)
    vpt_l = valid_prediction_time(pred, truth, sigma, dt=DT, lyapunov_exponent=LAMBDA)
    assert np.all(np.abs(vpt_l - np.log(0.4 / eps)) <= LAMBDA * DT + 1e-12)
    # the threshold is respected
    vpt_01 = valid_prediction_time(pred, truth, sigma, dt=DT, threshold=0.1)
    assert np.all(np.abs(vpt_01 - (np.log(0.1 / eps) / LAMBDA + DT / 2)) <= DT / 2 + 1e-12)
    assert np.all(vpt_01 < vpt)


def test_vpt_censoring_and_diverged_forecasts():
    pred, truth, sigma = diverging_forecast([1e-3, 1e-3], n_time=500)
    pred[0] = truth[0]  # perfect forecast: censored at the horizon
    pred[1, 100:] = np.nan  # a forecast that blew up: invalid from index 100 on
    vpt, censored = valid_prediction_time(pred, truth, sigma, dt=DT, return_censored=True)
    assert censored.tolist() == [True, False]
    assert vpt[0] == pytest.approx(500 * DT)  # full horizon: last lead time
    assert vpt[1] == pytest.approx(101 * DT)
    assert vpt[0] == pytest.approx(lead_times(500, dt=DT)[-1])
    # first_lead=0: index 0 is the initial condition
    assert valid_prediction_time(pred, truth, sigma, dt=DT, first_lead=0.0)[1] == pytest.approx(1.0)


def test_summarise_vpt():
    s = summarise_vpt(np.array([5.0, 1.0, 4.0, 2.0, 3.0]))
    assert s == {"median": 3.0, "q25": 2.0, "q75": 4.0, "iqr": 2.0, "mean": 3.0, "n": 5,
                 "n_censored": None}
    assert summarise_vpt([1.0, 2.0], censored=[False, True])["n_censored"] == 1
    with pytest.raises(NonFiniteError):
        summarise_vpt([1.0, np.nan])


def test_nrmse_at_one_lyapunov_time():
    eps = np.array([1e-3, 2e-3])
    pred, truth, sigma = diverging_forecast(eps)
    # NRMSE(1 / lambda) = eps e; the curve is averaged over the batch
    got = nrmse_at(pred, truth, sigma, dt=DT, t=1.0, lyapunov_exponent=LAMBDA)
    assert got == pytest.approx(eps.mean() * math.e, rel=1e-4)
    on_grid = nrmse_at(pred, truth, sigma, dt=DT, t=1.0)  # t = 1 time unit = index 99
    assert on_grid == pytest.approx(eps.mean() * math.exp(LAMBDA), rel=1e-12)
    with pytest.raises(ValueError, match="outside"):
        nrmse_at(pred, truth, sigma, dt=DT, t=100.0)


def test_wasserstein_known_values():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(4, 5000, 2))
    assert np.all(wasserstein_per_component(a, a, 1.0) == 0.0)
    mu = np.array([0.5, 2.0])
    b = rng.normal(size=(4, 5000, 2)) + mu
    w = wasserstein_per_component(a, b, [1.0, 1.0])
    assert w.shape == (2,)
    assert np.allclose(w, mu, atol=0.03)  # sampling error ~ 1 / sqrt(20000)
    # scaling by sigma: states in other units give the same dimensionless distance
    s = np.array([3.0, 0.5])
    assert np.allclose(wasserstein_per_component(a * s, b * s, s), w)
    assert invariant_measure_distance(a * s, b * s, s) == pytest.approx(w.mean())
    # different sample sizes and layouts are fine; non-finite free runs are loud
    assert wasserstein_per_component(a[:1], b.reshape(-1, 2), 1.0).shape == (2,)
    with pytest.raises(NonFiniteError):
        wasserstein_per_component(np.full((1, 3, 2), np.inf), a, 1.0)


def ar1(rng, shape, phi):
    """Stationary AR(1) series along axis 1 (an exactly sampled OU process)."""
    x = np.empty(shape)
    x[:, 0] = rng.normal(size=(shape[0], shape[2]))
    noise = rng.normal(size=shape) * math.sqrt(1 - phi**2)
    for i in range(1, shape[1]):
        x[:, i] = phi * x[:, i - 1] + noise[:, i]
    return x


@pytest.mark.parametrize("distance", ["l1", "hellinger"])
def test_power_spectrum_distance(distance):
    rng = np.random.default_rng(2)
    shape = (8, 4096, 2)
    a, b = ar1(rng, shape, 0.95), ar1(rng, shape, 0.95)
    kw = {"dt": DT, "nperseg": 256, "distance": distance}
    assert power_spectrum_distance(a, a, **kw) == 0.0
    same_process = power_spectrum_distance(a, b, **kw)
    assert same_process == pytest.approx(power_spectrum_distance(b, a, **kw), abs=1e-14)
    assert 0 < same_process < 0.1
    other_process = power_spectrum_distance(a, ar1(rng, shape, 0.5), **kw)
    assert other_process > 3 * same_process
    t = DT * np.arange(4096)
    sin1 = np.broadcast_to(np.sin(2 * np.pi * 1.0 * t)[None, :, None], (2, 4096, 1))
    sin5 = np.broadcast_to(np.sin(2 * np.pi * 5.0 * t)[None, :, None], (2, 4096, 1))
    far = power_spectrum_distance(sin1, sin5, **kw)
    assert far > 0.9
    assert far == pytest.approx(power_spectrum_distance(sin5, sin1, **kw), abs=1e-14)
    # the amplitude does not matter, only the shape of the spectrum
    assert power_spectrum_distance(sin1, 3 * sin1, **kw) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="zero power"):
        power_spectrum_distance(np.ones((1, 300, 1)), sin1, **kw)


def test_truth_floor():
    rng = np.random.default_rng(3)
    truth = rng.normal(size=(6, 2000, 3))
    sigma = np.ones(3)
    direct = invariant_measure_distance(truth[:3], truth[3:], sigma)
    assert truth_floor(invariant_measure_distance, truth[:3], truth[3:], sigma) == direct
    assert truth_floor(invariant_measure_distance, truth, None, sigma) == direct
    floor = truth_floor(power_spectrum_distance, truth, dt=DT, nperseg=128)
    assert floor == power_spectrum_distance(truth[:3], truth[3:], dt=DT, nperseg=128)
    assert 0 < floor < 0.1
    with pytest.raises(ValueError, match="batch >= 2"):
        truth_floor(invariant_measure_distance, truth[:1], None, sigma)


def test_ou_conditional_mean_is_optimal_and_persistence_is_worse():
    theta, noise, dt, n_steps, n_paths = 0.5, 0.8, 0.1, 40, 4000
    std = noise / math.sqrt(2 * theta)  # stationary standard deviation
    rng = np.random.default_rng(4)
    x0 = std * rng.normal(size=(n_paths, 2))  # two independent components
    decay = math.exp(-theta * dt)
    kick = std * math.sqrt(1 - decay**2)  # exact OU update
    truth = np.empty((n_paths, n_steps, 2))
    x = x0
    for i in range(n_steps):
        x = decay * x + kick * rng.normal(size=x.shape)
        truth[:, i] = x
    tau = lead_times(n_steps, dt=dt)
    best = x0[:, None, :] * np.exp(-theta * tau)[None, :, None]
    persistence = np.broadcast_to(x0[:, None, :], truth.shape)

    optimal = ou_optimal_nrmse(tau, theta)
    assert ou_optimal_nrmse(0.0, theta) == 0.0
    assert ou_optimal_nrmse(1e3, theta) == pytest.approx(1.0)
    got = nrmse_curve(best, truth, std, reduce="rms")
    assert np.allclose(got, optimal, rtol=0.05)
    pers = nrmse_curve(persistence, truth, std, reduce="rms")
    assert np.allclose(pers, np.sqrt(2 * (1 - np.exp(-theta * tau))), rtol=0.05)

    eff_best = ou_forecast_efficiency(best, truth, std, dt=dt, theta=theta)
    eff_pers = ou_forecast_efficiency(persistence, truth, std, dt=dt, theta=theta)
    assert eff_best.shape == (n_steps,)
    assert np.allclose(eff_best, 1.0, atol=0.05)
    late = tau >= 1.0  # sqrt((1 + e^{-theta t}) / 2) <= 0.89 there
    assert np.allclose(eff_pers[late], np.sqrt((1 + np.exp(-theta * tau[late])) / 2), atol=0.04)
    assert np.all(eff_pers[late] < eff_best[late])
