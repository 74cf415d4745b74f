"""Data-parallel VMC over samples with ``torch.distributed``, and its deterministic mode.

:class:`~physrnn.vmc.driver.VMC` uses this module when a process group with more than one rank
is running (``torchrun``, ``srun``; :func:`physrnn.distributed.init_distributed`) or when it is
built with ``deterministic=True``. The model is replicated: every rank holds the same
parameters and optimizer state (rank 0's initial parameters are broadcast when the driver is
built), draws its share of the step's samples, and all ranks apply the same reduced gradient,
so the parameters stay identical without being communicated again.

Sample counts
-------------
``VMC(n_samples=n)`` is the **total** number of samples per step, over all ranks: the same
settings give the same estimator on any number of processes. The step's samples are split into
*blocks* of ``n // B`` or ``n // B + 1`` samples (the first ``n % B`` blocks are one longer);
rank ``r`` of ``R`` owns blocks ``r B/R ... (r + 1) B/R - 1``. Block ``b`` of step ``k`` is drawn
from its own stream, a generator seeded by :func:`stream_seed` ``(seed, k, b)``, so sampling
needs no random state beyond the step count (a checkpoint written by rank 0 resumes every rank,
on any number of ranks).

Two modes
---------
* default (``deterministic=False``, only with ``R > 1``): one block per rank (``B = R``).
  Energy statistics are combined from per-block ``(n, sum, M2)`` rows in float64 (mean,
  variance and standard error with the total count); the gradient (each rank's surrogate loss
  is already divided by the total count) is summed over ranks by an all-reduce. One process
  with ``R n`` samples is the same estimator: the results agree within error bars.
* deterministic (``deterministic=True, blocks=B``, any ``R`` dividing ``B``, including one
  process): every block is sampled, evaluated and back-propagated on its own (the same tensor
  shapes whatever ``R``), the per-block statistics rows and gradients are gathered in block
  order on every rank and summed in that order. On CPU a run is bit-identical for every ``R``
  dividing ``B``, e.g. one process with ``deterministic=True, blocks=2`` and two processes
  with ``deterministic=True`` (``blocks`` defaults to the world size). The default mode with
  ``R`` ranks draws exactly the samples of the deterministic mode with ``B = R``.

Stochastic reconfiguration: the per-sample Jacobian rows ``O`` ``(n_r, p)`` and the local
energies of every rank are gathered (``(n, p)`` float64 on every rank, ``n p 8`` bytes), rank 0
solves the SR or minSR system (:meth:`~physrnn.vmc.sr.SRStep.solve`) and broadcasts the
direction ``(p,)``.

A rank that dies or stops answering makes the others raise
:class:`~physrnn.distributed.DistributedError` after at most the process group's timeout.

Example (``torchrun --nproc-per-node 2 vmc_dp.py``; the same script runs alone)::

    from physrnn.distributed import cleanup, init_distributed, is_main
    from physrnn.spins.chains import tfim_chain
    from physrnn.vmc import VMC
    from physrnn.wavefunctions import RNNWavefunction1D

    init_distributed(timeout_s=300)                 # gloo on CPU, NCCL on GPUs
    system = tfim_chain(50, h=1.0)
    model = RNNWavefunction1D(50, hidden_size=32)   # rank 0's parameters are broadcast
    vmc = VMC(system.operator, model, n_samples=1024, seed=1)   # 512 per rank
    history = vmc.run(500, progress=False)          # identical records on every rank
    est = vmc.estimate(10_000)                      # collective: every rank calls it
    if is_main():
        print(est)                                  # only rank 0 prints / writes
    cleanup()
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from physrnn.distributed import (
    DistributedError,
    all_gather_cat,
    all_reduce_max,
    all_reduce_sum,
    any_rank,
    broadcast_object,
    broadcast_tensors,
    get_rank,
    get_world_size,
    split_sizes,
)
from physrnn.errors import NonFiniteError
from physrnn.optim import flat_grad as flat_grads
from physrnn.seeding import derive_seed
from physrnn.vmc.estimators import EnergyStats, local_energies
from physrnn.vmc.free_energy import free_energy_local
from physrnn.vmc.sr import apply_direction, per_sample_log_psi_grads

#: The driver these functions serve: a :class:`physrnn.vmc.driver.VMC` (its public methods
#: ``sample`` and ``surrogate_backward`` and attributes ``layout``, ``model``, ``operator``,
#: ``optimizer``, ``seed``, ``step_count``, ``method``, ``chunk_size``, ``sr``, ``annealing``,
#: ``temperature``, ``free_energy``). Typed loosely: the driver imports this module.
Driver = Any

__all__ = [
    "Layout",
    "combine_stats",
    "gradient_step",
    "estimate",
    "flat_grad",
    "make_layout",
    "parameters_in_sync",
    "setup",
    "split_sizes",
    "stats_row",
    "stream_generator",
    "stream_seed",
    "TAG_TRAIN",
    "TAG_ESTIMATE",
]

#: Columns of a statistics row: sample count, sum of the real parts, sum of the imaginary
#: parts, sum of squared deviations from the block mean, non-finite flag.
ROW = 5
#: ``tag`` of the training and evaluation streams (:func:`stream_seed`).
TAG_TRAIN, TAG_ESTIMATE = 2, 1


@dataclass(frozen=True)
class Layout:
    """How one step's samples are split into blocks and the blocks over ranks.

    Attributes:
        n_samples: total samples per step (all ranks).
        world_size: number of ranks ``R``.
        rank: this rank.
        blocks: ``B`` (deterministic mode), or ``None`` (default mode: ``B = R``).
    """

    n_samples: int
    world_size: int = 1
    rank: int = 0
    blocks: int | None = None

    @property
    def deterministic(self) -> bool:
        """Fixed blocks reduced in block order (bit-identical for every ``R`` dividing ``B``)."""
        return self.blocks is not None

    @property
    def n_blocks(self) -> int:
        """``B``."""
        return self.world_size if self.blocks is None else self.blocks

    @property
    def sizes(self) -> list[int]:
        """Samples of every block, ``(B,)``."""
        return split_sizes(self.n_samples, self.n_blocks)

    def local_blocks(self) -> range:
        """Indices of this rank's blocks."""
        per = self.n_blocks // self.world_size
        return range(self.rank * per, (self.rank + 1) * per)

    @property
    def n_local(self) -> int:
        """Samples drawn by this rank per step."""
        sizes = self.sizes
        return sum(sizes[b] for b in self.local_blocks())


