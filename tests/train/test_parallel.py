"""Data-parallel training (physrnn.train.parallel): R gloo ranks with per-rank batch b train
like one process with batch R b; the job writes from rank 0 and resumes exactly; a rank that
dies makes the others fail with a clear DistributedError instead of hanging."""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from physrnn.train.parallel import (
    ShardedBatchSampler,
    shard_bounds,
    shard_loader,
    share_bounds,
)

WORLD = 2
B_RANK = 4  # per-rank batch


# --------------------------------------------------------------------------- one process
def _loader(n: int, batch: int, seed: int = 5, shuffle: bool = True) -> DataLoader:
    g = torch.Generator()
    g.manual_seed(seed)
    ds = TensorDataset(torch.arange(n))
    return DataLoader(ds, batch_size=batch, shuffle=shuffle, generator=g)


def test_shard_bounds_split_evenly():
    assert [shard_bounds(7, r, 3) for r in range(3)] == [(0, 3), (3, 5), (5, 7)]
    assert [shard_bounds(1, r, 3) for r in range(3)] == [(0, 1), (1, 1), (1, 1)]
    assert [shard_bounds(8, r, 2) for r in range(2)] == [(0, 4), (4, 8)]
    # with 4 blocks on 2 ranks a rank's share is the union of its 2 blocks
    for m in range(13):
        blocks = [shard_bounds(m, j, 4) for j in range(4)]
        assert share_bounds(m, 0, 2, blocks=4) == (blocks[0][0], blocks[1][1])
        assert share_bounds(m, 1, 2, blocks=4) == (blocks[2][0], blocks[3][1])
        assert blocks[3][1] == m


@pytest.mark.parametrize("n", [13, 12, 17])
def test_shards_partition_every_global_batch_and_draw_like_one_process(n):
    """Over two epochs the ranks' shares of batch i, concatenated in rank order, are batch i of
    a one-process loader with batch R b; the shuffling generator ends in the same state."""
    world, b = 3, 2
    one = _loader(n, world * b)
    ranks = [shard_loader(_loader(n, b), pad=True, rank=r, world_size=world)
             for r in range(world)]
    for _ in range(2):
        ref = [batch[0].tolist() for batch in one]
        got = [[batch[0].tolist() for batch in loader] for loader in ranks]
        assert all(len(g) == len(ref) == len(loader) for g, loader in zip(got, ranks, strict=True))
        for i, expected in enumerate(ref):
            weights = [loader.batch_sampler.weight(i) for loader in ranks]
            assert sum(weights) == len(expected)
            joined = sum((got[r][i][:weights[r]] for r in range(world)), [])
            assert joined == expected, (i, got)
            for r in range(world):  # padding: one real window of the batch, weight 0
                if weights[r] == 0:
                    assert got[r][i] == expected[:1]
    for loader in ranks:
        assert torch.equal(loader.generator.get_state(), one.generator.get_state())
    # validation shares (no padding) cover every window exactly once
    val = [shard_loader(_loader(n, b, shuffle=False), pad=False, rank=r, world_size=world)
           for r in range(world)]
    seen = sorted(i for loader in val for batch in loader for i in batch[0].tolist())
    assert seen == list(range(n))
    assert isinstance(val[0].batch_sampler, ShardedBatchSampler)


def test_single_process_is_unchanged():
    """Without a process group nothing is wrapped and the trainer has no reductions."""
    from physrnn.nn.recurrent import RecurrentForecaster
    from physrnn.train.loop import Trainer
    from physrnn.train.parallel import make_data_parallel, rank_rng_states, run_on_main

    trainer = Trainer(RecurrentForecaster(2, hidden_size=4))
    train, val = _loader(8, 4), _loader(8, 4, shuffle=False)
    assert make_data_parallel(trainer, train, val) == (train, val)
    assert trainer.parallel is None and rank_rng_states(trainer) == {}
    assert run_on_main(lambda x: x + 1, 1) == 2


# --------------------------------------------------------------------------- two processes
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _windows(n: int, seed: int, dtype: torch.dtype) -> TensorDataset:
    """``n`` noisy oscillator windows: context ``(n, 12, 2)``, target ``(n, 5, 2)``."""
    g = torch.Generator()
    g.manual_seed(seed)
    t = torch.arange(17, dtype=torch.float64) * 0.3
    phase = torch.rand(n, 1, generator=g, dtype=torch.float64) * 6.28
    y = torch.stack([torch.sin(t + phase), torch.cos(1.3 * t + phase)], dim=-1)
    y = (y + 0.05 * torch.randn(y.shape, generator=g, dtype=torch.float64)).to(dtype)
    return TensorDataset(y[:, :12], y[:, 12:])


