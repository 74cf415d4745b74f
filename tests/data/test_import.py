"""`physrnn data import`: recorded series from .npy, .npz, CSV and foreign HDF5 into the schema."""

from __future__ import annotations

import hashlib
import json

import h5py
import numpy as np
import pytest

from physrnn.cli import main
from physrnn.config import ConfigError
from physrnn.data import check_dataset, read_dataset, split_trajectories
from physrnn.data.importers import import_series, load_import_spec, read_series
from physrnn.errors import NonFiniteError, OutputExistsError, RecordError, UnsafeFileError

DT = 0.05


def _oscillator(n_t: int = 400, n_traj: int | None = None, seed: int = 0):
    """Times and (n_t, 2) or (n_traj, n_t, 2) states of a damped oscillator (x, v)."""
    t = 1.5 + DT * np.arange(n_t)
    rng = np.random.default_rng(seed)

    def one(phase):
        x = np.exp(-0.05 * t) * np.cos(t + phase)
        return np.stack([x, np.gradient(x, DT)], axis=-1)

    if n_traj is None:
        return t, one(0.3)
    return t, np.stack([one(p) for p in rng.uniform(0, 2 * np.pi, n_traj)])


def _write_csv(path, t, y, header="time,x,v"):
    np.savetxt(path, np.column_stack([t, y]), delimiter=",", header=header, comments="",
               fmt="%.17g")
    return path


def _attrs(path):
    with h5py.File(path, "r") as f:
        return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}


def _segments(path, n_t):
    """The written trajectories (time-mode segments) joined back into one series."""
    data = read_dataset(path)
    return data, data.y.reshape(-1, data.n_state), n_t - data.y.shape[0] * data.n_t


