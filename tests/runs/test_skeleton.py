"""The Run skeleton: output directory and lock, checkpoints, messages, outputs on every exit."""

from __future__ import annotations

import json

import pytest

from physrnn.errors import NonFiniteError, OutputExistsError, RunLockedError
from physrnn.runlock import RunLock
from physrnn.runs.records import read_record
from physrnn.runs.skeleton import Run
from physrnn.vmc.config import load_vmc_config


def _config():
    return load_vmc_config(None, overrides=["run.threads=1", "run.device=cpu"])


def test_enter_locks_and_exit_releases_even_after_an_error(tmp_path):
    out = tmp_path / "r"
    with pytest.raises(RuntimeError), Run(_config(), out) as run:
        assert run.out == out and out.is_dir() and str(run.device) == "cpu"
        with pytest.raises(RunLockedError):
            RunLock(out).acquire()
        raise RuntimeError("boom")
    lock = RunLock(out)  # released: a second process may take it now
    lock.acquire()
    lock.release()


def test_checkpoint_round_trip_and_resume_checks(tmp_path):
    out = tmp_path / "r"
    with Run(_config(), out) as run:
        assert not run.resuming and run.load_checkpoint() is None
        run.save_checkpoint("driver", lambda: {"step_count": 3}, extra={"rng": [1, 2]})
    with Run(_config(), out, resume=True) as run:
        state = run.load_checkpoint()
        assert state["driver"] == {"step_count": 3} and state["rng"] == [1, 2]
        assert state["world_size"] == 1 and state["config"]["run"]["threads"] == 1
    changed = load_vmc_config(None, overrides=["run.threads=1", "vmc.lr=0.5"])
    with pytest.raises(Exception, match="vmc.lr"), Run(changed, out, resume=True) as run:
        run.load_checkpoint()


def test_messages_name_the_unit_and_the_kept_checkpoint(tmp_path):
    run = Run(_config(), tmp_path / "r", unit="epoch")
    assert run.interrupted_message(4) == ("interrupted by the user during epoch 5; no "
                                          "checkpoint was written yet")
    run.last_checkpoint = 4
    assert run.interrupted_message(4).endswith(
        "the checkpoint of epoch 4 is kept (continue with --resume)")
    assert run.preempted_message(4, 10) == ("preempted by a signal after epoch 4 of 10; "
                                            "continue with --resume")


def test_guard_writes_the_outputs_of_a_failure_and_reraises(tmp_path):
    out = tmp_path / "r"
    with Run(_config(), out, failures=(NonFiniteError,)) as run:
        def write(status: str, message: str) -> None:
            run.finish({"status": status, "x": 1.0}, history={"step": [1, 2]}, message=message)

        with pytest.raises(NonFiniteError, match="NaN energy; last good checkpoint kept at"):
            with run.guard(write, position=lambda: 2):
                raise NonFiniteError("NaN energy")
        with pytest.raises(KeyboardInterrupt), run.guard(write, position=lambda: 2):
            raise KeyboardInterrupt
    rec = read_record(out / "record.h5")
    assert rec.attrs["status"] == "interrupted" and "during step 3" in rec.attrs["message"]
    assert rec.config == json.loads(json.dumps(rec.config)) and "vmc" in rec.config
    assert json.loads((out / "summary.json").read_text())["status"] == "interrupted"
    with pytest.raises(OutputExistsError), Run(_config(), out):
        pass
