"""Square-lattice and J1-J2 systems against exact and published energies."""

from __future__ import annotations

import numpy as np
import pytest

from physrnn.baselines.quantum.exact import exact_ground_state_energy
from physrnn.errors import SystemDefinitionError
from physrnn.spins.lattices import heisenberg_square, j1j2_chain, j1j2_square, tfim_square


def test_majumdar_ghosh_open_chain_is_exact():
    """J2 = J1/2, open, even N: E0 = -3 N / 8 exactly (Majumdar-Ghosh)."""
    for n in (8,):
        for marshall in (False, True):
            e0 = exact_ground_state_energy(j1j2_chain(n, J2=0.5, marshall_sign=marshall).operator)
            assert e0 == pytest.approx(-3 * n / 8, abs=1e-10)


def test_heisenberg_square_4x4_open_matches_the_published_ed_value():
    """REFERENCES.md: Heisenberg 4x4 OBC, -0.5743254416 per site (ED)."""
    e0 = exact_ground_state_energy(heisenberg_square(4).operator)
    assert e0 / 16 == pytest.approx(-0.5743254416, abs=1e-9)


def test_tfim_square_4x4_h3_open_matches_the_published_ed_value():
    """REFERENCES.md: TFIM 4x4 OBC h = 3, -50.1866238828 (ED)."""
    assert exact_ground_state_energy(tfim_square(4, h=3.0).operator) == pytest.approx(
        -50.1866238828, abs=1e-8)


def test_marshall_rotation_keeps_the_spectrum_and_makes_h_stoquastic():
    for lx, ly, boundary in ((2, 3, "open"), (3, 3, "open")):
        rot = heisenberg_square(lx, ly, boundary=boundary).operator.to_dense()
        plain = heisenberg_square(lx, ly, boundary=boundary, marshall_sign=False).operator
        np.testing.assert_allclose(np.linalg.eigvalsh(rot),
                                   np.linalg.eigvalsh(plain.to_dense()), atol=1e-10)
        off = rot - np.diag(np.diag(rot))
        assert off.max() <= 1e-12   # non-positive off-diagonal: a positive ground state


def test_j1j2_square_bonds_and_frustration():
    sq = j1j2_square(3, 3, J2=0.5)
    # 12 nearest-neighbour and 8 diagonal bonds on the open 3x3 lattice
    colors = np.asarray([c for *_, c in sq.graph.edges(return_color=True)])
    assert (colors == 0).sum() == 12 and (colors == 1).sum() == 8
    # J2 = 0 reduces to the Heisenberg model
    np.testing.assert_allclose(j1j2_square(2, 3, J2=0.0).operator.to_dense(),
                               heisenberg_square(2, 3, marshall_sign=False).operator.to_dense())


def test_bad_lattices_are_named():
    with pytest.raises(SystemDefinitionError, match="Lx must be >= 2"):
        tfim_square(1, 3)
    with pytest.raises(SystemDefinitionError, match="bipartite"):
        heisenberg_square(3, 4, boundary="periodic")
    with pytest.raises(SystemDefinitionError, match="boundary"):
        j1j2_square(3, 3, boundary="twisted")
    with pytest.raises(SystemDefinitionError, match="n_sites >= 5"):
        j1j2_chain(4, boundary="periodic")
