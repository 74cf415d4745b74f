"""``python -m physrnn.launch``: ``torchrun`` whose exit code says whether the run was preempted.

``torchrun`` exits with 1 when its workers stop, whatever their own exit codes, so a job script
cannot tell a preempted run (checkpoint written, exit code 75 on every worker; see
:mod:`physrnn.runs.preempt`) from a failed one. This launcher takes exactly ``torchrun``'s
arguments, runs ``python -m torch.distributed.run`` with them as a child process, and

* passes SIGTERM, SIGINT and SIGHUP on to it, and SIGUSR1 as SIGTERM (torchrun hands SIGTERM
  to its workers, which finish the current step or epoch, checkpoint and exit with 75; a
  SIGUSR1 would end some versions of torchrun without stopping the workers);
* names a temporary file in ``$PHYSRNN_PREEMPT_MARKER``
  (:data:`physrnn.runs.preempt.PREEMPT_MARKER_ENV`), where every worker that stops for preemption
  appends a line (:func:`physrnn.runs.preempt.mark_preempted`, called by ``physrnn vmc`` and
  ``physrnn train``);
* exits with 75 when a worker recorded a preemption and torchrun did not succeed, otherwise
  with torchrun's exit code (``128 + n`` if it was killed by signal ``n``), after one line
  ``physrnn: ...`` on stderr saying which.

torchrun runs in a session of its own (a Ctrl-C reaches it once, through the launcher), and the
launcher waits up to a minute for workers that outlive torchrun (on Linux it adopts them as
their subreaper), so a worker still writing its checkpoint is waited for.

Example::

    python -m physrnn.launch --standalone --nproc-per-node 2 \\
        -m physrnn.cli vmc cfg.toml --out runs/x --resume
    echo $?   # 75: preempted with a checkpoint; run the same command again

From Python, :func:`supervise` runs any command this way and returns a :class:`LaunchResult`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from physrnn.runs.preempt import PREEMPT_MARKER_ENV, PREEMPTED_EXIT_CODE

__all__ = ["FORWARDED_SIGNALS", "LaunchResult", "supervise", "torchrun_command", "main"]

log = logging.getLogger(__name__)


def _forwarded() -> dict[int, int]:
    pairs = (("SIGTERM", "SIGTERM"), ("SIGUSR1", "SIGTERM"), ("SIGINT", "SIGINT"),
             ("SIGHUP", "SIGHUP"))
    return {int(getattr(signal, a)): int(getattr(signal, b)) for a, b in pairs
            if hasattr(signal, a) and hasattr(signal, b)}


#: Signals the launcher catches (keys) and the signal it sends to its child for each (values).
FORWARDED_SIGNALS: dict[int, int] = _forwarded()

#: Seconds :func:`main` waits, after torchrun has exited, for workers that outlive it.
ORPHAN_GRACE_S = 60.0

_PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


@dataclass(frozen=True)
class LaunchResult:
    """What a supervised command did.

    Attributes:
        returncode: the child's exit code (``128 + n`` when signal ``n`` killed it).
        preempted: the lines workers wrote to the marker (``"rank 0 SIGTERM"``), one per worker
            that stopped for preemption; empty if none did.
        signals: names of the signals the launcher received and passed on, in order.
    """

    returncode: int
    preempted: list[str] = field(default_factory=list)
    signals: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """:data:`~physrnn.runs.preempt.PREEMPTED_EXIT_CODE` if a worker recorded a preemption and
        the child did not succeed, else :attr:`returncode`."""
        if self.preempted and self.returncode != 0:
            return PREEMPTED_EXIT_CODE
        return self.returncode

    def describe(self) -> str:
        """One line ``physrnn: ...`` saying how the run ended and why the exit code is what it
        is."""
        if self.exit_code == PREEMPTED_EXIT_CODE and self.preempted:
            who = ", ".join(self.preempted)
            return (f"physrnn: preempted ({who}): the checkpoint is written; exit code "
                    f"{PREEMPTED_EXIT_CODE} (run the same command with --resume to continue)")
        got = f" after {', '.join(self.signals)}" if self.signals else ""
        why = "; no worker recorded a preemption" if self.signals else ""
        return f"physrnn: torchrun exited with code {self.returncode}{got}{why}"


def torchrun_command(argv: Sequence[str]) -> list[str]:
    """``[python, -m, torch.distributed.run, *argv]`` with this interpreter."""
    return [sys.executable, "-m", "torch.distributed.run", *argv]


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _set_subreaper(on: bool) -> bool:
    """Make this process adopt its orphaned descendants (Linux ``prctl``); False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _reap_orphans(grace_s: float) -> int:
    """Wait (at most ``grace_s`` seconds) for the processes adopted as subreaper; returns how
    many exited. Only for a process whose sole child was the supervised command."""
    deadline = time.monotonic() + grace_s
    reaped = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid:
            reaped += 1
            continue
        if time.monotonic() >= deadline:
            log.warning("workers still running %.0f s after torchrun exited; not waiting "
                        "longer", grace_s)
            return reaped
        time.sleep(0.05)