def _train(dtype: torch.dtype, n_train: int, batch: int, parallel: bool,
           blocks: int | None = None):
    """A small trainer exercising rollouts, truncated BPTT (several backward passes per
    batch), clipping, a schedule and validation; returns (trainer, history). ``blocks``:
    the deterministic mode with that many blocks per global batch."""
    from physrnn.nn.recurrent import RecurrentForecaster
    from physrnn.train.loop import RolloutSchedule, Trainer
    from physrnn.train.parallel import make_data_parallel

    model = RecurrentForecaster(2, hidden_size=8, seed=1, dtype=dtype)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=2)
    trainer = Trainer(model, optimizer=opt, scheduler=sched,
                      rollout_schedule=RolloutSchedule(1, 1, k_max=5), clip_grad_norm=0.5,
                      tbptt=7, seed=3)
    g = torch.Generator()
    g.manual_seed(11)
    train = DataLoader(_windows(n_train, 0, dtype), batch_size=batch, shuffle=True, generator=g)
    val = DataLoader(_windows(7, 1, dtype), batch_size=batch)
    if parallel or blocks:
        train, val = make_data_parallel(trainer, train, val, deterministic=bool(blocks),
                                        blocks=blocks)
    hist = trainer.fit(train, val, epochs=2, progress=False)
    return trainer, hist


#: (dtype, training windows): the last global batch of 8 has 1 window (rank 1 padded) or 3
CASES = [(torch.float64, 25), (torch.float32, 27)]
#: deterministic mode: (dtype, training windows, blocks per global batch)
DET_CASES = [(torch.float32, 25, 2), (torch.float32, 27, 4)]


def _env(rank: int, port: int) -> dict[str, str]:
    return {"RANK": str(rank), "WORLD_SIZE": str(WORLD), "LOCAL_RANK": str(rank),
            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}


def _finish(queue) -> None:
    queue.close()
    queue.join_thread()
    os._exit(0)  # skip interpreter teardown (and destroy_process_group with a dead peer)


def _fit_worker(rank: int, port: int, out_dir: str, queue) -> None:
    os.environ.update(_env(rank, port))
    torch.set_num_threads(1)
    from physrnn import distributed as d

    try:
        d.init_distributed(timeout_s=60)
        res = {}
        for dtype, n in CASES:
            trainer, hist = _train(dtype, n, B_RANK, parallel=True)
            # numpy, not tensors: torch shares tensors through memory the exiting rank frees
            res[str(dtype)] = ({k: v.numpy().copy() for k, v in
                                trainer.model.state_dict().items()}, hist)
        for dtype, n, blocks in DET_CASES:
            trainer, hist = _train(dtype, n, B_RANK, parallel=True, blocks=blocks)
            res[f"det{n}-{blocks}"] = ({k: v.numpy().copy() for k, v in
                                        trainer.model.state_dict().items()}, hist)
        queue.put((rank, "ok", res))
    except BaseException as exc:  # report, don't hang the parent
        queue.put((rank, "error", f"{type(exc).__name__}: {exc}"))
    _finish(queue)


def _job_worker(rank: int, port: int, out_dir: str, queue) -> None:
    os.environ.update(_env(rank, port))
    torch.set_num_threads(1)
    from physrnn import distributed as d
    from physrnn.config import load_config
    from physrnn.runs.train import run_train_job
    from physrnn.train.config import TrainRunConfig

    try:
        d.init_distributed(timeout_s=60)
        cfg = load_config(Path(out_dir) / "train.toml", cls=TrainRunConfig)
        full = run_train_job(cfg, Path(out_dir) / "full2", progress=False)
        part = run_train_job(cfg, Path(out_dir) / "part2", progress=False, stop_after=1)
        done = run_train_job(cfg, Path(out_dir) / "part2", progress=False, resume=True)
        queue.put((rank, "ok", {"full": full, "part": part["status"], "done": done["status"]}))
    except BaseException as exc:
        queue.put((rank, "error", f"{type(exc).__name__}: {exc}"))
    _finish(queue)


