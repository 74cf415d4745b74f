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


def test_lorenz63_quick_with_the_linear_readout_and_tighter_data(tmp_path):
    """--readouts linear gives the linear-read-out rows; --rtol reaches the data's metadata."""
    out = tmp_path / "l63.json"
    assert forecast_lorenz63.main(["--quick", "--models", "gru,untrained,through",
                                   "--readouts", "linear", "--rtol", "1e-12",
                                   "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    rows = {r["model"]: r for r in payload["rows"]}
    for name in ("GRU untrained seed 0 + linear ridge read-out",
                 "GRU trained through the read-out seed 0 + linear ridge read-out"):
        assert rows[name]["readout"] == "linear" and rows[name]["n_params"] == 32 * 3 + 3 + (
            3 * 32 * (3 + 32) + 6 * 32)        # GRU(3 -> 32) and a linear head on h alone
    assert not any(name.endswith(" + ridge read-out") and "linear" not in name
                   for name in rows)
    assert payload["settings"]["rtol"] == 1e-12 and payload["settings"]["atol"] == 1e-12


@pytest.mark.parametrize("argv, match", [
    (["--readouts", "cubic"], "--readouts"),
    (["--rtol", "0"], "--rtol"),
])
def test_lorenz63_bad_flags_are_refused(argv, match, capsys):
    with pytest.raises(SystemExit):
        forecast_lorenz63.main(["--quick", *argv])
    assert match in capsys.readouterr().err


def test_spatiotemporal_locality_flag_is_checked():
    from benchmarks import forecast_spatiotemporal

    with pytest.raises(SystemExit, match="PATCH:OVERLAP"):
        forecast_spatiotemporal.main(["--quick", "--locality", "16"])
    with pytest.raises(SystemExit, match="PATCH:OVERLAP"):
        forecast_spatiotemporal.main(["--quick", "--locality", "a:b"])


def test_spatiotemporal_quick_with_the_through_readout_row(tmp_path):
    from benchmarks import forecast_spatiotemporal

    out = tmp_path / "st.json"
    assert forecast_spatiotemporal.main(["--quick", "--systems", "l96f8", "--models",
                                         "persistence,gru_untrained,gru_through",
                                         "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    rows = {r["model"]: r for r in payload["systems"][0]["rows"]}
    through = rows["local GRU trained through the read-out + ridge"]
    assert "best epoch" in through["settings"]
    for name in ("local GRU untrained + ridge", "local GRU trained through the read-out + ridge"):
        assert math.isfinite(rows[name]["median_vpt"]) and rows[name]["median_vpt"] > 0