class _Forwarder:
    """Signal handlers that pass :data:`FORWARDED_SIGNALS` on to the child once it exists (a
    signal that comes earlier is sent when :meth:`attach` is called)."""

    def __init__(self) -> None:
        self.child: subprocess.Popen | None = None
        self.pending: list[int] = []
        self.received: list[str] = []

    def handler(self, signum: int, frame: object) -> None:
        self.received.append(_signal_name(signum))
        sent = FORWARDED_SIGNALS[signum]
        if self.child is None:
            self.pending.append(sent)
            return
        log.info("passing %s on to process %d as %s", _signal_name(signum), self.child.pid,
                 _signal_name(sent))
        with contextlib.suppress(ProcessLookupError):
            self.child.send_signal(sent)

    def attach(self, child: subprocess.Popen) -> None:
        self.child = child
        while self.pending:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(self.pending.pop(0))

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Within the block the handlers replace the previous ones (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            log.info("not the main thread: signals are not passed on")
            yield
            return
        previous = {s: signal.signal(s, self.handler) for s in FORWARDED_SIGNALS}
        try:
            yield
        finally:
            for s, old in previous.items():
                signal.signal(s, old if old is not None else signal.SIG_DFL)


def supervise(command: Sequence[str], *, env: Mapping[str, str] | None = None,
              reap_orphans: bool = False, grace_s: float = ORPHAN_GRACE_S) -> LaunchResult:
    """Run ``command``, pass preemption signals on to it and collect the workers' marker.

    The child gets ``env`` (default: this environment) plus ``PHYSRNN_PREEMPT_MARKER`` naming a
    fresh file in a temporary directory (removed afterwards). The child starts a session of its
    own, so terminal signals reach it only through this process.

    Args:
        command: the program and its arguments (e.g. :func:`torchrun_command`).
        env: the child's environment.
        reap_orphans: after the child exits, also wait for its descendants that outlive it
            (Linux: this process becomes their subreaper). Only for a process whose sole child
            is ``command`` (it reaps any child), i.e. :func:`main`.
        grace_s: the longest that wait, in seconds.

    Returns:
        The exit code, the marker's lines and the signals received; see
        :attr:`LaunchResult.exit_code`.
    """
    child_env = dict(os.environ if env is None else env)
    fwd = _Forwarder()
    adopt = reap_orphans and _set_subreaper(True)
    with tempfile.TemporaryDirectory(prefix="physrnn-launch-") as tmp:
        marker = Path(tmp) / "preempted"
        child_env[PREEMPT_MARKER_ENV] = str(marker)
        try:
            with fwd.installed():
                proc = subprocess.Popen(list(command), env=child_env, start_new_session=True)
                fwd.attach(proc)
                rc = proc.wait()
                if adopt:
                    n = _reap_orphans(grace_s)
                    if n:
                        log.info("waited for %d worker(s) that outlived the launched command", n)
        finally:
            if adopt:
                _set_subreaper(False)
        lines = []
        if marker.exists():
            text = marker.read_text(encoding="utf-8", errors="replace")
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return LaunchResult(returncode=rc if rc >= 0 else 128 - rc, preempted=lines,
                        signals=list(fwd.received))


_EPILOG = f"""\
how it ends:
  exit code {PREEMPTED_EXIT_CODE}    a worker stopped for preemption (SIGTERM/SIGUSR1) after writing
                  its checkpoint: run the same command again with --resume
  otherwise       torchrun's own exit code (0 success, 1 a worker failed, 128+n killed by n)
  One line "physrnn: ..." on stderr says which.

signals: SIGTERM, SIGINT and SIGHUP are passed on to torchrun (which passes them to the
workers), SIGUSR1 as SIGTERM. The workers learn where to record a preemption from
${PREEMPT_MARKER_ENV}, set by this launcher.

SLURM with requeue on preemption or time limit (one launcher per node; --signal=B: signals
only the batch script, which passes the signal on to srun and so to the launcher):

  #!/bin/bash
  #SBATCH --nodes=1
  #SBATCH --ntasks-per-node=1
  #SBATCH --cpus-per-task=4
  #SBATCH --time=04:00:00
  #SBATCH --signal=B:TERM@120
  #SBATCH --requeue
  #SBATCH --open-mode=append
  srun python -m physrnn.launch --standalone --nproc-per-node 2 \\
      -m physrnn.cli vmc cfg.toml --out runs/x --resume &
  child=$!
  trap 'kill -TERM "$child" 2>/dev/null' TERM
  wait "$child"; rc=$?
  while [ "$rc" -gt 128 ] && kill -0 "$child" 2>/dev/null; do wait "$child"; rc=$?; done
  [ "$rc" -eq {PREEMPTED_EXIT_CODE} ] && scontrol requeue "$SLURM_JOB_ID"
  exit "$rc"

With --signal=TERM@120 (no "B:") SLURM signals the job step itself, and the short form is
enough:

  srun python -m physrnn.launch --standalone --nproc-per-node 2 \\
      -m physrnn.cli vmc cfg.toml --out runs/x --resume
  [ $? -eq {PREEMPTED_EXIT_CODE} ] && scontrol requeue $SLURM_JOB_ID

The checkpoint must be written within torchrun's --shutdown-timeout (30 s by default) of the
signal, and before SLURM's KillWait ends.

torchrun's options: python -m torch.distributed.run --help
"""


def _parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog="python -m physrnn.launch",
        usage="%(prog)s [torchrun options] -m physrnn.cli COMMAND ARGS...",
        description="Run torchrun (python -m torch.distributed.run) with these arguments, pass "
                    "preemption signals on, and exit with 75 when the workers stopped for "
                    "preemption with a checkpoint (torchrun itself would exit with 1).",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m physrnn.launch``; returns the exit code (see the module
    docstring)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        _parser().print_help(sys.stdout if args else sys.stderr)
        return 0 if args else 2
    env = dict(os.environ)
    # torchrun's --signals-to-handle (where it has the option): also catch a SIGUSR1 sent to
    # torchrun directly (by SLURM) instead of dying of it; an explicit option still wins
    env.setdefault("PET_SIGNALS_TO_HANDLE", "SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1")
    result = supervise(torchrun_command(args), env=env, reap_orphans=True)
    print(result.describe(), file=sys.stderr, flush=True)
    return result.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
