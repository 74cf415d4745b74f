"""Reliability: malformed inputs across the command line, kill -9 during training and VMC, and
the faults of a cluster (full disks, read-only or removed directories, two processes on one
directory, stale locks, foreign checkpoints, Ctrl-C).

Question 1: does every malformed config, argument or file end in one clear line and a non-zero
exit, without a traceback and without changing any file that was there before? Each case runs
``physrnn ...`` (as its own process, or with ``--in-process`` through ``physrnn.cli.main`` in
this process) in a fresh copy of a workspace of fixtures: valid configs, a small valid dataset,
datasets with a future schema version, truncated, with a NaN, foreign or not HDF5 at all, or
damaged in one way behind a valid header, a finished run, a corrupted checkpoint, a checkpoint
written by 2 processes, a file where a directory is expected, an output directory that cannot
be written, files whose unpickling runs a payload. The fixtures and the cases (with the ones
``hypothesis`` generates from a fixed seed) are in ``bad_inputs_cases.py``. A case is
*handled* when

- the exit code is not 0,
- stderr is exactly one line and it starts with ``physrnn: error:`` (so no traceback),
- no file of the workspace changed (SHA-256 of every file before and after),
- the payload of a malicious file did not run (none of the case's ``forbidden`` files exists).

The table lists every case (``names culprit``: the line contains the expected key, file or
reason; informational) and the JSON has ``bad_inputs_tried`` / ``bad_inputs_handled``.

Question 2: does a run that is killed with SIGKILL at random moments, and resumed each time
with ``--resume``, end with exactly the parameters of an uninterrupted run, with no file ever
unreadable? Two runs are tested the same way (:func:`kill_resume_test`): a tiny
``physrnn train`` (checkpoint every epoch) and a small ``physrnn vmc`` (TFIM chain, N = 8,
checkpoint every 5 steps). Each runs once uninterrupted; then the same run is started with
``--resume`` and killed, ``--kills`` times each (20; 5 with ``--quick``), and finally run to
completion. A kill comes at one of three kinds of moments: 25 % uniformly at random between
the start and the end of the first checkpoint period (start-up, data, resume; as start-up
times vary with the load, at most a period after this start's first new checkpoint); 25 % as soon as
a new temporary file appears in the run directory, i.e. while a checkpoint (or record) is being
written; the others once the run is under way: after the next checkpoint appears, at a
uniformly random time within the next 1.5 checkpoint periods. After every kill each file of the
run directory is opened with its reader (``record.h5``: ``read_record``; ``checkpoint.pt``:
``load_checkpoint``; ``summary.json``: ``json``; ``data.h5``: ``read_dataset``; PNG: the
signature); any failure is a *corruption*. A kill is *survived* when nothing is corrupted and
the next start continues (it completes, or it is killed again before it could fail). The final
``checkpoint.pt`` parameters and the history (training loss; VMC energy) are compared bit for
bit with the uninterrupted run. JSON: ``kills``, ``kills_survived``, ``corruptions``,
``final_params_equal`` are the *training* run's (as before the VMC test existed);
``vmc_kills``, ``vmc_kills_survived``, ``vmc_corruptions``, ``vmc_final_params_equal`` the VMC
run's; details under ``kill`` and ``vmc_kill`` (``kills_mid_write``: kills that left a
temporary file, i.e. hit a write in progress; ``kills_at_write``: kills aimed at one).

Question 3: does each fault a cluster throws end in a clear message with its documented exit
code, lose or corrupt no file, and leave a run that ``--resume`` finishes exactly? See
``fault_cases.py`` (the fault classes, how a trial is judged, real tmpfs or injection); the
table has one row per fault: trials, survived, files lost, files corrupted, clean message.

``python benchmarks/reliability.py --quick`` (in-process bad inputs, 5 kills of each run: about
3 minutes on 2 loaded cores); the full run (each bad input its own process, 20 kills of each
run, the two kill tests side by side; about 8 minutes): ``python benchmarks/reliability.py
--json benchmarks/results/reliability-$(date +%F)-$(hostname).json``. On a machine too busy for
one go, run the parts separately (``--only bad-inputs``, ``--only train-kills``, ``--only
vmc-kills``, each with its own ``--json``) and combine them with ``--merge A.json B.json
C.json --json OUT.json``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    REPO_ROOT,
    base_parser,
    limit_threads,
    machine_info,
    markdown_table,
    write_json,
)
from _kill import KillTarget, kill_resume_test  # noqa: E402
from bad_inputs_cases import (  # noqa: E402
    BadInput,
    bad_inputs,
    build_workspace,
    small_dataset,
)
from fault_cases import fault_table_columns, run_faults  # noqa: E402

log = logging.getLogger("reliability")


# --------------------------------------------------------------------------- running a case
def _hashes(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def run_in_process(argv: list[str]) -> tuple[int, str]:
    """``physrnn.cli.main(argv)`` in this process: (exit code, stderr text); an exception
    that escapes ``main`` is printed as a traceback, as the interpreter would."""
    from physrnn.cli import main

    err, out = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers.clear()  # main() configures logging onto the captured stderr
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:  # noqa: BLE001 - an unhandled error is what we look for
                traceback.print_exc()
                code = 1
    finally:
        root.handlers[:] = saved
    return int(code), err.getvalue()


def run_subprocess(argv: list[str], cwd: Path, *, python: str = sys.executable,
                   timeout: float = 300.0) -> tuple[int, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("PHYSRNN_DEBUG", None)
    try:
        proc = subprocess.run([python, "-m", "physrnn.cli", *argv], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return -1, f"timed out after {timeout} s"
    return proc.returncode, proc.stderr


def _directory_name(case: str) -> str:
    """A directory name for a case: its name's letters, digits, ``-`` and ``.`` (the rest
    becomes ``_``), shortened, and a digest of the full name so that names stay distinct."""
    stem = re.sub(r"[^A-Za-z0-9.-]+", "_", case).strip("_.")[:80]
    return f"{stem}-{hashlib.sha256(case.encode()).hexdigest()[:10]}"


def check_case(case: BadInput, template: Path, scratch: Path, *, in_process: bool,
               python: str = sys.executable) -> dict[str, Any]:
    """Run one case in a fresh copy of the workspace and classify the outcome."""
    ws = scratch / _directory_name(case.name)
    shutil.copytree(template, ws, symlinks=True)
    before = _hashes(ws)
    t0 = time.perf_counter()
    if in_process:
        cwd = os.getcwd()
        os.chdir(ws)
        try:
            code, err = run_in_process(list(case.argv))
        finally:
            os.chdir(cwd)
    else:
        code, err = run_subprocess(list(case.argv), ws, python=python)
    seconds = time.perf_counter() - t0
    after = _hashes(ws)
    changed = sorted(p for p, h in before.items() if after.get(p) != h)
    payload = sorted(p for p in case.forbidden if (ws / p).exists())
    lines = [ln for ln in err.splitlines() if ln.strip()]
    one_line = len(lines) == 1 and lines[0].startswith("physrnn: error:")
    handled = (code != 0 and one_line and "Traceback" not in err and not changed
               and not payload)
    problems = []
    if code == 0:
        problems.append("exit code 0")
    if "Traceback" in err:
        problems.append("traceback")
    elif not one_line:
        problems.append(f"{len(lines)} stderr lines")
    if changed:
        problems.append("changed " + ", ".join(changed))
    if payload:
        problems.append("payload ran (created " + ", ".join(payload) + ")")
    shutil.rmtree(ws, ignore_errors=True)
    return {"case": case.name, "command": "physrnn " + " ".join(case.argv), "exit": code,
            "handled": handled, "names_culprit": case.expect in err,
            "message": lines[-1] if lines else "", "problems": "; ".join(problems),
            "seconds": seconds, "stderr": err if not handled else ""}


def run_bad_inputs(scratch: Path, *, in_process: bool, jobs: int = 1,
                   cases: list[BadInput] | None = None) -> list[dict[str, Any]]:
    template = build_workspace(scratch / "template")
    cases = bad_inputs() if cases is None else cases
    run: Callable[[BadInput], dict[str, Any]] = lambda c: check_case(  # noqa: E731
        c, template, scratch, in_process=in_process)
    if in_process or jobs <= 1:
        return [run(c) for c in cases]
    with ThreadPoolExecutor(jobs) as pool:
        return list(pool.map(run, cases))


# --------------------------------------------------------------------------- kill -9
KILL_TRAIN = ('[data]\npath = "{data}"\ncard = ""\ncontext = 30\nhorizon = 10\nstride = 5\n'
              'batch_size = 16\n[model]\nhidden_size = 16\n[train]\nepochs = {epochs}\n'
              'rollout_start_epoch = 2\nrollout_end_epoch = 6\nrollout_k_max = 10\n'
              '[eval]\nn_test = 2\nbaselines = ["persistence"]\nfree_run_steps = 200\n'
              'horizon_lyapunov = 1.0\n[run]\nthreads = 1\ncheckpoint_every = 1\nseed = 5\n')

#: The killed VMC run: a small TFIM chain, a checkpoint every ``{every}`` steps.
KILL_VMC = ('[system]\nmodel = "tfim"\nn_sites = 8\nh = 1.0\n[vmc]\nn_steps = {steps}\n'
            'n_samples = 64\nlr = 0.01\nlr_schedule = "cosine"\nlr_final = 0.001\n'
            'final_samples = 512\n[wavefunction]\nhidden_size = 8\n'
            '[run]\nthreads = 1\ncheckpoint_every = {every}\nseed = 7\n')

def kill_test(scratch: Path, *, n_kills: int, epochs: int, seed: int = 0,
              python: str = sys.executable) -> dict[str, Any]:
    """Kill a ``physrnn train`` run ``n_kills`` times at random moments (checkpoint every
    epoch); see the module docstring."""
    scratch.mkdir(parents=True, exist_ok=True)
    small_dataset(scratch / "data.h5")
    cfg = scratch / "train.toml"
    cfg.write_text(KILL_TRAIN.format(data=scratch / "data.h5", epochs=epochs))
    target = KillTarget("train", ("train", str(cfg)), scratch,
                        progress=lambda c: c["trainer"]["epoch"],
                        params=lambda c: c["trainer"]["model"], history="train_loss",
                        unit="epoch", period=1, size=epochs)
    out = kill_resume_test(target, scratch, n_kills=n_kills, seed=seed, python=python)
    out["epoch_s"] = out["period_s"]
    return out


def vmc_kill_test(scratch: Path, *, n_kills: int, steps: int, every: int = 5, seed: int = 0,
                  python: str = sys.executable) -> dict[str, Any]:
    """Kill a ``physrnn vmc`` run ``n_kills`` times at random moments (checkpoint every
    ``every`` steps); see the module docstring."""
    scratch.mkdir(parents=True, exist_ok=True)
    cfg = scratch / "vmc.toml"
    cfg.write_text(KILL_VMC.format(steps=steps, every=every))
    target = KillTarget("vmc", ("vmc", str(cfg)), scratch,
                        progress=lambda c: c["driver"]["step_count"],
                        params=lambda c: c["driver"]["model"], history="energy",
                        unit="step", period=every, size=steps)
    return kill_resume_test(target, scratch, n_kills=n_kills, seed=seed + 1, python=python)


# --------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=None,
                   help="SIGKILLs of the training run and of the VMC run, each (default 20; "
                        "5 with --quick)")
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs of the killed training run (default 60; 25 with --quick)")
    p.add_argument("--steps", type=int, default=None,
                   help="steps of the killed VMC run (default 400; 150 with --quick)")
    p.add_argument("--every", type=int, default=5,
                   help="checkpoint period of the killed VMC run (steps)")
    p.add_argument("--in-process", action="store_true", default=None,
                   help="run the bad inputs through physrnn.cli.main in this process "
                        "(default with --quick; otherwise each is its own process)")
    p.add_argument("--jobs", type=int, default=2, help="bad-input processes at a time")
    p.add_argument("--skip-kills", action="store_true", help="bad inputs only")
    p.add_argument("--only", action="append", choices=PARTS, default=None,
                   help="run only this part (repeatable; default: all four)")
    p.add_argument("--merge", nargs="+", type=Path, metavar="JSON", default=None,
                   help="run nothing: combine the --json files of runs of separate --only "
                        "parts into one report (and --json)")
    p.add_argument("--serial-kills", action="store_true",
                   help="run the training and the VMC kill tests one after the other (default: "
                        "side by side, one process each)")
    p.add_argument("--seed", type=int, default=0, help="seed of the kill times")
    p.add_argument("--keep", type=Path, default=None,
                   help="work in this directory and keep it (default: a temporary one)")
    args = p.parse_args(argv)
    kills = args.kills if args.kills is not None else (5 if args.quick else 20)
    epochs = args.epochs if args.epochs is not None else (25 if args.quick else 60)
    steps = args.steps if args.steps is not None else (150 if args.quick else 400)
    in_process = args.in_process if args.in_process is not None else args.quick
    parts = list(PARTS) if not args.only else [p for p in PARTS if p in args.only]
    if args.skip_kills:
        parts = [p for p in parts if p == "bad-inputs"]
    return args, {"parts": parts, "kills": kills, "epochs": epochs, "vmc_steps": steps,
                  "serial_kills": args.serial_kills,
                  "vmc_checkpoint_every": args.every, "in_process": bool(in_process),
                  "jobs": args.jobs, "seed": args.seed, "quick": args.quick}


PARTS = ("bad-inputs", "train-kills", "vmc-kills", "faults")


def _print_report(rows: list[dict[str, Any]] | None, kill: dict[str, Any],
                  vmc: dict[str, Any], faults: list[dict[str, Any]] | None = None) -> None:
    if rows is not None:
        print()
        print("## Bad inputs: one clear line, non-zero exit, nothing changed")
        print()
        print(markdown_table(rows, [("case", "case"), ("exit", "exit"),
                                    ("handled", "handled"), ("names_culprit", "names culprit"),
                                    ("message", "error line", lambda m: m[:90])]))
        print()
        print(f"bad inputs tried: {len(rows)}, handled: {sum(r['handled'] for r in rows)}")
        for r in rows:
            if not r["handled"]:
                print(f"NOT HANDLED: {r['case']}: {r['problems']}\n{r['stderr'][-2000:]}")
    rows_k = []
    if kill:
        rows_k.append({"run": f"train ({kill['epochs']} epochs, checkpoint every epoch)", **kill})
    if vmc:
        rows_k.append({"run": f"vmc ({vmc['steps']} steps, checkpoint every {vmc['period']})",
                       **vmc})
    if rows_k:
        print()
        print("## kill -9 during training and VMC, resumed each time")
        print()
        print(markdown_table(rows_k, [("run", "run"), ("kills", "kills"),
                                      ("kills_survived", "kills survived"),
                                      ("corruptions", "corruptions"),
                                      ("final_params_equal", "final parameters equal"),
                                      ("kills_at_write", "kills aimed at a write"),
                                      ("kills_mid_write", "kills during a write"),
                                      ("startup_s", "start-up (s)"),
                                      ("period_s", "checkpoint period (s)")]))
    for name, res in (("train", kill), ("vmc", vmc)):
        for c in res.get("corruption_list", []):
            print(f"CORRUPTED ({name}): {c}")
        for f in res.get("failures", []):
            print(f"FAILED ({name}): {f}")
    if faults is not None:
        print()
        print("## Faults: full disk, read-only or removed directory, two processes, stale "
              "locks, foreign checkpoints, Ctrl-C")
        print()
        print(markdown_table(faults, fault_table_columns()))
        for r in faults:
            for d in r["details"]:
                if not d["survived"]:
                    print(f"NOT SURVIVED ({r['fault']}): {d}")


def _ok(rows: list[dict[str, Any]] | None, kill: dict[str, Any], vmc: dict[str, Any],
        faults: list[dict[str, Any]] | None = None) -> bool:
    good = rows is None or all(r["handled"] for r in rows)
    good = good and (faults is None or all(f["survived"] == f["trials"] for f in faults))
    return good and all(not k or (k["corruptions"] == 0 and k["final_params_equal"]
                                  and k["kills_survived"] == k["kills"] and not k["failures"])
                        for k in (kill, vmc))


def _payload(settings: dict[str, Any], rows: list[dict[str, Any]] | None,
             kill: dict[str, Any], vmc: dict[str, Any], wall: float,
             faults: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "fault_trials": None if faults is None else sum(f["trials"] for f in faults),
        "fault_trials_survived": None if faults is None else sum(f["survived"]
                                                                 for f in faults),
        "faults": faults,
        "benchmark": "reliability", "settings": settings,
        "bad_inputs_tried": None if rows is None else len(rows),
        "bad_inputs_handled": None if rows is None else sum(r["handled"] for r in rows),
        "kills": kill.get("kills"), "kills_survived": kill.get("kills_survived"),
        "corruptions": kill.get("corruptions"),
        "final_params_equal": kill.get("final_params_equal"),
        "vmc_kills": vmc.get("kills"), "vmc_kills_survived": vmc.get("kills_survived"),
        "vmc_corruptions": vmc.get("corruptions"),
        "vmc_final_params_equal": vmc.get("final_params_equal"),
        "rows": rows, "kill": kill, "vmc_kill": vmc, "wall_s": wall,
        "machine": machine_info(import_jax=False),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}


def merge_parts(paths: list[Path]) -> tuple[dict[str, Any], list[dict[str, Any]] | None,
                                            dict[str, Any], dict[str, Any], float,
                                            list[dict[str, Any]] | None]:
    """Combine the JSON files of runs of separate ``--only`` parts (each part from exactly one
    file): ``(settings, rows, kill, vmc, wall, faults)``; ``settings["merged_from"]`` lists
    the files."""
    rows, kill, vmc, wall, faults = None, {}, {}, 0.0, None
    seen: dict[str, str] = {}
    sources = []
    for path in paths:
        d = json.loads(Path(path).read_text())
        parts = d["settings"].get("parts") or [  # older files: what they hold
            part for part, key in zip(PARTS, ("rows", "kill", "vmc_kill", "faults"),
                                      strict=True)
            if d.get(key)]
        for part in parts:
            if part in seen:
                raise SystemExit(f"--merge: part {part} is in {seen[part]} and {path}")
            seen[part] = str(path)
        if "bad-inputs" in parts:
            rows = d["rows"]
        if "train-kills" in parts:
            kill = d["kill"]
        if "vmc-kills" in parts:
            vmc = d["vmc_kill"]
        if "faults" in parts:
            faults = d["faults"]
        wall += float(d["wall_s"])
        sources.append({"file": Path(path).name, "parts": parts, "wall_s": d["wall_s"],
                        "load_average": d.get("load_average"), "settings": d["settings"]})
    settings = {**sources[0]["settings"], "parts": [p for p in PARTS if p in seen],
                "merged_from": sources}
    return settings, rows, kill, vmc, wall, faults


def main(argv: list[str] | None = None) -> int:
    args, s = parse_args(argv)
    if args.threads is not None:
        limit_threads(args.threads)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    if args.merge:
        s, rows, kill, vmc, wall, faults = merge_parts(args.merge)
        _print_report(rows, kill, vmc, faults)
        print(f"\nwall time {wall:.0f} s in {len(args.merge)} parts ({', '.join(s['parts'])})")
        if args.json is not None:
            write_json(args.json, _payload(s, rows, kill, vmc, wall, faults))
        return 0 if _ok(rows, kill, vmc, faults) and len(s["parts"]) == len(PARTS) else 1
    parts = s["parts"]
    wall0 = time.perf_counter()
    tmp = None
    if args.keep is not None:
        root = args.keep
        root.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="physrnn-reliability-")
        root = Path(tmp.name)
    try:
        print(f"Reliability ({', '.join(parts)}): bad inputs "
              f"({'in-process' if s['in_process'] else 'processes'}), {s['kills']} SIGKILLs of "
              f"a {s['epochs']}-epoch training run and of a {s['vmc_steps']}-step VMC run",
              flush=True)
        rows = None
        if "bad-inputs" in parts:
            rows = run_bad_inputs(root / "bad", in_process=s["in_process"], jobs=s["jobs"])
        kill: dict[str, Any] = {}
        vmc: dict[str, Any] = {}
        # the two kill tests run side by side (each parent mostly waits on its child)
        with ThreadPoolExecutor(1 if args.serial_kills else 2) as pool:
            f_train = pool.submit(kill_test, root / "kill", n_kills=s["kills"],
                                  epochs=s["epochs"], seed=s["seed"]) \
                if "train-kills" in parts else None
            f_vmc = pool.submit(vmc_kill_test, root / "vmc-kill", n_kills=s["kills"],
                                steps=s["vmc_steps"], every=s["vmc_checkpoint_every"],
                                seed=s["seed"]) if "vmc-kills" in parts else None
            kill = f_train.result() if f_train is not None else {}
            vmc = f_vmc.result() if f_vmc is not None else {}
        faults = run_faults(root / "faults", quick=s["quick"]) if "faults" in parts else None
        _print_report(rows, kill, vmc, faults)
        wall = time.perf_counter() - wall0
        print(f"\nwall time {wall:.0f} s")
        if args.json is not None:
            write_json(args.json, _payload(s, rows, kill, vmc, wall, faults))
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0 if _ok(rows, kill, vmc, faults) else 1


if __name__ == "__main__":
    sys.exit(main())
