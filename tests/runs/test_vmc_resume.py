"""Resuming a VMC checkpoint on another number of processes.

A deterministic run (``vmc.deterministic = true``, ``vmc.blocks = 2``) stopped on one process and
resumed on two (and the reverse) ends with the parameters, history and final energy of an
uninterrupted one-process run, bit for bit. Runs that depend on the number of processes
(non-deterministic VMC, deterministic VMC without ``vmc.blocks``) are still refused, and so is a
number of processes that does not divide ``vmc.blocks``. Two processes are started as
subprocesses with the variables torchrun sets (gloo on localhost).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from physrnn import distributed
from physrnn.config import to_dict
from physrnn.errors import ConfigError
from physrnn.runs import vmc as job
from physrnn.runs.records import load_checkpoint, read_record, save_checkpoint
from physrnn.runs.vmc import run_vmc_job
from physrnn.vmc.config import load_vmc_config
from tests.helpers.dist import deterministic_tfim, free_port

REPO = Path(__file__).resolve().parents[2]

STEPS, HALF = 6, 3
CONFIG = deterministic_tfim(n_steps=STEPS, checkpoint_every=100, seed=7)

#: Stop a run after HALF steps on every rank of a (possibly multi-process) job.
STOP_EARLY = """
import sys
from physrnn.vmc.config import load_vmc_config
from physrnn.distributed import cleanup, init_distributed
from physrnn.runs.vmc import run_vmc_job
init_distributed()
try:
    s = run_vmc_job(load_vmc_config(sys.argv[1]), sys.argv[2], progress=False,
                    stop_after=int(sys.argv[3]))
finally:
    cleanup()
assert s["status"] == "interrupted" and s["n_steps"] == int(sys.argv[3]), s
"""



def _env(rank: int | None = None, port: int = 0) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "SLURM_NTASKS", "SLURM_PROCID",
                        "PHYSRNN_DEBUG")}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PHYSRNN_DISTRIBUTED="1")
    if rank is not None:
        env.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    return env


def _two_ranks(args: list[str]) -> list[tuple[str, str]]:
    """Run ``python args...`` as ranks 0 and 1 of a two-process job; both must succeed."""
    port = free_port()
    procs = [subprocess.Popen([sys.executable, *args], cwd=REPO, env=_env(rank, port),
                              text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for rank in (0, 1)]
    try:
        outputs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for rank, (p, (_, err)) in enumerate(zip(procs, outputs, strict=True)):
        assert p.returncode == 0, f"rank {rank}: {err}"
    return outputs


def _assert_same_run(a: Path, b: Path) -> None:
    pa = load_checkpoint(a / "checkpoint.pt")["driver"]
    pb = load_checkpoint(b / "checkpoint.pt")["driver"]
    assert pa["step_count"] == pb["step_count"] == STEPS
    assert pa["model"].keys() == pb["model"].keys()
    for k in pa["model"]:
        assert torch.equal(pa["model"][k], pb["model"][k]), k
    ha, hb = read_record(a / "record.h5").history, read_record(b / "record.h5").history
    np.testing.assert_array_equal(ha["step"], hb["step"])
    np.testing.assert_array_equal(ha["energy"], hb["energy"])
    sa = json.loads((a / "summary.json").read_text())
    sb = json.loads((b / "summary.json").read_text())
    assert sa["status"] == sb["status"] == "completed"
    assert sa["energy"] == sb["energy"] and sa["energy_error"] == sb["energy_error"]


@pytest.fixture
def cfg_file(tmp_path: Path) -> Path:
    path = tmp_path / "det.toml"
    path.write_text(CONFIG)
    return path


def test_deterministic_run_stopped_on_one_process_resumes_exactly_on_two(tmp_path, cfg_file):
    cfg = load_vmc_config(cfg_file)
    full = run_vmc_job(cfg, tmp_path / "full", progress=False)
    assert full["status"] == "completed" and full["n_steps"] == STEPS
    part = run_vmc_job(cfg, tmp_path / "r", progress=False, stop_after=HALF)
    assert part["status"] == "interrupted"
    state = load_checkpoint(tmp_path / "r" / "checkpoint.pt")
    assert state["world_size"] == 1 and state["driver"]["step_count"] == HALF
    _two_ranks(["-m", "physrnn.cli", "vmc", str(cfg_file), "--out", str(tmp_path / "r"),
                "--resume", "--quiet"])
    assert load_checkpoint(tmp_path / "r" / "checkpoint.pt")["world_size"] == 2
    _assert_same_run(tmp_path / "full", tmp_path / "r")


@pytest.mark.slow
def test_deterministic_run_stopped_on_two_processes_resumes_exactly_on_one(tmp_path, cfg_file,
                                                                          caplog):
    cfg = load_vmc_config(cfg_file)
    _two_ranks(["-c", STOP_EARLY, str(cfg_file), str(tmp_path / "r"), str(HALF)])
    state = load_checkpoint(tmp_path / "r" / "checkpoint.pt")
    assert state["world_size"] == 2 and state["driver"]["step_count"] == HALF
    with caplog.at_level(logging.INFO, logger="physrnn.distributed"):
        done = run_vmc_job(cfg, tmp_path / "r", progress=False, resume=True)
    assert done["status"] == "completed"
    assert any("continues exactly" in r.getMessage() for r in caplog.records)
    assert load_checkpoint(tmp_path / "r" / "checkpoint.pt")["world_size"] == 1
    run_vmc_job(cfg, tmp_path / "full", progress=False)
    _assert_same_run(tmp_path / "full", tmp_path / "r")


def _fake_two_rank_checkpoint(out: Path, overrides: list[str]):
    """A checkpoint of ``overrides``'s config as a two-process run writes it (in-process)."""
    cfg = load_vmc_config(None, overrides=["system.n_sites=4", "vmc.n_samples=16",
                                       "wavefunction.hidden_size=3", "vmc.n_steps=4",
                                       "run.seed=2", "run.threads=1", *overrides])
    run_vmc_job(cfg, out, progress=False, stop_after=2)
    ckpt = out / "checkpoint.pt"
    state = load_checkpoint(ckpt)
    state["world_size"] = 2
    save_checkpoint(ckpt, {k: v for k, v in state.items() if k != "format"})
    return cfg, ckpt


