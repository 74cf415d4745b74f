"""Forecasting windows: inside one trajectory of one split, lazily read, worker-safe."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from physrnn.data.datasets import WindowDataset, make_loaders
from physrnn.data.hdf5 import read_dataset, write_dataset

N_TRAJ, N_T, N_STATE = 7, 23, 2


@pytest.fixture(scope="module")
def raw():
    rng = np.random.default_rng(3)
    # value encodes (trajectory, time), so a window crossing a boundary cannot match a slice
    y = (1000.0 * np.arange(N_TRAJ)[:, None, None] + np.arange(N_T)[None, :, None]
         + 0.1 * rng.normal(size=(N_TRAJ, N_T, N_STATE)))
    return 0.5 * np.arange(N_T), y


@pytest.fixture(scope="module")
def path(raw, tmp_path_factory):
    t, y = raw
    p = tmp_path_factory.mktemp("windows") / "d.h5"
    return write_dataset(p, t=t, y=y, meta={"system": "toy", "state_names": ["a", "b"]},
                         split_fractions=(0.6, 0.2, 0.2), split_seed=4)


@pytest.mark.parametrize("stride", [1, 4])
@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_every_window_is_a_slice_of_one_trajectory(path, raw, split, stride):
    _, y = raw
    context, horizon = 5, 3
    d = read_dataset(path)
    trajs = d.splits[split]
    # independent normalisation: train trajectories only
    train = y[d.splits["train"]].reshape(-1, N_STATE)
    mean, std = train.mean(axis=0), train.std(axis=0)
    ds = WindowDataset(path, split=split, context=context, horizon=horizon, stride=stride,
                       dtype=torch.float64)
    per_traj = (N_T - context - horizon) // stride + 1
    assert len(ds) == len(trajs) * per_traj
    seen = set()
    for i in range(len(ds)):
        traj, start = ds.index(i)
        assert traj in trajs and start % stride == 0
        assert 0 <= start and start + context + horizon <= N_T
        seen.add((traj, start))
        x, target = ds[i]
        assert x.shape == (context, N_STATE) and target.shape == (horizon, N_STATE)
        window = (y[traj, start: start + context + horizon] - mean) / std
        np.testing.assert_allclose(x.numpy(), window[:context], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(target.numpy(), window[context:], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ds.denormalise(target).numpy(),
                                   y[traj, start + context: start + context + horizon],
                                   rtol=1e-12)
    expected = {(int(tr), s) for tr in trajs for s in range(0, N_T - context - horizon + 1,
                                                             stride)}
    assert seen == expected
    with pytest.raises(IndexError):
        ds[len(ds)]
    assert ds.index(-1) == ds.index(len(ds) - 1)


def test_window_fills_trajectory_and_raw_values(path, raw):
    t, y = raw
    d = read_dataset(path)
    ds = WindowDataset(path, split="test", context=N_T - 1, horizon=1, normalise=False)
    assert len(ds) == len(d.splits["test"])  # one window per trajectory
    x, target = ds[0]
    assert x.dtype == torch.float32
    traj, start = ds.index(0)
    np.testing.assert_allclose(x.numpy(), y[traj, :-1].astype(np.float32))
    np.testing.assert_allclose(target.numpy(), y[traj, -1:].astype(np.float32))
    assert torch.equal(ds.denormalise(target), target)
    tc, tt = ds.window_times(0)
    np.testing.assert_array_equal(tc, t[:-1])
    np.testing.assert_array_equal(tt, t[-1:])


def test_in_memory_data_gives_same_items(path):
    lazy = WindowDataset(path, split="val", context=4, horizon=2, stride=2)
    mem = WindowDataset(read_dataset(path), split="val", context=4, horizon=2, stride=2)
    with read_dataset(path, load=False) as handle:
        reopened = WindowDataset(handle, split="val", context=4, horizon=2, stride=2)
    assert len(lazy) == len(mem) == len(reopened)
    for i in range(len(lazy)):
        for a, b, c in zip(lazy[i], mem[i], reopened[i], strict=True):
            assert torch.equal(a, b) and torch.equal(a, c)


def test_errors_are_clear(path, tmp_path):
    with pytest.raises(ValueError, match=r"5 \+ 19 = 24 time steps exceed .* n_t = 23"):
        WindowDataset(path, context=5, horizon=19)
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        WindowDataset(path, split="valid", context=2, horizon=1)
    with pytest.raises(ValueError, match="horizon must be an integer >= 1"):
        WindowDataset(path, context=2, horizon=0)
    with pytest.raises(ValueError, match="stride"):
        WindowDataset(path, context=2, horizon=1, stride=0)
    one = write_dataset(tmp_path / "one.h5", t=np.arange(5.0), y=np.zeros((1, 5, 1)),
                        meta={"system": "toy"})
    with pytest.raises(ValueError, match="split 'val' .* has no trajectories"):
        WindowDataset(one, split="val", context=2, horizon=1)
    assert list(make_loaders(one, context=2, horizon=1)) == ["train"]


def test_lazy_handle_per_process(path):
    ds = WindowDataset(path, context=3, horizon=2)
    assert ds._file is None  # nothing opened by the constructor
    first = ds[0]
    handle = ds._file
    assert handle is not None and ds._y.shape == (N_TRAJ, N_T, N_STATE)
    ds[1]
    assert ds._file is handle  # reused within a process
    ds._pid = -1  # as seen from a forked child: the inherited handle is not used
    assert all(torch.equal(a, b) for a, b in zip(ds[0], first, strict=True))
    assert ds._file is not handle and handle.id.valid
    clone = pickle.loads(pickle.dumps(ds))  # spawn: handles do not travel
    assert clone._file is None
    assert all(torch.equal(a, b) for a, b in zip(clone[0], first, strict=True))
    handle.close()
    ds.close()
    clone.close()


def test_multiworker_loader_matches_single_process(path):
    ds = WindowDataset(path, split="train", context=4, horizon=3, stride=2)
    multi = list(DataLoader(ds, batch_size=5, shuffle=False, num_workers=2,
                                  multiprocessing_context="spawn"))
    assert ds._file is None  # the parent never opened the file; each worker did
    single = list(DataLoader(ds, batch_size=5, shuffle=False, num_workers=0))
    assert ds._file is not None  # now the parent holds a handle, which forked workers inherit
    again = list(DataLoader(ds, batch_size=5, shuffle=False, num_workers=2,
                                  multiprocessing_context="spawn"))
    assert len(single) == len(multi) == len(again) == -(-len(ds) // 5)
    for (xa, ya), (xb, yb), (xc, yc) in zip(single, multi, again, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
        assert torch.equal(xa, xc) and torch.equal(ya, yc)
    ds.close()


def test_make_loaders_seeded_without_global_rng(path):
    state = torch.random.get_rng_state()
    a = make_loaders(path, context=4, horizon=2, batch_size=8, seed=11)
    b = make_loaders(path, context=4, horizon=2, batch_size=8, seed=11)
    c = make_loaders(path, context=4, horizon=2, batch_size=8, seed=12)
    assert set(a) == {"train", "val", "test"}
    xa = torch.cat([x for x, _ in a["train"]])
    xb = torch.cat([x for x, _ in b["train"]])
    xc = torch.cat([x for x, _ in c["train"]])
    assert torch.equal(xa, xb) and not torch.equal(xa, xc)
    ordered = torch.stack([a["train"].dataset[i][0] for i in range(len(a["train"].dataset))])
    assert not torch.equal(xa, ordered)  # shuffled
    assert torch.equal(torch.sort(xa.flatten()).values, torch.sort(ordered.flatten()).values)
    xv = torch.cat([x for x, _ in a["val"]])
    val = a["val"].dataset
    assert torch.equal(xv, torch.stack([val[i][0] for i in range(len(val))]))  # in order
    assert torch.equal(torch.random.get_rng_state(), state)
