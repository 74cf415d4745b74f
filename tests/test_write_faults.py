"""Faults a cluster throws at the output: full disk, read-only or vanished directory, Ctrl-C.

Where this machine allows ``mount`` (root with CAP_SYS_ADMIN), the disk-full and read-only
cases run on a real, small tmpfs; the same writers are also tested by fault injection
(``os.replace`` failing with ENOSPC), which runs everywhere. Each test names which it is.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from benchmarks.fault_cases import removal_reported, remove_while_running
from physrnn.checkpoints import load_checkpoint, save_checkpoint
from physrnn.cli import WRITE_FAILED_EXIT_CODE, main
from physrnn.errors import OutputWriteError
from physrnn.io import TEMPORARY_NAME
from physrnn.runs.collect import write_csv, write_table_h5
from physrnn.runs.plotting import plot_vmc_history
from physrnn.runs.records import write_record, write_summary
from physrnn.runs.vmc import run_vmc_job
from physrnn.vmc.config import load_vmc_config as load_config
from tests.helpers.trust import VMC_TINY, error_lines, fill, remount, small_filesystem, tiny_dataset


def _record(path):
    write_record(path, config={"vmc": {"lr": 0.1}},
                 history={"step": np.arange(1, 200), "energy": np.linspace(-1, -2, 199)},
                 results={"energy": -2.0})


WRITERS = {
    "checkpoint": lambda p: save_checkpoint(p / "checkpoint.pt",
                                            {"w": torch.arange(20000.0)}),
    "record": lambda p: _record(p / "record.h5"),
    "summary": lambda p: write_summary(p / "summary.json", {"energy": [1.0] * 5000}),
    "dataset": lambda p: tiny_dataset(p / "data.h5", overwrite=True),
    "sweep table (csv)": lambda p: write_csv(p / "table.csv", [{"run": "a" * 20000}], ["run"],
                                             overwrite=True),
    "sweep table (hdf5)": lambda p: write_table_h5(p / "table.h5", [{"run": "a", "e": 1.0}] * 2000,
                                                   ["run", "e"], overwrite=True),
    "figure": lambda p: plot_vmc_history({"step": np.arange(1, 500),
                                          "energy": np.linspace(-1, -2, 499),
                                          "error": np.full(499, 0.01),
                                          "variance": np.full(499, 0.1)}, p / "energy.png"),
}
FINAL = {"checkpoint": "checkpoint.pt", "record": "record.h5", "summary": "summary.json",
         "dataset": "data.h5", "sweep table (csv)": "table.csv",
         "sweep table (hdf5)": "table.h5", "figure": "energy.png"}


def _assert_intact(directory, name, before):
    assert (directory / name).read_bytes() == before, f"{name} changed"
    assert not [p for p in directory.iterdir() if TEMPORARY_NAME.match(p.name)], \
        "a temporary file was left"


@pytest.mark.parametrize("writer", list(WRITERS))
def test_full_disk_keeps_the_previous_file_real_tmpfs(tmp_path, writer):
    with small_filesystem(tmp_path / "fs", "4m") as fs:
        if fs is None:
            pytest.skip("mount is not allowed here: the fault-injection test covers this writer")
        WRITERS[writer](fs)
        name = FINAL[writer]
        before = (fs / name).read_bytes()
        filler = fill(fs)
        with pytest.raises(OutputWriteError, match=rf"cannot write .*{name}: No space left"):
            WRITERS[writer](fs)
        _assert_intact(fs, name, before)
        filler.unlink()
        WRITERS[writer](fs)  # space is back: the write goes through


@pytest.mark.parametrize("writer", list(WRITERS))
def test_full_disk_keeps_the_previous_file_injected(tmp_path, writer, monkeypatch):
    WRITERS[writer](tmp_path)
    name = FINAL[writer]
    before = (tmp_path / name).read_bytes()

    def no_space(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))

    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(OutputWriteError, match=rf"{name}: No space left.*previous {name}"):
        WRITERS[writer](tmp_path)
    monkeypatch.undo()
    _assert_intact(tmp_path, name, before)


def test_full_disk_during_a_vmc_run_then_resume_matches(tmp_path, capsys):
    """A real full tmpfs stops the run at a checkpoint (exit 74, the last checkpoint intact);
    with space back, --resume reaches the parameters of an uninterrupted run bit for bit."""
    cfg = tmp_path / "vmc.toml"
    cfg.write_text(VMC_TINY)
    config = load_config(cfg)
    run_vmc_job(config, tmp_path / "whole", progress=False)
    with small_filesystem(tmp_path / "fs", "4m") as fs:
        if fs is None:
            pytest.skip("mount is not allowed here")
        out = fs / "run"
        run_vmc_job(config, out, progress=False, stop_after=4)
        before = (out / "checkpoint.pt").read_bytes()
        filler = fill(fs, leave=4096)  # room for the lock file, not for a checkpoint
        code = main(["vmc", str(cfg), "--out", str(out), "--resume", "--quiet"])
        err = capsys.readouterr().err
        assert code == WRITE_FAILED_EXIT_CODE, err
        assert len(error_lines(err)) == 1 and "No space left" in err
        assert "checkpoint.pt is unchanged" in err
        _assert_intact(out, "checkpoint.pt", before)
        assert load_checkpoint(out / "checkpoint.pt")["driver"]["step_count"] == 4
        filler.unlink()
        assert main(["vmc", str(cfg), "--out", str(out), "--resume", "--quiet"]) == 0
        done = load_checkpoint(out / "checkpoint.pt")["driver"]["model"]
        ref = load_checkpoint(tmp_path / "whole" / "checkpoint.pt")["driver"]["model"]
        assert all(torch.equal(done[k], ref[k]) for k in ref)


def _start(cfg, out, every=2, *extra):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("PHYSRNN_DEBUG", None)
    # SIGINT as at a terminal: a test run started in the background without job control
    # inherits SIGINT ignored, and so would the run (which then never sees the Ctrl-C); the
    # run restores Python's handler itself (no preexec_fn: forking beside JAX's threads)
    return subprocess.Popen([sys.executable, "-c", _AS_AT_A_TERMINAL, "vmc", str(cfg),
                             "--out", str(out), "--quiet", "--set",
                             f"run.checkpoint_every={every}", *extra],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


_AS_AT_A_TERMINAL = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler)"
                     "; from physrnn.cli import main; sys.exit(main(sys.argv[1:]))")


def _wait_for(path, proc, timeout=120.0):
    t0 = time.monotonic()
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"ended before {path} appeared: {proc.communicate()}")
        assert time.monotonic() - t0 < timeout, f"{path} did not appear"
        time.sleep(0.02)


def _finish(proc, timeout=120.0):
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode, err


def test_read_only_mid_run_real_tmpfs(tmp_path):
    cfg = tmp_path / "vmc.toml"
    cfg.write_text(VMC_TINY.replace("n_steps = 8", "n_steps = 1000000"))
    with small_filesystem(tmp_path / "fs", "8m") as fs:
        if fs is None:
            pytest.skip("mount is not allowed here")
        out = fs / "run"
        proc = _start(cfg, out)
        try:
            _wait_for(out / "checkpoint.pt", proc)
            remount(fs, "ro")
            code, err = _finish(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
            remount(fs, "rw")
        lines = error_lines(err)
        assert code == WRITE_FAILED_EXIT_CODE, err
        assert len(lines) == 1 and "Read-only file system" in lines[0], err
        # nothing half-written: the checkpoint reads back (resuming from it once the file
        # system is writable again is the full-disk test's second half)
        assert load_checkpoint(out / "checkpoint.pt")["driver"]["step_count"] >= 2


def test_run_directory_removed_mid_run(tmp_path):
    cfg = tmp_path / "vmc.toml"
    cfg.write_text(VMC_TINY.replace("n_steps = 8", "n_steps = 1000000"))
    out = tmp_path / "run"
    proc = _start(cfg, out)
    try:
        _wait_for(out / "checkpoint.pt", proc)
        remove_while_running(out)
        code, err = _finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = error_lines(err)
    assert code == WRITE_FAILED_EXIT_CODE, err
    # the removal is seen either by the next write or, when the run checks its lock first, by
    # the lock file being gone: both stop the run with one line and exit 74
    assert len(lines) == 1 and removal_reported(lines[0]), err
    assert not out.exists()  # not silently recreated


def test_ctrl_c_writes_no_mid_step_checkpoint(tmp_path):
    """SIGINT at a random moment: exit 130, and checkpoint.pt is the last periodic one."""
    cfg = tmp_path / "vmc.toml"
    cfg.write_text(VMC_TINY.replace("n_steps = 8", "n_steps = 1000000"))
    rng = np.random.default_rng(11)
    for trial in range(1):
        out = tmp_path / f"run{trial}"
        proc = _start(cfg, out, every=25)
        try:
            _wait_for(out / "checkpoint.pt", proc)
            time.sleep(float(rng.uniform(0.05, 0.6)))
            proc.send_signal(signal.SIGINT)
            code, err = _finish(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert code == 130, err
        step = load_checkpoint(out / "checkpoint.pt")["driver"]["step_count"]
        summary = json.loads((out / "summary.json").read_text())
        assert summary["status"] == "interrupted"
        assert step % 25 == 0 and summary["n_steps"] >= step
