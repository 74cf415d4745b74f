"""Quantum quench: exact observables against an independent dense evolution."""

from __future__ import annotations

import pickle
from functools import reduce

import numpy as np
import pytest
import scipy.linalg

from physrnn.errors import SystemDefinitionError
from physrnn.systems.base import get_system


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Dense LAPACK on a loaded 2-core machine is ~100x slower with 2 OpenBLAS threads."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


ALL = ("sz", "sx", "sy", "sz_stag", "szsz", "sxsx", "loschmidt", "energy")
SX = np.array([[0, 1], [1, 0]], dtype=complex)
SY = np.array([[0, -1j], [1j, 0]], dtype=complex)
SZ = np.array([[1, 0], [0, -1]], dtype=complex)
I2 = np.eye(2, dtype=complex)


def _site_op(op, i, n, op2=None, j=None):
    """Kronecker product with ``op`` on site ``i`` (and ``op2`` on site ``j``), identity else."""
    return reduce(np.kron, [op if k == i else op2 if k == j else I2 for k in range(n)])


def _bonds(n, boundary):
    return [(i, i + 1) for i in range(n - 1)] + ([(n - 1, 0)] if boundary == "periodic" else [])


def _dense_h(model, n, boundary, J, g):
    """Dense Hamiltonian from Kronecker products: g = h (TFIM, Pauli) or delta (XXZ, S units)."""
    H = np.zeros((2**n, 2**n), dtype=complex)
    for i, j in _bonds(n, boundary):
        if model == "tfim":
            H -= J * _site_op(SZ, i, n, SZ, j)
        else:
            for op, c in ((SX, 1.0), (SY, 1.0), (SZ, g)):
                H += 0.25 * J * c * _site_op(op, i, n, op, j)
    if model == "tfim":
        for i in range(n):
            H -= g * _site_op(SX, i, n)
    return H


def _dense_operators(n, boundary, H_final):
    bonds = _bonds(n, boundary)
    return {
        "sz": sum(_site_op(SZ, i, n) for i in range(n)) / n,
        "sx": sum(_site_op(SX, i, n) for i in range(n)) / n,
        "sy": sum(_site_op(SY, i, n) for i in range(n)) / n,
        "sz_stag": sum((-1) ** i * _site_op(SZ, i, n) for i in range(n)) / n,
        "szsz": sum(_site_op(SZ, i, n, SZ, j) for i, j in bonds) / len(bonds),
        "sxsx": sum(_site_op(SX, i, n, SX, j) for i, j in bonds) / len(bonds),
        "energy": H_final,
    }


def _dense_observables(psi, psi0, ops):
    out = []
    for name in ALL:
        if name == "loschmidt":
            out.append(abs(np.vdot(psi0, psi)) ** 2)
        else:
            out.append(np.vdot(psi, ops[name] @ psi).real)
    return np.array(out)


def _product(spinors):
    return reduce(np.kron, [np.asarray(s, dtype=complex) / np.linalg.norm(s) for s in spinors])


CASES = [
    # model, boundary, initial, g_initial, g_final
    ("tfim", "open", "ground", 3.0, 0.5),
    ("tfim", "periodic", "ground", 0.4, 2.0),
    ("tfim", "open", "all_x", 3.0, 0.7),
    ("xxz", "open", "ground", 4.0, 0.5),
    ("xxz", "periodic", "neel", 1.0, 2.0),
]


@pytest.mark.parametrize("model,boundary,initial,g0,g1", CASES)
def test_matches_dense_exact_evolution(model, boundary, initial, g0, g1):
    n, J = 8, 1.0
    key = ("h" if model == "tfim" else "delta")
    sysm = get_system("spin_quench", model=model, n_sites=n, boundary=boundary, J=J,
                      initial=initial, observables=ALL,
                      **{f"{key}_initial": g0, f"{key}_final": g1})
    rng = np.random.default_rng(0)
    y0 = sysm.initial_condition(rng)
    t = np.linspace(0.0, 3.0, 13)
    y = sysm.integrate(y0, t, rng=rng, method="expm_multiply", rtol=0.0, atol=0.0)
    assert y.shape == (13, len(ALL)) and y.dtype == np.float64

    H0 = _dense_h(model, n, boundary, J, g0)
    H1 = _dense_h(model, n, boundary, J, g1)
    if initial == "ground":
        w, v = np.linalg.eigh(H0)
        assert w[1] - w[0] > 1e-6
        psi0 = v[:, 0]
    elif initial == "all_x":
        psi0 = _product([[1, 1]] * n)
    else:
        psi0 = _product([[1, 0] if i % 2 == 0 else [0, 1] for i in range(n)])
    ops = _dense_operators(n, boundary, H1)
    step = scipy.linalg.expm(-1j * H1 * (t[1] - t[0]))  # exact propagator over one interval
    ref, psi = [], psi0
    for _ in t:
        ref.append(_dense_observables(psi, psi0, ops))
        psi = step @ psi
    ref = np.array(ref)
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-8)
    # energy conserved, Loschmidt echo 1 at t = 0
    E = sysm.invariants(y)["energy"]
    assert np.max(np.abs(E - E[0])) < 1e-10 * max(1.0, abs(E[0]))
    assert abs(y[0, ALL.index("loschmidt")] - 1.0) < 1e-12
    # the dynamics are not trivial
    assert np.ptp(y[:, ALL.index("loschmidt")]) > 1e-2


