"""Kill -9 and resume: the generic machinery of ``benchmarks/reliability.py``.

:func:`kill_resume_test` starts a ``physrnn`` command with ``--resume`` again and again, kills it
with SIGKILL at random moments (blind, at a write in progress, or after a checkpoint), checks
after every kill that each file of the run directory still opens with its reader, and finally
runs it to the end and compares its checkpoint and history with an uninterrupted run. A
:class:`KillTarget` describes the command and how to read progress and parameters from its
checkpoint (``physrnn train``, ``physrnn vmc``).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import REPO_ROOT

__all__ = ["KillTarget", "kill_resume_test", "KILL_BLIND", "KILL_AT_WRITE"]

#: Fractions of the kill moments: blind (start-up into the first period), at a temporary file
#: (a write in progress), the rest uniformly within 1.5 periods after a new checkpoint.
KILL_BLIND, KILL_AT_WRITE = 0.25, 0.25


@dataclass(frozen=True)
class KillTarget:
    """A ``physrnn`` run that :func:`kill_resume_test` kills and resumes.

    ``argv`` are the command's arguments without ``--out``/``--quiet``/``--resume``;
    ``progress`` reads the completed units (epochs, steps) from a checkpoint, ``params`` its
    parameter tensors; ``history`` is the record's history key compared bit for bit; ``unit``
    names a unit and ``period`` is the number of units between checkpoints.
    """

    name: str
    argv: tuple[str, ...]
    cwd: Path
    progress: Callable[[dict[str, Any]], int]
    params: Callable[[dict[str, Any]], dict[str, Any]]
    history: str
    unit: str
    period: int
    size: int


def _readable(path: Path) -> str | None:
    """None if ``path`` opens with its reader, else the reason."""
    from physrnn.data.hdf5 import read_dataset
    from physrnn.errors import PhysrnnError
    from physrnn.runs.records import load_checkpoint, read_record

    try:
        if path.name == "record.h5":
            read_record(path)
        elif path.name == "data.h5":
            read_dataset(path, load=False).close()
        elif path.suffix == ".pt":
            load_checkpoint(path)
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".png":
            if not path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n"):
                return "not a PNG"
    except (PhysrnnError, OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _corruptions(run_dir: Path) -> list[str]:
    return [f"{p.name}: {why}" for p in sorted(run_dir.iterdir())
            if p.is_file() and not p.name.startswith(".")
            and (why := _readable(p)) is not None]


def _temporaries(run_dir: Path) -> list[str]:
    """Temporary files of writes in progress (``atomic_path``'s ``.<name>.<random>.tmp``; not
    the write probe of ``prepare_output_dir``)."""
    try:
        return sorted(e.name for e in os.scandir(run_dir) if e.name.endswith(".tmp")
                      and not e.name.startswith(".physrnn-write-test."))
    except OSError:
        return []


def kill_resume_test(target: KillTarget, scratch: Path, *, n_kills: int, seed: int = 0,
                     python: str = sys.executable) -> dict[str, Any]:
    """Kill ``target`` with SIGKILL ``n_kills`` times at random moments, resuming each time;
    then run it to the end and compare with an uninterrupted run (module docstring)."""
    import torch

    from physrnn.runs.records import load_checkpoint, read_record

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}

    def start(out: Path) -> subprocess.Popen:
        return subprocess.Popen([python, "-m", "physrnn.cli", *target.argv, "--out", str(out),
                                 "--quiet", "--resume"], cwd=target.cwd, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    # the uninterrupted reference, timing the start-up (first checkpoint) and a period
    ref = scratch / f"{target.name}-reference"
    t0 = time.monotonic()
    proc = start(ref)
    first = None
    while proc.poll() is None:
        if first is None and (ref / "checkpoint.pt").exists():
            first = time.monotonic() - t0
        time.sleep(0.01)
    total = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"the reference {target.name} run failed: {proc.stderr.read()}")
    hist = read_record(ref / "record.h5").history
    period_s = float(hist["time_s"][-1]) / len(hist["time_s"]) * target.period
    startup = max(0.1, (first or total) - period_s)

    rng = random.Random(seed)
    run = scratch / f"{target.name}-killed"
    kills = survived = 0
    corruptions: list[str] = []
    failures: list[str] = []
    events = []
    pending_kill = False  # a kill whose survival the next start decides
    ckpt = run / "checkpoint.pt"

    def mtime() -> int | None:
        try:
            return ckpt.stat().st_mtime_ns
        except OSError:
            return None

    for _ in range(n_kills):
        u = rng.random()
        mode = "blind" if u < KILL_BLIND else (
            "write" if u < KILL_BLIND + KILL_AT_WRITE else "after checkpoint")
        seen_tmp = set(_temporaries(run))
        seen = mtime()
        proc = start(run)
        t_start = time.monotonic()
        if mode == "blind":  # anywhere from start-up (imports, data, resume) into period 1
            delay = rng.uniform(0.0, startup + period_s)
            lag = rng.uniform(0.0, period_s)
            # start-up varies with the load: never let a blind kill run more than a period
            # past this start's first new checkpoint
            while proc.poll() is None and time.monotonic() - t_start < delay:
                if mtime() != seen:
                    delay = min(delay, time.monotonic() - t_start + lag)
                    break
                time.sleep(0.001)
        elif mode == "write":  # as soon as a new temporary file shows a write in progress
            give_up = 3 * startup + 20 * period_s + 10
            while proc.poll() is None and time.monotonic() - t_start < give_up \
                    and not set(_temporaries(run)) - seen_tmp:
                time.sleep(0.0005)
            delay = time.monotonic() - t_start
        else:  # once it runs: after a new checkpoint, within the next 1.5 periods
            while proc.poll() is None and mtime() == seen \
                    and time.monotonic() - t_start < 3 * startup + 10:
                time.sleep(0.002)
            delay = time.monotonic() - t_start + rng.uniform(0.0, 1.5 * period_s)
        while proc.poll() is None and time.monotonic() - t_start < delay:
            time.sleep(0.001)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            if pending_kill:
                survived += 1  # the previous kill's resume ran until this kill
            kills += 1
            bad = _corruptions(run) if run.exists() else []
            corruptions += [f"kill {kills}: {b}" for b in bad]
            pending_kill = not bad
            done = None
            with contextlib.suppress(Exception):
                done = int(target.progress(load_checkpoint(ckpt)))
            events.append({"kill": kills, "after_s": round(delay, 3), "mode": mode,
                           target.unit: done, "corrupted": bad,
                           "mid_write": _temporaries(run)})
        else:
            err = proc.stderr.read() if proc.stderr else ""
            if proc.returncode != 0:
                failures.append(f"exit {proc.returncode}: {err.strip()[-300:]}")
                pending_kill = False
            elif pending_kill:
                survived += 1
                pending_kill = False
            break  # finished before the kill
    proc = start(run)  # to the end
    _, err = proc.communicate()
    if proc.returncode == 0 and pending_kill:
        survived += 1
    elif proc.returncode != 0:
        failures.append(f"exit {proc.returncode}: {err.strip()[-300:]}")
    corruptions += [f"final: {b}" for b in _corruptions(run)]
    equal = False
    if proc.returncode == 0:
        a, b = load_checkpoint(ref / "checkpoint.pt"), load_checkpoint(run / "checkpoint.pt")
        pa, pb = target.params(a), target.params(b)
        equal = target.progress(a) == target.progress(b) == target.size and pa.keys() == \
            pb.keys() and all(torch.equal(pa[k], pb[k]) for k in pa)
        ha, hb = read_record(ref / "record.h5").history, read_record(run / "record.h5").history
        equal = equal and ha[target.history].shape == hb[target.history].shape and bool(
            (ha[target.history] == hb[target.history]).all())
    return {"kills": kills, "kills_survived": survived, "corruptions": len(corruptions),
            "kills_mid_write": sum(bool(e["mid_write"]) for e in events),
            "kills_at_write": sum(e["mode"] == "write" for e in events),
            "corruption_list": corruptions, "final_params_equal": equal,
            "failures": failures, "unit": target.unit, target.unit + "s": target.size,
            "period": target.period, "startup_s": startup, "period_s": period_s,
            "reference_s": total, "events": events, "temporary_files_left": _temporaries(run)}