def make_layout(n_samples: int, deterministic: bool, blocks: int | None) -> Layout | None:
    """The layout of a driver, or ``None`` for the plain one-process path.

    Raises:
        ValueError: ``blocks`` without ``deterministic``, ``blocks < 1``, a world size that
            does not divide ``blocks``, or fewer samples than blocks.
    """
    world, rank = get_world_size(), get_rank()
    if blocks is not None and not deterministic:
        raise ValueError("blocks is only used with deterministic=True")
    if not deterministic and world == 1:
        return None
    if deterministic:
        blocks = world if blocks is None else int(blocks)
        if blocks < 1 or blocks % world != 0:
            raise ValueError(f"blocks={blocks} must be a positive multiple of the world size "
                             f"{world}")
    n_blocks = blocks if deterministic else world
    if n_samples < n_blocks:
        raise ValueError(f"n_samples={n_samples} (the total over all ranks) is below the "
                         f"number of blocks {n_blocks}")
    return Layout(int(n_samples), world, rank, blocks if deterministic else None)


# ---------------------------------------------------------------------------- random streams
def stream_seed(seed: int, step: int, stream: int, *, tag: int = TAG_TRAIN) -> int:
    """63-bit seed of block ``stream`` at step ``step``: :func:`~physrnn.seeding.derive_seed`
    ``(seed, step, tag, spawn_key=(stream,))``, i.e. ``SeedSequence([seed, step, tag],
    spawn_key=(stream,))``; ``tag`` separates training (2) from evaluation (1) streams."""
    return derive_seed(int(seed), int(step), int(tag), spawn_key=(int(stream),))


