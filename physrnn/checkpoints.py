"""Checkpoints: plain data and tensors, written atomically, read without running code.

A checkpoint (``checkpoint.pt``, and the read-out file ``readout.pt``) is a ``torch.save`` file
of plain data only: dicts, lists, tuples, strings, numbers, bools, ``None`` and tensors (RNG
states are byte tensors, histories lists of numbers). It is read with
``torch.load(weights_only=True)``, which refuses anything else, so a crafted file (a pickle
whose ``__reduce__`` calls ``os.system``) is rejected before any of it runs. No safe global is
added. Checkpoints of the old format, which pickled arbitrary objects, are refused with the
command that converts a trusted one (:func:`convert_checkpoint`).
"""

from __future__ import annotations

import collections
import io
import pickle
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np

import physrnn
from physrnn.errors import ConfigError, RecordError, UnsafeFileError
from physrnn.io import atomic_path, provenance

__all__ = ["CHECKPOINT_NAME", "CHECKPOINT_FORMAT", "CHECKPOINT_SCHEMA_VERSION", "plain_state",
           "save_torch_file", "load_torch_file", "save_checkpoint", "load_checkpoint",
           "check_checkpoint_version", "check_state_shapes", "convert_checkpoint"]


#: The checkpoint file of a run, inside its output directory.
CHECKPOINT_NAME = "checkpoint.pt"
#: Format tag and schema version of ``checkpoint.pt``.
CHECKPOINT_FORMAT = "physrnn-checkpoint"
CHECKPOINT_SCHEMA_VERSION = 1


def plain_state(obj: Any, *, where: str = "state") -> Any:
    """``obj`` as plain data that ``torch.load(weights_only=True)`` reads back.

    Dicts (with string or integer keys), lists, tuples, strings, numbers, bools, ``None`` and
    tensors pass; numpy scalars become Python numbers and numpy arrays become tensors (so
    a float64 history stays float64).

    Raises:
        RecordError: a value of another type (named with its path, e.g. ``state.driver.x``).
    """
    import torch

    if isinstance(obj, np.generic):  # first: np.float64 is also a float
        return obj.item()
    if obj is None or isinstance(obj, bool | int | float | str | torch.Tensor | torch.Size):
        return obj
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj).copy())
    if isinstance(obj, torch.dtype):
        return obj
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str | int):
                raise RecordError(f"{where}: key {k!r} of type {type(k).__name__} cannot be "
                                  "stored safely")
            out[k] = plain_state(v, where=f"{where}.{k}")
        return collections.OrderedDict(out) if isinstance(obj, collections.OrderedDict) else out
    if isinstance(obj, list | tuple):
        items = [plain_state(v, where=f"{where}[{i}]") for i, v in enumerate(obj)]
        return items if isinstance(obj, list) else tuple(items)
    raise RecordError(f"{where}: a {type(obj).__module__}.{type(obj).__qualname__} cannot be "
                      "stored safely (store plain numbers, strings, lists, dicts and tensors)")


