"""2D recurrent wavefunction: normalisation, autoregressive property, netket site numbering,
exact and U(1)-constrained sampling, Marshall sign, and a short VMC run against ED."""

from __future__ import annotations

import math
import warnings

import netket as nk
import numpy as np
import pytest
import torch
from scipy import stats

from physrnn.wavefunctions.layout import (
    grid_edges,
    layout_from_edges,
    layout_from_graph,
    snake_order,
    square_layout,
)
from physrnn.wavefunctions.rnn2d import RNNWavefunction2D

F64 = torch.float64


def _codes(s: torch.Tensor) -> np.ndarray:
    n = s.shape[1]
    return (s * (2 ** torch.arange(n - 1, -1, -1))).sum(-1).numpy()


def _heisenberg(graph, *, rotated: bool):
    """H = sum_<ij> S_i . S_j (S units) on ``graph``; ``rotated``: Marshall-rotated exchange."""
    hi = nk.hilbert.Spin(0.5, graph.n_nodes)
    sx, sz = np.array([[0, 1], [1, 0]]), np.diag([1.0, -1.0])
    sy = np.array([[0, -1j], [1j, 0]])
    exchange = (np.kron(sx, sx) + np.kron(sy, sy)).real
    bond = 0.25 * ((-1.0 if rotated else 1.0) * exchange + np.kron(sz, sz))
    return nk.operator.GraphOperator(hi, graph, bond_ops=[bond])


# ---------------------------------------------------------------------- normalisation
@pytest.mark.parametrize("phase", [False, True])
@pytest.mark.parametrize("cell", ["rnn", "gru", "tensor_gru"])
@pytest.mark.parametrize("shape, boundary", [((2, 2), "open"), ((2, 3), "open"),
                                             ((3, 3), "open"), ((3, 3), "periodic"),
                                             ((2, 3), "periodic")])
def test_normalised(shape, boundary, cell, phase):
    model = RNNWavefunction2D(*shape, boundary=boundary, cell=cell, phase=phase,
                              hidden_size=5, dtype=F64, seed=3)
    psi = model.psi_vector()
    assert psi.shape == (2 ** model.n_sites,)
    assert abs(float((psi.abs() ** 2).sum()) - 1.0) < 1e-10
    assert model.is_complex == phase
    if phase:
        assert float(psi.angle().abs().max()) > 1e-3


def test_normalised_float32():
    model = RNNWavefunction2D(3, 3, boundary="periodic", cell="tensor_gru", hidden_size=8)
    with torch.no_grad():
        total = float(model.log_prob(model.all_configurations()).exp().sum())
    assert abs(total - 1.0) < 1e-5


# ---------------------------------------------------------------------- autoregressive property
@pytest.mark.parametrize("cell", ["rnn", "gru", "tensor_gru"])
@pytest.mark.parametrize("boundary", ["open", "periodic"])
def test_autoregressive_property(cell, boundary):
    """Flipping the spin of step j leaves the conditionals of steps <= j unchanged."""
    model = RNNWavefunction2D(3, 3, boundary=boundary, cell=cell, phase=True, hidden_size=6,
                              dtype=F64, seed=5)
    order = model.order
    s = torch.randint(0, 2, (8, 9), generator=torch.Generator().manual_seed(0))
    lp, ph = (t[:, order] for t in model.log_conditionals(s))  # step order
    for j in range(9):
        s2 = s.clone()
        s2[:, order[j]] = 1 - s2[:, order[j]]
        lp2, ph2 = (t[:, order] for t in model.log_conditionals(s2))
        torch.testing.assert_close(lp2[:, : j + 1], lp[:, : j + 1], rtol=0, atol=1e-12)
        torch.testing.assert_close(ph2[:, : j + 1], ph[:, : j + 1], rtol=0, atol=1e-12)
        if j + 1 < 9:  # the next step reads step j (dx, or dy at a row start)
            assert (lp2[:, j + 1] - lp[:, j + 1]).abs().max() > 1e-8


