"""Autoregressive layouts: the order in which sites are visited and who feeds whom.

A :class:`Layout` of ``N`` sites holds

* ``order``: ``order[k]`` is the (netket) site visited at autoregressive step ``k``;
* ``previous``: an ``(N, K)`` table, ``previous[k, j]`` the *step* (not the site) of the
  neighbour that feeds step ``k`` through input slot ``j``, or ``-1`` where that slot is empty.
  Every entry is an earlier step, ``previous[k, j] < k``, which is what makes a recurrent
  network on this layout autoregressive;
* ``slot_names``: what each slot means (a bond direction, whether it wraps around a periodic
  boundary).

Slots are chosen so that a slot has one meaning on every site, which lets a cell share its
weights across the lattice. For graphs with coordinates (every netket ``Lattice``), the slot
of a bond is its direction, up to sign, with the shortest periodic image used, plus whether it
crosses a periodic boundary; two earlier neighbours in the same class at one site (rare; never
for a snake order on a square lattice) take consecutive slots, the most recent first. Graphs
without coordinates (``nk.graph.Graph``) use "most recent earlier neighbour first".

The **snake (zigzag) order** visits rows of constant ``y`` from bottom to top, row 0 with
increasing ``x``, row 1 with decreasing ``x``, and so on. On an ``Lx x Ly`` square lattice each
site is then fed by its horizontal neighbour visited just before it (slot ``"dx"``) and by the
site below it (slot ``"dy"``), the scheme of Hibat-Allah et al., PRR 2, 023358 (2020); with
periodic boundaries (``L >= 3`` along that axis) the neighbours across the boundary that were
already visited feed two more slots, ``"dx wrapped"`` (the first site of the row, into the last)
and ``"dy wrapped"`` (the bottom row, into the top row).

Site numbering follows ``nk.graph.Grid([Lx, Ly])`` / ``nk.graph.Square(L)``: site
``i = x * Ly + y`` has coordinates ``(x, y) = (i // Ly, i % Ly)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Layout",
    "grid_edges",
    "grid_positions",
    "layout_from_edges",
    "layout_from_graph",
    "snake_order",
    "square_layout",
]

_DECIMALS = 6


@dataclass(frozen=True)
class Layout:
    """Autoregressive order and previous-neighbour table of ``N`` sites (see module doc).

    Attributes:
        order: ``(N,)`` int array, the site visited at each step.
        previous: ``(N, K)`` int array of earlier *steps* per input slot, ``-1`` if none.
        slot_names: ``K`` labels of the slots.
        sublattice: ``(N,)`` int array of a 2-colouring (``0``/``1``, site 0 in ``0``) in site
            order, or ``None`` if the graph is not bipartite.
    """

    order: np.ndarray
    previous: np.ndarray
    slot_names: tuple[str, ...]
    sublattice: np.ndarray | None

    @property
    def n_sites(self) -> int:
        """Number of sites ``N``."""
        return int(self.order.shape[0])

    @property
    def n_slots(self) -> int:
        """Number of input slots ``K`` (at least 1)."""
        return int(self.previous.shape[1])

    @property
    def step_of_site(self) -> np.ndarray:
        """``(N,)`` inverse of :attr:`order`: the step at which each site is visited."""
        inv = np.empty_like(self.order)
        inv[self.order] = np.arange(self.n_sites)
        return inv

    def previous_sites(self) -> list[list[int]]:
        """For each step, the *sites* of its earlier neighbours in slot order (pads dropped)."""
        return [[int(self.order[j]) for j in row if j >= 0] for row in self.previous]


def grid_positions(Lx: int, Ly: int) -> np.ndarray:
    """Coordinates ``(N, 2)`` of an ``Lx x Ly`` grid in netket's numbering ``i = x Ly + y``."""
    i = np.arange(Lx * Ly)
    return np.stack([i // Ly, i % Ly], axis=-1).astype(float)


def grid_edges(Lx: int, Ly: int, pbc: bool) -> list[tuple[int, int, bool]]:
    """Nearest-neighbour bonds ``(i, j, wrapped)`` of an ``Lx x Ly`` grid, netket numbering.

    With ``pbc`` a bond across the boundary is added along an axis of length ``>= 3`` (for
    length 2 it would duplicate the direct bond, as in netket; for length 1 it would be a loop).
    """
    edges = []
    for x in range(Lx):
        for y in range(Ly):
            i = x * Ly + y
            if x + 1 < Lx:
                edges.append((i, (x + 1) * Ly + y, False))
            elif pbc and Lx >= 3:
                edges.append((i, y, True))
            if y + 1 < Ly:
                edges.append((i, x * Ly + y + 1, False))
            elif pbc and Ly >= 3:
                edges.append((i, x * Ly, True))
    return edges


def snake_order(positions: np.ndarray) -> np.ndarray:
    """Zigzag order of sites with 1D or 2D coordinates ``(N, d)``.

    Rows are sets of equal ``y`` (rounded to 1e-6), bottom to top; even rows are visited with
    increasing ``x``, odd rows with decreasing ``x``. One-dimensional coordinates give
    increasing ``x``.
    """
    pos = np.round(np.asarray(positions, dtype=float), _DECIMALS)
    if pos.ndim != 2 or pos.shape[1] not in (1, 2):
        raise ValueError(f"snake order needs (N, 1) or (N, 2) coordinates, got {pos.shape}")
    if pos.shape[1] == 1:
        return np.argsort(pos[:, 0], kind="stable")
    order = []
    for r, y in enumerate(np.unique(pos[:, 1])):
        row = np.flatnonzero(pos[:, 1] == y)
        row = row[np.argsort(pos[row, 0], kind="stable")]
        order.extend(row if r % 2 == 0 else row[::-1])
    return np.asarray(order, dtype=np.int64)


def _two_colouring(n: int, edges: Sequence[tuple[int, int]]) -> np.ndarray | None:
    """Sublattice ``0/1`` of each site by breadth-first search; ``None`` if not bipartite."""
    adj: list[list[int]] = [[] for _ in range(n)]
    for i, j in edges:
        adj[i].append(j)
        adj[j].append(i)
    colour = np.full(n, -1, dtype=np.int64)
    for root in range(n):
        if colour[root] >= 0:
            continue
        colour[root] = 0
        queue = [root]
        while queue:
            i = queue.pop()
            for j in adj[i]:
                if colour[j] < 0:
                    colour[j] = 1 - colour[i]
                    queue.append(j)
                elif colour[j] == colour[i]:
                    return None
    return colour


def _direction_key(d: np.ndarray) -> tuple[float, ...]:
    """A bond direction up to sign, as a rounded unit vector with angle in ``[0, pi)``."""
    norm = float(np.linalg.norm(d))
    u = d / norm
    nz = np.flatnonzero(np.abs(np.round(u, _DECIMALS)) > 0)
    if u[nz[0]] < 0:
        u = -u
    return tuple(float(v) + 0.0 for v in np.round(u, _DECIMALS))


def _slot_label(key: tuple) -> str:
    direction, wrapped, rank = key
    if direction is None:
        return f"previous #{rank}"
    axes = {(1.0, 0.0): "dx", (0.0, 1.0): "dy", (1.0,): "dx"}
    name = axes.get(direction, "d(" + ", ".join(f"{v:g}" for v in direction) + ")")
    if wrapped:
        name += " wrapped"
    if rank:
        name += f" #{rank}"
    return name


def _slot_sort_key(key: tuple) -> tuple:
    direction, wrapped, rank = key
    if direction is None:
        return (wrapped, rank, 0.0)
    angle = math.atan2(direction[1], direction[0]) if len(direction) > 1 else 0.0
    return (wrapped, rank, round(angle, _DECIMALS), direction)


def layout_from_edges(
    n_sites: int,
    edges: Sequence[tuple[int, int] | tuple[int, int, bool]],
    order: Sequence[int],
    *,
    positions: np.ndarray | None = None,
    displacements: dict[tuple[int, int], np.ndarray] | None = None,
) -> Layout:
    """Build a :class:`Layout` from bonds, a visiting order and (optionally) coordinates.

    Args:
        n_sites: number of sites ``N``.
        edges: bonds ``(i, j)`` or ``(i, j, wrapped)`` in site numbering; ``wrapped`` marks a
            bond across a periodic boundary (default ``False``).
        order: a permutation of ``range(N)``, the site visited at each step.
        positions: ``(N, d)`` coordinates; with them slots are bond directions (module doc).
        displacements: optional ``{(i, j): r_j - r_i}`` overriding ``positions`` for a bond
            (the shortest periodic image, for lattices).

    Raises:
        ValueError: if ``order`` is not a permutation or a bond names an unknown site.
    """
    order = np.asarray(order, dtype=np.int64)
    if order.shape != (n_sites,) or not np.array_equal(np.sort(order), np.arange(n_sites)):
        raise ValueError(f"ordering must be a permutation of range({n_sites}), got "
                         f"{order.tolist() if order.size <= 20 else order.shape}")
    step = np.empty(n_sites, dtype=np.int64)
    step[order] = np.arange(n_sites)
    bonds: dict[tuple[int, int], bool] = {}
    for e in edges:
        i, j = int(e[0]), int(e[1])
        wrapped = bool(e[2]) if len(e) > 2 else False
        if not (0 <= i < n_sites and 0 <= j < n_sites):
            raise ValueError(f"bond ({i}, {j}) names a site outside range({n_sites})")
        if i == j:
            continue
        key = (min(i, j), max(i, j))
        bonds[key] = bonds.get(key, False) or wrapped
    earlier: list[list[tuple[tuple, int]]] = [[] for _ in range(n_sites)]
    for (i, j), wrapped in bonds.items():
        a, b = (i, j) if step[i] > step[j] else (j, i)  # a is visited after b
        if positions is not None:
            d = None if displacements is None else displacements.get((a, b))
            if d is None and displacements is not None and (b, a) in displacements:
                d = -displacements[(b, a)]
            if d is None:
                d = np.asarray(positions[b], dtype=float) - np.asarray(positions[a], dtype=float)
            cls = (_direction_key(np.atleast_1d(d)), wrapped)
        else:
            cls = (None, False)
        earlier[step[a]].append((cls, int(step[b])))
    keyed: list[list[tuple[tuple, int]]] = []
    for items in earlier:
        items.sort(key=lambda t: -t[1])  # most recent first within a class
        seen: dict[tuple, int] = {}
        row = []
        for cls, k in items:
            rank = seen.get(cls, 0)
            seen[cls] = rank + 1
            row.append(((cls[0], cls[1], rank), k))
        keyed.append(row)
    slots = sorted({key for row in keyed for key, _ in row}, key=_slot_sort_key)
    index = {key: n for n, key in enumerate(slots)}
    previous = np.full((n_sites, max(1, len(slots))), -1, dtype=np.int64)
    for k, row in enumerate(keyed):
        for key, j in row:
            previous[k, index[key]] = j
    names = tuple(_slot_label(key) for key in slots) or ("none",)
    sublattice = _two_colouring(n_sites, list(bonds))
    return Layout(order=order, previous=previous, slot_names=names, sublattice=sublattice)


def square_layout(Lx: int, Ly: int, *, boundary: str = "open") -> Layout:
    """Snake layout of an ``Lx x Ly`` square lattice in ``nk.graph.Grid([Lx, Ly])`` numbering.

    ``boundary="periodic"`` adds the bonds across the boundary (axes of length ``>= 3``).
    """
    if boundary not in ("open", "periodic"):
        raise ValueError(f"boundary must be 'open' or 'periodic', got {boundary!r}")
    pos = grid_positions(Lx, Ly)
    edges = grid_edges(Lx, Ly, boundary == "periodic")
    disp = {}
    for i, j, wrapped in edges:
        d = pos[j] - pos[i]
        if wrapped:  # shortest image: one lattice step along the wrapped axis
            d = -np.sign(d) * (np.abs(d) > 0)
        disp[(i, j)] = d
    return layout_from_edges(Lx * Ly, edges, snake_order(pos), positions=pos,
                             displacements=disp)


def _minimal_image(graph: Any, d: np.ndarray) -> tuple[np.ndarray, bool]:
    """Shortest periodic image of displacement ``d`` on a netket lattice, and if it wrapped."""
    basis = np.asarray(graph.basis_vectors, dtype=float)
    extent = np.asarray(graph.extent, dtype=float)
    pbc = np.broadcast_to(np.asarray(graph.pbc, dtype=bool), extent.shape)
    dims = basis * extent[:, None]
    frac = np.linalg.solve(dims.T, d)
    shift = np.where(pbc, np.round(frac), 0.0)
    if not np.any(shift):
        return d, False
    return d - shift @ dims, True


def layout_from_graph(graph: Any, *, ordering: str | Sequence[int] = "auto") -> Layout:
    """:class:`Layout` of any netket graph (``Graph``, ``Lattice``: ``Grid``, ``Square``, ...).

    Args:
        graph: a netket graph; ``graph.edges()`` gives the bonds, ``graph.positions`` (if
            present) the coordinates, and for lattices ``basis_vectors``/``extent``/``pbc``
            identify the bonds that cross a periodic boundary.
        ordering: ``"snake"`` (coordinates needed), ``"identity"`` (netket's numbering), a
            permutation of the sites, or ``"auto"``: snake for 1D/2D coordinates, else identity.
    """
    n = int(graph.n_nodes)
    positions = getattr(graph, "positions", None)
    if positions is not None:
        positions = np.asarray(positions, dtype=float)
    if isinstance(ordering, str):
        if ordering == "auto":
            ordering = "snake" if positions is not None and positions.shape[1] <= 2 else \
                "identity"
        if ordering == "snake":
            if positions is None:
                raise ValueError("ordering='snake' needs a graph with coordinates "
                                 "(graph.positions); pass an explicit permutation")
            order = snake_order(positions)
        elif ordering == "identity":
            order = np.arange(n)
        else:
            raise ValueError(f"unknown ordering {ordering!r}; choose 'auto', 'snake', "
                             "'identity' or a permutation of the sites")
    else:
        order = np.asarray(ordering, dtype=np.int64)
    edges: list[tuple[int, int, bool]] = []
    disp: dict[tuple[int, int], np.ndarray] = {}
    is_lattice = positions is not None and all(
        hasattr(graph, a) for a in ("basis_vectors", "extent", "pbc"))
    for e in graph.edges():
        i, j = int(e[0]), int(e[1])
        wrapped = False
        if is_lattice:
            d, wrapped = _minimal_image(graph, positions[j] - positions[i])
            disp[(i, j)] = d
        edges.append((i, j, wrapped))
    return layout_from_edges(n, edges, order, positions=positions,
                             displacements=disp if is_lattice else None)
