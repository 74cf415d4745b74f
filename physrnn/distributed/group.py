"""The process group: starting and leaving it, rank and world size, the device of a rank,
and per-rank random streams (see :mod:`physrnn.distributed`)."""

from __future__ import annotations

import datetime as _dt
import functools
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from physrnn.distributed.environment import DistInfo, dist_info_from_env
from physrnn.errors import ConfigError, PhysrnnError
from physrnn.seeding import derive_seed

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "DistributedError",
    "cleanup",
    "first_line",
    "get_rank",
    "get_world_size",
    "init_distributed",
    "is_distributed",
    "is_main",
    "main_only",
    "rank_generator",
    "rank_seed",
    "resolve_device",
]

log = logging.getLogger("physrnn.distributed")

#: Seconds a collective waits for the other ranks before raising (``init_distributed``).
DEFAULT_TIMEOUT_S = 600.0

T = TypeVar("T")


class DistributedError(PhysrnnError, RuntimeError):
    """A multi-process job cannot start or continue: inconsistent environment, a rank that
    died, or a collective that timed out."""


_INFO: DistInfo | None = None  # set by init_distributed while a process group is up


# --------------------------------------------------------------------------- process group
def init_distributed(backend: str = "auto", *, timeout_s: float = DEFAULT_TIMEOUT_S,
                     env: Mapping[str, str] | None = None) -> DistInfo:
    """Start the process group described by the environment (no-op for one process).

    Under NCCL the current CUDA device is set to ``cuda:local_rank`` first. Calling it again
    in the same process returns the running job's :class:`DistInfo`.

    Args:
        backend: ``"auto"`` (NCCL with CUDA, else gloo), ``"nccl"`` or ``"gloo"``.
        timeout_s: how long rendezvous and every collective wait for the other ranks; a rank
            that died makes the others raise :class:`DistributedError` after at most this.
        env: the environment (default ``os.environ``).

    Raises:
        ConfigError: inconsistent launcher variables (see :func:`dist_info_from_env`).
        DistributedError: the rendezvous failed or timed out.
    """
    global _INFO
    if not timeout_s > 0:
        raise ConfigError(f"timeout_s must be > 0, got {timeout_s}")
    info = dist_info_from_env(env, backend=backend)
    if not info.is_distributed:
        return info
    if dist.is_initialized():
        if _INFO is not None:
            return _INFO
        if dist.get_world_size() != info.world_size or dist.get_rank() != info.rank:
            raise DistributedError(
                f"a process group is already running as rank {dist.get_rank()} of "
                f"{dist.get_world_size()}, but the environment says rank {info.rank} of "
                f"{info.world_size}")
        _INFO = info
        return info
    if info.backend == "nccl":
        n_gpu = torch.cuda.device_count()
        if info.local_rank >= n_gpu:
            raise ConfigError(f"local rank {info.local_rank} but this node has {n_gpu} CUDA "
                              "device(s); start at most one process per GPU")
        torch.cuda.set_device(info.local_rank)
    try:
        dist.init_process_group(
            backend=info.backend, init_method=f"tcp://{info.master_addr}:{info.master_port}",
            rank=info.rank, world_size=info.world_size,
            timeout=_dt.timedelta(seconds=float(timeout_s)))
    except (RuntimeError, ValueError, OSError) as exc:
        raise DistributedError(
            f"rank {info.rank} of {info.world_size}: could not join the process group at "
            f"{info.master_addr}:{info.master_port} ({info.source}, {info.backend}): "
            f"{first_line(exc)}") from None
    _INFO = info
    log.info("rank %d of %d (local rank %d) joined %s:%d with %s", info.rank, info.world_size,
             info.local_rank, info.master_addr, info.master_port, info.backend)
    return info


def cleanup() -> None:
    """Leave the process group (if one is running); safe to call more than once."""
    global _INFO
    if dist.is_available() and dist.is_initialized():
        try:
            dist.destroy_process_group()
        except (RuntimeError, ValueError) as exc:  # a peer already gone: nothing to tidy
            log.debug("destroy_process_group: %s", exc)
    _INFO = None


def is_distributed() -> bool:
    """True while a process group with more than one rank is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    """Global rank (0 without a process group)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def get_world_size() -> int:
    """Number of processes (1 without a process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main() -> bool:
    """True on rank 0 (and in a one-process run): the process that writes files."""
    return get_rank() == 0


def main_only(fn: Callable[..., T]) -> Callable[..., T | None]:
    """Decorator: run ``fn`` on rank 0 only; other ranks get ``None`` without calling it.

    For writers (records, summaries, figures, checkpoints)::

        @main_only
        def write(out, summary): write_summary(out / "summary.json", summary)
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T | None:
        return fn(*args, **kwargs) if is_main() else None

    return wrapper


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message (its type name when the message is empty), for the
    one-line errors of a failed collective or rendezvous."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --------------------------------------------------------------------------- randomness
def rank_seed(seed: int, rank: int | None = None) -> int:
    """Seed of rank ``rank``'s random stream, derived from ``(seed, rank)``.

    Rank 0 keeps ``seed`` itself, so a one-process run is the run it always was; rank
    ``r > 0`` gets ``derive_seed(seed, spawn_key=(r,))`` (:mod:`physrnn.seeding`), a
    stream independent of every other rank's (and of streams derived from ``[seed, k]``).

    Args:
        seed: the run's seed (``run.seed``), ``>= 0``.
        rank: the rank; default this process's.
    """
    rank = get_rank() if rank is None else int(rank)
    if int(seed) < 0 or rank < 0:
        raise ValueError(f"seed and rank must be >= 0, got {seed}, {rank}")
    if rank == 0:
        return int(seed)
    return derive_seed(int(seed), spawn_key=(rank,))


def rank_generator(seed: int, rank: int | None = None, *,
                   device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with :func:`rank_seed`."""
    g = torch.Generator(device=device)
    g.manual_seed(rank_seed(seed, rank))
    return g


# --------------------------------------------------------------------------- devices
def _local_rank() -> int:
    if _INFO is not None:
        return _INFO.local_rank
    try:
        return int(os.environ.get("LOCAL_RANK", os.environ.get("SLURM_LOCALID", "0")))
    except ValueError:
        return 0


def resolve_device(name: str | torch.device) -> torch.device:
    """Resolve ``"auto"`` to CUDA when available, else CPU; check explicit CUDA requests.

    In a multi-process job (a running process group), ``"auto"`` and ``"cuda"`` mean this
    rank's GPU, ``cuda:LOCAL_RANK``; an explicit ``"cuda:N"`` is kept as given.

    Raises:
        ConfigError: a CUDA device is asked for but none is available.
    """
    if isinstance(name, torch.device):
        name = str(name)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"run.device = {name!r} but no CUDA device is available")
    if name == "cuda" and is_distributed():
        return torch.device("cuda", _local_rank() % max(1, torch.cuda.device_count()))
    return torch.device(name)

