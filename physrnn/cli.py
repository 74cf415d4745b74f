"""``physrnn`` command line: the only place that reads ``argv``.

Subcommands:
    quickstart   ground state of the TFIM chain (N = 20, h = 1, open) against the exact energy
    vmc          variational Monte Carlo from a TOML config
    show-config  print the resolved config (defaults + file + --set) as TOML
"""

from __future__ import annotations

import argparse
import datetime as _dt
import logging
import sys
import textwrap
from pathlib import Path

from physrnn.errors import PhysrnnError

__all__ = ["main", "QUICKSTART_OVERRIDES"]

#: The quickstart run: defaults of :class:`physrnn.config.VMCRunConfig` plus these settings.
QUICKSTART_OVERRIDES = [
    "system.model=tfim", "system.n_sites=20", "system.boundary=open", "system.h=1.0",
    "vmc.n_steps=1000", "vmc.n_samples=512", "run.seed=1",
]


def _summary_help() -> str:
    from physrnn.vmc.job import SUMMARY_KEYS

    width = max(len(k) for k in SUMMARY_KEYS)
    lines = [f"  {k:<{width}}  {v}" for k, v in SUMMARY_KEYS.items()]
    return ("outputs in --out DIR: record.h5 (config, versions, history, results), "
            "summary.json, energy.png, checkpoint.pt\n\nsummary.json keys:\n" + "\n".join(lines))


def _add_run_options(p: argparse.ArgumentParser, *, out_required: bool) -> None:
    p.add_argument("--out", type=Path, required=out_required,
                   help="output directory" + ("" if out_required else
                                              " (default: physrnn-runs/<command>-<time>)"))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SEC.KEY=VAL",
                   help="override a config value, e.g. --set vmc.lr=3e-3 (repeatable)")
    p.add_argument("--overwrite", action="store_true", help="replace results already in --out")
    p.add_argument("--resume", action="store_true",
                   help="continue from --out/checkpoint.pt (same config)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, warnings only")


def _parser() -> argparse.ArgumentParser:
    from physrnn import __version__

    parser = argparse.ArgumentParser(
        prog="physrnn",
        description="Recurrent neural networks for physics, checked against exact answers.",
    )
    parser.add_argument("--version", action="version", version=f"physrnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fmt = argparse.RawDescriptionHelpFormatter

    q = sub.add_parser(
        "quickstart", formatter_class=fmt, help="TFIM chain ground state vs the exact energy",
        description=textwrap.dedent("""\
            Ground state of the transverse-field Ising chain H = -sum sz sz - h sum sx (Pauli),
            N = 20, h = 1, open boundaries, with a GRU recurrent wavefunction and exact
            sampling; compared with the closed-form (free-fermion) energy. About 2 minutes on
            2 CPU cores. Any setting can be changed with --set."""),
        epilog=_summary_help())
    _add_run_options(q, out_required=False)

    v = sub.add_parser("vmc", formatter_class=fmt, help="variational Monte Carlo from a config",
                       description="Variational Monte Carlo ground state of a spin chain "
                                   "described by a TOML config (see examples/).",
                       epilog=_summary_help())
    v.add_argument("config", type=Path, help="TOML config file")
    _add_run_options(v, out_required=True)

    d = sub.add_parser("data", help="simulated-dynamics datasets: generate, info, systems")
    dsub = d.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    g = dsub.add_parser("generate", help="simulate a dataset card into an HDF5 file",
                        description="Simulate the dataset card CARD (datasets/*.toml) and write "
                                    "the HDF5 dataset FILE atomically.")
    g.add_argument("card", type=Path, help="dataset card (TOML)")
    g.add_argument("--out", type=Path, required=True, help="dataset file to write (.h5)")
    g.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="SEC.KEY=VAL", help="override a card value, e.g. simulation.n_traj=8")
    g.add_argument("--overwrite", action="store_true", help="replace an existing file")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    i = dsub.add_parser("info", help="describe a dataset file (and validate it)")
    i.add_argument("file", type=Path)
    dsub.add_parser("systems", help="list the registered dynamical systems")

    s = sub.add_parser("show-config", help="print the resolved config as TOML")
    s.add_argument("config", type=Path, nargs="?", help="TOML config file (default: defaults)")
    s.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="SEC.KEY=VAL")
    return parser


