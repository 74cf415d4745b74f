"""physrnn.distributed: launcher environments, per-rank seeds, reductions, a dying rank."""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
import time

import pytest
import torch

from physrnn.distributed import (
    DistInfo,
    all_reduce_max,
    all_reduce_mean,
    all_reduce_sum,
    any_rank,
    barrier,
    broadcast_object,
    dist_info_from_env,
    expand_nodelist,
    init_distributed,
    is_main,
    main_only,
    rank_seed,
    resolve_device,
)
from physrnn.errors import ConfigError


# --------------------------------------------------------------------------- environment
def test_single_process_without_launcher():
    info = dist_info_from_env({})
    assert info == DistInfo(backend=info.backend) and not info.is_distributed and info.is_main
    assert info.source == "single" and info.backend == "gloo"  # no CUDA here
    assert init_distributed(env={}) == info  # a no-op


def test_torchrun_environment():
    env = {"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "MASTER_ADDR": "n01",
           "MASTER_PORT": "29400"}
    info = dist_info_from_env(env, backend="gloo")
    assert (info.rank, info.world_size, info.local_rank) == (3, 8, 1)
    assert (info.master_addr, info.master_port, info.source) == ("n01", 29400, "torchrun")
    # torchrun's variables win over SLURM's (srun torchrun ...)
    slurm = {"SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_NODELIST": "x[1-2]"}
    assert dist_info_from_env({**slurm, **env}).source == "torchrun"
    assert dist_info_from_env({**env, "PHYSRNN_DISTRIBUTED": "0"}).world_size == 1


def test_slurm_environment_and_nodelists():
    env = {"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1",
           "SLURM_JOB_NODELIST": "gpu[07-10]", "SLURM_JOB_ID": "123456"}
    info = dist_info_from_env(env)
    assert (info.rank, info.world_size, info.local_rank) == (5, 8, 1)
    assert info.master_addr == "gpu07" and info.master_port == 20000 + 123456 % 20000
    assert info.source == "slurm"
    # a step's own task count and node list win; MASTER_* override
    step = {**env, "SLURM_STEP_NUM_TASKS": "6", "SLURM_STEP_NODELIST": "b,c"}
    assert dist_info_from_env(step).world_size == 6
    assert dist_info_from_env(step).master_addr == "b"
    assert dist_info_from_env({**env, "MASTER_ADDR": "h", "MASTER_PORT": "4000"}).master_port \
        == 4000
    assert expand_nodelist("node[01-04]") == ["node01", "node02", "node03", "node04"]
    assert expand_nodelist("a,b") == ["a", "b"]
    assert expand_nodelist("gpu[1,3-4],cpu7") == ["gpu1", "gpu3", "gpu4", "cpu7"]
    assert expand_nodelist("r[1-2]n[8-9]") == ["r1n8", "r1n9", "r2n8", "r2n9"]
    assert expand_nodelist("node[099-101]-ib") == ["node099-ib", "node100-ib", "node101-ib"]


@pytest.mark.parametrize("env, match", [
    ({"RANK": "2", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "h",
      "MASTER_PORT": "1"}, "rank 2 is not below the world size 2"),
    ({"RANK": "0"}, "WORLD_SIZE not set"),
    ({"RANK": "x", "WORLD_SIZE": "2"}, "RANK='x' is not an integer"),
    ({"RANK": "0", "WORLD_SIZE": "0"}, "WORLD_SIZE=0 must be >= 1"),
    ({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_PORT": "1"},
     "no master address"),
    ({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "h"},
     "no MASTER_PORT"),
    ({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "h",
      "MASTER_PORT": "70000"}, "not a TCP port"),
    ({"SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_NODELIST": "n[1-2"}, "unbalanced"),
    ({"SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_NODELIST": "n[3-1]"}, "range"),
])
def test_inconsistent_environment_is_a_config_error(env, match):
    with pytest.raises(ConfigError, match=match):
        dist_info_from_env(env)


def test_unknown_or_unavailable_backend():
    with pytest.raises(ConfigError, match="unknown"):
        dist_info_from_env({}, backend="mpi")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="needs CUDA"):
            dist_info_from_env({}, backend="nccl")


# --------------------------------------------------------------------------- one process
def test_rank_seeds_are_distinct_and_rank0_keeps_the_seed():
    assert rank_seed(7, 0) == 7
    seeds = {rank_seed(7, r) for r in range(64)}
    assert len(seeds) == 64 and all(0 <= s < 2**63 for s in seeds)
    assert rank_seed(7, 3) == rank_seed(7, 3) and rank_seed(8, 3) != rank_seed(7, 3)
    from physrnn.seeding import derive_seed

    assert rank_seed(7, 1) != derive_seed(7, 1)  # no collision with the trainer's streams


def test_single_process_reductions_are_identities(tmp_path):
    t = torch.tensor([1, 2, 3])
    out = all_reduce_sum(t)
    assert torch.equal(out, t) and out is not t
    assert all_reduce_mean(t).dtype == torch.float64
    assert all_reduce_mean(2.5) == 2.5 and all_reduce_sum(3) == 3
    assert all_reduce_mean({"a": 1.0, "b": 2}) == {"a": 1.0, "b": 2.0}
    assert all_reduce_max({"a": torch.tensor(1.0)})["a"].item() == 1.0
    assert any_rank(True) and not any_rank(False)
    assert broadcast_object({"x": 1}) == {"x": 1}
    barrier()
    assert is_main()
    with pytest.raises(TypeError):
        all_reduce_sum("text")

    @main_only
    def write(path):
        path.write_text("x")
        return path

    assert write(tmp_path / "f") == tmp_path / "f"


