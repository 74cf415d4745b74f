"""Physics checks of Kuramoto-Sivashinsky (ETDRK4) and Mackey-Glass (RK4 with Hermite history):
convergence orders, the conserved spatial mean, symmetries, boundedness and chaos, the
Mackey-Glass fixed point and its Hopf bifurcation at the delay predicted by linear theory."""

from __future__ import annotations

import math

import numpy as np
import pytest

from physrnn.errors import SystemDefinitionError
from physrnn.systems.base import REGISTRY, get_system
from physrnn.systems.spatiotemporal import (
    KSParams,
    KuramotoSivashinsky,
    MackeyGlass,
    MackeyGlassParams,
    etdrk4_coefficients,
    mackey_glass_rk4,
)


def ks(**kw) -> KuramotoSivashinsky:
    return KuramotoSivashinsky(KSParams(**kw))


def mg(**kw) -> MackeyGlass:
    return MackeyGlass(MackeyGlassParams(**kw))


def run(system, y0, t):
    return system.integrate(y0, t, rng=np.random.default_rng(0), method=system.methods[0],
                            rtol=0.0, atol=0.0)


# --------------------------------------------------------------------------- KS
def test_ks_registry_info_and_errors():
    sys_ = get_system("kuramoto_sivashinsky")
    assert isinstance(sys_, KuramotoSivashinsky) and sys_.kind == "pde"
    assert REGISTRY["mackey_glass"] is MackeyGlass
    info = sys_.info()
    assert sys_.params.L == pytest.approx(32 * math.pi) and sys_.n_state == 64
    assert info.invariants == ("mean",) and info.default_method == "etdrk4"
    assert info.default_dt == 0.25 and info.lyapunov_exponent is not None
    assert "Kassam" in info.reference
    assert ks(n_modes=512).n_state == 512
    for bad in (dict(n_modes=63), dict(n_modes=4), dict(L=0.0), dict(dt_int=-0.1),
                dict(L=float("inf"))):
        with pytest.raises(SystemDefinitionError):
            ks(**bad)
    u0 = sys_.initial_condition(np.random.default_rng(0))
    assert u0.shape == (64,) and abs(u0.mean()) < 1e-14
    assert np.sqrt(np.mean(u0**2)) == pytest.approx(0.1)
    with pytest.raises(SystemDefinitionError, match="unknown method"):
        sys_.integrate(u0, np.array([0.0, 1.0]), rng=None, method="RK45", rtol=0, atol=0)
    with pytest.raises(SystemDefinitionError, match="shape"):
        run(sys_, u0[:10], np.array([0.0, 1.0]))


def test_etdrk4_coefficients_match_direct_formulas():
    """Away from z = 0 the contour values equal the direct phi-function formulas; at z -> 0 they
    tend to the Taylor limits Q = h/2, f1 = f3 = h/6, f2 = h/6 (the ETDRK4 weights of RK4)."""
    z = np.array([-50.0, -3.0, -1.5, 2.0])
    c = etdrk4_coefficients(z, 1.0)
    np.testing.assert_allclose(c["f1"], (-4 - z + np.exp(z) * (4 - 3 * z + z**2)) / z**3,
                               rtol=1e-12)
    np.testing.assert_allclose(c["f2"], (2 + z + np.exp(z) * (-2 + z)) / z**3, rtol=1e-12)
    np.testing.assert_allclose(c["f3"], (-4 - 3 * z - z**2 + np.exp(z) * (4 - z)) / z**3,
                               rtol=1e-12)
    np.testing.assert_allclose(c["Q"], (np.exp(z / 2) - 1) / z, rtol=1e-12)
    c0 = etdrk4_coefficients(np.array([0.0]), 0.5)
    for key, val in (("Q", 0.25), ("f1", 0.5 / 6), ("f2", 0.5 / 6), ("f3", 0.5 / 6)):
        assert c0[key][0] == pytest.approx(val, rel=1e-13)


def test_ks_etdrk4_fourth_order():
    """Kassam-Trefethen initial condition, 30 time units: the error against a dt = 1/64
    reference falls ~16x per halving of dt."""
    sys_ = ks()
    x = sys_.grid
    u0 = np.cos(x / 16) * (1 + np.sin(x / 16))
    t = np.arange(0.0, 30.0001, 1.0)
    ref = run(ks(dt_int=1 / 64), u0, t)
    errs = [np.max(np.abs(run(ks(dt_int=h), u0, t) - ref)) for h in (0.5, 0.25, 0.125)]
    ratios = [errs[0] / errs[1], errs[1] / errs[2]]
    assert errs[2] < 1e-4
    for r in ratios:
        assert 10.0 <= r <= 22.0, (errs, ratios)