def _dying_worker(rank: int, port: int, out_dir: str, queue) -> None:
    os.environ.update(_env(rank, port))
    torch.set_num_threads(1)
    from physrnn import distributed as d
    from physrnn.nn.recurrent import RecurrentForecaster
    from physrnn.train.loop import Trainer
    from physrnn.train.parallel import make_data_parallel

    try:
        d.init_distributed(timeout_s=10)
        trainer = Trainer(RecurrentForecaster(2, hidden_size=8), seed=0)
        g = torch.Generator()
        g.manual_seed(0)
        train = DataLoader(_windows(32, 0, torch.float32), batch_size=4, shuffle=True,
                           generator=g)
        train, _ = make_data_parallel(trainer, train)
        stamp = {}

        def die(tr, rec) -> None:
            if rank == 1:  # a rank that exits abruptly after epoch 1
                queue.put((rank, "dying", None))
                queue.close()
                queue.join_thread()
                os._exit(3)
            stamp["t"] = time.monotonic()

        try:
            trainer.fit(train, epochs=5, callbacks=(die,), progress=False)
            queue.put((rank, "no error", trainer.epoch))
        except d.DistributedError as exc:
            queue.put((rank, "DistributedError", (str(exc), time.monotonic() - stamp["t"],
                                                  trainer.epoch)))
    except BaseException as exc:
        queue.put((rank, "error", f"{type(exc).__name__}: {exc}"))
    _finish(queue)


def _spawn(target, out_dir: Path, timeout: float):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=target, args=(r, port, str(out_dir), queue), daemon=True)
             for r in range(WORLD)]
    for p in procs:
        p.start()
    deadline = time.monotonic() + timeout
    results: dict[int, tuple] = {}
    while len(results) < WORLD and time.monotonic() < deadline:
        try:
            rank, status, res = queue.get(timeout=0.5)
        except Exception:  # noqa: BLE001 - queue.Empty
            if all(not p.is_alive() for p in procs) and queue.empty():
                break
            continue
        if status != "dying":
            results[rank] = (status, res)
        else:
            results.setdefault(rank, (status, res))
    for p in procs:
        p.join(max(0.1, deadline - time.monotonic()))
    alive = [p for p in procs if p.is_alive()]
    for p in alive:
        p.kill()
    return procs, alive, results


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> dict:
    """What the two ranks of _fit_worker trained (spawned once for the module)."""
    procs, alive, results = _spawn(_fit_worker, tmp_path_factory.mktemp("fit"), timeout=120)
    assert not alive and set(results) == {0, 1}, results
    for r in (0, 1):
        assert results[r][0] == "ok", results[r]
    return results


def test_two_gloo_ranks_train_like_one_process_with_twice_the_batch(fitted):
    """2 ranks x batch 4 == 1 process x batch 8 after 2 epochs (rollouts, TBPTT, clipping,
    a padded or uneven last batch, sharded validation), to rounding; ranks stay identical."""
    results = fitted
    for dtype, n in CASES:
        rtol, atol = (1e-10, 1e-12) if dtype == torch.float64 else (1e-5, 1e-6)
        ref, ref_hist = _train(dtype, n, WORLD * B_RANK, parallel=False)
        s0, h0 = (_tensors(x) for x in results[0][1][str(dtype)])
        s1, _ = (_tensors(x) for x in results[1][1][str(dtype)])
        moved = 0.0
        for k, v in ref.model.state_dict().items():
            assert torch.equal(s0[k], s1[k]), f"ranks differ in {k}"
            assert torch.allclose(s0[k], v, rtol=rtol, atol=atol), \
                (dtype, k, float((s0[k] - v).abs().max()))
            moved = max(moved, float((v - _initial(k, dtype)).abs().max()))
        assert moved > 1e-2  # not equal by accident: training moved the parameters
        for key in ("train_loss", "val_loss", "grad_norm", "lr"):
            np.testing.assert_allclose(h0[key], ref_hist[key], rtol=max(rtol, 1e-9), err_msg=key)
        np.testing.assert_array_equal(h0["epoch"], [1, 2])


def test_deterministic_mode_on_two_ranks_is_bit_identical_to_one_process(fitted):
    """deterministic=True: 2 ranks x batch 4 == 1 process x batch 8 bit for bit (float32, a
    padded and an uneven last batch, 2 and 4 blocks), and the mode does train."""
    results = fitted
    for dtype, n, blocks in DET_CASES:
        ref, ref_hist = _train(dtype, n, WORLD * B_RANK, parallel=False, blocks=blocks)
        got, hist = (_tensors(x) for x in results[0][1][f"det{n}-{blocks}"])
        for k, v in ref.model.state_dict().items():
            assert torch.equal(got[k], v), (n, blocks, k, float((got[k] - v).abs().max()))
        for key in ("train_loss", "grad_norm"):
            np.testing.assert_array_equal(np.asarray(hist[key]), ref_hist[key], err_msg=key)
        plain, _ = _train(dtype, n, WORLD * B_RANK, parallel=False)
        for k, v in plain.model.state_dict().items():  # the same run, to rounding
            assert torch.allclose(v, got[k], rtol=1e-5, atol=1e-6), k


