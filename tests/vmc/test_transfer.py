"""Transfer: a VMC run starts from the wavefunction of an earlier, smaller one.

The physics check compares with the TFIM closed form: the weights of an 8-site chain, with no
further training, are a far better 16-site wavefunction than random ones.
"""

from __future__ import annotations

import pickle

import pytest
import torch

from physrnn.baselines.quantum.analytic import tfim_chain_energy
from physrnn.cli import main
from physrnn.errors import ConfigError, RecordError, UnsafeFileError
from physrnn.runs.records import read_record
from physrnn.runs.vmc import run_vmc_job
from physrnn.spins import build_system
from physrnn.vmc.config import load_vmc_config
from physrnn.vmc.factory import build_vmc
from physrnn.vmc.transfer import load_initial_parameters

SMALL = ["wavefunction.hidden_size=8", "vmc.n_samples=64", "vmc.final_samples=200",
         "reference.kind=none", "run.seed=3", "run.threads=1"]


def _train(out, n_sites: int, n_steps: int, extra: tuple[str, ...] = ()) -> dict:
    cfg = load_vmc_config(None, overrides=[*SMALL, f"system.n_sites={n_sites}",
                                           f"vmc.n_steps={n_steps}", *extra])
    return run_vmc_job(cfg, out, progress=False)


def _driver(n_sites: int, *extra: str):
    cfg = load_vmc_config(None, overrides=[*SMALL, f"system.n_sites={n_sites}", *extra])
    return build_vmc(cfg, build_system(cfg.system), torch.device("cpu"))


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("transfer") / "n4"
    _train(out, 4, 3)
    return out


def test_parameters_carry_over_to_a_longer_chain(source_run):
    saved = torch.load(source_run / "checkpoint.pt", weights_only=True)["driver"]["model"]
    driver = _driver(6)
    info = load_initial_parameters(driver.model, source_run)
    assert info["n_sites"] == 4 and info["step"] == 3 and info["system"] == "tfim"
    for k, v in driver.model.state_dict().items():
        assert torch.equal(v, saved[k]), k


def test_a_run_with_init_from_starts_from_the_source(source_run, tmp_path):
    out = tmp_path / "n6"
    summary = _train(out, 6, 1, (f"wavefunction.init_from={str(source_run)!r}",))
    assert summary["status"] == "completed" and summary["n_sites"] == 6
    record = read_record(out / "record.h5")
    assert record.config["wavefunction"]["init_from"] == str(source_run)
    # the first step's energy is that of the transferred wavefunction (same sampling seed)
    driver = _driver(6)
    load_initial_parameters(driver.model, source_run)
    assert record.history["energy"][0] == pytest.approx(driver.step().energy, rel=1e-9)


def test_missing_source_is_a_config_error_naming_the_key(tmp_path):
    driver = _driver(6)
    with pytest.raises(ConfigError, match="wavefunction.init_from"):
        load_initial_parameters(driver.model, tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="holds no checkpoint.pt"):
        load_initial_parameters(driver.model, tmp_path)


def test_other_shapes_and_foreign_files_are_refused(source_run, tmp_path):
    wider = _driver(6, "wavefunction.hidden_size=16")
    with pytest.raises(RecordError, match="has shape"):
        load_initial_parameters(wider.model, source_run)
    phase = _driver(6, "wavefunction.phase=true")
    with pytest.raises(RecordError, match="phase_head"):
        load_initial_parameters(phase.model, source_run)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(RecordError):
        load_initial_parameters(wider.model, junk)
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(print))  # a pickled callable: never executed
    with pytest.raises((UnsafeFileError, RecordError)):
        load_initial_parameters(wider.model, evil)


def test_cli_reports_a_bad_init_from_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    config = tmp_path / "c.toml"
    config.write_text(f"[system]\nn_sites = 4\n[vmc]\nn_steps = 1\n[reference]\nkind = 'none'"
                      f"\n[wavefunction]\ninit_from = '{tmp_path / 'missing'}'\n")
    code = main(["vmc", str(config), "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert "wavefunction.init_from" in err and "does not exist" in err
    assert not (out / "summary.json").exists()


@pytest.mark.slow
def test_weights_of_an_8_site_chain_are_a_good_16_site_tfim_state(tmp_path):
    """Closed-form check: transfer, no training on N = 16, beats random weights by far."""
    _train(tmp_path / "n8", 8, 150, ("vmc.n_samples=128", "vmc.lr=2e-2"))
    exact = tfim_chain_energy(16, h=1.0)
    rel = {}
    for name, init in (("random", None), ("transfer", tmp_path / "n8")):
        driver = _driver(16)
        if init is not None:
            load_initial_parameters(driver.model, init)
        rel[name] = abs(driver.estimate(4000).mean - exact) / abs(exact)
    assert rel["transfer"] < 1e-2 < 5e-2 < rel["random"], rel
