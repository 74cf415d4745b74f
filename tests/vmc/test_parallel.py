"""Data-parallel VMC (physrnn.vmc.parallel): 1 vs 2 (and 4) gloo ranks, a dying rank."""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import socket
import time
import traceback
from typing import Any

import numpy as np
import pytest
import torch

from physrnn.errors import NonFiniteError
from physrnn.vmc import VMC, energy_stats, local_energies
from physrnn.vmc.parallel import (
    Layout,
    combine_stats,
    make_layout,
    split_sizes,
    stats_row,
    stream_seed,
)

N_SITES, HIDDEN, N_TOTAL, STEPS = 10, 8, 64, 4


# --------------------------------------------------------------------------- one process
def test_combined_block_statistics_equal_the_direct_ones():
    g = torch.Generator().manual_seed(5)
    x = 3.0 * torch.randn(101, generator=g, dtype=torch.float64) - 7.0
    for cuts in ([0, 101], [0, 30, 70, 101], [0, 1, 2, 101]):
        rows = torch.stack([stats_row(x[a:b]) for a, b in zip(cuts, cuts[1:], strict=False)])
        got, ref = combine_stats(rows), energy_stats(x)
        assert got.n_samples == 101
        for key in ("mean", "error", "variance"):
            assert math.isclose(getattr(got, key), getattr(ref, key), rel_tol=1e-12)
    z = torch.randn(40, generator=g, dtype=torch.complex128)
    got = combine_stats(torch.stack([stats_row(z[:13]), stats_row(z[13:]),
                                     stats_row(z[:0])]))
    ref = energy_stats(z)
    assert math.isclose(got.imag, ref.imag, rel_tol=1e-12)
    assert math.isclose(got.variance, ref.variance, rel_tol=1e-12)
    with pytest.raises(NonFiniteError, match=r"block\(s\) \[1\]"):
        combine_stats(torch.stack([stats_row(x), stats_row(None, 5)]))


def test_layout_blocks_and_streams():
    assert split_sizes(10, 4) == [3, 3, 2, 2] and sum(split_sizes(7, 7)) == 7
    lay = Layout(n_samples=10, world_size=2, rank=1, blocks=4)
    assert list(lay.local_blocks()) == [2, 3] and lay.n_local == 4 and lay.deterministic
    assert list(Layout(10, 2, 1).local_blocks()) == [1] and Layout(10, 2, 1).n_local == 5
    assert make_layout(64, False, None) is None  # one process: the plain path
    assert make_layout(64, True, 3).n_blocks == 3
    with pytest.raises(ValueError, match="only used with deterministic"):
        make_layout(64, False, 2)
    with pytest.raises(ValueError, match="below the number of blocks"):
        make_layout(2, True, 4)
    seeds = {stream_seed(1, k, b) for k in range(5) for b in range(5)}
    assert len(seeds) == 25 and stream_seed(1, 0, 0) != stream_seed(1, 0, 0, tag=1)


def test_one_process_deterministic_run_is_reproducible_and_close_to_the_plain_one():
    from physrnn.spins.chains import tfim_chain

    op = tfim_chain(N_SITES, h=1.0).operator
    out = []
    for det in (True, True, False):
        from physrnn.wavefunctions import RNNWavefunction1D

        model = RNNWavefunction1D(N_SITES, hidden_size=HIDDEN, seed=0)
        vmc = VMC(op, model, n_samples=N_TOTAL, seed=3, deterministic=det,
                  blocks=3 if det else None)
        vmc.run(2, progress=False)
        out.append((vmc, torch.cat([p.detach().reshape(-1) for p in model.parameters()])))
    (a, pa), (b, pb), (c, _) = out
    assert a.layout is not None and c.layout is None
    assert torch.equal(pa, pb)
    assert [r.__dict__ | {"time_s": 0} for r in a.history] == \
        [r.__dict__ | {"time_s": 0} for r in b.history]
    ea, ec = a.history[0], c.history[0]  # same state, different samples
    assert abs(ea.energy - ec.energy) < 5 * math.hypot(ea.error, ec.error)
    est = a.estimate(300)
    assert est.n_samples == 300 and math.isfinite(est.mean)


