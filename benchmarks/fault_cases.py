"""Faults a cluster throws, for ``benchmarks/reliability.py``: full disks, read-only or removed
output directories, two processes on one directory, stale locks, foreign checkpoints, Ctrl-C.

Each fault runs ``trials`` times and every trial is judged the same way:

- *clean message*: the command exits with the documented code and exactly one stderr line
  starting with ``physrnn: error:`` (or ``physrnn: interrupted`` for Ctrl-C), no traceback;
- *files lost*: files that were there before the fault and are missing (or, for a refused
  command, changed) afterwards;
- *files corrupted*: files of the run directory that no longer open with their reader;
- *survived*: clean message, nothing lost or corrupted, and the fault's own check (the run
  resumes once the cause is gone and ends with the parameters of an uninterrupted run, the
  directory is not recreated, the first process carries on, ...).

Disk-full and read-only faults run on a real tmpfs where ``mount`` is allowed (root with
CAP_SYS_ADMIN, as on this project's machines); elsewhere the disk-full faults are injected
(``os.replace`` failing with ENOSPC in the physrnn process) and the read-only fault is skipped.
The ``mode`` column says which ran.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # importable from tests as well

from _common import REPO_ROOT  # noqa: E402

__all__ = ["FAULTS", "run_faults", "fault_table_columns", "VMC_FAULT", "remove_while_running",
           "removal_reported"]

#: The run that faults hit: TFIM chain N = 6, 300 steps, a checkpoint every 10 steps.
VMC_FAULT = ('[system]\nmodel = "tfim"\nn_sites = 6\n[vmc]\nn_steps = 300\nn_samples = 32\n'
             'final_samples = 64\n[wavefunction]\nhidden_size = 4\n'
             '[run]\nthreads = 1\ncheckpoint_every = 10\nseed = 3\n')
PERIOD = 10

CARD_FAULT = ('[system]\nname = "lorenz63"\n[simulation]\nn_traj = {n}\nt_final = {t}\n'
              'transient = 1.0\nworkers = 1\n')

LOCKED, WRITE_FAILED, INTERRUPTED, USER_ERROR = 73, 74, 130, 2
NOT_STARTED = "the command ended or timed out before its first output appeared"


# --------------------------------------------------------------------------- machinery
def _env() -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("PHYSRNN_DEBUG", None)
    return env


#: ``python -c`` prelude of an injected disk-full: ``os.replace`` fails once a file under the
#: final name ``PHYSRNN_FAULT_NAME`` would be replaced (the bytes were written to a temporary).
_INJECT = ("import errno, os, sys\n"
           "_real = os.replace\n"
           "def _replace(src, dst, *a, **k):\n"
           "    if os.path.basename(str(dst)) == os.environ['FAULT_NAME']:\n"
           "        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))\n"
           "    return _real(src, dst, *a, **k)\n"
           "os.replace = _replace\n"
           "from physrnn.cli import main\n"
           "sys.exit(main(sys.argv[1:]))\n")


def _argv(args: list[str], inject: str | None) -> list[str]:
    if inject is None:
        return [sys.executable, "-m", "physrnn.cli", *args]
    return [sys.executable, "-c", _INJECT, *args]


def cli(args: list[str], cwd: Path, *, inject: str | None = None,
        timeout: float = 300.0) -> tuple[int, str]:
    env = _env()
    if inject is not None:
        env["FAULT_NAME"] = inject
    p = subprocess.run(_argv(args, inject), cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stderr


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(_argv(args, None), cwd=cwd, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def start_until(args: list[str], cwd: Path, path: Path) -> subprocess.Popen | None:
    """:func:`start` the command and wait for ``path`` to appear; ``None`` (the process
    killed) if it ends or times out first."""
    proc = start(args, cwd)
    if wait_for(path, proc):
        return proc
    proc.kill()
    proc.wait()
    return None


def finish(proc: subprocess.Popen, timeout: float = 300.0) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        return -1, err + "\ntimed out"
    return proc.returncode, err


def wait_for(path: Path, proc: subprocess.Popen | None = None, timeout: float = 120.0) -> bool:
    t0 = time.monotonic()
    while not path.exists():
        if proc is not None and proc.poll() is not None:
            return False
        if time.monotonic() - t0 > timeout:
            return False
        time.sleep(0.02)
    return True


def clean(stderr: str, prefix: str = "physrnn: error:") -> bool:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    return len(lines) == 1 and lines[0].startswith(prefix) and "Traceback" not in stderr


def digest(directory: Path) -> dict[str, str]:
    if not directory.is_dir():
        return {}
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file() and not p.name.startswith(".")}


def unreadable(directory: Path) -> list[str]:
    """Files of ``directory`` that do not open with their physrnn reader."""
    from physrnn.data.hdf5 import read_dataset
    from physrnn.errors import PhysrnnError
    from physrnn.runs.records import load_checkpoint, read_record

    bad = []
    if not directory.is_dir():
        return bad
    for p in sorted(directory.rglob("*")):
        if not p.is_file() or p.name.startswith("."):
            continue
        try:
            if p.name == "record.h5":
                read_record(p)
            elif p.suffix == ".h5" and p.name != "table.h5":
                read_dataset(p, load=False).close()
            elif p.suffix == ".pt":
                load_checkpoint(p)
            elif p.suffix == ".json":
                json.loads(p.read_text())
            elif p.suffix == ".png" and not p.read_bytes().startswith(b"\x89PNG"):
                raise ValueError("not a PNG")
        except (PhysrnnError, OSError, ValueError) as exc:
            bad.append(f"{p.name}: {type(exc).__name__}")
    return bad


def lost(before: dict[str, str], after: dict[str, str], *, changed_counts: bool) -> list[str]:
    out = [k for k in before if k not in after]
    if changed_counts:
        out += [k for k in before if k in after and after[k] != before[k]]
    return out


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "8m") -> Iterator[Path | None]:
    """A real tmpfs at ``path``, or ``None`` where mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                           capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        yield None
        return
    if r.returncode != 0:
        yield None
        return
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


