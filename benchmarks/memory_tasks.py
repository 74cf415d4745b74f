"""Memory tasks: the longest delay each recurrent cell solves, and what a training step costs.

Question 1: on the adding problem (Hochreiter and Schmidhuber 1997) and delayed recall
(REFERENCES.md, "Memory tasks"), what is the longest delay that a plain tanh RNN, an LSTM and
a GRU solve within a fixed training budget, and do the plain-RNN fixes (gradient clipping at 1,
orthogonal or identity recurrent initialisation) move it on the adding problem?

- Training: ``physrnn.runs.memory.train_memory``: one recurrent layer of ``--hidden`` units
  (default 64) and a linear readout (``MemoryNet``), Adam at ``--lr`` (default 3e-3, constant),
  ``--steps`` optimiser steps (default 800) on fresh batches of ``--batch-size`` (default 64)
  sequences; test loss on 8 x 64 held-out sequences (another seed). No early stopping.
- Solved: test MSE < 0.01 on both tasks (trivial baselines: adding 1/6, recall 1/3). A delay
  counts as solved when at least half of the seeds solve it (``longest_solved``); the longest
  solved delay is the largest such delay of the ladder (0: none).
- Ladders (the adding task's delay is its sequence length T; recall's is the tell-to-ask gap,
  sequences are 5 steps longer): adding 10, 25, 50, 100, 200; recall 10, 25, 50, 100, 200.
  A (model, variant) stops climbing after a rung that no seed solved (the longer rungs are
  shown as "-" and count as unsolved); ``--full-ladder`` runs every rung.
- Models: ``rnn`` (tanh), ``lstm``, ``gru`` with plain training; on the adding ladder also
  ``rnn`` with the variants ``clip``, ``orthogonal`` and ``identity``.

Question 2: what does one training step of physrnn's ``MemoryNet`` (the model ``train_memory``
builds, forward + MSE on the last step + backward + Adam step) cost against a hand-written
PyTorch loop with ``torch.nn.RNN/LSTM/GRU`` and ``nn.Linear`` on the same batch (adding task,
T = 100, batch 64, hidden 64, CPU)? Both get the same initial weights; the codes are timed
interleaved, ``--speed-repeats`` times ``--speed-steps`` steps each, and the best repeat is kept.

``--quick`` is a smoke check (short ladders, few steps; its numbers are not results). Timings
depend on the load: on a shared machine pass ``--threads 1``.
"""

from __future__ import annotations

import copy
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    base_parser,
    limit_threads,
    machine_info,
    markdown_table,
    write_json,
)

log = logging.getLogger("memory_tasks")

CELLS = ("rnn", "lstm", "gru")
RNN_VARIANTS = ("clip", "orthogonal", "identity")

PRESETS: dict[str, dict[str, Any]] = {
    "quick": dict(adding_delays=[10, 25], recall_delays=[10, 25], seeds=2, steps=400,
                  speed_steps=10, speed_repeats=2),
    "default": dict(adding_delays=[10, 25, 50, 100, 200],
                    recall_delays=[10, 25, 50, 100, 200], seeds=2, steps=800,
                    speed_steps=30, speed_repeats=3),
}


def parse_args(argv: list[str] | None):
    p = base_parser(__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=None,
                   help="training seeds per (model, variant, delay) (default 2)")
    p.add_argument("--steps", type=int, default=None,
                   help="optimiser steps per training run (default 800; quick 400)")
    p.add_argument("--batch-size", type=int, default=64, help="sequences per batch")
    p.add_argument("--hidden", type=int, default=64, help="hidden units")
    p.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (constant)")
    p.add_argument("--adding-delays", default=None,
                   help="adding-task ladder (sequence lengths), comma list")
    p.add_argument("--recall-delays", default=None, help="recall-task ladder, comma list")
    p.add_argument("--tasks", default="adding,recall,speed",
                   help="what to run: any of adding, recall, speed (comma list)")
    p.add_argument("--full-ladder", action="store_true",
                   help="run every rung even after a rung that no seed solved")
    p.add_argument("--speed-steps", type=int, default=None, help="timed steps per repeat")
    p.add_argument("--speed-repeats", type=int, default=None, help="repeats (best kept)")
    p.add_argument("--speed-length", type=int, default=100, help="T of the speed test")
    p.add_argument("-v", "--verbose", action="store_true", help="log every training run")
    args = p.parse_args(argv)
    size = "quick" if args.quick else "default"
    s = dict(PRESETS[size])
    s["size"] = size
    for key in ("seeds", "steps", "speed_steps", "speed_repeats"):
        if getattr(args, key) is not None:
            s[key] = getattr(args, key)
    for key in ("adding_delays", "recall_delays"):
        if getattr(args, key) is not None:
            s[key] = sorted(int(x) for x in getattr(args, key).split(",") if x.strip())
    if s["seeds"] < 1 or s["steps"] < 1:
        p.error("--seeds and --steps must be >= 1")
    s.update(batch_size=args.batch_size, hidden=args.hidden, lr=args.lr,
             full_ladder=args.full_ladder, speed_length=args.speed_length,
             tasks=[t.strip() for t in args.tasks.split(",") if t.strip()])
    unknown = set(s["tasks"]) - {"adding", "recall", "speed"}
    if unknown:
        p.error(f"unknown --tasks {sorted(unknown)}")
    return args, s


