"""Where a run executes: device resolution and ``torch.distributed`` helpers.

Every entry point resolves ``"auto"`` once, here, so the VMC driver, the training loop and the
jobs agree on what a device name means.

Launching several processes
---------------------------
physrnn reads its place in a multi-process job from the environment that the launcher sets:

* ``torchrun`` (and any launcher following its convention): ``RANK``, ``WORLD_SIZE``,
  ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``;
* SLURM's ``srun``: ``SLURM_PROCID`` (rank), ``SLURM_STEP_NUM_TASKS`` or ``SLURM_NTASKS``
  (world size), ``SLURM_LOCALID`` (local rank); the master is ``MASTER_ADDR`` if set, else the
  first host of ``SLURM_STEP_NODELIST`` / ``SLURM_JOB_NODELIST`` / ``SLURM_NODELIST``, and the
  port is ``MASTER_PORT`` if set, else ``20000 + SLURM_JOB_ID % 20000`` (the same on every
  rank of a job, different between jobs).

torchrun's variables win when both are present (``srun torchrun ...``). ``PHYSRNN_DISTRIBUTED=0``
ignores the environment (one process), e.g. for a plain command inside a multi-task
allocation. :func:`init_distributed` then starts the process group: NCCL when CUDA is available,
gloo otherwise, with a timeout after which a collective that waits for a dead rank raises
:class:`DistributedError` instead of hanging (NCCL reports it through its asynchronous error
handling, on by default in torch >= 2.2).

Example (``torchrun --nproc-per-node 2 script.py``)::

    from physrnn.distributed import (all_reduce_mean, cleanup, init_distributed, is_main,
                                     rank_seed, resolve_device)
    info = init_distributed(timeout_s=300)
    device = resolve_device("auto")                     # cuda:LOCAL_RANK on a GPU node
    seed = rank_seed(1234, info.rank)                   # independent stream per rank
    stats = all_reduce_mean({"loss": 0.25, "energy": -1.2})
    if is_main():
        print(stats)                                    # only rank 0 prints / writes
    cleanup()

With one process (no launcher) every helper is a cheap no-op: reductions return their input,
:func:`is_main` is true, :func:`barrier` returns at once.
"""

from __future__ import annotations

import datetime as _dt
import functools
import logging
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist

from physrnn.errors import ConfigError, PhysrnnError

__all__ = [
    "DistInfo",
    "DistributedError",
    "DEFAULT_TIMEOUT_S",
    "resolve_device",
    "dist_info_from_env",
    "expand_nodelist",
    "init_distributed",
    "is_distributed",
    "get_rank",
    "get_world_size",
    "is_main",
    "main_only",
    "rank_seed",
    "rank_generator",
    "all_reduce_sum",
    "all_reduce_mean",
    "all_reduce_max",
    "any_rank",
    "broadcast_object",
    "barrier",
    "all_gather_cat",
    "broadcast_tensors",
    "check_resume_world_size",
    "cleanup",
    "run_on_main",
]

log = logging.getLogger(__name__)

#: Seconds a collective waits for the other ranks before raising (``init_distributed``).
DEFAULT_TIMEOUT_S = 600.0

T = TypeVar("T")


class DistributedError(PhysrnnError, RuntimeError):
    """A multi-process job cannot start or continue: inconsistent environment, a rank that
    died, or a collective that timed out."""


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in a (possibly one-process) job.

    Attributes:
        rank: global rank, ``0 <= rank < world_size``.
        world_size: number of processes in the job.
        local_rank: rank on this node (selects the GPU).
        master_addr: host of rank 0 (rendezvous address).
        master_port: TCP port of the rendezvous.
        backend: ``"nccl"`` or ``"gloo"`` (what :func:`init_distributed` uses or used).
        source: where the numbers came from: ``"torchrun"``, ``"slurm"`` or ``"single"``.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = 29500
    backend: str = "gloo"
    source: str = "single"

    @property
    def is_distributed(self) -> bool:
        """More than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes files and prints."""
        return self.rank == 0


_INFO: DistInfo | None = None  # set by init_distributed while a process group is up


# --------------------------------------------------------------------------- environment
def _int_env(env: Mapping[str, str], name: str, *, minimum: int = 0) -> int:
    raw = env.get(name, "")
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"environment variable {name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigError(f"environment variable {name}={value} must be >= {minimum}")
    return value


