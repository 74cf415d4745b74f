"""Preemption: SIGTERM/SIGUSR1 end a training run at an epoch boundary with a checkpoint,
exit code 75, and --resume continues bit-identically."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from physrnn.config import load_config
from physrnn.errors import ConfigError
from physrnn.runs import preempt
from physrnn.runs.records import load_checkpoint, read_record, save_checkpoint
from physrnn.runs.train import run_train_job
from physrnn.train.config import TrainRunConfig

REPO = Path(__file__).resolve().parents[2]
from tests.runs.test_train import SMALL  # noqa: E402

#: SMALL with cheap scoring (these tests are about checkpoints, not forecasts).
FAST = SMALL + ["eval.baselines=[]", "eval.free_run_steps=0", "eval.n_test=1"]


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch):
    monkeypatch.chdir(REPO)


@pytest.fixture(scope="module")
def data_file(tmp_path_factory) -> Path:
    """SMALL's dataset, simulated once for the module."""
    from physrnn.data.cards import generate_from_card, load_card

    cfg = load_config(None, overrides=SMALL + ['data.card="datasets/lorenz63.toml"'],
                      cls=TrainRunConfig)
    path = tmp_path_factory.mktemp("data") / "data.h5"
    card = load_card(REPO / cfg.data.card, overrides=list(cfg.data.card_overrides))
    return generate_from_card(card, path, progress=False)


def _cfg_file(tmp_path, data_file) -> Path:
    p = tmp_path / "f.toml"
    p.write_text(f'[data]\npath = "{data_file}"\ncard = ""\n')
    return p


def _config(tmp_path, data_file, extra=()):
    return load_config(_cfg_file(tmp_path, data_file), overrides=FAST + list(extra),
                       cls=TrainRunConfig)


def test_handler_sets_the_flag_and_restores_the_old_handler():
    before = signal.getsignal(signal.SIGUSR1)
    with preempt.handle_preemption():
        assert not preempt.requested()
        os.kill(os.getpid(), signal.SIGUSR1)
        for _ in range(100):  # the handler runs between bytecodes of the main thread
            if preempt.requested():
                break
            time.sleep(0.01)
        assert preempt.requested() and preempt.signal_name() == "SIGUSR1"
        os.kill(os.getpid(), signal.SIGTERM)  # a second signal: still just a request
        time.sleep(0.05)
        assert preempt.signal_name() == "SIGUSR1"
    assert signal.getsignal(signal.SIGUSR1) is before
    assert not preempt.requested() and preempt.signal_name() == ""  # cleared on exit


def test_preempted_job_checkpoints_after_the_epoch_and_resumes_exactly(tmp_path, data_file):
    cfg = _config(tmp_path, data_file, ["run.checkpoint_every=100"])  # no periodic checkpoint
    with preempt.handle_preemption():
        preempt.request(signal.SIGTERM)  # as if SIGTERM arrived during the first epoch
        part = run_train_job(cfg, tmp_path / "b", progress=False)
    assert part["status"] == "preempted" and part["epochs"] == 1
    rec = read_record(tmp_path / "b" / "record.h5")
    assert rec.attrs["status"] == "preempted" and "SIGTERM" in rec.attrs["message"]
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["status"] == "preempted"
    state = load_checkpoint(tmp_path / "b" / "checkpoint.pt")
    assert state["trainer"]["epoch"] == 1 and state["world_size"] == 1
    done = run_train_job(cfg, tmp_path / "b", progress=False, resume=True)
    full = run_train_job(cfg, tmp_path / "a", progress=False)
    assert done["status"] == full["status"] == "completed"
    a = load_checkpoint(tmp_path / "a" / "checkpoint.pt")["trainer"]["model"]
    b = load_checkpoint(tmp_path / "b" / "checkpoint.pt")["trainer"]["model"]
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_with_another_world_size_is_refused(tmp_path, data_file):
    cfg = _config(tmp_path, data_file)
    run_train_job(cfg, tmp_path / "r", progress=False, stop_after=1)
    ckpt = tmp_path / "r" / "checkpoint.pt"
    state = load_checkpoint(ckpt)
    state["world_size"] = 4
    save_checkpoint(ckpt, {k: v for k, v in state.items() if k not in ("format",)})
    with pytest.raises(ConfigError, match="4 process"):
        run_train_job(cfg, tmp_path / "r", progress=False, resume=True)



def sigterm_after_checkpoint(proc: subprocess.Popen, out: Path, *, wait_s: float,
                             exit_s: float) -> dict:
    """Send SIGTERM to a running ``physrnn`` process once ``out/checkpoint.pt`` exists, check
    that it exits with the preemption code and a one-line hint, and return its summary."""
    try:
        deadline = time.monotonic() + wait_s
        while not (out / "checkpoint.pt").exists():  # the run is under way
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, f"no checkpoint within {wait_s} s"
            time.sleep(0.005)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=exit_s)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == preempt.PREEMPTED_EXIT_CODE, err
    assert "preempted by SIGTERM" in err and "--resume" in err and "Traceback" not in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "preempted"
    return summary


def test_sigterm_to_physrnn_train_exits_75_and_resume_matches(tmp_path, data_file):
    """A real signal to a real `physrnn train` process."""
    out = tmp_path / "run"
    sets = [a for s in FAST + ["train.epochs=400"] for a in ("--set", s)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "physrnn.cli", "train",
                             str(_cfg_file(tmp_path, data_file)), "--out", str(out),
                             "--quiet", *sets],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    summary = sigterm_after_checkpoint(proc, out, wait_s=60, exit_s=30)  # epoch 1 done
    k = load_checkpoint(out / "checkpoint.pt")["trainer"]["epoch"]
    assert 1 <= k < 400 and summary["epochs"] == k
    # resume for two more epochs, and compare with an uninterrupted run of k + 2 epochs
    cfg = _config(tmp_path, data_file, ["train.epochs=400"])
    run_train_job(cfg, out, progress=False, resume=True, stop_after=k + 2)
    run_train_job(cfg, tmp_path / "ref", progress=False, stop_after=k + 2)
    a = load_checkpoint(tmp_path / "ref" / "checkpoint.pt")["trainer"]
    b = load_checkpoint(out / "checkpoint.pt")["trainer"]
    assert a["epoch"] == b["epoch"] == k + 2
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name