# --------------------------------------------------------------------------------------------
# Question 1: longest solved delay
# --------------------------------------------------------------------------------------------


def run_ladder(task: str, delays: list[int], s: dict[str, Any]) -> list[dict[str, Any]]:
    """Train every (model, variant, delay, seed) of one task; one row per training run."""
    from physrnn.runs.memory import train_memory

    combos = [(c, "plain") for c in CELLS]
    if task == "adding":
        combos += [("rnn", v) for v in RNN_VARIANTS]
    rows: list[dict[str, Any]] = []
    for cell, variant in combos:
        for delay in delays:
            solved = 0
            for seed in range(s["seeds"]):
                t0 = time.perf_counter()
                res = train_memory(task, delay, cell, variant=variant, seed=seed,
                                   steps=s["steps"], batch_size=s["batch_size"],
                                   hidden_size=s["hidden"], lr=s["lr"])
                row = res.row()
                row["wall_s"] = time.perf_counter() - t0  # training + test + diagnostics
                rows.append(row)
                solved += bool(row["solved"])
                log.info("%s %s %s delay %d seed %d: loss %.3g (%s) in %.1f s", task, cell,
                         variant, delay, seed, row["final_loss"],
                         "solved" if row["solved"] else "not solved", row["wall_s"])
            print(f"  {task:6s} {cell:4s} {variant:10s} delay {delay:4d}: {solved}/{s['seeds']}"
                  f" seeds solved", flush=True)
            if solved == 0 and not s["full_ladder"]:
                break  # stop climbing: no seed solved this rung
    return rows