def mount_allowed(scratch: Path) -> bool:
    with tmpfs(scratch / "probe", "1m") as fs:
        return fs is not None


def fill(directory: Path, leave: int = 0) -> Path:
    filler = directory / ".filler"
    free = shutil.disk_usage(directory).free
    with open(filler, "wb") as f, contextlib.suppress(OSError):
        f.write(b"\0" * max(0, free - leave))
        f.flush()
        os.fsync(f.fileno())
    return filler


def params(path: Path) -> dict[str, Any]:
    from physrnn.runs.records import load_checkpoint

    return load_checkpoint(path)["driver"]["model"]


def same_params(a: dict[str, Any], b: dict[str, Any]) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def step_of(path: Path) -> int:
    from physrnn.runs.records import load_checkpoint

    return int(load_checkpoint(path)["driver"]["step_count"])


def trial(ok: bool, *, clean_msg: bool, lost_files: list[str] | None = None,
          corrupted: list[str] | None = None, note: str = "") -> dict[str, Any]:
    lost_files, corrupted = lost_files or [], corrupted or []
    return {"survived": bool(ok and clean_msg and not lost_files and not corrupted),
            "clean": bool(clean_msg), "lost": lost_files, "corrupted": corrupted,
            "note": note[-300:]}


# --------------------------------------------------------------------------- context
class Ctx:
    """Scratch space, the fault config and the uninterrupted reference run."""

    def __init__(self, root: Path, *, real_fs: bool) -> None:
        self.root = root
        self.real_fs = real_fs
        self.cfg = root / "vmc.toml"
        self.cfg.write_text(VMC_FAULT)
        self._ref: dict[str, Any] | None = None
        self._n = 0

    def fresh(self, name: str) -> Path:
        self._n += 1
        d = self.root / f"{self._n:02d}-{name}"
        d.mkdir(parents=True)
        return d

    @property
    def reference(self) -> dict[str, Any]:
        if self._ref is None:
            out = self.root / "reference"
            code, err = cli(["vmc", str(self.cfg), "--out", str(out), "--quiet"], self.root)
            if code != 0:
                raise RuntimeError(f"the reference run failed: {err}")
            self._ref = params(out / "checkpoint.pt")
        return self._ref

    def vmc(self, out: Path, *extra: str) -> list[str]:
        return ["vmc", str(self.cfg), "--out", str(out), "--quiet", *extra]

    def partial(self, out: Path, steps: int) -> None:
        """A run stopped (as if interrupted) after ``steps`` steps, with its checkpoint."""
        from physrnn.runs.vmc import run_vmc_job
        from physrnn.vmc.config import load_vmc_config as load_config

        run_vmc_job(load_config(self.cfg), out, progress=False, stop_after=steps)


