"""physrnn.progress: plain progress lines every ~30 s of (fake) time, phases, terminal choice."""

from __future__ import annotations

import io
import logging

import pytest

from physrnn.errors import ConfigError
from physrnn.progress import (
    DEFAULT_EVERY_S,
    PROGRESS_EVERY_ENV,
    Progress,
    format_duration,
    lines_wanted,
    phase,
    progress_interval,
)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_lines_every_30_seconds_with_position_metrics_elapsed_eta():
    clock, out = FakeClock(), io.StringIO()
    p = Progress(20, phase="train", unit="epoch", every_s=30.0, stream=out, clock=clock)
    written = []
    for epoch in range(1, 21):
        clock.advance(10.0)  # 10 s per epoch: a line every third epoch
        line = p.update(epoch, loss=1.5e-3, val=2.0e-3)
        if line is not None:
            written.append(epoch)
    assert written == [3, 6, 9, 12, 15, 18]
    lines = out.getvalue().splitlines()
    assert len(lines) == p.lines == 6
    first = lines[0]
    assert first.startswith("train: epoch 3/20 (15%)")
    assert "loss 0.0015" in first and "val 0.002" in first
    assert "elapsed 30.0s" in first and "ETA 2m50s" in first  # 17 epochs of 10 s left


def test_no_line_before_the_interval():
    clock, out = FakeClock(), io.StringIO()
    p = Progress(100, phase="vmc", every_s=30.0, stream=out, clock=clock)
    for k in range(1, 30):
        clock.advance(1.0)
        assert p.update(k, E=-1.0) is None
    assert out.getvalue() == ""
    clock.advance(1.0)
    assert p.update(30, E=-1.0).startswith("vmc: step 30/100 (30%), E -1")


def test_resumed_start_and_unknown_total_and_fractional_position():
    clock, out = FakeClock(), io.StringIO()
    p = Progress(10, phase="train", unit="epoch", start=5, every_s=0.0, stream=out, clock=clock)
    clock.advance(60.0)
    line = p.update(6.5, batch="3/6")
    # 1.5 epochs in 60 s since the resume point: 3.5 left take 140 s
    assert "epoch 6.50/10 (65%)" in line and "batch 3/6" in line and "ETA 2m20s" in line
    q = Progress(None, phase="baselines", unit="model", every_s=0.0, stream=out, clock=clock)
    assert q.update(2, model="esn") == "baselines: model 2, model esn, elapsed 0.0s, ETA ?"


def test_disabled_writes_nothing_and_logging_is_the_default(caplog):
    clock = FakeClock()
    off = Progress(5, phase="x", every_s=0.0, enabled=False, clock=clock)
    clock.advance(100.0)
    assert off.update(1) is None
    with caplog.at_level(logging.INFO, logger="physrnn.progress"):
        on = Progress(5, phase="forecasts", unit="model", every_s=0.0, clock=clock)
        clock.advance(1.0)
        on.update(1, model="gru")
    assert [r.getMessage().split(",")[0] for r in caplog.records] == ["forecasts: model 1/5 (20%)"]
    assert caplog.records[0].name == "physrnn.progress"


def test_phase_lines_with_duration_and_failure():
    clock, out = FakeClock(), io.StringIO()
    with phase("baselines", stream=out, clock=clock):
        clock.advance(75.0)
    with pytest.raises(RuntimeError), phase("free runs", stream=out, clock=clock):
        clock.advance(2.0)
        raise RuntimeError("boom")
    with phase("hidden", enabled=False, stream=out, clock=clock):
        pass
    assert out.getvalue().splitlines() == [
        "phase baselines started", "phase baselines finished in 1m15s",
        "phase free runs started", "phase free runs failed after 2.0s"]


def test_terminal_selection():
    tty, pipe = FakeTTY(), io.StringIO()
    assert lines_wanted(None, pipe) is True      # redirected: plain lines
    assert lines_wanted(None, tty) is False      # terminal: the tqdm bar
    assert lines_wanted(True, pipe) is False     # a bar was asked for
    assert lines_wanted(False, pipe) is False    # quiet


