"""Splitting ``n`` items (samples, windows) into contiguous parts of nearly equal size."""

from __future__ import annotations

__all__ = ["split_bounds", "split_sizes"]


def split_sizes(n: int, parts: int) -> list[int]:
    """``n`` split into ``parts`` counts differing by at most one (the longer ones first).

    The first ``n % parts`` parts get ``n // parts + 1`` items, the others ``n // parts`` (zero
    when ``n < parts``); e.g. ``split_sizes(10, 4) == [3, 3, 2, 2]``.

    Raises:
        ValueError: ``parts < 1`` or ``n < 0``.
    """
    if parts < 1 or n < 0:
        raise ValueError(f"cannot split {n} into {parts} parts")
    base, extra = divmod(int(n), int(parts))
    return [base + (1 if i < extra else 0) for i in range(parts)]


def split_bounds(n: int, part: int, parts: int) -> tuple[int, int]:
    """``[lo, hi)`` of part ``part`` (0-based) of the split :func:`split_sizes` ``(n, parts)``.

    Raises:
        ValueError: ``parts < 1``, ``n < 0`` or ``part`` outside ``[0, parts)``.
    """
    if not 0 <= part < parts:
        raise ValueError(f"part {part} is not in [0, {parts})")
    sizes = split_sizes(n, parts)
    lo = sum(sizes[:part])
    return lo, lo + sizes[part]
