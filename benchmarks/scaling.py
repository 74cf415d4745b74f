"""Data-parallel VMC scaling: samples per second on 1, 2 (and 4) processes.

Question: how does the throughput of ``physrnn.vmc.VMC`` grow when a step's samples are spread
over ``R`` processes with ``torch.distributed`` (:mod:`physrnn.vmc.parallel`)?

Workload: the transverse-field Ising chain at h = 1 (open, N = 50, Pauli, totals in units of
J), ``RNNWavefunction1D`` (GRU, hidden 32, float32), Adam (lr 1e-3), the default (statistical)
data-parallel mode. Two series:

- **weak scaling**: a fixed number of samples per rank (``--per-rank``, default 512), so a step
  of ``R`` ranks draws ``R x 512`` samples;
- **strong scaling**: a fixed total per step (``--total``, default 1024) split over the ranks.

Every configuration starts ``R`` fresh processes (``torch.multiprocessing`` spawn; gloo on CPU,
NCCL with ``--device cuda``, one process per GPU), takes ``--warmup`` untimed steps, then times
``--steps`` steps between two barriers. ``samples/s`` is ``total samples x steps`` over the
slowest rank's wall time; ``per rank`` divides it by ``R``; the parallel efficiency is
``throughput_R / (R x throughput_1)`` against the one-process row of the same series (1: perfect
scaling). Each process uses ``--threads`` threads (default 1); a row whose ``R x threads``
exceeds the allowed cores is labelled *oversubscribed* (4 processes on a 2-core machine: only
with ``--procs 1,2,4``). ``--repeats`` runs every configuration several times, alternating the
process counts so that they see the same load, and keeps the best (all in the JSON).

Run::

    python benchmarks/scaling.py --quick                        # N = 20, a smoke check
    python benchmarks/scaling.py --json benchmarks/results/scaling-$(date +%F)-cpu2.json
    python benchmarks/scaling.py --procs 1,2,4                  # 4 ranks (oversubscribed here)
    python benchmarks/scaling.py --device cuda --procs 1,2      # one process per GPU
"""

from __future__ import annotations

import os
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (  # noqa: E402
    base_parser,
    limit_threads,
    machine_info,
    markdown_table,
    print_footer,
    write_json,
)

H_FIELD = 1.0
FULL = {"n_sites": 50, "per_rank": 512, "total": 1024, "steps": 10, "warmup": 2, "repeats": 2}
QUICK = {"n_sites": 20, "per_rank": 128, "total": 256, "steps": 3, "warmup": 1, "repeats": 1}


def _parser():
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--procs", type=str, default="1,2",
                        help="comma-separated process counts (1 is always included)")
    parser.add_argument("--sites", type=int, default=None, help="chain length N (default 50)")
    parser.add_argument("--hidden", type=int, default=32, help="GRU hidden size")
    parser.add_argument("--per-rank", type=int, default=None,
                        help="samples per rank per step, weak scaling (default 512)")
    parser.add_argument("--total", type=int, default=None,
                        help="samples per step over all ranks, strong scaling (default 1024)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 10)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps (default 2)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="runs of every configuration, best kept (default 2)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, cfg: dict[str, Any], queue: Any) -> None:
    """One rank: build the driver, warm up, time ``cfg["steps"]`` steps; report to ``queue``."""
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    limit_threads(cfg["threads"])
    import torch

    from physrnn.distributed import barrier, cleanup, init_distributed, resolve_device
    from physrnn.spins.chains import tfim_chain
    from physrnn.vmc import VMC
    from physrnn.wavefunctions import RNNWavefunction1D

    try:
        init_distributed(backend="nccl" if cfg["device"] == "cuda" else "gloo", timeout_s=300)
        device = resolve_device(cfg["device"])
        cuda = device.type == "cuda"
        system = tfim_chain(cfg["n_sites"], h=H_FIELD)
        model = RNNWavefunction1D(cfg["n_sites"], hidden_size=cfg["hidden"],
                                  seed=cfg["seed"]).to(device)
        vmc = VMC(system.operator, model, n_samples=cfg["n_total"], seed=cfg["seed"],
                  optimizer=torch.optim.Adam(model.parameters(), lr=1e-3))
        for _ in range(cfg["warmup"]):
            vmc.step()
        step_s = []
        barrier()
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(cfg["steps"]):
            t = time.perf_counter()
            rec = vmc.step()
            if cuda:
                torch.cuda.synchronize()
            step_s.append(time.perf_counter() - t)
        wall = time.perf_counter() - t0
        barrier()
        n_local = cfg["n_total"] if vmc.layout is None else vmc.layout.n_local
        queue.put((rank, {"wall_s": wall, "step_s": step_s, "n_local": n_local,
                          "energy": rec.energy, "device": str(device)}))
        cleanup()
    except BaseException as exc:  # report instead of leaving the parent waiting
        queue.put((rank, {"error": f"{type(exc).__name__}: {exc}"}))
        raise


