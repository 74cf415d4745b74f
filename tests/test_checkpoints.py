"""Reading a file never runs code: crafted checkpoints, read-outs, records, datasets, summaries.

Each reader gets a file whose unpickling would create a marker file; the command must exit
non-zero with one ``physrnn: error:`` line naming the file, and the marker must not exist.
"""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from physrnn.checkpoints import (
    check_state_shapes,
    convert_checkpoint,
    load_checkpoint,
    plain_state,
    save_checkpoint,
)
from physrnn.cli import main
from physrnn.errors import ConfigError, RecordError, UnsafeFileError
from tests.helpers.trust import (
    TRAIN_TINY,
    VMC_TINY,
    LegacyRecord,
    error_lines,
    malicious_pickle,
    malicious_torch_file,
    run_cli,
    tiny_dataset,
)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A VMC config, a trained forecasting run (checkpoint + dataset) and a finished VMC run."""
    ws = tmp_path_factory.mktemp("trust")
    (ws / "vmc.toml").write_text(VMC_TINY)
    tiny_dataset(ws / "data.h5")
    (ws / "train.toml").write_text(TRAIN_TINY.format(data=ws / "data.h5"))
    assert main(["train", str(ws / "train.toml"), "--out", str(ws / "trained"), "--quiet"]) == 0
    assert main(["vmc", str(ws / "vmc.toml"), "--out", str(ws / "vmcrun"), "--quiet"]) == 0
    return ws


def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def _digest(directory):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def _refused(args, cwd, capsys, monkeypatch, culprit, marker):
    """Run ``physrnn ARGS`` in this process (cwd ``cwd``) and check the refusal."""
    monkeypatch.chdir(cwd)
    code = main(args)
    err = capsys.readouterr().err
    lines = error_lines(err)
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("physrnn: error:"), err
    assert culprit in lines[0]
    assert not marker.exists(), "the payload ran"
    return err


@pytest.mark.parametrize("kind", ["torch-zip", "raw-pickle"])
@pytest.mark.parametrize("command", ["vmc-resume", "train-resume", "evaluate"])
def test_crafted_checkpoint_is_refused_without_running(workspace, tmp_path, kind, command,
                                                       capsys, monkeypatch):
    marker = tmp_path / "PWNED"
    run = tmp_path / "run"
    make = malicious_torch_file if kind == "torch-zip" else malicious_pickle
    if command == "vmc-resume":
        make(run / "checkpoint.pt", marker)
        args = ["vmc", str(workspace / "vmc.toml"), "--out", str(run), "--resume", "--quiet"]
    elif command == "train-resume":
        make(run / "checkpoint.pt", marker)
        args = ["train", str(workspace / "train.toml"), "--out", str(run), "--resume",
                "--quiet"]
    else:
        _copy(workspace / "trained", run)
        make(run / "checkpoint.pt", marker)
        args = ["evaluate", str(run), "--quiet"]
    before = _digest(run)
    err = _refused(args, tmp_path, capsys, monkeypatch, "checkpoint.pt", marker)
    if kind == "torch-zip":
        assert "could run code" in err and "convert-checkpoint" in err
    assert _digest(run) == before


def test_crafted_checkpoint_in_a_separate_process(workspace, tmp_path):
    """The same through the installed entry point, as a user runs it."""
    marker = tmp_path / "PWNED"
    run = _copy(workspace / "trained", tmp_path / "run")
    malicious_torch_file(run / "checkpoint.pt", marker)
    proc = run_cli(["evaluate", str(run), "--quiet"], cwd=tmp_path)
    lines = error_lines(proc.stderr)
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("physrnn: error:") and "checkpoint.pt" in lines[0]
    assert not marker.exists()


def test_crafted_readout_is_refused(workspace, tmp_path, capsys, monkeypatch):
    marker = tmp_path / "PWNED"
    run = _copy(workspace / "trained", tmp_path / "run")
    malicious_torch_file(run / "readout.pt", marker)
    _refused(["evaluate", str(run), "--quiet"], tmp_path, capsys, monkeypatch, "readout.pt",
             marker)


@pytest.mark.parametrize("target", ["data-info", "train-data", "collect-summary",
                                    "collect-record"])
def test_pickles_where_data_files_belong(workspace, tmp_path, target, capsys, monkeypatch):
    marker = tmp_path / "PWNED"
    if target == "data-info":
        malicious_pickle(tmp_path / "evil.h5", marker)
        args = ["data", "info", "evil.h5"]
        culprit = "evil.h5"
    elif target == "train-data":
        malicious_pickle(tmp_path / "evil.h5", marker)
        (tmp_path / "t.toml").write_text(TRAIN_TINY.format(data=tmp_path / "evil.h5"))
        args = ["train", "t.toml", "--out", "out", "--quiet"]
        culprit = "evil.h5"
    elif target == "collect-summary":
        malicious_pickle(tmp_path / "runs" / "a" / "summary.json", marker)
        args = ["collect", "runs", "--out", "t.csv"]
        culprit = "summary.json"
    else:
        run = tmp_path / "runs" / "a"
        run.mkdir(parents=True)
        (run / "summary.json").write_text(json.dumps({"status": "completed"}))
        malicious_pickle(run / "record.h5", marker)
        args = ["collect", "runs", "--out", "t.csv"]
        culprit = "record.h5"
    _refused(args, tmp_path, capsys, monkeypatch, culprit, marker)
    assert not (tmp_path / "t.csv").exists()


def test_plain_state_round_trip_is_safe_and_exact(tmp_path):
    import numpy as np

    state = {"a": np.float64(1.5), "b": np.arange(3, dtype=np.int64), "c": [np.int32(2), "x"],
             "d": {"t": torch.arange(4.0), "g": torch.Generator().manual_seed(3).get_state()},
             "e": (1, None, True)}
    path = save_checkpoint(tmp_path / "c.pt", state)
    back = load_checkpoint(path)
    assert back["a"] == 1.5 and type(back["a"]) is float
    assert torch.equal(back["b"], torch.tensor([0, 1, 2])) and back["b"].dtype == torch.int64
    assert back["c"] == [2, "x"] and torch.equal(back["d"]["t"], torch.arange(4.0))
    assert back["e"] == (1, None, True)
    with pytest.raises(RecordError, match=r"state.obj.*cannot be stored safely"):
        plain_state({"obj": object()})


def test_convert_checkpoint_needs_trust_and_keeps_the_original(tmp_path):
    path = tmp_path / "checkpoint.pt"
    legacy = LegacyRecord(step=3)
    torch.save({"format": "physrnn-checkpoint", "schema_version": 1, "physrnn_version": "0.1.0",
                "driver": {"history": [legacy], "w": torch.ones(2)}}, path)
    with pytest.raises(UnsafeFileError, match="convert-checkpoint"):
        load_checkpoint(path)
    with pytest.raises(ConfigError, match="--trust"):
        convert_checkpoint(path)
    original = path.read_bytes()
    assert main(["convert-checkpoint", str(path), "--trust"]) == 0
    state = load_checkpoint(path)
    assert state["driver"]["history"] == [{"step": 3}]
    assert torch.equal(state["driver"]["w"], torch.ones(2))
    assert (tmp_path / "checkpoint.pt.unsafe").read_bytes() == original
    with pytest.raises(ConfigError, match="already exists"):
        convert_checkpoint(path, trust=True)


def _edit_checkpoint(path, fn):
    state = torch.load(path, weights_only=True)
    fn(state)
    torch.save(state, path)


def test_checkpoint_of_another_version_names_both(workspace, tmp_path, capsys):
    run = _copy(workspace / "vmcrun", tmp_path / "run")
    _edit_checkpoint(run / "checkpoint.pt", lambda s: s.update(physrnn_version="0.0.7"))
    before = _digest(run)
    code = main(["vmc", str(workspace / "vmc.toml"), "--out", str(run), "--resume", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and len(error_lines(err)) == 1
    assert "physrnn 0.0.7" in err and "this is physrnn" in err
    assert _digest(run) == before


def test_checkpoint_with_another_model_shape_names_the_tensor(workspace, tmp_path, capsys):
    run = _copy(workspace / "vmcrun", tmp_path / "run")

    def widen(state):
        model = state["driver"]["model"]
        name = next(iter(model))
        model[name] = torch.zeros(*model[name].shape[:-1], model[name].shape[-1] + 3)

    _edit_checkpoint(run / "checkpoint.pt", widen)
    code = main(["vmc", str(workspace / "vmc.toml"), "--out", str(run), "--resume", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and len(error_lines(err)) == 1
    assert "in the file and" in err and "here" in err


def test_check_state_shapes_lists_missing_and_unexpected(tmp_path):
    model = torch.nn.Linear(2, 3)
    saved = {"weight": torch.zeros(3, 2), "extra": torch.zeros(1)}
    with pytest.raises(RecordError, match=r"bias missing from the file; extra unexpected"):
        check_state_shapes(saved, model, tmp_path / "c.pt")
    check_state_shapes(model.state_dict(), model, tmp_path / "c.pt")
