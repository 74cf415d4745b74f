"""Autoregressive wavefunctions ``psi(s) = prod_i p(s_i | s_<i)^(1/2) exp(i phi(s))``."""

from physrnn.wavefunctions.base import AutoregressiveWavefunction
from physrnn.wavefunctions.cells import RecurrentSteps
from physrnn.wavefunctions.prefix import PrefixCache
from physrnn.wavefunctions.rnn1d import RNNWavefunction1D

__all__ = ["AutoregressiveWavefunction", "PrefixCache", "RNNWavefunction1D", "RecurrentSteps"]