@pytest.mark.parametrize("overrides", [[], ["vmc.deterministic=true"]],
                         ids=["default-mode", "deterministic-without-blocks"])
def test_runs_that_depend_on_the_number_of_processes_are_refused(tmp_path, overrides):
    cfg, ckpt = _fake_two_rank_checkpoint(tmp_path / "r", overrides)
    before = ckpt.read_bytes()
    with pytest.raises(ConfigError) as err:
        run_vmc_job(cfg, tmp_path / "r", progress=False, resume=True)
    msg = str(err.value)
    assert "\n" not in msg and str(ckpt) in msg
    assert "2 process(es)" in msg and "this run has 1" in msg
    assert "vmc.deterministic = true" in msg and "vmc.blocks" in msg  # when it would work
    assert ckpt.read_bytes() == before


def test_a_number_of_processes_that_does_not_divide_blocks_is_refused(monkeypatch, tmp_path):
    state = {"world_size": 2}
    monkeypatch.setattr(distributed, "get_world_size", lambda: 3)
    with pytest.raises(ConfigError) as err:
        distributed.check_resume_world_size(state, tmp_path / "c.pt", exact_for=4)
    msg = str(err.value)
    assert "\n" not in msg
    assert "2 process(es)" in msg and "has 3" in msg and "vmc.blocks = 4" in msg
    # a divisor of the blocks is accepted, from any saved number
    monkeypatch.setattr(distributed, "get_world_size", lambda: 4)
    distributed.check_resume_world_size(state, tmp_path / "c.pt", exact_for=4)
    distributed.check_resume_world_size({}, tmp_path / "c.pt", exact_for=8)
    for exact_for in (None, 0):  # no block count: the numbers must be equal
        with pytest.raises(ConfigError, match="resume with 2 process"):
            distributed.check_resume_world_size(state, tmp_path / "c.pt", exact_for=exact_for)


def test_the_vmc_job_refuses_blocks_the_new_number_cannot_share(monkeypatch, tmp_path):
    """A deterministic checkpoint (blocks = 2) on 3 processes: refused, checkpoint untouched."""
    cfg, ckpt = _fake_two_rank_checkpoint(tmp_path / "r", ["vmc.deterministic=true",
                                                            "vmc.blocks=2"])
    before = ckpt.read_bytes()
    assert to_dict(cfg)["vmc"]["blocks"] == 2
    monkeypatch.setattr(job, "get_world_size", lambda: 3)
    with pytest.raises(ConfigError, match="vmc.blocks.*2 blocks.*3 processes"):
        run_vmc_job(cfg, tmp_path / "r", progress=False, resume=True)
    assert ckpt.read_bytes() == before
