"""Lattice symmetry groups as site permutations, and their one-dimensional characters.

A group of ``G`` elements acting on ``N`` sites is an ``(G, N)`` integer array ``perms`` in
netket's convention (``PermutationGroup.to_array()``): element ``g`` maps a configuration
``s`` (netket site order) to ``(g s)[i] = s[perms[g, i]]``, i.e. ``perms[g]`` lists the
preimages ``g^{-1}(i)``. This is a left action: ``h (g s) = (h g) s`` with
``perms[h g] = perms[g][perms[h]]``.

Builders: :func:`chain_translations`, :func:`square_translations`, :func:`square_point_group`
(C4v about the centre of an ``L x L`` square, C2v of a rectangle; valid for open and periodic
boundaries), :func:`square_space_group` (translations times the point group, periodic
lattices), and :func:`from_netket` for any netket ``PermutationGroup`` (for example
``graph.translation_group()``, ``graph.point_group()``, ``graph.space_group()`` or
``graph.automorphisms()``).

Characters of one-dimensional irreducible representations: :func:`point_group_characters`
(``A1``, ``A2``, ``B1``, ``B2`` of C4v and of C2v) and
:func:`translation_characters` (momentum ``k``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from physrnn.wavefunctions.layout import grid_positions

__all__ = [
    "PermutationGroup",
    "chain_translations",
    "from_netket",
    "point_group_characters",
    "product_table",
    "square_point_group",
    "square_space_group",
    "square_translations",
    "translation_characters",
]


@dataclass(frozen=True)
class PermutationGroup:
    """Site permutations with optional geometry (see module doc for the convention).

    Attributes:
        perms: ``(G, N)`` int64, ``(g s)[i] = s[perms[g, i]]``.
        names: ``G`` labels.
        linear: ``(G, d, d)`` orthogonal matrices of the point part (``None`` if unknown).
        shifts: ``(G, d)`` translation vectors in lattice units (``None`` if unknown); the
            element maps the site at ``r`` to ``linear @ (r - c) + c + shift`` (``c`` the centre).
    """

    perms: np.ndarray
    names: tuple[str, ...]
    linear: np.ndarray | None = None
    shifts: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.perms.shape[0])

    @property
    def n_sites(self) -> int:
        """Number of sites the permutations act on."""
        return int(self.perms.shape[1])


def product_table(perms: np.ndarray) -> np.ndarray:
    """``table[h, g]`` = index of ``h g`` (``perms[g][perms[h]]``), ``(G, G)`` int64.

    Raises:
        ValueError: if the rows are not permutations, repeat, or are not closed under products.
    """
    perms = np.asarray(perms, dtype=np.int64)
    g_count, n = perms.shape
    if not np.array_equal(np.sort(perms, axis=1), np.broadcast_to(np.arange(n), perms.shape)):
        raise ValueError("every group element must be a permutation of the sites")
    lookup = {row.tobytes(): k for k, row in enumerate(perms)}
    if len(lookup) != g_count:
        raise ValueError("the group lists the same permutation twice")
    table = np.empty((g_count, g_count), dtype=np.int64)
    for h in range(g_count):
        products = perms[:, perms[h]]
        for g in range(g_count):
            k = lookup.get(products[g].tobytes())
            if k is None:
                raise ValueError("the permutations are not closed under composition: not a "
                                 "group (did you forget an element or mix lattices?)")
            table[h, g] = k
    return table


def _perms_from_maps(positions: np.ndarray, images: np.ndarray, what: str) -> np.ndarray:
    """Permutation rows from the images ``(G, N, d)`` of the site coordinates."""
    key = {tuple(np.round(p, 6)): i for i, p in enumerate(positions)}
    g_count, n = images.shape[:2]
    forward = np.empty((g_count, n), dtype=np.int64)
    for g in range(g_count):
        for i in range(n):
            j = key.get(tuple(np.round(images[g, i], 6) + 0.0))
            if j is None:
                raise ValueError(f"{what}: element {g} maps site {i} outside the lattice")
            forward[g, i] = j
    return np.argsort(forward, axis=1)  # preimages, netket's convention


def chain_translations(n_sites: int) -> PermutationGroup:
    """The ``N`` translations of a periodic chain; element ``t`` shifts spins by ``t`` sites."""
    if n_sites < 1:
        raise ValueError(f"n_sites must be >= 1, got {n_sites}")
    i = np.arange(n_sites)
    perms = np.stack([(i - t) % n_sites for t in range(n_sites)])
    shifts = np.arange(n_sites, dtype=float)[:, None]
    return PermutationGroup(perms, tuple(f"T({t})" for t in range(n_sites)),
                            linear=np.ones((n_sites, 1, 1)), shifts=shifts)


def square_translations(Lx: int, Ly: int) -> PermutationGroup:
    """The ``Lx Ly`` translations of a periodic ``Lx x Ly`` lattice (netket ``Grid`` numbering)."""
    pos = grid_positions(Lx, Ly)
    shifts = np.array([(tx, ty) for tx in range(Lx) for ty in range(Ly)], dtype=float)
    images = (pos[None] + shifts[:, None]) % np.array([Lx, Ly], dtype=float)
    perms = _perms_from_maps(pos, images, "translation")
    names = tuple(f"T({int(tx)},{int(ty)})" for tx, ty in shifts)
    return PermutationGroup(perms, names, linear=np.broadcast_to(np.eye(2), (len(names), 2, 2))
                            .copy(), shifts=shifts)


_C4V = {
    "Id": ((1, 0), (0, 1)), "Rot(180)": ((-1, 0), (0, -1)),
    "Refl(x)": ((1, 0), (0, -1)), "Refl(y)": ((-1, 0), (0, 1)),
    "Rot(90)": ((0, -1), (1, 0)), "Rot(-90)": ((0, 1), (-1, 0)),
    "Refl(diag)": ((0, 1), (1, 0)), "Refl(anti)": ((0, -1), (-1, 0)),
}


def square_point_group(Lx: int, Ly: int) -> PermutationGroup:
    """Point group about the lattice centre: C4v (8 elements) if ``Lx == Ly``, else C2v (4).

    ``Refl(x)`` keeps ``x`` and flips ``y`` (mirror line along ``x``); ``Rot(90)`` is
    counter-clockwise. Valid for open and periodic boundaries.
    """
    names = list(_C4V)[: 8 if Lx == Ly else 4]
    mats = np.array([_C4V[k] for k in names], dtype=float)
    pos = grid_positions(Lx, Ly)
    c = np.array([(Lx - 1) / 2, (Ly - 1) / 2])
    images = np.einsum("gab,nb->gna", mats, pos - c) + c
    perms = _perms_from_maps(pos, images, "point group")
    return PermutationGroup(perms, tuple(names), linear=mats, shifts=np.zeros((len(names), 2)))


def square_space_group(Lx: int, Ly: int) -> PermutationGroup:
    """Translations times the point group of a periodic ``Lx x Ly`` lattice.

    ``Lx Ly |P|`` elements, fewer when an axis has length 2 or 1 (then a reflection acts like
    a translation; repeated permutations are dropped, the first kept).
    """
    t = square_translations(Lx, Ly)
    p = square_point_group(Lx, Ly)
    perms, names, mats, shifts = [], [], [], []
    for a in range(len(t)):
        for b in range(len(p)):
            perms.append(p.perms[b][t.perms[a]])  # translate after the point operation
            names.append(f"{t.names[a]}{p.names[b]}")
            mats.append(p.linear[b])
            shifts.append(t.shifts[a])
    _, first = np.unique(np.asarray(perms), axis=0, return_index=True)
    keep = np.sort(first)
    return PermutationGroup(np.asarray(perms)[keep], tuple(names[k] for k in keep),
                            linear=np.asarray(mats)[keep], shifts=np.asarray(shifts)[keep])


def from_netket(group: Any) -> PermutationGroup:
    """Wrap a netket ``PermutationGroup`` (duplicates removed, netket's element order kept)."""
    perms = np.asarray(group.to_array(), dtype=np.int64)
    _, first = np.unique(perms, axis=0, return_index=True)
    keep = np.sort(first)
    elems = list(getattr(group, "elems", []))
    names = tuple(str(elems[k]) if k < len(elems) else f"g{k}" for k in keep)
    return PermutationGroup(perms[keep], names)


def point_group_characters(group: PermutationGroup, irrep: str) -> np.ndarray:
    """Characters ``(G,)`` of a 1D irrep of the point part of ``group`` (zero momentum).

    C4v (square lattices): ``"A1"`` trivial; ``"A2"`` ``det`` (reflections -1); ``"B1"`` +1 on
    the elements that keep the axes (identity, ``Rot(180)``, axis reflections) and -1 on
    90-degree rotations and diagonal reflections; ``"B2"`` ``det * B1``.
    C2v (rectangles, all point matrices diagonal): ``"A1"`` trivial, ``"A2"`` ``det``, ``"B1"``
    the sign that the element gives to ``x`` (``Rot(180)`` and ``Refl(y)`` -1), ``"B2"`` the
    sign it gives to ``y``.
    """
    if group.linear is None or np.asarray(group.linear).shape[1:] != (2, 2):
        raise ValueError("this group carries no 2D point-group matrices; give per-element "
                         "characters instead (e.g. from netket's character_table())")
    mats = np.asarray(group.linear)
    det = np.round(np.linalg.det(mats))
    if np.allclose(mats[:, 0, 1], 0) and np.allclose(mats[:, 1, 0], 0):  # C2v
        b1, b2 = np.round(mats[:, 0, 0]), np.round(mats[:, 1, 1])
    else:
        b1 = np.where(np.abs(mats[:, 0, 0]) > 0.5, 1.0, -1.0)
        b2 = det * b1
    table = {"A1": np.ones(len(group)), "A2": det, "B1": b1, "B2": b2}
    if irrep not in table:
        raise ValueError(f"unknown irrep {irrep!r}; choose one of {sorted(table)}")
    return table[irrep].astype(float)


def translation_characters(group: PermutationGroup, momentum: Sequence[float]) -> np.ndarray:
    """Characters ``exp(i k . t)`` ``(G,)`` complex of momentum ``k`` (radians per site).

    With ``(T_t s)(r) = s(r - t)`` a state of momentum ``k`` obeys
    ``psi(T_t s) = exp(i k . t) psi(s)``.
    """
    if group.shifts is None:
        raise ValueError("this group carries no translation vectors")
    k = np.asarray(momentum, dtype=float)
    if k.shape != group.shifts.shape[1:]:
        raise ValueError(f"momentum must have {group.shifts.shape[1]} components, got {k.shape}")
    return np.exp(1j * (group.shifts @ k))