def _split_top_level(text: str) -> list[str]:
    """Split ``text`` at commas that are not inside ``[...]``."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise ConfigError(f"malformed SLURM node list {text!r}: unbalanced ']'")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth != 0:
        raise ConfigError(f"malformed SLURM node list {text!r}: unbalanced '['")
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


_BRACKET = re.compile(r"^(?P<pre>[^\[]*)\[(?P<ranges>[^\]]*)\](?P<post>.*)$")


def expand_nodelist(nodelist: str) -> list[str]:
    """Host names of a SLURM node list, in order.

    Handles the compact forms SLURM writes: ``"node[01-04]"`` (zero-padded ranges),
    ``"a,b"``, ``"gpu[1,3-5],cpu7"`` and several bracket groups (``"r[1-2]n[1-2]"``).

    Raises:
        ConfigError: unbalanced brackets or a range that is not ``lo-hi`` with ``lo <= hi``.
    """
    hosts: list[str] = []
    for item in _split_top_level(nodelist):
        m = _BRACKET.match(item)
        if m is None:
            hosts.append(item)
            continue
        pre, post = m.group("pre"), m.group("post")
        for part in m.group("ranges").split(","):
            part = part.strip()
            if re.fullmatch(r"\d+", part):
                names = [part]
            elif re.fullmatch(r"\d+-\d+", part):
                lo_s, hi_s = part.split("-")
                lo, hi = int(lo_s), int(hi_s)
                if lo > hi:
                    raise ConfigError(f"malformed SLURM node list {nodelist!r}: range {part!r}")
                width = len(lo_s)
                names = [str(i).zfill(width) for i in range(lo, hi + 1)]
            else:
                raise ConfigError(f"malformed SLURM node list {nodelist!r}: range {part!r}")
            for name in names:
                hosts.extend(expand_nodelist(pre + name + post))
    return hosts


def dist_info_from_env(env: Mapping[str, str] | None = None, *,
                       backend: str = "auto") -> DistInfo:
    """Read rank, world size, local rank and rendezvous address from the launcher's variables.

    Args:
        env: the environment (default ``os.environ``).
        backend: ``"auto"`` (NCCL with CUDA, else gloo), ``"nccl"`` or ``"gloo"``.

    Returns:
        A :class:`DistInfo`; ``world_size == 1`` and ``source == "single"`` without a launcher.

    Raises:
        ConfigError: variables that are not integers, a rank outside ``[0, world_size)``, a
            multi-process job without a master address, or an unknown backend.
    """
    env = os.environ if env is None else env
    chosen = _choose_backend(backend)
    if env.get("PHYSRNN_DISTRIBUTED", "").strip().lower() in ("0", "false", "no", "off"):
        return DistInfo(backend=chosen)
    if "RANK" in env or "WORLD_SIZE" in env:
        missing = [v for v in ("RANK", "WORLD_SIZE") if v not in env]
        if missing:
            raise ConfigError(f"torchrun environment incomplete: {', '.join(missing)} not set "
                              "(set RANK and WORLD_SIZE together)")
        rank = _int_env(env, "RANK")
        world = _int_env(env, "WORLD_SIZE", minimum=1)
        local = _int_env(env, "LOCAL_RANK") if "LOCAL_RANK" in env else (
            rank if world == 1 else _missing_local(world))
        addr = env.get("MASTER_ADDR", "").strip()
        port_raw = env.get("MASTER_PORT")
        source = "torchrun"
    elif "SLURM_PROCID" in env and ("SLURM_STEP_NUM_TASKS" in env or "SLURM_NTASKS" in env):
        rank = _int_env(env, "SLURM_PROCID")
        world = _int_env(env, "SLURM_STEP_NUM_TASKS" if "SLURM_STEP_NUM_TASKS" in env
                         else "SLURM_NTASKS", minimum=1)
        local = _int_env(env, "SLURM_LOCALID") if "SLURM_LOCALID" in env else 0
        addr = env.get("MASTER_ADDR", "").strip()
        if not addr:
            for var in ("SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST", "SLURM_NODELIST"):
                if env.get(var, "").strip():
                    hosts = expand_nodelist(env[var])
                    if hosts:
                        addr = hosts[0]
                        break
        port_raw = env.get("MASTER_PORT")
        if port_raw is None and "SLURM_JOB_ID" in env:
            port_raw = str(20000 + _int_env(env, "SLURM_JOB_ID") % 20000)
        source = "slurm"
    else:
        return DistInfo(backend=chosen)
    if not rank < world:
        raise ConfigError(f"inconsistent {source} environment: rank {rank} is not below the "
                          f"world size {world}")
    if world == 1:
        return DistInfo(rank=0, world_size=1, local_rank=local, backend=chosen, source=source,
                        master_addr=addr or "127.0.0.1",
                        master_port=int(port_raw) if port_raw and port_raw.isdigit() else 29500)
    if not addr:
        raise ConfigError(f"{source} environment with {world} processes but no master address "
                          "(set MASTER_ADDR)")
    if port_raw is None:
        raise ConfigError(f"{source} environment with {world} processes but no MASTER_PORT")
    port = _int_env({"MASTER_PORT": port_raw}, "MASTER_PORT", minimum=1)
    if port > 65535:
        raise ConfigError(f"environment variable MASTER_PORT={port} is not a TCP port")
    return DistInfo(rank=rank, world_size=world, local_rank=local, master_addr=addr,
                    master_port=port, backend=chosen, source=source)


def _missing_local(world: int) -> int:
    raise ConfigError(f"torchrun environment with WORLD_SIZE={world} but no LOCAL_RANK")


def _choose_backend(backend: str) -> str:
    if backend == "auto":
        return "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"
    if backend not in ("nccl", "gloo"):
        raise ConfigError(f"unknown torch.distributed backend {backend!r}; choose 'auto', "
                          "'nccl' or 'gloo'")
    if backend == "nccl" and not (torch.cuda.is_available() and dist.is_nccl_available()):
        raise ConfigError("backend 'nccl' needs CUDA; use 'gloo' on CPU")
    return backend


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
            f"{_first_line(exc)}") from None
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _collective(what: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except (RuntimeError, ValueError) as exc:
        if isinstance(exc, PhysrnnError):
            raise
        raise DistributedError(
            f"rank {get_rank()} of {get_world_size()}: {what} failed (another rank died, "
            f"exited early or timed out): {_first_line(exc)}") from None


# --------------------------------------------------------------------------- randomness
def rank_seed(seed: int, rank: int | None = None) -> int:
    """Seed of rank ``rank``'s random stream, derived from ``(seed, rank)``.

    Rank 0 keeps ``seed`` itself, so a one-process run is the run it always was; rank
    ``r > 0`` gets ``numpy.random.SeedSequence(seed, spawn_key=(r,))``'s first 63 bits, a
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
    state = np.random.SeedSequence(int(seed), spawn_key=(rank,)).generate_state(1, np.uint64)
    return int(state[0] & 0x7FFF_FFFF_FFFF_FFFF)


