"""Collectives over the running process group: reductions, broadcasts, gathers, a barrier.

Each is a cheap no-op without a process group (reductions return a copy of their input), and a
collective that fails because another rank died or timed out raises :class:`DistributedError`
with a one-line message naming this rank.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist

from physrnn.distributed.group import (
    DistributedError,
    first_line,
    get_rank,
    get_world_size,
    is_distributed,
    is_main,
)
from physrnn.errors import PhysrnnError

__all__ = [
    "all_gather_cat",
    "all_reduce_max",
    "all_reduce_mean",
    "all_reduce_sum",
    "any_rank",
    "barrier",
    "broadcast_object",
    "broadcast_tensors",
    "run_on_main",
]

T = TypeVar("T")


def _collective(what: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except (RuntimeError, ValueError) as exc:
        if isinstance(exc, PhysrnnError):
            raise
        raise DistributedError(
            f"rank {get_rank()} of {get_world_size()}: {what} failed (another rank died, "
            f"exited early or timed out): {first_line(exc)}") from None


def _comm_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _reduce(value: Any, op: Any, what: str, mean: bool) -> Any:
    """Shared body of the reductions: tensors, numbers and flat dicts of numbers/tensors."""
    if isinstance(value, Mapping):
        keys = list(value)
        if all(not isinstance(value[k], torch.Tensor) for k in keys):
            flat = torch.tensor([float(value[k]) for k in keys], dtype=torch.float64)
            out = _reduce(flat, op, what, mean)
            return {k: float(out[i]) for i, k in enumerate(keys)}
        return {k: _reduce(value[k], op, what, mean) for k in keys}
    if isinstance(value, torch.Tensor):
        t = value.detach()
        if mean and not (t.is_floating_point() or t.is_complex()):
            t = t.to(torch.float64)
        if not is_distributed():
            return t.clone()
        device = t.device
        buf = t.to(_comm_device(), copy=True)
        _collective(what, lambda: dist.all_reduce(buf, op=op))
        if mean:
            buf /= get_world_size()
        return buf.to(device)
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise TypeError(f"{what}: expected a tensor, a number or a dict of them, got "
                        f"{type(value).__name__}")
    if not is_distributed():
        return float(value) if mean else value
    out = float(_reduce(torch.tensor(float(value), dtype=torch.float64), op, what, mean))
    if not mean and isinstance(value, int | np.integer) and math.isfinite(out):
        return int(round(out))
    return out


def all_reduce_sum(value: Any) -> Any:
    """Sum over ranks of a tensor, a number or a flat dict of them (float64 for numbers).

    Returns a new object (the input is not modified); without a process group, a copy.

    Raises:
        DistributedError: another rank died or the collective timed out.
    """
    return _reduce(value, dist.ReduceOp.SUM, "all_reduce_sum", mean=False)


def all_reduce_mean(value: Any) -> Any:
    """Mean over ranks of a tensor, a number or a flat dict of them (float64 for numbers).

    Every rank must pass the same keys in the same order (dicts are packed into one tensor).
    """
    return _reduce(value, dist.ReduceOp.SUM, "all_reduce_mean", mean=True)


def all_reduce_max(value: Any) -> Any:
    """Maximum over ranks of a tensor, a number or a flat dict of them."""
    return _reduce(value, dist.ReduceOp.MAX, "all_reduce_max", mean=False)


def any_rank(flag: bool) -> bool:
    """True on every rank if ``flag`` is true on any rank (e.g. a preemption signal)."""
    if not is_distributed():
        return bool(flag)
    return bool(all_reduce_max(torch.tensor(1.0 if flag else 0.0)).item() > 0)


def broadcast_object(obj: T, *, src: int = 0) -> T:
    """``obj`` of rank ``src`` on every rank (picklable objects; a copy-free no-op alone)."""
    if not is_distributed():
        return obj
    box = [obj]
    _collective("broadcast_object", lambda: dist.broadcast_object_list(box, src=src))
    return box[0]


def barrier() -> None:
    """Wait until every rank arrives (no-op without a process group).

    Raises:
        DistributedError: a rank died or the wait exceeded the process group's timeout.
    """
    if not is_distributed():
        return
    if dist.get_backend() == "nccl":
        _collective("barrier", lambda: dist.barrier(device_ids=[torch.cuda.current_device()]))
    else:
        _collective("barrier", dist.barrier)


def all_gather_cat(tensor: torch.Tensor) -> torch.Tensor:
    """Every rank's ``tensor`` concatenated along dim 0 in rank order, on every rank.

    The ranks may pass different lengths along dim 0 (the other dims and the dtype must agree);
    the result is on ``tensor``'s device. Without a process group, a copy.

    Args:
        tensor: ``(n_r, ...)`` on rank ``r``.

    Returns:
        ``(sum_r n_r, ...)``, rank 0's rows first.

    Raises:
        DistributedError: another rank died or the collective timed out.
    """
    t = tensor.detach()
    if not is_distributed():
        return t.clone()
    if t.is_complex():  # gathered as (..., 2) real pairs
        return torch.view_as_complex(all_gather_cat(torch.view_as_real(t)).contiguous())
    world, device = get_world_size(), t.device
    comm = _comm_device()
    size = torch.tensor([t.shape[0]], dtype=torch.int64, device=comm)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    _collective("all_gather_cat", lambda: dist.all_gather(sizes, size))
    counts = [int(c.item()) for c in sizes]
    longest = max(counts)
    buf = torch.zeros((longest, *t.shape[1:]), dtype=t.dtype, device=comm)
    buf[: t.shape[0]] = t
    parts = [torch.empty_like(buf) for _ in range(world)]
    _collective("all_gather_cat", lambda: dist.all_gather(parts, buf))
    return torch.cat([part[:c] for part, c in zip(parts, counts, strict=True)]).to(device)


def broadcast_tensors(tensors: list[torch.Tensor], *, src: int = 0) -> None:
    """Overwrite ``tensors`` in place with rank ``src``'s values (no-op without a group).

    Every rank passes tensors of the same shapes and dtypes in the same order (e.g. a model's
    parameters, to start every rank from rank 0's initialisation).
    """
    if not is_distributed():
        return
    comm = _comm_device()
    with torch.no_grad():
        for t in tensors:
            buf = t.detach().to(comm, copy=True).contiguous()
            _collective("broadcast_tensors", lambda b=buf: dist.broadcast(b, src=src))
            t.copy_(buf.to(t.device))


def run_on_main(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn`` on rank 0 only and give every rank its result (or raise its error there).

    For steps that touch the file system (preparing the output directory, generating the
    dataset): the other ranks wait, then get the same result or the same exception, so every
    rank fails together instead of one waiting for a collective that never comes.
    """
    if not is_distributed():
        return fn(*args, **kwargs)
    result: Any = None
    error: BaseException | None = None
    if is_main():
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - re-raised on every rank below
            error = exc
    result, error = broadcast_object((result, error))
    if error is not None:
        raise error
    return result