def _launch(world: int, cfg: dict[str, Any]) -> dict[str, Any]:
    """Run ``world`` ranks on ``cfg``; the slowest rank's wall time and every rank's report."""
    import torch.multiprocessing as tmp

    ctx = tmp.get_context("spawn")
    queue = ctx.SimpleQueue()
    tmp.spawn(_worker, args=(world, _free_port(), cfg, queue), nprocs=world, join=True)
    reports = dict(queue.get() for _ in range(world))
    errors = {r: rep["error"] for r, rep in reports.items() if "error" in rep}
    if errors:
        raise SystemExit(f"scaling: ranks failed: {errors}")
    wall = max(rep["wall_s"] for rep in reports.values())
    steps = [s for rep in reports.values() for s in rep["step_s"]]
    return {"wall_s": wall, "median_step_s": statistics.median(steps),
            "samples_per_s": cfg["n_total"] * cfg["steps"] / wall,
            "n_local": [reports[r]["n_local"] for r in sorted(reports)],
            "energy": reports[0]["energy"], "device": reports[0]["device"]}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    threads = args.threads or 1
    limit_threads(threads)
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    base = QUICK if args.quick else FULL
    pick = {k: getattr(args, k.replace("n_sites", "sites")) for k in
            ("n_sites", "per_rank", "total", "steps", "warmup", "repeats")}
    cfg = {k: base[k] if v is None else v for k, v in pick.items()}
    try:
        procs = sorted({1, *(int(p) for p in args.procs.split(",") if p.strip())})
    except ValueError:
        raise SystemExit(f"--procs must be comma-separated integers, got {args.procs!r}") \
            from None
    if min(procs) < 1 or cfg["steps"] < 1 or cfg["warmup"] < 0 or cfg["repeats"] < 1:
        raise SystemExit("--procs >= 1, --steps >= 1, --warmup >= 0 and --repeats >= 1")
    if cfg["total"] < 2 * max(procs) or cfg["per_rank"] < 2:
        raise SystemExit("--total must be >= 2 per rank and --per-rank >= 2")
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if args.device == "cuda":
        n_gpu = torch.cuda.device_count()
        if n_gpu == 0:
            raise SystemExit("--device cuda but no CUDA device is available")
        if max(procs) > n_gpu:
            print(f"# only {n_gpu} GPU(s): process counts above {n_gpu} dropped", flush=True)
            procs = [p for p in procs if p <= n_gpu]
    print(f"# TFIM chain N = {cfg['n_sites']}, h = {H_FIELD:g}, GRU hidden {args.hidden}; "
          f"{cfg['warmup']} warm-up + {cfg['steps']} timed steps, best of {cfg['repeats']}; "
          f"{threads} thread(s) per process, {cores} core(s), device {args.device}", flush=True)

    series = {"weak": lambda r: cfg["per_rank"] * r, "strong": lambda r: cfg["total"]}
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for rep in range(cfg["repeats"]):
        for mode, total in series.items():
            for world in procs:
                run_cfg = {"n_sites": cfg["n_sites"], "hidden": args.hidden,
                           "n_total": total(world), "steps": cfg["steps"],
                           "warmup": cfg["warmup"], "threads": threads,
                           "device": args.device, "seed": args.seed}
                res = _launch(world, run_cfg)
                runs.setdefault((mode, world), []).append(res)
                print(f"# repeat {rep + 1}: {mode:6s} R={world} n={total(world)}: "
                      f"{res['samples_per_s']:.0f} samples/s", flush=True)

    rows = []
    for mode in series:
        one = max(r["samples_per_s"] for r in runs[(mode, 1)])
        for world in procs:
            best = max(runs[(mode, world)], key=lambda r: r["samples_per_s"])
            over = args.device == "cpu" and world * threads > (cores or 1)
            rows.append({
                "mode": mode, "procs": world, "n_total": series[mode](world),
                "n_per_rank": best["n_local"][0], "step_s": best["median_step_s"],
                "samples_per_s": best["samples_per_s"],
                "samples_per_s_per_rank": best["samples_per_s"] / world,
                "efficiency": best["samples_per_s"] / (world * one),
                "oversubscribed": over, "energy": best["energy"],
                "all_samples_per_s": [r["samples_per_s"] for r in runs[(mode, world)]],
            })
    table = markdown_table(rows, [
        ("mode", "scaling"), ("procs", "R"), ("n_total", "samples/step"),
        ("n_per_rank", "per rank"), ("step_s", "step s (median)"),
        ("samples_per_s", "samples/s"), ("samples_per_s_per_rank", "samples/s per rank"),
        ("efficiency", "efficiency", ".2f"),
        ("oversubscribed", "note", lambda v: "oversubscribed" if v else ""),
    ])
    print(table)
    load_after = os.getloadavg() if hasattr(os, "getloadavg") else None
    if args.json is not None:
        path = write_json(args.json, {
            "benchmark": "scaling", "rows": rows, "table": table,
            "settings": {**cfg, "procs": procs, "hidden": args.hidden, "threads": threads,
                         "device": args.device, "seed": args.seed, "h": H_FIELD,
                         "optimizer": "Adam lr 1e-3", "mode": "data-parallel (default)",
                         "quick": args.quick},
            "machine": machine_info(import_jax=False),
            "load_before": load_before, "load_after": load_after,
        })
        print(f"wrote {path}")
    print_footer(time.perf_counter() - T_START, load_before, load_after, args.quick)
    return 0


T_START = time.perf_counter()

if __name__ == "__main__":
    sys.exit(main())
