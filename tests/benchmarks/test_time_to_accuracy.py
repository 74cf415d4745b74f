"""``benchmarks/time_to_accuracy.py`` and ``_extrapolate.time_to_accuracy``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import time_to_accuracy as bench
from benchmarks._extrapolate import time_to_accuracy


def test_time_to_accuracy_is_the_first_window_that_stays_within_the_tolerance():
    times = 0.5 * np.arange(1, 201)             # 0.5 s per step
    ref = -10.0
    rel = np.r_[np.full(60, 1e-2), np.full(40, 5e-4), np.full(100, 5e-5)]
    energies = ref + abs(ref) * rel
    at_1e3 = time_to_accuracy(times, energies, None, ref, 1e-3, window=20)
    # windows of 20 steps: steps 61..80 are the first window below 1e-3 -> t at step 80
    assert at_1e3["reached"] and at_1e3["step"] == 80 and at_1e3["time_s"] == pytest.approx(40)
    at_1e4 = time_to_accuracy(times, energies, None, ref, 1e-4, window=20)
    assert at_1e4["step"] == 120 and at_1e4["time_s"] == pytest.approx(60)
    assert at_1e4["last_window_rel_error"] == pytest.approx(5e-5)
    # a relapse at the end: the tolerance was not kept, so it was not reached
    relapse = energies.copy()
    relapse[-5:] = ref + abs(ref) * 1e-1
    assert not time_to_accuracy(times, relapse, None, ref, 1e-3, window=20)["reached"]
    # a mean below the reference by more than the tolerance is outside it too
    below = ref - abs(ref) * 1e-2 * np.ones(200)
    assert not time_to_accuracy(times, below, None, ref, 1e-3, window=20)["reached"]
    # the statistical error of a window mean: sqrt(sum err^2) / window
    noisy = time_to_accuracy(times, energies, np.full(200, 0.2), ref, 1e-3, window=20)
    assert noisy["window_rel_noise"] == pytest.approx(0.2 / np.sqrt(20) / 10)
    assert not time_to_accuracy(times, energies, None, None, 1e-3)["reached"]
    assert not time_to_accuracy(times[:5], energies[:5], None, ref, 1.0, window=20)["reached"]


def _run(code, opt, t3, t4, wall):
    return {"code": code, "optimizer": opt, "time_to_1e-3": t3, "time_to_1e-4": t4,
            "wall_s": wall}


def test_summary_takes_each_codes_best_and_bounds_the_ratio_by_the_budget():
    runs = [_run("physrnn 0.1.0", "adam", 100.0, None, 600.0),
            _run("physrnn 0.1.0", "minsr", 50.0, 300.0, 600.0),
            _run("netket 3.23.0", "adam", 400.0, None, 600.0),
            _run("netket 3.23.0", "sr", 200.0, None, 600.0)]
    row = bench.summarise(runs, "x")
    assert row["physrnn_best_1e-3"] == "50 s (minsr)" and row["netket_best_1e-3"] == "200 s (sr)"
    assert row["speedup_1e-3"] == "4.00"
    assert row["netket_best_1e-4"] == "> 600 s" and row["speedup_1e-4"] == "> 2.00"
    none = bench.summarise([_run("physrnn 0.1.0", "adam", None, None, 10.0),
                            _run("netket 3.23.0", "sr", 5.0, None, 10.0)], "y")
    assert none["speedup_1e-3"] == "-" and none["physrnn_best_1e-3"] == "> 10 s"


def test_quick_run_of_physrnn_alone_writes_both_tables(tmp_path, capsys):
    out = tmp_path / "tta.json"
    assert bench.main(["--quick", "--netket-optimizers", "", "--physrnn-optimizers", "adam",
                       "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "s to 1e-3" in printed and "speedup 1e-3" in printed
    payload = json.loads(out.read_text())
    assert payload["benchmark"] == "time_to_accuracy" and payload["complete"]
    (run,) = payload["runs"]
    assert run["row"] == "heisenberg 4x4 obc" and run["steps_done"] > 0
    assert run["reference"] == pytest.approx(-0.5743254416 * 16, abs=1e-8)
    assert run["final_relative_error"] == pytest.approx(
        (run["final_energy"] - run["reference"]) / abs(run["reference"]), rel=1e-12)
    assert run["final_energy"] > run["reference"] - 5 * run["final_error"]
    assert set(run["time_to_accuracy"]) == {"1e-03", "1e-04"}


def test_unknown_names_are_refused():
    for argv in (["--rows", "ising 3x3"], ["--physrnn-optimizers", "lbfgs"],
                 ["--netket-optimizers", "minsr"]):
        with pytest.raises(SystemExit, match="unknown"):
            bench.main(argv)


@pytest.mark.slow
def test_quick_run_beside_netket(tmp_path):
    out = tmp_path / "tta.json"
    assert bench.main(["--quick", "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    codes = {(r["code"].split()[0], r["optimizer"]) for r in payload["runs"]}
    assert codes == {("physrnn", "adam"), ("physrnn", "minsr"), ("netket", "adam"),
                     ("netket", "sr")}
    for run in payload["runs"]:  # same operator: both codes above the ground state
        assert run["final_energy"] > run["reference"] - 5 * run["final_error"]