def rank_generator(seed: int, rank: int | None = None,
                   device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with :func:`rank_seed`."""
    g = torch.Generator(device=device)
    g.manual_seed(rank_seed(seed, rank))
    return g


# --------------------------------------------------------------------------- reductions
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


def broadcast_object(obj: T, src: int = 0) -> T:
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


def broadcast_tensors(tensors: list[torch.Tensor], src: int = 0) -> None:
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


def check_resume_world_size(state: Mapping[str, Any], path: str | os.PathLike[str], *,
                            exact_for: int | None = None) -> None:
    """Refuse to resume a checkpoint ``state`` written by a different number of processes,
    unless the run is one that continues exactly on the new number.

    ``state["world_size"]`` (1 when absent, as in checkpoints of one-process runs) must equal
    this job's world size: data shards, the global batch and per-rank random streams depend on
    it. The exception is a deterministic VMC run (``vmc.deterministic = true``,
    ``vmc.blocks = B``): its sampling streams derive from ``(seed, step, block)`` and its
    reductions run in block order, so it is bit-identical on every number of processes that
    divides ``B``, and any such number may resume it.

    Args:
        state: the loaded checkpoint.
        path: where it was read (named in the messages).
        exact_for: the block count ``B`` of a deterministic VMC run whose checkpoint this is;
            ``None`` (or 0): the run depends on the number of processes (training,
            non-deterministic VMC).

    Raises:
        ConfigError: the numbers differ and this run cannot continue exactly on the new one
            (the one-line message names both numbers, and ``B`` when given).
    """
    saved = int(state.get("world_size", 1))
    now = get_world_size()
    if saved == now:
        return
    if exact_for:
        blocks = int(exact_for)
        if blocks % now == 0:
            log.info("resuming %s, written by %d process(es), on %d: the deterministic run "
                     "(vmc.blocks = %d) continues exactly on the new number", path, saved,
                     now, blocks)
            return
        raise ConfigError(f"cannot resume from {path}: it was written by a run of {saved} "
                          f"process(es) and this run has {now}, which does not divide "
                          f"vmc.blocks = {blocks}; resume with a number of processes that "
                          f"divides {blocks}")
    raise ConfigError(f"cannot resume from {path}: it was written by a run of {saved} "
                      f"process(es) and this run has {now}; resume with {saved} process(es) "
                      "(the data split and random streams depend on the number; only a "
                      "deterministic VMC run, vmc.deterministic = true with vmc.blocks = B, "
                      "resumes on any number of processes that divides B)")


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
