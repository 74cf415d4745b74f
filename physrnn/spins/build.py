"""Build any spin-1/2 model of :mod:`physrnn.spins` by name, or from a ``SystemConfig``.

:data:`SYSTEMS` maps the chain model names to their builders; :func:`build_system` turns a
:class:`physrnn.vmc.config.SystemConfig` (``model``, ``lattice``, sizes and couplings) into a
:class:`~physrnn.spins.base.SpinSystem`, choosing between :mod:`physrnn.spins.chains` and
:mod:`physrnn.spins.lattices`.
"""

from __future__ import annotations

from typing import Any

from physrnn.errors import SystemDefinitionError
from physrnn.spins.base import SpinSystem
from physrnn.spins.chains import heisenberg_chain, tfim_chain, xxz_chain
from physrnn.spins.lattices import j1j2_chain, j1j2_square, tfim_square, xxz_square

__all__ = ["SYSTEMS", "build_system"]

#: Chain model name -> builder ``f(n_sites, **options) -> SpinSystem``.
SYSTEMS = {
    "tfim": tfim_chain,
    "heisenberg": heisenberg_chain,
    "xxz": xxz_chain,
}


def build_system(config: Any) -> SpinSystem:
    """Build the :class:`~physrnn.spins.base.SpinSystem` of a ``SystemConfig``.

    ``lattice = "chain"`` uses ``n_sites``; ``"square"`` the ``Lx x Ly`` lattice of
    :mod:`physrnn.spins.lattices`. ``J`` is ``J1`` of the ``j1j2`` model.

    Args:
        config: a :class:`physrnn.vmc.config.SystemConfig` (or any object with its fields).

    Raises:
        SystemDefinitionError: unknown model or lattice, or impossible sizes and options.
    """
    model, boundary = config.model, config.boundary
    if model not in ("tfim", "heisenberg", "xxz", "j1j2"):
        raise SystemDefinitionError(
            f"unknown model {model!r}; known: heisenberg, j1j2, tfim, xxz")
    delta = 1.0 if model == "heisenberg" else float(config.delta)
    if config.lattice == "square":
        lx, ly = config.Lx, config.Ly
        if model == "tfim":
            return tfim_square(lx, ly, h=config.h, J=config.J, boundary=boundary)
        if model == "j1j2":
            return j1j2_square(lx, ly, J2=config.J2, J1=config.J, boundary=boundary,
                               marshall_sign=config.marshall_sign)
        return xxz_square(lx, ly, delta=delta, J=config.J, boundary=boundary,
                          marshall_sign=config.marshall_sign)
    if config.lattice != "chain":
        raise SystemDefinitionError(
            f"unknown lattice {config.lattice!r}; choose 'chain' or 'square'")
    if model == "tfim":
        return tfim_chain(config.n_sites, h=config.h, J=config.J, boundary=boundary)
    if model == "j1j2":
        return j1j2_chain(config.n_sites, J2=config.J2, J1=config.J, boundary=boundary,
                          marshall_sign=config.marshall_sign)
    return xxz_chain(config.n_sites, delta=delta, J=config.J, boundary=boundary,
                     marshall_sign=config.marshall_sign)
