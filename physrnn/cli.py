"""``physrnn`` command line: the only place that reads ``argv``.

Subcommands:
    quickstart   ground state of the TFIM chain (N = 20, h = 1, open) against the exact energy
    vmc          variational Monte Carlo from a TOML config
    qmc          quantum Monte Carlo ground state (ALPS loop) of a config's [system]
    train        train an RNN forecaster and score it against baselines
    evaluate     re-score a trained run
    memory       memory tasks: which cells solve which delays
    data         datasets (generate, import, info, systems)
    sweep        a grid of runs from one config (local, in parallel, or a SLURM array)
    collect      gather every summary.json under some directories into one table
    show-config  print the resolved config (defaults + file + --set) as TOML
    convert-checkpoint  rewrite a trusted old-format (pickled) checkpoint in the safe format

Exit codes: 0 success; 1 a run or a sweep member failed; 2 a user error (bad config, argument
or file: one line ``physrnn: error: ...`` on stderr, nothing existing changed); 3 a VMC run
stopped early; 73 the output directory or file is in use by another process (the line names
its host and pid); 74 an output could not be written (disk full, read-only, directory removed:
the previous files are intact; fix it and rerun with ``--resume``); 75 preempted by
SIGTERM/SIGUSR1 after writing a checkpoint (rerun with ``--resume``); 130 interrupted (Ctrl-C:
no checkpoint is written mid-step, ``--resume`` starts from the last periodic one).
``PHYSRNN_DEBUG=1`` shows the traceback of an error that is reported in one line.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import textwrap
from pathlib import Path
from typing import NoReturn

from physrnn.errors import ConfigError, OutputExistsError, PhysrnnError
from physrnn.runs.commands import (
    KIND_COMMANDS,
    KIND_EXTRA_OPTIONS,
    KIND_OPTIONS,
    QUICKSTART_OVERRIDES,
    add_import_options,
    data_import_command,
)
from physrnn.runs.preempt import PREEMPTED_EXIT_CODE
from physrnn.runs.registry import RUN_KINDS, config_kinds

__all__ = ["main", "QUICKSTART_OVERRIDES", "LOCKED_EXIT_CODE", "WRITE_FAILED_EXIT_CODE"]

#: Exit code when the output directory (or file) is locked by another live process
#: (``EX_CANTCREAT`` of ``sysexits.h``).
LOCKED_EXIT_CODE = 73
#: Exit code when an output could not be written (disk or quota full, read-only file system,
#: directory removed; ``EX_IOERR``): the files that were there are unchanged, and a run
#: continues from its last checkpoint with ``--resume`` once the cause is fixed.
WRITE_FAILED_EXIT_CODE = 74

class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``physrnn: error: <command>: <message>``."""

    def error(self, message: str) -> NoReturn:
        where = self.prog.removeprefix("physrnn").strip()
        hint = f"see physrnn {where} --help" if where else "see physrnn --help"
        self.exit(2, f"physrnn: error: {where + ': ' if where else ''}{message} ({hint})\n")


def _add_run_options(p: argparse.ArgumentParser, *, out_required: bool) -> None:
    p.add_argument("--out", type=Path, required=out_required,
                   help="output directory" + ("" if out_required else
                                              " (default: physrnn-runs/<command>-<time>)"))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SEC.KEY=VAL",
                   help="override a config value, e.g. --set vmc.lr=3e-3 (repeatable)")
    p.add_argument("--overwrite", action="store_true", help="replace results already in --out")
    p.add_argument("--resume", action="store_true",
                   help="continue from --out/checkpoint.pt (same config); starts afresh when "
                        "there is no checkpoint yet, so a batch script can always pass it")
    p.add_argument("--quiet", action="store_true", help="no progress bar, warnings only")


#: The help of the config argument, by kind (default: "TOML config file").
_CONFIG_HELP = {"train": "TOML config (see examples/forecast_*.toml)"}


