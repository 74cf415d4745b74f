"""What the command line does for each run kind: config from the arguments, the job, the report.

``physrnn <kind>`` parses its arguments (:mod:`physrnn.cli`) and hands the namespace to
``KIND_COMMANDS[kind]``, which builds the run config (from the TOML file and ``--set``, or from
the options of a kind without a config file, :data:`KIND_OPTIONS`), runs the kind's job from
:mod:`physrnn.runs.registry` (on every process of a ``torchrun`` / ``srun`` launch, with
preemption signals handled), prints its table on rank 0 and returns the exit code documented
in :mod:`physrnn.cli`. The namespace carries ``command_line``, the command as typed (stored in
the record).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
from collections.abc import Callable
from pathlib import Path

from physrnn.errors import ConfigError
from physrnn.runs.preempt import PREEMPTED_EXIT_CODE
from physrnn.runs.registry import RunKind, get_kind

__all__ = ["QUICKSTART_OVERRIDES", "KIND_COMMANDS", "KIND_OPTIONS", "KIND_EXTRA_OPTIONS",
           "vmc_command", "qmc_command", "add_qmc_options",
           "train_command", "memory_command", "add_memory_options", "add_import_options",
           "data_import_command"]

#: The quickstart run: defaults of :class:`physrnn.vmc.config.VMCRunConfig` plus these settings.
#: One intra-op thread: a GRU of 32 units gains little from a second thread, and oversubscribed
#: torch threads on a busy machine run 10-100x slower.
QUICKSTART_OVERRIDES = [
    "system.model=tfim", "system.n_sites=20", "system.boundary=open", "system.h=1.0",
    "vmc.n_steps=1000", "vmc.n_samples=256", "run.seed=1", "run.threads=1",
]


def add_memory_options(m: argparse.ArgumentParser) -> None:
    """The options of ``physrnn memory`` (it takes no config file)."""
    m.add_argument("--task", default="adding", choices=("adding", "recall", "copy"))
    m.add_argument("--delays", default="10,50,100", help="comma-separated delays")
    m.add_argument("--models", default="rnn,lstm,gru", help="comma-separated cells")
    m.add_argument("--variants", default="plain",
                   help="plain,clip,orthogonal,identity (non-plain apply to the tanh RNN)")
    m.add_argument("--seeds", type=int, default=1)
    m.add_argument("--steps", type=int, default=1000, help="optimiser steps per run")
    m.add_argument("--hidden", type=int, default=64)
    m.add_argument("--lr", type=float, default=1e-3)
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--overwrite", action="store_true")
    m.add_argument("--quiet", action="store_true")


def add_import_options(p: argparse.ArgumentParser) -> None:
    """The options of ``physrnn data import`` (each a key of
    :class:`physrnn.data.importers.ImportSpec`; a flag overrides ``--spec``)."""
    p.add_argument("file", type=Path, help="source: .npy, .npz, .csv/.tsv or .h5/.hdf5")
    p.add_argument("--out", type=Path, required=True, help="dataset file to write (.h5)")
    p.add_argument("--spec", type=Path, help="import spec (TOML; the flags override it)")
    p.add_argument("--format", choices=("npy", "npz", "csv", "hdf5"),
                   help="file format (default: from the suffix)")
    p.add_argument("--key", help="array of the states (.npz name, HDF5 dataset path)")
    p.add_argument("--time-key", help="array of the times (.npz name, HDF5 dataset path)")
    p.add_argument("--time-column", metavar="NAME|INDEX",
                   help="column of the times (CSV name or index, or array column index; a CSV "
                        "column named t or time is found by itself)")
    p.add_argument("--dt", type=float, help="sampling interval when the file has no times")
    p.add_argument("--t0", type=float, help="time of the first sample (with --dt; default 0)")
    p.add_argument("--layout", metavar="AXES",
                   help="the array's axes from traj,time,state (default: time | time,state | "
                        "traj,time,state by rank), e.g. state,time")
    p.add_argument("--names", metavar="A,B,..", help="state names (default: CSV header, y0..)")
    p.add_argument("--units", metavar="U,V,..", help="state units, one per name (default 1)")
    p.add_argument("--time-unit", help="unit of the times (default 1)")
    p.add_argument("--time-rtol", type=float,
                   help="relative tolerance of each time spacing (default 1e-3)")
    p.add_argument("--delimiter", help="CSV delimiter (default ',', tab for .tsv; "
                                       "'whitespace' for runs of spaces)")
    p.add_argument("--name", help="dataset name (default: the file's stem)")
    p.add_argument("--description", help="what the data is")
    p.add_argument("--lyapunov-exponent", type=float, metavar="LAMBDA",
                   help="largest Lyapunov exponent, 1 / time unit (scores in Lyapunov times)")
    p.add_argument("--split", choices=("auto", "trajectory", "time"),
                   help="by whole trajectories, or contiguous segments in time (default auto: "
                        "by trajectory when there are enough for every split)")
    p.add_argument("--segments", type=int, help="pieces per trajectory in time mode (10)")
    p.add_argument("--fractions", metavar="TRAIN,VAL,TEST", help="split fractions (0.8,0.1,0.1)")
    p.add_argument("--seed", type=int, help="seed of the by-trajectory split (0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--quiet", action="store_true", help="warnings only")


def _str_list(text: str | None) -> list[str] | None:
    return None if text is None else [v.strip() for v in text.split(",")]


def data_import_command(args: argparse.Namespace) -> int:
    """``physrnn data import FILE --out OUT``: import, describe the written file; exit code."""
    from physrnn.data.hdf5 import describe_dataset
    from physrnn.data.importers import import_series
    from physrnn.runlock import file_lock

    fractions = None
    if args.fractions is not None:
        try:
            fractions = tuple(float(v) for v in args.fractions.split(","))
        except ValueError:
            raise ConfigError(f"--fractions: expected three numbers TRAIN,VAL,TEST, got "
                              f"{args.fractions!r}") from None
    options = {"format": args.format, "key": args.key, "time_key": args.time_key,
               "time_column": args.time_column, "dt": args.dt, "t0": args.t0,
               "layout": args.layout, "names": _str_list(args.names),
               "units": _str_list(args.units), "time_unit": args.time_unit,
               "time_rtol": args.time_rtol, "delimiter": args.delimiter, "name": args.name,
               "description": args.description, "lyapunov_exponent": args.lyapunov_exponent,
               "split": args.split, "segments": args.segments, "seed": args.seed}
    with file_lock(args.out):  # a second process on the same file is refused
        path = import_series(args.file, args.out, spec=args.spec, overwrite=args.overwrite,
                             fractions=fractions, **options)
    print(describe_dataset(path))
    return 0


def _run_job(kind: RunKind, config, out: Path, args: argparse.Namespace):
    """Run a job on every process of a launch (torchrun, srun: rank 0 writes and prints), with
    preemption signals handled; returns ``(summary, signal name, distributed info)``."""
    from physrnn.distributed import cleanup, init_distributed
    from physrnn.runs import preempt

    info = init_distributed()
    try:
        with preempt.handle_preemption():
            summary = kind.job(config, out, overwrite=args.overwrite, resume=args.resume,
                               progress=False if args.quiet or not info.is_main else None,
                               command=args.command_line)
            signame = preempt.signal_name()
    finally:
        cleanup()
    return summary, signame, info


def vmc_command(args: argparse.Namespace, *, quickstart: bool = False) -> int:
    """``physrnn vmc CONFIG`` (or ``physrnn quickstart``): run, print the table; exit code."""
    from physrnn.config import load_config
    from physrnn.runs import preempt
    from physrnn.runs.reports import vmc_table

    kind = get_kind("vmc")
    if quickstart:
        _single_process_only(args.command)
    overrides = (QUICKSTART_OVERRIDES if quickstart else []) + args.overrides
    config = load_config(None if quickstart else args.config, cls=kind.config_class,
                         overrides=overrides)
    out = args.out
    if out is None:  # quickstart only (vmc requires --out)
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path("physrnn-runs") / f"{args.command}-{stamp}"
    summary, signame, info = _run_job(kind, config, out, args)
    if not info.is_main:
        if summary.get("status") == "preempted":
            preempt.mark_preempted(signame)
        return {"preempted": PREEMPTED_EXIT_CODE, "completed": 0}.get(summary.get("status"), 3)
    if summary.get("status") == "preempted":
        return _preempted(signame, f"step {summary.get('n_steps')}", out)
    print(vmc_table(summary))
    print(f"\nwrote {out}/record.h5, summary.json, energy.png")
    if quickstart and summary.get("rel_error") is not None:
        verdict = "PASS" if summary["rel_error"] <= 1e-3 else "above target"
        print(f"relative error {summary['rel_error']:.2e} (target <= 1e-3): {verdict}")
    return 0 if summary.get("status") == "completed" else 3


def _preempted(signame: str, where: str, out: Path) -> int:
    """Report a preempted run on stderr, and to a launcher
    (:func:`physrnn.runs.preempt.mark_preempted`); returns :data:`PREEMPTED_EXIT_CODE`."""
    from physrnn.runs.preempt import mark_preempted

    mark_preempted(signame)
    print(f"physrnn: preempted by {signame or 'a signal'} after {where}; checkpoint written to "
          f"{out}/checkpoint.pt (continue with --resume); exit code {PREEMPTED_EXIT_CODE}",
          file=sys.stderr)
    return PREEMPTED_EXIT_CODE


def _single_process_only(command: str) -> None:
    """Refuse a multi-process launch of a job that runs on one process (it would have every
    rank write the same files)."""
    from physrnn.distributed import dist_info_from_env

    info = dist_info_from_env()
    if info.world_size > 1:
        raise ConfigError(
            f"physrnn {command} runs as one process, but {info.source} started "
            f"{info.world_size} (this is rank {info.rank}); launch a single process, or set "
            "PHYSRNN_DISTRIBUTED=0 to ignore the launcher's variables")


def train_command(args: argparse.Namespace) -> int:
    """``physrnn train CONFIG``: run, print the forecast table; exit code."""
    from physrnn.config import load_config
    from physrnn.runs import preempt
    from physrnn.runs.reports import forecast_table

    kind = get_kind("train")
    config = load_config(args.config, cls=kind.config_class, overrides=args.overrides)
    summary, signame, info = _run_job(kind, config, args.out, args)
    if summary.get("status") == "preempted":
        if not info.is_main:
            preempt.mark_preempted(signame)
            return PREEMPTED_EXIT_CODE
        return _preempted(signame, f"epoch {summary.get('epochs')}", args.out)
    if not info.is_main:
        return 0
    print(forecast_table(summary.get("table", [])))
    print(f"\nwrote {args.out}/record.h5, summary.json, training.png, nrmse.png, forecasts.png")
    return 0


def add_qmc_options(p: argparse.ArgumentParser) -> None:
    """The options ``physrnn qmc`` has beside CONFIG, --out, --set, --overwrite, --quiet."""
    p.add_argument("--budget-s", type=float, metavar="SECONDS",
                   help="wall-clock budget of the beta ladder (same as --set qmc.budget_s=...)")


def qmc_command(args: argparse.Namespace) -> int:
    """``physrnn qmc CONFIG``: run the beta ladder, print the table; exit code."""
    from physrnn.config import load_config
    from physrnn.runs.reports import qmc_table

    _single_process_only(args.command)
    kind = get_kind("qmc")
    overrides = list(args.overrides)
    if getattr(args, "budget_s", None) is not None:
        overrides.append(f"qmc.budget_s={args.budget_s}")
    config = load_config(args.config, cls=kind.config_class, overrides=overrides)
    summary = kind.job(config, args.out, overwrite=args.overwrite, resume=args.resume,
                       progress=False if args.quiet else None, command=args.command_line)
    print(qmc_table(summary))
    print(f"\nwrote {args.out}/record.h5, summary.json, qmc.png, correlations.npy")
    if not summary.get("converged"):
        print("physrnn qmc: the beta ladder did not converge; the energy is an upper bound "
              "(raise qmc.budget_s or qmc.beta_max)", file=sys.stderr)
    return 0


def _int_list(text: str, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--{what}: expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise ConfigError(f"--{what}: expected positive integers, got {text!r}")
    return values


def memory_command(args: argparse.Namespace) -> int:
    """``physrnn memory``: config from the options, run, print the table; exit code."""
    from physrnn.runs.memory import memory_outputs
    from physrnn.runs.memory_config import MEMORY_CELLS, MEMORY_VARIANTS, MemoryConfig

    kind = get_kind("memory")
    delays = _int_list(args.delays, "delays")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for m in models:
        if m not in MEMORY_CELLS:
            raise ConfigError(f"--models: unknown cell {m!r}; choose {', '.join(MEMORY_CELLS)}")
    for v in variants:
        if v not in MEMORY_VARIANTS:
            raise ConfigError(f"--variants: unknown variant {v!r}; choose "
                              f"{', '.join(MEMORY_VARIANTS)}")
    if args.seeds < 1 or args.steps < 1:
        raise ConfigError("--seeds and --steps must be >= 1")
    config = kind.config_class(memory=MemoryConfig(
        task=args.task, delays=delays, models=models, variants=variants, seeds=args.seeds,
        steps=args.steps, hidden=args.hidden, lr=args.lr))
    kind.job(config, args.out, overwrite=args.overwrite, progress=False if args.quiet else None,
             command=args.command_line, report=print)
    print(f"\nwrote {args.out}/" + ", ".join(memory_outputs(config))
          + f" (diagnostics at delay {max(delays)})")
    return 0


#: The command of every run kind (and of ``quickstart``, a VMC run), by subcommand name.
KIND_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "quickstart": lambda args: vmc_command(args, quickstart=True),
    "vmc": vmc_command,
    "qmc": qmc_command,
    "train": train_command,
    "memory": memory_command,
}
#: The options of the run kinds that take no config file (the others take CONFIG, --out,
#: --set, --overwrite, --resume, --quiet), by kind.
KIND_OPTIONS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "memory": add_memory_options,
}
#: Options some config-file kinds take besides the common ones, by kind.
KIND_EXTRA_OPTIONS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "qmc": add_qmc_options,
}
