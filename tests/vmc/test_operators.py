"""Compiled connected elements against netket's get_conn_padded and dense matrices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physrnn.errors import SystemDefinitionError
from physrnn.spins.chains import heisenberg_chain, tfim_chain, xxz_chain
from physrnn.vmc import ConnectedOperator
from physrnn.vmc.compiled import UnsupportedOperatorError, compile_terms


def _rows(sc: torch.Tensor, mels: torch.Tensor) -> list[dict[tuple, complex]]:
    """Per sample: {connected configuration: summed element}, zeros dropped."""
    out = []
    for b in range(sc.shape[0]):
        row: dict[tuple, complex] = {}
        for k in range(sc.shape[1]):
            key = tuple(sc[b, k].tolist())
            row[key] = row.get(key, 0) + complex(mels[b, k])
        out.append({k: v for k, v in row.items() if abs(v) > 1e-13})
    return out


def _assert_same(a, b) -> None:
    for ra, rb in zip(_rows(*a), _rows(*b), strict=True):
        assert set(ra) == set(rb)
        for key, value in ra.items():
            assert abs(value - rb[key]) < 1e-12, (key, value, rb[key])


def _reference(op, s: torch.Tensor):
    """netket's own get_conn_padded (numba version: compiled once per session), as indices."""
    try:
        ref = op.to_numba_operator()
    except (AttributeError, ImportError):  # not available (netket 3.23 sums/products)
        ref = op
    hi = op.hilbert
    xp, mels = ref.get_conn_padded(np.asarray(hi.local_states)[s.numpy()])
    idx = np.asarray(hi.states_to_local_indices(np.asarray(xp)))
    return torch.as_tensor(np.array(idx)), torch.as_tensor(np.array(mels))


def _random_matrix(rng, dim, complex_, sparsity=0.4):
    a = rng.normal(size=(dim, dim))
    if complex_:
        a = a + 1j * rng.normal(size=(dim, dim))
    a[rng.random((dim, dim)) < sparsity] = 0
    return a


@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
@pytest.mark.parametrize("localities", [(1,), (2,), (3,), (1, 2, 3)])
def test_random_local_operator_equals_get_conn_padded(localities, complex_):
    import netket as nk

    rng = np.random.default_rng(sum(localities) + 10 * complex_)
    n = 7
    hi = nk.hilbert.Spin(0.5, n)
    ops, sites = [], []
    for k in localities:
        for _ in range(3):
            ops.append(_random_matrix(rng, 2**k, complex_))
            sites.append(list(rng.choice(n, size=k, replace=False)))
    op = nk.operator.LocalOperator(hi, ops, sites, constant=0.7)
    conn = ConnectedOperator(op)
    assert conn.compiled and conn.is_complex == complex_
    s = torch.randint(0, 2, (25, n), generator=torch.Generator().manual_seed(1))
    _assert_same(conn.connected(s), _reference(op, s))


def _named_operators():
    """Builders of named operators on 6 sites (built only when their test runs)."""
    import netket as nk

    hi = nk.hilbert.Spin(0.5, 6)
    graph = nk.graph.Chain(6, pbc=True)
    sx, sz = nk.operator.spin.sigmax, nk.operator.spin.sigmaz
    sy = nk.operator.spin.sigmay
    return {
        "ising-obc": lambda: tfim_chain(6, h=0.7).operator,
        "ising-pbc": lambda: tfim_chain(6, h=1.3, J=-0.5, boundary="periodic").operator,
        "heisenberg-marshall": lambda: heisenberg_chain(6, boundary="periodic").operator,
        "xxz": lambda: xxz_chain(6, delta=0.4, marshall_sign=False).operator,
        "netket-heisenberg": lambda: nk.operator.Heisenberg(hi, graph),
        "graph-site-and-bond": lambda: nk.operator.GraphOperator(
            hi, graph, site_ops=[np.array([[0.3, 1.0], [1.0, -0.3]])],
            bond_ops=[np.kron(np.array([[1, 0], [0, -1]]), np.array([[0, 1], [1, 0]]))]),
        "pauli-strings": lambda: nk.operator.PauliStrings(
            hi, ["XXIIIY", "ZIZIII", "IIIIII", "IYZXII"], [1.0, 0.5, 0.2, -0.7]),
        "local-sum": lambda: sx(hi, 0) @ sy(hi, 3) + 2 * sz(hi, 1) + sx(hi, 2) @ sx(hi, 5),
        "local-product": lambda: (sx(hi, 0) + sz(hi, 1)) @ (sy(hi, 1) + sx(hi, 4)),
        "sum-operator": lambda: nk.operator.SumOperator(
            tfim_chain(6, h=0.7).operator, nk.operator.PauliStrings(hi, ["XXIIIY"], [0.3]),
            coefficients=[1.0, 2.0]),
        "product-operator": lambda: nk.operator.ProductOperator(
            nk.operator.PauliStrings(hi, ["XXIIIY"], [0.3]), tfim_chain(6, h=0.7).operator),
        "qubit": lambda: nk.operator.LocalOperator(
            nk.hilbert.Qubit(6), [np.array([[0.1, 2], [2, 0.5]])], [[3]]),
    }


