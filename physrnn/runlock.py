"""One process per output: a lock file with the holder's host and pid.

A batch system may start an array task twice, a user may run the same command in two
terminals, or ``--resume`` twice; two processes writing one run directory would overwrite each
other's checkpoints. Every physrnn command that writes an output directory (or one output file,
``physrnn data generate --out``) first takes its lock:

* ``<run dir>/.physrnn.lock`` for a run or sweep directory, ``<dir>/.<name>.lock`` beside a
  single output file;
* the lock is an advisory ``flock`` on that file (released by the kernel when the process ends,
  also on ``kill -9``); the file holds the holder's host, pid, start time and command as JSON, so
  that the refusal can name it;
* a lock file left by a process that no longer exists is *stale*: its ``flock`` is free, and the
  next process takes it over (with an info line), so ``--resume`` after a crash needs no manual
  clean-up;
* on a file system without ``flock`` the holder is checked by pid on the same host; a lock of
  another host is then refused with the command that removes it.

While a lock is held, :func:`check_writable` (called by every atomic write of
:mod:`physrnn.runs.records`) refuses to write into a locked directory that vanished (deleted or
unmounted while the run was going) or whose lock file was removed or replaced, instead of
silently recreating it.

Example::

    from physrnn.runlock import RunLock
    with RunLock("runs/x"):
        ...  # write into runs/x
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import logging
import os
import socket
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from physrnn.errors import OutputWriteError, RunLockedError

try:  # POSIX; elsewhere the pid fallback is used
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "LockHolder", "RunLock", "file_lock", "check_writable", "held_locks",
           "read_holder"]

log = logging.getLogger(__name__)

#: Name of the lock file inside a locked directory.
LOCK_NAME = ".physrnn.lock"

_held: dict[str, RunLock] = {}  # absolute lock file path -> lock held by this process
_held_guard = threading.Lock()


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or held) a lock: read from the lock file."""

    host: str
    pid: int
    started_utc: str
    command: str

    def describe(self) -> str:
        """``pid 123 on node7 since 2026-12-01T10:00:00+00:00 (physrnn vmc ...)``."""
        text = f"pid {self.pid} on {self.host}"
        if self.started_utc:
            text += f" since {self.started_utc}"
        if self.command:
            text += f" ({self.command})"
        return text


