"""Atomic writes, their failures, and provenance.

Every file physrnn writes goes through :func:`atomic_path`: the content is written under a
temporary name in the same directory, flushed, and renamed onto the final name. So

* a crash (``kill -9``, node failure) never leaves a half-written file under the final name;
* a failed write (disk or quota full, read-only file system, directory removed) leaves the
  previous file untouched and raises :class:`physrnn.errors.OutputWriteError`, one line that
  names the file and the reason, whatever library did the writing (h5py, torch, matplotlib,
  plain Python);
* a write into a run directory that this process locked (:mod:`physrnn.runlock`) and that
  vanished meanwhile is refused instead of silently recreating the directory.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import functools
import os
import platform
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import physrnn
from physrnn.errors import OutputWriteError, PhysrnnError
from physrnn.runlock import check_writable

__all__ = ["atomic_path", "write_failure", "git_revision", "provenance",
           "remove_stale_temporaries", "TEMPORARY_NAME"]

#: Free bytes below which a failed write is put down to a full disk even when the writing
#: library did not say so (torch's zip writer reports ENOSPC as a RuntimeError).
_NEARLY_FULL = 1 << 20

_HINTS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOENT: "the directory does not exist (removed while running?)",
    errno.EIO: "input/output error of the storage",
}


@functools.lru_cache(maxsize=1)
def git_revision() -> str:
    """Git revision of the physrnn source tree (``-dirty`` if modified), or ``"unknown"``.

    Read once per process: every checkpoint and record of a run carries the same revision.
    """
    root = Path(physrnn.__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{rev}-dirty" if dirty else rev


def provenance() -> dict[str, str]:
    """Package version, git revision, interpreter and torch version, UTC time."""
    import torch

    return {
        "physrnn_version": physrnn.__version__,
        "git_revision": git_revision(),
        "python_version": platform.python_version(),
        "torch_version": str(torch.__version__),
        "platform": platform.platform(),
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def _errno_of(exc: BaseException) -> int | None:
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc.errno
    m = re.search(r"errno\s*=\s*(\d+)", str(exc))  # h5py's nested HDF5 messages
    return int(m.group(1)) if m else None


def _nearly_full(directory: Path) -> bool:
    try:
        return shutil.disk_usage(directory).free < _NEARLY_FULL
    except OSError:
        return False


def write_failure(final: str | Path, exc: BaseException, *, existed: bool) -> OutputWriteError:
    """The one-line :class:`OutputWriteError` for a failed write of ``final``.

    Args:
        exc: what the writer raised.
        existed: whether ``final`` existed before (the message says it is unchanged).
    """
    final = Path(final)
    code = _errno_of(exc)
    if code is None and _nearly_full(final.parent):
        code = errno.ENOSPC
    reason = os.strerror(code) if code is not None else (
        str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    hint = _HINTS.get(code, "") if code is not None else ""
    kept = (f"the previous {final.name} is unchanged" if existed
            else f"no {final.name} was written")
    return OutputWriteError(f"cannot write {final}: {reason}"
                            + (f" ({hint})" if hint and hint.lower() != reason.lower() else "")
                            + f"; {kept}")


@contextlib.contextmanager
def atomic_path(final: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it onto ``final`` if the block succeeds.

    On an exception the temporary file is removed and ``final`` is left untouched. A failure
    to write (in the block, at the flush or at the rename) becomes
    :class:`physrnn.errors.OutputWriteError` when it is an ``OSError`` or happens on a
    nearly full disk; other exceptions of the block pass through unchanged.

    Raises:
        OutputWriteError: see above, and when ``final`` lies in a locked run directory that
            vanished (:func:`physrnn.runlock.check_writable`).
    """
    final = Path(final)
    locked = check_writable(final)
    existed = final.exists()
    try:
        if locked is None:
            final.parent.mkdir(parents=True, exist_ok=True)
        else:  # below the locked directory only: never recreate one removed meanwhile
            _make_below(locked, final.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
        os.close(fd)
    except OSError as exc:
        check_writable(final)  # a locked directory that vanished says so
        raise write_failure(final, exc, existed=existed) from None
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; results are meant to be shared
        yield tmp_path
        _fsync_file(tmp_path)
        check_writable(final)
        os.replace(tmp_path, final)
        _fsync_dir(final.parent)
    except PhysrnnError:
        raise
    except OSError as exc:
        raise write_failure(final, exc, existed=existed) from None
    except Exception as exc:
        if _nearly_full(final.parent):
            raise write_failure(final, exc, existed=existed) from None
        raise
    finally:
        with contextlib.suppress(OSError):
            if tmp_path.exists():
                tmp_path.unlink()


def _make_below(root: Path, directory: Path) -> None:
    """Create ``directory`` and its parents below ``root`` (which must exist already)."""
    rel = Path(os.path.abspath(directory)).relative_to(root)
    current = root
    for part in rel.parts:
        current = current / part
        with contextlib.suppress(FileExistsError):
            os.mkdir(current)


def _fsync_file(path: Path) -> None:
    """Flush ``path`` to stable storage, so that a crash of the machine (not only of the
    process) after the rename cannot leave an empty or partial file under the final name."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:  # a file system without fsync: the rename is still atomic
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO):
            raise
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


#: Names of the temporary files :func:`atomic_path` creates (``.<final name>.<random>.tmp``).
TEMPORARY_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{6,}\.tmp$")


def remove_stale_temporaries(directory: str | Path) -> list[Path]:
    """Delete the temporary files that a killed writer left in ``directory``.

    :func:`atomic_path` removes its temporary file itself unless the process is killed
    (``kill -9``, out of memory, node failure) between creating and renaming it; such a file
    never carries a final name, so deleting it loses nothing. Call it only on a directory no
    other process is writing to (a run directory being resumed, under its lock).

    Returns:
        The paths removed.
    """
    directory = Path(directory)
    removed: list[Path] = []
    if not directory.is_dir():
        return removed
    for p in directory.iterdir():
        if p.is_file() and TEMPORARY_NAME.match(p.name):
            try:
                p.unlink()
                removed.append(p)
            except OSError:
                pass
    return removed
