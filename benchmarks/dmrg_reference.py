"""DMRG references for the long chains: TeNPy's two-site DMRG, checked against exact
diagonalisation.

Question: what are the ground-state energies of the N = 100 open chains that
``reproduce_rnn_wavefunctions.py`` compares with, and how far are they converged?

Hamiltonian (S units, S = sigma / 2): ``H = J1 sum S_i . S_{i+1} + J2 sum S_i . S_{i+2}``,
open boundaries (TeNPy's ``SpinChainNNN2`` with ``Jx = Jy = Jz = J1`` and ``Jxp = Jyp = Jzp =
J2``, ``S^z`` conserved, start from the Neel product state, mixer on).

Rows:

- ``check20``: J1-J2 N = 20, J2 = 0.7 against exact diagonalisation (netket Lanczos): the
  convention check. DMRG at this size is exact to ~1e-12.
- ``heis100`` (J2 = 0), ``j1j2_100_02`` (J2 = 0.2), ``j1j2_100_07`` (J2 = 0.7, past the
  Majumdar-Ghosh point, the frustrated row of issue 18): N = 100.

Every row runs at two bond dimensions, ``chi`` and ``chi / 2``; the column "E(chi) - E(chi/2)"
is the convergence measure (DMRG is variational: the larger chi is lower or equal), and
"truncation" TeNPy's largest discarded weight of the last sweep.

Run::

    python benchmarks/dmrg_reference.py --quick
    python benchmarks/dmrg_reference.py --threads 1 \\
        --json benchmarks/results/dmrg_reference-$(date +%F)-$(hostname).json

Needs the ``dmrg`` extra (``pip install -c constraints.txt -e '.[dmrg]'``).
"""

from __future__ import annotations

import os
import sys
import time
import warnings
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

#: key -> (n_sites, J2, chi, previously published/committed reference or None)
ROWS: dict[str, tuple[int, float, int, float | None]] = {
    "check20": (20, 0.7, 200, None),
    "heis100": (100, 0.0, 400, -44.1277398933),
    "j1j2_100_02": (100, 0.2, 400, -40.7388190503),
    "j1j2_100_07": (100, 0.7, 400, None),
}
QUICK_ROWS = ("check20",)

COLUMNS = [("key", "row"), ("n_sites", "N"), ("J2", "J2", "g"), ("chi", "chi"),
           ("energy", "E_DMRG (S units)", ".10f"), ("energy_per_site", "E / N", ".8f"),
           ("convergence", "E(chi) - E(chi/2)", ".1e"), ("truncation", "truncation", ".1e"),
           ("reference", "reference", ".10f"), ("ref_source", "reference source"),
           ("deviation", "E - ref", ".1e"), ("wall_s", "wall s", ".0f")]


def dmrg_energy(n_sites: int, J2: float, *, chi: int, J1: float = 1.0,
                max_sweeps: int = 60) -> tuple[float, float]:
    """Ground-state energy of the open J1-J2 chain by two-site DMRG (TeNPy).

    Args:
        n_sites: chain length ``N`` (even).
        J2: next-nearest-neighbour coupling (energy units of ``J1``).
        chi: largest bond dimension.
        J1: nearest-neighbour coupling.
        max_sweeps: sweep limit (DMRG stops earlier at an energy change below 1e-12).

    Returns:
        ``(E, truncation)``: the total energy in S units and the largest discarded weight.
    """
    from tenpy.algorithms import dmrg
    from tenpy.models.spins_nnn import SpinChainNNN2
    from tenpy.networks.mps import MPS

    model = SpinChainNNN2({"L": n_sites, "S": 0.5, "bc_MPS": "finite", "Jx": J1, "Jy": J1,
                           "Jz": J1, "Jxp": J2, "Jyp": J2, "Jzp": J2, "hz": 0.0,
                           "conserve": "Sz"})
    with warnings.catch_warnings():  # TeNPy 1.1 warns about an argument it will require
        warnings.simplefilter("ignore", UserWarning)
        psi = MPS.from_product_state(model.lat.mps_sites(), ["up", "down"] * (n_sites // 2),
                                     bc="finite")
    info = dmrg.run(psi, model, {"mixer": True, "max_E_err": 1e-12, "max_sweeps": max_sweeps,
                                 "trunc_params": {"chi_max": chi, "svd_min": 1e-12}})
    trunc = float(max(info["sweep_statistics"]["max_trunc_err"][-1:] or [0.0]))
    return float(info["E"]), trunc


def run_row(key: str, *, quick: bool) -> dict:
    n, J2, chi, ref = ROWS[key]
    if quick:
        chi = min(chi, 64)
    source = "REFERENCES.md (DMRG)" if ref is not None else ""
    if key == "check20":
        import physrnn.spins
        from physrnn.baselines.quantum.exact import exact_ground_state_energy

        ref = exact_ground_state_energy(physrnn.spins.j1j2_chain(n, J2=J2).operator)
        source = "exact diagonalisation (netket)"
    t0 = time.perf_counter()
    e_half, _ = dmrg_energy(n, J2, chi=chi // 2)
    e, trunc = dmrg_energy(n, J2, chi=chi)
    wall = time.perf_counter() - t0
    row = {"key": key, "n_sites": n, "J2": J2, "chi": chi, "energy": e,
           "energy_per_site": e / n, "energy_half_chi": e_half, "convergence": e - e_half,
           "truncation": trunc, "reference": ref, "ref_source": source,
           "deviation": None if ref is None else e - ref, "wall_s": wall}
    print(f"  {key}: E = {e:.10f} (chi {chi}), E(chi/2) - E = {e_half - e:.1e}, "
          f"{wall:.0f} s", flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--rows", default=None, help=f"comma-separated from {', '.join(ROWS)}")
    args = p.parse_args(argv)
    keys = (args.rows.split(",") if args.rows else
            list(QUICK_ROWS) if args.quick else list(ROWS))
    unknown = [k for k in keys if k not in ROWS]
    if unknown:
        raise SystemExit(f"--rows: unknown rows {unknown}; choose from {', '.join(ROWS)}")
    try:
        import tenpy  # noqa: F401
    except ImportError:
        raise SystemExit("dmrg_reference needs TeNPy: pip install -c constraints.txt "
                         "-e '.[dmrg]'") from None
    if args.threads:
        limit_threads(args.threads)
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    rows = [run_row(k, quick=args.quick) for k in keys]
    print()
    print(markdown_table(rows, COLUMNS))
    print_footer(time.perf_counter() - t0, load0, os.getloadavg(), args.quick)
    if args.json:
        write_json(args.json, {"benchmark": "dmrg_reference", "quick": bool(args.quick),
                               "rows": rows, "settings": {"rows": keys},
                               "machine": machine_info(import_jax=False)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