def test_ks_mean_conserved_and_output_grid():
    sys_ = ks()
    rng = np.random.default_rng(3)
    u0 = sys_.initial_condition(rng) * 10 + 0.3  # nonzero mean: a Galilean-boosted state
    t = np.arange(0.0, 200.0001, 0.25)
    u = run(sys_, u0, t)
    assert u.shape == (t.size, 64) and np.all(np.isfinite(u))
    mean = sys_.invariants(u)["mean"]
    assert mean.shape == (t.size,)
    assert np.max(np.abs(mean - mean[0])) < 1e-10
    assert mean[0] == pytest.approx(np.mean(u0))
    # an integer number of internal steps per output: outputs every 0.25 and every 1.0 use the
    # same internal step (0.25) and agree at common times; off-grid outputs (0.1) adapt dt
    coarse = run(sys_, u0, t[::4])
    np.testing.assert_allclose(coarse, u[::4], rtol=0, atol=1e-9)
    fine = run(sys_, u0, np.arange(0.0, 2.0001, 0.1))
    ref = run(ks(dt_int=0.01), u0, np.arange(0.0, 2.0001, 0.1))
    assert np.max(np.abs(fine - ref)) < 1e-3


def test_ks_translation_and_reflection_symmetry():
    """Periodic KS commutes with shifts x -> x + s and with u(x) -> -u(-x)."""
    sys_ = ks()
    u0 = sys_.initial_condition(np.random.default_rng(4)) * 10
    t = np.arange(0.0, 20.0001, 1.0)
    u = run(sys_, u0, t)
    shifted = run(sys_, np.roll(u0, 5), t)
    np.testing.assert_allclose(shifted, np.roll(u, 5, axis=1), atol=1e-10)
    refl = lambda v: -np.roll(v[..., ::-1], 1, axis=-1)  # noqa: E731  -u(-x) on the grid
    np.testing.assert_allclose(run(sys_, refl(u0), t), refl(u), atol=1e-10)


def test_ks_bounded_and_chaotic():
    """From small noise the default system reaches a bounded, non-trivial state, and two
    states 1e-8 apart separate to O(1) (positive Lyapunov exponent)."""
    sys_ = ks()
    rng = np.random.default_rng(5)
    u = run(sys_, sys_.initial_condition(rng), np.array([0.0, 300.0]))[-1]
    du = rng.standard_normal(64)
    du -= du.mean()
    du *= 1e-8 / np.linalg.norm(du)
    t = np.arange(0.0, 250.0001, 1.0)
    a, b = run(sys_, u, t), run(sys_, u + du, t)
    assert np.max(np.abs(a)) < 10.0 and 0.5 < np.std(a) < 3.0
    sep = np.linalg.norm(a - b, axis=1)
    assert sep[-1] > 1e6 * sep[0]
    # exponential growth phase: rate of the same order as the Lyapunov exponent in info()
    lyap = sys_.info().lyapunov_exponent
    rate = (np.log(sep[150]) - np.log(sep[30])) / 120.0
    assert 0.4 * lyap < rate < 2.5 * lyap, (rate, lyap)


@pytest.mark.slow
def test_ks_lyapunov_exponent_resolved():
    """Benettin estimate at 128 points, L = 32 pi: 0.092 (the value in info())."""
    sys_ = ks(n_modes=128)
    rng = np.random.default_rng(6)
    u = run(sys_, sys_.initial_condition(rng), np.array([0.0, 500.0]))[-1]
    d0 = 1e-8
    w = u + d0 * rng.standard_normal(128) / math.sqrt(128)
    logs = []
    for _ in range(2000):
        u, w = run(sys_, u, np.array([0.0, 1.0]))[-1], run(sys_, w, np.array([0.0, 1.0]))[-1]
        s = np.linalg.norm(w - u)
        logs.append(math.log(s / d0))
        w = u + (w - u) * (d0 / s)
    lam = float(np.mean(logs[100:]))
    assert lam == pytest.approx(sys_.info().lyapunov_exponent, rel=0.15)


