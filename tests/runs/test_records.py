"""Records, summaries and checkpoints: atomic, validated, never clobbered."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from physrnn.errors import OutputExistsError, RecordError
from physrnn.runs.records import (
    atomic_path,
    load_checkpoint,
    prepare_output_dir,
    read_record,
    save_checkpoint,
    write_record,
    write_summary,
)


def _write(path):
    return write_record(path, config={"vmc": {"lr": 0.1}}, config_toml="[vmc]\nlr = 0.1\n",
                        history={"step": np.arange(1, 4), "energy": np.array([-1.0, -2, -3])},
                        results={"energy": -3.0, "kind": "exact", "skip": None}, command="t")


def test_record_roundtrip(tmp_path):
    rec = read_record(_write(tmp_path / "record.h5"))
    assert rec.config == {"vmc": {"lr": 0.1}}
    np.testing.assert_array_equal(rec.history["energy"], [-1.0, -2.0, -3.0])
    assert rec.results == {"energy": -3.0, "kind": "exact"}
    for key in ("physrnn_version", "git_revision", "created_utc", "config_toml", "status"):
        assert key in rec.attrs
    assert rec.attrs["status"] == "completed"


def test_corrupted_record(tmp_path):
    p = _write(tmp_path / "record.h5")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 3])
    with pytest.raises(RecordError, match="not a readable HDF5"):
        read_record(p)
    (tmp_path / "junk.h5").write_text("hello")
    with pytest.raises(RecordError, match="junk.h5"):
        read_record(tmp_path / "junk.h5")


def test_foreign_and_outdated_record(tmp_path):
    with h5py.File(tmp_path / "foreign.h5", "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(RecordError, match="not a physrnn record"):
        read_record(tmp_path / "foreign.h5")
    p = _write(tmp_path / "old.h5")
    with h5py.File(p, "a") as f:
        f.attrs["schema_version"] = 99
    with pytest.raises(RecordError, match="schema version 99"):
        read_record(p)
    with pytest.raises(RecordError, match="not found"):
        read_record(tmp_path / "missing.h5")


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "summary.json"
    write_summary(target, {"energy": 1.0})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert json.loads(target.read_text()) == {"energy": 1.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_failed_record_write_does_not_clobber(tmp_path):
    p = _write(tmp_path / "record.h5")
    before = p.read_bytes()
    with pytest.raises(RecordError, match="scalars only"):
        write_record(p, config={}, history={}, results={"bad": [1, 2]})
    assert p.read_bytes() == before


def test_summary_non_finite_becomes_null(tmp_path):
    write_summary(tmp_path / "s.json", {"a": float("nan"), "b": np.float64(2.0)})
    assert json.loads((tmp_path / "s.json").read_text()) == {"a": None, "b": 2.0}


def test_checkpoint_roundtrip_and_corruption(tmp_path):
    import torch

    p = save_checkpoint(tmp_path / "checkpoint.pt", {"x": torch.arange(3)})
    assert torch.equal(load_checkpoint(p)["x"], torch.arange(3))
    p.write_bytes(p.read_bytes()[:50])
    with pytest.raises(RecordError, match="unreadable"):
        load_checkpoint(p)
    torch.save({"x": 1}, tmp_path / "other.pt")
    with pytest.raises(RecordError, match="not a physrnn checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_output_dir_protection(tmp_path):
    out = prepare_output_dir(tmp_path / "run")
    write_summary(out / "summary.json", {"a": 1})
    with pytest.raises(OutputExistsError, match="--overwrite"):
        prepare_output_dir(out)
    prepare_output_dir(out, resume=True)
    (out / "checkpoint.pt").write_text("stale")
    prepare_output_dir(out, overwrite=True)
    assert not (out / "checkpoint.pt").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputExistsError, match="not a directory"):
        prepare_output_dir(tmp_path / "file")
