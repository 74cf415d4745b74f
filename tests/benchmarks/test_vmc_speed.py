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