# ------------------------------------------------------------------------------ round trips
def test_npy_round_trip_and_provenance(tmp_path):
    t, y = _oscillator(403)
    src = tmp_path / "rec.npy"
    np.save(src, y)
    out = import_series(src, tmp_path / "d.h5", dt=DT, t0=t[0], names=["x", "v"],
                        units=["m", "m/s"], time_unit="s")
    check_dataset(out, deep=True)
    data, joined, dropped = _segments(out, 403)
    assert data.y.shape == (10, 40, 2) and dropped == 3
    np.testing.assert_array_equal(joined, y[:400])           # values equal to the source
    np.testing.assert_allclose(data.t, t[:40], rtol=0, atol=1e-12)
    m = data.meta
    assert m["dt"] == pytest.approx(DT, rel=1e-12) and m["time_unit"] == "s"
    assert m["state_names"] == ("x", "v") and m["state_units"] == ("m", "m/s")
    assert m["source"] == f"imported from {src.resolve()}"
    assert m["source_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert m["source_format"] == "npy" and tuple(m["source_shape"]) == (403, 2)
    assert m["split_mode"] == "time" and m["segment_steps"] == 40 and m["dropped_steps"] == 3
    assert m["physrnn_version"] and m["git_revision"]
    # the recipe is the resolved spec: it loads back and says what was done
    spec_file = tmp_path / "recipe.toml"
    spec_file.write_text(m["recipe"])
    spec = load_import_spec(spec_file)
    assert spec.time.dt == DT and spec.states.units == ["m", "m/s"]
    assert spec.source.layout == "time,state" and spec.splits.mode == "time"
    # time segments are chronological: train first, then val, then test
    assert data.splits["train"].tolist() == list(range(8))
    assert data.splits["val"].tolist() == [8] and data.splits["test"].tolist() == [9]


def test_npy_rank1_and_layout(tmp_path):
    t, y = _oscillator(300)
    np.save(tmp_path / "x.npy", y[:, 0])
    d1 = read_series(tmp_path / "x.npy", dt=DT)
    assert d1.y.shape == (1, 300, 1)
    np.testing.assert_array_equal(d1.y[0, :, 0], y[:, 0])
    np.save(tmp_path / "xt.npy", y.T)  # (n_state, n_t): say so
    d2 = read_series(tmp_path / "xt.npy", dt=DT, layout="state,time")
    np.testing.assert_array_equal(d2.y[0], y)
    ens = np.stack([y, 2 * y]).transpose(2, 1, 0)  # (state, time, traj)
    np.save(tmp_path / "e.npy", ens)
    d3 = read_series(tmp_path / "e.npy", dt=DT, layout="state,time,traj")
    np.testing.assert_array_equal(d3.y, np.stack([y, 2 * y]))


def test_npy_time_column_index(tmp_path):
    t, y = _oscillator(200)
    np.save(tmp_path / "a.npy", np.column_stack([y[:, 0], t, y[:, 1]]))
    s = read_series(tmp_path / "a.npy", time_column=1)
    np.testing.assert_array_equal(s.t, t)
    np.testing.assert_array_equal(s.y[0], y)
    assert s.dt == pytest.approx(DT)


def test_npz_ensemble_by_trajectory(tmp_path):
    t, y = _oscillator(120, n_traj=12)
    y32 = y.astype(np.float32)
    np.savez(tmp_path / "ens.npz", time=t, states=y32, other=np.zeros(3))
    out = import_series(tmp_path / "ens.npz", tmp_path / "e.h5", key="states",
                        time_key="time", seed=4)
    check_dataset(out, deep=True)
    data = read_dataset(out)
    assert data.y.dtype == np.float32
    np.testing.assert_array_equal(data.y, y32)
    np.testing.assert_array_equal(data.t, t)
    assert data.meta["split_mode"] == "trajectory" and data.meta["source_key"] == "states"
    assert data.meta["source_time"] == "time array 'time'"
    expect = split_trajectories(12, (0.8, 0.1, 0.1), seed=4)
    for k, v in expect.items():
        np.testing.assert_array_equal(data.splits[k], v)


def test_csv_round_trip_header_names(tmp_path):
    t, y = _oscillator(500)
    src = _write_csv(tmp_path / "lab.csv", t, y)
    out = import_series(src, tmp_path / "lab.h5", units=["m", "m/s"], time_unit="s",
                        segments=5)
    check_dataset(out, deep=True)
    data, joined, dropped = _segments(out, 500)
    assert data.meta["state_names"] == ("x", "v") and dropped == 0
    np.testing.assert_array_equal(joined, y)
    np.testing.assert_array_equal(data.t, t[:100])
    assert data.meta["source_time"] == "time column 'time'"
    # whitespace-delimited text with a comment line, time column by index
    txt = tmp_path / "ws.csv"
    txt.write_text("# recorded 2026\n" + "\n".join(f"{a:.17g}   {b:.17g} {c:.17g}"
                                                   for a, b, c in zip(t, *y.T, strict=True)))
    s = read_series(txt, delimiter="whitespace", time_column="0", names=["x", "v"])
    np.testing.assert_array_equal(s.y[0], y)
    np.testing.assert_array_equal(s.t, t)


def test_foreign_hdf5(tmp_path):
    t, y = _oscillator(200, n_traj=4)
    src = tmp_path / "lab.h5"
    with h5py.File(src, "w") as f:
        f["run1/data"] = y
        f["run1/time"] = t
        f["notes"] = np.arange(3)
    out = import_series(src, tmp_path / "d.h5", key="/run1/data", time_key="run1/time",
                        split="time", segments=4)
    check_dataset(out, deep=True)
    data = read_dataset(out)
    assert data.y.shape == (16, 50, 2) and data.meta["source_key"] == "run1/data"
    np.testing.assert_array_equal(data.y.reshape(4, 200, 2), y)
    # per recording: segments 0-1 train (0.8 of 4 = 3.2 -> 2 after filling val and test)
    assert set(data.splits["test"].tolist()) == {3, 7, 11, 15}
    with pytest.raises(ConfigError, match="'notes', 'run1/data', 'run1/time'"):
        read_series(src, key="run1/missing", time_key="run1/time")
    with pytest.raises(ConfigError, match="already a physrnn-dataset"):
        read_series(out, key="y")


# ------------------------------------------------------------------------------ the spec
def test_toml_spec_and_flag_override(tmp_path):
    t, y = _oscillator(300)
    src = _write_csv(tmp_path / "s.csv", t, y, header="clock,q,p")
    spec = tmp_path / "spec.toml"
    spec.write_text('[source]\ntime_column = "clock"\n[time]\nunit = "ms"\n'
                    '[states]\nnames = ["q", "p"]\nunits = ["1", "1/ms"]\n'
                    '[meta]\nname = "bench-7"\ndescription = "a bench oscillator"\n'
                    'lyapunov_exponent = 0.5\n[splits]\nsegments = 3\n')
    out = import_series(src, tmp_path / "o.h5", spec=spec, segments=6)  # the flag wins
    m = read_dataset(out).meta
    assert m["time_unit"] == "ms" and m["state_units"] == ("1", "1/ms")
    assert m["dataset_name"] == "bench-7" and m["lyapunov_exponent"] == 0.5
    assert m["segments_per_trajectory"] == 6
    spec.write_text("[time]\ndtt = 0.1\n")
    with pytest.raises(ConfigError, match=r"unknown key 'time.dtt'"):
        import_series(src, tmp_path / "p.h5", spec=spec)
    spec.write_text('[time]\ndt = "fast"\n')
    with pytest.raises(ConfigError, match=r"key 'time.dt': must be a number"):
        import_series(src, tmp_path / "p.h5", spec=spec)
    spec.write_text('[source]\nlayout = "time,space"\n')
    with pytest.raises(ConfigError, match="source.layout"):
        import_series(src, tmp_path / "p.h5", spec=spec)
    assert not (tmp_path / "p.h5").exists()


# ------------------------------------------------------------------------------ bad inputs
def _bad_inputs(tmp_path):
    """name -> (source file, extra CLI arguments, expected message fragment)."""
    t, y = _oscillator(100)
    p = tmp_path
    np.save(p / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.savez(p / "objz.npz", y=np.array([None, 1], dtype=object), allow_pickle=True)
    np.savez(p / "two.npz", t=t, a=y, b=y)
    np.savez(p / "short.npz", t=t[:50], y=y)
    np.save(p / "r4.npy", np.zeros((2, 2, 2, 2)))
    np.save(p / "empty.npy", np.zeros((0, 2)))
    t_rep = t.copy()
    t_rep[7] = t_rep[6]
    np.savez(p / "mono.npz", t=t_rep, y=y)
    t_gap = t.copy()
    t_gap[60:] += DT  # one sample missing
    np.savez(p / "gap.npz", t=t_gap, y=y)
    y_nan = y.copy()
    y_nan[42, 1] = np.nan
    np.savez(p / "nan.npz", t=t, y=y_nan)
    np.save(p / "ok.npy", y)
    (p / "text.csv").write_text("time,x\n0,1\n0.1,2\n0.2,abc\n")
    (p / "s.dat").write_text("1,2\n")
    _write_csv(p / "ok.csv", t, y)
    return {
        "missing file": ("nope.csv", [], "file not found"),
        "unknown extension": ("s.dat", [], "unknown file type '.dat'"),
        "pickle npy": ("obj.npy", ["--dt", "1"], "pickled Python objects"),
        "pickle npz": ("objz.npz", ["--dt", "1"], "pickled Python objects"),
        "wrong key": ("two.npz", ["--key", "c", "--time-key", "t"],
                      "no array 'c' (key); the file holds: 't', 'a', 'b'"),
        "ambiguous key": ("two.npz", ["--time-key", "t"], "say which holds the states"),
        "names count": ("ok.csv", ["--names", "a,b,c"], "3 state names"),
        "units count": ("ok.npy", ["--dt", "1", "--units", "m"], "1 state units"),
        "non-monotonic time": ("mono.npz", ["--key", "y", "--time-key", "t"],
                               "not strictly increasing: t[6]"),
        "non-uniform spacing": ("gap.npz", ["--key", "y", "--time-key", "t"],
                                "not uniformly spaced: t[60] - t[59]"),
        "nan": ("nan.npz", ["--key", "y", "--time-key", "t"],
                "time index 42 (t = 3.6), component 1 ('y1')"),
        "rank 4": ("r4.npy", ["--dt", "1"], "rank 4"),
        "empty array": ("empty.npy", ["--dt", "1"], "is empty (shape (0, 2))"),
        "text cell": ("text.csv", [], "line 4, column 'x': 'abc' is not a number"),
        "no times": ("ok.npy", [], "no times"),
        "dt disagrees": ("ok.csv", ["--dt", "0.2"], "disagrees with the spacing"),
        "time length": ("short.npz", ["--key", "y", "--time-key", "t"],
                        "has 50 values but the states have n_t = 100"),
        "time column": ("ok.npy", ["--time-column", "5"], "index 5 out of range"),
    }


def test_bad_inputs_one_clear_error_and_no_file(tmp_path, capsys):
    cases = _bad_inputs(tmp_path)
    for name, (src, extra, match) in cases.items():
        out = tmp_path / "out" / f"{name.replace(' ', '_')}.h5"
        rc = main(["data", "import", str(tmp_path / src), "--out", str(out), *extra])
        err = capsys.readouterr().err
        assert rc == 2, (name, err)
        assert err.startswith("physrnn: error:") and len(err.strip().splitlines()) == 1, err
        assert match in err, (name, err)
        assert not out.exists(), name
    leftovers = list((tmp_path / "out").glob("*.h5")) + list((tmp_path / "out").glob(".*tmp"))
    assert not leftovers


def test_bad_inputs_exception_types(tmp_path):
    cases = _bad_inputs(tmp_path)
    kinds = {"pickle npy": UnsafeFileError, "pickle npz": UnsafeFileError,
             "nan": NonFiniteError, "rank 4": RecordError, "text cell": RecordError,
             "non-uniform spacing": RecordError, "wrong key": ConfigError}
    for name, exc_type in kinds.items():
        src, extra, match = cases[name]
        opts = {"key": "y", "time_key": "t"} if "--time-key" in extra else {}
        if name == "wrong key":
            opts = {"key": "c", "time_key": "t"}
        if "--dt" in extra:
            opts["dt"] = 1.0
        with pytest.raises(exc_type, match="."):
            import_series(tmp_path / src, tmp_path / "x.h5", **opts)
        assert not (tmp_path / "x.h5").exists()


def test_cli_end_to_end_and_no_clobber(tmp_path, capsys):
    t, y = _oscillator(400)
    src = _write_csv(tmp_path / "lab.csv", t, y)
    out = tmp_path / "lab.h5"
    assert main(["data", "import", str(src), "--out", str(out), "--units", "m,m/s",
                 "--time-unit", "s", "--name", "lab", "--fractions", "0.6,0.2,0.2",
                 "--segments", "5", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "imported from" in printed and "x [m], v [m/s]" in printed
    data = read_dataset(out)
    assert [len(data.splits[k]) for k in ("train", "val", "test")] == [3, 1, 1]
    before = out.read_bytes()
    assert main(["data", "import", str(src), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err and out.read_bytes() == before
    assert main(["data", "import", str(src), "--out", str(out), "--overwrite",
                 "--segments", "4"]) == 0
    assert read_dataset(out).n_traj == 4
    assert main(["data", "info", str(out)]) == 0
    assert "source_sha256" in capsys.readouterr().out
    with pytest.raises(OutputExistsError):
        import_series(src, out)


# ------------------------------------------------------------------------------ downstream
def test_loaders_work_on_an_imported_file(tmp_path):
    from physrnn.data import make_loaders

    t, y = _oscillator(1000)
    np.save(tmp_path / "r.npy", y)
    out = import_series(tmp_path / "r.npy", tmp_path / "r.h5", dt=DT)
    loaders = make_loaders(out, context=20, horizon=5, stride=10, batch_size=4)
    assert set(loaders) == {"train", "val", "test"}
    x, target = next(iter(loaders["train"]))
    assert x.shape == (4, 20, 2) and target.shape == (4, 5, 2)
    ds = loaders["test"].dataset
    traj, start = ds.index(0)
    data = read_dataset(out)
    expect = data.normalisation.normalise(data.y[traj, start: start + 20])
    np.testing.assert_allclose(ds[0][0].numpy(), expect, rtol=1e-6, atol=1e-6)


def test_train_runs_on_an_imported_csv(tmp_path, capsys):
    t, y = _oscillator(1000)
    src = _write_csv(tmp_path / "osc.csv", t, y)
    data_file = tmp_path / "osc.h5"
    assert main(["data", "import", str(src), "--out", str(data_file), "--quiet"]) == 0
    cfg = tmp_path / "train.toml"
    cfg.write_text(f"[data]\npath = {json.dumps(str(data_file))}\n")
    sets = ["data.context=20", "data.horizon=5", "data.stride=20", "train.epochs=2",
            "train.rollout_start_epoch=1", "train.rollout_end_epoch=1",
            "train.rollout_k_max=5", "model.hidden_size=4", "eval.n_test=2",
            "eval.horizon_lyapunov=1.0", "eval.free_run_steps=20",
            'eval.baselines=["persistence"]', "run.threads=1", "run.device=cpu"]
    out = tmp_path / "run"
    argv = ["train", str(cfg), "--out", str(out), "--quiet"]
    assert main(argv + [a for s in sets for a in ("--set", s)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs"] == 2
    assert summary["system"] == "imported"
    assert [r["model"] for r in summary["table"]][:2] == ["gru", "persistence"]