def test_nonuniform_grid_matches_uniform():
    sysm = get_system("spin_quench", n_sites=8, observables=ALL)
    rng = np.random.default_rng(1)
    y0 = sysm.initial_condition(rng)
    t = np.linspace(0.0, 2.0, 9)
    y_u = sysm.integrate(y0, t, rng=rng, method="expm_multiply", rtol=0, atol=0)
    t_nu = np.array([0.0, 0.25, 0.3, 1.0, 2.0])
    y_nu = sysm.integrate(y0, t_nu, rng=rng, method="expm_multiply", rtol=0, atol=0)
    np.testing.assert_allclose(y_nu[[0, 1, 3, 4]], y_u[[0, 1, 4, 8]], atol=1e-10)


@pytest.mark.parametrize("model,key,g", [("tfim", "h", 0.7), ("xxz", "delta", 2.0)])
def test_no_quench_is_stationary(model, key, g):
    sysm = get_system("spin_quench", model=model, n_sites=8, observables=ALL,
                      **{f"{key}_initial": g, f"{key}_final": g})
    rng = np.random.default_rng(0)
    y0 = sysm.initial_condition(rng)
    y = sysm.integrate(y0, np.linspace(0, 4.0, 9), rng=rng, method="expm_multiply",
                       rtol=0, atol=0)
    np.testing.assert_allclose(y, np.broadcast_to(y0, y.shape), atol=1e-9)
    assert np.allclose(y[:, ALL.index("loschmidt")], 1.0, atol=1e-10)


def test_observe_and_energy_appended():
    sysm = get_system("spin_quench", n_sites=6, observables=["sz", "sx"])
    assert sysm.params.observables == ("sz", "sx")
    info = sysm.info()
    assert info.state_names == ("sz", "sx", "energy")
    assert info.state_units == ("1", "1", "J")
    assert info.time_unit == "1/J"
    y0 = sysm.initial_condition(np.random.default_rng(0))
    assert y0.shape == (3,)
    assert sysm.observe(np.zeros((4, 5, 3))).shape == (4, 5, 2)
    assert sysm.observed_names() == ("sz", "sx")


def test_random_product_state_reproducible_and_evolves():
    sysm = get_system("spin_quench", n_sites=6, initial="random_product", observables=ALL)
    y_a = sysm.initial_condition(np.random.default_rng(5))
    y_b = sysm.initial_condition(np.random.default_rng(5))
    y_c = sysm.initial_condition(np.random.default_rng(6))
    np.testing.assert_array_equal(y_a, y_b)
    assert not np.allclose(y_a, y_c)
    # a product state has <sz_i sz_j> = <sz_i><sz_j>; here just check |<sigma>| <= 1
    assert np.all(np.abs(y_a[:6]) <= 1 + 1e-12)
    rng = np.random.default_rng(0)
    y = sysm.integrate(y_c, np.linspace(0, 1, 5), rng=rng, method="expm_multiply",
                       rtol=0, atol=0)
    np.testing.assert_allclose(y[0], y_c, atol=1e-12)
    E = y[:, ALL.index("energy")]
    assert np.ptp(E) < 1e-10


def test_simulate_integration():
    from physrnn.data.simulate import simulate

    sysm = get_system("spin_quench", n_sites=6)
    sim = simulate(sysm, n_traj=2, n_t=11, seed=0, progress=False)
    assert sim.y.shape == (2, 11, 4)
    assert sim.meta["state_names"] == ["sz", "sx", "szsz", "loschmidt"]
    assert sim.observables["invariant/energy"].shape == (2, 11)
    np.testing.assert_allclose(sim.y[0], sim.y[1])


def test_errors():
    with pytest.raises(SystemDefinitionError, match="exceeds 20"):
        get_system("spin_quench", n_sites=21)
    with pytest.raises(SystemDefinitionError, match="unknown observable"):
        get_system("spin_quench", observables=("sz", "magic"))
    with pytest.raises(SystemDefinitionError, match="model"):
        get_system("spin_quench", model="hubbard")
    with pytest.raises(SystemDefinitionError, match="initial"):
        get_system("spin_quench", initial="random")
    sysm = get_system("spin_quench", n_sites=6)
    rng = np.random.default_rng(0)
    y0 = sysm.initial_condition(rng)
    with pytest.raises(SystemDefinitionError, match="reconstructed"):
        sysm.integrate(y0 + 0.1, np.linspace(0, 1, 3), rng=rng, method="expm_multiply",
                       rtol=0, atol=0)
    with pytest.raises(SystemDefinitionError, match="method"):
        sysm.integrate(y0, np.linspace(0, 1, 3), rng=rng, method="DOP853", rtol=0, atol=0)
    # degenerate pre-quench ground state (classical Ising, h_initial = 0)
    degenerate = get_system("spin_quench", n_sites=6, h_initial=0.0)
    with pytest.raises(SystemDefinitionError, match="degenerate"):
        degenerate.initial_condition(rng)


def test_pickle_roundtrip():
    sysm = get_system("spin_quench", n_sites=6)
    rng = np.random.default_rng(0)
    y0 = sysm.initial_condition(rng)
    clone = pickle.loads(pickle.dumps(sysm))
    t = np.linspace(0, 1, 4)
    np.testing.assert_allclose(
        clone.integrate(y0, t, rng=rng, method="expm_multiply", rtol=0, atol=0),
        sysm.integrate(y0, t, rng=rng, method="expm_multiply", rtol=0, atol=0), atol=1e-12)