def read_holder(path: str | Path) -> LockHolder | None:
    """The holder written in lock file ``path``, or ``None`` (absent, empty or unreadable)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
        data = json.loads(text)
        return LockHolder(host=str(data.get("host", "?")), pid=int(data.get("pid", -1)),
                          started_utc=str(data.get("started_utc", "")),
                          command=str(data.get("command", ""))[:200])
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def _write_failure(path: Path, exc: OSError) -> OutputWriteError:
    reason = exc.strerror or str(exc)
    return OutputWriteError(f"cannot create the lock file {path}: {reason}")


class RunLock:
    """An exclusive lock on a directory (or on one file in it) for the lifetime of a run.

    Args:
        directory: the directory to lock (created if missing).
        name: lock file name inside ``directory`` (:data:`LOCK_NAME`).
        what: how the refusal names what is locked (default: the directory).
        command: recorded in the lock file (default: this process's argv).

    Raises (from :meth:`acquire`):
        RunLockedError: another live process holds the lock (the message names it).
        OutputWriteError: the lock file cannot be created (read-only or full file system).
    """

    def __init__(self, directory: str | Path, *, name: str = LOCK_NAME, what: str | None = None,
                 command: str | None = None) -> None:
        self.directory = Path(os.path.abspath(directory))
        self.path = self.directory / name
        self.what = what or str(directory)
        self.command = command if command is not None else " ".join(
            ["physrnn", *sys.argv[1:]] if Path(sys.argv[0]).name in ("physrnn", "cli.py")
            else sys.argv)
        self._fd: int | None = None
        self._inode: tuple[int, int] | None = None

    # ------------------------------------------------------------------ acquire/release
    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> RunLock:
        """Take the lock (non-blocking); see the class docstring for what may be raised."""
        if self._fd is not None:
            return self
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _write_failure(self.path, exc) from None
        for _ in range(10):  # the holder may unlink the file between our open and flock
            try:  # read-only: no file open for writing keeps a remount read-only from working
                fd = os.open(self.path, os.O_RDONLY | os.O_CREAT, 0o644)
            except OSError as exc:
                raise _write_failure(self.path, exc) from None
            try:
                got = self._try_flock(fd)
                if got is False:
                    holder = read_holder(self.path)
                    raise RunLockedError(self._refusal(holder))
                st = os.fstat(fd)
                try:
                    now = os.stat(self.path)
                except FileNotFoundError:
                    os.close(fd)
                    continue
                if (st.st_dev, st.st_ino) != (now.st_dev, now.st_ino):
                    os.close(fd)
                    continue
                previous = read_holder(self.path)
                if got is None:  # no flock on this file system: judge by the recorded pid
                    self._check_fallback(previous)
                if previous is not None and previous.pid != os.getpid():
                    log.info("%s: took over the stale lock of %s (that process is gone)",
                             self.path, previous.describe())
                self._record()
            except BaseException:
                with contextlib.suppress(OSError):
                    os.close(fd)
                raise
            self._fd, self._inode = fd, (st.st_dev, st.st_ino)
            with _held_guard:
                _held[str(self.path)] = self
            return self
        raise RunLockedError(f"{self.what}: could not take the lock {self.path} (it keeps "
                             "being replaced by another process)")

    @staticmethod
    def _try_flock(fd: int) -> bool | None:
        """True: locked; False: held by another; None: this file system has no flock."""
        if fcntl is None:  # pragma: no cover
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            return None  # ENOLCK, EOPNOTSUPP, EINVAL: no advisory locks here
        return True

    def _check_fallback(self, previous: LockHolder | None) -> None:
        if previous is None or previous.pid == os.getpid():
            return
        if previous.host == socket.gethostname():
            if _pid_alive(previous.pid):
                raise RunLockedError(self._refusal(previous))
            return
        raise RunLockedError(self._refusal(previous) + f"; this file system has no locks, so "
                             f"physrnn cannot tell whether it still runs: if it does not, "
                             f"remove {self.path}")

    def _refusal(self, holder: LockHolder | None) -> str:
        who = holder.describe() if holder is not None else "another process"
        return (f"{self.what} is in use by {who}; wait for it to finish or stop it "
                f"(lock file {self.path})")

    def _record(self) -> None:
        """Write the holder into the lock file (through a short-lived descriptor)."""
        info = {"host": socket.gethostname(), "pid": os.getpid(),
                "started_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                "command": self.command}
        data = (json.dumps(info) + "\n").encode()
        try:
            wfd = os.open(self.path, os.O_WRONLY | os.O_TRUNC)
            try:
                os.write(wfd, data)
            finally:
                os.close(wfd)
        except OSError as exc:
            raise _write_failure(self.path, exc) from None

    def release(self) -> None:
        """Give the lock up and remove the lock file (if it is still ours)."""
        fd = self._fd
        if fd is None:
            return
        with _held_guard:
            if _held.get(str(self.path)) is self:
                del _held[str(self.path)]
        try:
            now = os.stat(self.path)
            if (now.st_dev, now.st_ino) == self._inode:
                os.unlink(self.path)
        except OSError:
            pass
        finally:
            self._fd = self._inode = None
            with contextlib.suppress(OSError):
                os.close(fd)

    def check(self) -> None:
        """Raise :class:`OutputWriteError` if the directory vanished or the lock is not ours."""
        if self._fd is None:
            return
        if not self.directory.is_dir():
            raise OutputWriteError(f"{self.what} vanished while this process was writing it "
                                   "(deleted or unmounted?); nothing more was written")
        try:
            now = os.stat(self.path)
        except OSError:
            now = None
        if now is None or (now.st_dev, now.st_ino) != self._inode:
            raise OutputWriteError(f"the lock file {self.path} was removed or replaced while "
                                   "this process held it; stopping so as not to write over "
                                   "another process's files")

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"RunLock({str(self.directory)!r}, held={self.held})"


def file_lock(path: str | Path, *, command: str | None = None) -> RunLock:
    """The lock for one output file: ``<dir>/.<name>.lock`` (not yet acquired)."""
    path = Path(path)
    return RunLock(path.parent, name=f".{path.name}.lock", what=str(path), command=command)


def held_locks() -> list[RunLock]:
    """The locks this process holds now."""
    with _held_guard:
        return list(_held.values())


def check_writable(path: str | Path) -> Path | None:
    """Refuse to write ``path`` inside a locked directory that vanished or lost its lock.

    Called by :func:`physrnn.io.atomic_path` before every write; a no-op for paths outside
    the directories this process locked.

    Returns:
        The locked directory that holds ``path`` (which the writer must not recreate), or
        ``None``.

    Raises:
        OutputWriteError: the directory of a held lock no longer exists, or its lock file was
            removed or replaced.
    """
    with _held_guard:
        locks = list(_held.values())
    target = os.path.abspath(path)
    for lock in locks:
        d = str(lock.directory)
        if target == d or target.startswith(d.rstrip(os.sep) + os.sep):
            lock.check()
            return lock.directory
    return None
