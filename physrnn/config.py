"""The generic strict config loader: frozen dataclasses from TOML, with ``--set`` overrides.

A run config is a frozen dataclass whose fields are sections (themselves frozen dataclasses:
``[system]``, ``[vmc]``, ``[data]``, ``[run]``, ...). :func:`load_config` reads a TOML file into
the dataclass it is given and rejects unknown sections and keys, wrong types and impossible
values with an error naming the file, the section and the key; numbers must be finite (no
``nan`` or ``inf``) and integers within TOML's 64-bit range (which ``tomllib`` does not
enforce). Command-line overrides use ``section.key=value`` with the value written as in TOML
(``vmc.lr=3e-3``, ``system.boundary="periodic"`` or simply ``system.boundary=periodic``).

This module knows no run kind: the run configs live beside the code they configure
(:class:`physrnn.vmc.config.VMCRunConfig`, :class:`physrnn.train.config.TrainRunConfig`), and
:mod:`physrnn.runs.registry` tells which one a file is. A section rejects a value with
:func:`require` in its ``__post_init__``; :func:`from_dict` adds the file and the section::

    from physrnn.config import load_config
    from physrnn.vmc.config import VMCRunConfig
    config = load_config("examples/heisenberg_chain.toml", cls=VMCRunConfig,
                         overrides=["vmc.lr=3e-3"])

The ``[run]`` section (:class:`RunConfig`: seed, device, checkpoints, threads) is shared by
every run kind and defined here.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from physrnn.errors import ConfigError

__all__ = [
    "FieldError",
    "require",
    "RunConfig",
    "MAX_THREADS",
    "load_config",
    "from_dict",
    "to_dict",
    "to_toml",
    "parse_override",
    "apply_overrides",
    "check_resumable",
    "RESUME_FREE",
]


class FieldError(ConfigError):
    """A value rejected by its section (raised by :func:`require`).

    :func:`from_dict` re-raises it as a :class:`ConfigError` naming the file and the dotted
    key (``<file>: key 'vmc.lr': must be > 0, got -1.0``).

    Attributes:
        key: the key within its section (``"lr"``), or ``"section.key"`` for a check that
            spans two sections.
        message: what is wrong with the value.
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"key '{key}': {message}")
        self.key = key
        self.message = message


def require(ok: bool, key: str, message: str) -> None:
    """Raise :class:`FieldError` ``(key, message)`` unless ``ok``; for ``__post_init__`` checks.

    Args:
        ok: the condition the value must meet.
        key: the key checked, as named in its section.
        message: what the value must be and what it was (``"must be >= 1, got 0"``).
    """
    if not ok:
        raise FieldError(key, message)


#: The most intra-op threads ``run.threads`` may ask for: more than any node has cores (torch
#: crashes when asked for far more).
MAX_THREADS = 1024


@dataclass(frozen=True)
class RunConfig:
    """Run settings: seed, device, checkpoints, threads.

    ``threads`` is torch's intra-op thread count (0 = torch's default, one per core). Small
    recurrent models run nearly as fast on 1 thread, and on a shared machine 1 avoids the
    10-100x slowdown of oversubscribed threads.
    """

    seed: int = 0
    device: str = "auto"
    checkpoint_every: int = 100
    threads: int = 0

    def __post_init__(self) -> None:
        require(self.seed >= 0, "seed", f"must be >= 0, got {self.seed}")
        require(self.checkpoint_every >= 1, "checkpoint_every",
                f"must be >= 1, got {self.checkpoint_every}")
        require(self.threads >= 0, "threads", f"must be >= 0 (0 = torch default), got "
                f"{self.threads}")
        require(self.threads <= MAX_THREADS, "threads",
                f"must be <= {MAX_THREADS}, got {self.threads}")
        ok = self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")
        require(ok, "device", f"must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")


