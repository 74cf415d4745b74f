"""Data-parallel training of sequence models over ``torch.distributed`` ranks.

With ``R`` processes (``torchrun --nproc-per-node R -m physrnn.cli train ...``, ``srun``), each
rank holds a full copy of the model and trains on a disjoint shard of every batch:

* **sampler**: every rank draws the same shuffled order of the training windows (the train
  loader's ``torch.Generator`` is seeded identically on every rank), cuts it into *global*
  batches of ``R * b`` windows (``b`` = ``data.batch_size``, the per-rank batch) exactly as a
  one-process loader with batch ``R * b`` would, and takes its own contiguous share of each
  (:class:`ShardedBatchSampler`; the shares of a global batch differ by at most one window);
* **gradients**: after the backward pass of a batch every rank's gradient, weighted by its
  number of windows, is summed over the ranks in one flat all-reduce (float64) and divided by
  the global batch size, so each rank holds the gradient of the global batch's mean loss; the
  batch loss travels in the same buffer. Gradient clipping, the gradient-norm history and the
  optimiser step then run identically on every rank, and the parameters stay identical;
* **validation**: each rank evaluates its share of the validation windows; the sums of loss and
  window count are all-reduced, so every rank gets the same validation loss;
* **files**: only rank 0 writes (the job's business, see :mod:`physrnn.runs.train`).

Guarantee: ``R`` ranks with per-rank batch ``b`` follow the same trajectory as one process with
batch ``R * b`` (same windows in every optimiser step, same learning-rate schedule), up to the
order of floating-point summation: the one-process gradient sums the ``R * b`` per-window
terms inside one batched kernel, the data-parallel one sums per-rank partial means. The results
agree to rounding (in the tests, after 2 epochs: relative differences ~1e-14 in float64,
absolute ~3e-8 in float32) but are not bit-identical; bit identity needs the one-process run to
split its batch the same way, which the default one-process path does not (it stays exactly
as it was).

Deterministic mode (``make_data_parallel(..., deterministic=True, blocks=B)``): every global
batch is cut into ``B`` blocks (``shard_bounds(m, j, B)``); each block's gradient is computed
by its own backward pass on a fresh copy of its windows, the per-block rows ``(n_j g_j,
n_j loss_j, n_j)`` (float64) are gathered in block order on every rank and summed in that
order. The arithmetic is then the same whatever the number of ranks, so on CPU a run is
bit-identical for every ``R`` dividing ``B``, including one process (``deterministic=True,
blocks=R`` with the loader's batch ``R * b``) and ``R`` processes (``blocks`` defaults to the
world size). It costs ``B / R`` backward passes per rank and step, and memory ``B x
n_parameters`` float64 for the gathered rows. Validation losses (sharded, batch-weighted) agree
to rounding only, so a choice that compares them (early stopping, ``ReduceLROnPlateau``) can
differ on a near-tie.

With ``model.dropout > 0`` each rank draws its own dropout masks (rank ``r > 0`` uses the
stream of :func:`~physrnn.distributed.rank_seed`), so the equivalence is then statistical only.

Why not ``DistributedDataParallel``: the training loop back-propagates several times per batch
(every truncated-BPTT segment and every rollout segment as soon as it is complete), which DDP's
bucketed hooks would all-reduce once per backward pass (or need ``no_sync`` around all but a
last pass the loop does not know in advance); and the last global batch of an epoch is split
into unequal (possibly empty) shares, which DDP's plain average would weight wrongly (a rank
with an empty share must still join the step). One weighted all-reduce per optimiser step,
after all backward passes, handles both, costs one collective per step like DDP, and needs
only two hooks in the loop (:class:`DataParallel`).

Example (what :func:`physrnn.runs.train.run_train_job` does under ``torchrun``)::

    from physrnn.distributed import init_distributed
    from physrnn.train.parallel import make_data_parallel
    init_distributed()                                  # rank and world size from torchrun
    trainer = Trainer(model, ...)
    train, val = make_data_parallel(trainer, loaders["train"], loaders["val"])
    trainer.fit(train, val, epochs=30)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from torch.utils.data import BatchSampler, DataLoader, Sampler

from physrnn.distributed import (  # noqa: F401 - run_on_main re-exported
    DistributedError,
    all_gather_cat,
    all_reduce_sum,
    broadcast_object,
    broadcast_tensors,
    get_rank,
    get_world_size,
    is_distributed,
    is_main,
    rank_seed,
    run_on_main,
    split_bounds,
)
from physrnn.optim import flat_grad
from physrnn.train.state import initial_rng_state

if TYPE_CHECKING:
    from physrnn.train.loop import Trainer

__all__ = ["ShardedBatchSampler", "DataParallel", "shard_bounds", "share_bounds", "shard_loader",
           "make_data_parallel", "run_on_main", "rank_rng_states", "restore_rank_rng"]

log = logging.getLogger(__name__)


def shard_bounds(m: int, rank: int, world_size: int) -> tuple[int, int]:
    """``[lo, hi)`` of part ``rank`` of ``world_size`` contiguous parts of ``m`` windows.

    The first ``m % world_size`` parts get ``m // world_size + 1`` windows, the others
    ``m // world_size`` (zero when ``m < world_size``):
    :func:`physrnn.distributed.split_bounds`.
    """
    return split_bounds(int(m), int(rank), int(world_size))


def _rank_blocks(rank: int, world_size: int, blocks: int) -> range:
    per = blocks // world_size
    return range(rank * per, (rank + 1) * per)


def share_bounds(m: int, rank: int, world_size: int, *, blocks: int | None = None
                 ) -> tuple[int, int]:
    """``[lo, hi)`` of rank ``rank``'s share of a global batch of ``m`` windows cut into
    ``blocks`` blocks (default ``world_size``; a multiple of it): the union of its blocks
    ``rank * blocks / world_size ... (rank + 1) * blocks / world_size - 1``."""
    blocks = world_size if blocks is None else int(blocks)
    mine = _rank_blocks(rank, world_size, blocks)
    return shard_bounds(m, mine[0], blocks)[0], shard_bounds(m, mine[-1], blocks)[1]


class ShardedBatchSampler(Sampler[list[int]]):
    """This rank's share of every batch of a global batch sampler.

    Args:
        batch_sampler: a ``BatchSampler`` over the whole dataset with the *global* batch size
            ``R * b`` (its sampler draws the same order on every rank).
        rank: this process's rank.
        world_size: number of ranks ``R``.
        pad: yield a batch on every rank for every global batch (needed for training, where
            each optimiser step is a collective): a rank whose share is empty (only in a last
            batch of fewer than ``R`` windows) gets the batch's first window with weight 0
            (:meth:`weight`). Without ``pad`` (validation) empty shares are skipped.
        blocks: cut each global batch into this many blocks (a multiple of ``world_size``;
            default ``world_size``) and give each rank its blocks (:func:`share_bounds`).
    """

    def __init__(self, batch_sampler: BatchSampler, rank: int, world_size: int, *,
                 pad: bool, blocks: int | None = None) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, {world_size})")
        blocks = world_size if blocks is None else int(blocks)
        if blocks < world_size or blocks % world_size:
            raise ValueError(f"blocks = {blocks} must be a positive multiple of the world "
                             f"size {world_size}")
        self.batch_sampler = batch_sampler
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.pad = bool(pad)
        self.blocks = blocks

    @property
    def global_batch_size(self) -> int:
        """Windows per global batch, ``R * b``."""
        return int(self.batch_sampler.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        # a generator: nothing is drawn from the shuffling generator before the first batch,
        # as with a plain DataLoader (which draws its worker base seed first)
        for batch in self.batch_sampler:
            lo, hi = share_bounds(len(batch), self.rank, self.world_size, blocks=self.blocks)
            if hi > lo:
                yield list(batch[lo:hi])
            elif self.pad:
                yield list(batch[:1])

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def global_size(self, index: int) -> int:
        """Number of windows of global batch ``index``."""
        n = len(self.batch_sampler.sampler)  # type: ignore[arg-type]
        b = self.global_batch_size
        return max(0, min(b, n - index * b))

    def weight(self, index: int) -> int:
        """Number of real windows of this rank in global batch ``index`` (0 for padding)."""
        lo, hi = share_bounds(self.global_size(index), self.rank, self.world_size,
                              blocks=self.blocks)
        return hi - lo


def shard_loader(loader: DataLoader, *, pad: bool, rank: int | None = None,
                 world_size: int | None = None, blocks: int | None = None) -> DataLoader:
    """A ``DataLoader`` over ``loader``'s dataset yielding this rank's share of each batch.

    The global batch size is ``world_size * loader.batch_size``; the sampler (and its
    generator), workers and collation are ``loader``'s own, so one rank of a one-rank job
    yields exactly ``loader``'s batches.

    Raises:
        ValueError: ``loader`` has no ``BatchSampler`` (a custom batch sampler or an
            iterable-style dataset cannot be sharded this way).
    """
    rank = get_rank() if rank is None else int(rank)
    world_size = get_world_size() if world_size is None else int(world_size)
    bs = loader.batch_sampler
    if isinstance(bs, ShardedBatchSampler):
        raise ValueError("the loader is already sharded")
    if type(bs) is not BatchSampler:
        raise ValueError("data-parallel training needs a DataLoader with batch_size and a "
                         f"(random or sequential) sampler, got batch sampler {type(bs).__name__}")
    global_bs = BatchSampler(bs.sampler, bs.batch_size * world_size, bs.drop_last)
    workers = loader.num_workers
    return DataLoader(
        loader.dataset,
        batch_sampler=ShardedBatchSampler(global_bs, rank, world_size, pad=pad, blocks=blocks),
        num_workers=workers, collate_fn=loader.collate_fn, pin_memory=loader.pin_memory,
        timeout=loader.timeout, worker_init_fn=loader.worker_init_fn,
        multiprocessing_context=loader.multiprocessing_context if workers else None,
        generator=loader.generator, persistent_workers=loader.persistent_workers,
        prefetch_factor=loader.prefetch_factor if workers else None)


def _real_numel(p: torch.Tensor) -> int:
    return p.numel() * (2 if p.is_complex() else 1)


def _write_flat(grads: list[torch.Tensor], flat: torch.Tensor) -> None:
    """Copy the flat float64 vector ``flat`` into ``grads`` in order (complex as pairs);
    the inverse of :func:`physrnn.optim.flat_grad` with ``complex_grads="pairs"``."""
    offset = 0
    for g in grads:
        view = torch.view_as_real(g) if g.is_complex() else g
        size = view.numel()
        view.copy_(flat[offset:offset + size].view_as(view))
        offset += size


def _sharded(loader: Any) -> ShardedBatchSampler | None:
    bs = getattr(loader, "batch_sampler", None)
    return bs if isinstance(bs, ShardedBatchSampler) else None


class DataParallel:
    """The reductions a :class:`~physrnn.train.loop.Trainer` calls when ``trainer.parallel``
    is set (by :func:`make_data_parallel`); every rank must make the same calls.

    Args:
        deterministic: per-block gradients summed in block order (module docstring).
        blocks: blocks per global batch in the deterministic mode (default: world size).
    """

    def __init__(self, *, deterministic: bool = False, blocks: int | None = None) -> None:
        world = get_world_size()
        self.deterministic = bool(deterministic)
        self.blocks = world if blocks is None else int(blocks)
        if self.blocks < world or self.blocks % world:
            raise ValueError(f"blocks = {self.blocks} must be a positive multiple of the world "
                             f"size {world}")

    def batch(self, trainer: Trainer, loader: Iterable, index: int, context: torch.Tensor,
              target: torch.Tensor, k: int) -> tuple[float, int]:
        """Back-propagate this rank's batch and leave the global batch's mean-loss gradient
        in every ``p.grad`` (the optimiser step follows in the loop).

        Args:
            trainer: the trainer (its :meth:`~physrnn.train.loop.Trainer.batch_loss`).
            loader: the train loader (a sharded one tells the weight of a padded batch).
            index: the batch's index in the epoch (0-based).
            context: ``(n_r, C, n_state)`` this rank's windows.
            target: ``(n_r, H, n_state)``.
            k: rollout length (0: teacher forcing).

        Returns:
            ``(loss, n)``: the global batch's mean loss and number of windows.
        """
        if self.deterministic:
            return self._blocks(trainer, loader, index, context, target, k)
        loss = float(trainer.batch_loss(context, target, k, backward=True))
        return self.reduce_batch(loader, trainer.model, loss, context.shape[0], index)

    def _blocks(self, trainer: Trainer, loader: Iterable, index: int, context: torch.Tensor,
                target: torch.Tensor, k: int) -> tuple[float, int]:
        sampler = _sharded(loader)
        world, rank = get_world_size(), get_rank()
        if sampler is None and world > 1:
            raise ValueError("the deterministic mode needs the sharded loader of "
                             "make_data_parallel")
        m = sampler.global_size(index) if sampler is not None else context.shape[0]
        start = share_bounds(m, rank, world, blocks=self.blocks)[0]
        params = [p for p in trainer.model.parameters() if p.requires_grad]
        rows = []
        for j in _rank_blocks(rank, world, self.blocks):
            lo, hi = shard_bounds(m, j, self.blocks)
            n_j = hi - lo
            row = torch.zeros(sum(_real_numel(p) for p in params) + 2, dtype=torch.float64,
                              device=context.device)
            if n_j > 0:
                for p in params:
                    p.grad = None
                # a fresh copy: the same memory layout whichever rank holds the block
                c, t = (x[lo - start:hi - start].clone() for x in (context, target))
                loss = float(trainer.batch_loss(c, t, k, backward=True))
                row[:-2] = flat_grad(params, complex_grads="pairs") * n_j
                row[-2], row[-1] = loss * n_j, float(n_j)
            rows.append(row)
        table = torch.stack(rows)
        if is_distributed():
            table = all_gather_cat(table)  # (blocks, P + 2), block order
        total = table.sum(dim=0)
        n = float(total[-1])
        if n <= 0:
            raise ValueError(f"global batch {index} holds no windows")
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        _write_flat([p.grad for p in params], total[:-2] / n)
        return float(total[-2]) / n, int(round(n))

    def reduce_batch(self, loader: Iterable, model: torch.nn.Module, loss: float, n: int,
                     index: int) -> tuple[float, int]:
        """Replace every gradient by the global batch's mean-loss gradient.

        Args:
            loader: the train loader (a sharded one gives the weight of padded batches; any
                other loader counts ``n`` windows, e.g. every rank training on the same data).
            model: the model whose ``p.grad`` hold this rank's mean-loss gradients.
            loss: this rank's mean batch loss.
            n: windows in this rank's batch.
            index: the batch's index in the epoch (0-based).

        Returns:
            ``(loss, n)`` of the global batch: its mean loss and its number of windows.

        Raises:
            DistributedError: another rank died or the collective timed out.
        """
        sampler = _sharded(loader)
        w = sampler.weight(index) if sampler is not None else int(n)
        with_grad = [p for p in model.parameters() if p.grad is not None]
        grads = [p.grad for p in with_grad]
        device = grads[0].device if grads else torch.device("cpu")
        stats = torch.tensor([loss * w if w else 0.0, float(w)], dtype=torch.float64,
                             device=device)
        flat = (torch.cat([flat_grad(with_grad, complex_grads="pairs"), stats]) if grads
                else stats)
        if w != 1:
            flat[:-2] *= w
        flat = all_reduce_sum(flat)
        total = float(flat[-1])
        if total <= 0:
            raise ValueError(f"global batch {index} holds no windows")
        _write_flat(grads, flat[:-2] / total)
        return float(flat[-2]) / total, int(round(total))

    def reduce_eval(self, loader: Iterable, total: float, n: int) -> tuple[float, int]:
        """Sum a validation pass's loss sum and window count over the ranks when ``loader``
        is sharded (each rank saw a share); otherwise every rank saw everything: unchanged."""
        if _sharded(loader) is None:
            return total, n
        out = all_reduce_sum(torch.tensor([float(total), float(n)], dtype=torch.float64))
        return float(out[0]), int(round(float(out[1])))


def make_data_parallel(trainer: Trainer, train_loader: DataLoader,
                       val_loader: DataLoader | None = None, *, deterministic: bool = False,
                       blocks: int | None = None) -> tuple[DataLoader, DataLoader | None]:
    """Make ``trainer`` data-parallel over the running process group; shard its loaders.

    Sets ``trainer.parallel``, gives rank ``r > 0`` its own dropout stream (seeded from
    :func:`~physrnn.distributed.rank_seed`), and copies rank 0's model parameters to every
    rank. Call it before resuming from a checkpoint (which restores each rank's stream, see
    :func:`restore_rank_rng`). Without a process group (one process) it does nothing and
    returns the loaders unchanged, unless ``deterministic`` (then the one process computes
    the ``blocks`` block gradients of each batch of ``train_loader`` itself).

    Args:
        deterministic: the deterministic mode of the module docstring.
        blocks: blocks per global batch in that mode (default: the world size).

    Returns:
        ``(train, val)``: this rank's share of the training batches (one batch per global
        batch on every rank) and of the validation windows.
    """
    if not is_distributed():
        if deterministic:
            trainer.parallel = DataParallel(deterministic=True, blocks=blocks)
        return train_loader, val_loader
    rank = get_rank()
    if rank > 0:  # the stream a trainer with seed rank_seed(seed, rank) would start from
        trainer.rng.set_state(initial_rng_state(rank_seed(trainer.seed, rank)))
    broadcast_tensors(list(trainer.model.state_dict().values()))  # rank 0's weights
    trainer.parallel = DataParallel(deterministic=deterministic, blocks=blocks)
    blocks = trainer.parallel.blocks
    log.info("data-parallel training: rank %d of %d, per-rank batch %s, global batch %s",
             rank, get_world_size(), train_loader.batch_size,
             None if train_loader.batch_size is None
             else train_loader.batch_size * get_world_size())
    return (shard_loader(train_loader, pad=True, blocks=blocks),
            None if val_loader is None else shard_loader(val_loader, pad=False))


# --------------------------------------------------------------------------- job helpers
def _all_gather_object(obj: Any) -> list[Any]:
    out: list[Any] = [None] * get_world_size()
    try:
        dist.all_gather_object(out, obj)
    except (RuntimeError, ValueError) as exc:
        text = str(exc).strip().splitlines()
        raise DistributedError(
            f"rank {get_rank()} of {get_world_size()}: all_gather_object failed (another rank "
            f"died, exited early or timed out): {text[0] if text else type(exc).__name__}"
        ) from None
    return out


def rank_rng_states(trainer: Trainer) -> dict[str, Any]:
    """``{"rank_rng_states": [state of rank 0, ...]}`` for a checkpoint (a collective), or
    ``{}`` in a one-process run (whose checkpoint stays as it always was)."""
    if not is_distributed():
        return {}
    return {"rank_rng_states": _all_gather_object(trainer.rng.state())}


def restore_rank_rng(trainer: Trainer, checkpoint: dict[str, Any]) -> None:
    """Give this rank its own private RNG state back from a checkpoint of
    :func:`rank_rng_states` (after ``trainer.resume``, which restores rank 0's)."""
    states = checkpoint.get("rank_rng_states")
    if not states:
        return
    rank = get_rank()
    if rank >= len(states):
        raise DistributedError(f"the checkpoint holds RNG states of {len(states)} ranks; this is "
                               f"rank {rank}")
    s = states[rank]
    trainer.rng.set_state(s["rng_state"], s.get("cuda_rng_state"))
