"""Smoke runs of the forecasting benchmarks (``--quick``): they run, and write what they print."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks import forecast_lorenz63  # noqa: E402


def test_lorenz63_quick_with_the_through_readout_ablation(tmp_path, capsys):
    out = tmp_path / "l63.json"
    assert forecast_lorenz63.main(["--quick", "--models",
                                   "gru,readout,untrained,through", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    rows = {r["model"]: r for r in json.loads(out.read_text())["rows"]}
    for name in ("GRU untrained seed 0 + ridge read-out",
                 "GRU trained through the read-out seed 0 + ridge read-out",
                 "GRU seed 0 + ridge read-out"):
        assert name in rows and name in printed
        assert math.isfinite(rows[name]["median_vpt"]) and rows[name]["median_vpt"] > 0
    through = rows["GRU trained through the read-out seed 0 + ridge read-out"]
    assert [h["epoch"] for h in through["through_history"]] == [0, 1]
    assert through["best_epoch"] in (0, 1)


def test_spatiotemporal_locality_flag_is_checked():
    from benchmarks import forecast_spatiotemporal

    with pytest.raises(SystemExit, match="PATCH:OVERLAP"):
        forecast_spatiotemporal.main(["--quick", "--locality", "16"])
    with pytest.raises(SystemExit, match="PATCH:OVERLAP"):
        forecast_spatiotemporal.main(["--quick", "--locality", "a:b"])
