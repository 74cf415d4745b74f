"""Plain progress lines for batch logs, where a progress bar cannot be seen.

A tqdm bar on a terminal redraws one line; redirected to a file (a batch job's log) it is
switched off, and a long run would print nothing for an hour. :class:`Progress` writes instead,
about every ``every_s`` seconds, one self-contained line with the phase, the position ``k/N``,
the latest metrics, the elapsed time and an estimate of the time left::

    INFO physrnn.progress: train: epoch 7/20 (35%), loss 0.001234, val 0.0021, elapsed 4m12s,
        ETA 7m48s    (one line)

:func:`phase` brackets a named stage of a job with "phase X started" and "phase X finished in
T s" lines. Lines go to the ``physrnn.progress`` logger (the command line shows ``INFO`` lines
on stderr and ``--quiet`` hides them), or to a given ``stream``.

Who reports what is decided by :func:`lines_wanted`: the ``progress`` argument of the library's
loops (``None`` = a bar on a terminal only) gives plain lines exactly where the bar is off
because stderr is not a terminal. The interval is :data:`DEFAULT_EVERY_S` seconds unless the
environment variable :data:`PROGRESS_EVERY_ENV` (``PHYSRNN_PROGRESS_EVERY``, seconds) says
otherwise. The clock is injectable (``clock=``), so tests need not sleep.

Reporting reads the clock and formats numbers; it never touches a random stream or a result.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

from physrnn.errors import ConfigError

__all__ = ["Progress", "phase", "lines_wanted", "progress_interval", "format_duration",
           "PROGRESS_EVERY_ENV", "DEFAULT_EVERY_S"]

#: Environment variable with the interval (seconds, a number >= 0) between progress lines.
PROGRESS_EVERY_ENV = "PHYSRNN_PROGRESS_EVERY"
#: Interval between progress lines (seconds) when :data:`PROGRESS_EVERY_ENV` is not set.
DEFAULT_EVERY_S = 30.0

log = logging.getLogger(__name__)

Clock = Callable[[], float]


def progress_interval(every_s: float | None = None) -> float:
    """Seconds between progress lines: ``every_s`` if given, else ``$PHYSRNN_PROGRESS_EVERY``,
    else :data:`DEFAULT_EVERY_S`.

    Raises:
        ConfigError: the variable (or ``every_s``) is not a finite number >= 0.
    """
    where = "every_s"
    if every_s is None:
        text = os.environ.get(PROGRESS_EVERY_ENV, "").strip()
        if not text:
            return DEFAULT_EVERY_S
        where = f"${PROGRESS_EVERY_ENV}"
        try:
            every_s = float(text)
        except ValueError:
            raise ConfigError(f"{where} = {text!r}: expected a number of seconds") from None
    every_s = float(every_s)
    if not (math.isfinite(every_s) and every_s >= 0):
        raise ConfigError(f"{where} = {every_s!r}: expected a number of seconds >= 0")
    return every_s


def lines_wanted(progress: bool | None, stream: IO[str] | None = None) -> bool:
    """Whether plain progress lines should be written (instead of a tqdm bar).

    Args:
        progress: the ``progress`` option of a loop: ``True`` a bar, ``False`` nothing,
            ``None`` a bar on a terminal and plain lines elsewhere.
        stream: the stream a bar would draw on (default ``sys.stderr``, tqdm's).

    Returns:
        ``True`` only for ``progress=None`` when ``stream`` is not a terminal.
    """
    if progress is not None:
        return False
    stream = sys.stderr if stream is None else stream
    try:
        return not stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream: not a terminal
        return True


def format_duration(seconds: float) -> str:
    """``12.3s``, ``4m05s``, ``2h03m`` (``?`` for a NaN or infinite duration)."""
    if not math.isfinite(seconds):
        return "?"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _format_value(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}"


def _format_position(k: float) -> str:
    return str(int(k)) if float(k).is_integer() else f"{k:.2f}"


def _emit(line: str, stream: IO[str] | None, logger: logging.Logger) -> None:
    if stream is None:
        logger.info("%s", line)
    else:
        stream.write(line + "\n")
        stream.flush()


class Progress:
    """Writes ``phase: unit k/N (p%), metrics, elapsed, ETA`` about every ``every_s`` seconds.

    Args:
        total: the position at which the phase is done (``N``; ``None`` or 0 when unknown:
            no percentage and no ETA).
        phase: name of what is counted (``"train"``, ``"vmc"``, ``"forecasts"``).
        unit: what ``k`` counts (``"epoch"``, ``"step"``, ``"model"``).
        every_s: seconds between lines (default :func:`progress_interval`).
        start: the position at which counting starts (a resumed run starts at the completed
            epochs or steps); the ETA extrapolates the rate since then.
        enabled: ``False`` writes nothing (see :func:`lines_wanted`).
        stream: write lines to this stream; ``None`` (default) logs them at ``INFO`` on
            ``logger``.
        logger: default the ``physrnn.progress`` logger.
        clock: monotonic time in seconds (default :func:`time.monotonic`).
    """

    def __init__(self, total: float | None, *, phase: str, unit: str = "step",
                 every_s: float | None = None, start: float = 0, enabled: bool = True,
                 stream: IO[str] | None = None, logger: logging.Logger | None = None,
                 clock: Clock = time.monotonic) -> None:
        self.total = total
        self.phase = phase
        self.unit = unit
        self.every_s = progress_interval(every_s) if enabled else math.inf
        self.start = start
        self.enabled = enabled
        self.stream = stream
        self.logger = logger or log
        self.clock = clock
        self.t0 = clock() if enabled else 0.0
        self.last = self.t0
        self.lines = 0

    def format(self, k: float, metrics: dict[str, Any], now: float) -> str:
        """The line for position ``k`` with ``metrics`` at clock time ``now``."""
        elapsed = now - self.t0
        where = f"{self.phase}: {self.unit} {_format_position(k)}"
        eta = math.nan
        if self.total:
            where += f"/{_format_position(self.total)} ({100.0 * k / self.total:.0f}%)"
            done = k - self.start
            if done > 0:
                eta = elapsed / done * max(0.0, self.total - k)
        parts = [where] + [f"{name} {_format_value(v)}" for name, v in metrics.items()]
        parts += [f"elapsed {format_duration(elapsed)}", f"ETA {format_duration(eta)}"]
        return ", ".join(parts)

    def update(self, k: float, **metrics: Any) -> str | None:
        """Report position ``k`` (a float is fine: 2.5 = half-way through the third epoch).

        Writes a line when ``every_s`` seconds have passed since the last one (or since the
        start) and returns it; otherwise returns ``None`` and only reads the clock.
        """
        if not self.enabled:
            return None
        now = self.clock()
        if now - self.last < self.every_s:
            return None
        self.last = now
        self.lines += 1
        line = self.format(k, metrics, now)
        _emit(line, self.stream, self.logger)
        return line

    def note(self, text: str) -> str | None:
        """Write ``phase: text, elapsed T`` now, whatever the interval (for a long step about
        to start); nothing when disabled."""
        if not self.enabled:
            return None
        now = self.clock()
        self.last = now
        self.lines += 1
        line = f"{self.phase}: {text}, elapsed {format_duration(now - self.t0)}"
        _emit(line, self.stream, self.logger)
        return line


@contextlib.contextmanager
def phase(name: str, *, enabled: bool = True, stream: IO[str] | None = None,
          logger: logging.Logger | None = None, clock: Clock = time.monotonic,
          ) -> Iterator[None]:
    """Bracket a stage of a job with ``phase NAME started`` and ``phase NAME finished in T``.

    A stage that raises gets ``phase NAME failed after T`` instead, and the error propagates.
    ``enabled=False`` writes nothing. Lines go as in :class:`Progress`.
    """
    if not enabled:
        yield
        return
    logger = logger or log
    t0 = clock()
    _emit(f"phase {name} started", stream, logger)
    try:
        yield
    except BaseException:
        _emit(f"phase {name} failed after {format_duration(clock() - t0)}", stream, logger)
        raise
    _emit(f"phase {name} finished in {format_duration(clock() - t0)}", stream, logger)
