"""U(1) masking helpers, symmetry groups, and the symmetrised wavefunction: covariance under
every group element, exact normalisation and exact sampling."""

from __future__ import annotations

import math

import netket as nk
import numpy as np
import pytest
import torch
from scipy import stats

from physrnn.wavefunctions import groups as G
from physrnn.wavefunctions.rnn2d import RNNWavefunction2D
from physrnn.wavefunctions.symmetrised import SymmetrisedWavefunction
from physrnn.wavefunctions.symmetry import (
    magnetisation_from_hilbert,
    marshall_phase_table,
    masked_log_softmax,
    n_up_for_magnetisation,
    u1_allowed,
    up_local_index,
)

F64 = torch.float64


def _rows(a) -> list[tuple[int, ...]]:
    return sorted(map(tuple, np.asarray(a).tolist()))


def _codes(s: torch.Tensor) -> np.ndarray:
    return (s * (2 ** torch.arange(s.shape[1] - 1, -1, -1))).sum(-1).numpy()


def _check_covariant(sym: SymmetrisedWavefunction) -> torch.Tensor:
    """psi_sym(g s) = chi(g) psi_sym(s) for every element g and every configuration s."""
    s = sym.all_configurations()
    psi = torch.exp(sym.log_psi(s).detach().to(torch.complex128))
    moved = sym.transform(s)
    for g in range(sym.n_elements):
        psi_g = torch.exp(sym.log_psi(moved[:, g]).detach().to(torch.complex128))
        torch.testing.assert_close(psi_g, sym._chars[g] * psi, rtol=0, atol=1e-12)
    return psi


# ---------------------------------------------------------------------- U(1) helpers
def test_up_index_and_magnetisation_from_netket():
    assert up_local_index(nk.hilbert.Spin(0.5, 4)) == 0
    assert magnetisation_from_hilbert(nk.hilbert.Spin(0.5, 4)) is None
    assert magnetisation_from_hilbert(nk.hilbert.Spin(0.5, 4, total_sz=1)) == 2
    assert magnetisation_from_hilbert(nk.hilbert.Spin(0.5, 5, total_sz=-0.5)) == -1
    with pytest.raises(ValueError, match="local_states"):
        up_local_index(nk.hilbert.Fock(2, N=3))
    assert n_up_for_magnetisation(6, 0) == 3 and n_up_for_magnetisation(5, -3) == 1
    for bad in (7, 1, -8):
        with pytest.raises(ValueError, match="impossible"):
            n_up_for_magnetisation(6, bad)


def test_u1_allowed_and_masked_softmax_without_nans():
    c = torch.tensor([0, 1, 2, 3, 2])
    allowed = u1_allowed(c, 2, n_up=2, up_index=0)  # two sites left, target two ups
    # c=0: must take up; c=1: either; c=2: must take down; c=3: out of the sector
    assert allowed.tolist() == [[True, False], [True, True], [False, True], [False, False],
                                [False, True]]
    logits = torch.randn(5, 2, dtype=F64, generator=torch.Generator().manual_seed(0),
                         requires_grad=True)
    lp = masked_log_softmax(logits, allowed)
    assert torch.isneginf(lp[~allowed]).all() and not torch.isnan(lp).any()
    some = allowed.any(-1)
    torch.testing.assert_close(lp[some].exp().sum(-1), torch.ones(4, dtype=F64))
    lp[allowed].sum().backward()
    assert torch.isfinite(logits.grad).all()


def test_marshall_phase_table():
    table = marshall_phase_table(np.array([0, 1, 1, 0]), np.array([3, 2, 1, 0]), up_index=0)
    assert table.tolist() == [[0, 0], [0, math.pi], [0, math.pi], [0, 0]]
    with pytest.raises(ValueError, match="bipartite"):
        marshall_phase_table(None, np.arange(3))


# ---------------------------------------------------------------------- groups
def test_groups_match_netket():
    sq = nk.graph.Square(3, pbc=True)
    assert np.array_equal(G.square_translations(3, 3).perms, sq.translation_group().to_array())
    assert _rows(G.square_space_group(3, 3).perms) == _rows(sq.space_group().to_array())
    assert _rows(G.square_space_group(3, 3).perms) == _rows(sq.automorphisms().to_array())
    grid = nk.graph.Grid([3, 4], pbc=False)
    assert _rows(G.square_point_group(3, 4).perms) == _rows(grid.point_group().to_array())
    assert _rows(G.square_point_group(3, 3).perms) == _rows(
        nk.graph.Grid([3, 3], pbc=False).point_group().to_array())
    chain = nk.graph.Chain(6, pbc=True)
    assert np.array_equal(G.chain_translations(6).perms, chain.translation_group().to_array())
    assert len(G.from_netket(sq.space_group())) == 72


