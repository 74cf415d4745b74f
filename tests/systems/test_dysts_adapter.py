"""The optional dysts adapter: a clear error without dysts, faithful Lorenz with it."""

from __future__ import annotations

import pickle
import sys

import numpy as np
import pytest

from physrnn.errors import SystemDefinitionError
from physrnn.systems import dysts_adapter
from physrnn.systems.base import get_system


def test_missing_dysts_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "dysts", None)  # makes `import dysts` fail
    monkeypatch.setitem(sys.modules, "dysts.base", None)
    monkeypatch.setitem(sys.modules, "dysts.flows", None)
    monkeypatch.setattr(dysts_adapter, "_CLASSES", {})
    with pytest.raises(SystemDefinitionError, match=r"dysts is not installed: pip install dysts"):
        dysts_adapter.dysts_system("Lorenz")
    with pytest.raises(SystemDefinitionError, match="pip install dysts"):
        get_system("dysts:Lorenz")


def _lorenz(y, sigma, rho, beta):
    x, yy, z = y
    return np.array([sigma * (yy - x), x * (rho - z) - yy, x * yy - beta * z])


def test_lorenz_matches_written_equations():
    pytest.importorskip("dysts")
    system = get_system("dysts:Lorenz", rho=30.0)
    p = system.param_dict()
    assert p["rho"] == 30.0 and set(p) == {"beta", "rho", "sigma"}
    rng = np.random.default_rng(0)
    for y in rng.normal(scale=10.0, size=(5, 3)):
        np.testing.assert_allclose(system.rhs(0.3, y),
                                   _lorenz(y, p["sigma"], p["rho"], p["beta"]), rtol=1e-13)
        eps = 1e-6
        num = np.stack([(system.rhs(0, y + eps * e) - system.rhs(0, y - eps * e)) / (2 * eps)
                        for e in np.eye(3)], axis=1)
        np.testing.assert_allclose(system.jacobian(0.0, y), num, atol=1e-6)


def test_lorenz_matches_physrnn_lorenz63():
    pytest.importorskip("dysts")
    pytest.importorskip("physrnn.systems.dynamics")
    from physrnn.systems.base import REGISTRY

    if "lorenz63" not in REGISTRY:
        pytest.skip("physrnn.systems.dynamics has no 'lorenz63'")
    ours = get_system("lorenz63")
    p = ours.param_dict()
    if not {"sigma", "rho", "beta"} <= set(p):
        pytest.skip(f"lorenz63 parameters are named {sorted(p)}")
    theirs = get_system("dysts:Lorenz", sigma=p["sigma"], rho=p["rho"], beta=p["beta"])
    rng = np.random.default_rng(1)
    for y in rng.normal(scale=10.0, size=(5, 3)):
        np.testing.assert_allclose(theirs.rhs(0.0, y), ours.rhs(0.0, y), rtol=1e-12, atol=1e-12)


def test_metadata_mapping():
    pytest.importorskip("dysts")
    info = get_system("dysts:Lorenz").info()
    assert info.state_names == ("x0", "x1", "x2")
    assert 0.8 < info.lyapunov_exponent < 1.0  # dysts' estimate 0.89; Sprott 0.9056
    assert info.time_scale_name == "Lyapunov time"
    assert np.isclose(info.time_scale, 1.0 / info.lyapunov_exponent)
    assert "Lorenz" in info.reference and "Gilpin" in info.reference
    assert 0.005 < info.default_dt < 0.05


def test_unknown_and_delay_flows():
    pytest.importorskip("dysts")
    with pytest.raises(SystemDefinitionError, match="close matches: Lorenz"):
        dysts_adapter.dysts_system("Lorentz")
    with pytest.raises(SystemDefinitionError, match="delay"):
        dysts_adapter.dysts_system("MackeyGlass")
    with pytest.raises(SystemDefinitionError, match="unknown parameter"):
        dysts_adapter.dysts_system("Lorenz", r=28.0)


def test_simulate_and_pickle():
    pytest.importorskip("dysts")
    from physrnn.data.simulate import simulate

    system = get_system("dysts:Rossler")
    clone = pickle.loads(pickle.dumps(system))
    assert clone.param_dict() == system.param_dict()
    sim = simulate(system, n_traj=2, n_t=50, transient=1.0, seed=0, progress=False)
    assert sim.y.shape == (2, 50, 3) and np.all(np.isfinite(sim.y))
    assert sim.meta["system"] == "dysts:Rossler"