# --------------------------------------------------------------------------- Mackey-Glass
def test_mg_registry_info_and_errors():
    sys_ = get_system("mackey_glass")
    assert sys_.kind == "dde" and sys_.n_state == 1
    p = sys_.params
    assert (p.beta, p.gamma, p.n, p.tau) == (0.2, 0.1, 10.0, 17.0)
    info = sys_.info()
    assert "Mackey and L. Glass, Science 197, 287 (1977)" in info.reference
    assert info.lyapunov_exponent == pytest.approx(0.0051)
    assert sys_.step == pytest.approx(0.1) and sys_.n_tau == 170
    assert mg(dt_int=0.3).step == pytest.approx(17 / 57)  # h divides tau
    y0 = sys_.initial_condition(np.random.default_rng(0))
    assert y0.shape == (1,) and abs(y0[0] - 1.2) < 0.1
    for bad in (dict(tau=0.0), dict(n=-1.0), dict(dt_int=0.0), dict(ic_noise=-1.0)):
        with pytest.raises(SystemDefinitionError):
            mg(**bad)
    with pytest.raises(SystemDefinitionError, match="unknown method"):
        sys_.integrate(y0, np.array([0.0, 1.0]), rng=None, method="euler", rtol=0, atol=0)
    with pytest.raises(SystemDefinitionError, match="strictly increasing"):
        run(sys_, y0, np.array([0.0, 2.0, 1.0]))


@pytest.mark.parametrize("on_grid", [True, False])
def test_mg_fourth_order_convergence(on_grid):
    """Halving h divides the error against a fine reference by ~2^4, at grid outputs and at
    off-grid outputs (cubic Hermite dense output); 60 time units span 3.5 delays, so the
    derivative breaks at t = 0, tau, 2 tau, ... are crossed."""
    t = np.arange(0.0, 60.0001, 1.0) if on_grid else np.linspace(0.0, 60.0, 347)
    y0 = np.array([1.2])
    ref = run(mg(dt_int=17 / (17 * 64)), y0, t)
    errs = [np.max(np.abs(run(mg(dt_int=17 / n), y0, t) - ref)) for n in (17, 34, 68)]
    orders = [math.log2(errs[0] / errs[1]), math.log2(errs[1] / errs[2])]
    for q in orders:
        assert 3.5 <= q <= 4.5, (errs, orders)


def test_mg_history_restart_equals_continuous_run():
    """Integrating to T, then restarting from the stored history segment, reproduces the
    continuous run exactly (the state of a delay equation is its history)."""
    s = mg()
    p, nt, h = s.params, s.n_tau, s.step
    kw = dict(beta=p.beta, gamma=p.gamma, n=p.n, h=h)
    x, d = mackey_glass_rk4(np.full(nt + 1, 1.1), np.zeros(nt + 1), 3 * nt, **kw)
    x1, d1 = mackey_glass_rk4(np.full(nt + 1, 1.1), np.zeros(nt + 1), 2 * nt, **kw)
    x2, _ = mackey_glass_rk4(x1[-nt - 1:], d1[-nt - 1:], nt, **kw)
    np.testing.assert_allclose(x2, x[2 * nt:], rtol=0, atol=1e-15)
    at_delays = run(s, np.array([1.1]), np.array([0.0, 17.0, 34.0, 51.0]))[:, 0]
    np.testing.assert_array_equal(at_delays, x[::nt])


def test_mg_fixed_point_and_hopf_bifurcation():
    """Fixed point x* = (beta/gamma - 1)^(1/n) = 1. Linearising, y' = -gamma y + b y(t - tau)
    with b = beta (1 - (n-1) x*^n) / (1 + x*^n)^2 = -0.4; it loses stability at
    tau_c = arccos(-gamma/|b|) / sqrt(b^2 - gamma^2) ~ 4.708 (Hopf)."""
    b = 0.2 * (1 - 9) / 4
    tau_c = math.acos(-0.1 / abs(b)) / math.sqrt(b * b - 0.01)
    assert tau_c == pytest.approx(4.7082, abs=1e-3)
    t = np.arange(0.0, 1500.0001, 1.0)
    x_fix = run(mg(), np.array([1.0]), t)
    np.testing.assert_allclose(x_fix, 1.0, atol=1e-13)
    below = run(mg(tau=0.9 * tau_c), np.array([1.2]), t)[-200:, 0]
    above = run(mg(tau=1.1 * tau_c), np.array([1.2]), t)[-200:, 0]
    assert np.max(np.abs(below - 1.0)) < 1e-6
    assert np.max(above) - np.min(above) > 0.05  # a limit cycle around x* = 1


def test_mg_chaotic_range_and_divergence():
    """tau = 17 is chaotic: after a transient x stays in ~0.2 .. 1.4 and fills that band, and
    two histories 1e-6 apart separate to O(0.1)."""
    t = np.arange(0.0, 4000.0001, 1.0)
    s = mg()
    a = run(s, np.array([1.2]), t)[500:, 0]
    b = run(s, np.array([1.2 + 1e-6]), t)[500:, 0]
    assert 0.2 < a.min() < 0.6 and 1.1 < a.max() < 1.4
    assert np.max(np.abs(a - b)) > 0.1
    assert np.std(a) > 0.15
