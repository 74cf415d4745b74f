"""Wavefunction, optimiser and VMC driver of a run config (every config key, 1D and 2D).

:func:`build_vmc` is what a ``physrnn vmc`` run uses; for a 1D config with the default
``[vmc]`` settings it builds exactly the model, optimiser and driver of the original 1D builder
(same constructors, arguments and seeds, so the same numbers)::

    from physrnn.spins import build_system
    from physrnn.vmc.config import load_vmc_config
    from physrnn.vmc.factory import build_vmc

    config = load_vmc_config("examples/heisenberg_square_4x4.toml")
    driver = build_vmc(config, build_system(config.system), torch.device("cpu"))
    driver.run(config.vmc.n_steps)

What each key selects:

* ``wavefunction.kind``: :class:`~physrnn.wavefunctions.RNNWavefunction1D` (any lattice, netket
  site order) or :class:`~physrnn.wavefunctions.RNNWavefunction2D` (square lattices, with
  ``magnetisation``, ``marshall_sign`` and the ``tensor_gru`` cell);
* ``wavefunction.symmetry`` / ``spin_flip``: wrap it in a
  :class:`~physrnn.wavefunctions.SymmetrisedWavefunction` over the group of
  :mod:`physrnn.wavefunctions.groups` with the characters of ``irrep`` and ``flip_character``;
* ``vmc.optimizer``: Adam or SGD with the ``lr_schedule``;
* ``vmc.sr``: a :class:`~physrnn.vmc.sr.SRStep` (the optimiser applies the SR direction);
* ``vmc.annealing``: an :class:`~physrnn.vmc.annealing.AnnealingSchedule`.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import torch

from physrnn.errors import ConfigError
from physrnn.optim import make_optimizer
from physrnn.spins.chains import SpinSystem
from physrnn.vmc.annealing import AnnealingSchedule
from physrnn.vmc.driver import VMC
from physrnn.vmc.precision import PrecisionSwitch
from physrnn.vmc.sr import SRStep
from physrnn.wavefunctions import (
    AutoregressiveWavefunction,
    RNNWavefunction1D,
    RNNWavefunction2D,
    SymmetrisedWavefunction,
)
from physrnn.wavefunctions import groups as _groups
from physrnn.wavefunctions.symmetry import up_local_index

__all__ = ["build_wavefunction", "build_optimizer", "build_sr", "build_annealing", "build_vmc"]

log = logging.getLogger(__name__)


def _group(config: Any, n_sites: int) -> _groups.PermutationGroup | None:
    """The lattice group named by ``wavefunction.symmetry`` (``None`` for ``"none"``)."""
    name, sc = config.wavefunction.symmetry, config.system
    if name == "none":
        return None
    if name == "translations":
        if sc.lattice == "chain":
            return _groups.chain_translations(n_sites)
        return _groups.square_translations(sc.Lx, sc.Ly)
    if sc.lattice != "square":
        raise ConfigError(f"key 'wavefunction.symmetry': {name!r} needs system.lattice = "
                          "'square'")
    if name == "point":
        return _groups.square_point_group(sc.Lx, sc.Ly)
    return _groups.square_space_group(sc.Lx, sc.Ly)


def _characters(config: Any, group: _groups.PermutationGroup | None) -> Any:
    """Characters of ``wavefunction.irrep`` (point/space) or ``momentum`` (translations)."""
    wf, sc = config.wavefunction, config.system
    if wf.symmetry in ("point", "space"):
        return wf.irrep
    if wf.momentum is None or group is None:
        return None
    extents = [sc.n_sites] if sc.lattice == "chain" else [sc.Lx, sc.Ly]
    k = [2 * math.pi * m / n for m, n in zip(wf.momentum, extents, strict=True)]
    return _groups.translation_characters(group, k)


def build_wavefunction(
    config: Any, system: SpinSystem, *, device: torch.device | str = "cpu"
) -> AutoregressiveWavefunction:
    """The wavefunction of ``config.wavefunction`` for ``system``, on ``device``.

    Args:
        config: a :class:`~physrnn.vmc.config.VMCRunConfig` (its ``system`` section describes
            ``system``; ``run.seed`` seeds the parameters).
        system: the :class:`~physrnn.spins.chains.SpinSystem` (``N`` sites).
        device: torch device of the parameters.

    Returns:
        An :class:`~physrnn.wavefunctions.AutoregressiveWavefunction` on ``N`` sites: the RNN,
        or a :class:`~physrnn.wavefunctions.SymmetrisedWavefunction` around it.

    Raises:
        ConfigError: a setting the system cannot take (named by its key).
    """
    wf, sc = config.wavefunction, config.system
    dtype = getattr(torch, wf.dtype)
    n = system.n_sites
    try:
        if wf.kind == "rnn1d":
            model: AutoregressiveWavefunction = RNNWavefunction1D(
                n, hidden_size=wf.hidden_size, n_layers=wf.n_layers, cell=wf.cell,
                phase=wf.phase, dtype=dtype, seed=config.run.seed)
        elif wf.kind == "rnn2d":
            if sc.lattice != "square" or sc.Lx * sc.Ly != n:
                raise ConfigError(f"key 'wavefunction.kind': 'rnn2d' needs a square lattice "
                                  f"of Lx * Ly = N sites (system has N = {n})")
            model = RNNWavefunction2D(
                sc.Lx, sc.Ly, hidden_size=wf.hidden_size, cell=wf.cell, boundary=sc.boundary,
                phase=wf.phase, marshall_sign=wf.marshall_sign, magnetisation=wf.magnetisation,
                up_index=up_local_index(system.hilbert), dtype=dtype, seed=config.run.seed)
        else:
            raise ConfigError(f"key 'wavefunction.kind': unknown kind {wf.kind!r}; choose "
                              "'rnn1d' or 'rnn2d'")
        group = _group(config, n)
        if group is not None or wf.spin_flip:
            chars = _characters(config, group)
            model = SymmetrisedWavefunction(model, group, characters=chars,
                                            spin_flip=wf.spin_flip,
                                            flip_character=wf.flip_character)
    except ValueError as exc:
        raise ConfigError(f"[wavefunction]: {exc}") from None
    return model.to(device)


def build_optimizer(
    model: torch.nn.Module, v: Any
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """Optimiser and learning-rate schedule of the ``[vmc]`` section ``v``.

    ``"adam"`` is :func:`~physrnn.optim.make_optimizer`; ``"sgd"`` is plain
    ``torch.optim.SGD`` (no momentum) with the same schedule, which with ``sr`` makes each step
    an imaginary-time step of size ``lr``.
    """
    try:
        return make_optimizer(model, lr=v.lr, schedule=v.lr_schedule, n_steps=v.n_steps,
                              lr_final=v.lr_final, optimizer=v.optimizer)
    except ValueError as exc:
        raise ConfigError(f"[vmc]: {exc}") from None


def build_sr(v: Any) -> SRStep | None:
    """The :class:`~physrnn.vmc.sr.SRStep` of the ``[vmc]`` section (``None``: no SR)."""
    if v.sr == "none":
        return None
    return SRStep(diag_shift=v.sr_shift, diag_shift_rel=v.sr_shift_rel, mode=v.sr,
                  solver=v.sr_solver, max_norm=v.sr_max_norm or None)


def build_annealing(v: Any) -> AnnealingSchedule | None:
    """The temperature schedule of the ``[vmc]`` section, ``None`` for ``annealing = "none"``.

    ``T`` is ``T0`` for ``annealing_warmup`` steps, then falls to 0 over ``annealing_steps``.
    """
    if v.annealing == "none":
        return None
    return AnnealingSchedule(T0=v.T0, n_warmup=v.annealing_warmup, n_anneal=v.annealing_steps,
                             kind=v.annealing)


def build_vmc(config: Any, system: SpinSystem, device: torch.device) -> VMC:
    """Wavefunction, optimiser, schedule and driver for ``config`` on ``device``.

    What ``physrnn vmc`` builds (:mod:`physrnn.runs.vmc` imports it); for a 1D config without
    SR or annealing it is the plain Adam driver of the 1D wavefunction.

    Raises:
        ConfigError: a setting the system cannot take (named by its key).
    """
    model = build_wavefunction(config, system, device=device)
    if system.operator.dtype is not None and "complex" in str(system.operator.dtype) \
            and not model.is_complex:
        log.warning("the operator is complex but wavefunction.phase = false")
    v = config.vmc
    opt, sched = build_optimizer(model, v)
    return VMC(system.operator, model, n_samples=v.n_samples, optimizer=opt, scheduler=sched,
               seed=config.run.seed, chunk_size=v.chunk_size, e_inf=system.e_inf,
               sr=build_sr(v), annealing=build_annealing(v), deterministic=v.deterministic,
               blocks=v.blocks or None,
               precision=PrecisionSwitch(at_step=v.float64_from, rel_spread=v.float64_below))
