"""Physics checks of the SDE systems: exact Ornstein-Uhlenbeck statistics, the exactness of its
discretisation, and Boltzmann sampling of the underdamped Langevin particle (BAOAB).

Every statistical comparison uses a standard error computed from *independent* trajectories
(independent OU components / independent particles; time averages taken per particle first),
and allows 4 standard errors. All randomness is seeded.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad

from physrnn.errors import SystemDefinitionError
from physrnn.systems.base import REGISTRY, SystemInfo, get_system
from physrnn.systems.stochastic import (
    Langevin,
    LangevinParams,
    OrnsteinUhlenbeck,
    OUParams,
)

Z = 4.0  # allowed deviation in standard errors


def assert_within(sample: np.ndarray, exact: float, what: str, z: float = Z) -> float:
    """Mean of independent samples ``(n,)`` equals ``exact`` within ``z`` standard errors."""
    mean = float(np.mean(sample))
    se = float(np.std(sample, ddof=1) / math.sqrt(sample.size))
    assert se > 0, f"{what}: zero spread, no error estimate"
    assert abs(mean - exact) <= z * se, (
        f"{what}: sample {mean:.6g} +- {se:.2g}, exact {exact:.6g} "
        f"({(mean - exact) / se:+.1f} standard errors)")
    return (mean - exact) / se


# --------------------------------------------------------------------------- Ornstein-Uhlenbeck
OU_KW = dict(theta=2.0, mu=0.5, sigma=0.7)


def test_registry_and_info():
    ou = get_system("ornstein_uhlenbeck", dim=3)
    assert isinstance(ou, OrnsteinUhlenbeck) and ou.kind == "sde"
    assert REGISTRY["langevin"] is Langevin
    info = ou.info()
    assert isinstance(info, SystemInfo)
    assert info.state_names == ("x0", "x1", "x2") and ou.n_state == 3
    assert info.time_scale == pytest.approx(1.0) and info.default_method == "exact"
    assert "Uhlenbeck" in info.reference
    lg = get_system("langevin", potential="harmonic")
    assert lg.info().state_names == ("x", "v") and lg.info().default_method == "baoab"


def test_ou_stationary_variance_and_autocorrelation():
    """Stationary start, 20,000 independent components: variance sigma^2/(2 theta) at several
    times and autocovariance var * exp(-theta tau) at several lags."""
    n = 20_000
    ou = OrnsteinUhlenbeck(OUParams(dim=n, **OU_KW))
    rng = np.random.default_rng(11)
    t = np.arange(0.0, 2.0001, 0.05)
    y = ou.integrate(ou.initial_condition(rng), t, rng=rng, method="exact")
    assert y.shape == (t.size, n)
    dev = y - OU_KW["mu"]
    var = ou.stationary_variance()
    assert var == pytest.approx(0.7**2 / 4.0)
    for i in (0, 10, 40):
        assert_within(dev[i] ** 2, var, f"variance at t={t[i]}")
    for lag in (1, 4, 10, 20):  # tau = 0.05, 0.2, 0.5, 1.0
        tau = t[lag]
        exact = var * float(ou.autocorrelation(tau))
        assert_within(dev[0] * dev[lag], exact, f"autocovariance at tau={tau}")
        assert float(ou.autocorrelation(tau)) == pytest.approx(math.exp(-2.0 * tau))
    # a long single series gives the same autocorrelation (blocks as independent samples)
    ou1 = OrnsteinUhlenbeck(OUParams(dim=1, **OU_KW))
    ts = np.arange(0.0, 20_000.0, 0.1)
    x = ou1.integrate(ou1.initial_condition(rng), ts, rng=rng, method="exact")[:, 0] - 0.5
    prod = (x[:-5] * x[5:]).reshape(-1)[: 199_900]
    blocks = prod.reshape(100, -1).mean(axis=1)  # blocks of 200 time units >> 1/theta
    assert_within(blocks, var * math.exp(-2.0 * 0.5), "long-series autocovariance at 0.5")


def test_ou_transient_mean_and_variance_from_fixed_start():
    n = 20_000
    ou = OrnsteinUhlenbeck(OUParams(dim=n, **OU_KW))
    rng = np.random.default_rng(12)
    x0 = np.full(n, 3.0)
    t = np.array([0.0, 0.1, 0.3, 1.0])
    y = ou.integrate(x0, t, rng=rng, method="exact")
    mean = ou.mean(t, x0)
    assert mean.shape == (t.size, n)
    var = ou.variance(t)
    assert var[0] == 0.0 and np.all(y[0] == 3.0)
    for i in range(1, t.size):
        assert_within(y[i], float(mean[i, 0]), f"mean at t={t[i]}")
        assert_within((y[i] - mean[i, 0]) ** 2, float(var[i]), f"variance at t={t[i]}")


def test_ou_exact_update_independent_of_substeps():
    """The exact discretisation has the same law at dt and dt/10 (here theta dt = 1, where
    Euler-Maruyama doubles the variance)."""
    n = 20_000
    t = np.array([0.0, 0.5, 1.0])
    x0 = np.full(n, -1.0)
    samples = {}
    for sub in (1, 10):
        ou = OrnsteinUhlenbeck(OUParams(dim=n, n_substeps=sub, **OU_KW))
        samples[sub] = ou.integrate(x0, t, rng=np.random.default_rng(100 + sub), method="exact")
    ou = OrnsteinUhlenbeck(OUParams(dim=n, **OU_KW))
    for i in (1, 2):
        a, b = samples[1][i], samples[10][i]
        for name, fa, fb in (("mean", a, b), ("second moment", a**2, b**2)):
            se = math.hypot(fa.std(ddof=1), fb.std(ddof=1)) / math.sqrt(n)
            assert abs(fa.mean() - fb.mean()) <= Z * se, f"{name} at t={t[i]} depends on dt"
        assert_within(a, float(ou.mean(t, x0[:1])[i, 0]), "mean, 1 substep")
        assert_within((a - a.mean()) ** 2, float(ou.variance(t[i])), "variance, 1 substep")
    # Euler-Maruyama at the same coarse step is visibly wrong: stationary variance
    # sigma^2 / (theta (2 - theta h)) = 2x the exact one at theta h = 1
    em = ou.integrate(x0, np.arange(0.0, 10.01, 0.5), rng=np.random.default_rng(7),
                      method="euler_maruyama")[-1]
    z = (np.mean((em - 0.5) ** 2) - ou.stationary_variance()) / (
        np.std((em - 0.5) ** 2) / math.sqrt(n))
    assert z > 20.0
    # without noise the exact update is the exact solution for any substeps
    for sub in (1, 7):
        det = OrnsteinUhlenbeck(OUParams(theta=2.0, mu=0.5, sigma=0.0, dim=2, n_substeps=sub))
        tt = np.linspace(0.0, 3.0, 13)
        y = det.integrate(np.array([3.0, -1.0]), tt, rng=np.random.default_rng(0),
                          method="exact")
        np.testing.assert_allclose(y, det.mean(tt, [3.0, -1.0]), rtol=1e-13, atol=1e-15)


def test_ou_optimal_forecast_error():
    """The conditional mean reaches NRMSE*(tau) = sqrt(1 - exp(-2 theta tau)) exactly."""
    n = 20_000
    ou = OrnsteinUhlenbeck(OUParams(dim=n, **OU_KW))
    rng = np.random.default_rng(13)
    t = np.array([0.0, 0.1, 0.5, 2.0])
    y = ou.integrate(ou.initial_condition(rng), t, rng=rng, method="exact")
    sd = math.sqrt(ou.stationary_variance())
    for i in (1, 2, 3):
        pred = ou.mean(t[i:i + 1] - t[0], y[0])[0]
        sq = ((y[i] - pred) / sd) ** 2
        assert_within(sq, float(ou.optimal_forecast_nrmse(t[i])) ** 2, f"NRMSE^2 at {t[i]}")
    assert float(ou.optimal_forecast_nrmse(0.0)) == 0.0
    assert float(ou.optimal_forecast_nrmse(50.0)) == pytest.approx(1.0)


def test_ou_seeds_shapes_and_errors():
    ou = OrnsteinUhlenbeck(OUParams(dim=2))
    t = np.linspace(0.0, 1.0, 11)
    y0 = np.array([0.1, -0.2])
    a = ou.integrate(y0, t, rng=np.random.default_rng(5), method="exact", rtol=1e-6, atol=1e-6)
    b = ou.integrate(y0, t, rng=np.random.default_rng(5), method="exact", rtol=1e-6, atol=1e-6)
    c = ou.integrate(y0, t, rng=np.random.default_rng(6), method="exact", rtol=1e-6, atol=1e-6)
    assert a.shape == (11, 2)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a[1:], c[1:])
    ens = ou.integrate_ensemble(np.zeros((4, 2)), t, rng=np.random.default_rng(5))
    assert ens.shape == (4, 11, 2)
    with pytest.raises(SystemDefinitionError, match="unknown method"):
        ou.integrate(y0, t, rng=np.random.default_rng(0), method="RK45", rtol=0, atol=0)
    with pytest.raises(SystemDefinitionError, match="strictly increasing"):
        ou.integrate(y0, t[::-1], rng=np.random.default_rng(0), method="exact", rtol=0, atol=0)
    with pytest.raises(SystemDefinitionError, match="shape"):
        ou.integrate(np.zeros(3), t, rng=np.random.default_rng(0), method="exact", rtol=0,
                     atol=0)
    for bad in (dict(theta=0.0), dict(theta=-1.0), dict(sigma=-1.0), dict(dim=0),
                dict(n_substeps=0), dict(mu=float("nan"))):
        with pytest.raises(SystemDefinitionError):
            OrnsteinUhlenbeck(OUParams(**bad))
    with pytest.raises(SystemDefinitionError, match="unknown parameter"):
        get_system("ornstein_uhlenbeck", tau=1.0)


# --------------------------------------------------------------------------- Langevin
def _per_particle_time_average(values: np.ndarray) -> np.ndarray:
    """(n_particles, n_times) -> (n_particles,): independent samples with honest errors."""
    return values.mean(axis=1)


def test_langevin_harmonic_equipartition_baoab():
    """<x^2> = kT/k and <v^2> = kT/m; BAOAB even samples <x^2> exactly at a coarse step
    (Leimkuhler-Matthews), where Euler-Maruyama is far off."""
    n = 4000
    p = dict(potential="harmonic", k=2.0, m=0.5, kT=0.8, gamma=1.0)
    t = np.arange(0.0, 60.01, 0.5)
    late = t >= 10.0
    lg = Langevin(LangevinParams(dt_int=0.01, **p))
    exact = lg.stationary_moments()
    assert exact["x2"] == pytest.approx(0.4) and exact["v2"] == pytest.approx(1.6)
    y = lg.integrate_ensemble(np.zeros((n, 2)), t, rng=np.random.default_rng(21))
    assert y.shape == (n, t.size, 2)
    assert_within(_per_particle_time_average(y[:, late, 0] ** 2), exact["x2"], "<x^2>")
    assert_within(_per_particle_time_average(y[:, late, 1] ** 2), exact["v2"], "<v^2>")
    assert_within(_per_particle_time_average(y[:, late, 0] ** 4), exact["x4"], "<x^4>")

    coarse = Langevin(LangevinParams(dt_int=0.2, **p))  # omega0 h = 0.4
    y = coarse.integrate_ensemble(np.zeros((n, 2)), t, rng=np.random.default_rng(22))
    assert_within(_per_particle_time_average(y[:, late, 0] ** 2), exact["x2"], "<x^2>, h=0.2")
    y = coarse.integrate_ensemble(np.zeros((n, 2)), t, rng=np.random.default_rng(23),
                                  method="euler_maruyama")
    assert np.mean(y[:, late, 0] ** 2) > 2.0 * exact["x2"]


def test_langevin_double_well_boltzmann():
    """All particles start in the right well; after barrier crossings the distribution of x is
    the Boltzmann density exp(-U/kT)/Z (histogram, <x^2>, <|x|> by quadrature) with equal well
    populations."""
    n = 2000
    lg = Langevin(LangevinParams(dt_int=0.02))  # a = 1, kT = 0.5: barrier = 2 kT
    t = np.arange(0.0, 180.01, 0.5)
    y = lg.integrate_ensemble(np.tile([1.0, 0.0], (n, 1)), t, rng=np.random.default_rng(31))
    x = y[:, t >= 80.0, 0]
    exact = lg.stationary_moments()
    # moments by an independent quadrature of the Boltzmann weight
    w = lambda s: math.exp(-((s * s - 1.0) ** 2) / 0.5)  # noqa: E731
    zq = quad(w, -4, 4, points=[-1, 0, 1])[0]
    x2q = quad(lambda s: s * s * w(s), -4, 4, points=[-1, 0, 1])[0] / zq
    assert exact["x2"] == pytest.approx(x2q, rel=1e-9)
    assert_within(_per_particle_time_average(x**2), x2q, "<x^2>")
    assert_within(_per_particle_time_average(np.abs(x)), exact["abs_x"], "<|x|>")
    assert_within(_per_particle_time_average((x > 0).astype(float)), 0.5, "P(x > 0)")
    assert_within(_per_particle_time_average(y[:, t >= 80.0, 1] ** 2), exact["v2"], "<v^2>")
    # histogram against the Boltzmann probability of each bin
    edges = np.linspace(-1.6, 1.6, 17)  # plus the tail |x| >= 1.6 (probability ~1e-3)
    tail = quad(w, 1.6, 4.0)[0] * 2.0 / zq
    occ = _per_particle_time_average((np.abs(x) >= 1.6).astype(float))
    assert_within(occ, tail, "P(|x| >= 1.6)")
    dens_norm = quad(lambda s: float(lg.stationary_density(s)), -4, 4, points=[-1, 0, 1])[0]
    assert dens_norm == pytest.approx(1.0, rel=1e-9)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        prob = quad(w, lo, hi)[0] / zq
        occ = _per_particle_time_average(((x >= lo) & (x < hi)).astype(float))
        assert_within(occ, prob, f"P({lo:.1f} <= x < {hi:.1f})")


def test_langevin_seeds_initial_condition_and_errors():
    lg = Langevin()
    rng = np.random.default_rng(1)
    y0 = lg.initial_condition(rng)
    assert y0.shape == (2,)
    t = np.linspace(0.0, 2.0, 5)
    a = lg.integrate(y0, t, rng=np.random.default_rng(2), method="baoab", rtol=0, atol=0)
    b = lg.integrate(y0, t, rng=np.random.default_rng(2), method="baoab", rtol=0, atol=0)
    c = lg.integrate(y0, t, rng=np.random.default_rng(3), method="baoab", rtol=0, atol=0)
    assert a.shape == (5, 2)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[0], y0)
    assert not np.allclose(a[1:], c[1:])
    assert lg.force(np.array([0.5])) == pytest.approx(-4.0 * 0.5 * (0.25 - 1.0))
    with pytest.raises(SystemDefinitionError, match="unknown potential"):
        Langevin(LangevinParams(potential="quartic"))
    with pytest.raises(SystemDefinitionError, match="unstable"):
        Langevin(LangevinParams(dt_int=1.0))
    with pytest.raises(SystemDefinitionError):
        Langevin(LangevinParams(m=0.0))
    with pytest.raises(SystemDefinitionError, match="unknown method"):
        lg.integrate(y0, t, rng=rng, method="leapfrog", rtol=0, atol=0)
