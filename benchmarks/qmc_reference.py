"""Quantum Monte Carlo references: physrnn's ALPS translation against published QMC numbers.

Question: does ``physrnn.baselines.quantum.qmc_ground_state`` (ALPS ``loop`` with beta doubling
on a lattice written from the netket graph) reproduce the exact and published ground-state
energies at sizes exact diagonalisation cannot reach, and at what cost?

Rows (energies totals unless "per site"; S units = S = sigma/2, Pauli for the TFIM):

- ``heis4x4p``: Heisenberg 4x4 periodic against exact diagonalisation (netket).
- ``tfim32``: TFIM chain N = 32, h = 1, periodic, against the free-fermion closed form.
- ``heis10x10o``: Heisenberg 10x10 open against -251.46248 in Pauli units = -62.86562 in S
  units (SSE; varbench, PRB 90, 064425; REFERENCES.md).
- ``heis10x10p``: Heisenberg 10x10 periodic against -0.671549(4) per site (S units; Sandvik,
  PRB 56, 11678 (1997)).
- ``tfim12x12``: TFIM 12x12 open at h = 3 against the best variational energy -457.0420317
  (Sharir et al., PRL 124, 020503; Hibat-Allah et al. 2D RNN -457.041866(27)): an upper bound
  on the exact energy, so QMC must lie at or below it within its error.

Each row: the beta ladder from ``beta_start`` (doubling until ``agree = 2`` consecutive rungs
agree within 2 error bars), then one production run at the converged beta; ``--budget-s``
per row. Columns: energy +- error, reference, (E - ref) / error, beta reached, sweeps, wall s.

Run::

    python benchmarks/qmc_reference.py --quick
    python benchmarks/qmc_reference.py --threads 1 \\
        --json benchmarks/results/qmc_reference-$(date +%F)-$(hostname).json
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

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

#: key -> (the system from physrnn.spins, reference total energy (None: exact/closed form
#: here), its error, source, beta_start, sweeps, production sweeps, "upper bound" flag)
ROWS = {
    "heis4x4p": (lambda s: s.heisenberg_square(4, 4, boundary="periodic"), None, 0.0,
                 "exact (netket ED)", 4.0, 10_000, 100_000, False),
    "tfim32": (lambda s: s.tfim_chain(32, h=1.0, boundary="periodic"), None, 0.0, "closed form",
               8.0, 10_000, 100_000, False),
    "heis10x10o": (lambda s: s.heisenberg_square(10, 10), -251.46248 / 4, 0.0,
                   "SSE, varbench (PRB 90, 064425): -251.46248 Pauli", 8.0, 5_000, 40_000,
                   False),
    "heis10x10p": (lambda s: s.heisenberg_square(10, 10, boundary="periodic"), -0.671549 * 100,
                   0.000004 * 100, "SSE, Sandvik PRB 56, 11678: -0.671549(4) per site",
                   8.0, 5_000, 40_000, False),
    "tfim12x12": (lambda s: s.tfim_square(12, 12, h=3.0), -457.0420317, 0.0,
                  "best variational (Sharir et al. PRL 124, 020503): upper bound", 4.0,
                  2_000, 20_000, True),
}
QUICK_ROWS = ("heis4x4p", "tfim32")

COLUMNS = [("row", "system"), ("energy_text", "QMC energy (total)"),
           ("reference", "reference", ".8f"), ("ref_source", "source"),
           ("deviation_sigma", "(E - ref) / err", ".2f"), ("rel_error", "|E - ref| / |ref|", ".1e"),
           ("energy_per_site", "E per site", ".7f"), ("beta", "beta reached", "g"),
           ("status", "ladder"), ("sweeps", "sweeps"), ("wall_s", "wall s", ".0f")]


def run_row(key: str, *, budget_s: float, quick: bool, seed: int,
            production_scale: float = 1.0, beta_start: float | None = None) -> dict:
    import physrnn.spins
    from physrnn.baselines.quantum.analytic import tfim_chain_energy
    from physrnn.baselines.quantum.exact import exact_ground_state_energy
    from physrnn.baselines.quantum.qmc import qmc_ground_state

    build, ref, ref_err, source, beta0, sweeps, prod, upper = ROWS[key]
    beta0 = beta0 if beta_start is None else beta_start
    system = build(physrnn.spins)
    if ref is None:
        ref = (exact_ground_state_energy(system.operator) if key.startswith("heis") else
               tfim_chain_energy(32, h=1.0, J=1.0, boundary="periodic"))
    if quick:
        sweeps, prod = max(sweeps // 4, 1000), max(prod // 10, 2000)
    prod = max(int(prod * production_scale), sweeps)
    t0 = time.perf_counter()
    res = qmc_ground_state(system, beta_start=beta0, sweeps=sweeps, production_sweeps=prod,
                           budget_s=budget_s, min_sweeps=min(2000, sweeps), seed=seed,
                           cache=not quick)
    wall = time.perf_counter() - t0
    err = math.hypot(res.error, ref_err)
    row = {"row": res.system.split(" (")[0], "key": key, "energy": res.energy,
           "error": res.error, "energy_text": f"{res.energy:.5f} +- {res.error:.1e}",
           "reference": ref, "reference_error": ref_err, "ref_source": source,
           "deviation_sigma": (res.energy - ref) / err,
           "rel_error": abs(res.energy - ref) / abs(ref),
           "energy_per_site": res.energy_per_site, "beta": res.beta, "status": res.status,
           "sweeps": res.sweeps, "wall_s": wall, "upper_bound_reference": upper,
           "trace": res.trace, "mapping": res.mapping,
           "staggered_magnetization_sq": res.staggered_magnetization_sq}
    row["agrees"] = (res.energy - ref <= 2 * err) if upper else abs(res.energy - ref) <= 3 * err
    print(f"  {key}: E = {res.energy:.6f} +- {res.error:.2g}, ref {ref:.6f}, "
          f"{row['deviation_sigma']:+.2f} sigma, beta {res.beta:g} ({res.status}), "
          f"{wall:.0f} s", flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--rows", default=None, help=f"comma-separated from {', '.join(ROWS)}")
    p.add_argument("--budget-s", type=float, default=None,
                   help="wall-clock budget per row (default 1200 s, quick 60 s)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--beta-start", type=float, default=None,
                   help="first beta of every row's ladder (default: the row's own)")
    p.add_argument("--production-scale", type=float, default=1.0,
                   help="multiply every row's production sweeps (smaller error bars; the "
                        "budget still caps them)")
    args = p.parse_args(argv)
    if args.threads:
        limit_threads(args.threads)
    keys = (args.rows.split(",") if args.rows else
            list(QUICK_ROWS) if args.quick else list(ROWS))
    unknown = [k for k in keys if k not in ROWS]
    if unknown:
        raise SystemExit(f"unknown rows {unknown}; choose from {', '.join(ROWS)}")
    budget = args.budget_s or (60.0 if args.quick else 1200.0)
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    rows = [run_row(k, budget_s=budget, quick=args.quick, seed=args.seed,
                    production_scale=args.production_scale, beta_start=args.beta_start)
            for k in keys]
    print()
    print(markdown_table(rows, COLUMNS))
    print_footer(time.perf_counter() - t0, load0, os.getloadavg(), args.quick)
    if args.json:
        write_json(args.json, {"benchmark": "qmc_reference", "quick": bool(args.quick),
                               "rows": rows, "settings": {"budget_s": budget, "seed": args.seed,
                                                          "rows": keys,
                                                          "production_scale":
                                                              args.production_scale,
                                                          "beta_start": args.beta_start},
                               "machine": machine_info(import_jax=False)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
