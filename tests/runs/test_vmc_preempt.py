"""Preemption of VMC runs: SIGTERM/SIGUSR1 end `physrnn vmc` after the current step with a
checkpoint, a record and a summary with status "preempted" and exit code 75; --resume then
continues bit-identically."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from physrnn.errors import ConfigError
from physrnn.runs import preempt
from physrnn.runs.records import load_checkpoint, read_record, save_checkpoint
from physrnn.runs.vmc import run_vmc_job
from physrnn.vmc.config import load_vmc_config

REPO = Path(__file__).resolve().parents[2]
from tests.runs.test_preempt import sigterm_after_checkpoint  # noqa: E402

#: A small TFIM chain; a few ms per step on one core.
TINY = ["system.n_sites=6", "vmc.n_samples=32", "wavefunction.hidden_size=5",
        "vmc.final_samples=100", "run.seed=4", "run.threads=1"]


def _config(extra=()):
    return load_vmc_config(None, overrides=TINY + list(extra))


def _params(run: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run / "checkpoint.pt")["driver"]["model"]


def _assert_same_run(a: Path, b: Path) -> None:
    pa, pb = _params(a), _params(b)
    assert pa.keys() == pb.keys()
    for k in pa:
        assert torch.equal(pa[k], pb[k]), k
    ha, hb = read_record(a / "record.h5").history, read_record(b / "record.h5").history
    np.testing.assert_array_equal(ha["energy"], hb["energy"])
    np.testing.assert_array_equal(ha["step"], hb["step"])


def test_preempted_vmc_checkpoints_after_the_step_and_resumes_exactly(tmp_path):
    cfg = _config(["vmc.n_steps=6", "run.checkpoint_every=100"])  # no periodic checkpoint
    with preempt.handle_preemption():
        preempt.request(signal.SIGTERM)  # as if SIGTERM arrived during the first step
        part = run_vmc_job(cfg, tmp_path / "b", progress=False)
    assert part["status"] == "preempted" and part["n_steps"] == 1
    assert "energy" not in part  # no final estimate of a preempted run
    rec = read_record(tmp_path / "b" / "record.h5")
    assert rec.attrs["status"] == "preempted" and "SIGTERM" in rec.attrs["message"]
    assert "--resume" in rec.attrs["message"] and len(rec.history["step"]) == 1
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["status"] == "preempted"
    state = load_checkpoint(tmp_path / "b" / "checkpoint.pt")
    assert state["driver"]["step_count"] == 1 and state["world_size"] == 1
    assert {"model", "optimizer", "scheduler", "generator", "history"} <= set(state["driver"])
    done = run_vmc_job(cfg, tmp_path / "b", progress=False, resume=True)
    full = run_vmc_job(cfg, tmp_path / "a", progress=False)
    assert done["status"] == full["status"] == "completed" and done["n_steps"] == 6
    assert done["energy"] == full["energy"]
    _assert_same_run(tmp_path / "a", tmp_path / "b")


def test_a_signal_during_the_last_step_lets_the_run_complete(tmp_path):
    """Nothing is left to resume after the last step: the run completes normally."""
    cfg = _config(["vmc.n_steps=1"])
    with preempt.handle_preemption():
        preempt.request(signal.SIGUSR1)
        summary = run_vmc_job(cfg, tmp_path / "r", progress=False)
    assert summary["status"] == "completed" and "energy" in summary


def test_resume_with_another_world_size_is_refused(tmp_path):
    cfg = _config(["vmc.n_steps=4"])
    run_vmc_job(cfg, tmp_path / "r", progress=False, stop_after=2)
    ckpt = tmp_path / "r" / "checkpoint.pt"
    state = load_checkpoint(ckpt)
    assert state["world_size"] == 1
    state["world_size"] = 4
    save_checkpoint(ckpt, {k: v for k, v in state.items() if k != "format"})
    with pytest.raises(ConfigError, match="4 process"):
        run_vmc_job(cfg, tmp_path / "r", progress=False, resume=True)


def _start(cfg: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.pop("PHYSRNN_DEBUG", None)
    return subprocess.Popen([sys.executable, "-m", "physrnn.cli", "vmc", str(cfg), "--out",
                             str(out), "--quiet", *extra], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigterm_to_physrnn_vmc_exits_75_and_resume_matches(tmp_path):
    """A real SIGTERM to a real `physrnn vmc` process mid-run, then `physrnn vmc --resume`
    (also a real process) to the end: the parameters equal an uninterrupted run's."""
    steps = 150
    cfg_file = tmp_path / "tiny.toml"
    cfg_file.write_text('[system]\nmodel = "tfim"\nn_sites = 6\n[vmc]\n'
                        f'n_steps = {steps}\nn_samples = 32\nfinal_samples = 100\n'
                        '[wavefunction]\nhidden_size = 5\n'
                        '[run]\nseed = 4\nthreads = 1\ncheckpoint_every = 5\n')
    out = tmp_path / "run"
    proc = _start(cfg_file, out)
    summary = sigterm_after_checkpoint(proc, out, wait_s=90, exit_s=60)  # 5 steps done
    k = load_checkpoint(out / "checkpoint.pt")["driver"]["step_count"]
    assert 5 <= k < steps and summary["n_steps"] == k, (k, summary["n_steps"])
    assert read_record(out / "record.h5").attrs["status"] == "preempted"
    resumed = _start(cfg_file, out, "--resume")
    _, err = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, err
    assert json.loads((out / "summary.json").read_text())["status"] == "completed"
    full = run_vmc_job(load_vmc_config(cfg_file), tmp_path / "ref", progress=False)
    assert full["n_steps"] == steps
    _assert_same_run(tmp_path / "ref", out)
    assert json.loads((out / "summary.json").read_text())["energy"] == full["energy"]


def test_sigusr1_in_process_stops_after_the_step_and_resumes_exactly(tmp_path):
    """A real SIGUSR1 (sent from a timer thread) during run_vmc_job inside
    handle_preemption, as `physrnn vmc` runs it."""
    import threading

    cfg = _config(["vmc.n_steps=100000", "run.checkpoint_every=1000"])
    timer = threading.Timer(0.5, os.kill, args=(os.getpid(), signal.SIGUSR1))
    with preempt.handle_preemption():
        timer.start()
        try:
            part = run_vmc_job(cfg, tmp_path / "b", progress=False)
        finally:
            timer.cancel()
    k = part["n_steps"]
    assert part["status"] == "preempted" and 1 <= k < 100000
    assert load_checkpoint(tmp_path / "b" / "checkpoint.pt")["driver"]["step_count"] == k
    run_vmc_job(cfg, tmp_path / "b", progress=False, resume=True, stop_after=k + 2)
    run_vmc_job(cfg, tmp_path / "a", progress=False, stop_after=k + 2)
    _assert_same_run(tmp_path / "a", tmp_path / "b")