def _parser() -> argparse.ArgumentParser:
    from physrnn import __version__

    parser = _Parser(
        prog="physrnn",
        description="Recurrent neural networks for physics, checked against exact answers. "
                    "Run kinds (one command each; physrnn KIND --help lists its outputs and "
                    "summary.json keys): " + ", ".join(RUN_KINDS) + ".",
        epilog="exit codes: 0 success, 1 a run failed, 2 user error (bad config, argument or "
               "file), 3 VMC stopped early, 73 output in use by another process, 74 output "
               "could not be written (disk full, read-only, removed; previous files intact), "
               "75 preempted after a checkpoint (rerun with --resume), 130 interrupted "
               "(Ctrl-C; resume from the last periodic checkpoint)",
    )
    parser.add_argument("--version", action="version", version=f"physrnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fmt = argparse.RawDescriptionHelpFormatter

    q = sub.add_parser(
        "quickstart", formatter_class=fmt, help="TFIM chain ground state vs the exact energy",
        description=textwrap.dedent("""\
            Ground state of the transverse-field Ising chain H = -sum sz sz - h sum sx (Pauli),
            N = 20, h = 1, open boundaries, with a GRU recurrent wavefunction and exact
            sampling; compared with the closed-form (free-fermion) energy. About 1.5 minutes on
            one CPU core. Any setting can be changed with --set."""),
        epilog=RUN_KINDS["vmc"].summary_help())
    _add_run_options(q, out_required=False)

    for kind in RUN_KINDS.values():  # one subcommand per run kind
        k = sub.add_parser(kind.name, formatter_class=fmt, help=kind.help,
                           description=kind.description, epilog=kind.summary_help())
        if kind.config_file:
            k.add_argument("config", type=Path,
                           help=_CONFIG_HELP.get(kind.name, "TOML config file"))
            _add_run_options(k, out_required=True)
            if kind.name in KIND_EXTRA_OPTIONS:
                KIND_EXTRA_OPTIONS[kind.name](k)
        else:
            KIND_OPTIONS[kind.name](k)
    e = sub.add_parser("evaluate", help="re-score a trained run (table and figures)",
                       description="Load DIR/checkpoint.pt and its config, forecast the test "
                                   "windows with the RNN and the baselines, print the table and "
                                   "write DIR/evaluate/{evaluation.json,nrmse.png,forecasts.png}.")
    e.add_argument("run_dir", type=Path, help="output directory of physrnn train")
    e.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="SEC.KEY=VAL", help="override an eval setting, e.g. eval.n_test=50")
    e.add_argument("--overwrite", action="store_true", help="replace DIR/evaluate")
    e.add_argument("--quiet", action="store_true", help="warnings only")

    d = sub.add_parser("data", help="datasets: generate, import, info, systems")
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
    add_import_options(dsub.add_parser(
        "import", help="import a recorded series (.npy, .npz, CSV, HDF5) as a dataset file",
        description="Read a recorded series from FILE, check it (rank, finite values, strictly "
                    "increasing, uniformly spaced times), split it (whole trajectories, or "
                    "contiguous segments in time for one long recording) and write the "
                    "physrnn dataset --out atomically, with the provenance 'imported from "
                    "FILE'. See docs/data-import.md."))
    i = dsub.add_parser("info", help="describe a dataset file (and validate it)",
                        description="Validate the dataset file FILE (every value: non-finite "
                                    "states, a stale normalisation) and describe it.")
    i.add_argument("file", type=Path)
    i.add_argument("--shallow", action="store_true",
                   help="check the structure only, without reading every value (big files)")
    dsub.add_parser("systems", help="list the registered dynamical systems")

    w = sub.add_parser(
        "sweep", formatter_class=fmt, help="a grid of runs from one config",
        description=textwrap.dedent("""\
            Expand CONFIG over the cartesian product of the --grid values into runs with their
            own directories under --out (named from the grid values, each with its resolved
            config.toml; DIR/sweep.json and DIR/runs.txt list them), then run them locally as
            separate physrnn processes (--jobs at a time; output in <run>/log.txt), or with
            --slurm write DIR/sweep.sbatch, a SLURM job array, instead. Runs that completed
            are skipped and the others continue from their checkpoints, so a sweep can be
            started again until it is done."""),
        epilog=textwrap.dedent("""\
            example:
              physrnn sweep examples/heisenberg_chain.toml --grid vmc.lr=1e-3,3e-3 \\
                  --grid run.seed=0,1,2 --out runs/lr-scan --jobs 2
              physrnn collect runs/lr-scan --out lr-scan.csv --h5 lr-scan.h5

            exit code: 0 every run completed (or had before), 1 a run failed, 75 the sweep
            was preempted (the running runs checkpointed; start it again)"""))
    sweepable = " or ".join(n for n, k in RUN_KINDS.items() if k.config_file)
    w.add_argument("config", type=Path, help=f"TOML config ({sweepable})")
    w.add_argument("--grid", action="append", default=[], metavar="SEC.KEY=V1,V2,...",
                   help="values of one config key (repeatable; values as in --set; commas "
                        "inside [...] or quotes do not split)")
    w.add_argument("--out", type=Path, required=True, help="sweep directory")
    w.add_argument("--kind", choices=config_kinds(),
                   help="what each run is (default: from the config's sections)")
    w.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="SEC.KEY=VAL", help="override for every run (repeatable)")
    w.add_argument("--jobs", type=int, default=1, help="runs at a time (local)")
    w.add_argument("--dry-run", action="store_true", help="list the runs, write nothing")
    w.add_argument("--slurm", action="store_true",
                   help="write DIR/sweep.sbatch (a SLURM job array) and DIR/runs.txt; run "
                        "nothing")
    w.add_argument("--slurm-template", type=Path, metavar="PATH",
                   help="array script template (default: examples/slurm/array.sbatch's text)")
    w.add_argument("--slurm-time", default="04:00:00", metavar="HH:MM:SS",
                   help="time limit of each array task")
    w.add_argument("--max-parallel", type=int, metavar="N",
                   help="at most N array tasks at once (SLURM's %%N)")
    w.add_argument("--overwrite", action="store_true",
                   help="rerun every run from scratch (also when its config changed)")

    c = sub.add_parser(
        "collect", help="gather summary.json files into one table (CSV, HDF5)",
        description="Find every summary.json under the directories and write one row per run "
                    "(its scalars, plus the config keys that differ between runs) to a CSV "
                    "file and optionally an HDF5 table; print a short table.")
    c.add_argument("dirs", type=Path, nargs="+", metavar="DIR", help="run or sweep directory")
    c.add_argument("--out", type=Path, required=True, help="CSV file to write")
    c.add_argument("--h5", type=Path, help="also write this HDF5 table (physrnn-table v1)")
    c.add_argument("--overwrite", action="store_true", help="replace existing table files")
    c.add_argument("--skip-unreadable", action="store_true",
                   help="skip runs whose summary.json (or record.h5) cannot be read, with a "
                        "warning (default: such a file is an error)")

    k = sub.add_parser(
        "convert-checkpoint", help="convert a trusted old-format checkpoint to the safe format",
        description="physrnn reads checkpoints without running code (plain data and tensors "
                    "only). A checkpoint of an older physrnn that pickled Python objects is "
                    "refused; if you trust where it came from, this loads it once with full "
                    "pickle (which runs any code in it), rewrites it in the safe format in "
                    "place, and keeps the original as FILE.unsafe.")
    k.add_argument("file", type=Path, help="checkpoint.pt to convert")
    k.add_argument("--trust", action="store_true",
                   help="required: you trust the file's source (loading it may run its code)")

    s = sub.add_parser("show-config", help="print the resolved config as TOML",
                       description="Print the resolved config (defaults + file + --set) of "
                                   "any run kind as TOML; the kind is told by the file's "
                                   "sections (or --kind; with neither, the vmc defaults).")
    s.add_argument("config", type=Path, nargs="?", help="TOML config file (default: defaults)")
    s.add_argument("--kind", choices=list(RUN_KINDS),
                   help="the run kind (default: from the config's sections)")
    s.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="SEC.KEY=VAL")
    return parser


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from physrnn.runs.records import prepare_output_dir, write_summary
    from physrnn.runs.reports import forecast_table
    from physrnn.runs.train import evaluate_run, load_trained, write_eval_figures

    out = args.run_dir / "evaluate"
    if out.is_symlink():  # a received run directory must not send our writes elsewhere
        raise OutputExistsError(f"{out} is a symbolic link (to {os.readlink(out)}); physrnn "
                                "evaluate writes only inside the run directory: remove the link")
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise OutputExistsError(f"{out} already exists; pass --overwrite to replace it")
    config, model, data = load_trained(args.run_dir, overrides=args.overrides)
    prepare_output_dir(out, overwrite=True, lock=True)  # released when main() returns
    rows, extras = evaluate_run(config, model, data)
    write_summary(out / "evaluation.json", {"table": rows})
    write_eval_figures(out, config, extras)
    print(forecast_table(rows))
    print(f"\nwrote {out}/evaluation.json, nrmse.png, forecasts.png")
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    if args.data_command == "generate":
        from physrnn.data.cards import generate_from_card, load_card
        from physrnn.data.hdf5 import describe_dataset
        from physrnn.runlock import file_lock

        card = load_card(args.card, overrides=args.overrides)
        with file_lock(args.out):  # a second process on the same file is refused
            path = generate_from_card(card, args.out, overwrite=args.overwrite,
                                      progress=False if args.quiet else None)
        print(describe_dataset(path))
        return 0
    if args.data_command == "import":
        return data_import_command(args)
    if args.data_command == "info":
        from physrnn.data.hdf5 import check_dataset, describe_dataset

        if not args.shallow:
            check_dataset(args.file, deep=True)
        print(describe_dataset(args.file))
        return 0
    from physrnn.systems.base import REGISTRY, list_systems

    for name in list_systems():
        cls = REGISTRY[name]
        doc = (cls.__doc__ or "").strip().splitlines()
        print(f"{name:<24} {cls.kind:<8} {doc[0] if doc else ''}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from physrnn.runlock import RunLock
    from physrnn.runs import preempt
    from physrnn.runs.reports import sweep_plan_table, sweep_results_table
    from physrnn.runs.sweep import plan_sweep, run_sweep, write_slurm, write_sweep

    if args.jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {args.jobs}")
    if args.max_parallel is not None and args.max_parallel < 1:
        raise ConfigError(f"--max-parallel must be >= 1, got {args.max_parallel}")
    if args.slurm_template is not None and not args.slurm_template.is_file():
        raise ConfigError(f"--slurm-template {args.slurm_template}: file not found")
    plan = plan_sweep(args.config, args.grid, args.out, kind=args.kind,
                      overrides=args.overrides)
    print(sweep_plan_table(plan))
    if args.dry_run:
        return 0
    if args.slurm:
        from physrnn.runs.sweep import render_slurm

        kwargs = {"max_parallel": args.max_parallel, "time_limit": args.slurm_time}
        if args.slurm_template is not None:  # fail on a bad template before writing anything
            render_slurm(plan, args.slurm_template.read_text(encoding="utf-8"), **kwargs)
        RunLock(plan.out, what=f"sweep directory {plan.out}").acquire()  # released by main()
        write_sweep(plan, overwrite=args.overwrite)
        path = write_slurm(plan, args.slurm_template, **kwargs)
        print(f"\nwrote {path} ({len(plan.runs)} array tasks) and {plan.out}/runs.txt; "
              f"submit with: sbatch {path}")
        return 0
    RunLock(plan.out, what=f"sweep directory {plan.out}").acquire()  # released by main()
    write_sweep(plan, overwrite=args.overwrite)
    with preempt.handle_preemption():
        results = run_sweep(plan, jobs=args.jobs, overwrite=args.overwrite)
    print("\n" + sweep_results_table(results))
    failed = [r for r in results if r.status == "failed"]
    stopped = [r for r in results if r.status in ("preempted", "not started")]
    if failed:
        print(f"physrnn: error: {len(failed)} of {len(results)} runs failed "
              f"({', '.join(r.name for r in failed)}); see <run>/log.txt", file=sys.stderr)
        return 1
    if stopped:
        print(f"physrnn: sweep preempted: {len(stopped)} of {len(results)} runs to finish; "
              "start the same sweep again", file=sys.stderr)
        return PREEMPTED_EXIT_CODE
    print(f"\nall {len(results)} runs completed; gather them with: physrnn collect "
          f"{plan.out} --out {plan.out}/table.csv")
    return 0


def _cmd_collect(args: argparse.Namespace) -> int:
    from physrnn.runs.collect import collect_rows, format_table, write_csv, write_table_h5

    targets = [args.out] + ([args.h5] if args.h5 is not None else [])
    if args.h5 is not None and args.h5.resolve() == args.out.resolve():
        raise ConfigError("--out and --h5 name the same file")
    for t in targets:  # check every output before writing any
        if t.exists() and (t.is_dir() or not args.overwrite):
            raise OutputExistsError(f"{t} already exists; pass --overwrite to replace it"
                                    if not t.is_dir() else f"{t} is a directory")
    rows, columns, skipped = collect_rows(args.dirs, skip_unreadable=args.skip_unreadable)
    write_csv(args.out, rows, columns, overwrite=args.overwrite)
    if args.h5 is not None:
        write_table_h5(args.h5, rows, columns, sources=[str(d) for d in args.dirs],
                       overwrite=args.overwrite)
    print(format_table(rows, columns))
    print(f"\n{len(rows)} runs, {len(columns)} columns: wrote "
          + " and ".join(str(t) for t in targets)
          + (f" (skipped {len(skipped)} unreadable summary.json)" if skipped else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``physrnn`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    quiet = getattr(args, "quiet", False)
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("jax").setLevel(logging.WARNING)  # its backend probing is not news
    from physrnn.runlock import held_locks

    held_before = {id(lock) for lock in held_locks()}
    try:
        args.command_line = ("physrnn " + " ".join(sys.argv[1:]) if sys.argv
                             else f"physrnn {args.command}")
        if args.command in KIND_COMMANDS:  # quickstart, and every run kind of the registry
            return KIND_COMMANDS[args.command](args)
        if args.command == "evaluate":
            return _cmd_evaluate(args)
        if args.command == "data":
            return _cmd_data(args)
        if args.command == "sweep":
            return _cmd_sweep(args)
        if args.command == "collect":
            return _cmd_collect(args)
        if args.command == "show-config":
            from physrnn.config import to_toml
            from physrnn.runs.registry import load_run_config

            _, config = load_run_config(args.config, kind=args.kind, overrides=args.overrides,
                                        default="vmc")
            print(to_toml(config), end="")
            return 0
        if args.command == "convert-checkpoint":
            from physrnn.checkpoints import convert_checkpoint

            convert_checkpoint(args.file, trust=args.trust)
            print(f"converted {args.file} to the safe format; the original is kept as "
                  f"{args.file}.unsafe")
            return 0
    except (PhysrnnError, OSError) as exc:
        if os.environ.get("PHYSRNN_DEBUG"):
            raise
        print(f"physrnn: error: {_one_line(exc)}", file=sys.stderr)
        return _exit_code(exc)
    except KeyboardInterrupt:
        print("physrnn: interrupted; nothing was checkpointed mid-step: --resume continues "
              "from the last periodic checkpoint", file=sys.stderr)
        return 130
    finally:
        for lock in held_locks():  # the locks this command took
            if id(lock) not in held_before:
                lock.release()
    return 1  # pragma: no cover


def _exit_code(exc: BaseException) -> int:
    """Exit code of an error reported in one line (documented in the module docstring)."""
    from physrnn.errors import OutputWriteError, RunLockedError

    if isinstance(exc, RunLockedError):
        return LOCKED_EXIT_CODE
    if isinstance(exc, OutputWriteError):
        return WRITE_FAILED_EXIT_CODE
    return 2


def _one_line(exc: BaseException) -> str:
    """The error as one line: multi-line messages (e.g. a list of problems) are joined."""
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, OSError) and not isinstance(exc, PhysrnnError):
        where = exc.filename if exc.filename is not None else ""
        text = f"{exc.strerror or text}: {where}" if where else (exc.strerror or text)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return "; ".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
