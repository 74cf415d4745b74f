"""Graceful preemption: stop at the next safe point when the batch system asks.

SLURM sends ``SIGTERM`` when a job is preempted or cancelled and at its time limit (followed by
``SIGKILL`` after ``KillWait``, 30 s by default), and ``SIGUSR1`` (or any signal) ahead of the
limit when the job asks for it with ``#SBATCH --signal=B:USR1@120``. Inside
:func:`handle_preemption` these signals only set a flag; a job polls :func:`requested` at its safe
points (the training job: after every epoch), writes a checkpoint and a record with status
``"preempted"``, and the command line exits with :data:`PREEMPTED_EXIT_CODE` (75,
``EX_TEMPFAIL``: "try again"). Running the same command with ``--resume`` continues exactly
where the checkpoint left off.

The safe point comes at the end of the current epoch, so the time between the signal and
``SIGKILL`` must cover one epoch and a checkpoint; otherwise the last periodic checkpoint
(``run.checkpoint_every``) is where ``--resume`` starts (nothing is ever half-written).

``torchrun`` exits with 1 when its workers stop, whatever their exit codes; started through
``python -m physrnn.launch`` (same arguments), the workers also record the preemption with
:func:`mark_preempted` and the launcher exits with 75.

Example::

    from physrnn.runs.preempt import handle_preemption
    with handle_preemption():
        summary = run_train_job(config, "runs/x", resume=True)
    if summary["status"] == "preempted":
        ...  # requeue
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["PREEMPTED_EXIT_CODE", "PREEMPTION_SIGNALS", "PREEMPT_MARKER_ENV", "handle_preemption",
           "requested", "signal_name", "request", "clear", "mark_preempted"]

log = logging.getLogger(__name__)

#: Exit code of a command stopped by a preemption signal after writing its checkpoint
#: (``EX_TEMPFAIL`` of ``sysexits.h``): run it again with ``--resume``.
PREEMPTED_EXIT_CODE = 75

#: Environment variable naming a file in which a process that stops for preemption records it
#: (:func:`mark_preempted`); set by :mod:`physrnn.launch` for the workers it starts.
PREEMPT_MARKER_ENV = "PHYSRNN_PREEMPT_MARKER"

#: Signals that request a graceful stop.
PREEMPTION_SIGNALS: tuple[signal.Signals, ...] = tuple(
    s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGUSR1", None))
    if s is not None)

_requested: int | None = None  # the signal number received, None if none


def requested() -> bool:
    """True once a preemption signal arrived (or :func:`request` was called)."""
    return _requested is not None


def signal_name() -> str:
    """Name of the signal that requested the stop (``"SIGTERM"``), or ``""``."""
    if _requested is None:
        return ""
    try:
        return signal.Signals(_requested).name
    except ValueError:
        return f"signal {_requested}"


def request(signum: int = int(signal.SIGTERM)) -> None:
    """Ask for a graceful stop as if ``signum`` had arrived (tests, other front ends)."""
    global _requested
    if _requested is None:
        _requested = int(signum)


def clear() -> None:
    """Forget a received request (a new run in the same process starts clean)."""
    global _requested
    _requested = None


def mark_preempted(signame: str = "") -> Path | None:
    """Record that this process stops for preemption, its checkpoint written, in the file named
    by ``$PHYSRNN_PREEMPT_MARKER`` (:data:`PREEMPT_MARKER_ENV`); no-op when it is unset.

    Called where a command decides on :data:`PREEMPTED_EXIT_CODE`, so that a launcher whose
    own exit code does not carry the workers' (``torchrun``) can still tell a preemption apart
    from a failure (:mod:`physrnn.launch`). Appends one line ``rank <RANK> <signal>``; several
    ranks may share the file.

    Args:
        signame: the signal's name (default: :func:`signal_name`, or ``"signal"``).

    Returns:
        The marker's path, or ``None`` when the variable is unset or the file cannot be written
        (logged as a warning: the exit code is then the launcher's own).
    """
    path = os.environ.get(PREEMPT_MARKER_ENV, "").strip()
    if not path:
        return None
    rank = os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0")).strip() or "0"
    line = f"rank {rank} {signame or signal_name() or 'signal'}\n"
    try:
        with open(path, "a", encoding="utf-8") as f:  # one short append: atomic on POSIX
            f.write(line)
    except OSError as exc:
        log.warning("cannot record the preemption in %s (%s): %s", path, PREEMPT_MARKER_ENV, exc)
        return None
    return Path(path)


def _handler(signum: int, frame: object) -> None:
    first = _requested is None
    request(signum)
    name = signal.Signals(signum).name
    if first:
        log.warning("received %s: stopping at the next checkpoint-safe point", name)
    else:
        log.warning("received %s again: already stopping", name)


@contextlib.contextmanager
def handle_preemption(signals: Sequence[int] = PREEMPTION_SIGNALS) -> Iterator[None]:
    """Within the block, ``signals`` set the preemption flag instead of killing the process.

    The flag is cleared on entry and on exit (read :func:`requested` and :func:`signal_name`
    inside the block), and the previous handlers are restored on exit. Outside the main thread
    (where Python cannot install handlers) the block runs unprotected, with a log message.
    """
    clear()
    if threading.current_thread() is not threading.main_thread():
        log.info("not the main thread: preemption signals are not intercepted")
        try:
            yield
        finally:
            clear()
        return
    previous = {}
    try:
        for s in signals:
            previous[s] = signal.signal(s, _handler)
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old if old is not None else signal.SIG_DFL)
        clear()