# --------------------------------------------------------------------------- faults
def disk_full_mid_run(ctx: Ctx, k: int) -> dict[str, Any]:
    """The disk fills while a VMC run goes on: the next checkpoint fails (exit 74), the last
    one stays; with space back, --resume ends with the uninterrupted run's parameters."""
    d = ctx.fresh("disk-full-run")
    steps = PERIOD * (2 + 3 * k)
    with contextlib.ExitStack() as stack:
        fs = stack.enter_context(tmpfs(d / "fs")) if ctx.real_fs else None
        base = fs if fs is not None else d
        out = base / "run"
        ctx.partial(out, steps)
        before = digest(out)
        if fs is not None:
            filler = fill(fs, leave=4096)  # the lock file fits, a checkpoint does not
            code, err = cli(ctx.vmc(out, "--resume"), d)
        else:
            filler = None
            code, err = cli(ctx.vmc(out, "--resume"), d, inject="checkpoint.pt")
        after = digest(out)
        ok = code == WRITE_FAILED and "checkpoint.pt is unchanged" in err
        ok = ok and step_of(out / "checkpoint.pt") == steps
        corrupted = unreadable(out)
        if filler is not None:
            filler.unlink()
        code2, err2 = cli(ctx.vmc(out, "--resume"), d)
        ok = ok and code2 == 0 and same_params(params(out / "checkpoint.pt"), ctx.reference)
        return trial(ok, clean_msg=clean(err), corrupted=corrupted,
                     lost_files=lost(before, after, changed_counts=True),
                     note=err.strip() + (f" | resume: {err2.strip()}" if code2 else ""))


def _writers(base: Path) -> dict[str, Callable[[], Any]]:
    import numpy as np
    import torch

    from physrnn.data.hdf5 import write_dataset
    from physrnn.runs.collect import write_csv, write_table_h5
    from physrnn.runs.plotting import plot_vmc_history
    from physrnn.runs.records import save_checkpoint, write_record, write_summary

    t = np.arange(400) * 0.05
    y = np.stack([np.sin(t + p) for p in range(6)])[..., None]
    h = {"step": np.arange(1, 500), "energy": np.linspace(-1, -2, 499),
         "error": np.full(499, 0.01), "variance": np.full(499, 0.1)}
    return {
        "checkpoint.pt": lambda: save_checkpoint(base / "checkpoint.pt",
                                                 {"w": torch.arange(20000.0)}),
        "record.h5": lambda: write_record(base / "record.h5", config={"vmc": {}}, history=h,
                                          results={"energy": -2.0}),
        "summary.json": lambda: write_summary(base / "summary.json", {"e": [1.0] * 5000}),
        "data.h5": lambda: write_dataset(base / "data.h5", t=t, y=y, overwrite=True,
                                         meta={"system": "oscillator", "dt": 0.05},
                                         splits={"train": [0, 1, 2, 3], "val": [4],
                                                 "test": [5]}),
        "table.csv": lambda: write_csv(base / "table.csv", [{"run": "a" * 20000}], ["run"],
                                       overwrite=True),
        "table.h5": lambda: write_table_h5(base / "table.h5", [{"run": "a", "e": 1.0}] * 2000,
                                           ["run", "e"], overwrite=True),
        "energy.png": lambda: plot_vmc_history(h, base / "energy.png"),
    }


