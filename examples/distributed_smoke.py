"""Check a multi-process set-up: every rank joins, reduces, and only rank 0 writes.

Run it the way a data-parallel job will be run, e.g.

    torchrun --nproc-per-node 2 examples/distributed_smoke.py
    srun --ntasks 4 python examples/distributed_smoke.py          # inside a SLURM allocation
    sbatch examples/slurm/torchrun.sbatch                         # several nodes

It prints, from rank 0, the world size, the backend, each rank's device and seed, and checks
an all-reduce against its exact value; it exits 1 if the check fails and 2 with a one-line
message if a rank cannot join or dies (no hanging: ``--timeout`` seconds at most).
"""

from __future__ import annotations

import argparse
import socket
import sys

import torch

from physrnn.distributed import (
    DistributedError,
    all_reduce_sum,
    broadcast_object,
    cleanup,
    get_world_size,
    init_distributed,
    is_main,
    rank_seed,
    resolve_device,
)
from physrnn.errors import PhysrnnError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds a collective waits for the other ranks")
    args = parser.parse_args()
    try:
        info = init_distributed(timeout_s=args.timeout)
        device = resolve_device("auto")
        me = {"rank": info.rank, "host": socket.gethostname(), "device": str(device),
              "seed": rank_seed(args.seed, info.rank)}
        world = get_world_size()
        everyone = [broadcast_object(me, src=r) for r in range(world)]
        total = all_reduce_sum(torch.tensor([float(info.rank + 1)], device=device))
        expected = world * (world + 1) / 2
        ok = abs(float(total.item()) - expected) < 1e-9
        if is_main():
            print(f"world size {world}, backend {info.backend}, launched by {info.source}, "
                  f"master {info.master_addr}:{info.master_port}")
            for row in everyone:
                print(f"  rank {row['rank']:>3} on {row['host']} ({row['device']}), "
                      f"seed {row['seed']}")
            print(f"all-reduce: {total.item():g} (expected {expected:g}): "
                  + ("ok" if ok else "WRONG"))
        cleanup()
        return 0 if ok else 1
    except (DistributedError, PhysrnnError) as exc:
        print(f"physrnn: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
