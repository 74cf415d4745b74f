"""Parameter sweeps: one config, a grid of overrides, one output directory per run.

``physrnn sweep CONFIG --grid vmc.lr=1e-3,3e-3 --grid run.seed=0,1 --out DIR`` expands the
cartesian product of the grid (4 runs here), checks every resolved config with the strict loader,
and writes::

    DIR/sweep.json                the grid, the base config, every run's name and values
    DIR/runs.txt                  one run directory per line (line i = SLURM array task i)
    DIR/<run name>/config.toml    the run's resolved config (base + --set + grid values)

Run names are built from the grid values (``lr-0.001_seed-0``; the key's last part, or the full
``section.key`` where two keys share it), with characters other than letters, digits and
``.+-`` replaced by ``_``.

Then it runs them locally, one after another or ``--jobs N`` at a time, each as its own
``physrnn <kind>`` process (a crash of one run does not end the sweep; its output goes to
``<run>/log.txt``), skipping runs whose ``summary.json`` says ``completed`` and continuing the
others from their checkpoints (``--resume``), so a sweep can be started again until it is done.
With ``--slurm`` it writes ``DIR/sweep.sbatch``, a SLURM array job (template
:data:`ARRAY_TEMPLATE`, also in ``examples/slurm/array.sbatch``), instead of running anything.

A SIGTERM/SIGUSR1 to the sweep is passed on to the running runs, which checkpoint and stop;
no new run starts, and the sweep exits with code 75 (see :mod:`physrnn.runs.preempt`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from physrnn.config import load_config, parse_override, to_toml
from physrnn.errors import ConfigError, OutputExistsError
from physrnn.runs import preempt
from physrnn.runs.grid import expand_grid, parse_grid, run_names, sanitise_name, split_values
from physrnn.runs.records import atomic_path
from physrnn.runs.registry import config_kinds, get_kind, kind_of

__all__ = [
    "ARRAY_TEMPLATE",
    "SweepRun",
    "SweepPlan",
    "RunResult",
    "parse_grid",
    "split_values",
    "expand_grid",
    "run_names",
    "infer_kind",
    "KINDS",
    "plan_sweep",
    "write_sweep",
    "run_sweep",
    "render_slurm",
    "write_slurm",
]

log = logging.getLogger(__name__)

#: The kinds a sweep can run: those of :mod:`physrnn.runs.registry` that take a config file.
KINDS = tuple(config_kinds())

#: SLURM array script written by ``physrnn sweep --slurm``; ``{{name}}`` placeholders are
#: filled in by :func:`render_slurm`. The same text is ``examples/slurm/array.sbatch``.
ARRAY_TEMPLATE = r"""#!/bin/bash
# physrnn sweep as a SLURM job array: task i runs line i + 1 of runs.txt.
# Written by `physrnn sweep --slurm`; edit the #SBATCH lines for your cluster, then
#     sbatch {{sbatch_path}}
# A run that finished is skipped; a run that was preempted, timed out or was killed continues
# from its checkpoint (--resume). About {{grace_s}} s before the time limit SLURM sends SIGUSR1
# to this script, which passes it on: physrnn finishes the current epoch/step, writes a
# checkpoint and exits with code 75, and the task is requeued.
#SBATCH --job-name={{job_name}}
#SBATCH --array={{array}}
#SBATCH --output={{log_dir}}/%A_%a.out
#SBATCH --ntasks=1
#SBATCH --cpus-per-task={{cpus_per_task}}
#SBATCH --time={{time}}
#SBATCH --signal=B:USR1@{{grace_s}}
#SBATCH --requeue
#SBATCH --open-mode=append

set -uo pipefail
cd {{workdir}}
RUN_DIR=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" {{runs_file}})
if [ -z "$RUN_DIR" ]; then
    echo "no run for array task $SLURM_ARRAY_TASK_ID in {{runs_file}}" >&2
    exit 2
fi
if grep -qs '"status": "completed"' "$RUN_DIR/summary.json"; then
    echo "$RUN_DIR: completed already, skipped"
    exit 0
fi
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1} MKL_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
export PHYSRNN_DISTRIBUTED=0

{{python}} -m physrnn.cli {{kind}} "$RUN_DIR/config.toml" --out "$RUN_DIR" --resume --quiet &
child=$!
trap 'kill -USR1 "$child" 2>/dev/null' USR1 TERM
wait "$child"
rc=$?
while [ "$rc" -gt 128 ] && kill -0 "$child" 2>/dev/null; do  # a trapped signal ended `wait`
    wait "$child"
    rc=$?
