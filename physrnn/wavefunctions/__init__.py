"""Autoregressive wavefunctions ``psi(s) = prod_i p(s_i | s_<i)^(1/2) exp(i phi(s))``."""

from physrnn.wavefunctions.base import AutoregressiveWavefunction
from physrnn.wavefunctions.cells import RecurrentSteps
from physrnn.wavefunctions.layout import Layout, layout_from_graph, square_layout
from physrnn.wavefunctions.prefix import PrefixCache
from physrnn.wavefunctions.rnn1d import RNNWavefunction1D
from physrnn.wavefunctions.rnn2d import RNNWavefunction2D
from physrnn.wavefunctions.symmetrised import SymmetrisedWavefunction

__all__ = ["AutoregressiveWavefunction", "Layout", "PrefixCache", "RNNWavefunction1D",
           "RNNWavefunction2D", "RecurrentSteps", "SymmetrisedWavefunction",
           "layout_from_graph", "square_layout"]
