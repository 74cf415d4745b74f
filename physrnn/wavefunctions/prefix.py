"""Cached sampling and prefix-reusing amplitudes of connected configurations.

For an autoregressive recurrent wavefunction the state after site ``t`` depends on
``s_0 .. s_{t-1}`` only (the input of site ``t`` is ``s_{t-1}``). A connected configuration
``s'`` that first differs from ``s`` at site ``i`` therefore shares every recurrent state of
``s`` up to and including site ``i``:

    log |psi(s')|^2 - log |psi(s)|^2 = [log p_i(s'_i) - log p_i(s_i)]             (cached)
                                      + sum_{t > i} log p_t(s') - sum_{t > i} log p_t(s)

where the conditional at site ``i`` reuses the cached head output of ``s`` and only the
``N - 1 - i`` sites after ``i`` need new recurrent steps (the last sum over ``s`` is a cached
suffix sum). Over the ``N`` single flips of the transverse-field Ising chain that is
``N (N - 1) / 2`` steps instead of the ``N^2`` of evaluating every ``s'`` from scratch.

Batching: the rows (connected configurations) are sorted by first-difference site and cut
into blocks of ``block_rows``. A block walks through the sites from its smallest ``i + 1`` to
``N - 1``; at site ``t`` its active rows (those with ``i < t``) form a prefix of the block, and
a row that becomes active starts from the cached state of its sample. One step per site per
layer runs on the whole active prefix. Sums of per-site log-probabilities are accumulated in
float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from physrnn.wavefunctions.cells import RecurrentSteps

__all__ = ["PrefixCache", "run_with_cache", "log_psi_from_cache", "log_psi_ratios"]


@dataclass(frozen=True)
class PrefixCache:
    """Recurrent states of a batch of ``B`` configurations at every site.

    Attributes:
        states: ``(B, N, n_layers, S)``, the states after consuming site ``t``'s input, in
            :class:`~physrnn.wavefunctions.cells.RecurrentSteps`' stored form.
        logit: ``(B, N)`` head logit difference ``d_t`` (``log p_t(v) = logsig((2v-1) d_t)``).
        phase_logits: ``(B, N, 2)`` phase logits, or ``None`` for positive models.
    """

    states: torch.Tensor
    logit: torch.Tensor
    phase_logits: torch.Tensor | None

    def __getitem__(self, index: slice) -> PrefixCache:
        """The cache of the samples ``index`` (a slice of the batch)."""
        return PrefixCache(self.states[index], self.logit[index],
                           None if self.phase_logits is None else self.phase_logits[index])

    @staticmethod
    def nbytes_per_sample(n_sites: int, n_layers: int, state_size: int, itemsize: int,
                          phase: bool) -> int:
        """Memory of one sample's cache in bytes."""
        return n_sites * itemsize * (n_layers * state_size + 1 + (2 if phase else 0))


@torch.no_grad()
def run_with_cache(
    steps: RecurrentSteps,
    n_sites: int,
    *,
    s: torch.Tensor | None = None,
    n_samples: int | None = None,
    uniforms: torch.Tensor | None = None,
    keep_cache: bool = True,
) -> tuple[torch.Tensor, PrefixCache | None]:
    """Run the network site by site, either on given configurations or sampling them.

    Args:
        steps: the network's single-site view.
        n_sites: ``N``.
        s: ``(B, N)`` configurations to evaluate (teacher forcing), or ``None`` to sample.
        n_samples: ``B`` when sampling.
        uniforms: ``(B, N)`` float64 uniform numbers when sampling: ``s_i = 1`` iff
            ``u_i >= p(s_i = 0 | s_<i)``.
        keep_cache: store every site's state (``O(B N n_layers d_h)`` memory).

    Returns:
        ``(s, cache)``: the configurations (sampled or given) and their :class:`PrefixCache`
        (``None`` if ``keep_cache`` is false).
    """
    sampling = s is None
    if sampling:
        if n_samples is None or uniforms is None:
            raise ValueError("sampling needs n_samples and uniforms")
        batch = n_samples
        s = torch.empty(batch, n_sites, dtype=torch.long, device=steps.device)
    else:
        batch = s.shape[0]
    state = steps.initial_state(batch)
    prev = torch.zeros(batch, dtype=torch.long, device=steps.device)
    cache = None
    if keep_cache:
        cache = PrefixCache(
            torch.empty(batch, n_sites, steps.n_layers, steps.state_size, dtype=steps.dtype,
                        device=steps.device),
            torch.empty(batch, n_sites, dtype=steps.dtype, device=steps.device),
            torch.empty(batch, n_sites, 2, dtype=steps.dtype, device=steps.device)
            if steps.has_phase else None,
        )
    for i in range(n_sites):
        h = steps.advance(prev, state)
        d, z = steps.head(h)
        if sampling:
            p0 = torch.sigmoid(-d).double()
            s_i = (uniforms[:, i] >= p0).long()
            s[:, i] = s_i
        else:
            s_i = s[:, i]
        prev = s_i + 1
        if cache is not None:
            cache.states[:, i] = state
            cache.logit[:, i] = d
            if z is not None:
                cache.phase_logits[:, i] = z
    return s, cache