def test_interval_from_environment(monkeypatch):
    monkeypatch.delenv(PROGRESS_EVERY_ENV, raising=False)
    assert progress_interval() == DEFAULT_EVERY_S == 30.0
    monkeypatch.setenv(PROGRESS_EVERY_ENV, "0.5")
    assert progress_interval() == 0.5 and Progress(3, phase="p").every_s == 0.5
    assert progress_interval(7.0) == 7.0
    monkeypatch.setenv(PROGRESS_EVERY_ENV, "soon")
    with pytest.raises(ConfigError, match=PROGRESS_EVERY_ENV):
        progress_interval()
    monkeypatch.setenv(PROGRESS_EVERY_ENV, "-1")
    with pytest.raises(ConfigError, match=">= 0"):
        progress_interval()


def test_format_duration():
    assert [format_duration(s) for s in (3.21, 65, 3600 * 2 + 180, float("nan"))] == [
        "3.2s", "1m05s", "2h03m", "?"]


TINY_TRAIN = [
    'data.card_overrides=["simulation.n_traj=6", "simulation.t_final=20.0", '
    '"simulation.transient=5.0", "simulation.workers=1"]',
    "data.context=50", "data.horizon=10", "data.stride=25", "train.epochs=2",
    "train.rollout_start_epoch=1", "train.rollout_end_epoch=2", "train.rollout_k_max=10",
    "model.hidden_size=8", "eval.n_test=4", "eval.horizon_lyapunov=2.0",
    "eval.free_run_steps=300", 'eval.baselines=["persistence", "linear"]', "run.seed=3",
    'readout.features="quadratic"', "readout.washout=50", "readout.ridges=[1e-10, 1e-6]",
]


def test_train_run_logs_its_phases_in_a_batch_log(tmp_path, monkeypatch, caplog):
    """`physrnn train` with stderr redirected: progress lines for training and every phase of
    the evaluation; on a terminal only the phase lines (the bars show the rest); --quiet
    writes none."""
    from pathlib import Path

    from physrnn.cli import main

    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    monkeypatch.setenv(PROGRESS_EVERY_ENV, "0")
    monkeypatch.setattr("sys.stderr", io.StringIO())  # a batch job's log file
    cfg = tmp_path / "f.toml"
    cfg.write_text('[data]\ncard = "datasets/lorenz63.toml"\n')
    sets = [a for s in TINY_TRAIN for a in ("--set", s)]
    with caplog.at_level(logging.INFO, logger="physrnn.progress"):
        assert main(["train", str(cfg), "--out", str(tmp_path / "run"), *sets]) == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "physrnn.progress"]
    for name in ("read-out refit", "baselines", "forecasts", "free runs"):
        assert f"phase {name} started" in lines, (name, lines)
        assert any(ln.startswith(f"phase {name} finished in ") for ln in lines), name
    assert any(ln.startswith("train: epoch 2/2 (100%), loss ") and "ETA" in ln for ln in lines)
    assert any(ln.startswith("train: epoch 0.") and "batch 1/" in ln for ln in lines)
    assert any(ln.startswith("read-out refit: trajectory ") for ln in lines)
    assert any(ln.startswith("read-out refit: ridge 2/2") for ln in lines)
    assert any(ln.startswith("forecasts: model 3/3 (100%), model linear") for ln in lines)
    assert any(ln.startswith("free runs: model 1/3") and "elapsed" in ln for ln in lines)
    caplog.clear()
    monkeypatch.setattr("sys.stderr", FakeTTY())  # a terminal: tqdm bars, phase lines only
    with caplog.at_level(logging.INFO, logger="physrnn.progress"):
        assert main(["train", str(cfg), "--out", str(tmp_path / "tty"), *sets]) == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "physrnn.progress"]
    assert lines and all(ln.startswith("phase ") for ln in lines), lines
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="physrnn.progress"):
        assert main(["train", str(cfg), "--out", str(tmp_path / "quiet"), "--quiet",
                     *sets]) == 0
    assert not [r for r in caplog.records if r.name == "physrnn.progress"]