def disk_full_writer(ctx: Ctx, k: int) -> dict[str, Any]:
    """Each writer (checkpoint, record, summary, dataset, sweep tables, figure) on a full disk:
    one-line OutputWriteError, the previous file unchanged, no temporary left."""
    from physrnn.errors import OutputWriteError

    d = ctx.fresh("disk-full-writer")
    with contextlib.ExitStack() as stack:
        fs = stack.enter_context(tmpfs(d / "fs")) if ctx.real_fs else None
        base = fs if fs is not None else d
        name, write = list(_writers(base).items())[k]
        write()
        before = digest(base)
        msg = ""
        if fs is not None:
            filler = fill(fs)
            try:
                write()
                ok = False
            except OutputWriteError as exc:
                msg, ok = f"physrnn: error: {exc}", "No space left" in str(exc)
            filler.unlink()
        else:
            real = os.replace

            def no_space(src: Any, dst: Any, *a: Any, **kw: Any) -> None:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))

            os.replace = no_space  # type: ignore[assignment]
            try:
                write()
                ok = False
            except OutputWriteError as exc:
                msg, ok = f"physrnn: error: {exc}", "No space left" in str(exc)
            finally:
                os.replace = real
        after = digest(base)
        temps = [p.name for p in base.iterdir() if p.name.endswith(".tmp")]
        return trial(ok and not temps, clean_msg="\n" not in msg and bool(msg),
                     lost_files=lost(before, after, changed_counts=True),
                     corrupted=unreadable(base), note=f"{name}: {msg}")


def disk_full_cli(ctx: Ctx, k: int) -> dict[str, Any]:
    """``physrnn data generate --overwrite`` / ``physrnn collect --overwrite`` onto a full
    disk: exit 74, one line, the existing dataset or table intact."""
    d = ctx.fresh("disk-full-cli")
    card = d / "card.toml"
    card.write_text(CARD_FAULT.format(n=4, t=20.0))
    with contextlib.ExitStack() as stack:
        fs = stack.enter_context(tmpfs(d / "fs")) if ctx.real_fs else None
        base = fs if fs is not None else d
        if k == 0:
            target = base / "d.h5"
            code, err = cli(["data", "generate", str(card), "--out", str(target), "--quiet"], d)
            args, name = (["data", "generate", str(card), "--out", str(target), "--overwrite",
                           "--quiet"], "d.h5")
        else:
            run = d / "runs" / "a"
            run.mkdir(parents=True)
            (run / "summary.json").write_text(json.dumps({"status": "completed",
                                                          "note": "x" * 20000}))
            code, err = cli(["collect", str(d / "runs"), "--out", str(base / "table.csv")], d)
            args, name = (["collect", str(d / "runs"), "--out", str(base / "table.csv"),
                           "--overwrite"], "table.csv")
        if code != 0:
            return trial(False, clean_msg=False, note=f"setup failed: {err}")
        before = digest(base)
        if fs is not None:
            filler = fill(fs)
            code, err = cli(args, d)
            filler.unlink()
        else:
            code, err = cli(args, d, inject=name)
        after = digest(base)
        return trial(code == WRITE_FAILED, clean_msg=clean(err), corrupted=unreadable(base),
                     lost_files=lost(before, after, changed_counts=True), note=err.strip())