# ---------------------------------------------------------------------- netket site numbering
@pytest.mark.parametrize("Lx, Ly, pbc", [(3, 4, False), (4, 3, True), (3, 3, True),
                                         (1, 5, False), (5, 1, True), (2, 4, True)])
def test_layout_matches_netket_grid(Lx, Ly, pbc):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = nk.graph.Grid([Lx, Ly], pbc=[pbc and Lx > 1, pbc and Ly > 1])
    n = Lx * Ly
    pos = np.asarray(graph.positions)
    np.testing.assert_allclose(pos, np.stack([np.arange(n) // Ly, np.arange(n) % Ly], -1))
    ours = {frozenset(e[:2]) for e in grid_edges(Lx, Ly, pbc)}
    assert ours == {frozenset(e) for e in graph.edges()}
    lay = square_layout(Lx, Ly, boundary="periodic" if pbc else "open")
    # the neighbour table lists every bond exactly once, from the later site to the earlier
    links = [frozenset((int(lay.order[k]), site))
             for k, sites in enumerate(lay.previous_sites()) for site in sites]
    assert len(links) == len(set(links)) and set(links) == ours
    assert (lay.previous < np.arange(n)[:, None]).all()
    # snake: row y = 0 left to right, row 1 right to left, ...
    rows = [lay.order[y * Lx:(y + 1) * Lx] % Ly for y in range(Ly)]
    assert all((r == y).all() for y, r in enumerate(rows))
    xs = [lay.order[y * Lx:(y + 1) * Lx] // Ly for y in range(Ly)]
    assert all((x == (np.arange(Lx) if y % 2 == 0 else np.arange(Lx)[::-1])).all()
               for y, x in enumerate(xs))
    # from_graph reproduces the square layout exactly
    gl = layout_from_graph(graph)
    np.testing.assert_array_equal(gl.order, lay.order)
    np.testing.assert_array_equal(gl.previous, lay.previous)
    assert gl.slot_names == lay.slot_names
    # permutation round trip
    model = RNNWavefunction2D(Lx, Ly, boundary="periodic" if pbc else "open", hidden_size=2)
    s = torch.randint(0, 2, (4, n), generator=torch.Generator().manual_seed(1))
    assert torch.equal(s[:, model.order][:, model.step_of_site], s)


def test_open_square_slots_are_horizontal_and_below():
    lay = square_layout(3, 2)
    assert lay.slot_names == ("dx", "dy")
    # rows: sites 0, 2, 4 (y = 0, x increasing), then 5, 3, 1 (y = 1, x decreasing); step 3
    # (site 5 = (2, 1)) starts a row: no horizontal predecessor, below it is step 2 (site 4)
    assert lay.order.tolist() == [0, 2, 4, 5, 3, 1]
    assert lay.previous.tolist() == [[-1, -1], [0, -1], [1, -1], [-1, 2], [3, 1], [4, 0]]


def test_from_graph_same_model_as_extents():
    a = RNNWavefunction2D(3, 3, hidden_size=5, dtype=F64, seed=2)
    b = RNNWavefunction2D.from_graph(nk.graph.Square(3, pbc=False), hidden_size=5, dtype=F64,
                                     seed=2)
    torch.testing.assert_close(a.psi_vector(), b.psi_vector(), rtol=0, atol=1e-14)


@pytest.mark.parametrize("graph", [
    nk.graph.Triangular([3, 2], pbc=False),
    nk.graph.Graph(edges=[(0, 1), (1, 2), (2, 3), (3, 0), (0, 2), (4, 2)]),
    nk.graph.Chain(6, pbc=True),
])
def test_generic_graphs(graph):
    model = RNNWavefunction2D.from_graph(graph, hidden_size=4, cell="tensor_gru", phase=True,
                                         dtype=F64, seed=1)
    lay = model.layout
    edges = {frozenset(map(int, e)) for e in graph.edges()}
    links = {frozenset((int(lay.order[k]), s)) for k, ss in enumerate(lay.previous_sites())
             for s in ss}
    assert links == edges
    psi = model.psi_vector()
    assert abs(float((psi.abs() ** 2).sum()) - 1.0) < 1e-10
    s = model.sample(16, generator=torch.Generator().manual_seed(0))
    assert s.shape == (16, graph.n_nodes)


def test_explicit_ordering_and_marshall_on_graph():
    graph = nk.graph.Grid([2, 3], pbc=False)
    model = RNNWavefunction2D.from_graph(graph, ordering=[5, 4, 3, 2, 1, 0], marshall_sign=True,
                                         hidden_size=3, dtype=F64)
    assert model.order.tolist() == [5, 4, 3, 2, 1, 0]
    assert abs(float((model.psi_vector().abs() ** 2).sum()) - 1.0) < 1e-12


# ---------------------------------------------------------------------- exact sampling
def _sharpen(model, factor=4.0):
    with torch.no_grad():
        model.amplitude_head.weight.mul_(factor)
        model.amplitude_head.bias.normal_(0.0, 1.0, generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("boundary", ["open", "periodic"])
def test_sampling_matches_born_rule(boundary):
    model = RNNWavefunction2D(2, 3, boundary=boundary, cell="gru", hidden_size=8, dtype=F64,
                              seed=11)
    _sharpen(model)
    probs = model.log_prob(model.all_configurations()).detach().exp().numpy()
    s = model.sample(100_000, generator=torch.Generator().manual_seed(42))
    counts = np.bincount(_codes(s), minlength=64)
    assert stats.chisquare(counts, probs * counts.sum()).pvalue > 1e-3
    wrong = probs.copy()
    wrong[np.argmax(probs)] *= 1.15
    wrong /= wrong.sum()
    assert stats.chisquare(counts, wrong * counts.sum()).pvalue < 1e-3


def test_seeds_and_global_rng():
    state = torch.random.get_rng_state()
    a = RNNWavefunction2D(2, 3, hidden_size=4, seed=0)
    b = RNNWavefunction2D(2, 3, hidden_size=4, seed=0)
    c = RNNWavefunction2D(2, 3, hidden_size=4, seed=1)
    x = a.sample(32, generator=torch.Generator().manual_seed(7))
    y = a.sample(32, generator=torch.Generator().manual_seed(7))
    assert torch.equal(state, torch.random.get_rng_state())
    assert torch.equal(x, y) and x.dtype == torch.long and x.shape == (32, 6)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    assert any(not torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters(),
                                                         strict=True))


# ---------------------------------------------------------------------- U(1)
@pytest.mark.parametrize("shape, m", [((1, 6), 0), ((2, 3), 0), ((2, 3), 2), ((2, 3), -4),
                                      ((3, 3), 1), ((2, 2), 4)])
def test_u1_sector_normalised(shape, m):
    model = RNNWavefunction2D(*shape, cell="tensor_gru", phase=True, magnetisation=m,
                              hidden_size=5, dtype=F64, seed=4)
    s = model.all_configurations()
    lp = model.log_prob(s)
    mag = (s == 0).sum(1) - (s == 1).sum(1)  # local index 0 is spin up
    inside = mag == m
    assert abs(float(lp[inside].detach().exp().sum()) - 1.0) < 1e-10
    assert torch.isinf(lp[~inside]).all() and (lp[~inside] < 0).all()
    log_p, phase = model.log_conditionals(s)
    assert not torch.isnan(log_p).any() and not torch.isnan(phase).any()
    lp[inside].exp().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("shape", [(1, 6), (2, 3)])
def test_u1_sampling(shape):
    model = RNNWavefunction2D(*shape, magnetisation=0, hidden_size=8, dtype=F64, seed=9)
    _sharpen(model, 3.0)
    s = model.sample(60_000, generator=torch.Generator().manual_seed(5))
    assert ((s == 0).sum(1) == 3).all()
    configs = model.all_configurations()
    probs = model.log_prob(configs).detach().exp().numpy()
    sector = probs > 0
    assert sector.sum() == 20
    counts = np.bincount(_codes(s), minlength=64)
    assert counts[~sector].sum() == 0
    assert stats.chisquare(counts[sector], probs[sector] * counts.sum()).pvalue > 1e-3
    wrong = probs[sector].copy()
    wrong[np.argmax(wrong)] *= 1.15
    wrong /= wrong.sum()
    assert stats.chisquare(counts[sector], wrong * counts.sum()).pvalue < 1e-3


def test_u1_up_index_follows_netket():
    from physrnn.wavefunctions.symmetry import up_local_index

    hi = nk.hilbert.Spin(0.5, 6, total_sz=1)  # M = 2 S^z = 2: four up spins
    model = RNNWavefunction2D(2, 3, magnetisation=2, up_index=up_local_index(hi), hidden_size=3)
    s = model.sample(200, generator=torch.Generator().manual_seed(0))
    values = np.asarray(hi.local_states)[s.numpy()]
    assert (values.sum(1) == 2).all()
    # a space whose local index 1 is spin up (e.g. local_states [-1, 1]) masks the other column
    flipped = RNNWavefunction2D(2, 3, magnetisation=2, up_index=1, marshall_sign=True,
                                hidden_size=3, dtype=F64)
    assert ((flipped.sample(200, generator=torch.Generator().manual_seed(0)) == 1).sum(1)
            == 4).all()
    configs = flipped.all_configurations()
    lp = flipped.log_prob(configs).detach()
    assert abs(float(lp.exp().sum()) - 1.0) < 1e-12
    assert torch.isneginf(lp[(configs == 1).sum(1) != 4]).all()


def test_u1_local_energies_of_an_operator_leaving_the_sector():
    """TFIM: every spin flip leaves the sector, psi = 0 there, so E_loc is the diagonal only."""
    from physrnn.vmc.estimators import local_energies

    graph = nk.graph.Grid([2, 3], pbc=False)
    op = nk.operator.Ising(nk.hilbert.Spin(0.5, 6), graph, h=1.0, J=-1.0)
    model = RNNWavefunction2D(2, 3, magnetisation=0, phase=True, hidden_size=4, dtype=F64)
    s = model.sample(32, generator=torch.Generator().manual_seed(0))
    e_loc = local_energies(model, op, s, method="scratch")
    z = (1 - 2 * s).double()  # local index 0 is sz = +1
    diagonal = -sum(z[:, i] * z[:, j] for i, j in graph.edges())
    torch.testing.assert_close(e_loc.real, diagonal, rtol=0, atol=1e-12)
    assert float(e_loc.imag.abs().max()) < 1e-12


# ---------------------------------------------------------------------- sign rule and physics
def test_marshall_sign_composes_with_rotation():
    """Positive model + rotated H and Marshall model + unrotated H give the same energy."""
    graph = nk.graph.Grid([2, 3], pbc=False)
    h_rot = _heisenberg(graph, rotated=True).to_sparse()
    h_bare = _heisenberg(graph, rotated=False).to_sparse()
    hi = nk.hilbert.Spin(0.5, 6)
    pos = RNNWavefunction2D(2, 3, hidden_size=6, dtype=F64, seed=8)
    mar = RNNWavefunction2D(2, 3, hidden_size=6, dtype=F64, seed=8, marshall_sign=True)
    assert np.array_equal(hi.states_to_local_indices(hi.all_states()),
                          pos.all_configurations().numpy())  # same basis order as netket
    a, b = pos.psi_vector().numpy(), mar.psi_vector().numpy()
    np.testing.assert_allclose(np.abs(a), np.abs(b), atol=1e-14)
    e_pos = np.vdot(a, h_rot @ a).real
    assert abs(np.vdot(b, h_bare @ b).real - e_pos) < 1e-12
    assert abs(np.vdot(b, h_rot @ b).real - e_pos) > 1e-3  # applying both is wrong
    # the sign is (-1)^(number of down spins on the odd sublattice (x + y odd))
    s = pos.all_configurations().numpy()
    odd = (np.arange(6) // 3 + np.arange(6) % 3) % 2 == 1
    sign = (-1.0) ** (s[:, odd] == 1).sum(1)
    np.testing.assert_allclose(b.real, sign * a.real, atol=1e-14)


def test_vmc_heisenberg_2x3_matches_ed():
    from physrnn.baselines.quantum.exact import exact_ground_state_energy
    from physrnn.vmc.driver import VMC

    graph = nk.graph.Grid([2, 3], pbc=False)
    op = _heisenberg(graph, rotated=True)
    e0 = exact_ground_state_energy(op)
    torch.manual_seed(0)  # the driver is seeded; this only guards against stray global use
    model = RNNWavefunction2D(2, 3, hidden_size=12, cell="gru", magnetisation=0, seed=1)
    vmc = VMC(op, model, n_samples=256, optimizer=torch.optim.Adam(model.parameters(), lr=0.02),
              seed=0)
    vmc.run(100, progress=False)
    psi = model.psi_vector().numpy()
    energy = np.vdot(psi, op.to_sparse() @ psi).real
    assert abs((energy - e0) / e0) < 3e-3, (energy, e0)


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize("kwargs, match", [
    ({"Lx": 0, "Ly": 3}, "Lx"), ({"Lx": 2, "Ly": -1}, "Ly"), ({"Lx": True, "Ly": 2}, "Lx"),
    ({"Lx": 2}, "Lx and Ly"), ({"Lx": 2, "Ly": 2, "cell": "lstm"}, "cell"),
    ({"Lx": 2, "Ly": 2, "boundary": "twisted"}, "boundary"),
    ({"Lx": 2, "Ly": 3, "magnetisation": 1}, "impossible"),
    ({"Lx": 2, "Ly": 3, "magnetisation": 8}, "impossible"),
    ({"Lx": 2, "Ly": 3, "magnetisation": 0.0}, "integer"),
    ({"Lx": 2, "Ly": 2, "dtype": torch.float16}, "dtype"),
    ({"Lx": 2, "Ly": 2, "hidden_size": 0}, "hidden_size"),
    ({"Lx": 3, "Ly": 3, "boundary": "periodic", "marshall_sign": True}, "bipartite"),
    ({"Lx": 2, "Ly": 2, "up_index": 2}, "up_index"),
    ({"Lx": 2, "Ly": 2, "layout": square_layout(2, 2)}, "not both"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RNNWavefunction2D(**kwargs)


def test_bad_graph_arguments_and_inputs():
    with pytest.raises(ValueError, match="boundary"):
        RNNWavefunction2D.from_graph(nk.graph.Chain(4), boundary="open")
    with pytest.raises(ValueError, match="coordinates"):
        RNNWavefunction2D.from_graph(nk.graph.Graph(edges=[(0, 1)]), ordering="snake")
    with pytest.raises(ValueError, match="permutation"):
        RNNWavefunction2D.from_graph(nk.graph.Chain(4), ordering=[0, 1, 1, 2])
    with pytest.raises(ValueError, match="ordering"):
        RNNWavefunction2D.from_graph(nk.graph.Chain(4), ordering="spiral")
    with pytest.raises(ValueError, match="outside"):
        layout_from_edges(3, [(0, 5)], [0, 1, 2])
    with pytest.raises(ValueError, match="coordinates"):
        snake_order(np.zeros((4, 3)))
    model = RNNWavefunction2D(2, 2, hidden_size=2)
    with pytest.raises(ValueError, match="shape"):
        model.log_psi(torch.zeros(3, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="n_samples"):
        model.sample(0)


# ---------------------------------------------------------------------------- prefix reuse
PREFIX_CASES = [
    ("tfim", (3, 4), "open", dict()),
    ("heisenberg", (4, 4), "periodic", dict(magnetisation=0, phase=True, marshall_sign=True)),
    ("heisenberg", (3, 4), "open", dict(magnetisation=2, cell="tensor_gru")),
    ("heisenberg", (2, 3), "open", dict(cell="rnn", phase=True)),
    ("tfim", (3, 3), "open", dict(magnetisation=1)),  # every single flip leaves the sector
]


def _prefix_case(model_name, shape, boundary, kw):
    from physrnn.spins.lattices import heisenberg_square, tfim_square

    system = (tfim_square(*shape, h=2.0, boundary=boundary) if model_name == "tfim"
              else heisenberg_square(*shape, boundary=boundary,
                                     marshall_sign=not kw.get("marshall_sign", False)))
    model = RNNWavefunction2D(*shape, boundary=boundary, hidden_size=5, dtype=torch.float64,
                              seed=2, **kw)
    return system, model


@pytest.mark.parametrize("model_name, shape, boundary, kw", PREFIX_CASES)
def test_prefix_ratios_equal_scratch(model_name, shape, boundary, kw):
    """Prefix reuse gives the from-scratch ``log psi(s') - log psi(s)`` for every row,
    including the ``-inf`` of rows outside the U(1) sector, in several blocks."""
    from physrnn.vmc import ConnectedOperator
    from physrnn.wavefunctions.base import AutoregressiveWavefunction

    system, model = _prefix_case(model_name, shape, boundary, kw)
    s, cache = model.sample_with_cache(40, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(s, model.sample(40, generator=torch.Generator().manual_seed(1)))
    again = model.prefix_cache(s)  # teacher-forced: the same cache as the sampling pass
    torch.testing.assert_close(cache.hidden, again.hidden, rtol=0, atol=1e-12)
    torch.testing.assert_close(cache.log_p, again.log_p, rtol=0, atol=1e-12)
    assert (cache.phase is None) == (again.phase is None)
    if cache.phase is not None:
        torch.testing.assert_close(cache.phase, again.phase, rtol=0, atol=1e-12)
    elements = ConnectedOperator(system.operator).elements(s)
    fast = model.log_psi_ratios(s, elements, cache=cache, chunk_size=29)
    slow = AutoregressiveWavefunction.log_psi_ratios(model, s, elements)
    assert fast.dtype == slow.dtype and fast.shape == (len(elements),)
    finite = torch.isfinite(slow.real)
    assert torch.equal(torch.isfinite(fast.real), finite)
    assert bool((slow.real[~finite] == -math.inf).all())
    torch.testing.assert_close(fast[finite], slow[finite], rtol=0, atol=1e-12)
    if kw.get("magnetisation") == 1:
        assert not finite.any()


def test_prefix_local_energies_in_chunks_equal_scratch():
    """``local_energies`` with the sampled cache, split over several memory chunks."""
    from physrnn.vmc import ConnectedOperator, local_energies

    system, model = _prefix_case("heisenberg", (4, 4), "open", dict(magnetisation=0))
    op = ConnectedOperator(system.operator)
    s, cache = model.sample_with_cache(64, generator=torch.Generator().manual_seed(0))
    assert model.supports_prefix and model.cache_nbytes_per_sample() > 0
    fast = local_energies(model, op, s, cache=cache, method="prefix", max_memory=20_000)
    again = local_energies(model, op, s, method="prefix")  # cache built inside
    slow = local_energies(model, op, s, method="scratch")
    torch.testing.assert_close(fast, slow, rtol=0, atol=1e-10)
    torch.testing.assert_close(again, slow, rtol=0, atol=1e-10)
