"""``benchmarks/transfer.py``: transfer and scratch runs of the same large system."""

from __future__ import annotations

import json

import pytest

from benchmarks import transfer as bench


def test_transfer_and_scratch_rows_against_the_dmrg_reference(tmp_path):
    out = tmp_path / "transfer.json"
    assert bench.main(["--quick", "--rows", "chain", "--small-s", "1", "--large-s", "2",
                       "--final-samples", "200", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["start"] for r in rows] == ["scratch", "transfer"]
    for row in rows:
        assert row["reference"] == pytest.approx(-44.1277398933)  # REFERENCES.md, DMRG
        assert row["steps"] > 0 and row["large_s"] >= 2.0
        # variational: never far below the ground-state energy
        assert row["final_relative_error"] > -5 * row["final_error"]
    scratch, transfer = rows
    assert scratch["small_s"] == 0 and transfer["small_s"] >= 1.0
    assert transfer["small_size"] == [50]


def test_unknown_row_is_refused():
    with pytest.raises(SystemExit, match="--rows"):
        bench.main(["--rows", "ladder"])
