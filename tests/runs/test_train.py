"""`physrnn train` / `physrnn evaluate`: a complete small forecasting run, errors, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from physrnn.cli import main
from physrnn.config import load_config
from physrnn.errors import ConfigError
from physrnn.runs.records import read_record
from physrnn.runs.train import run_train_job
from physrnn.train.config import TrainRunConfig

SMALL = [
    'data.card_overrides=["simulation.n_traj=6", "simulation.t_final=20.0", '
    '"simulation.transient=5.0", "simulation.workers=1"]',
    "data.context=50", "data.horizon=10", "data.stride=25", "train.epochs=3",
    "train.rollout_start_epoch=1", "train.rollout_end_epoch=2", "train.rollout_k_max=10",
    "model.hidden_size=8", "eval.n_test=4", "eval.horizon_lyapunov=2.0", "eval.esn_configs=2",
    "eval.free_run_steps=300", 'eval.baselines=["persistence", "linear"]', "run.seed=3",
    "run.checkpoint_every=1",
]


def _config(tmp_path, extra=()):
    p = tmp_path / "f.toml"
    p.write_text('[data]\ncard = "datasets/lorenz63.toml"\n')
    return load_config(p, overrides=SMALL + list(extra), cls=TrainRunConfig)


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch):
    from pathlib import Path

    monkeypatch.chdir(Path(__file__).resolve().parents[2])


def test_train_run_outputs_and_table(tmp_path):
    out = tmp_path / "run"
    summary = run_train_job(_config(tmp_path), out, progress=False)
    assert summary["status"] == "completed" and summary["epochs"] == 3
    models = [r["model"] for r in summary["table"]]
    assert models[:3] == ["gru", "persistence", "linear"] and models[-1] == "truth floor"
    assert summary["vpt_unit"] == "Lyapunov times"
    saved = json.loads((out / "summary.json").read_text())
    assert saved["median_vpt"] == pytest.approx(summary["median_vpt"])
    rec = read_record(out / "record.h5")
    assert rec.config["train"]["epochs"] == 3 and len(rec.history["train_loss"]) == 3
    for name in ("training.png", "nrmse.png", "forecasts.png", "data.h5", "checkpoint.pt"):
        assert (out / name).stat().st_size > 0, name
    # the truth floor is small compared with persistence's long-run distance: a sane metric
    rows = {r["model"]: r for r in summary["table"]}
    assert rows["truth floor"]["w1_longrun"] < rows["persistence"]["w1_longrun"]


def test_resume_equals_uninterrupted(tmp_path):
    cfg = _config(tmp_path, ["eval.baselines=[]"])
    run_train_job(cfg, tmp_path / "a", progress=False)
    part = run_train_job(cfg, tmp_path / "b", progress=False, stop_after=2)
    assert part["status"] == "interrupted" and part["epochs"] == 2
    run_train_job(cfg, tmp_path / "b", progress=False, resume=True)
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)["trainer"]["model"]
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)["trainer"]["model"]
    for k in a:
        assert torch.equal(a[k], b[k]), k
    ha = read_record(tmp_path / "a" / "record.h5").history
    hb = read_record(tmp_path / "b" / "record.h5").history
    np.testing.assert_array_equal(ha["train_loss"], hb["train_loss"])
    changed = _config(tmp_path, ["eval.baselines=[]", "train.lr=0.5"])
    with pytest.raises(ConfigError, match="train.lr"):
        run_train_job(changed, tmp_path / "b", progress=False, resume=True)


def test_cli_train_evaluate_and_errors(tmp_path, capsys):
    cfg = tmp_path / "f.toml"
    cfg.write_text('[data]\ncard = "datasets/lorenz63.toml"\n')
    sets = [a for s in SMALL for a in ("--set", s)]
    out = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(out), "--quiet", *sets]) == 0
    printed = capsys.readouterr().out
    assert "| gru |" in printed and "Lyapunov times" in printed
    assert main(["evaluate", str(out), "--set", "eval.n_test=3"]) == 0
    ev = json.loads((out / "evaluate" / "evaluation.json").read_text())
    assert ev["table"][0]["n_test"] == 3
    assert main(["evaluate", str(out)]) == 2  # exists: not clobbered
    assert "--overwrite" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nepoch = 3\n")
    assert main(["train", str(bad), "--out", str(tmp_path / "x")]) == 2
    assert "unknown key 'train.epoch'" in capsys.readouterr().err
    bad.write_text('[data]\npath = "missing.h5"\n')
    assert main(["train", str(bad), "--out", str(tmp_path / "y")]) == 2
    assert "missing.h5" in capsys.readouterr().err


def test_config_requires_data(tmp_path):
    p = tmp_path / "f.toml"
    p.write_text("[data]\ncontext = 10\n")
    # the default names a card, so an explicit empty one is needed to trigger the error
    with pytest.raises(ConfigError, match="data.path"):
        load_config(p, overrides=['data.card=""'], cls=TrainRunConfig)


def test_ou_efficiency_and_invariant_drift(tmp_path):
    """OU: the climatological mean forecast reaches sqrt(1 - e^-2) / 1 ~ 0.93 of the optimum at
    one relaxation time; pendulum: persistence conserves energy exactly, a free run does not."""
    common = ["model.hidden_size=4", "train.epochs=1", "train.rollout_start_epoch=0",
              "train.rollout_end_epoch=0", "train.rollout_k_max=1", "data.horizon=5",
              "run.seed=0"]
    ou = load_config(None, cls=TrainRunConfig, overrides=common + [
        'data.card="datasets/ornstein_uhlenbeck.toml"', "data.context=10", "data.stride=50",
        'data.card_overrides=["simulation.n_traj=100", "simulation.t_final=50.0"]',
        "eval.n_test=200", "eval.horizon_lyapunov=2.0", 'eval.baselines=["mean"]',
        "eval.free_run_steps=0"])
    rows = {r["model"]: r for r in run_train_job(ou, tmp_path / "ou", progress=False)["table"]}
    assert 0.8 < rows["mean"]["ou_efficiency_1tau"] < 1.07
    pend = load_config(None, cls=TrainRunConfig, overrides=common + [
        'data.card="datasets/pendulum.toml"', "data.context=20", "data.stride=100",
        'data.card_overrides=["simulation.n_traj=6", "simulation.t_final=5.0"]',
        "eval.n_test=3", "eval.horizon_lyapunov=0.5", 'eval.baselines=["persistence", "linear"]',
        "eval.free_run_steps=300"])
    rows = {r["model"]: r for r in run_train_job(pend, tmp_path / "p", progress=False)["table"]}
    assert rows["persistence"]["invariant_drift"] == 0.0
    assert rows["linear"]["invariant_drift"] > 1e-6


def test_free_run_on_a_fixed_point_is_scored_not_fatal():
    """A forecaster whose free run is constant has no spectrum: psd = inf with a note."""
    import math

    from physrnn.baselines.forecast.predictors import Persistence
    from physrnn.train.evaluate import evaluate_forecasters, forecast_windows

    rng = np.random.default_rng(0)
    y = np.cumsum(rng.normal(size=(4, 400, 3)), axis=1) * 0.1
    windows = forecast_windows(y, [2, 3], n_test=3, context=20, horizon=10)

    class Constant(Persistence):
        name = "constant"

        def forecast(self, context, n_steps):
            return np.zeros((context.shape[0], n_steps, context.shape[2]))

    rows, _ = evaluate_forecasters({"constant": Constant().fit(y[:2])}, windows, dt=0.01,
                                   lyapunov_exponent=None, free_run_steps=300,
                                   truth_pool=y[2:], floor_pool=y[:2])
    assert rows[0]["psd_longrun"] == math.inf and "degenerate" in rows[0]["longrun_note"]
    assert math.isfinite(rows[0]["w1_longrun"]) and rows[-1]["model"] == "truth floor"


def test_readout_refit_in_a_run_and_in_evaluate(tmp_path, capsys):
    """[readout] features = "quadratic": the refitted model is scored, saved and reloaded."""
    out = tmp_path / "run"
    config = _config(tmp_path, ['readout.features="quadratic"', "readout.washout=50",
                                "readout.ridges=[1e-10, 1e-6]"])
    summary = run_train_job(config, out, progress=False)
    name = "gru + quadratic ridge read-out"
    assert summary["model"] == name and summary["table"][0]["model"] == name
    assert summary["readout_ridge"] in (1e-10, 1e-6)
    assert summary["readout_one_step_rmse"] < 1e-3
    assert (out / "readout.pt").stat().st_size > 0
    rows = {r["model"]: r for r in summary["table"]}
    assert rows[name]["median_vpt"] > rows["persistence"]["median_vpt"]
    from physrnn.runs.train import load_trained

    _, model, _ = load_trained(out)
    assert model.readout == "quadratic" and model.dtype == torch.float64
    assert main(["evaluate", str(out)]) == 0
    assert name in capsys.readouterr().out
    # a damaged read-out file is named in a clear error
    (out / "readout.pt").write_bytes(b"not a torch file")
    assert main(["evaluate", str(out), "--overwrite"]) == 2
    assert "readout.pt" in capsys.readouterr().err


def test_readout_refit_needs_a_validation_split(tmp_path):
    config = _config(tmp_path, ['readout.features="quadratic"',
                                'data.card_overrides=["simulation.n_traj=6", '
                                '"simulation.t_final=20.0", "simulation.transient=5.0", '
                                '"simulation.workers=1", "splits.val=0.0", "splits.train=0.9"]'])
    with pytest.raises(ConfigError, match="validation split"):
        run_train_job(config, tmp_path / "run", progress=False)


def _l96_config(tmp_path, extra=()):
    p = tmp_path / "l96.toml"
    p.write_text('[data]\ncard = "datasets/lorenz96.toml"\n')
    small = [o for o in SMALL if not o.startswith("data.card_overrides")]
    small.append('data.card_overrides=["simulation.n_traj=6", "simulation.t_final=10.0", '
                 '"simulation.transient=5.0", "simulation.workers=1"]')
    return load_config(p, overrides=small + list(extra), cls=TrainRunConfig)


def test_train_run_with_a_local_model(tmp_path):
    cfg = _l96_config(tmp_path, ["model.patch=4", "model.overlap=2", "eval.baselines=[]",
                                 "readout.features=none"])
    summary = run_train_job(cfg, tmp_path / "run", progress=False)
    assert summary["status"] == "completed"
    names = [r["model"] for r in summary["table"]]
    assert names[0] == "local gru (4+2x2)"
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    weights = state["trainer"]["model"]
    # one shared cell reads a window of 4 + 2 x 2 sites; the head predicts the patch's 4
    assert weights["rnn.weight_ih_l0"].shape[1] == 8 and weights["head.weight"].shape[0] == 4
    with pytest.raises(ConfigError, match=r"model.patch = 3.*does not divide.*40 components"):
        run_train_job(_l96_config(tmp_path, ["model.patch=3", "eval.baselines=[]"]),
                      tmp_path / "bad", progress=False)
    assert not (tmp_path / "bad" / "checkpoint.pt").exists()
    with pytest.raises(ConfigError, match="model.overlap"):
        _l96_config(tmp_path, ["model.overlap=1"])