@pytest.mark.parametrize("name", list(_named_operators()))
def test_named_operators_equal_get_conn_padded(name):
    op = _named_operators()[name]()
    conn = ConnectedOperator(op)
    assert conn.compiled
    s = torch.randint(0, 2, (20, 6), generator=torch.Generator().manual_seed(2))
    ref = _reference(op, s)
    _assert_same(conn.connected(s), ref)
    is_diag = (ref[0] == s.unsqueeze(1)).all(-1)
    diag = (ref[1] * is_diag).sum(-1)
    np.testing.assert_allclose(conn.diagonal(s).numpy(),
                               diag.numpy() if conn.is_complex else diag.real.numpy(),
                               atol=1e-12)


def test_dense_matrix_rows():
    """One end-to-end check against the dense matrix, independent of get_conn_padded."""
    op = xxz_chain(5, delta=0.4, marshall_sign=False).operator
    conn = ConnectedOperator(op)
    hi = op.hilbert
    s = torch.as_tensor(np.asarray(hi.states_to_local_indices(np.asarray(hi.all_states()))),
                        dtype=torch.long)
    sc, mels = conn.connected(s)
    numbers = np.asarray(hi.states_to_numbers(np.asarray(hi.local_states)[sc.numpy()]))
    dense = np.zeros((hi.n_states, hi.n_states))
    np.add.at(dense, (np.repeat(np.arange(hi.n_states), sc.shape[1]), numbers.reshape(-1)),
              mels.numpy().reshape(-1))
    np.testing.assert_allclose(dense, np.asarray(op.to_numba_operator().to_dense()), atol=1e-12)


def test_padded_layout_and_compact_elements():
    conn = ConnectedOperator(tfim_chain(8, h=0.9, boundary="periodic").operator)
    s = torch.randint(0, 2, (11, 8), generator=torch.Generator().manual_seed(3))
    sc, mels = conn.connected(s)
    assert sc.shape == (11, conn.max_conn_size, 8) and mels.shape == (11, conn.max_conn_size)
    assert conn.max_conn_size == 9 and mels.dtype == torch.float64
    assert torch.equal(sc[:, 0], s)
    el = conn.elements(s)
    assert len(el) == 11 * 8
    sp = el.materialise(s)
    differs = sp != s[el.sample]
    assert torch.equal(differs.to(torch.int8).argmax(-1), el.first)  # first differing site
    assert torch.equal(el.first_values(), sp[torch.arange(len(el)), el.first])
    np.testing.assert_allclose(el.mels.numpy(), -0.9)


def test_netket_fallback_path_agrees():
    op = heisenberg_chain(6, boundary="periodic").operator
    compiled, fallback = ConnectedOperator(op), ConnectedOperator(op, compile=False)
    assert not fallback.compiled
    s = torch.randint(0, 2, (9, 6), generator=torch.Generator().manual_seed(4))
    _assert_same(compiled.connected(s), fallback.connected(s))
    a, b = compiled.elements(s), fallback.elements(s)
    torch.testing.assert_close(a.diagonal, b.diagonal)
    assert len(a) == len(b)
    key = lambda el: sorted(zip(el.sample.tolist(), el.first.tolist(),  # noqa: E731
                                el.mels.tolist(), strict=True))
    assert key(a) == key(b)


def test_spin_one_rejected_and_unsupported_operator():
    import netket as nk

    hi = nk.hilbert.Spin(1.0, 4)
    with pytest.raises(SystemDefinitionError, match="spin-1/2"):
        ConnectedOperator(nk.operator.spin.sigmax(hi, 0))
    with pytest.raises(UnsupportedOperatorError, match="local terms"):
        compile_terms(type("Weird", (), {"hilbert": nk.hilbert.Spin(0.5, 3)})())


def test_wrong_shape_rejected():
    conn = ConnectedOperator(tfim_chain(5).operator)
    with pytest.raises(ValueError, match="shape"):
        conn.elements(torch.zeros(3, 6, dtype=torch.long))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_elements_on_cuda():
    conn = ConnectedOperator(heisenberg_chain(8).operator)
    s = torch.randint(0, 2, (16, 8), generator=torch.Generator().manual_seed(0))
    a = conn.connected(s)
    b = conn.connected(s.cuda())
    assert b[0].device.type == "cuda"
    _assert_same(a, (b[0].cpu(), b[1].cpu()))
