"""The physrnn command line: runs, outputs, errors, resume."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from physrnn.cli import main
from physrnn.runs.records import load_checkpoint, read_record

TINY = ["--set", "system.n_sites=6", "--set", "vmc.n_steps=6", "--set", "vmc.n_samples=32",
        "--set", "wavefunction.hidden_size=4", "--set", "vmc.final_samples=200",
        "--set", "run.checkpoint_every=2", "--quiet"]


def _config(tmp_path, text="[system]\nmodel = \"tfim\"\n"):
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


def test_vmc_run_writes_outputs(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["vmc", str(_config(tmp_path)), "--out", str(out), *TINY]) == 0
    printed = capsys.readouterr().out
    assert "relative error" in printed and "analytic" in printed
    summary = json.loads((out / "summary.json").read_text())
    rec = read_record(out / "record.h5")
    assert summary["status"] == "completed" and summary["n_steps"] == 6
    assert summary["reference_kind"] == "analytic"
    assert summary["rel_error"] == pytest.approx(
        abs(summary["energy"] - summary["reference_energy"]) / abs(summary["reference_energy"]))
    assert rec.config["system"]["n_sites"] == 6 and rec.config["vmc"]["n_samples"] == 32
    assert rec.results["energy"] == summary["energy"]
    assert len(rec.history["energy"]) == 6
    assert rec.attrs["git_revision"] and rec.attrs["physrnn_version"]
    assert (out / "energy.png").stat().st_size > 1000
    assert load_checkpoint(out / "checkpoint.pt")["driver"]["step_count"] == 6


def test_existing_output_not_clobbered(tmp_path, capsys):
    out = tmp_path / "run"
    cfg = str(_config(tmp_path))
    assert main(["vmc", cfg, "--out", str(out), *TINY]) == 0
    before = (out / "summary.json").read_bytes()
    assert main(["vmc", cfg, "--out", str(out), *TINY, "--set", "run.seed=3"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "summary.json").read_bytes() == before
    assert main(["vmc", cfg, "--out", str(out), *TINY, "--set", "run.seed=3",
                 "--overwrite"]) == 0
    assert (out / "summary.json").read_bytes() != before


@pytest.mark.parametrize(
    "text, extra, match",
    [
        ("[vmc]\nlearning_rate = 1\n", [], "unknown key 'vmc.learning_rate'"),
        ("[system]\nn_sites = \"ten\"\n", [], "'system.n_sites'.*integer"),
        ("[system]\nn_sites = -3\n", [], "'system.n_sites': must be >= 2"),
        ("", ["--set", "system.boundary=twisted"], "'system.boundary'"),
        ("[system]\nmodel = \"heisenberg\"\nn_sites = 7\nboundary = \"periodic\"\n", [],
         "bipartite"),
    ],
)
def test_bad_input_clear_error_nonzero_exit(tmp_path, capsys, text, extra, match):
    out = tmp_path / "run"
    code = main(["vmc", str(_config(tmp_path, text)), "--out", str(out), "--quiet", *extra])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("physrnn: error:")
    assert len(err.strip().splitlines()) == 1
    import re

    assert re.search(match, err), err
    assert not (out / "record.h5").exists()


def test_nan_stops_and_keeps_checkpoint(tmp_path, capsys, monkeypatch):
    """A NaN energy at step 4 stops the run; checkpoint of step 3 and a failed record remain."""
    import physrnn.vmc.driver as driver

    calls = {"n": 0}
    real = driver.local_energies

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        e = real(*args, **kwargs)
        return e * float("nan") if calls["n"] == 4 else e

    monkeypatch.setattr(driver, "local_energies", poisoned)
    out = tmp_path / "run"
    args = ["vmc", str(_config(tmp_path)), "--out", str(out), *TINY,
            "--set", "run.checkpoint_every=1"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "NaN" in err and "checkpoint" in err
    state = load_checkpoint(out / "checkpoint.pt")  # still readable
    rec = read_record(out / "record.h5")
    assert rec.attrs["status"] == "failed" and "NaN" in rec.attrs["message"]
    assert state["driver"]["step_count"] == len(rec.history["step"]) == 3
    assert all(torch.isfinite(v).all() for v in state["driver"]["model"].values())


def test_resume_equals_uninterrupted(tmp_path):
    from physrnn.runs.vmc import run_vmc_job
    from physrnn.vmc.config import load_vmc_config

    cfg = load_vmc_config(None, overrides=["system.n_sites=6", "vmc.n_steps=7", "vmc.n_samples=32",
                                       "wavefunction.hidden_size=5", "vmc.final_samples=100",
                                       "run.checkpoint_every=2", "run.seed=4"])
    full = run_vmc_job(cfg, tmp_path / "full", progress=False)
    part = run_vmc_job(cfg, tmp_path / "part", progress=False, stop_after=3)
    assert part["status"] == "interrupted" and part["n_steps"] == 3
    resumed = run_vmc_job(cfg, tmp_path / "part", progress=False, resume=True)
    a = load_checkpoint(tmp_path / "full" / "checkpoint.pt")["driver"]
    b = load_checkpoint(tmp_path / "part" / "checkpoint.pt")["driver"]
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    assert resumed["energy"] == full["energy"]
    ha = read_record(tmp_path / "full" / "record.h5").history
    hb = read_record(tmp_path / "part" / "record.h5").history
    np.testing.assert_array_equal(ha["energy"], hb["energy"])
    # resuming with a different config is refused, naming the key
    from physrnn.errors import ConfigError

    cfg2 = load_vmc_config(None, overrides=["system.n_sites=6", "vmc.n_steps=7", "vmc.lr=0.5"])
    with pytest.raises(ConfigError, match="vmc.lr"):
        run_vmc_job(cfg2, tmp_path / "part", progress=False, resume=True)


def test_show_config_and_help(capsys):
    assert main(["show-config", "--set", "vmc.lr=0.5"]) == 0
    assert "lr = 0.5" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["vmc", "--help"])
    assert exc.value.code == 0
    assert "v_score" in capsys.readouterr().out


def test_console_script_exit_code(tmp_path):
    """The installed entry point exits non-zero on a bad config, with one readable line."""
    bad = _config(tmp_path, "[vmc]\nsteps = 3\n")
    proc = subprocess.run([sys.executable, "-m", "physrnn.cli", "vmc", str(bad), "--out",
                           str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "unknown key 'vmc.steps'" in proc.stderr
