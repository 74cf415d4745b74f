"""Helpers shared by every script in ``benchmarks/`` (ARCHITECTURE.md, convention 11).

Each benchmark script

- builds its command line with :func:`base_parser` (``--quick``, ``--json PATH``, ``--threads``),
- calls :func:`limit_threads` *before* importing jax / netket when ``--threads`` is given,
- prints one markdown table made by :func:`markdown_table`,
- writes ``{"rows": ..., "machine": machine_info(), "settings": ...}`` with :func:`write_json`.

Nothing here imports jax or netket at module import time, so ``limit_threads`` still works.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import json
import math
import os
import platform
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "REPO_ROOT",
    "base_parser",
    "cpu_model_name",
    "format_value",
    "limit_threads",
    "machine_info",
    "markdown_table",
    "to_jsonable",
    "write_json",
]

REPO_ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------------------------
# Threads and machine description
# --------------------------------------------------------------------------------------------


def limit_threads(n: int) -> None:
    """Limit torch, BLAS/OpenMP and JAX (XLA CPU) to ``n`` threads for a fair comparison.

    Call it at the start of ``main()``, before anything imports ``jax`` or ``netket``: XLA reads
    its flags when its CPU backend is first created, so a late call cannot change JAX any more
    and raises instead of silently measuring something else.

    What it does: sets ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS``,
    calls ``torch.set_num_threads(n)`` (and ``set_num_interop_threads(1)`` where still
    allowed), and appends to ``XLA_FLAGS``: ``--xla_cpu_multi_thread_eigen=false
    intra_op_parallelism_threads=1`` for ``n == 1``; for ``n > 1`` it restricts the process's
    CPU affinity to ``n`` of the allowed cores (XLA sizes its pool from the affinity mask).

    Raises:
        ValueError: ``n < 1``, or more threads than allowed cores.
        RuntimeError: JAX has already been imported.
    """
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    if "jax" in sys.modules:
        raise RuntimeError(
            "limit_threads() must run before jax/netket is imported (XLA fixes its thread "
            "pool at start-up)"
        )
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)
    flags = os.environ.get("XLA_FLAGS", "")
    if n == 1:
        extra = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        if extra not in flags:
            os.environ["XLA_FLAGS"] = f"{flags} {extra}".strip()
    elif hasattr(os, "sched_setaffinity"):
        allowed = sorted(os.sched_getaffinity(0))
        if n > len(allowed):
            raise ValueError(f"asked for {n} threads but only {len(allowed)} cores are allowed")
        os.sched_setaffinity(0, allowed[:n])
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency of physrnn
        return
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or parallel work has started
        pass


def _version(module: str) -> str | None:
    try:
        mod = importlib.import_module(module)
    except Exception:  # any import failure just means "not available"
        return None
    return str(getattr(mod, "__version__", "unknown"))


def _git_revision(repo: Path = REPO_ROOT) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    rev = out.stdout.strip()
    return rev or None


def _git_dirty(repo: Path = REPO_ROOT) -> bool | None:
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.stdout.strip())


def cpu_model_name() -> str | None:
    """The CPU's ``model name`` from ``/proc/cpuinfo`` (Linux), or ``None``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine_info(*, import_jax: bool = True) -> dict[str, Any]:
    """Describe the machine, the software and the thread settings of this run.

    Args:
        import_jax: also import ``jax`` and ``netket`` to record their versions and JAX's
            devices. Pass False when the benchmark does not use them (importing jax starts its
            thread pool and costs a few seconds).

    Returns:
        A flat, JSON-serialisable dict: ``hostname``, ``platform``, ``machine``, ``processor``,
        ``cpu_count`` (logical CPUs), ``cpu_affinity`` (CPUs this process may use, or None),
        ``python``, versions ``physrnn`` / ``torch`` / ``numpy`` / ``scipy`` / ``netket`` /
        ``jax`` / ``jaxlib`` / ``flax`` / ``optax`` (None when not importable),
        ``torch_threads``, ``torch_interop_threads``, ``omp_num_threads``, ``xla_flags``,
        ``jax_devices``, ``jax_x64``, ``git_revision`` (``git rev-parse HEAD`` of the repository;
        None outside a checkout or before the first commit), ``git_dirty`` (tracked files
        modified), ``date_utc`` (ISO 8601).
    """
    processor = platform.processor() or cpu_model_name()
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None

    info: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": processor,
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "python": platform.python_version(),
    }
    modules = ["physrnn", "torch", "numpy", "scipy"]
    if import_jax:
        modules += ["netket", "jax", "jaxlib", "flax", "optax"]
    for module in modules:
        info[module] = _version(module)

    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["torch_interop_threads"] = torch.get_num_interop_threads()
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        info["torch_threads"] = info["torch_interop_threads"] = info["cuda"] = None
    info["omp_num_threads"] = os.environ.get("OMP_NUM_THREADS")
    info["xla_flags"] = os.environ.get("XLA_FLAGS")
    if import_jax and info.get("jax") is not None:
        import jax

        info["jax_devices"] = [str(d) for d in jax.devices()]
        info["jax_x64"] = bool(jax.config.jax_enable_x64)
    info["git_revision"] = _git_revision()  # None: not a git checkout, or no commit yet
    info["git_dirty"] = _git_dirty() if info["git_revision"] is not None else None
    info["date_utc"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    return info


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------

_SCI_HINTS = ("rel", "err", "vscore", "v_score", "variance", "var", "loss", "mse", "nrmse")
_RATIO_HINTS = ("ratio", "speedup", "x_faster", "factor")
_ENERGY_HINTS = ("energy", "e0", "exact")
_TIME_HINTS = ("_s", "time", "seconds", "per_s", "rate", "throughput")


def format_value(key: str, value: Any) -> str:
    """Format one table cell; the column key picks the style.

    - ``None``, NaN, or a missing value: ``-``.
    - keys containing ``ratio`` / ``speedup`` / ``factor``: 2 decimals (``3.47``).
    - keys containing ``rel``, ``err``, ``var``, ``vscore``, ``loss``, ``mse``: scientific with
      2 significant digits after the point (``5.20e-05``).
    - keys containing ``energy`` / ``exact`` / ``e0``: 8 significant digits
      (``-25.107797``; ``-126.96188``).
    - timings and rates (``*_s``, ``time``, ``per_s``): 3 significant digits, no exponent
      below 1e6 (``12.3``, ``0.0456``, ``8390``).
    - other floats: 6 significant digits; ints, bools and strings as they are; sequences
      joined by ``x`` (``16x2``).
    """
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()  # numpy / torch scalars
    if isinstance(value, str):
        return value.replace("|", "\\|")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, complex):
        return format_value(key, value.real) if value.imag == 0 else str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        k = key.lower()
        if any(hint in k for hint in _RATIO_HINTS):
            return f"{value:.2f}"
        if any(hint in k for hint in _SCI_HINTS):
            return f"{value:.2e}"
        if any(hint in k for hint in _ENERGY_HINTS):
            return f"{value:.8g}"
        if any(hint in k for hint in _TIME_HINTS):
            if value != 0 and abs(value) < 1e6:
                digits = max(0, 2 - math.floor(math.log10(abs(value))))
                return f"{value:.{digits}f}"
            return f"{value:.3g}"
        return f"{value:.6g}"
    if isinstance(value, Sequence):
        return "x".join(format_value(key, v) for v in value)
    return str(value)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    return hasattr(value, "item") and getattr(value, "ndim", 1) == 0


