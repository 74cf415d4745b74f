"""Smoke runs of the Monte Carlo benchmarks (``--quick``): they run, agree with the exact
answers they print, and write what they print."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("pyalps", reason="QMC needs the qmc extra (pyalps)")

from benchmarks import compare_mc, qmc_reference  # noqa: E402


@pytest.mark.slow   # ~40 s; the same checks run by default in tests/baselines/test_qmc.py
def test_qmc_reference_quick(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PHYSRNN_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "q.json"
    assert qmc_reference.main(["--quick", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    printed = capsys.readouterr().out
    assert [r["key"] for r in rows] == ["heis4x4p", "tfim32"]
    for r in rows:      # against ED and the closed form
        assert abs(r["deviation_sigma"]) < 4, r
        assert r["row"] in printed


@pytest.mark.slow
def test_compare_mc_quick(tmp_path, monkeypatch):
    monkeypatch.setenv("PHYSRNN_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "c.json"
    assert compare_mc.main(["--quick", "--rows", "tfim16", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["method"] for r in rows] == list(compare_mc.METHODS)
    for r in rows:
        assert r["reference_kind"] == "analytic" and r["tau_int"] > 0 and r["steps"] >= 1


def test_qmc_reference_refuses_a_zero_beta_start():
    # an explicit 0 is passed on (not mistaken for "the row's own"), and refused
    with pytest.raises(ValueError, match="beta_start"):
        qmc_reference.main(["--quick", "--rows", "heis4x4p", "--beta-start", "0"])