def _print_table(summary: dict) -> None:
    def fmt(key: str, spec: str) -> str:
        v = summary.get(key)
        return "-" if v is None else format(v, spec)

    energy = f"{fmt('energy', '.8f')} +- {fmt('energy_error', '.1e')}"
    rows = [
        ("system", summary.get("system", "-")),
        ("energy (ours)", energy),
        (f"reference ({summary.get('reference_kind', '-')})", fmt("reference_energy", ".8f")),
        ("relative error", fmt("rel_error", ".2e")),
        ("variance", fmt("variance", ".3e")),
        ("V-score", fmt("v_score", ".2e")),
        ("parameters", fmt("n_parameters", "d")),
        ("steps x samples", f"{summary.get('n_steps')} x {summary.get('n_samples')}"),
        ("wall time (s)", fmt("wall_time_s", ".1f")),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"| {'quantity':<{width}} | value |")
    print(f"|{'-' * (width + 2)}|-------|")
    for name, value in rows:
        print(f"| {name:<{width}} | {value} |")


def _cmd_vmc(args: argparse.Namespace, *, quickstart: bool) -> int:
    from physrnn.config import load_config
    from physrnn.vmc.job import run_vmc_job

    overrides = (QUICKSTART_OVERRIDES if quickstart else []) + args.overrides
    config = load_config(None if quickstart else args.config, overrides=overrides)
    out = args.out
    if out is None:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path("physrnn-runs") / f"{args.command}-{stamp}"
    command = "physrnn " + " ".join(sys.argv[1:]) if sys.argv else f"physrnn {args.command}"
    summary = run_vmc_job(config, out, overwrite=args.overwrite, resume=args.resume,
                          progress=False if args.quiet else None, command=command)
    _print_table(summary)
    print(f"\nwrote {out}/record.h5, summary.json, energy.png")
    if quickstart and summary.get("rel_error") is not None:
        verdict = "PASS" if summary["rel_error"] <= 1e-3 else "above target"
        print(f"relative error {summary['rel_error']:.2e} (target <= 1e-3): {verdict}")
    return 0 if summary.get("status") == "completed" else 3


def _cmd_data(args: argparse.Namespace) -> int:
    if args.data_command == "generate":
        from physrnn.data.cards import generate_from_card, load_card
        from physrnn.data.hdf5 import describe_dataset

        card = load_card(args.card, overrides=args.overrides)
        path = generate_from_card(card, args.out, overwrite=args.overwrite,
                                  progress=False if args.quiet else None)
        print(describe_dataset(path))
        return 0
    if args.data_command == "info":
        from physrnn.data.hdf5 import describe_dataset

        print(describe_dataset(args.file))
        return 0
    from physrnn.systems.base import REGISTRY, list_systems

    for name in list_systems():
        cls = REGISTRY[name]
        doc = (cls.__doc__ or "").strip().splitlines()
        print(f"{name:<24} {cls.kind:<8} {doc[0] if doc else ''}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``physrnn`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    quiet = getattr(args, "quiet", False)
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command in ("quickstart", "vmc"):
            return _cmd_vmc(args, quickstart=args.command == "quickstart")
        if args.command == "data":
            return _cmd_data(args)
        if args.command == "show-config":
            from physrnn.config import load_config, to_toml

            print(to_toml(load_config(args.config, overrides=args.overrides)), end="")
            return 0
    except PhysrnnError as exc:
        print(f"physrnn: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("physrnn: interrupted; a checkpoint was written (continue with --resume)",
              file=sys.stderr)
        return 130
    return 1  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