def read_only_mid_run(ctx: Ctx, k: int) -> dict[str, Any]:
    """The file system turns read-only mid-run: exit 74 and one line; writable again,
    --resume goes on from the last checkpoint and ends with the reference parameters."""
    d = ctx.fresh("read-only")
    with tmpfs(d / "fs") as fs:
        if fs is None:
            return trial(False, clean_msg=False, note="not run: mount not allowed")
        out = fs / "run"
        proc = start_until(ctx.vmc(out), d, out / "checkpoint.pt")
        if proc is None:
            return trial(False, clean_msg=False, note=NOT_STARTED)
        time.sleep(0.1 * k)
        before = digest(out)
        subprocess.run(["mount", "-o", "remount,ro", str(fs)], capture_output=True, check=True)
        code, err = finish(proc)
        after = digest(out)
        corrupted = unreadable(out)
        subprocess.run(["mount", "-o", "remount,rw", str(fs)], capture_output=True, check=True)
        code2, err2 = cli(ctx.vmc(out, "--resume"), d)
        ok = (code == WRITE_FAILED and "Read-only" in err and code2 == 0
              and same_params(params(out / "checkpoint.pt"), ctx.reference))
        return trial(ok, clean_msg=clean(err), corrupted=corrupted,
                     lost_files=lost(before, after, changed_counts=False),
                     note=err.strip() + (f" | resume: {err2.strip()}" if code2 else ""))


def remove_while_running(out: Path, *, tries: int = 100) -> None:
    """Delete a run directory that a live run is writing into (it may add a temporary file
    while the tree is removed, so ``rmtree`` is retried)."""
    for _ in range(tries):
        try:
            shutil.rmtree(out)
            return
        except OSError:
            time.sleep(0.01)


def removal_reported(stderr: str) -> bool:
    """Whether a run said its directory was removed: the next write finds it "vanished", or,
    when the run checks its lock first, the lock file "was removed or replaced"."""
    return "vanished" in stderr or "was removed or replaced" in stderr


def removed_mid_run(ctx: Ctx, k: int) -> dict[str, Any]:
    """The run directory is deleted mid-run: exit 74, one line, and it is not recreated."""
    d = ctx.fresh("removed")
    out = d / "run"
    proc = start_until(ctx.vmc(out), d, out / "checkpoint.pt")
    if proc is None:
        return trial(False, clean_msg=False, note=NOT_STARTED)
    time.sleep(0.1 * k)
    remove_while_running(out)
    code, err = finish(proc)
    return trial(code == WRITE_FAILED and removal_reported(err) and not out.exists(),
                 clean_msg=clean(err), note=err.strip())


def second_process(ctx: Ctx, k: int) -> dict[str, Any]:
    """A second ``physrnn vmc`` (plain, --resume, --overwrite) on a running run's directory:
    exit 73 naming the holder's pid; the first run goes on (and stops cleanly on SIGTERM)."""
    d = ctx.fresh("second-process")
    out = d / "run"
    long_cfg = d / "long.toml"  # long enough to outlast the second command's start-up
    long_cfg.write_text(VMC_FAULT.replace("n_steps = 300", "n_steps = 30000"))
    first = start_until(["vmc", str(long_cfg), "--out", str(out), "--quiet"], d,
                        out / "checkpoint.pt")
    if first is None:
        return trial(False, clean_msg=False, note=NOT_STARTED)
    extra = [[], ["--resume"], ["--overwrite"]][k % 3]
    code, err = cli(["vmc", str(long_cfg), "--out", str(out), "--quiet", *extra], d)
    alive = first.poll() is None and (out / "checkpoint.pt").exists()
    first.send_signal(signal.SIGTERM)  # the first run carries on to a clean preemption
    code1, err1 = finish(first)
    ok = code == LOCKED and f"pid {first.pid}" in err and alive and code1 == 75
    return trial(ok, clean_msg=clean(err), corrupted=unreadable(out),
                 note=f"{' '.join(extra) or 'plain'}: {err.strip()}"
                      + (f" | first: exit {code1}" if code1 != 75 else ""))


