"""Start a VMC run from the wavefunction of an earlier run: transfer to a larger system.

The recurrent wavefunctions have no parameter that depends on the number of sites: the cell
weights and the output heads of :class:`~physrnn.wavefunctions.RNNWavefunction1D` act the same
way at every site, and those of :class:`~physrnn.wavefunctions.RNNWavefunction2D` at every
lattice site. A model trained on a chain of 50 sites (or a 6x6 lattice) is therefore a
wavefunction of a chain of 100 (or a 10x10 lattice) as it stands, and usually a much better
start than random weights. ``[wavefunction] init_from = "runs/heis50"`` in a ``physrnn vmc``
config does this; from Python::

    from physrnn.vmc.transfer import load_initial_parameters
    info = load_initial_parameters(model, "runs/heis50")   # the run directory or its file

The file is read as data (:func:`physrnn.checkpoints.load_checkpoint`, never pickle); only the
wavefunction's parameters are taken, the optimiser, schedule and step count start afresh.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from physrnn.checkpoints import (
    CHECKPOINT_NAME,
    check_checkpoint_version,
    check_state_shapes,
    load_checkpoint,
)
from physrnn.errors import ConfigError, RecordError

__all__ = ["load_initial_parameters", "resolve_checkpoint"]

def resolve_checkpoint(path: str | Path, *, key: str = "wavefunction.init_from") -> Path:
    """The checkpoint file that ``path`` names: the file itself, or ``path/checkpoint.pt``.

    Raises:
        ConfigError: no such file or directory, or a directory without a checkpoint (the
            message names ``key``).
    """
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / CHECKPOINT_NAME
        if not p.is_file():
            raise ConfigError(f"key '{key}': {p.parent} holds no {CHECKPOINT_NAME} (is it the "
                              "output directory of a physrnn vmc run?)")
    elif not p.is_file():
        raise ConfigError(f"key '{key}': {p} does not exist (give the output directory of a "
                          f"physrnn vmc run or its {CHECKPOINT_NAME})")
    return p


def load_initial_parameters(model: torch.nn.Module, path: str | Path) -> dict[str, Any]:
    """Load the wavefunction parameters of an earlier VMC run into ``model``.

    The parameters' names and shapes must match: the same ``kind``, ``cell``,
    ``hidden_size``, ``n_layers``, ``phase`` and symmetrisation; the number of sites may
    differ. Values are cast to ``model``'s dtype (a float32 run can start a float64 one).

    Args:
        model: the wavefunction of the new run (modified in place).
        path: a run directory or its ``checkpoint.pt``.

    Returns:
        What was loaded: ``{"path", "step", "n_sites", "system"}`` of the source run (``None``
        where its checkpoint does not say).

    Raises:
        ConfigError: no such file (named by the key ``wavefunction.init_from``).
        RecordError: not a VMC checkpoint, or a wavefunction of another shape (the message
            names the parameters that differ).
        UnsafeFileError: a file that is not plain data.
    """
    p = resolve_checkpoint(path)
    state = load_checkpoint(p)
    check_checkpoint_version(state, p)
    driver = state.get("driver")
    if not isinstance(driver, dict) or not isinstance(driver.get("model"), dict):
        raise RecordError(f"{p}: not a VMC checkpoint (no wavefunction state; keys: "
                          f"{', '.join(sorted(map(str, state)))})")
    check_state_shapes(driver["model"], model, p, what="wavefunction")
    model.load_state_dict(driver["model"])
    system = (state.get("config") or {}).get("system") or {}
    step = driver.get("step_count")
    return {"path": str(p), "step": int(step) if isinstance(step, int) else None,
            "n_sites": system.get("n_sites"), "system": system.get("model")}