# --------------------------------------------------------------------------- several processes
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _flat(model: torch.nn.Module) -> bytes:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy().tobytes()


def _train(name: str, world: int, det: bool | None = None,
           steps: int = STEPS) -> dict[str, Any]:
    """One scenario: a fresh model (seed 0), ``N_TOTAL`` samples in total, ``steps`` steps;
    ``det`` (default: a name ending in ``_det``) uses the deterministic mode, ``world`` blocks."""
    from physrnn.spins.chains import heisenberg_chain, tfim_chain
    from physrnn.vmc.annealing import AnnealingSchedule
    from physrnn.vmc.sr import SRStep
    from physrnn.wavefunctions import RNNWavefunction1D

    det = name.endswith("_det") if det is None else det
    complex_ = "complex" in name
    op = (heisenberg_chain(N_SITES) if complex_ else tfim_chain(N_SITES, h=1.0)).operator
    model = RNNWavefunction1D(N_SITES, hidden_size=HIDDEN, phase=complex_, seed=0)
    kw: dict[str, Any] = {"n_samples": N_TOTAL, "seed": 7, "check_sync": 1}
    if det:
        kw.update(deterministic=True, blocks=world)
    if name.startswith("sr"):
        mode = "sr" if name.startswith("sr_param") else "minsr"
        kw.update(sr=SRStep(diag_shift=1e-2, mode=mode),
                  optimizer=torch.optim.SGD(model.parameters(), lr=0.05))
    if name.startswith("anneal"):
        kw.update(annealing=AnnealingSchedule(T0=0.5, n_anneal=3))
    vmc = VMC(op, model, **kw)
    vmc.run(steps, progress=False)
    est = vmc.estimate(200)
    return {"records": [tuple(r.__dict__.values())[:-1] for r in vmc.history],
            "params": _flat(model), "free_energy": vmc.free_energy,
            "estimate": (est.mean, est.error, est.n_samples)}


SCENARIOS = ("adam", "adam_det", "sr_det", "sr_param", "anneal_det", "sr_complex_det")


