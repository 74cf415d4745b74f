"""Where this process sits in a multi-process job, read from the launcher's environment.

The variables of ``torchrun`` and of SLURM's ``srun`` (see :mod:`physrnn.distributed`) give rank,
world size, local rank and the rendezvous address; :func:`dist_info_from_env` reads them into a
:class:`DistInfo`, :func:`expand_nodelist` reads SLURM's compact host lists. Nothing here starts
a process group.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist

from physrnn.errors import ConfigError

__all__ = ["DistInfo", "dist_info_from_env", "expand_nodelist"]


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
