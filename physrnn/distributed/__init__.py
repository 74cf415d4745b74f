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

The package: :mod:`~physrnn.distributed.environment` (launcher variables),
:mod:`~physrnn.distributed.group` (process group, ranks, devices, per-rank seeds),
:mod:`~physrnn.distributed.collectives` (reductions, broadcasts, gathers),
:mod:`~physrnn.distributed.partition` (splitting ``n`` items into parts); every name is
re-exported here, ``from physrnn.distributed import X``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from physrnn.distributed.collectives import (
    all_gather_cat,
    all_reduce_max,
    all_reduce_mean,
    all_reduce_sum,
    any_rank,
    barrier,
    broadcast_object,
    broadcast_tensors,
    run_on_main,
)
from physrnn.distributed.environment import DistInfo, dist_info_from_env, expand_nodelist
from physrnn.distributed.group import (
    DEFAULT_TIMEOUT_S,
    DistributedError,
    cleanup,
    get_rank,
    get_world_size,
    init_distributed,
    is_distributed,
    is_main,
    main_only,
    rank_generator,
    rank_seed,
    resolve_device,
)
from physrnn.distributed.partition import split_bounds, split_sizes
from physrnn.errors import ConfigError

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
    "split_sizes",
    "split_bounds",
]

log = logging.getLogger(__name__)


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