def _worker(rank: int, world: int, port: int, mode: str, queue) -> None:
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    from physrnn import distributed as d

    out: dict[str, Any] = {}
    try:
        names = SCENARIOS if world == 2 else ("adam_det", "sr_det")
        if mode == "reference":  # one process: deterministic runs with `world` blocks
            os.environ.update({"RANK": "0", "WORLD_SIZE": "1"})
            for name in names:
                out[name] = _train(name, world, det=name != "adam")
            if world == 2:
                out["adam_blocks"] = _train("adam", world, det=True)
        elif mode == "train":
            d.init_distributed(timeout_s=60)
            for name in names:
                out[name] = _train(name, world)
            if world == 2:
                out.update(_failures(rank))
                try:  # last: rank 1 raises mid-run, reports, and its process ends
                    out["death"] = _dying(rank, "exit", init=False)
                except RuntimeError as exc:
                    out["death"] = {"error": str(exc)}
                    queue.put((rank, "ok", out))
                    queue.close()
                    queue.join_thread()
                    os._exit(1)
        else:
            out.update(_dying(rank, mode))
        queue.put((rank, "ok", out))
    except BaseException as exc:  # report, don't hang the parent
        queue.put((rank, "error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
    queue.close()
    queue.join_thread()
    os._exit(0)  # skip destroy_process_group with a peer that may be gone


def _failures(rank: int) -> dict[str, Any]:
    """Mismatched settings, diverged parameters and non-finite energies on one rank only."""
    from physrnn import distributed as d
    from physrnn.spins.chains import tfim_chain
    from physrnn.vmc import parallel
    from physrnn.wavefunctions import RNNWavefunction1D

    op = tfim_chain(N_SITES, h=1.0).operator
    res: dict[str, Any] = {}
    model = RNNWavefunction1D(N_SITES, hidden_size=HIDDEN, seed=rank)  # different inits ...
    vmc = VMC(op, model, n_samples=N_TOTAL)
    res["synced_at_start"] = parallel.parameters_in_sync(model)  # ... made equal
    if rank == 1:
        with torch.no_grad():
            next(model.parameters()).view(-1)[0] += 1e-6
    res["in_sync_after_change"] = parallel.parameters_in_sync(model)
    try:
        VMC(op, model, n_samples=N_TOTAL + rank)
        res["mismatch"] = "no error"
    except d.DistributedError as exc:
        res["mismatch"] = str(exc)
    vmc = VMC(op, RNNWavefunction1D(N_SITES, hidden_size=HIDDEN), n_samples=N_TOTAL)
    if rank == 1:
        def broken(*args: Any, **kwargs: Any) -> torch.Tensor:
            raise NonFiniteError("1 of 32 local energies are NaN or infinite")

        parallel.local_energies = broken
    try:
        vmc.step()
        res["nonfinite"] = "no error"
    except NonFiniteError as exc:
        res["nonfinite"] = str(exc)
    finally:
        parallel.local_energies = local_energies
    return res


def _dying(rank: int, mode: str, init: bool = True) -> dict[str, Any]:
    """Rank 1 raises during step 3 (and its process exits) or stops answering ("hang");
    rank 0 keeps stepping and must get a DistributedError."""
    from physrnn import distributed as d
    from physrnn.spins.chains import tfim_chain
    from physrnn.wavefunctions import RNNWavefunction1D

    if init:
        d.init_distributed(timeout_s=5 if mode == "hang" else 20)
    vmc = VMC(tfim_chain(N_SITES, h=1.0).operator,
              RNNWavefunction1D(N_SITES, hidden_size=HIDDEN), n_samples=N_TOTAL)
    d.barrier()
    for k in range(50):
        if rank == 1 and k == 2:
            if mode == "hang":
                time.sleep(60)
            raise RuntimeError("rank 1 fails in the middle of a run")  # uncaught: exits
        t0 = time.monotonic()
        try:
            vmc.step()
        except d.DistributedError as exc:
            return {"error": str(exc), "waited": time.monotonic() - t0, "step": k}
    return {"error": "no error", "step": 50}


def _spawn(world: int, mode: str, timeout: float, *, reference: bool = False,
           need: int | None = None) -> list:
    """Start ``world`` ranks (and a one-process reference); collect their reports until
    ``need`` of them (default: all) arrived or ``timeout`` s passed, then kill the rest."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_worker, args=(r, world, port, mode, queue), daemon=True)
             for r in range(world)]
    if reference:
        procs.append(ctx.Process(target=_worker, args=(-1, world, port, "reference", queue),
                                 daemon=True))
    for p in procs:
        p.start()
    deadline = time.monotonic() + timeout
    results = []
    need = len(procs) if need is None else need
    while len(results) < need and time.monotonic() < deadline:
        try:
            results.append(queue.get(timeout=0.5))
        except Exception:  # queue.Empty
            if not any(p.is_alive() for p in procs) and queue.empty():
                break
    for p in procs:
        p.join(max(0.1, min(2.0, deadline - time.monotonic())))
        if p.is_alive():
            p.kill()
    return results


def _by_rank(results: list, expect: set[int]) -> dict[int, dict[str, Any]]:
    by = {}
    for rank, status, res in results:
        assert status == "ok", f"rank {rank}: {res}"
        by[rank] = res
    assert set(by) == expect, results
    return by


def _params(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype=np.float32)


def test_two_ranks_equal_one_process():
    """2 gloo ranks vs 1 process with the same total samples: deterministic runs (Adam, minSR,
    SR, annealing, a complex model) bit-identical; the default mode the same estimator."""
    t0 = time.monotonic()
    by = _by_rank(_spawn(2, "train", timeout=150, reference=True), {-1, 0, 1})
    ref, r0, r1 = by[-1], by[0], by[1]
    for name in SCENARIOS:  # parameters identical on the ranks, records too
        assert r0[name]["params"] == r1[name]["params"], name
        assert r0[name]["records"] == r1[name]["records"], name
        assert r0[name]["estimate"] == r1[name]["estimate"], name
    for name in ("adam_det", "sr_det", "anneal_det", "sr_complex_det"):
        assert r0[name]["params"] == ref[name]["params"], f"{name}: not bit-identical"
        assert r0[name]["records"] == ref[name]["records"], name
        assert r0[name]["free_energy"] == ref[name]["free_energy"], name
        assert r0[name]["estimate"] == ref[name]["estimate"], name
        assert r0[name]["records"][0][2] > 0  # error bars of the combined statistics
    # default mode, 2 ranks = the deterministic 1-process run with 2 blocks (same samples,
    # sums in another order) ...
    np.testing.assert_allclose(_params(r0["adam"]["params"]),
                               _params(ref["adam_blocks"]["params"]), rtol=1e-5, atol=1e-6)
    for got, want in zip(r0["adam"]["records"], ref["adam_blocks"]["records"], strict=True):
        np.testing.assert_allclose(got[1:6], want[1:6], rtol=1e-9)
    # ... and within error bars of the 1-process run with 2x the samples of one rank
    for got, want in zip(r0["adam"]["records"], ref["adam"]["records"], strict=True):
        _, e, err, var, _, _, _ = got
        assert abs(e - want[1]) < 5 * math.hypot(err, want[2]), (got, want)
        assert math.isclose(err, math.sqrt(var / N_TOTAL), rel_tol=1e-12)  # total count
    assert r0["adam"]["estimate"][2] == 200
    # SR with the (p, p) matrix, default mode across 2 ranks vs one process with the same
    # samples (2 blocks): equal to float tolerance
    np.testing.assert_allclose(_params(r0["sr_param"]["params"]),
                               _params(ref["sr_param"]["params"]), rtol=1e-6, atol=1e-7)
    for rank in (0, 1):
        f = by[rank]
        assert f["synced_at_start"] and not f["in_sync_after_change"]
        assert "settings differ" in f["mismatch"], f["mismatch"]
        assert "NaN or infinite" in f["nonfinite"] and "[1]" in f["nonfinite"]
    assert "n_samples: 65 here, 64 on rank 0" in by[1]["mismatch"], by[1]["mismatch"]
    # a rank that raises mid-run and exits: the other gets a DistributedError, no hang
    assert by[1]["death"]["error"] == "rank 1 fails in the middle of a run"
    death = by[0]["death"]
    assert death["step"] == 2, death
    assert "another rank died" in death["error"] and "rank 0 of 2" in death["error"], death
    assert death["waited"] < 30, death
    assert time.monotonic() - t0 < 150


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["exit", "hang"])
def test_a_dying_rank_stops_the_other_with_a_clear_error(mode):
    """Rank 1 raises in step 3 and exits, or stops answering: rank 0 raises DistributedError
    within the timeout instead of hanging (the first case also ends
    test_two_ranks_equal_one_process)."""
    t0 = time.monotonic()
    results = _spawn(2, mode, timeout=60, need=2 if mode == "exit" else 1)
    by = {rank: (status, res) for rank, status, res in results}
    if mode == "exit":
        assert by[1][0] == "error" and "rank 1 fails" in by[1][1], by
    status, res = by[0]
    assert status == "ok", res
    assert res["step"] == 2, res
    assert "another rank died" in res["error"] and "rank 0 of 2" in res["error"], res
    assert res["waited"] < (15 if mode == "hang" else 30)
    assert time.monotonic() - t0 < 60


@pytest.mark.slow
def test_four_ranks_equal_one_process():
    """4 gloo ranks (oversubscribed on 2 cores) vs 1 process with 4 blocks: bit-identical."""
    by = _by_rank(_spawn(4, "train", timeout=400, reference=True), {-1, 0, 1, 2, 3})
    for name in ("adam_det", "sr_det"):
        for rank in range(4):
            assert by[rank][name]["params"] == by[-1][name]["params"], (name, rank)
            assert by[rank][name]["records"] == by[-1][name]["records"], (name, rank)
