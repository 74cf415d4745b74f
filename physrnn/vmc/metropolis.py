"""Markov-chain (Metropolis) sampling of a wavefunction, the alternative to exact sampling.

An autoregressive wavefunction can be sampled exactly (independent draws, no autocorrelation,
no burn-in). The usual variational states of the field (RBM, Jastrow) cannot and are sampled by
Metropolis chains. :class:`MetropolisSampler` does the same to a physrnn model, so that the two
ways of sampling one state can be compared (autocorrelation time, split R-hat, effective
samples per second; ``benchmarks/compare_mc.py``).

Moves (each proposal on every chain at once, accepted with probability
``min(1, |psi(s')|^2 / |psi(s)|^2)`` from one batched ``log_prob``):

* ``"flip"``: one random site's spin flipped (NetKet's ``MetropolisLocal``);
* ``"exchange"``: the spins at the two ends of a random bond of ``edges`` swapped, which keeps the
  magnetisation (NetKet's ``MetropolisExchange``; the chains stay in the sector they start in:
  total ``S^z = 0`` for an even number of sites).

A *sweep* is ``n_sites`` proposals. The chains persist between calls (the next call continues
them, as a VMC driver wants); the first call discards ``burn_in`` sweeps. Use with the driver
as ``VMC(..., sampler=MetropolisSampler(...))``: ``n_samples`` is then ``n_chains *
samples_per_chain``, one sample every ``sweeps_between`` sweeps.

Configurations are ``(batch, n_sites)`` long tensors of local indices (0 = up, netket's order).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["MetropolisSampler"]


class MetropolisSampler:
    """Metropolis chains on ``|psi|^2`` of an autoregressive model (module doc).

    Args:
        n_chains: independent chains (run as one batch).
        moves: ``"flip"`` or ``"exchange"``.
        edges: ``[(i, j), ...]`` bonds for ``"exchange"`` (e.g. ``graph.edges()``).
        sweeps_between: sweeps between two kept samples of a chain.
        burn_in: sweeps discarded when the chains start.
        seed: seed of the initial configurations (the proposals use the generator passed to
            :meth:`sample`).

    Attributes:
        acceptance: fraction of accepted proposals in the last :meth:`sample` call.
        chains: ``(n_chains, N)`` current configurations (``None`` before the first call).
        last_chains: ``(n_chains, samples_per_chain, N)`` of the last call's samples.
    """

    def __init__(self, n_chains: int = 16, *, moves: str = "flip",
                 edges: Sequence[tuple[int, int]] | None = None, sweeps_between: int = 1,
                 burn_in: int = 20, seed: int = 0) -> None:
        if n_chains < 1:
            raise ValueError(f"n_chains must be >= 1, got {n_chains}")
        if moves not in ("flip", "exchange"):
            raise ValueError(f"moves must be 'flip' or 'exchange', got {moves!r}")
        if moves == "exchange" and not edges:
            raise ValueError("moves='exchange' needs the bonds (edges) to exchange along")
        if sweeps_between < 1 or burn_in < 0:
            raise ValueError(f"need sweeps_between >= 1 and burn_in >= 0, got "
                             f"{sweeps_between}, {burn_in}")
        self.n_chains = int(n_chains)
        self.moves = moves
        self.edges = None if edges is None else torch.tensor([tuple(e)[:2] for e in edges],
                                                             dtype=torch.long)
        self.sweeps_between = int(sweeps_between)
        self.burn_in = int(burn_in)
        self.seed = int(seed)
        self.chains: torch.Tensor | None = None
        self.acceptance = float("nan")
        self.last_chains: torch.Tensor | None = None

    def _start(self, model: Any) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed)
        n = model.n_sites
        if self.moves == "exchange":   # a random configuration of total S^z as close to 0
            base = torch.tensor([k % 2 for k in range(n)], dtype=torch.long)
            s = torch.stack([base[torch.randperm(n, generator=g)] for _ in range(self.n_chains)])
        else:
            s = torch.randint(0, 2, (self.n_chains, n), generator=g)
        return s.to(model.device)

    @torch.no_grad()
    def _sweeps(self, model: Any, s: torch.Tensor, lp: torch.Tensor, n_sweeps: int,
                generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, int]:
        n, c = model.n_sites, s.shape[0]
        rows = torch.arange(c, device=s.device)
        accepted = 0
        for _ in range(n_sweeps * n):
            prop = s.clone()
            if self.moves == "flip":
                site = torch.randint(0, n, (c,), generator=generator, device=s.device)
                prop[rows, site] = 1 - prop[rows, site]
            else:
                k = torch.randint(0, len(self.edges), (c,), generator=generator,
                                  device=s.device)
                i, j = self.edges[k, 0].to(s.device), self.edges[k, 1].to(s.device)
                prop[rows, i], prop[rows, j] = s[rows, j], s[rows, i]
            lp_new = model.log_prob(prop).double()
            u = torch.rand(c, generator=generator, dtype=torch.float64, device=s.device)
            ok = torch.log(u) < lp_new - lp
            s = torch.where(ok[:, None], prop, s)
            lp = torch.where(ok, lp_new, lp)
            accepted += int(ok.sum())
        return s, lp, accepted

    def sample(self, model: Any, n: int, generator: torch.Generator) -> tuple[torch.Tensor, None]:
        """``n`` correlated samples (``n`` a multiple of ``n_chains``), chain-major order.

        Returns:
            ``(s, None)``: ``s`` ``(n, N)`` (rows ``k * per_chain ... (k+1) * per_chain - 1``
            belong to chain ``k``); no prefix cache.
        """
        if n % self.n_chains:
            raise ValueError(f"n_samples = {n} is not a multiple of n_chains = {self.n_chains}")
        per = n // self.n_chains
        with torch.no_grad():
            if self.chains is None:
                s = self._start(model)
                lp = model.log_prob(s).double()
                s, lp, _ = self._sweeps(model, s, lp, self.burn_in, generator)
            else:
                s = self.chains
                lp = model.log_prob(s).double()   # the model changed since the last call
            kept, acc = [], 0
            for _ in range(per):
                s, lp, a = self._sweeps(model, s, lp, self.sweeps_between, generator)
                kept.append(s)
                acc += a
        self.chains = s
        self.acceptance = acc / (per * self.sweeps_between * model.n_sites * self.n_chains)
        self.last_chains = torch.stack(kept, dim=1)            # (chains, per, N)
        return self.last_chains.reshape(n, model.n_sites), None