def summarise(task: str, delays: list[int], runs: list[dict[str, Any]],
              s: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (model, variant): longest solved delay and median test loss per delay."""
    from physrnn.runs.memory import longest_solved

    best = longest_solved(runs)
    out = []
    for key in dict.fromkeys((r["model"], r["variant"]) for r in runs):
        mine = [r for r in runs if (r["model"], r["variant"]) == key]
        row: dict[str, Any] = {
            "task": task, "model": key[0], "variant": key[1],
            "longest_solved_delay": best[key], "seeds": s["seeds"], "steps": s["steps"],
            "batch_size": s["batch_size"], "hidden": s["hidden"], "lr": s["lr"],
            "delays_run": sorted({r["delay"] for r in mine}),
            "train_s": sum(r["train_s"] for r in mine),
            "wall_s": sum(r["wall_s"] for r in mine),
            "train_s_per_run": statistics.mean(r["train_s"] for r in mine),
        }
        for d in delays:
            at = [r for r in mine if r["delay"] == d]
            row[f"loss_{d}"] = statistics.median(r["final_loss"] for r in at) if at else None
            row[f"solved_{d}"] = (f"{sum(r['solved'] for r in at)}/{len(at)}" if at else None)
        out.append(row)
    return out


def ladder_columns(delays: list[int]) -> list[tuple]:
    cols: list[tuple] = [("model", "model"), ("variant", "variant"),
                         ("longest_solved_delay", "longest solved delay")]
    cols += [(f"loss_{d}", f"loss @ {d}") for d in delays]
    cols += [("train_s_per_run", "train s / run"), ("wall_s", "wall s (all runs)")]
    return cols


# --------------------------------------------------------------------------------------------
# Question 2: one training step, physrnn MemoryNet against a plain torch loop
# --------------------------------------------------------------------------------------------


class PlainNet:
    """The hand-written peer: ``torch.nn.RNN/LSTM/GRU`` + ``nn.Linear`` on the last step."""

    def __init__(self, cell: str, n_in: int, hidden: int, n_out: int) -> None:
        from torch import nn

        self.rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](
            n_in, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_out)
        self.params = list(self.rnn.parameters()) + list(self.head.parameters())


def _make_step(forward, y, opt):
    """One training step: MSE of ``forward()`` against ``y``, backward, optimiser step."""
    import torch

    def step() -> None:
        loss = torch.nn.functional.mse_loss(forward(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def speed_table(s: dict[str, Any]) -> list[dict[str, Any]]:
    import torch

    from physrnn.data.tasks import make_task
    from physrnn.runs.memory import MemoryNet

    T, B, H = s["speed_length"], s["batch_size"], s["hidden"]
    task = make_task("adding", delay=T, n_samples=B, seed=0)
    x, y = task.stack(list(range(B)))
    rows = []
    for cell in CELLS:
        ours = MemoryNet(2, 1, cell=cell, hidden_size=H, last_only=True, seed=0)
        peer = PlainNet(cell, 2, H, 1)
        with torch.no_grad():  # the same initial weights
            peer.rnn.load_state_dict(copy.deepcopy(ours.rnn.state_dict()))
            peer.head.load_state_dict(copy.deepcopy(ours.readout.state_dict()))
        opt_ours = torch.optim.Adam(ours.parameters(), lr=s["lr"])
        opt_peer = torch.optim.Adam(peer.params, lr=s["lr"])

        step_ours = _make_step(lambda m=ours: m(x), y, opt_ours)
        step_peer = _make_step(lambda m=peer: m.head(m.rnn(x)[0][:, -1]), y, opt_peer)

        times: dict[str, list[float]] = {"physrnn": [], "torch": []}
        for fn in (step_ours, step_peer):  # warm-up
            for _ in range(3):
                fn()
        for _ in range(s["speed_repeats"]):
            for name, fn in (("physrnn", step_ours), ("torch", step_peer)):
                t0 = time.perf_counter()
                for _ in range(s["speed_steps"]):
                    fn()
                times[name].append((time.perf_counter() - t0) / s["speed_steps"] * 1e3)
        ms_ours, ms_peer = min(times["physrnn"]), min(times["torch"])
        rows.append({"task": "speed", "model": cell, "variant": "plain", "seq_len": T,
                     "batch_size": B, "hidden": H, "physrnn_ms_per_step": ms_ours,
                     "torch_ms_per_step": ms_peer, "ratio": ms_ours / ms_peer,
                     "physrnn_ms_all": times["physrnn"], "torch_ms_all": times["torch"],
                     "steps": s["speed_steps"], "repeats": s["speed_repeats"]})
        print(f"  speed {cell}: physrnn {ms_ours:.2f} ms, torch {ms_peer:.2f} ms", flush=True)
    return rows


SPEED_COLUMNS = [("model", "cell"), ("seq_len", "T"), ("batch_size", "batch"),
                 ("hidden", "hidden"), ("physrnn_ms_per_step", "physrnn ms/step", ".2f"),
                 ("torch_ms_per_step", "plain torch ms/step", ".2f"),
                 ("ratio", "ratio physrnn / torch")]


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args, s = parse_args(argv)
    if args.threads is not None:
        limit_threads(args.threads)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s: %(message)s")
    import torch

    wall0 = time.perf_counter()
    budget = (f"{s['steps']} Adam steps x batch {s['batch_size']} (lr {s['lr']:g}, constant), "
              f"hidden {s['hidden']}, {s['seeds']} seeds; solved: test MSE < 0.01 for at least "
              "half of the seeds")
    print(f"Memory tasks ({s['size']}): {budget}; torch threads {torch.get_num_threads()}",
          flush=True)

    runs: list[dict[str, Any]] = []
    summaries: dict[str, list[dict[str, Any]]] = {}
    wall_task: dict[str, float] = {}
    for task in ("adding", "recall"):
        if task not in s["tasks"]:
            continue
        delays = s[f"{task}_delays"]
        t0 = time.perf_counter()
        task_runs = run_ladder(task, delays, s)
        wall_task[task] = time.perf_counter() - t0
        runs += task_runs
        summaries[task] = summarise(task, delays, task_runs, s)
    speed = speed_table(s) if "speed" in s["tasks"] else []
    wall = time.perf_counter() - wall0

    titles = {"adding": "Adding problem (delay = sequence length T; trivial MSE 1/6)",
              "recall": "Delayed recall (delay = tell-to-ask gap; trivial MSE 1/3)"}
    for task, rows in summaries.items():
        print()
        print(f"## {titles[task]}: longest solved delay")
        print()
        print(f"Budget: {budget}. loss @ d: median test MSE over seeds (- : not run, the "
              "ladder stopped after a rung no seed solved).")
        print()
        print(markdown_table(rows, ladder_columns(s[f"{task}_delays"])))
    if speed:
        print()
        print(f"## One training step (forward, MSE, backward, Adam), adding task, CPU, "
              f"threads {torch.get_num_threads()}; best of {s['speed_repeats']} x "
              f"{s['speed_steps']} steps")
        print()
        print(markdown_table(speed, SPEED_COLUMNS))
    print()
    print(f"total wall time {wall:.0f} s (" + ", ".join(f"{k} {v:.0f} s"
                                                   for k, v in wall_task.items()) + ")")

    if args.json is not None:
        settings = dict(s)
        settings.update({
            "solved_mse": 0.01, "trivial_mse": {"adding": 1 / 6, "recall": 1 / 3},
            "solved_rule": "a delay is solved when at least half of the seeds reach test "
                           "MSE < 0.01 (physrnn.runs.memory.longest_solved)",
            "optimizer": "Adam, constant lr", "eval": "8 x batch held-out sequences",
            "recall_lead": 5, "rnn_variants_on": "adding",
            "total_wall_s": wall, "wall_s_per_task": wall_task,
        })
        rows = [r for task_rows in summaries.values() for r in task_rows] + speed
        payload = {"benchmark": "memory_tasks", "rows": rows, "runs": runs,
                   "settings": settings, "machine": machine_info(import_jax=False),
                   "versions": {m: _version(m) for m in ("physrnn", "torch", "numpy")}}
        dest = write_json(args.json, payload)
        print(f"wrote {dest}")
    return 0


def _version(module: str) -> str | None:
    import importlib

    try:
        return str(getattr(importlib.import_module(module), "__version__", "unknown"))
    except Exception:
        return None


if __name__ == "__main__":
    raise SystemExit(main())
