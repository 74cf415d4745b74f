"""Where a run executes: device resolution (and, as it grows, torch.distributed helpers).

Every entry point resolves ``"auto"`` once, here, so the VMC driver, the training loop and the
jobs agree on what a device name means.
"""

from __future__ import annotations

import torch

from physrnn.errors import ConfigError

__all__ = ["resolve_device"]


def resolve_device(name: str | torch.device) -> torch.device:
    """Resolve ``"auto"`` to CUDA when available, else CPU; check explicit CUDA requests.

    Raises:
        ConfigError: a CUDA device is asked for but none is available.
    """
    if isinstance(name, torch.device):
        name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"run.device = {name!r} but no CUDA device is available")
    return torch.device(name)