def stream_generator(seed: int, step: int, stream: int, device: torch.device | str, *,
                     tag: int = TAG_TRAIN) -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with :func:`stream_seed`."""
    gen = torch.Generator(device=device)
    gen.manual_seed(stream_seed(seed, step, stream, tag=tag))
    return gen


# ---------------------------------------------------------------------------- statistics
def stats_row(x: torch.Tensor | None, n: int = 0) -> torch.Tensor:
    """``(5,)`` float64 row ``[n, sum Re x, sum Im x, sum |x - mean|^2, 0]`` of a block.

    ``x=None`` marks a block whose local energies were not finite: ``[n, nan, nan, nan, 1]``.
    """
    if x is None:
        nan = math.nan
        return torch.tensor([float(n), nan, nan, nan, 1.0], dtype=torch.float64)
    n_b = int(x.shape[0])
    if n_b == 0:
        return torch.zeros(ROW, dtype=torch.float64)
    x = x.to(torch.complex128) if x.is_complex() else x.to(torch.float64)
    total = x.sum()
    m2 = ((x - total / n_b).abs() ** 2).sum()
    imag = total.imag if total.is_complex() else torch.zeros((), dtype=torch.float64)
    return torch.stack([torch.tensor(float(n_b), dtype=torch.float64, device=x.device),
                        total.real, imag, m2, torch.zeros_like(m2)]).cpu()


def combine_stats(rows: torch.Tensor) -> EnergyStats:
    """Statistics of the union of blocks from their ``(B, 5)`` rows, summed in row order.

    Chan et al.'s pairwise formula: ``M2 = sum_b [M2_b + n_b |mean_b - mean|^2]``, in float64.

    Raises:
        NonFiniteError: a row is flagged (its local energies were NaN or infinite).
    """
    r = rows.tolist()
    if any(row[4] != 0 for row in r):
        bad = [i for i, row in enumerate(r) if row[4] != 0]
        raise NonFiniteError(f"local energies are NaN or infinite in block(s) {bad}")
    n = sum(int(row[0]) for row in r)
    if n < 2:
        raise ValueError(f"need at least 2 samples for an error bar, got {n}")
    s_re = s_im = 0.0
    for row in r:
        s_re += row[1]
        s_im += row[2]
    mean_re, mean_im = s_re / n, s_im / n
    m2 = 0.0
    for row in r:
        if row[0] > 0:
            d_re, d_im = row[1] / row[0] - mean_re, row[2] / row[0] - mean_im
            m2 += row[3] + row[0] * (d_re * d_re + d_im * d_im)
    var = m2 / (n - 1)
    return EnergyStats(mean=mean_re, error=math.sqrt(var / n) if var >= 0 else math.nan,
                       variance=var, imag=mean_im, n_samples=n)


# ---------------------------------------------------------------------------- parameters
def _trainable(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p for p in model.parameters() if p.requires_grad]


def flat_grad(model: torch.nn.Module) -> torch.Tensor:
    """``(p,)`` float64 gradient of the trainable parameters (zeros where ``grad`` is None),
    in the layout of :func:`physrnn.vmc.sr.apply_direction`: :func:`physrnn.optim.flat_grad`
    with ``complex_grads="real"`` (one entry per parameter element)."""
    return flat_grads(_trainable(model), complex_grads="real")


def _flat_params(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1).double() for p in model.parameters()])


def parameters_in_sync(model: torch.nn.Module) -> bool:
    """True on every rank if the parameters are bitwise equal on all ranks (a collective)."""
    flat = _flat_params(model)
    hi, lo = all_reduce_max(flat), -all_reduce_max(-flat)
    return not any_rank(not (torch.equal(hi, flat) and torch.equal(lo, flat)))


def setup(vmc: Driver) -> None:
    """Checks and synchronisation when a data-parallel driver is built (a collective).

    Every rank must use the same settings (else the collectives would not match): they are
    compared with rank 0's; then rank 0's parameters and buffers are broadcast.

    Raises:
        DistributedError: the settings differ between ranks.
    """
    if get_world_size() == 1:
        return
    mine = {"n_samples": vmc.n_samples, "blocks": vmc.layout.blocks, "seed": vmc.seed,
            "n_params": sum(p.numel() for p in vmc.model.parameters()),
            "n_sites": vmc.model.n_sites, "method": vmc.method, "sr": repr(vmc.sr),
            "annealing": vmc.annealing is not None, "grad_chunk_size": vmc.grad_chunk_size}
    ref = broadcast_object(mine)
    differ = sorted(k for k in mine if ref.get(k) != mine[k])
    if any_rank(bool(differ)):
        raise DistributedError(
            f"rank {get_rank()} of {get_world_size()}: VMC settings differ between ranks"
            + (f" ({', '.join(f'{k}: {mine[k]!r} here, {ref[k]!r} on rank 0' for k in differ)})"
               if differ else " (on another rank)"))
    broadcast_tensors(list(vmc.model.parameters()) + list(vmc.model.buffers()))


# ---------------------------------------------------------------------------- one step
def _block_energies(vmc: Driver, s: torch.Tensor, cache: Any) -> tuple[torch.Tensor | None,
                                                                     torch.Tensor | None]:
    """``(E_loc or None if not finite, log psi(s) or None)`` of one block."""
    model = vmc.model
    log_psi_s = None
    if vmc.method == "scratch" or not model.supports_prefix:
        log_psi_s = model.log_psi_chunked(s, vmc.chunk_size or 8192)
    try:
        e_loc = local_energies(model, vmc.operator, s, log_psi_s=log_psi_s, cache=cache,
                               chunk_size=vmc.chunk_size, method=vmc.method)
    except NonFiniteError:
        return None, log_psi_s
    return e_loc, log_psi_s


def _scalar(mean_re: float, mean_im: float, like: torch.Tensor) -> torch.Tensor:
    if like.is_complex():
        return torch.tensor(complex(mean_re, mean_im), dtype=torch.complex128, device=like.device)
    return torch.tensor(mean_re, dtype=torch.float64, device=like.device)


def gradient_step(vmc: Driver) -> EnergyStats:
    """Sample this rank's blocks, reduce the statistics and write the reduced gradient (or SR
    direction) into ``p.grad`` on every rank; returns the energy statistics of all samples.

    Sets ``vmc.temperature`` and ``vmc.free_energy`` (the mean of ``F_loc`` over all samples).

    Raises:
        NonFiniteError: on every rank, if any rank's local energies are not finite.
        DistributedError: another rank died or a collective timed out.
    """
    layout, model = vmc.layout, vmc.model
    sizes = layout.sizes
    vmc.temperature = 0.0 if vmc.annealing is None else float(vmc.annealing(vmc.step_count))
    blocks: list[tuple[torch.Tensor, torch.Tensor]] = []
    rows = []
    for b in layout.local_blocks():
        gen = stream_generator(vmc.seed, vmc.step_count, b, model.device)
        s, cache = vmc.sample(sizes[b], gen)
        e_loc, log_psi_s = _block_energies(vmc, s, cache)
        del cache
        if e_loc is None:
            rows.append(torch.stack([stats_row(None, sizes[b])] * 2))
            continue
        target = e_loc
        if vmc.temperature > 0.0:
            if log_psi_s is None:
                log_psi_s = model.log_psi_chunked(s, vmc.chunk_size or 8192)
            target = free_energy_local(e_loc, 2.0 * log_psi_s.real.double(), vmc.temperature)
        row = stats_row(e_loc)
        rows.append(torch.stack([row, stats_row(target) if target is not e_loc else row]))
        blocks.append((s, target))
    every = all_gather_cat(torch.stack(rows))  # (B, 2, ROW), block order
    stats = combine_stats(every[:, 0])
    if not (math.isfinite(stats.mean) and math.isfinite(stats.variance)):
        raise NonFiniteError(f"energy is NaN or infinite ({stats.mean}, variance "
                             f"{stats.variance}) at step {vmc.step_count + 1}")
    t_stats = stats if vmc.temperature <= 0.0 else combine_stats(every[:, 1])
    vmc.free_energy = t_stats.mean
    vmc.optimizer.zero_grad(set_to_none=True)
    if vmc.sr is not None:
        apply_direction(model, sr_direction(vmc.sr, model, blocks))
        return stats
    parts = []
    for s, target in blocks:
        if layout.deterministic:
            vmc.optimizer.zero_grad(set_to_none=True)
        centred = target - _scalar(t_stats.mean, t_stats.imag, target)
        vmc.surrogate_backward(s, centred, n_total=layout.n_samples)
        if layout.deterministic:
            parts.append(flat_grad(model))
    if layout.deterministic:
        gathered = all_gather_cat(torch.stack(parts))  # (B, p), block order
        grad = gathered[0].clone()
        for g in gathered[1:]:
            grad += g
    else:
        grad = all_reduce_sum(flat_grad(model))
    apply_direction(model, grad)
    return stats


def sr_direction(sr: Any, model: torch.nn.Module,
                 blocks: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """The SR direction ``(p,)`` float64 of all ranks' samples, identical on every rank.

    ``blocks``: this rank's ``(s (n_b, N), target (n_b,))`` pairs. The Jacobian rows and the
    targets are gathered in block order; rank 0 solves and broadcasts the direction.
    """
    jac = torch.cat([per_sample_log_psi_grads(model, s, chunk_size=sr.chunk_size,
                                              method=sr.jacobian)
                     for s, _ in blocks])
    target = torch.cat([t for _, t in blocks])
    jac_all, target_all = all_gather_cat(jac), all_gather_cat(target)
    if get_rank() == 0:
        delta, _ = sr.solve(jac_all, target_all, overwrite=True)
    else:
        delta = torch.zeros(jac_all.shape[1], dtype=torch.float64, device=jac_all.device)
    broadcast_tensors([delta])
    return delta


# ---------------------------------------------------------------------------- evaluation
@torch.no_grad()
def estimate(vmc: Driver, n_samples: int, *, batch_size: int) -> EnergyStats:
    """Energy from ``n_samples`` fresh samples in total, split over the blocks and ranks like
    a training step, from evaluation streams derived from ``(seed, step_count)``."""
    layout = vmc.layout
    sizes = split_sizes(n_samples, layout.n_blocks)
    rows = []
    for b in layout.local_blocks():
        gen = stream_generator(vmc.seed, vmc.step_count, b, vmc.model.device, tag=TAG_ESTIMATE)
        chunks, remaining, bad = [], sizes[b], False
        while remaining > 0 and not bad:
            m = min(batch_size, remaining)
            s, cache = vmc.sample(m, gen)
            e_loc, _ = _block_energies(vmc, s, cache)
            bad = e_loc is None
            chunks.append(e_loc)
            remaining -= m
        rows.append(stats_row(None, sizes[b]) if bad else
                    stats_row(torch.cat(chunks) if chunks else torch.zeros(0)))
    return combine_stats(all_gather_cat(torch.stack(rows)))
