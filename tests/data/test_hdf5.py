"""The dataset file schema: round trips, loud validation, atomic writes, splits, normalisation."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from physrnn.data.hdf5 import (
    DATASET_FORMAT,
    DATASET_SCHEMA_VERSION,
    check_dataset,
    describe_dataset,
    read_dataset,
    split_trajectories,
    validate_dataset,
    write_dataset,
)
from physrnn.errors import NonFiniteError, OutputExistsError, RecordError

META = {
    "system": "lorenz63",
    "kind": "ode",
    "params": {"sigma": 10.0, "rho": 28.0, "beta": 8 / 3},
    "time_unit": "1",
    "lyapunov_exponent": 0.9056,
    "time_scale": 1 / 0.9056,
    "time_scale_name": "Lyapunov time",
    "integrator": "DOP853",
    "rtol": 1e-10,
    "atol": 1e-10,
    "transient": 50.0,
    "seed": 7,
    "reference": "Lorenz, J. Atmos. Sci. 20, 130 (1963)",
    "recipe": "[system]\nname = \"lorenz63\"\n",
    "dataset_name": "tiny",
    "tags": ["chaotic", "3d"],
    "n_traj": 6,
}


def _data(n_traj=6, n_t=40, n_state=3, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    t = 0.01 * np.arange(n_t)
    # each trajectory has its own offset, so statistics over the wrong trajectories differ
    y = (rng.normal(size=(n_traj, n_t, n_state))
         + 10.0 * np.arange(n_traj)[:, None, None]).astype(dtype)
    return t, y


def _write(path, n_traj=6, n_t=40, n_state=3, **kw):
    t, y = _data(n_traj, n_t, n_state)
    meta = dict(META, n_traj=n_traj, state_names=[f"q{i}" for i in range(n_state)],
                state_units=["m"] * n_state)
    return write_dataset(path, t=t, y=y, meta=meta, **kw)


# ------------------------------------------------------------------ round trip
@st.composite
def _datasets(draw):
    n_traj = draw(st.integers(1, 5))
    n_t = draw(st.integers(1, 50))
    n_state = draw(st.integers(1, 4))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    width = 32 if dtype == np.float32 else 64
    y = draw(arrays(dtype, (n_traj, n_t, n_state),
                    elements=st.floats(-1e6, 1e6, width=width, allow_subnormal=False)))
    dt = draw(st.floats(1e-3, 10.0))
    split_seed = draw(st.integers(0, 2**31 - 1))
    return y, dt, split_seed


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_datasets())
def test_round_trip_property(case):
    y, dt, split_seed = case
    n_traj, n_t, n_state = y.shape
    t = dt * np.arange(n_t)
    meta = dict(META, n_traj=n_traj, state_names=[f"s{i}" for i in range(n_state)],
                state_units=["kg"] * n_state, dt=dt)
    obs = {"invariant/energy": (y.astype(np.float64) ** 2).sum(-1)}
    with tempfile.TemporaryDirectory() as tmp:
        path = write_dataset(Path(tmp) / "d.h5", t=t, y=y, meta=meta, observables=obs,
                             y0=y[:, 0], split_seed=split_seed)
        assert validate_dataset(path, deep=True) == []
        d = read_dataset(path)
        lazy = read_dataset(path, load=False)
        try:
            assert lazy.lazy and isinstance(lazy.y, h5py.Dataset)
            np.testing.assert_array_equal(lazy.y[n_traj - 1, : n_t // 2 + 1],
                                          y[n_traj - 1, : n_t // 2 + 1])
        finally:
            lazy.close()
    assert d.y.dtype == y.dtype and d.y.shape == y.shape
    np.testing.assert_array_equal(d.y, y)
    np.testing.assert_array_equal(d.t, t)
    np.testing.assert_array_equal(d.y0, y[:, 0])
    np.testing.assert_array_equal(d.observables["invariant/energy"], obs["invariant/energy"])
    for key, v in meta.items():
        got = d.meta[key]
        if isinstance(v, list):
            assert got == tuple(v), key
        elif isinstance(v, float):
            assert got == pytest.approx(v, rel=1e-12), key
        else:
            assert got == v, key
    assert d.meta["format"] == DATASET_FORMAT
    assert d.meta["schema_version"] == DATASET_SCHEMA_VERSION
    for key in ("physrnn_version", "git_revision", "created_utc"):
        assert isinstance(d.meta[key], str) and d.meta[key]
    # splits: by trajectory, disjoint, covering, as split_trajectories computes them
    expected = split_trajectories(n_traj, seed=split_seed)
    for name in ("train", "val", "test"):
        np.testing.assert_array_equal(d.splits[name], expected[name])
    allidx = np.concatenate(list(d.splits.values()))
    assert sorted(allidx.tolist()) == list(range(n_traj))
    train = y[d.splits["train"]].astype(np.float64)
    np.testing.assert_allclose(d.normalisation.mean, train.mean(axis=(0, 1)),
                               rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(d.normalisation.std, train.std(axis=(0, 1)),
                               rtol=1e-8, atol=1e-8)


def test_defaults_and_chunking(tmp_path):
    t, y = _data(2, 3000, 2, np.float32)
    path = write_dataset(tmp_path / "d.h5", t=t, y=y, meta={"system": "toy"})
    d = read_dataset(path)
    assert d.meta["state_names"] == ("y0", "y1") and d.meta["state_units"] == ("1", "1")
    assert d.meta["params"] == {} and d.meta["seed"] == -1 and d.meta["recipe"] == ""
    assert math.isnan(d.meta["lyapunov_exponent"]) and math.isnan(d.meta["rtol"])
    assert d.meta["dt"] == pytest.approx(0.01)
    with h5py.File(path) as f:
        assert f["y"].chunks == (1, 1024, 2)
        assert f["y"].compression == "gzip"
        assert f["y"].dtype == np.float32
    # small-n behaviour (documented): 2 trajectories -> train 1, val 1, test 0; 1 -> all train
    assert [d.splits[k].size for k in ("train", "val", "test")] == [1, 1, 0]
    path1 = write_dataset(tmp_path / "one.h5", t=t[:5], y=y[:1, :5], meta={"system": "toy"})
    one = read_dataset(path1)
    assert one.splits["train"].tolist() == [0] and one.splits["val"].size == 0
    assert one.y.shape == (1, 5, 2)  # rank never changes


def test_mode_follows_umask(tmp_path):
    path = _write(tmp_path / "d.h5")
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


# ------------------------------------------------------------------ validation
def test_truncated_and_not_hdf5(tmp_path):
    path = _write(tmp_path / "d.h5", n_t=400)
    data = path.read_bytes()
    for cut in (len(data) // 10, len(data) // 2, len(data) - 64):
        bad = tmp_path / f"cut{cut}.h5"
        bad.write_bytes(data[:cut])
        problems = validate_dataset(bad)
        assert problems, cut
        assert "truncated" in problems[0], problems
        with pytest.raises(RecordError, match=f"cut{cut}.h5"):
            read_dataset(bad)
    junk = tmp_path / "junk.h5"
    junk.write_text("time,x\n0,1\n")
    with pytest.raises(RecordError, match="not a readable HDF5 file"):
        check_dataset(junk)
    with pytest.raises(RecordError, match="not found"):
        read_dataset(tmp_path / "missing.h5")


def test_foreign_hdf5(tmp_path):
    with h5py.File(tmp_path / "foreign.h5", "w") as f:
        f["x"] = np.arange(3)
    problems = validate_dataset(tmp_path / "foreign.h5")
    assert len(problems) == 1 and "no 'format' attribute" in problems[0]
    assert "'x'" in problems[0]  # says what the file holds instead
    with h5py.File(tmp_path / "record.h5", "w") as f:
        f.attrs["format"] = "physrnn-record"
    with pytest.raises(RecordError, match="format attribute is 'physrnn-record'"):
        read_dataset(tmp_path / "record.h5")


@pytest.mark.parametrize("version, message", [
    (0, "schema_version 0 is outdated"),
    (2, "schema_version 2 is newer"),
    ("1", "expected the integer 1"),
])
def test_schema_version(tmp_path, version, message):
    path = _write(tmp_path / "d.h5")
    with h5py.File(path, "a") as f:
        f.attrs["schema_version"] = version
    with pytest.raises(RecordError, match=message):
        read_dataset(path)


def _tamper(path, fn):
    with h5py.File(path, "a") as f:
        fn(f)
    return validate_dataset(path)


def test_missing_parts_and_inconsistent_shapes(tmp_path):
    def case(name, fn):
        return _tamper(_write(tmp_path / f"{name}.h5"), fn)

    assert any("missing dataset '/y'" in p for p in case("noy", lambda f: f.__delitem__("y")))
    assert any("missing root attribute 'system'" in p
               for p in case("nosys", lambda f: f.attrs.__delitem__("system")))

    def short_t(f):
        del f["t"]
        f["t"] = 0.01 * np.arange(39)

    problems = case("short", short_t)
    assert any("'/t' has 39 times but '/y' has n_t = 40" in p for p in problems), problems
    problems = case("nt", lambda f: f.attrs.__setitem__("n_traj", 9))
    assert any("n_traj = 9" in p for p in problems)
    problems = case("names", lambda f: f.attrs.__setitem__(
        "state_names", np.array(["a"], dtype=h5py.string_dtype())))
    assert any("'state_names' has 1 entries" in p for p in problems)

    def bad_norm(f):
        del f["normalisation/std"]
        f["normalisation/std"] = np.ones(2)

    assert any("'/normalisation/std' has shape (2,)" in p for p in case("norm", bad_norm))
    assert any("missing group '/splits'" in p
               for p in case("nosplits", lambda f: f.__delitem__("splits")))

    def rank2(f):
        del f["y"]
        f["y"] = np.zeros((6, 40))

    assert any("rank 3" in p for p in case("rank", rank2))


def test_bad_splits_in_file(tmp_path):
    path = _write(tmp_path / "d.h5")

    def overlap(f):
        train = f["splits/train"][()]
        del f["splits/val"]
        f["splits/val"] = train[:1]

    problems = _tamper(path, overlap)
    assert any("overlap" in p and "trajectory" in p for p in problems), problems
    path = _write(tmp_path / "e.h5")

    def out_of_range(f):
        del f["splits/test"]
        f["splits/test"] = np.array([6, -1], dtype=np.int64)

    problems = _tamper(path, out_of_range)
    assert any("out of range [0, 6)" in p and "[6, -1]" in p for p in problems), problems
    with pytest.raises(RecordError, match="out of range"):
        read_dataset(path)


def test_deep_validation_finds_nan_and_stale_normalisation(tmp_path):
    path = _write(tmp_path / "d.h5")
    with h5py.File(path, "a") as f:
        f["y"][3, 11, 1] = np.nan
    assert validate_dataset(path) == []  # shallow check does not read /y
    problems = validate_dataset(path, deep=True)
    assert len(problems) == 1 and "trajectory 3, time index 11" in problems[0], problems
    path = _write(tmp_path / "e.h5")
    with h5py.File(path, "a") as f:
        f["normalisation/mean"][0] += 1.0
    problems = validate_dataset(path, deep=True)
    assert any("'/normalisation/mean'" in p for p in problems), problems


def test_corrupted_chunk_found_by_deep_check(tmp_path):
    path = _write(tmp_path / "d.h5", n_t=400)
    with h5py.File(path) as f:
        offset = f["y"].id.get_chunk_info(2).byte_offset  # a gzip chunk of trajectory 2
    raw = bytearray(path.read_bytes())
    raw[offset + 16: offset + 48] = b"\xff" * 32
    path.write_bytes(bytes(raw))
    problems = validate_dataset(path, deep=True)
    assert len(problems) == 1 and "damaged" in problems[0], problems
    with h5py.File(path, "a") as f:
        del f["y"]
        del f["splits/val"]
    problems = validate_dataset(path)
    assert "missing dataset '/y'" in problems[0] and "/splits/val" in problems[1], problems


# ------------------------------------------------------------------ writing is loud and atomic
def test_nan_rejected_at_write(tmp_path):
    t, y = _data()
    y[2, 7, 1] = np.nan
    y[4, 3, 0] = np.inf
    with pytest.raises(NonFiniteError, match=r"trajectory 2, time index 7 \(t = 0.07\), "
                                             r"component 1 \('q1'\)") as exc:
        write_dataset(tmp_path / "d.h5", t=t, y=y,
                      meta={"system": "s", "state_names": ["q0", "q1", "q2"]})
    assert "2 non-finite value(s)" in str(exc.value) and "[2, 4]" in str(exc.value)
    assert list(tmp_path.iterdir()) == []  # nothing written, no temporary left
    t, y = _data()
    with pytest.raises(NonFiniteError, match="observable 'e'.*trajectory 1, time index 0"):
        obs = np.ones(y.shape[:2])
        obs[1, 0] = np.nan
        write_dataset(tmp_path / "d.h5", t=t, y=y, meta={"system": "s"}, observables={"e": obs})


def test_existing_file_not_clobbered(tmp_path):
    path = _write(tmp_path / "d.h5")
    before = path.read_bytes()
    t, y = _data(seed=1)
    with pytest.raises(OutputExistsError, match="overwrite"):
        write_dataset(path, t=t, y=y, meta={"system": "other"})
    assert path.read_bytes() == before
    write_dataset(path, t=t, y=y, meta={"system": "other"}, overwrite=True)
    assert read_dataset(path).meta["system"] == "other"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.h5"]


def test_crash_during_write_leaves_old_file(tmp_path, monkeypatch):
    path = _write(tmp_path / "d.h5")
    before = path.read_bytes()

    def boom(self, *a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(h5py.Group, "create_group", boom)
    t, y = _data(seed=1)
    with pytest.raises(RuntimeError, match="disk full"):
        write_dataset(path, t=t, y=y, meta={"system": "other"}, overwrite=True)
    assert path.read_bytes() == before
    with pytest.raises(RuntimeError):
        write_dataset(tmp_path / "new.h5", t=t, y=y, meta={"system": "other"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.h5"]


@pytest.mark.parametrize("kwargs, message", [
    ({"y": np.zeros((4, 3))}, "rank 3"),
    ({"y": np.zeros((1, 4, 3), dtype=np.int64)}, "float32 or float64"),
    ({"t": np.arange(5.0)}, "t has 5 times but y has n_t = 4"),
    ({"t": np.array([0.0, 1.0, 1.0, 2.0])}, "strictly increasing"),
    ({"meta": {"params": {}}}, "name the system"),
    ({"meta": {"system": "s", "format": "x"}}, "set by write_dataset"),
    ({"meta": {"system": "s", "dt": 0.5}}, "uniformly spaced by 1"),
    ({"meta": {"system": "s", "n_traj": 3}}, "n_traj"),
    ({"meta": {"system": "s", "state_names": ["a"]}}, "one string per state component"),
    ({"meta": {"system": "s", "extra": {"a": 1}}}, "extra metadata"),
    ({"meta": {"system": "s", "extra": None}}, "is None"),
    ({"splits": {"train": [0], "val": [0]}}, "overlap"),
    ({"splits": {"train": [], "val": [0]}}, "'train' is empty"),
    ({"splits": {"train": [0], "holdout": [1]}}, "unknown split"),
    ({"split_fractions": (0.5, 0.5, 0.5)}, "sum to 1"),
    ({"split_fractions": (0.0, 0.5, 0.5)}, "train fraction must be > 0"),
    ({"observables": {"e": np.zeros((1, 3))}}, "observable 'e' must have shape"),
])
def test_write_rejects_bad_input(tmp_path, kwargs, message):
    args = {"t": np.arange(4.0), "y": np.zeros((1, 4, 3)), "meta": {"system": "s"}}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        write_dataset(tmp_path / "d.h5", **args)
    assert not (tmp_path / "d.h5").exists()


# ------------------------------------------------------------------ splits, normalisation
def test_splits_disjoint_covering_deterministic():
    for n in range(1, 25):
        for seed in (0, 1, 123):
            s = split_trajectories(n, (0.7, 0.2, 0.1), seed=seed)
            parts = [s[k].tolist() for k in ("train", "val", "test")]
            flat = sum(parts, [])
            assert sorted(flat) == list(range(n)) and len(flat) == len(set(flat))
            assert s["train"].size >= 1 and s["train"].dtype == np.int64
            again = split_trajectories(n, (0.7, 0.2, 0.1), seed=seed)
            assert all(np.array_equal(s[k], again[k]) for k in s)
    a, b = split_trajectories(40, seed=0), split_trajectories(40, seed=1)
    assert not np.array_equal(a["train"], b["train"])
    sizes = {n: tuple(len(v) for v in split_trajectories(n).values()) for n in (1, 2, 3, 5, 10)}
    assert sizes == {1: (1, 0, 0), 2: (1, 1, 0), 3: (1, 1, 1), 5: (3, 1, 1), 10: (8, 1, 1)}


def test_normalisation_is_train_only(tmp_path):
    t, y = _data(n_traj=10, n_t=30, n_state=2)
    path = write_dataset(tmp_path / "d.h5", t=t, y=y, meta={"system": "s"}, split_seed=5)
    d = read_dataset(path)
    train = d.splits["train"]
    # independent computation on the train trajectories only
    ref = y[train].reshape(-1, 2)
    np.testing.assert_allclose(d.normalisation.mean, ref.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(d.normalisation.std, ref.std(axis=0), rtol=1e-12)
    # the offsets differ per trajectory, so using all trajectories would give another mean
    assert not np.allclose(d.normalisation.mean, y.reshape(-1, 2).mean(axis=0))
    z = d.normalisation.normalise(y[train])
    np.testing.assert_allclose(z.reshape(-1, 2).mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(d.normalisation.denormalise(z), y[train], rtol=1e-12)


def test_explicit_splits_and_constant_component(tmp_path):
    t, y = _data(n_traj=4, n_t=10, n_state=2)
    y[:, :, 1] = 3.0
    path = write_dataset(tmp_path / "d.h5", t=t, y=y, meta={"system": "s"},
                         splits={"train": [3, 1], "test": [0]})
    d = read_dataset(path)
    assert d.splits["train"].tolist() == [1, 3] and d.splits["val"].size == 0
    assert d.splits["test"].tolist() == [0]
    assert d.normalisation.std[1] == 0.0 and d.normalisation.scale[1] == 1.0
    assert np.all(np.isfinite(d.normalisation.normalise(y)))


# ------------------------------------------------------------------ describe
def test_describe(tmp_path):
    path = _write(tmp_path / "d.h5", n_t=101)
    text = describe_dataset(path)
    for needle in ("lorenz63", "n_traj=6, n_t=101, n_state=3", "dt = 0.01", "DOP853",
                   "rtol = 1e-10", "train 4, val 1, test 1", "0.9056 Lyapunov times",
                   "q0 [m]", "recipe", "git", "KiB", '"rho": 28.0', "tiny"):
        assert needle in text, (needle, text)
    (tmp_path / "junk.h5").write_bytes(b"\x00" * 100)
    with pytest.raises(RecordError, match="junk.h5"):
        describe_dataset(tmp_path / "junk.h5")