def stale_lock(ctx: Ctx, k: int) -> dict[str, Any]:
    """``kill -9`` of a run leaves its lock file; --resume takes it over and ends exactly."""
    d = ctx.fresh("stale-lock")
    out = d / "run"
    first = start_until(ctx.vmc(out), d, out / "checkpoint.pt")
    if first is None:
        return trial(False, clean_msg=False, note=NOT_STARTED)
    time.sleep(0.1 * k)
    first.send_signal(signal.SIGKILL)
    first.wait()
    stale = (out / ".physrnn.lock").exists()
    before = digest(out)
    code, err = cli(ctx.vmc(out, "--resume"), d)
    ok = stale and code == 0 and same_params(params(out / "checkpoint.pt"), ctx.reference)
    return trial(ok, clean_msg=code == 0 and "Traceback" not in err,
                 lost_files=[k for k in before if not (out / k).exists()],
                 corrupted=unreadable(out), note=f"lock left by kill -9: {stale}; {err[-200:]}")


def second_generate(ctx: Ctx, k: int) -> dict[str, Any]:
    """Two ``physrnn data generate --out`` to one file: the second is refused (exit 73)."""
    d = ctx.fresh("second-generate")
    card = d / "card.toml"
    card.write_text(CARD_FAULT.format(n=8, t=150.0))
    target = d / "d.h5"
    first = start_until(["data", "generate", str(card), "--out", str(target), "--quiet"], d,
                        d / ".d.h5.lock")
    if first is None:
        return trial(False, clean_msg=False, note=NOT_STARTED)
    code, err = cli(["data", "generate", str(card), "--out", str(target), "--overwrite",
                     "--quiet"], d)
    code1, err1 = finish(first)
    return trial(code == LOCKED and code1 == 0, clean_msg=clean(err),
                 corrupted=unreadable(d), note=err.strip() + (f" | first: {err1}" if code1 else ""))


def second_sweep(ctx: Ctx, k: int) -> dict[str, Any]:
    """A second ``physrnn sweep`` on a running sweep's directory is refused (exit 73)."""
    d = ctx.fresh("second-sweep")
    grid = ["--grid", "run.seed=1,2"]
    first = start_until(["sweep", str(ctx.cfg), *grid, "--out", str(d / "s")], d,
                        d / "s" / "sweep.json")
    if first is None:
        return trial(False, clean_msg=False, note=NOT_STARTED)
    code, err = cli(["sweep", str(ctx.cfg), *grid, "--out", str(d / "s"), "--overwrite"], d)
    code1, _ = finish(first)
    return trial(code == LOCKED and code1 == 0, clean_msg=clean(err),
                 corrupted=unreadable(d / "s"), note=err.strip())


def foreign_checkpoint(ctx: Ctx, k: int) -> dict[str, Any]:
    """--resume from a checkpoint of another physrnn version (k = 0) or another model shape
    (k = 1): exit 2, one line saying what differs, nothing changed."""
    import torch

    d = ctx.fresh("foreign-checkpoint")
    out = d / "run"
    ctx.partial(out, PERIOD)
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    if k == 0:
        state["physrnn_version"] = "0.0.7"
        want = "physrnn 0.0.7"
    else:
        model = state["driver"]["model"]
        name = next(iter(model))
        model[name] = torch.zeros(*model[name].shape[:-1], model[name].shape[-1] + 2)
        want = "in the file and"
    torch.save(state, out / "checkpoint.pt")
    before = digest(out)
    code, err = cli(ctx.vmc(out, "--resume"), d)
    return trial(code == USER_ERROR and want in err, clean_msg=clean(err),
                 lost_files=lost(before, digest(out), changed_counts=True),
                 corrupted=unreadable(out), note=err.strip())


