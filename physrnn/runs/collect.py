"""Gather the ``summary.json`` of many runs into one table (CSV and HDF5) for plotting.

``physrnn collect DIR... --out table.csv [--h5 table.h5]`` finds every ``summary.json`` under
the directories (recursively), and makes one row per run:

* ``run``: the run directory relative to the DIR it was found in (prefixed with that DIR's
  name when several DIRs are given), ``path``: the run directory as found;
* the config keys (``section.key``) whose values differ between the runs (the swept ones),
  read from the run's ``config.toml`` (written by ``physrnn sweep``) or its ``record.h5``;
* every scalar of ``summary.json`` (numbers, strings, booleans, ``null``); a nested table of
  scalars becomes ``parent.child`` columns; lists (e.g. the forecast ``table``) are left out.

HDF5 table schema ``physrnn-table`` version 1::

    /                 attrs: format = "physrnn-table", schema_version = 1, columns (JSON list
                             of the column names, in order), n_rows, sources (JSON list),
                             physrnn_version, git_revision, created_utc
    /columns/cNNN     one (n_rows,) dataset per column, attr ``name``; int64 (complete integer
                      columns), float64 (numbers, NaN where a run lacks the value), bool
                      (complete boolean columns) or UTF-8 strings ("" where missing)

Both files are written atomically; an existing file is replaced only with ``overwrite``.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from physrnn.errors import ConfigError, OutputExistsError, RecordError
from physrnn.runs.records import atomic_path, provenance
from physrnn.runs.registry import config_sections

__all__ = ["TABLE_FORMAT", "TABLE_SCHEMA_VERSION", "find_summaries", "collect_rows",
           "write_csv", "write_table_h5", "read_table_h5", "format_table", "HEADLINE_KEYS"]

log = logging.getLogger(__name__)

TABLE_FORMAT = "physrnn-table"
TABLE_SCHEMA_VERSION = 1

#: Summary keys shown (when present) in the short table printed by ``physrnn collect``.
HEADLINE_KEYS = ("status", "energy", "rel_error", "v_score", "median_vpt", "nrmse_1lyap",
                 "final_val_loss", "epochs", "n_steps", "train_time_s")

Scalar = int | float | str | bool | None


def find_summaries(dirs: Sequence[str | Path]) -> list[tuple[Path, Path]]:
    """``(DIR, summary path)`` for every ``summary.json`` under each DIR, sorted per DIR.

    Raises:
        ConfigError: a DIR that is not a directory, or no summary.json anywhere.
    """
    if not dirs:
        raise ConfigError("collect needs at least one directory")
    found: list[tuple[Path, Path]] = []
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            raise ConfigError(f"{d}: no such directory")
        found.extend((d, p) for p in sorted(d.rglob("summary.json")) if p.is_file())
    if not found:
        raise ConfigError(f"no summary.json under {', '.join(str(d) for d in dirs)}")
    return found


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, int | float | str | bool)


def _flatten_summary(summary: dict[str, Any]) -> dict[str, Scalar]:
    out: dict[str, Scalar] = {}
    for k, v in summary.items():
        if _is_scalar(v):
            out[k] = v
        elif isinstance(v, dict):
            out.update({f"{k}.{kk}": vv for kk, vv in v.items() if _is_scalar(vv)})
    return out


def _flatten_config(config: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for sec, table in config.items():
        if isinstance(table, dict):
            for k, v in table.items():
                out[f"{sec}.{k}"] = json.dumps(v) if isinstance(v, list | dict) else v
    return out


def _run_config(run_dir: Path, *, skip_unreadable: bool = False) -> dict[str, Any]:
    toml_path = run_dir / "config.toml"
    if toml_path.is_file():
        try:
            return _flatten_config(tomllib.loads(toml_path.read_text(encoding="utf-8")))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
            log.warning("%s: unreadable, trying record.h5", toml_path)
    if (run_dir / "record.h5").is_file():
        from physrnn.runs.records import read_record

        try:
            return _flatten_config(read_record(run_dir / "record.h5").config)
        except RecordError as exc:
            if not skip_unreadable:
                raise RecordError(f"{exc} (pass --skip-unreadable to collect the other runs)")\
                    from None
            log.warning("%s", exc)
    return {}


def collect_rows(dirs: Sequence[str | Path], *, skip_unreadable: bool = False,
                 ) -> tuple[list[dict[str, Scalar]], list[str], list[str]]:
    """One row per run under ``dirs``.

    A ``summary.json`` that is not a JSON object (corrupted, foreign, or not JSON at all), or
    the ``record.h5`` read for a run's config when it has no ``config.toml``, is an error that
    names the file; with ``skip_unreadable`` such runs are skipped with a warning instead.

    Returns:
        ``(rows, columns, skipped)``: the rows (dicts), the column order (``run``, ``path``,
        the differing config keys, then the summary keys in order of appearance) and the
        summary files that could not be read (also logged).
    """
    found = find_summaries(dirs)
    several = len({d for d, _ in found}) > 1 or len(dirs) > 1
    rows: list[dict[str, Scalar]] = []
    configs: list[dict[str, Any]] = []
    summary_keys: list[str] = []
    skipped: list[str] = []
    for d, path in found:
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(summary, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if not skip_unreadable:
                raise RecordError(f"{path}: not a readable summary ({reason}); pass "
                                  "--skip-unreadable to collect the other runs") from None
            log.warning("skipped %s: %s", path, reason)
            skipped.append(str(path))
            continue
        run_dir = path.parent
        rel = run_dir.relative_to(d).as_posix()
        name = d.resolve().name if rel == "." else rel
        if several and rel != ".":
            name = f"{d.resolve().name}/{rel}"
        flat = _flatten_summary(summary)
        for k in flat:
            if k not in summary_keys:
                summary_keys.append(k)
        rows.append({"run": name, "path": str(run_dir), **{f"\0{k}": v
                                                             for k, v in flat.items()}})
        configs.append(_run_config(run_dir, skip_unreadable=skip_unreadable))
    if not rows:
        raise ConfigError("none of the summary.json files could be read: "
                          + ", ".join(skipped))
    keys = list(dict.fromkeys(k for c in configs for k in c))
    missing = object()
    varying = [k for k in keys
               if len({json.dumps(c.get(k, missing), default=str) for c in configs}) > 1]
    columns = ["run", "path", *varying]
    taken = set(columns)
    renamed = {k: (k if k not in taken else f"summary.{k}") for k in summary_keys}
    columns += [renamed[k] for k in summary_keys]
    out_rows = []
    for row, cfg in zip(rows, configs, strict=True):
        new: dict[str, Scalar] = {"run": row["run"], "path": row["path"]}
        new.update({k: cfg.get(k) for k in varying})
        new.update({renamed[k[1:]]: v for k, v in row.items() if k.startswith("\0")})
        out_rows.append(new)
    return out_rows, columns, skipped


def _check_new(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} already exists; pass --overwrite to replace it")
    if path.exists() and path.is_dir():
        raise OutputExistsError(f"{path} is a directory; give a file name")


def _csv_cell(v: Scalar) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v) if isinstance(v, float) else str(v)


def write_csv(path: str | Path, rows: Sequence[dict[str, Scalar]], columns: Sequence[str], *,
              overwrite: bool = False) -> Path:
    """Write the table as CSV (header line, empty cell for a missing value), atomically."""
    path = Path(path)
    _check_new(path, overwrite)
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(columns)
            for row in rows:
                w.writerow([_csv_cell(row.get(c)) for c in columns])
    return path


def _column_array(values: list[Scalar]) -> np.ndarray:
    present = [v for v in values if v is not None]
    complete = len(present) == len(values)
    if present and all(isinstance(v, bool) for v in present) and complete:
        return np.asarray(values, dtype=bool)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present) and complete \
            and present:
        return np.asarray(values, dtype=np.int64)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return np.asarray([math.nan if v is None else float(v) for v in values],
                          dtype=np.float64)
    return np.asarray(["" if v is None else str(v) for v in values], dtype=object)


def write_table_h5(path: str | Path, rows: Sequence[dict[str, Scalar]],
                   columns: Sequence[str], *, sources: Sequence[str] = (),
                   overwrite: bool = False) -> Path:
    """Write the table as HDF5 (schema in the module docstring), atomically."""
    path = Path(path)
    _check_new(path, overwrite)
    prov = provenance()
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = TABLE_FORMAT
            f.attrs["schema_version"] = TABLE_SCHEMA_VERSION
            f.attrs["columns"] = json.dumps(list(columns))
            f.attrs["n_rows"] = len(rows)
            f.attrs["sources"] = json.dumps([str(s) for s in sources])
            for k in ("physrnn_version", "git_revision", "created_utc"):
                f.attrs[k] = prov[k]
            g = f.create_group("columns")
            for i, col in enumerate(columns):
                arr = _column_array([row.get(col) for row in rows])
                if arr.dtype == object:
                    ds = g.create_dataset(f"c{i:03d}", data=arr.astype(str).tolist(),
                                          dtype=h5py.string_dtype("utf-8"))
                else:
                    ds = g.create_dataset(f"c{i:03d}", data=arr)
                ds.attrs["name"] = col
    return path


def read_table_h5(path: str | Path) -> dict[str, np.ndarray]:
    """Read a table written by :func:`write_table_h5` as ``{column: (n_rows,) array}``
    (in column order; strings as Python ``str`` objects).

    Raises:
        RecordError: missing, damaged or foreign file, or another schema version.
    """
    path = Path(path)
    if not path.is_file():
        raise RecordError(f"{path}: table file not found")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise RecordError(f"{path}: not a readable HDF5 file (corrupted or truncated?): "
                          f"{exc}") from None
    with f:
        fmt = f.attrs.get("format")
        fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
        if fmt != TABLE_FORMAT:
            raise RecordError(f"{path}: not a physrnn table (format {fmt!r})")
        version = int(f.attrs.get("schema_version", -1))
        if version != TABLE_SCHEMA_VERSION:
            raise RecordError(f"{path}: table schema version {version}; this physrnn reads "
                              f"version {TABLE_SCHEMA_VERSION}")
        columns = json.loads(f.attrs["columns"])
        out: dict[str, np.ndarray] = {}
        for i, col in enumerate(columns):
            ds = f["columns"][f"c{i:03d}"]
            if h5py.check_string_dtype(ds.dtype) is not None:
                out[col] = np.asarray(ds.asstr()[()], dtype=object)
            else:
                out[col] = np.asarray(ds[()])
    return out


def _cell(v: Scalar) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{v:.6g}"
    return str(v)


def format_table(rows: Sequence[dict[str, Scalar]], columns: Sequence[str], *,
                 max_columns: int = 9, max_rows: int = 50) -> str:
    """A short markdown table: run, the differing config keys, and the headline numbers."""
    config_cols = [c for c in columns if "." in c and c not in ("run", "path")
                   and not c.startswith("summary.")
                   and any(c.startswith(s + ".") for s in _CONFIG_SECTIONS)]
    head = [c for c in HEADLINE_KEYS if c in columns]
    shown = (["run"] + config_cols + head)[:max_columns]
    cells = [[_cell(r.get(c)) for c in shown] for r in rows[:max_rows]]
    widths = [max([len(c)] + [len(row[j]) for row in cells]) for j, c in enumerate(shown)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(shown, widths, strict=True)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) + " |"
              for row in cells]
    if len(rows) > max_rows:
        lines.append(f"... {len(rows) - max_rows} more rows")
    return "\n".join(lines)


#: The config sections of every run kind (their keys are the config columns of the table).
_CONFIG_SECTIONS = tuple(config_sections())
