"""The VMC speed benchmark: row format (fast) and a --quick smoke run (slow)."""

from __future__ import annotations

import json

import pytest

REQUIRED = ("n_sites", "hidden", "dtype", "sampling_speedup", "local_energy_speedup",
            "step_speedup")


def test_speed_row_carries_required_keys():
    from benchmarks.vmc_speed import _speed_row

    ours = {"n_parameters": 10, "sample_s": [1.0, 2.0, 3.0], "local_energy_s": [2.0],
            "step_s": [4.0], "peak_bytes": 2**20}
    theirs = {"n_parameters": 12, "sample_s": [4.0], "local_energy_s": [8.0], "step_s": [10.0],
              "peak_bytes": 3 * 2**20}
    row = _speed_row("tfim", 20, 32, "float32", ours, theirs, 1024)
    for key in REQUIRED:
        assert key in row
    assert row["sampling_speedup"] == pytest.approx(4.0)  # best 1 s vs 4 s
    assert row["local_energy_speedup"] == pytest.approx(4.0)
    assert row["step_speedup"] == pytest.approx(2.5)
    assert row["physrnn_peak_mib"] == pytest.approx(1.0) and row["peak"] == "1 / 3"


@pytest.mark.slow
def test_vmc_speed_quick_smoke(tmp_path):
    from benchmarks.vmc_speed import main

    out = tmp_path / "vmc_speed.json"
    assert main(["--quick", "--steps", "1", "--samples", "64", "--energy-steps", "2",
                 "--final-samples", "100", "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert payload["benchmark"] == "vmc_speed" and payload["rows"]
    for key in REQUIRED:
        assert payload["rows"][0][key] is not None
    assert {r["code"] for r in payload["energy_rows"]} == {"physrnn", "NetKet"}


def test_square_rows_of_physrnn_alone_beside_an_earlier_result(tmp_path, capsys):
    from benchmarks.vmc_speed import main

    earlier = tmp_path / "cpu.json"
    earlier.write_text(json.dumps({
        "benchmark": "vmc_speed", "settings": {"device": "cpu", "threads": 1},
        "rows": [{"model": "heisenberg_square", "n_sites": 9, "hidden": 8, "dtype": "float32",
                  "physrnn_step_s": 0.5, "netket_step_s": 1.5}]}))
    out = tmp_path / "speed.json"
    assert main(["--sizes", "3", "--hidden", "8", "--models", "heisenberg_square,tfim_square",
                 "--dtypes", "float32", "--samples", "16", "--steps", "1", "--no-netket",
                 "--no-memory", "--beside", str(earlier), "--json", str(out)]) == 0
    assert "Step times beside" in capsys.readouterr().out
    payload = json.loads(out.read_text())
    rows = payload["rows"]
    assert [(r["model"], r["lattice"], r["n_sites"]) for r in rows] == [
        ("heisenberg_square", "3x3", 9), ("tfim_square", "3x3", 9)]
    for row in rows:
        assert row["physrnn_step_s"] > 0 and row["netket_step_s"] is None
        assert row["step_speedup"] is None and row["physrnn_parameters"] > 0
    matched, unmatched = payload["beside"]
    assert matched["beside_physrnn_step_s"] == 0.5 and matched["beside_netket_step_s"] == 1.5
    assert unmatched["beside_device"] == "-"
    # a file that is not a vmc_speed result is refused by name
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"benchmark": "sr_cost"}))
    with pytest.raises(SystemExit, match="--beside"):
        main(["--sizes", "3", "--hidden", "8", "--models", "tfim_square", "--no-netket",
              "--steps", "1", "--samples", "16", "--no-memory", "--beside", str(foreign)])


@pytest.mark.slow
def test_square_rows_beside_netket(tmp_path):
    from benchmarks.vmc_speed import main

    out = tmp_path / "speed.json"
    assert main(["--sizes", "3", "--hidden", "8", "--models", "heisenberg_square",
                 "--dtypes", "float32", "--samples", "32", "--steps", "1", "--energy-steps",
                 "0", "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())["rows"]
    assert row["netket_step_s"] > 0 and row["step_speedup"] > 0