done
if [ "$rc" -eq {{preempted_code}} ]; then
    echo "$RUN_DIR: preempted, checkpoint written; requeueing"
    scontrol requeue "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
fi
exit "$rc"
"""


def infer_kind(config_path: str | Path, keys: Sequence[str] = ()) -> str:
    """The run kind (``"vmc"``, ``"train"``, ...) from the sections the config file (and
    ``keys``) use (:func:`physrnn.runs.registry.kind_of`).

    Raises:
        ConfigError: the sections of two kinds, or of none (pass ``--kind``).
    """
    return kind_of(config_path, keys)


def _config_class(kind: str) -> type:
    if kind not in KINDS:
        raise ConfigError(f"--kind {kind!r}: choose {' or '.join(KINDS)}")
    return get_kind(kind).config_class


# --------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class SweepRun:
    """One member of a sweep.

    Attributes:
        index: position in ``runs.txt`` (the SLURM array task id).
        name: directory name (see :func:`run_names`).
        values: the grid values of this run, ``{"section.key": "raw value"}``.
        directory: ``<sweep dir>/<name>``.
        config_toml: the resolved config as TOML.
    """

    index: int
    name: str
    values: dict[str, str]
    directory: Path
    config_toml: str


@dataclass(frozen=True)
class SweepPlan:
    """A sweep expanded and checked, before anything is written."""

    kind: str
    config_path: Path
    out: Path
    grid: dict[str, list[str]]
    overrides: list[str]
    runs: list[SweepRun] = field(default_factory=list)


def plan_sweep(config_path: str | Path, grid_items: Sequence[str], out: str | Path, *,
               kind: str | None = None, overrides: Sequence[str] = ()) -> SweepPlan:
    """Expand the grid and resolve (strictly) every run's config.

    Raises:
        ConfigError: a malformed grid, a grid key or value the config loader rejects (named
            with the ``--grid`` item), or an ambiguous kind.
    """
    config_path = Path(config_path)
    if not config_path.is_file():
        raise ConfigError(f"{config_path}: config file not found")
    grid = parse_grid(grid_items)
    kind = kind or infer_kind(config_path, list(grid) + [o.split("=", 1)[0].strip()
                                                         for o in overrides])
    cls = _config_class(kind)
    overrides = list(overrides)
    load_config(config_path, overrides=overrides, cls=cls)  # the base alone: errors first
    for key, values in grid.items():  # each key alone: an error names the --grid item
        for v in values:
            parse_override(f"{key}={v}")
            try:
                load_config(config_path, overrides=overrides + [f"{key}={v}"], cls=cls)
            except ConfigError as exc:
                raise ConfigError(f"--grid {key}={v}: {exc}") from None
    combos = expand_grid(grid)
    names = run_names(combos)
    out = Path(out)
    runs = []
    for i, (combo, name) in enumerate(zip(combos, names, strict=True)):
        extra = [f"{k}={v}" for k, v in combo.items()]
        try:
            config = load_config(config_path, overrides=overrides + extra, cls=cls)
        except ConfigError as exc:
            raise ConfigError(f"sweep run {name}: {exc}") from None
        runs.append(SweepRun(index=i, name=name, values=combo, directory=out / name,
                             config_toml=to_toml(config)))
    return SweepPlan(kind=kind, config_path=config_path, out=out, grid=grid,
                     overrides=overrides, runs=runs)


def _check_own_sweep_file(path: Path) -> None:
    """Refuse to replace a ``sweep.json`` that physrnn did not write (read as JSON only)."""
    if not path.exists():
        return
    try:
        meta = json.loads(path.read_bytes())
        ours = isinstance(meta, dict) and meta.get("format") == "physrnn-sweep"
    except (OSError, ValueError):
        ours = False
    if not ours:
        raise OutputExistsError(f"{path} exists and is not a physrnn sweep file; physrnn "
                                "does not replace it: use another --out")


def write_sweep(plan: SweepPlan, *, overwrite: bool = False) -> None:
    """Write ``sweep.json``, ``runs.txt`` and each run's ``config.toml`` (atomically).

    Raises:
        OutputExistsError: ``sweep.json`` exists but is not a physrnn sweep file (also with
            ``overwrite``), or a run directory holds a ``config.toml`` that differs from the
            planned one (the base config or the grid changed) and ``overwrite`` is false;
            checked for every run before anything is written.
    """
    if plan.out.exists() and not plan.out.is_dir():
        raise OutputExistsError(f"--out {plan.out} exists and is not a directory")
    _check_own_sweep_file(plan.out / "sweep.json")
    if not overwrite:
        for run in plan.runs:
            existing = run.directory / "config.toml"
            if existing.is_file() and existing.read_bytes() != run.config_toml.encode():
                raise OutputExistsError(
                    f"{existing} differs from this sweep's config for that run (the config, "
                    "--set or --grid changed); pass --overwrite to rerun it, or use another "
                    "--out")
    try:
        plan.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {plan.out} cannot be created: {exc.strerror or exc}") from None
    meta = {"format": "physrnn-sweep", "schema_version": 1, "kind": plan.kind,
            "config": str(plan.config_path), "overrides": plan.overrides,
            "grid": plan.grid, "workdir": os.getcwd(),
            "runs": [{"index": r.index, "name": r.name, "values": r.values} for r in plan.runs]}
    with atomic_path(plan.out / "sweep.json") as tmp:
        tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    with atomic_path(plan.out / "runs.txt") as tmp:
        tmp.write_text("".join(f"{r.directory}\n" for r in plan.runs), encoding="utf-8")
    for run in plan.runs:
        path = run.directory / "config.toml"
        if path.is_file() and path.read_bytes() == run.config_toml.encode():
            continue
        with atomic_path(path) as tmp:
            tmp.write_text(run.config_toml, encoding="utf-8")


# --------------------------------------------------------------------------- running
@dataclass
class RunResult:
    """How one run of a sweep ended: ``status`` is ``completed``, ``skipped`` (completed
    before), ``preempted``, ``failed`` or ``not started`` (the sweep was stopped first)."""

    name: str
    status: str
    returncode: int | None = None
    seconds: float = 0.0
    message: str = ""


def _summary_status(directory: Path) -> str | None:
    try:
        return json.loads((directory / "summary.json").read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        return None


def _last_error(log_path: Path) -> str:
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if line.startswith("physrnn: error:"):
            return line.removeprefix("physrnn: error:").strip()
    tail = [ln for ln in lines if ln.strip()]
    return tail[-1].strip() if tail else ""


def run_command(plan: SweepPlan, run: SweepRun, *, overwrite: bool = False,
                python: str | None = None) -> list[str]:
    """The ``physrnn`` command line of one run (a list for ``subprocess``)."""
    cmd = [python or sys.executable, "-m", "physrnn.cli", plan.kind,
           str(run.directory / "config.toml"), "--out", str(run.directory), "--quiet"]
    cmd.append("--overwrite" if overwrite else "--resume")
    return cmd


def run_sweep(plan: SweepPlan, *, jobs: int = 1, overwrite: bool = False,
              python: str | None = None, poll_s: float = 0.05) -> list[RunResult]:
    """Run the planned runs locally, ``jobs`` at a time, each in its own process.

    Runs whose ``summary.json`` says ``completed`` are skipped (unless ``overwrite``); the
    others continue from their checkpoints. Each run's output is appended to
    ``<run>/log.txt``. Call it inside :func:`physrnn.runs.preempt.handle_preemption` to have a
    SIGTERM/SIGUSR1 forwarded to the running runs (no new run starts after it).

    Returns:
        One :class:`RunResult` per run, in plan order.
    """
    if jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {jobs}")
    results: dict[str, RunResult] = {}
    pending = []
    for run in plan.runs:
        if not overwrite and _summary_status(run.directory) == "completed":
            results[run.name] = RunResult(run.name, "skipped", 0, 0.0, "completed before")
        else:
            pending.append(run)
    running: dict[str, tuple[subprocess.Popen, float, Any, SweepRun]] = {}
    forwarded = False
    env = {**os.environ, "PHYSRNN_DISTRIBUTED": "0"}
    try:
        while pending or running:
            if preempt.requested() and not forwarded:
                forwarded = True
                signum = signal.SIGUSR1 if preempt.signal_name() == "SIGUSR1" else \
                    signal.SIGTERM
                for proc, _, _, run in running.values():
                    log.warning("passing %s on to run %s", signum.name, run.name)
                    with contextlib.suppress(ProcessLookupError):
                        proc.send_signal(signum)
            while pending and len(running) < jobs and not preempt.requested():
                run = pending.pop(0)
                run.directory.mkdir(parents=True, exist_ok=True)
                logf = open(run.directory / "log.txt", "a", encoding="utf-8")  # noqa: SIM115
                cmd = run_command(plan, run, overwrite=overwrite, python=python)
                logf.write(f"$ {shlex.join(cmd)}\n")
                logf.flush()
                proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env)
                running[run.name] = (proc, time.monotonic(), logf, run)
                log.info("started %s (%d of %d)", run.name, run.index + 1, len(plan.runs))
            for name, (proc, t0, logf, run) in list(running.items()):
                rc = proc.poll()
                if rc is None:
                    continue
                logf.close()
                del running[name]
                results[name] = _result(run, rc, time.monotonic() - t0)
            if running:
                time.sleep(poll_s)
        for run in pending:
            results[run.name] = RunResult(run.name, "not started", None, 0.0,
                                          "the sweep was preempted first")
    except BaseException:
        for proc, _, logf, _ in running.values():  # Ctrl-C reached them too: let them stop
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=60)
            logf.close()
        raise
    return [results[r.name] for r in plan.runs]


def _result(run: SweepRun, rc: int, seconds: float) -> RunResult:
    status = _summary_status(run.directory)
    if rc == 0 and status == "completed":
        return RunResult(run.name, "completed", rc, seconds)
    if rc == preempt.PREEMPTED_EXIT_CODE:
        return RunResult(run.name, "preempted", rc, seconds, "checkpointed; rerun the sweep")
    msg = _last_error(run.directory / "log.txt")
    if rc < 0:
        msg = f"killed by signal {-rc}" + (f": {msg}" if msg else "")
    return RunResult(run.name, "failed", rc, seconds, msg or f"exit code {rc}")


# --------------------------------------------------------------------------- SLURM
def render_slurm(plan: SweepPlan, template: str = ARRAY_TEMPLATE, *,
                 max_parallel: int | None = None, time_limit: str = "04:00:00",
                 cpus_per_task: int = 1, grace_s: int = 300,
                 python: str | None = None) -> str:
    """Fill in the SLURM array template for ``plan``.

    Placeholders: ``{{job_name}}``, ``{{array}}`` (``0-<n-1>[%max_parallel]``), ``{{log_dir}}``,
    ``{{workdir}}``, ``{{runs_file}}``, ``{{python}}``, ``{{kind}}``, ``{{time}}``,
    ``{{cpus_per_task}}``, ``{{grace_s}}``, ``{{preempted_code}}``, ``{{sbatch_path}}``.

    Raises:
        ConfigError: the template leaves a placeholder unfilled or lacks ``{{array}}``.
    """
    if "{{array}}" not in template:
        raise ConfigError("the SLURM template has no {{array}} placeholder")
    n = len(plan.runs)
    array = f"0-{n - 1}" + (f"%{max_parallel}" if max_parallel else "")
    out = plan.out.resolve()
    values = {
        "job_name": sanitise_name(f"physrnn-{plan.out.resolve().name}"),
        "array": array,
        "log_dir": shlex.quote(str(out / "slurm-logs")),
        "workdir": shlex.quote(os.getcwd()),
        "runs_file": shlex.quote(str(out / "runs.txt")),
        "python": shlex.quote(python or sys.executable),
        "kind": plan.kind,
        "time": time_limit,
        "cpus_per_task": str(cpus_per_task),
        "grace_s": str(grace_s),
        "preempted_code": str(preempt.PREEMPTED_EXIT_CODE),
        "sbatch_path": shlex.quote(str(out / "sweep.sbatch")),
    }
    text = template
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    left = sorted(set(re.findall(r"\{\{(\w+)\}\}", text)))
    if left:
        raise ConfigError(f"the SLURM template has unknown placeholders: {', '.join(left)}")
    return text


def write_slurm(plan: SweepPlan, template_path: str | Path | None = None, **kwargs: Any) -> Path:
    """Write ``<out>/sweep.sbatch`` (and create ``<out>/slurm-logs``); returns its path."""
    if template_path is not None:
        p = Path(template_path)
        if not p.is_file():
            raise ConfigError(f"--slurm-template {p}: file not found")
        template = p.read_text(encoding="utf-8")
    else:
        template = ARRAY_TEMPLATE
    text = render_slurm(plan, template, **kwargs)
    (plan.out / "slurm-logs").mkdir(parents=True, exist_ok=True)
    path = plan.out / "sweep.sbatch"
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    os.chmod(path, 0o755)
    return path
