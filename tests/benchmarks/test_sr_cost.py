"""The minSR-cost benchmark: a --quick run writes both steps of every system; bad flags exit."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_sr_cost_quick_run_times_adam_and_minsr(tmp_path):
    from benchmarks.sr_cost import main

    out = tmp_path / "sr_cost.json"
    assert main(["--quick", "--threads", "1", "--steps", "1", "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    rows = {r["system"].split()[1]: r for r in payload["rows"]}
    assert set(rows) == {"chain", "4x4"}
    for row in rows.values():
        assert row["adam_step_s"] > 0 and row["minsr_step_s"] > 0
        assert row["ratio"] == pytest.approx(row["minsr_step_s"] / row["adam_step_s"])
        # the parts of a minSR step are each shorter than the whole step
        assert row["jacobian_s"] + row["solve_s"] < row["minsr_step_s"]
    assert payload["settings"]["jacobian"] == "auto" and payload["machine"]["git_revision"]


@pytest.mark.parametrize("argv", [["--systems", "cube"], ["--steps", "0"],
                                  ["--jacobian", "fast"]])
def test_sr_cost_bad_flags_exit(argv, capsys):
    from benchmarks.sr_cost import main

    with pytest.raises(SystemExit) as err:
        main(["--quick", *argv])
    assert err.value.code != 0
