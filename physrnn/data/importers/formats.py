"""Read the arrays of a recorded series from ``.npy``, ``.npz``, CSV or a foreign HDF5 file.

:func:`read_raw` returns the numbers as they are in the file (a :class:`RawSeries`: the state
array in its own axes, a separate time array if the spec names one, the CSV header); arranging
the axes, the times and the checks are :mod:`physrnn.data.importers.series`' job. Reading never
runs code: NumPy files are opened with ``allow_pickle=False`` (an object array is refused),
CSV cells must be numbers, HDF5 datasets must be numeric.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from physrnn.data.hdf5 import DATASET_FORMAT
from physrnn.data.hdf5.schema import walk_datasets
from physrnn.data.importers.spec import SourceSpec
from physrnn.errors import ConfigError, RecordError, UnsafeFileError

__all__ = ["FORMATS", "RawSeries", "detect_format", "read_raw"]

#: Format read for each file suffix (``[source] format`` overrides it).
FORMATS = {".npy": "npy", ".npz": "npz", ".csv": "csv", ".tsv": "csv", ".h5": "hdf5",
           ".hdf5": "hdf5", ".hdf": "hdf5"}


@dataclass(frozen=True, eq=False)
class RawSeries:
    """The numbers of a source file, before arranging.

    Attributes:
        values: the state array in the file's own axes (numeric, any rank; CSV: ``(n_rows,
            n_columns)`` with the time column still in it).
        times: a separate time array (``time_key``), or ``None``.
        columns: the CSV header (one name per column), or ``None``.
        format: ``"npy"``, ``"npz"``, ``"csv"`` or ``"hdf5"``.
        key: the array's name or dataset path (``""`` for ``.npy`` and CSV).
        time_key: the time array's name or path (``""`` if none).
        lines: CSV only: the file line number of each row (1-based), for messages.
    """

    values: np.ndarray
    times: np.ndarray | None
    columns: list[str] | None
    format: str
    key: str
    time_key: str
    lines: np.ndarray | None = None


def detect_format(path: Path, fmt: str = "auto") -> str:
    """The format of ``path``: ``fmt`` unless ``"auto"``, else from the suffix.

    Raises:
        ConfigError: an unknown suffix (lists the known ones).
    """
    if fmt != "auto":
        return fmt
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"{path}: unknown file type {suffix or '(no suffix)'!r}; physrnn data "
                          f"import reads {', '.join(FORMATS)} (or say which with --format "
                          "npy|npz|csv|hdf5)")
    return FORMATS[suffix]


def _numeric(arr: np.ndarray, what: str) -> np.ndarray:
    if arr.dtype == object:
        raise UnsafeFileError(f"{what} is an array of Python objects (a pickle); physrnn "
                              "reads only plain numeric arrays: save it with a float dtype")
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
        raise RecordError(f"{what} has dtype {arr.dtype}; physrnn imports real numbers only")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise RecordError(f"{what} is complex ({arr.dtype}); store the real and imaginary "
                          "parts as separate state components")
    return arr


def _pickle_refused(path: Path, exc: Exception) -> UnsafeFileError:
    return UnsafeFileError(f"{path}: holds pickled Python objects ({exc}); physrnn never "
                           "unpickles a data file (it could run code): save the arrays with a "
                           "numeric dtype (numpy.save / numpy.savez with float arrays)")


def _read_npy(path: Path, src: SourceSpec) -> RawSeries:
    for opt in ("key", "time_key"):
        if getattr(src, opt) is not None:
            raise ConfigError(f"{path}: a .npy file holds one array, so {opt} does not apply; "
                              "give the times with time_column (a column index) or dt")
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):
            raise _pickle_refused(path, exc) from None
        raise RecordError(f"{path}: not a readable .npy file: {exc}") from None
    except (OSError, EOFError) as exc:
        raise RecordError(f"{path}: not a readable .npy file: {exc}") from None
    if not isinstance(arr, np.ndarray):
        raise RecordError(f"{path}: not a .npy array file (an .npz archive? name it .npz)")
    return RawSeries(_numeric(arr, str(path)), None, None, "npy", "", "")


def _pick_key(path: Path, keys: list[str], key: str | None, time_key: str | None,
              what: str) -> str:
    shown = ", ".join(repr(k) for k in keys) or "none"
    for k, opt in ((key, "key"), (time_key, "time_key")):
        if k is not None and k not in keys:
            raise ConfigError(f"{path}: no {what} {k!r} ({opt}); the file holds: {shown}")
    if key is not None:
        return key
    rest = [k for k in keys if k != time_key]
    if len(rest) != 1:
        raise ConfigError(f"{path}: holds {len(rest)} {what}s besides the times ({shown}); say "
                          "which holds the states with --key")
    return rest[0]


def _read_npz(path: Path, src: SourceSpec) -> RawSeries:
    try:
        z = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):
            raise _pickle_refused(path, exc) from None
        raise RecordError(f"{path}: not a readable .npz file: {exc}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise RecordError(f"{path}: not a readable .npz file: {exc}") from None
    if isinstance(z, np.ndarray):
        raise RecordError(f"{path}: a .npy array file, not an .npz archive; name it .npy")
    with z:
        key = _pick_key(path, list(z.files), src.key, src.time_key, "array")
        try:
            arr = z[key]
            times = None if src.time_key is None else z[src.time_key]
        except ValueError as exc:
            if "pickle" in str(exc):
                raise _pickle_refused(path, exc) from None
            raise RecordError(f"{path}: array {key!r} is unreadable: {exc}") from None
        except (OSError, EOFError, zipfile.BadZipFile) as exc:
            raise RecordError(f"{path}: the archive is damaged: {exc}") from None
    times = None if times is None else _numeric(times, f"{path}: time array {src.time_key!r}")
    return RawSeries(_numeric(arr, f"{path}: array {key!r}"), times, None, "npz", key,
                     src.time_key or "")


def _strip(key: str | None) -> str | None:
    """An HDF5 dataset path without leading or trailing ``/`` (``None`` stays ``None``)."""
    return None if key is None else key.strip("/")


def _read_hdf5(path: Path, src: SourceSpec) -> RawSeries:
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise RecordError(f"{path}: not a readable HDF5 file: {exc}") from None
    with f:
        if f.attrs.get("format") in (DATASET_FORMAT, DATASET_FORMAT.encode()):
            raise ConfigError(f"{path}: is already a {DATASET_FORMAT} file; use it directly "
                              f"(physrnn data info {path}), no import needed")
        keys = sorted(walk_datasets(f))
        key = _pick_key(path, keys, _strip(src.key), _strip(src.time_key), "dataset")
        for k in (key, _strip(src.time_key)):
            if k is not None and f[k].dtype.kind not in "iuf":
                raise RecordError(f"{path}: dataset {k!r} has dtype {f[k].dtype}; physrnn "
                                  "imports real numbers only")
        try:
            arr = _numeric(np.asarray(f[key][()]), f"{path}: dataset {key!r}")
            times = None if src.time_key is None else _numeric(
                np.asarray(f[_strip(src.time_key)][()]), f"{path}: dataset {src.time_key!r}")
        except (OSError, RuntimeError, KeyError) as exc:
            raise RecordError(f"{path}: dataset {key!r} is unreadable (damaged file?): "
                              f"{exc}") from None
    return RawSeries(arr, times, None, "hdf5", key, _strip(src.time_key) or "")


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _read_csv(path: Path, src: SourceSpec) -> RawSeries:
    for opt in ("key", "time_key"):
        if getattr(src, opt) is not None:
            raise ConfigError(f"{path}: {opt} does not apply to a CSV file; give the time "
                              "column with --time-column (name or index) or --dt")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RecordError(f"{path}: not a UTF-8 text file ({exc})") from None
    delim = "\t" if src.delimiter == "," and path.suffix.lower() == ".tsv" else src.delimiter
    rows: list[tuple[int, list[str]]] = []
    lines = text.splitlines()
    if delim == "whitespace":
        parsed = (ln.split() for ln in lines)
    else:
        parsed = csv.reader(io.StringIO("\n".join(lines)), delimiter=delim)
    for n, cells in enumerate(parsed, start=1):
        cells = [c.strip() for c in cells]
        if not cells or cells == [""] or cells[0].startswith("#"):
            continue
        rows.append((n, cells))
    if not rows:
        raise RecordError(f"{path}: no data rows (empty file)")
    header: list[str] | None = None
    if not all(_is_number(c) for c in rows[0][1]):  # a header row of names
        header = rows.pop(0)[1]
        if any(not c for c in header):
            raise RecordError(f"{path}: line {rows and rows[0][0] - 1 or 1}: the header has an "
                              f"empty column name: {header}")
        if len(set(header)) != len(header):
            raise RecordError(f"{path}: the header repeats a column name: {header}")
    if not rows:
        raise RecordError(f"{path}: a header but no data rows")
    width = len(header) if header is not None else len(rows[0][1])
    values = np.empty((len(rows), width), dtype=np.float64)
    for r, (n, cells) in enumerate(rows):
        if len(cells) != width:
            raise RecordError(f"{path}: line {n} has {len(cells)} cells, expected {width} "
                              f"(delimiter {delim!r})")
        for c, cell in enumerate(cells):
            try:
                values[r, c] = float(cell)
            except ValueError:
                col = repr(header[c]) if header is not None else str(c)
                what = "an empty cell" if not cell else f"{cell!r} is not a number"
                raise RecordError(f"{path}: line {n}, column {col}: {what} (every cell below "
                                  "the header must be a number)") from None
    line_no = np.array([n for n, _ in rows], dtype=np.int64)
    return RawSeries(values, None, header, "csv", "", "", lines=line_no)


def read_raw(path: str | Path, src: SourceSpec) -> RawSeries:
    """Read the state array (and a time array, if named) of a source file.

    Args:
        path: ``.npy``, ``.npz``, ``.csv`` / ``.tsv`` or ``.h5`` / ``.hdf5`` file.
        src: the ``[source]`` section of the spec (format, key, time_key, delimiter).

    Raises:
        ConfigError: missing file, unknown suffix, a wrong key (lists the available ones).
        UnsafeFileError: a pickle-only ``.npy`` / ``.npz`` (refused, never unpickled).
        RecordError: an unreadable file, non-numeric data, a CSV cell that is not a number.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: file not found")
    if not path.is_file():
        raise ConfigError(f"{path}: not a regular file")
    fmt = detect_format(path, src.format)
    reader = {"npy": _read_npy, "npz": _read_npz, "csv": _read_csv, "hdf5": _read_hdf5}[fmt]
    return reader(path, src)
