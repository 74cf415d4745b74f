"""``benchmarks/reproduce_rnn_wavefunctions.py``: the --quick run and its extrapolation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from benchmarks import reproduce_rnn_wavefunctions as bench  # noqa: E402
from benchmarks._reproduce_rows import ROWS, row_names  # noqa: E402


def test_quick_run_writes_rows_against_the_right_references(tmp_path, capsys):
    from physrnn.baselines.quantum.analytic import tfim_chain_energy

    out = tmp_path / "quick.json"
    assert bench.main(["--quick", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| system" in printed and "rel. error" in printed

    payload = json.loads(out.read_text())
    assert payload["quick"] is True and payload["benchmark"] == "reproduce_rnn_wavefunctions"
    rows = payload["rows"]
    assert [(r["system"], r["optimizer"]) for r in rows] == [
        ("tfim chain N=20 h=1", "Adam"), ("heisenberg 4x4 obc", "Adam"),
        ("heisenberg 4x4 obc", "minSR")]
    for row in rows:
        for key in ("system", "energy", "reference", "relative_error", "v_score", "wall_s",
                    "steps_done", "steps_full", "hidden", "n_samples", "device",
                    "target_reached", "extrapolation", "curve", "reduced", "time_to_accuracy",
                    "time_to_1e-3", "time_to_1e-4", "time_to_target"):
            assert key in row, key
        assert row["relative_error"] == pytest.approx(
            (row["energy"] - row["reference"]) / abs(row["reference"]), rel=1e-12)
        assert row["v_score"] > 0 and math.isfinite(row["energy"])
        assert row["steps_done"] > 0 and row["reduced"].startswith("reduced:")
        assert len(row["curve"]["energy"]) > 0
        # the tolerances: 1e-3, 1e-4 and the row's target (1e-5 for the TFIM chain)
        assert set(row["time_to_accuracy"]) == {"1e-03", "1e-04", f"{row['target']:.0e}"}
    assert rows[0]["reference"] == pytest.approx(tfim_chain_energy(20, h=1.0), abs=1e-12)
    assert rows[0]["reference_kind"] == "analytic"
    # Heisenberg 4x4 OBC, S units: -0.5743254416 per site (REFERENCES.md, ED)
    assert rows[1]["reference"] == pytest.approx(-0.5743254416 * 16, abs=1e-8)
    assert rows[1]["reference_kind"] == "exact"
    # a variational energy is never far below the ground state
    assert all(r["energy"] > r["reference"] - 5 * r["error"] for r in rows)
    # N = 16: the exact <H> of the trained model, above ED and within 5 sigma of the sample
    assert rows[0]["energy_exact"] is None and rows[0]["relative_error_exact"] is None
    for row in rows[1:]:
        assert row["energy_exact"] > row["reference"]
        assert abs(row["energy_exact"] - row["energy"]) < 5 * row["error"]
        assert row["relative_error_exact"] == pytest.approx(
            (row["energy_exact"] - row["reference"]) / abs(row["reference"]), rel=1e-12)

    # --table: one table from result files, runs nothing; foreign files are refused
    assert bench.main(["--table", str(out), str(out)]) == 0
    table = capsys.readouterr().out
    assert table.count("heisenberg 4x4 obc") == 4 and "(partial)" not in table
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"benchmark": "vmc_speed", "rows": []}))
    corrupted = tmp_path / "corrupted.json"
    corrupted.write_text(out.read_text()[:100])
    for bad in (foreign, corrupted, tmp_path / "missing.json"):
        with pytest.raises(SystemExit, match="--table"):
            bench.main(["--table", str(bad)])


def test_extrapolation_recovers_a_power_law_and_flags_a_flat_curve():
    steps = np.arange(1, 401, dtype=float)
    ref = -10.0
    energies = ref + abs(ref) * 0.1 * steps ** -1.0      # relative error 0.1 / step
    fit = bench.extrapolate(steps, energies, ref, 1e-4, s_per_step=0.5)
    assert fit["status"] == "fit"
    assert fit["exponent"] == pytest.approx(-1.0, abs=0.05)
    assert fit["steps_needed"] == pytest.approx(1000.0, rel=0.1)
    assert fit["time_needed_s"] == pytest.approx(500.0, rel=0.1)
    flat = bench.extrapolate(steps, np.full(400, ref + 0.1), ref, 1e-4, s_per_step=0.5)
    assert flat["status"] == "no trend"
    assert bench.extrapolate(steps[:5], energies[:5], ref, 1e-4, 0.5)["status"] == \
        "too few steps"
    # 1e-3 per-step noise over 25-step windows: the 1e-3 / step tail is buried in it
    noisy = bench.extrapolate(steps, ref + 0.01 / steps, ref, 1e-7, 0.5,
                              errors=np.full(400, 1e-3))
    assert noisy["status"] == "noise-limited"


def test_row_table_is_consistent():
    names = row_names()
    assert len(names) == len(set(names))
    assert sum(r.name == "heisenberg 4x4 obc" for r in ROWS) == 2   # Adam and minSR
    for row in ROWS:
        full, cpu = row.settings("full"), row.settings("cpu")
        assert full["n_steps"] == cpu["n_steps"]  # the CPU preset never cuts the steps
        assert row.reference is not None and row.target > 0
    with pytest.raises(SystemExit):
        bench.select_rows("no such row", quick=False)
    both = bench.select_rows("heisenberg 4x4 obc", quick=False)
    assert [r.optimizer for r in both] == ["adam", "minsr"]
    assert [r.optimizer for r in bench.select_rows("heisenberg 4x4 obc", False, "minsr")] == \
        ["minsr"]
    with pytest.raises(SystemExit, match="--optimizers"):
        bench.select_rows("all", quick=False, optimizers="lbfgs")
