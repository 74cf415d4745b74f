"""Does starting from a smaller system's wavefunction pay? Transfer against training from scratch.

Question: a Heisenberg chain of N = 100 and a Heisenberg 10x10 square (open, Marshall-rotated;
the recurrent weights of ``RNNWavefunction1D`` / ``RNNWavefunction2D`` do not depend on the
number of sites) are trained (a) from random weights and (b) from the weights of the same
model trained first on N = 50 / 6x6. How long, counting the small system's training, does
each take until its training energy stays within each tolerance of the reference (DMRG
-44.1277398933 for N = 100; QMC -251.46248 / 4 for 10x10, PRB 90, 064425 via varbench), and
where does each end after the same time on the large system?

Protocol (``--small-s`` seconds on the small system, then ``--large-s`` on the large one, both
with Adam and a cosine learning rate over the run's time, ``RunClock`` of
``reproduce_rnn_wavefunctions.py``; the scratch run gets ``--large-s`` on the large system,
the same seed and model): time to accuracy is ``_extrapolate.time_to_accuracy`` on the large
system's training curve, plus the small run's seconds for (b). The transfer is what
``[wavefunction] init_from`` does: names and shapes checked
(``physrnn.checkpoints.check_state_shapes``), parameters copied; the optimiser starts afresh.
The final energies come from ``--final-samples`` fresh samples.

Run::

    python benchmarks/transfer.py --quick
    python benchmarks/transfer.py --threads 1 --rows chain \\
        --json benchmarks/results/transfer-$(date +%F)-cpu2-chain.json

``--rows chain,square``, ``--small-s``, ``--large-s``, ``--hidden``, ``--samples``,
``--lr``, ``--seed`` override the defaults.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (  # noqa: E402
    VMC_VERSION_KEYS,
    base_parser,
    limit_threads,
    machine_info,
    markdown_table,
    print_footer,
    write_json,
)
from benchmarks._extrapolate import time_to_accuracy  # noqa: E402
from benchmarks._reproduce_rows import ROWS, RowSpec  # noqa: E402
from benchmarks.time_to_accuracy import train_physrnn  # noqa: E402

#: row -> (large system's row in ``_reproduce_rows``, size of the small system)
PAIRS = {"chain": ("heisenberg chain N=100", (50,)),
         "square": ("heisenberg 10x10 obc", (6, 6))}
TOLERANCES = (1e-2, 3e-3, 1e-3)

COLUMNS = [("row", "system"), ("start", "start"), ("small_s", "small s"),
           ("large_s", "large s"), ("steps", "steps (large)"),
           ("t_1e-2", "s to 1e-2"), ("t_3e-3", "s to 3e-3"), ("t_1e-3", "s to 1e-3"),
           ("first_rel_error", "rel. err, first 25 steps"),
           ("final_relative_error", "final rel. err"), ("final_error", "σ")]


def _spec(name: str) -> RowSpec:
    for spec in ROWS:
        if spec.name == name:
            return dataclasses.replace(spec, annealing=None, optimizer="adam")
    raise KeyError(name)


def run_pair(key: str, args: Any) -> list[dict[str, Any]]:
    """Scratch and transfer runs of one pair of systems."""
    from benchmarks.reproduce_rnn_wavefunctions import build_system, reference_of

    name, small_size = PAIRS[key]
    large = _spec(name)
    small = dataclasses.replace(large, size=small_size, name=f"{name} (small {small_size})")
    reference, _, source = reference_of(large, build_system(large))
    cfg = {**large.settings("cpu"), "hidden": args.hidden, "n_samples": args.samples,
           "lr": args.lr, "n_steps": 10**9, "symmetry": "none"}
    rows = []
    for start in ("scratch", "transfer"):
        small_s, init = 0.0, None
        if start == "transfer":
            print(f"# {key}: small system {small_size} ...", file=sys.stderr, flush=True)
            model, _, small_s = train_physrnn(small, cfg, budget_s=args.small_s, seed=args.seed)
            init = {k: v.detach().clone() for k, v in model.state_dict().items()}
        print(f"# {key}: {start} on {large.size} ...", file=sys.stderr, flush=True)
        _, vmc, large_s = train_physrnn(large, cfg, budget_s=args.large_s, seed=args.seed,
                                        init=init)
        hist = vmc.history_arrays()
        times = hist["time_s"] + small_s
        acc = {f"{tol:.0e}".replace("e-0", "e-"): time_to_accuracy(
            times, hist["energy"], hist["error"], reference, tol) for tol in TOLERANCES}
        est = vmc.estimate(args.final_samples)
        first = hist["energy"][:25].mean()
        rows.append({"row": name, "start": start, "small_size": small_size if init else None,
                     "small_s": small_s, "large_s": large_s, "steps": vmc.step_count,
                     "reference": reference, "reference_source": source,
                     "settings": cfg | {"n_steps": None},
                     "time_to_accuracy": acc,
                     **{f"t_{k}": v["time_s"] for k, v in acc.items()},
                     "first_rel_error": (first - reference) / abs(reference),
                     "final_energy": est.mean, "final_error": est.error / abs(reference),
                     "final_relative_error": (est.mean - reference) / abs(reference)})
        print(f"#   final rel. err {rows[-1]['final_relative_error']:.2e}",
              file=sys.stderr, flush=True)
    return rows


def _parser() -> Any:
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="chain,square", help="chain, square")
    parser.add_argument("--small-s", type=float, default=300.0)
    parser.add_argument("--large-s", type=float, default=600.0)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--final-samples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the pairs, print the table, write the JSON."""
    args = _parser().parse_args(argv)
    if args.threads is not None:
        limit_threads(args.threads)
    keys = [k.strip() for k in args.rows.split(",") if k.strip()]
    if not keys or any(k not in PAIRS for k in keys):
        raise SystemExit(f"--rows: choose from {sorted(PAIRS)}, got {args.rows!r}")
    if args.quick:
        args.small_s, args.large_s, args.hidden, args.samples = 5.0, 10.0, 8, 32
        args.final_samples = 500
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for key in keys:
        rows += run_pair(key, args)
    print()
    print(markdown_table(rows, COLUMNS))
    print()
    print_footer(time.perf_counter() - t0, load_before, os.getloadavg(), args.quick)
    if args.json is not None:
        machine = machine_info()
        dest = write_json(args.json, {
            "benchmark": "transfer", "quick": bool(args.quick),
            "settings": {**vars(args), "tolerances": TOLERANCES,
                         "time_to_accuracy": "seconds since the small run began (transfer) "
                                             "or the large run began (scratch)"},
            "rows": rows, "machine": machine,
            "versions": {k: machine.get(k) for k in VMC_VERSION_KEYS}})
        print(f"wrote {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