def _tensors(d: dict) -> dict:
    return {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in d.items()}


def _initial(name: str, dtype: torch.dtype) -> torch.Tensor:
    from physrnn.nn.recurrent import RecurrentForecaster

    return RecurrentForecaster(2, hidden_size=8, seed=1, dtype=dtype).state_dict()[name]


def test_a_rank_that_dies_makes_the_other_raise_a_distributed_error(tmp_path):
    """Rank 1 exits abruptly after epoch 1; rank 0's next gradient all-reduce raises a clear
    DistributedError within the process group's timeout (10 s) instead of hanging."""
    t0 = time.monotonic()
    procs, alive, results = _spawn(_dying_worker, tmp_path, timeout=90)
    assert not alive, f"a rank still runs: {results}"
    assert procs[1].exitcode == 3
    status, res = results[0]
    assert status == "DistributedError", results
    message, waited, epoch = res
    assert "rank 0 of 2" in message and "another rank died" in message, message
    assert epoch == 1 and waited < 15, (waited, epoch)
    assert time.monotonic() - t0 < 90


@pytest.fixture(scope="module")
def job_config(tmp_path_factory) -> Path:
    from physrnn.data.hdf5 import write_dataset

    root = tmp_path_factory.mktemp("ddp-job")
    rng = np.random.default_rng(0)
    t = np.arange(120) * 0.05
    phase = rng.uniform(0, 2 * np.pi, size=(8, 1))
    y = np.stack([np.sin(t + phase), np.cos(t + phase)], axis=-1)
    write_dataset(root / "data.h5", t=t, y=y, meta={"system": "oscillator", "dt": 0.05},
                  splits={"train": [0, 1, 2, 3, 4], "val": [5, 6], "test": [7]})
    text = ('[data]\npath = "{data}"\ncard = ""\ncontext = 20\nhorizon = 5\nstride = 7\n'
            'batch_size = {batch}\n[model]\nhidden_size = 6\ndtype = "float64"\n'
            '[train]\nepochs = 2\nrollout_start_epoch = 1\nrollout_end_epoch = 1\n'
            'rollout_k_max = 5\n[eval]\nn_test = 1\nbaselines = []\nfree_run_steps = 0\n'
            'horizon_lyapunov = 0.5\n[run]\nthreads = 1\ncheckpoint_every = 1\nseed = 2\n')
    (root / "train.toml").write_text(text.format(data=root / "data.h5", batch=B_RANK))
    (root / "train1.toml").write_text(text.format(data=root / "data.h5", batch=WORLD * B_RANK))
    return root


@pytest.mark.slow
def test_train_job_on_two_ranks_matches_one_process_and_resumes_exactly(job_config):
    """run_train_job on 2 gloo ranks: rank 0 alone writes; the parameters match a one-process
    run with twice the batch; a run stopped after epoch 1 and resumed on 2 ranks equals the
    uninterrupted 2-rank run bit for bit (every rank's RNG stream is checkpointed)."""
    from physrnn.config import load_config
    from physrnn.runs.records import load_checkpoint, read_record
    from physrnn.runs.train import run_train_job
    from physrnn.train.config import TrainRunConfig

    procs, alive, results = _spawn(_job_worker, job_config, timeout=240)
    assert not alive and set(results) == {0, 1}, results
    for r in (0, 1):
        assert results[r][0] == "ok", results[r]
        assert results[r][1]["part"] == "interrupted" and results[r][1]["done"] == "completed"
    assert "table" in results[0][1]["full"] and "table" not in results[1][1]["full"]
    one = run_train_job(load_config(job_config / "train1.toml", cls=TrainRunConfig),
                        job_config / "one", progress=False)
    assert one["status"] == "completed"
    two = load_checkpoint(job_config / "full2" / "checkpoint.pt")
    ref = load_checkpoint(job_config / "one" / "checkpoint.pt")["trainer"]["model"]
    assert two["world_size"] == 2 and len(two["rank_rng_states"]) == 2
    for k, v in ref.items():
        assert torch.allclose(two["trainer"]["model"][k], v, rtol=1e-10, atol=1e-12), k
    resumed = load_checkpoint(job_config / "part2" / "checkpoint.pt")["trainer"]["model"]
    for k, v in two["trainer"]["model"].items():
        assert torch.equal(resumed[k], v), k
    rec = read_record(job_config / "full2" / "record.h5")
    assert rec.attrs["status"] == "completed" and len(rec.history["train_loss"]) == 2
    assert not list((job_config / "full2").glob(".*.tmp"))