def test_product_table_and_errors():
    t = G.square_translations(2, 3)
    table = G.product_table(t.perms)
    assert sorted(table[0].tolist()) == list(range(6))
    with pytest.raises(ValueError, match="closed"):
        G.product_table(t.perms[:4])
    with pytest.raises(ValueError, match="permutation"):
        G.product_table(np.array([[0, 0, 1]]))
    with pytest.raises(ValueError, match="twice"):
        G.product_table(np.stack([t.perms[0], t.perms[0]]))
    with pytest.raises(ValueError, match="irrep"):
        G.point_group_characters(G.square_point_group(3, 3), "E")
    assert len(G.square_space_group(2, 3)) == 12  # Refl(y) acts as a translation when Lx = 2
    c2v = G.square_point_group(2, 3)
    assert c2v.names == ("Id", "Rot(180)", "Refl(x)", "Refl(y)")
    assert G.point_group_characters(c2v, "B1").tolist() == [1, -1, 1, -1]
    assert G.point_group_characters(c2v, "B2").tolist() == [1, -1, -1, 1]
    assert G.point_group_characters(c2v, "A2").tolist() == [1, 1, -1, -1]


@pytest.mark.parametrize("Lx, Ly", [(3, 3), (3, 4), (4, 4)])
def test_named_characters_are_representations(Lx, Ly):
    assert len(G.square_space_group(Lx, Ly)) == Lx * Ly * (8 if Lx == Ly else 4)
    for grp in (G.square_point_group(Lx, Ly), G.square_space_group(Lx, Ly)):
        table = G.product_table(grp.perms)
        for irrep in ("A1", "A2", "B1", "B2"):
            chi = G.point_group_characters(grp, irrep)
            np.testing.assert_array_equal(chi[table], chi[:, None] * chi[None, :])


# ---------------------------------------------------------------------- symmetrised model
@pytest.mark.parametrize("irrep", ["A1", "A2", "B1", "B2"])
def test_c4v_covariance(irrep):
    model = RNNWavefunction2D(3, 3, phase=True, hidden_size=5, dtype=F64, seed=1)
    sym = SymmetrisedWavefunction(model, G.square_point_group(3, 3), characters=irrep)
    psi = _check_covariant(sym)
    norm = float((psi.abs() ** 2).sum())
    s = sym.all_configurations()
    p_sym = torch.logsumexp(2 * model.log_psi(sym.transform(s).reshape(-1, 9)).real
                            .reshape(512, 8), 1).exp().detach() / 8
    forbidden = sym.forbidden(s)
    assert abs(norm - (1.0 - float(p_sym[forbidden].sum()))) < 1e-12
    assert (irrep == "A1") == (not forbidden.any())
    if irrep == "A1":
        assert abs(norm - 1.0) < 1e-12


def test_translations_with_momentum_spin_flip_and_u1():
    """Periodic 1 x 6 chain (translations, k = 2 pi / 3), spin flip (odd), sector M = 0."""
    model = RNNWavefunction2D(1, 6, boundary="periodic", magnetisation=0, hidden_size=5,
                              dtype=F64, seed=2)
    group = G.chain_translations(6)
    chars = G.translation_characters(group, [2 * math.pi / 3])
    sym = SymmetrisedWavefunction(model, group, characters=chars, spin_flip=True,
                                  flip_character=-1)
    assert sym.is_complex and sym.n_elements == 12
    psi = _check_covariant(sym)
    s = sym.all_configurations()
    outside = (s == 0).sum(1) != 3
    assert (psi[outside] == 0).all()


def test_positive_trivial_symmetrisation_is_real_and_normalised():
    model = RNNWavefunction2D(2, 3, boundary="periodic", magnetisation=0, hidden_size=5,
                              dtype=F64, seed=3)
    group = G.square_translations(2, 3)  # periodic along y (length 3); x has length 2
    sym = SymmetrisedWavefunction(model, group, spin_flip=True)
    assert not sym.is_complex
    lp = sym.log_psi(sym.all_configurations())
    assert not lp.is_complex()
    assert abs(float(lp.detach().exp().pow(2).sum()) - 1.0) < 1e-12
    _check_covariant(sym)