def _site_terms(s: torch.Tensor, cache: PrefixCache) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-site ``log p_t(s_t)`` and ``phi_t(s_t)`` of the cached configurations, float64."""
    sign = (2 * s - 1).to(cache.logit.dtype)
    lp = RecurrentSteps.log_prob_of(cache.logit, sign).double()
    phi = None
    if cache.phase_logits is not None:
        phi = RecurrentSteps.phase_of(cache.phase_logits, s).double()
    return lp, phi


@torch.no_grad()
def log_psi_from_cache(s: torch.Tensor, cache: PrefixCache) -> torch.Tensor:
    """``log psi(s)`` from a cache, ``(B,)`` float64 (complex128 with a phase)."""
    lp, phi = _site_terms(s, cache)
    log_amp = 0.5 * lp.sum(-1)
    return log_amp if phi is None else torch.complex(log_amp, phi.sum(-1))


def _suffix(x: torch.Tensor) -> torch.Tensor:
    """``out[:, i] = sum_{t > i} x[:, t]`` for ``(B, N)``."""
    total = x.sum(-1, keepdim=True)
    return total - torch.cumsum(x, -1)


@torch.no_grad()
def log_psi_ratios(
    steps: RecurrentSteps,
    s: torch.Tensor,
    cache: PrefixCache,
    sample: torch.Tensor,
    first: torch.Tensor,
    materialise,
    first_values: torch.Tensor,
    *,
    block_rows: int = 2048,
) -> torch.Tensor:
    """``log psi(s') - log psi(s)`` of connected configurations, by prefix reuse.

    Args:
        steps: the network's single-site view (the one that built ``cache``).
        s: ``(B, N)`` configurations.
        cache: their :class:`PrefixCache`.
        sample: ``(M,)`` long, the configuration of ``s`` each row belongs to.
        first: ``(M,)`` long, the first site where the row differs from its sample.
        materialise: callable ``rows (m,) -> (m, N)`` long, the connected configurations.
        first_values: ``(M,)`` long, ``s'[first]`` of each row.
        block_rows: rows evaluated together (the working-set size).

    Returns:
        ``(M,)`` float64 (complex128 with a phase head).
    """
    n_sites = s.shape[1]
    m = int(sample.shape[0])
    device = s.device
    lp_s, phi_s = _site_terms(s, cache)
    flat = sample * n_sites + first
    d_first = cache.logit.reshape(-1)[flat]
    sign_first = (2 * first_values - 1).to(d_first.dtype)
    delta = (RecurrentSteps.log_prob_of(d_first, sign_first).double()
             - lp_s.reshape(-1)[flat] - _suffix(lp_s).reshape(-1)[flat])
    delta_phi = None
    if phi_s is not None:
        z_first = cache.phase_logits.reshape(-1, 2)[flat]
        delta_phi = (RecurrentSteps.phase_of(z_first, first_values).double()
                     - phi_s.reshape(-1)[flat] - _suffix(phi_s).reshape(-1)[flat])

    order = torch.sort(first, stable=True).indices
    first_sorted = first[order]
    n_active = int(torch.searchsorted(first_sorted, torch.tensor(n_sites - 1, device=device)))
    acc = torch.zeros(m, dtype=torch.float64, device=device)
    acc_phi = torch.zeros(m, dtype=torch.float64, device=device) if phi_s is not None else None
    states_flat = cache.states.reshape(-1, steps.n_layers, steps.state_size)
    for start in range(0, n_active, block_rows):
        rows = order[start: start + block_rows]
        f_rows = first_sorted[start: start + block_rows]
        t0 = int(f_rows[0]) + 1
        sites = torch.arange(t0, n_sites, device=device)
        counts = torch.searchsorted(f_rows, sites).tolist()
        sp = materialise(rows)  # (r, N)
        prev_t = (sp.t() + 1).contiguous()  # (N, r) input codes of the next site
        base = sample[rows] * n_sites
        n_rows = len(rows)
        # two state buffers, read one and write the other (no in-place aliasing)
        state = torch.empty(n_rows, steps.n_layers, steps.state_size, dtype=steps.dtype,
                            device=device)
        spare = torch.empty_like(state)
        # head outputs of every (site, row), written in place; inactive entries stay 0
        logits = torch.zeros(n_sites - t0, n_rows, dtype=steps.dtype, device=device)
        phase = (torch.zeros(n_sites - t0, n_rows, 2, dtype=steps.dtype, device=device)
                 if acc_phi is not None else None)
        active = 0
        for j, count in enumerate(counts):
            t = t0 + j
            if count > active:
                state[active:count] = states_flat[base[active:count] + (t - 1)]
                active = count
            q = steps.advance(prev_t[t - 1, :active], state[:active], spare[:active])
            state, spare = spare, state
            steps.logit(q, out=logits[j, :active])
            if phase is not None:
                steps.phase_logits(q, out=phase[j, :active])
        values = sp[:, t0:].t()  # (n_sites - t0, r)
        mask = sites.unsqueeze(1) > f_rows.unsqueeze(0)
        sign = (2 * values - 1).to(steps.dtype)
        lp = RecurrentSteps.log_prob_of(logits + steps.logit_b, sign)
        acc[rows] = torch.where(mask, lp, 0).double().sum(0)
        if phase is not None:
            ph = RecurrentSteps.phase_of(phase + steps.phase_b, values)
            acc_phi[rows] = torch.where(mask, ph, 0).double().sum(0)
    out = 0.5 * (delta + acc)
    if delta_phi is None:
        return out
    return torch.complex(out, delta_phi + acc_phi)


def default_block_rows(device: torch.device, hidden: int, itemsize: int) -> int:
    """Rows per block: a working set that fits the CPU's L2 cache; large on a GPU."""
    if device.type == "cuda":
        return 1 << 17
    target = 1 << 20  # bytes of the largest per-step temporary (gates of the active rows)
    rows = target // max(1, 4 * hidden * itemsize)
    return int(min(8192, max(256, 1 << int(math.log2(max(rows, 1))))))
