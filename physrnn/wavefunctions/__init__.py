"""Autoregressive wavefunctions ``psi(s) = prod_i p(s_i | s_<i)^(1/2) exp(i phi(s))``.

The recurrent models (:class:`RNNWavefunction1D`, :class:`RNNWavefunction2D`), their
symmetrisation over a lattice group with a chosen irrep (:class:`SymmetrisedWavefunction`;
groups and characters from :mod:`physrnn.wavefunctions.groups`, re-exported here), the
site orderings of 2D lattices (:class:`Layout`) and the U(1) / Marshall-sign helpers.
"""

from physrnn.wavefunctions.base import MAX_ENUMERATION_SITES, AutoregressiveWavefunction
from physrnn.wavefunctions.cells import RecurrentSteps
from physrnn.wavefunctions.groups import (
    PermutationGroup,
    chain_translations,
    from_netket,
    point_group_characters,
    square_point_group,
    square_space_group,
    square_translations,
    translation_characters,
)
from physrnn.wavefunctions.layout import Layout, layout_from_graph, square_layout
from physrnn.wavefunctions.prefix import PrefixCache
from physrnn.wavefunctions.rnn1d import RNNWavefunction1D
from physrnn.wavefunctions.rnn2d import RNNWavefunction2D
from physrnn.wavefunctions.symmetrised import SymmetrisedWavefunction

__all__ = ["AutoregressiveWavefunction", "Layout", "PrefixCache", "RNNWavefunction1D",
           "RNNWavefunction2D", "RecurrentSteps", "SymmetrisedWavefunction",
           "layout_from_graph", "square_layout", "MAX_ENUMERATION_SITES",
           "PermutationGroup", "chain_translations", "square_translations",
           "square_point_group", "square_space_group", "from_netket",
           "point_group_characters", "translation_characters"]