# --------------------------------------------------------------------------- type checking
#: The integers TOML can hold: "arbitrary 64-bit signed integers" (tomllib accepts any size).
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _int64_culprit(value: Any, key: str) -> tuple[str, int] | None:
    """``(dotted key, integer)`` of the first integer inside ``value`` (nested lists and tables
    included) that TOML cannot hold, or ``None``."""
    if isinstance(value, dict):
        items: Any = ((f"{key}.{k}" if key else str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((f"{key}[{i}]", v) for i, v in enumerate(value))
    else:
        ok = isinstance(value, bool) or not isinstance(value, int) \
            or _INT64_MIN <= value <= _INT64_MAX
        return None if ok else (key, value)
    for k, v in items:
        found = _int64_culprit(v, k)
        if found is not None:
            return found
    return None


def _check_int64(value: Any, key: str, source: str) -> None:
    """Raise a :class:`ConfigError` naming ``source`` and the dotted key for an integer
    outside TOML's 64-bit range anywhere inside ``value``."""
    found = _int64_culprit(value, key)
    if found is not None:
        where = f"{source}: key '{found[0]}'" if found[0] else source
        raise ConfigError(f"{where}: integer {found[1]} is outside the 64-bit range of TOML "
                          "integers [-2**63, 2**63 - 1]")


def _type_name(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    return getattr(tp, "__name__", str(tp))


def _check_value(value: Any, tp: Any, where: str) -> Any:
    """Return ``value`` converted to ``tp`` or raise a :class:`ConfigError` naming ``where``."""
    origin = get_origin(tp)
    if origin is Literal:
        if value not in get_args(tp) or type(value) is bool:
            raise ConfigError(f"{where}: must be {_type_name(tp)}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        members = [a for a in get_args(tp) if a is not type(None)]
        if value is None and len(members) < len(get_args(tp)):
            return None
        if len(members) == 1:  # ``X | None``: the error of ``X`` says the most
            return _check_value(value, members[0], where)
        for arg in members:
            try:
                return _check_value(value, arg, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: wrong type {type(value).__name__} ({value!r})")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: must be a list, got {type(value).__name__} {value!r}")
        (item_tp,) = get_args(tp) or (Any,)
        if item_tp is Any:
            return list(value)
        return [_check_value(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: must be a table, got {type(value).__name__} {value!r}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: must be an integer, got {type(value).__name__} "
                              f"{value!r}")
        _check_int64(value, "", where)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: must be a number, got {type(value).__name__} {value!r}")
        _check_int64(value, "", where)
        if not math.isfinite(value):
            raise ConfigError(f"{where}: must be a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: must be a string, got {type(value).__name__} {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported field type {tp!r}")  # pragma: no cover


def from_dict(cls: type, data: dict[str, Any], *, source: str = "<dict>", prefix: str = ""):
    """Build the frozen dataclass ``cls`` from a nested dict, strictly.

    Raises:
        ConfigError: unknown key or section, wrong type, or a value its section rejects; the
            message names ``source`` and the dotted key.
    """
    if not isinstance(data, dict):
        where = prefix.rstrip(".") or "config"
        raise ConfigError(f"{source}: [{where}] must be a table, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    for key in data:
        if key not in known:
            raise ConfigError(f"{source}: unknown key '{prefix}{key}' "
                              f"(valid keys here: {', '.join(sorted(known))})")
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        tp = hints[f.name]
        dotted = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(tp):
            kwargs[f.name] = from_dict(tp, data[f.name], source=source, prefix=dotted + ".")
        else:
            kwargs[f.name] = _check_value(data[f.name], tp, f"{source}: key '{dotted}'")
    try:
        return cls(**kwargs)
    except FieldError as exc:
        raise ConfigError(f"{source}: key '{prefix}{exc.key}': {exc.message}") from None


def to_dict(config: Any) -> dict[str, Any]:
    """Nested plain dict of a config dataclass (round-trips through :func:`from_dict`)."""
    return dataclasses.asdict(config)


def _toml_scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, float):
        return repr(v) if v == v and abs(v) != float("inf") else ("nan" if v != v else
                                                                  ("inf" if v > 0 else "-inf"))
    return str(v)


def _toml_table(name: str, values: dict[str, Any], lines: list[str]) -> None:
    lines.append(f"[{name}]")
    subtables = {k: v for k, v in values.items() if isinstance(v, dict)}
    for k, v in values.items():
        if k not in subtables:  # TOML has no null: an unset optional key is a comment
            lines.append(f"# {k} is unset" if v is None else f"{k} = {_toml_value(v)}")
    lines.append("")
    for k, v in subtables.items():
        _toml_table(f"{name}.{k}", v, lines)


def _toml_value(v: Any) -> str:
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_scalar(x) for x in v) + "]"
    return _toml_scalar(v)


def to_toml(config: Any) -> str:
    """TOML text of a config dataclass (sections and sub-tables), loadable by
    :func:`load_config`."""
    lines: list[str] = []
    for section, values in to_dict(config).items():
        _toml_table(section, values, lines)
    return "\n".join(lines)


def parse_override(item: str) -> tuple[list[str], Any]:
    """Split one ``--set`` item into ``([section, key], value)``.

    The value is read as a TOML value (``3e-3``, ``true``, ``[1, 2]``, ``"text"``); a bare word
    that is not TOML is the string itself (``system.boundary=periodic``).

    Raises:
        ConfigError: no ``=``, a key that is not ``section.key``, or an integer outside TOML's
            64-bit range.
    """
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected section.key=value")
    key, raw = item.split("=", 1)
    parts = [p.strip() for p in key.strip().split(".")]
    if len(parts) != 2 or not all(parts):
        raise ConfigError(f"--set {item!r}: the key must be section.key, e.g. vmc.lr=1e-3")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # a bare word is a string: system.boundary=periodic
    _check_int64(value, ".".join(parts), f"--set {item!r}")
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of the nested ``data`` with ``section.key=value`` overrides applied."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for item in overrides:
        (section, key), value = parse_override(item)
        table = out.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"--set {item!r}: '{section}' is not a section")
        table[key] = value
    return out


def check_resumable(saved: dict[str, Any], config: Any, path: str | Path,
                    free: frozenset[tuple[str, str]] = frozenset()) -> None:
    """Raise :class:`ConfigError` unless ``config`` equals the ``saved`` (checkpointed) config.

    ``free`` lists ``(section, key)`` pairs that may differ on resume (device, threads, ...).
    A key missing from ``saved`` (a checkpoint written before the key existed) counts as its
    default value.
    """
    now = to_dict(config)
    try:
        defaults = to_dict(type(config)())
    except (TypeError, ConfigError):
        defaults = {}
    missing = object()

    def saved_value(sec: str, key: str) -> Any:
        value = saved.get(sec, {}).get(key, missing)
        return defaults.get(sec, {}).get(key) if value is missing else value

    diffs = [f"{sec}.{key}" for sec, table in now.items() for key, val in table.items()
             if (sec, key) not in free and saved_value(sec, key) != val]
    if diffs:
        raise ConfigError(f"cannot resume from {path}: the config differs in "
                          f"{', '.join(diffs)}; resume with the same config")


#: Settings that may change when a run is resumed (the reference a VMC run is compared with
#: changes nothing in the optimisation).
RESUME_FREE = frozenset({("run", "device"), ("run", "threads"), ("run", "checkpoint_every"),
                         ("reference", "kind"), ("reference", "qmc_budget_s")})


def load_config(
    path: str | Path | None = None,
    *,
    cls: type,
    overrides: list[str] | None = None,
):
    """Load a TOML config strictly, apply ``--set`` overrides, and return the frozen dataclass.

    Args:
        path: TOML file; ``None`` starts from the defaults.
        cls: the run-config dataclass (for example
            :class:`physrnn.vmc.config.VMCRunConfig`; :func:`physrnn.runs.registry.kind_of`
            tells which one a file is).
        overrides: ``["section.key=value", ...]``, applied after the file.

    Raises:
        ConfigError: unreadable file, TOML syntax error, unknown key or wrong type (named).
    """
    data: dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        source = str(path)
        p = Path(path)
        if p.is_dir():
            raise ConfigError(f"{source}: is a directory, not a config file")
        if not p.is_file():
            raise ConfigError(f"{source}: config file not found")
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{source}: not valid TOML: {exc}") from None
        _check_int64(data, "", source)
    if overrides:
        data = apply_overrides(data, overrides)
        source += " (with --set overrides)"
    return from_dict(cls, data, source=source)