def markdown_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[tuple[str, str] | tuple[str, str, str | Callable[[Any], str]]],
) -> str:
    """Render rows as a GitHub markdown table.

    Args:
        rows: one mapping per row; a key absent from a row (or None / NaN) prints ``-``.
        columns: ``(key, header)`` pairs in display order. The key picks the number format
            (see :func:`format_value`); an optional third element overrides it: a format spec
            such as ``".3f"`` or a callable ``value -> str`` (not called for missing values).
            Numeric columns are right-aligned.

    Returns:
        The table as a string without a trailing newline.
    """
    if not columns:
        raise ValueError("markdown_table needs at least one column")

    def cell(row: Mapping[str, Any], column: tuple) -> str:
        key = column[0]
        value = row.get(key)
        if len(column) < 3 or value is None:
            return format_value(key, value)
        if isinstance(value, float) and math.isnan(value):
            return "-"
        fmt = column[2]
        return fmt(value) if callable(fmt) else format(value, fmt)

    cells = [[cell(row, column) for column in columns] for row in rows]
    headers = [column[1].replace("|", "\\|") for column in columns]
    numeric = []
    for column in columns:
        values = [row.get(column[0]) for row in rows if row.get(column[0]) is not None]
        numeric.append(bool(values) and all(_is_number(v) for v in values))
    widths = [max([len(headers[j]), 3] + [len(r[j]) for r in cells]) for j in range(len(columns))]

    def line(items: Sequence[str]) -> str:
        padded = [
            item.rjust(widths[j]) if numeric[j] else item.ljust(widths[j])
            for j, item in enumerate(items)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = [
        ("-" * (widths[j] - 1) + ":") if numeric[j] else "-" * widths[j]
        for j in range(len(columns))
    ]
    return "\n".join([line(headers), "| " + " | ".join(rule) + " |"] + [line(r) for r in cells])


# --------------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------------


def to_jsonable(obj: Any) -> Any:
    """Convert numpy / torch / jax scalars and arrays, paths, tuples, sets and dataclasses
    into plain JSON types. Non-finite floats become None (JSON has no NaN)."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, complex):
        return {"real": to_jsonable(obj.real), "imag": to_jsonable(obj.imag)}
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses

        return to_jsonable(dataclasses.asdict(obj))
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):  # torch tensor
        obj = obj.detach().cpu().numpy()
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):  # numpy / jax arrays and scalars
        return to_jsonable(obj.tolist())
    if hasattr(obj, "item"):
        return to_jsonable(obj.item())
    if hasattr(obj, "dtype") or type(obj).__module__.startswith("numpy"):
        return str(obj)  # numpy dtypes
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON: {obj!r}")


def write_json(path: str | os.PathLike, payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` as indented JSON, atomically.

    The file is written to a temporary name in the destination directory (created if needed),
    flushed and fsynced, then renamed with ``os.replace``: a crash never leaves a half-written
    file under ``path``. numpy / torch / jax scalars and arrays are converted; NaN and inf
    become ``null``.

    Returns:
        The resolved destination path.
    """
    dest = Path(path).expanduser().resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(to_jsonable(payload), indent=2, sort_keys=False, allow_nan=False) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return dest


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


#: Packages whose versions the VMC benchmarks record.
VMC_VERSION_KEYS = ("physrnn", "torch", "numpy", "netket", "jax", "jaxlib", "flax", "optax")


def print_footer(total_s: float, load_before: Any, load_after: Any, quick: bool) -> None:
    """The last lines of a benchmark's report: wall time, machine load, smoke-check warning."""
    print(f"total {total_s:.0f} s; load average before {load_before}, after {load_after}")
    if quick:
        print("(--quick: a smoke check, not a result)")


def base_parser(description: str) -> argparse.ArgumentParser:
    """The options every benchmark script shares.

    - ``--quick``: a reduced version that finishes in about a minute on 2 CPU cores (smoke
      check; its numbers are not results).
    - ``--json PATH``: also write the table's rows, the machine, the versions and the settings
      as JSON to PATH (atomically, see :func:`write_json`).
    - ``--threads N``: limit torch, BLAS and JAX to N threads (default: leave as is); the
      script must call :func:`limit_threads` before importing jax/netket.

    Scripts add their own options to the returned parser.
    """
    parser = argparse.ArgumentParser(
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="reduced run that finishes in about a minute on 2 CPU cores (smoke check)",
    )
    parser.add_argument(
        "--json",
        metavar="PATH",
        type=Path,
        default=None,
        help="write rows, machine info, versions and settings as JSON to PATH",
    )
    parser.add_argument(
        "--threads",
        metavar="N",
        type=int,
        default=None,
        help="limit torch/BLAS/JAX to N threads (default: leave the environment as is)",
    )
    return parser