def ctrl_c(ctx: Ctx, k: int) -> dict[str, Any]:
    """SIGINT at a random moment: exit 130, the checkpoint is the last periodic one (never a
    mid-step state), and --resume ends with the uninterrupted run's parameters."""
    import random

    d = ctx.fresh("ctrl-c")
    out = d / "run"
    proc = start_until(ctx.vmc(out), d, out / "checkpoint.pt")
    if proc is None:
        return trial(False, clean_msg=False, note=NOT_STARTED)
    time.sleep(random.Random(k).uniform(0.0, 1.0))
    proc.send_signal(signal.SIGINT)
    code, err = finish(proc)
    if code == 0:
        return trial(False, clean_msg=True, note="finished before the signal")
    step = step_of(out / "checkpoint.pt")
    corrupted = unreadable(out)
    code2, err2 = cli(ctx.vmc(out, "--resume"), d)
    ok = (code == INTERRUPTED and step % PERIOD == 0 and code2 == 0
          and same_params(params(out / "checkpoint.pt"), ctx.reference))
    return trial(ok, clean_msg=clean(err, "physrnn: interrupted"), corrupted=corrupted,
                 note=f"checkpoint at step {step}; {err.strip()}"
                      + (f" | resume: {err2.strip()}" if code2 else ""))


#: name -> (function(ctx, trial index), trials full, trials quick, needs a real tmpfs)
FAULTS: dict[str, tuple[Callable[[Ctx, int], dict[str, Any]], int, int, bool]] = {
    "disk full mid-run (VMC checkpoint), then --resume": (disk_full_mid_run, 3, 1, False),
    "disk full at each writer (checkpoint, record, summary, dataset, tables, figure)":
        (disk_full_writer, 7, 7, False),
    "disk full: data generate / collect --overwrite": (disk_full_cli, 2, 2, False),
    "read-only file system mid-run, then --resume": (read_only_mid_run, 3, 1, True),
    "run directory removed mid-run": (removed_mid_run, 3, 1, False),
    "second process on a running run directory": (second_process, 3, 3, False),
    "stale lock after kill -9, then --resume": (stale_lock, 3, 1, False),
    "second data generate to one file": (second_generate, 2, 1, False),
    "second sweep on one sweep directory": (second_sweep, 1, 1, False),
    "checkpoint of another version / model shape": (foreign_checkpoint, 2, 2, False),
    "Ctrl-C mid-run, then --resume": (ctrl_c, 3, 1, False),
}


def run_faults(scratch: Path, *, quick: bool) -> list[dict[str, Any]]:
    """Run every fault; one row per fault (table columns :func:`fault_table_columns`)."""
    scratch.mkdir(parents=True, exist_ok=True)
    real = mount_allowed(scratch)
    ctx = Ctx(Path(tempfile.mkdtemp(prefix="faults-", dir=scratch)), real_fs=real)
    rows = []
    for name, (fn, full, short, needs_fs) in FAULTS.items():
        n = short if quick else full
        t0 = time.perf_counter()
        if needs_fs and not real:
            rows.append({"fault": name, "mode": "not run (no mount)", "trials": 0,
                         "survived": 0, "files_lost": 0, "files_corrupted": 0,
                         "clean_message": "-", "seconds": 0.0, "details": []})
            continue
        results = []
        for i in range(n):
            try:
                results.append(fn(ctx, i))
            except Exception as exc:  # noqa: BLE001 - a crash of the harness is a failed trial
                results.append(trial(False, clean_msg=False,
                                     note=f"harness: {type(exc).__name__}: {exc}"))
        uses_fs = needs_fs or name.startswith("disk full")
        rows.append({
            "fault": name,
            "mode": ("real tmpfs" if real else "injected") if uses_fs else "real",
            "trials": n, "survived": sum(r["survived"] for r in results),
            "files_lost": sum(len(r["lost"]) for r in results),
            "files_corrupted": sum(len(r["corrupted"]) for r in results),
            "clean_message": "yes" if all(r["clean"] for r in results) else "no",
            "seconds": time.perf_counter() - t0, "details": results})
    return rows


def fault_table_columns() -> list[tuple[str, str]]:
    return [("fault", "fault"), ("mode", "mode"), ("trials", "trials"),
            ("survived", "survived"), ("files_lost", "files lost"),
            ("files_corrupted", "files corrupted"), ("clean_message", "clean message")]
