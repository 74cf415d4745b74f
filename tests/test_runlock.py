"""One process per run directory: the second is refused by name, a stale lock is taken over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from physrnn.cli import LOCKED_EXIT_CODE, main
from physrnn.errors import OutputWriteError, RunLockedError
from physrnn.runlock import LOCK_NAME, RunLock, file_lock, held_locks, read_holder
from physrnn.runs.records import atomic_path, prepare_output_dir, release_output_dir
from tests.helpers.trust import VMC_TINY, error_lines, run_cli


def test_second_lock_is_refused_with_the_holder(tmp_path):
    with RunLock(tmp_path / "run", command="physrnn vmc a.toml"):
        holder = read_holder(tmp_path / "run" / LOCK_NAME)
        assert holder is not None and holder.pid == os.getpid()
        assert holder.command == "physrnn vmc a.toml"
        with pytest.raises(RunLockedError, match=rf"pid {os.getpid()} on .*physrnn vmc a.toml"):
            RunLock(tmp_path / "run").acquire()
    assert not (tmp_path / "run" / LOCK_NAME).exists()  # released and removed
    RunLock(tmp_path / "run").acquire().release()


def test_cli_refuses_a_locked_run_directory_and_changes_nothing(tmp_path, capsys):
    cfg = tmp_path / "vmc.toml"
    cfg.write_text(VMC_TINY)
    out = tmp_path / "run"
    with RunLock(out, command="physrnn vmc elsewhere"):
        for extra in ([], ["--resume"], ["--overwrite"]):
            code = main(["vmc", str(cfg), "--out", str(out), "--quiet", *extra])
            err = capsys.readouterr().err
            assert code == LOCKED_EXIT_CODE, err
            assert len(error_lines(err)) == 1 and "physrnn vmc elsewhere" in err
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]
        assert len(held_locks()) == 1  # main() released only what it took


def _wait_for(path, proc, timeout=120.0):
    t0 = time.monotonic()
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < timeout, f"{path} did not appear"
        time.sleep(0.05)


@pytest.mark.slow
def test_two_processes_and_a_stale_lock_after_kill(tmp_path):
    """A real second process is refused; after ``kill -9`` of the holder, --resume works."""
    cfg = tmp_path / "vmc.toml"
    cfg.write_text(VMC_TINY.replace("n_steps = 8", "n_steps = 400"))
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen([sys.executable, "-m", "physrnn.cli", "vmc", str(cfg), "--out",
                              str(out), "--quiet"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(out / "checkpoint.pt", first)
        second = run_cli(["vmc", str(cfg), "--out", str(out), "--resume", "--quiet"],
                         cwd=tmp_path)
        lines = error_lines(second.stderr)
        assert second.returncode == LOCKED_EXIT_CODE, second.stderr
        assert len(lines) == 1 and f"pid {first.pid}" in lines[0]
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert (out / LOCK_NAME).exists()  # left behind by the killed process: stale
    holder = read_holder(out / LOCK_NAME)
    assert holder is not None and holder.pid == first.pid
    third = run_cli(["vmc", str(cfg), "--out", str(out), "--resume", "--quiet"], cwd=tmp_path)
    assert third.returncode == 0, third.stderr
    assert json.loads((out / "summary.json").read_text())["n_steps"] == 400
    assert not (out / LOCK_NAME).exists()


def test_data_generate_locks_its_output_file(tmp_path, capsys):
    card = tmp_path / "card.toml"
    card.write_text('[system]\nname = "lorenz63"\n[simulation]\nn_traj = 2\nt_final = 1.0\n'
                    'transient = 0.1\nworkers = 1\n')
    target = tmp_path / "d.h5"
    with file_lock(target, command="physrnn data generate other"):
        code = main(["data", "generate", str(card), "--out", str(target), "--quiet"])
        err = capsys.readouterr().err
        assert code == LOCKED_EXIT_CODE and "physrnn data generate other" in err
        assert not target.exists()
    assert main(["data", "generate", str(card), "--out", str(target), "--quiet"]) == 0
    assert target.exists() and not (tmp_path / f".{target.name}.lock").exists()


def test_sweep_directory_is_locked(tmp_path, capsys):
    cfg = tmp_path / "vmc.toml"
    cfg.write_text(VMC_TINY)
    with RunLock(tmp_path / "s", command="physrnn sweep first"):
        code = main(["sweep", str(cfg), "--grid", "run.seed=1,2", "--out", str(tmp_path / "s"),
                     "--slurm"])
        err = capsys.readouterr().err
    assert code == LOCKED_EXIT_CODE and "physrnn sweep first" in err
    assert not (tmp_path / "s" / "sweep.json").exists()


def test_vanished_locked_directory_is_not_recreated(tmp_path):
    out = prepare_output_dir(tmp_path / "run", lock=True)
    try:
        (out / LOCK_NAME).unlink()
        out.rmdir()
        with pytest.raises(OutputWriteError, match="vanished"), \
                atomic_path(out / "summary.json") as tmp:
            tmp.write_text("{}")
        assert not out.exists()
    finally:
        release_output_dir(out)


def test_replaced_lock_file_stops_the_writer(tmp_path):
    out = prepare_output_dir(tmp_path / "run", lock=True)
    try:
        (out / LOCK_NAME).unlink()
        (out / LOCK_NAME).write_text(json.dumps({"host": "x", "pid": 1}))
        with pytest.raises(OutputWriteError, match="removed or replaced"), \
                atomic_path(out / "summary.json") as tmp:
            tmp.write_text("{}")
    finally:
        release_output_dir(out)
    assert (out / LOCK_NAME).exists()  # not ours: left alone