def save_torch_file(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plain data, :func:`plain_state`) with ``torch.save``, atomically.

    The bytes are built in memory first, so that a full disk surfaces as an
    :class:`physrnn.errors.OutputWriteError` of the final write, never as a torch error.
    """
    import torch

    data = plain_state(payload)
    buf = io.BytesIO()
    torch.save(data, buf)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getbuffer())
    return Path(path)


def load_torch_file(path: str | Path, *, what: str = "file") -> Any:
    """Read a ``torch.save`` file without running code (``weights_only=True``).

    Raises:
        RecordError: missing, corrupted or truncated file.
        UnsafeFileError: the file holds pickled objects beyond plain data and tensors (a
            checkpoint of another program, an old unsafe format, or a crafted file); nothing in
            it was run, and the message says how a trusted file is converted.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise RecordError(f"{path}: {what} not found")
    try:
        with warnings.catch_warnings():  # e.g. torch's note on a foreign pickle protocol
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "weights only" in text.lower() or "weights_only" in text.lower():
            culprit = _unsafe_culprit(text)
            raise UnsafeFileError(
                f"{path}: refused to load: the {what} holds Python objects that could run code"
                f"{' (' + culprit + ')' if culprit else ''}; nothing in it was executed. If "
                f"it is your own {what} from an older physrnn, convert it once with "
                f"'physrnn convert-checkpoint {path} --trust'") from None
        raise RecordError(f"{path}: {what} is unreadable (corrupted or truncated?): "
                          f"{_first_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a damaged file
        raise RecordError(f"{path}: {what} is unreadable (corrupted or truncated?): "
                          f"{type(exc).__name__}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _unsafe_culprit(text: str) -> str:
    m = re.search(r"(?:unsupported global: GLOBAL|unsupported GLOBAL) ([\w.]+)", text,
                  flags=re.IGNORECASE)
    if m:
        return f"it asks for {m.group(1)}"
    m = re.search(r"Unsupported operand (\S+)", text)
    if m:
        return f"unsupported pickle operation {m.group(1)}"
    return ""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Save a checkpoint (``torch.save`` of plain data and tensors) atomically.

    The payload carries :data:`CHECKPOINT_FORMAT`, the schema version and the provenance
    (package version, git revision); it is read back by :func:`load_checkpoint` without
    running code.

    Raises:
        RecordError: ``state`` holds an object that cannot be stored as plain data.
        OutputWriteError: the file cannot be written (the previous checkpoint is unchanged).
    """
    payload = {"format": CHECKPOINT_FORMAT, "schema_version": CHECKPOINT_SCHEMA_VERSION,
               **provenance(), **state}
    return save_torch_file(path, payload)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`, without running code.

    Raises:
        RecordError: missing, corrupted or foreign file, or a newer schema version.
        UnsafeFileError: the file holds pickled Python objects (see :func:`load_torch_file`).
    """
    path = Path(path)
    state = load_torch_file(path, what="checkpoint")
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise RecordError(f"{path}: not a physrnn checkpoint")
    version = state.get("schema_version")
    if version != CHECKPOINT_SCHEMA_VERSION:
        raise RecordError(f"{path}: checkpoint schema version {version!r}; this physrnn "
                          f"({physrnn.__version__}) reads version {CHECKPOINT_SCHEMA_VERSION}")
    return state


def check_checkpoint_version(state: dict[str, Any], path: str | Path) -> None:
    """Refuse to resume a checkpoint written by another physrnn version.

    A run resumes bit-identically only on the code that wrote it. The git revision is not
    compared (it changes with every commit of a development install); the package version is.

    Raises:
        RecordError: the versions differ (the message names both).
    """
    saved = str(state.get("physrnn_version", "unknown"))
    if saved != physrnn.__version__:
        rev = str(state.get("git_revision", "unknown"))[:12]
        raise RecordError(f"{path}: written by physrnn {saved} (git {rev}), this is physrnn "
                          f"{physrnn.__version__}; continue it with physrnn {saved}, or start "
                          "afresh with --overwrite")


def check_state_shapes(saved: dict[str, Any], model: Any, path: str | Path, *,
                       what: str = "model") -> None:
    """Check that a saved ``state_dict`` fits ``model`` (same names, same shapes).

    Raises:
        RecordError: one line naming the first differences (missing, unexpected, or
            ``name: (shape in file) vs (shape here)``).
    """
    import torch

    if not isinstance(saved, dict):
        raise RecordError(f"{path}: the {what} state is a {type(saved).__name__}, not a dict")
    mine = model.state_dict()
    diffs = []
    for k in mine:
        if k not in saved:
            diffs.append(f"{k} missing from the file")
        elif not isinstance(saved[k], torch.Tensor):
            diffs.append(f"{k} is not a tensor")
        elif tuple(saved[k].shape) != tuple(mine[k].shape):
            diffs.append(f"{k} has shape {tuple(saved[k].shape)} in the file and "
                         f"{tuple(mine[k].shape)} here")
    diffs += [f"{k} unexpected" for k in saved if k not in mine]
    if diffs:
        more = f" (and {len(diffs) - 3} more)" if len(diffs) > 3 else ""
        raise RecordError(f"{path}: the {what} in the file differs from the one the config "
                          f"builds: {'; '.join(diffs[:3])}{more}")


def convert_checkpoint(path: str | Path, *, trust: bool = False) -> Path:
    """Rewrite a trusted checkpoint of the old pickle format into the safe format.

    Loading the old file runs whatever code it holds, so this needs ``trust=True``: only for a
    file you wrote yourself or received from someone you trust. The original is kept as
    ``<name>.unsafe``; the converted checkpoint takes its place.

    Raises:
        ConfigError: ``trust`` was not given, or ``<name>.unsafe`` already exists.
        RecordError: the file is not a physrnn checkpoint even when loaded unsafely, or holds
            objects with no plain-data form.
    """
    import torch

    path = Path(path)
    if not trust:
        raise ConfigError(f"{path}: converting loads the file with full pickle, which runs any "
                          "code in it; pass --trust if you trust its source")
    backup = path.with_name(path.name + ".unsafe")
    if backup.exists():
        raise ConfigError(f"{backup} already exists; move it away first")
    if not path.is_file():
        raise RecordError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001
        raise RecordError(f"{path}: unreadable even as a full pickle: {_first_line(exc)}") \
            from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise RecordError(f"{path}: not a physrnn checkpoint")
    data = plain_state(state, where=path.name)
    shutil.copy2(path, backup)
    try:
        save_torch_file(path, data)
    except BaseException:
        backup.unlink()
        raise
    return path
