"""Memory experiments: gated cells learn the adding problem where a tanh RNN does not."""

from __future__ import annotations

import json

import pytest

from physrnn.cli import main
from physrnn.runs.memory import longest_solved, train_memory


def test_gru_solves_adding_where_tanh_rnn_fails():
    """Same budget (600 steps of 64, d_h = 32), T = 20: GRU below MSE 0.01, tanh RNN near 1/6."""
    gru = train_memory("adding", 20, "gru", steps=600, hidden_size=32, lr=3e-3)
    rnn = train_memory("adding", 20, "rnn", steps=600, hidden_size=32, lr=3e-3)
    assert gru.solved and gru.final_loss < 0.01
    assert not rnn.solved and rnn.final_loss > 0.05
    assert gru.trivial_loss == pytest.approx(1 / 6)
    assert rnn.grad_verdict == "vanishing"


def test_longest_solved():
    rows = [{"model": "gru", "variant": "plain", "delay": d, "solved": s}
            for d, s in [(10, True), (50, True), (100, False)]]
    assert longest_solved(rows) == {("gru", "plain"): 50}


def test_memory_cli(tmp_path, capsys):
    out = tmp_path / "m"
    assert main(["memory", "--task", "recall", "--delays", "3,6", "--models", "rnn,gru",
                 "--variants", "plain,clip", "--steps", "5", "--out", str(out), "--quiet"]) == 0
    assert "longest solved delay" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert {(r["model"], r["variant"]) for r in summary["rows"]} == {
        ("rnn", "plain"), ("rnn", "clip"), ("gru", "plain")}
    assert (out / "memory.png").stat().st_size > 0
    for name in ("gradients.png", "jacobians_rnn.png", "bptt_terms_gru.png"):
        assert (out / name).stat().st_size > 0, name
    assert main(["memory", "--delays", "3", "--steps", "5", "--out", str(out)]) == 2
    assert main(["memory", "--delays", "0,x", "--out", str(tmp_path / "n")]) == 2
    assert "--delays" in capsys.readouterr().err
    assert main(["memory", "--models", "transformer", "--out", str(tmp_path / "k")]) == 2
