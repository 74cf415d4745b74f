"""Symmetrised autoregressive wavefunctions that keep exact sampling.

Given a model ``psi`` (probabilities ``p = |psi|^2``) and a group ``G`` of site permutations,
optionally times the spin flip ``Z2`` (element ``g = (P, f)``:
``(g s)[i] = s[P[i]]`` followed by flipping every spin if ``f = 1``), with a one-dimensional
character ``chi``, :class:`SymmetrisedWavefunction` is

    p_sym(s)   = (1/|G|) sum_g p(g s),
    A(s)       = sum_g conj(chi(g)) psi(g s),
    psi_sym(s) = sqrt(p_sym(s)) * exp(i arg A(s))          (0 if s is "forbidden", below).

**Why this definition.** ``|psi_sym|^2 = p_sym`` is a mixture of the model's distribution over
the group, so it is sampled exactly: draw ``s0 ~ p`` and a uniformly random ``g``, return
``g s0``; then ``P(s) = (1/|G|) sum_g p(g^-1 s) = p_sym(s)`` because ``g -> g^-1`` is a
bijection of the group. The amplitude is invariant, ``p_sym(h s) = p_sym(s)``, and the phase
transforms as ``A(h s) = chi(h) A(s)`` (substitute ``g -> g h^-1``), so

    psi_sym(h s) = chi(h) psi_sym(s)    for every h in G

(exactly, with the left action of :mod:`physrnn.wavefunctions.groups`). For a positive model and
the trivial character ``A > 0``: ``psi_sym = sqrt(p_sym)`` is real and positive, the
symmetrisation of positive RNN states in Hibat-Allah et al., arXiv 2207.14314. Averaging
probabilities (not amplitudes) is what keeps ``sum_s |psi_sym(s)|^2 = 1`` exact.

**Forbidden configurations.** If some ``h`` with ``chi(h) != 1`` leaves ``s`` unchanged
(``h s = s``), a state in the irrep must vanish at ``s`` (``psi(s) = chi(h) psi(s)``), and
``A(s) = 0``. Such ``s`` get ``psi_sym(s) = 0`` (``log_psi = -inf``) and are rejected after
sampling, which keeps the samples exact and independent; the norm is then
``1 - p_sym(forbidden) <= 1`` (the Monte Carlo estimators do not need it). For the trivial
character nothing is forbidden and the norm is exactly 1.

This wrapper is not autoregressive: :meth:`log_conditionals` raises; :meth:`log_prob`,
:meth:`log_psi` and :meth:`sample` are implemented directly. Cost: ``|G|`` model evaluations
per configuration.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from physrnn.wavefunctions.base import AutoregressiveWavefunction
from physrnn.wavefunctions.groups import (
    PermutationGroup,
    from_netket,
    point_group_characters,
    product_table,
)

__all__ = ["SymmetrisedWavefunction"]

_MAX_ROUNDS = 1000


def _as_group(group: Any, n_sites: int) -> PermutationGroup:
    if group is None:
        return PermutationGroup(np.arange(n_sites)[None], ("Id",))
    if isinstance(group, PermutationGroup):
        out = group
    elif hasattr(group, "to_array"):
        out = from_netket(group)
    else:
        perms = np.asarray(group, dtype=np.int64)
        if perms.ndim != 2:
            raise ValueError(f"group must be (G, N) permutations, got shape {perms.shape}")
        out = PermutationGroup(perms, tuple(f"g{k}" for k in range(len(perms))))
    if out.n_sites != n_sites:
        raise ValueError(f"the group acts on {out.n_sites} sites, the model has {n_sites}")
    return out


class SymmetrisedWavefunction(AutoregressiveWavefunction):
    """``psi_sym`` of ``model`` over a permutation group (times spin flip), see module doc.

    Args:
        model: any :class:`AutoregressiveWavefunction` (its parameters are this model's).
        group: a :class:`~physrnn.wavefunctions.groups.PermutationGroup`, a netket
            ``PermutationGroup`` (e.g. ``graph.point_group()``), a ``(G, N)`` array of
            permutations in netket's convention, or ``None`` (identity only, e.g. with
            ``spin_flip=True`` for Z2 alone).
        characters: ``None``/``1`` (trivial), an irrep name ``"A1"``, ``"A2"``, ``"B1"``,
            ``"B2"`` (point/space groups built in :mod:`~physrnn.wavefunctions.groups`), or
            ``G`` unit-modulus numbers, one per element of ``group``.
        spin_flip: include the global spin flip ``s -> 1 - s``.
        flip_character: ``+1`` or ``-1``, the character of the spin flip.

    Raises:
        ValueError: if ``group`` is not a group, the characters are not a one-dimensional
            representation, or the spin flip does not preserve the model's magnetisation.
    """

    def __init__(
        self,
        model: AutoregressiveWavefunction,
        group: Any = None,
        *,
        characters: Any = None,
        spin_flip: bool = False,
        flip_character: int = 1,
    ) -> None:
        super().__init__()
        n = int(model.n_sites)
        g = _as_group(group, n)
        _, first = np.unique(g.perms, axis=0, return_index=True)
        chars = self._characters(g, characters)
        if len(first) != len(g):  # duplicates (non-faithful netket groups): keep the first
            keep = np.sort(first)
            for k in range(len(g)):
                twin = keep[np.flatnonzero((g.perms[keep] == g.perms[k]).all(1))[0]]
                if not np.isclose(chars[k], chars[twin]):
                    raise ValueError("two elements with the same permutation have different "
                                     "characters: not a representation of the permutations")
            g = PermutationGroup(g.perms[keep], tuple(g.names[k] for k in keep))
            chars = chars[keep]
        table = product_table(g.perms)
        identity = int(np.flatnonzero((g.perms == np.arange(n)).all(1))[0])
        if not np.allclose(np.abs(chars), 1.0) or not np.isclose(chars[identity], 1.0):
            raise ValueError("characters must have modulus 1 and be 1 on the identity")
        if not np.allclose(chars[table], chars[:, None] * chars[None, :]):
            raise ValueError("the characters are not a one-dimensional representation "
                             "(chi(h g) != chi(h) chi(g) for some elements)")
        if flip_character not in (1, -1):
            raise ValueError(f"flip_character must be +1 or -1, got {flip_character!r}")
        magnetisation = getattr(model, "magnetisation", None)
        if spin_flip and magnetisation not in (None, 0):
            raise ValueError(f"the spin flip maps magnetisation {magnetisation} to "
                             f"{-magnetisation}: it is a symmetry only of the M = 0 sector")
        perms, flips = g.perms, np.zeros(len(g), dtype=bool)
        if spin_flip:
            perms = np.concatenate([perms, perms])
            flips = np.concatenate([flips, ~flips])
            chars = np.concatenate([chars, flip_character * chars])
        self.model = model
        self.group = g
        self.n_sites = n
        self.spin_flip = bool(spin_flip)
        self.magnetisation = magnetisation
        self.trivial = bool(np.allclose(chars, 1.0))
        self.register_buffer("perms", torch.as_tensor(perms, dtype=torch.long), persistent=False)
        self.register_buffer("flips", torch.as_tensor(flips), persistent=False)
        self._chars = torch.as_tensor(chars, dtype=torch.complex128)

    @staticmethod
    def _characters(group: PermutationGroup, characters: Any) -> np.ndarray:
        if characters is None or (np.isscalar(characters) and not isinstance(characters, str)
                                  and characters == 1):
            return np.ones(len(group), dtype=complex)
        if isinstance(characters, str):
            return point_group_characters(group, characters).astype(complex)
        if np.isscalar(characters):
            raise ValueError(f"a scalar character {characters!r} is ambiguous for a group: "
                             "give one character per element or an irrep name (the spin "
                             "flip's sign is flip_character)")
        chars = np.asarray(characters, dtype=complex).reshape(-1)
        if chars.shape != (len(group),):
            raise ValueError(f"need {len(group)} characters (one per group element), got "
                             f"{chars.shape[0]}")
        return chars

    @property
    def n_elements(self) -> int:
        """``|G|`` including the spin flip."""
        return int(self.perms.shape[0])

    @property
    def is_complex(self) -> bool:
        return bool(self.model.is_complex or not self.trivial)

    def extra_repr(self) -> str:
        return (f"n_elements={self.n_elements}, spin_flip={self.spin_flip}, "
                f"trivial_character={self.trivial}")

    def log_conditionals(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        raise NotImplementedError(
            "a symmetrised wavefunction is a mixture over the group, not autoregressive: it has "
            "no conditionals; use log_prob, log_psi and sample")

    # ------------------------------------------------------------------ group action
    def transform(self, s: torch.Tensor, elements: torch.Tensor | None = None) -> torch.Tensor:
        """Apply group elements to configurations.

        Args:
            s: ``(B, N)`` long configurations.
            elements: ``(B,)`` element indices (one per configuration), or ``None`` for all.

        Returns:
            ``(B, N)`` if ``elements`` is given, else ``(B, |G|, N)`` with ``[b, g] = g s_b``.
        """
        self._check_shape(s)
        if elements is None:
            out = s[:, self.perms]
            return torch.where(self.flips[None, :, None], 1 - out, out)
        out = torch.gather(s, 1, self.perms[elements])
        return torch.where(self.flips[elements][:, None], 1 - out, out)

    def forbidden(self, s: torch.Tensor) -> torch.Tensor:
        """``(B,)`` bool: configurations fixed by an element with character ``!= 1``."""
        if self.trivial:
            return torch.zeros(s.shape[0], dtype=torch.bool, device=s.device)
        fixed = (self.transform(s) == s[:, None]).all(-1)
        nontrivial = (self._chars - 1).abs() > 1e-9
        return (fixed & nontrivial.to(s.device)[None]).any(-1)

    def _check_shape(self, s: torch.Tensor) -> None:
        if s.ndim != 2 or s.shape[1] != self.n_sites:
            raise ValueError(f"expected configurations of shape (batch, {self.n_sites}), "
                             f"got {tuple(s.shape)}")

    # ------------------------------------------------------------------ amplitudes
    def _orbit_log_psi(self, s: torch.Tensor) -> torch.Tensor:
        b, g = s.shape[0], self.n_elements
        return self.model.log_psi(self.transform(s).reshape(b * g, self.n_sites)).reshape(b, g)

    def log_prob(self, s: torch.Tensor) -> torch.Tensor:
        """``log |psi_sym(s)|^2`` ``(B,)``: ``log p_sym``, ``-inf`` on forbidden configurations."""
        return 2.0 * self.log_psi(s).real

    def log_psi(self, s: torch.Tensor) -> torch.Tensor:
        """``log psi_sym(s)`` ``(B,)`` (module doc): real for a positive model with the trivial
        character, complex otherwise; real part ``-inf`` where ``psi_sym = 0``."""
        lp = self._orbit_log_psi(s)
        log_p = 2.0 * lp.real
        log_amp = 0.5 * (torch.logsumexp(log_p, dim=1) - math.log(self.n_elements))
        if not self.is_complex:
            return log_amp
        top = lp.real.max(dim=1, keepdim=True).values.detach()
        top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
        cdtype = torch.complex128 if lp.real.dtype == torch.float64 else torch.complex64
        chars = self._chars.to(device=s.device, dtype=cdtype)
        a = (chars.conj()[None] * torch.exp(lp.to(cdtype) - top)).sum(dim=1)
        forbidden = self.forbidden(s)
        theta = torch.angle(torch.where(forbidden | (a.abs() == 0), torch.ones_like(a), a))
        neg_inf = torch.full_like(log_amp, -math.inf)
        return torch.complex(torch.where(forbidden, neg_inf, log_amp), theta)

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def sample(self, n_samples: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Exact samples of ``|psi_sym|^2``: model samples moved by uniformly random elements.

        Forbidden configurations (non-trivial characters only) are rejected and redrawn.

        Raises:
            RuntimeError: if nearly every draw is forbidden (``psi_sym`` is almost zero).
        """
        if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
            raise ValueError(f"n_samples must be an integer >= 1, got {n_samples!r}")
        kept: list[torch.Tensor] = []
        have = 0
        for _ in range(_MAX_ROUNDS):
            draw = n_samples - have if self.trivial else max(n_samples - have, 64)
            s0 = self.model.sample(draw, generator=generator)
            idx = torch.randint(self.n_elements, (draw,), generator=generator, device=s0.device)
            s = self.transform(s0, idx)
            if not self.trivial:
                s = s[~self.forbidden(s)]
            kept.append(s)
            have += s.shape[0]
            if have >= n_samples:
                return torch.cat(kept)[:n_samples]
        raise RuntimeError(f"only {have} of {n_samples} samples accepted after {_MAX_ROUNDS} "
                           "rounds: almost all the weight sits on configurations that the "
                           "chosen characters force to zero")

    def all_group_elements(self) -> list[tuple[str, bool]]:
        """``(name, flipped)`` of each element, in the order of :attr:`perms`."""
        names = list(self.group.names) * (2 if self.spin_flip else 1)
        return [(nm, bool(f)) for nm, f in zip(names, self.flips.tolist(), strict=True)]