def test_netket_characters_and_groups_are_accepted():
    """netket's own group and character table give a covariant state (same convention)."""
    graph = nk.graph.Grid([3, 3], pbc=False)
    pg = graph.point_group()
    table = np.asarray(pg.character_table())
    one_dim = [row for row in table if np.isclose(row[0], 1.0)]
    model = RNNWavefunction2D.from_graph(graph, hidden_size=4, phase=True, dtype=F64, seed=4)
    for row in one_dim:
        _check_covariant(SymmetrisedWavefunction(model, pg, characters=row))


def _sharpen(model):
    with torch.no_grad():
        model.amplitude_head.weight.mul_(4.0)
        model.amplitude_head.bias.normal_(0.0, 1.0, generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("characters", [None, "B1"])
def test_symmetrised_sampling_matches_distribution(characters):
    model = RNNWavefunction2D(2, 3, hidden_size=8, dtype=F64, seed=11)
    _sharpen(model)
    sym = SymmetrisedWavefunction(model, G.square_point_group(2, 3), characters=characters,
                                  spin_flip=True)
    configs = sym.all_configurations()
    assert bool(sym.forbidden(configs).any()) == (characters is not None)
    probs = sym.log_prob(configs).detach().exp().numpy()
    probs = probs / probs.sum()  # the norm is below 1 with forbidden configurations
    state = torch.random.get_rng_state()
    s = sym.sample(80_000, generator=torch.Generator().manual_seed(5))
    assert torch.equal(state, torch.random.get_rng_state())
    assert s.shape == (80_000, 6)
    counts = np.bincount(_codes(s), minlength=64)
    support = probs > 0
    assert counts[~support].sum() == 0
    assert stats.chisquare(counts[support], probs[support] * counts.sum()).pvalue > 1e-3
    # power: the unsymmetrised distribution is rejected
    raw = model.log_prob(sym.all_configurations()).detach().exp().numpy()[support]
    assert stats.chisquare(counts[support], raw / raw.sum() * counts.sum()).pvalue < 1e-3
    a = sym.sample(100, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, sym.sample(100, generator=torch.Generator().manual_seed(6)))


def test_gradients_finite_and_local_energies_exact():
    """Gradients through log_psi of samples, and local energies through the VMC helper."""
    from physrnn.vmc.estimators import local_energies

    graph = nk.graph.Grid([2, 3], pbc=False)
    model = RNNWavefunction2D(2, 3, phase=True, magnetisation=0, hidden_size=4, dtype=F64)
    sym = SymmetrisedWavefunction(model, G.square_point_group(2, 3), characters="A2",
                                  spin_flip=True)
    s = sym.sample(64, generator=torch.Generator().manual_seed(0))
    sym.log_psi(s).real.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    op = nk.operator.Heisenberg(nk.hilbert.Spin(0.5, 6), graph)
    e_loc = local_energies(sym, op, s, method="scratch")
    psi = sym.psi_vector().numpy()
    h_psi = op.to_sparse() @ psi
    idx = _codes(s)
    np.testing.assert_allclose(e_loc.numpy(), h_psi[idx] / psi[idx], rtol=1e-9, atol=1e-9)


def test_symmetrised_errors():
    model = RNNWavefunction2D(2, 3, hidden_size=3, dtype=F64)
    assert len(G.square_space_group(2, 3)) == 12  # Refl(y) acts as a translation when Lx = 2
    c2v = G.square_point_group(2, 3)
    with pytest.raises(NotImplementedError, match="not autoregressive"):
        SymmetrisedWavefunction(model, c2v).log_conditionals(model.all_configurations())
    with pytest.raises(ValueError, match="closed"):
        SymmetrisedWavefunction(model, c2v.perms[:3])
    with pytest.raises(ValueError, match="representation"):
        SymmetrisedWavefunction(model, c2v, characters=[1, -1, -1, -1])
    with pytest.raises(ValueError, match="ambiguous"):
        SymmetrisedWavefunction(model, c2v, characters=-1)
    with pytest.raises(ValueError, match="one per group element"):
        SymmetrisedWavefunction(model, c2v, characters=[1, 1])
    with pytest.raises(ValueError, match="modulus"):
        SymmetrisedWavefunction(model, c2v, characters=[2, 2, 2, 2])
    with pytest.raises(ValueError, match="flip_character"):
        SymmetrisedWavefunction(model, c2v, spin_flip=True, flip_character=0)
    with pytest.raises(ValueError, match="sites"):
        SymmetrisedWavefunction(model, G.square_point_group(3, 3))
    with pytest.raises(ValueError, match="M = 0"):
        SymmetrisedWavefunction(RNNWavefunction2D(2, 3, magnetisation=2), spin_flip=True)
    with pytest.raises(ValueError, match="shape"):
        SymmetrisedWavefunction(model).log_psi(torch.zeros(2, 5, dtype=torch.long))
