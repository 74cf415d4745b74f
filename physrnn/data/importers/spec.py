"""The import spec: how a recorded series is read, named and split (a small strict TOML).

Every option of ``physrnn data import`` is a key of this spec; the command-line flags
override the keys of a ``--spec`` file, which override the defaults. A spec file::

    [source]
    key = "x"              # array name in a .npz, dataset path in an HDF5 file
    time_key = "t"         # time array name (.npz) or dataset path (HDF5)
    # time_column = "time" # CSV column (name or index), or column index of an array
    # layout = "state,time"  # the array's axes, if not (traj,) time, state

    [time]
    # dt = 0.01            # sampling interval when there is no time array
    unit = "s"

    [states]
    names = ["x", "v"]
    units = ["m", "m/s"]

    [meta]
    name = "pendulum-run-7"
    description = "lab pendulum, optical encoder"

    [splits]
    mode = "auto"          # auto | trajectory | time
    segments = 10

Unknown keys and wrong types are errors naming the file and the key
(:func:`physrnn.config.load_config`). The resolved spec is stored, as TOML, in the dataset's
``recipe`` attribute.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from physrnn.config import ConfigError, from_dict, load_config, require, to_dict

__all__ = ["SourceSpec", "TimeSpec", "StatesSpec", "MetaSpec", "SplitSpec", "ImportSpec",
           "AXES", "OPTION_KEYS", "load_import_spec", "resolve_import_spec",
           "replace_section"]

#: Names of the axes a ``layout`` may list (in the order of the written ``/y``).
AXES = ("traj", "time", "state")

@dataclass(frozen=True)
class SourceSpec:
    """``[source]``: which arrays of the file hold the states and the times, in which axes.

    ``layout`` lists the array's axes, comma-separated, from ``traj``, ``time``, ``state``
    (``time`` required); the default is ``time`` for rank 1, ``time,state`` for rank 2 and
    ``traj,time,state`` for rank 3. ``time_column`` names a CSV column (or gives its index),
    or the index of a state column of an array that holds the times.
    """

    format: Literal["auto", "npy", "npz", "csv", "hdf5"] = "auto"
    key: str | None = None
    time_key: str | None = None
    time_column: str | int | None = None
    layout: str | None = None
    delimiter: str = ","

    def __post_init__(self) -> None:
        require(self.delimiter != "", "delimiter",
                "must be a character such as ',' or ';' (or 'whitespace')")
        if self.layout is not None:
            axes = [a.strip() for a in self.layout.split(",")]
            require(all(a in AXES for a in axes), "layout",
                    f"axes must be from {', '.join(AXES)}, got {self.layout!r}")
            require(len(set(axes)) == len(axes), "layout", f"repeats an axis: {self.layout!r}")
            require("time" in axes, "layout", f"must contain 'time', got {self.layout!r}")
        require(not (self.time_key is not None and self.time_column is not None), "time_key",
                "give the times by time_key or by time_column, not both")


@dataclass(frozen=True)
class TimeSpec:
    """``[time]``: the sampling, when the file has no times, and the unit.

    ``rtol`` is the relative tolerance on each spacing of a time array against the median
    spacing: a series outside it is refused (physrnn needs a uniform grid).
    """

    dt: float | None = None
    t0: float = 0.0
    unit: str = "1"
    rtol: float = 1e-3

    def __post_init__(self) -> None:
        require(self.dt is None or self.dt > 0, "dt", f"must be > 0, got {self.dt}")
        require(0 < self.rtol < 0.5, "rtol", f"must be in (0, 0.5), got {self.rtol}")
        require(bool(self.unit), "unit", "must be a non-empty unit such as 's' (or '1')")


@dataclass(frozen=True)
class StatesSpec:
    """``[states]``: a name and a unit per state component (default ``y0, y1, ...``, ``"1"``;
    a CSV header gives the names)."""

    names: list[str] | None = None
    units: list[str] | None = None

    def __post_init__(self) -> None:
        for key, v in (("names", self.names), ("units", self.units)):
            require(v is None or (len(v) >= 1 and all(s.strip() for s in v)), key,
                    f"must be non-empty strings, got {v!r}")
        require(self.names is None or len(set(self.names)) == len(self.names), "names",
                f"repeats a name: {self.names!r}")


@dataclass(frozen=True)
class MetaSpec:
    """``[meta]``: what the data is (stored in the dataset's attributes).

    ``name`` defaults to the source file's stem. ``system`` is the schema's system name
    (``"imported"`` unless the data comes from a registered system of the same parameters).
    ``lyapunov_exponent`` (1 / time unit) lets ``physrnn train`` score in Lyapunov times.
    """

    name: str = ""
    system: str = "imported"
    description: str = ""
    lyapunov_exponent: float | None = None
    time_scale: float | None = None
    time_scale_name: str = ""
    reference: str = ""

    def __post_init__(self) -> None:
        require(bool(self.system.strip()), "system", "must be a non-empty name")
        require(self.lyapunov_exponent is None or self.lyapunov_exponent > 0,
                "lyapunov_exponent", f"must be > 0 (or unset), got {self.lyapunov_exponent}")
        require(self.time_scale is None or self.time_scale > 0, "time_scale",
                f"must be > 0 (or unset), got {self.time_scale}")


@dataclass(frozen=True)
class SplitSpec:
    """``[splits]``: train / val / test.

    ``mode = "trajectory"`` assigns whole trajectories (drawn with ``seed``); ``"time"`` cuts
    every trajectory into ``segments`` contiguous pieces of equal length (the last
    ``n_t mod segments`` steps are dropped) and gives each split consecutive pieces in time
    order: train first, then val, then test. ``"auto"`` splits by trajectory when there are
    enough trajectories for every split with a positive fraction, else in time.
    """

    mode: Literal["auto", "trajectory", "time"] = "auto"
    segments: int = 10
    train: float = 0.8
    val: float = 0.1
    test: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        fr = (self.train, self.val, self.test)
        require(all(f >= 0 for f in fr), "train", f"split fractions must be >= 0, got {fr}")
        require(abs(sum(fr) - 1.0) < 1e-9, "train", f"split fractions must sum to 1, got {fr}")
        require(self.train > 0, "train", f"must be > 0 (the normalisation is computed on the "
                f"train split), got {self.train}")
        require(self.segments >= 1, "segments", f"must be >= 1, got {self.segments}")
        require(self.seed >= 0, "seed", f"must be >= 0, got {self.seed}")


@dataclass(frozen=True)
class ImportSpec:
    """A complete import spec (see the module docstring)."""

    source: SourceSpec = field(default_factory=SourceSpec)
    time: TimeSpec = field(default_factory=TimeSpec)
    states: StatesSpec = field(default_factory=StatesSpec)
    meta: MetaSpec = field(default_factory=MetaSpec)
    splits: SplitSpec = field(default_factory=SplitSpec)


#: Keyword option of :func:`resolve_import_spec` -> ``(section, key)`` of the spec.
OPTION_KEYS: dict[str, tuple[str, str]] = {
    "format": ("source", "format"), "key": ("source", "key"),
    "time_key": ("source", "time_key"), "time_column": ("source", "time_column"),
    "layout": ("source", "layout"), "delimiter": ("source", "delimiter"),
    "dt": ("time", "dt"), "t0": ("time", "t0"), "time_unit": ("time", "unit"),
    "time_rtol": ("time", "rtol"), "names": ("states", "names"), "units": ("states", "units"),
    "name": ("meta", "name"), "system": ("meta", "system"),
    "description": ("meta", "description"), "lyapunov_exponent": ("meta", "lyapunov_exponent"),
    "split": ("splits", "mode"), "segments": ("splits", "segments"),
    "seed": ("splits", "seed"),
}


def load_import_spec(path: str | Path | None) -> ImportSpec:
    """Read an import spec TOML strictly (``None``: the defaults).

    Raises:
        ConfigError: missing file, bad TOML, unknown key or wrong type (named with the file).
    """
    return load_config(path, cls=ImportSpec)


def resolve_import_spec(spec: ImportSpec | str | Path | None = None, *,
                        fractions: tuple[float, float, float] | None = None,
                        **options: Any) -> ImportSpec:
    """The spec with keyword options applied over it (``None`` options are left out).

    Args:
        spec: a spec, a spec TOML file, or ``None`` for the defaults.
        fractions: ``(train, val, test)`` split fractions.
        **options: any key of :data:`OPTION_KEYS` (``dt=0.01``, ``names=["x", "v"]``, ...).

    Raises:
        ConfigError: an unknown option, a wrong type or an impossible value (named).
    """
    if not isinstance(spec, ImportSpec):
        spec = load_import_spec(spec)
    data = to_dict(spec)
    for name, value in options.items():
        if name not in OPTION_KEYS:
            raise ConfigError(f"unknown import option {name!r} (valid: "
                              f"{', '.join(sorted(OPTION_KEYS))}, fractions)")
        if value is None:
            continue
        section, key = OPTION_KEYS[name]
        if isinstance(value, tuple):
            value = list(value)
        data[section][key] = value
    if fractions is not None:
        if len(fractions) != 3:
            raise ConfigError(f"fractions must be three numbers (train, val, test), got "
                              f"{fractions!r}")
        data["splits"].update(zip(("train", "val", "test"), fractions, strict=True))
    return from_dict(ImportSpec, data, source="import options")


def replace_section(spec: ImportSpec, section: str, **values: Any) -> ImportSpec:
    """A copy of ``spec`` with keys of one section replaced (for the resolved spec)."""
    current: Mapping[str, Any] = {section: dataclasses.replace(getattr(spec, section),
                                                               **values)}
    return dataclasses.replace(spec, **current)