def test_resolve_device_unchanged_without_a_process_group():
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available()
                                                  else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA"):
            resolve_device("cuda:1")


# --------------------------------------------------------------------------- two processes
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(rank: int, world: int, port: int) -> dict[str, str]:
    return {"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}


def _worker(rank: int, world: int, port: int, out_dir: str, queue) -> None:
    os.environ.update(_env(rank, world, port))
    torch.set_num_threads(1)
    from physrnn import distributed as d

    try:
        info = d.init_distributed(timeout_s=20)
        res = {
            "info": (info.rank, info.world_size, info.backend, info.source),
            "sum": d.all_reduce_sum(torch.tensor([rank + 1.0, 10.0])).tolist(),
            "mean": d.all_reduce_mean({"loss": float(rank), "n": rank + 1}),
            "max": d.all_reduce_max(rank),
            "int_sum": d.all_reduce_sum(rank + 1),
            "any": d.any_rank(rank == 1),
            "bcast": d.broadcast_object({"from": rank}),
            "seed": d.rank_seed(11),
            "device": str(d.resolve_device("auto")),
            "main": d.is_main(),
        }

        @d.main_only
        def write() -> None:
            with open(os.path.join(out_dir, "written_by"), "a") as fh:
                fh.write(str(rank))

        write()
        d.barrier()
        if rank == 1:  # then a rank dies without a word ...
            queue.put((rank, "ok", res))
            queue.close()
            queue.join_thread()
            os._exit(17)
        t0 = time.monotonic()  # ... and the other gets a clear error, not a hang
        try:
            d.all_reduce_sum(torch.ones(3))
            res["death"] = ("no error", time.monotonic() - t0)
        except d.DistributedError as exc:
            res["death"] = (str(exc), time.monotonic() - t0)
        queue.put((rank, "ok", res))
    except BaseException as exc:  # report, don't hang the parent
        queue.put((rank, "error", f"{type(exc).__name__}: {exc}"))
    queue.close()
    queue.join_thread()
    os._exit(0)  # skip destroy_process_group with a dead peer


def _hanging_worker(rank: int, world: int, port: int, out_dir: str, queue) -> None:
    os.environ.update(_env(rank, world, port))
    torch.set_num_threads(1)
    from physrnn import distributed as d

    d.init_distributed(timeout_s=2)
    d.barrier()
    if rank == 1:
        time.sleep(30)  # alive but never joins the collective
        os._exit(17)
    t0 = time.monotonic()
    try:
        d.all_reduce_sum(torch.ones(3))
        queue.put((rank, "no error", time.monotonic() - t0))
    except d.DistributedError as exc:
        queue.put((rank, str(exc), time.monotonic() - t0))
    except BaseException as exc:
        queue.put((rank, f"wrong type {type(exc).__name__}: {exc}", time.monotonic() - t0))
    queue.close()
    queue.join_thread()  # flush before os._exit
    os._exit(0)  # skip destroy_process_group with a dead peer


def _spawn(target, tmp_path, timeout: float = 60.0, grace: float = 2.0):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=target, args=(r, 2, port, str(tmp_path), queue), daemon=True)
             for r in range(2)]
    for p in procs:
        p.start()
    deadline = time.monotonic() + timeout
    procs[0].join(timeout)
    for p in procs[1:]:  # the others get `grace` seconds more after rank 0 is done
        p.join(max(0.1, min(grace, deadline - time.monotonic())))
    alive = [p for p in procs if p.is_alive()]
    for p in alive:
        p.kill()
    results = []
    while not queue.empty():
        results.append(queue.get())
    return procs, alive, results


def test_two_gloo_ranks_reduce_broadcast_write_once_and_survive_a_death(tmp_path):
    """Two gloo ranks: reductions, broadcast, seeds, rank-0-only writing; then rank 1 dies
    without a word and rank 0 gets a DistributedError at once instead of hanging."""
    procs, alive, results = _spawn(_worker, tmp_path)
    assert not alive, f"ranks still running after the timeout: {results}"
    by_rank = {r: (status, res) for r, status, res in results}
    assert set(by_rank) == {0, 1}, results
    for r in (0, 1):
        status, res = by_rank[r]
        assert status == "ok", res
        assert res["info"] == (r, 2, "gloo", "torchrun")
        assert res["sum"] == [3.0, 20.0]
        assert res["mean"] == {"loss": 0.5, "n": 1.5}
        assert res["max"] == 1 and res["int_sum"] == 3 and res["any"] is True
        assert res["bcast"] == {"from": 0}
        assert res["device"] == "cpu" and res["main"] == (r == 0)
    assert by_rank[0][1]["seed"] == 11 and by_rank[1][1]["seed"] == rank_seed(11, 1)
    assert (tmp_path / "written_by").read_text() == "0"  # rank 0 only
    assert procs[1].exitcode == 17 and procs[0].exitcode == 0
    message, waited = by_rank[0][1]["death"]
    assert "another rank died" in message and "rank 0 of 2" in message, message
    assert waited < 5


def test_a_hanging_rank_makes_the_other_exit_with_a_clear_error(tmp_path):
    """A rank that is alive but never joins: the other raises DistributedError after the
    collective timeout (2 s) instead of waiting forever."""
    t0 = time.monotonic()
    procs, alive, results = _spawn(_hanging_worker, tmp_path, timeout=45, grace=0.1)
    assert procs[0].exitcode == 0, "the surviving rank hung"
    (rank, message, waited), = results
    assert rank == 0
    assert "another rank died" in message and "rank 0 of 2" in message, message
    assert waited < 10 and time.monotonic() - t0 < 45
