"""The grid of a parameter sweep: ``--grid section.key=v1,v2,...`` items, their cartesian
product, and the run directory names built from the values.

Values are written as in ``--set`` (TOML, or a bare word for a string); a comma inside
``[...]``, ``{...}`` or quotes does not split. Run names are ``<key>-<value>`` pairs joined by
``_`` (``lr-0.001_seed-0``; the key's last part, or the full ``section.key`` where two keys
share it), with characters other than letters, digits and ``.+-`` replaced by ``_``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Sequence

from physrnn.errors import ConfigError

__all__ = ["split_values", "parse_grid", "expand_grid", "run_names", "sanitise_name"]


def split_values(text: str) -> list[str]:
    """Split ``v1,v2,...`` at the commas that are not inside ``[]``, ``{}`` or quotes."""
    parts, cur, depth, quote = [], [], 0, ""
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        if ch == "," and depth == 0 and not quote:
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if quote or depth != 0:
        raise ConfigError(f"--grid value list {text!r}: unbalanced quotes or brackets")
    parts.append("".join(cur).strip())
    return parts


def parse_grid(items: Sequence[str]) -> dict[str, list[str]]:
    """``["vmc.lr=1e-3,3e-3", ...]`` -> ``{"vmc.lr": ["1e-3", "3e-3"], ...}`` (order kept).

    Values are written as in ``--set`` (TOML, or a bare word for a string).

    Raises:
        ConfigError: no ``=``, a key that is not ``section.key``, an empty value, a key given
            twice, or a value repeated within a key.
    """
    if not items:
        raise ConfigError("a sweep needs at least one --grid section.key=v1,v2,...")
    grid: dict[str, list[str]] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--grid {item!r}: expected section.key=v1,v2,...")
        key, raw = item.split("=", 1)
        key = key.strip()
        parts = key.split(".")
        if len(parts) != 2 or not all(p.strip() for p in parts):
            raise ConfigError(f"--grid {item!r}: the key must be section.key, e.g. "
                              "vmc.lr=1e-3,3e-3")
        if key in grid:
            raise ConfigError(f"--grid {key} is given twice; list all its values once")
        values = split_values(raw)
        if not raw.strip() or any(v == "" for v in values):
            raise ConfigError(f"--grid {item!r}: empty value (write the values as v1,v2,...)")
        if len(set(values)) != len(values):
            raise ConfigError(f"--grid {item!r}: a value is repeated")
        grid[key] = values
    return grid


def expand_grid(grid: dict[str, list[str]]) -> list[dict[str, str]]:
    """Cartesian product of the grid, the first key varying slowest."""
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(grid[k] for k in keys))]


def sanitise_name(text: str) -> str:
    """``text`` as a file name: quotes stripped, runs of characters other than letters, digits
    and ``.+-`` replaced by one ``_`` (``"_"`` if nothing is left)."""
    text = text.strip().strip("\"'")
    text = re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_.")
    return text or "_"


def run_names(combos: Sequence[dict[str, str]]) -> list[str]:
    """Directory names of the runs: ``<key>-<value>`` pairs joined by ``_``, unique."""
    if not combos:
        return []
    keys = list(combos[0])
    short = {k: k.split(".")[-1] for k in keys}
    clash = {s for s in short.values() if list(short.values()).count(s) > 1}
    label = {k: (k if short[k] in clash else short[k]) for k in keys}
    names: list[str] = []
    for combo in combos:
        name = "_".join(f"{sanitise_name(label[k])}-{sanitise_name(v)}" for k, v in combo.items())
        if len(name) > 80:
            digest = hashlib.sha1(json.dumps(combo, sort_keys=True).encode()).hexdigest()[:8]
            name = f"{name[:60].rstrip('_-.')}-{digest}"
        names.append(name)
    seen: dict[str, int] = {}
    unique = []
    for i, name in enumerate(names):
        if names.count(name) > 1:  # values that differ only in characters we replaced
            seen[name] = seen.get(name, 0) + 1
            name = f"{name}-{i:03d}"
        unique.append(name)
    return unique
