"""The generic training loop: losses, schedules, clipping, TBPTT, early stopping, exact resume."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from physrnn.errors import NonFiniteError, RecordError
from physrnn.nn.recurrent import RecurrentForecaster
from physrnn.train import HISTORY_KEYS, RolloutSchedule, Trainer

CONTEXT, HORIZON = 8, 5


def oscillator_windows(n=48, *, context=CONTEXT, horizon=HORIZON, dt=0.3, seed=0,
                       dtype=torch.float32):
    """Windows of the harmonic oscillator (x, v) = A (cos(t + phi), -sin(t + phi)), exact."""
    rng = np.random.default_rng(seed)
    amp = rng.uniform(0.5, 1.5, size=(n, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    t = dt * np.arange(context + horizon)[None, :]
    y = amp[..., None] * np.stack([np.cos(t + phase), -np.sin(t + phase)], axis=-1)
    y = torch.as_tensor(y, dtype=dtype)
    return y[:, :context].contiguous(), y[:, context:].contiguous()


def make_model(seed=0, *, dropout=0.0, dtype=torch.float32, cell="gru"):
    return RecurrentForecaster(2, cell=cell, hidden_size=16, n_layers=2 if dropout else 1,
                               dropout=dropout, seed=seed, dtype=dtype)


def make_trainer(model, **kw):
    opt = torch.optim.Adam(model.parameters(), lr=kw.pop("lr", 1e-2))
    return Trainer(model, optimizer=opt, **kw)


# ------------------------------------------------------------------ learning
def test_fit_reduces_loss_on_oscillator():
    x, y = oscillator_windows(64)
    xv, yv = oscillator_windows(16, seed=1)
    model = make_model()
    trainer = make_trainer(model, rollout_schedule=RolloutSchedule(4, 8, k_max=HORIZON),
                           clip_grad_norm=1.0)
    val = DataLoader(TensorDataset(xv, yv), batch_size=16)
    before = trainer.evaluate(val)
    hist = trainer.fit(trainer.make_loader(TensorDataset(x, y), batch_size=16), val,
                       epochs=14, progress=False)
    assert set(HISTORY_KEYS) <= set(hist)
    assert all(len(v) == 14 for v in hist.values())
    assert hist["epoch"].tolist() == list(range(1, 15))
    assert hist["rollout_k"].tolist() == [0, 0, 0, 0, 1, 2, 3, 4, 5, 5, 5, 5, 5, 5]
    assert np.all(np.diff(hist["time_s"]) >= 0)
    # the closed-loop validation error over the whole horizon drops by an order of magnitude
    assert hist["val_loss"][-1] < 0.1 * before
    assert hist["train_loss"][-1] < 0.1 * hist["train_loss"][0]


def test_rollout_schedule():
    s = RolloutSchedule(2, 6, k_min=1, k_max=9)
    assert [s(e) for e in range(8)] == [0, 0, 1, 3, 5, 7, 9, 9]
    assert [RolloutSchedule(0, 0, k_max=4)(e) for e in range(3)] == [4, 4, 4]
    with pytest.raises(ValueError):
        RolloutSchedule(3, 2, k_max=2)
    with pytest.raises(ValueError):
        RolloutSchedule(0, 2, k_min=3, k_max=2)
    trainer = make_trainer(make_model(), rollout_schedule=3)
    assert trainer.rollout_length(0) == 3


def test_rollout_longer_than_horizon_is_refused():
    x, y = oscillator_windows(8)
    trainer = make_trainer(make_model(), rollout_schedule=HORIZON + 1)
    with pytest.raises(ValueError, match="exceeds the target horizon"):
        trainer.fit(DataLoader(TensorDataset(x, y), batch_size=8), epochs=1, progress=False)


# ------------------------------------------------------------------ the losses
@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("tbptt", [None, 3])
def test_rollout_of_length_one_equals_teacher_forcing_on_first_target(cell, tbptt):
    x, y = oscillator_windows(6, dtype=torch.float64)
    model = make_model(cell=cell, dtype=torch.float64)
    # "target" teacher forcing with a one-step horizon covers exactly the first target step
    tf_target = make_trainer(model, teacher_forcing="target", tbptt=tbptt)
    one = tf_target.rollout_loss(x, y[:, :1], 1)
    torch.testing.assert_close(tf_target.teacher_forced_loss(x, y[:, :1]), one,
                               rtol=1e-12, atol=0)
    # with the full horizon: the rollout of length 1 is the first target step's one-step loss
    torch.testing.assert_close(tf_target.rollout_loss(x, y, 1), one, rtol=1e-12, atol=0)
    pred, _ = model(torch.cat([x, y], 1)[:, :-1])
    first = torch.mean((pred[:, CONTEXT - 1] - y[:, 0]) ** 2)
    torch.testing.assert_close(one, first, rtol=1e-12, atol=0)
    # and "window" teacher forcing is the mean one-step error over the whole window
    window = make_trainer(model, teacher_forcing="window", tbptt=tbptt)
    full = torch.cat([x, y], 1)
    torch.testing.assert_close(window.teacher_forced_loss(x, y),
                               torch.mean((pred - full[:, 1:]) ** 2), rtol=1e-12, atol=0)
    # a longer rollout is a different (closed-loop) loss
    assert not torch.isclose(tf_target.rollout_loss(x, y, 3), one)


def test_rollout_loss_matches_model_rollout():
    x, y = oscillator_windows(6, dtype=torch.float64)
    model = make_model(dtype=torch.float64)
    trainer = make_trainer(model)
    for k in (1, 3, HORIZON):
        ref = torch.mean((model.rollout(x, k) - y[:, :k]) ** 2)
        assert torch.equal(trainer.rollout_loss(x, y, k), ref)
    with pytest.raises(ValueError, match="rollout length"):
        trainer.rollout_loss(x, y, HORIZON + 1)


def _grads(model):
    return torch.cat([p.grad.flatten() for p in model.parameters()])


def test_tbptt_truncates_gradient_not_loss():
    x, y = oscillator_windows(4, dtype=torch.float64)
    model = make_model(dtype=torch.float64)
    full = make_trainer(model)
    short = make_trainer(model, tbptt=4)
    longer = make_trainer(model, tbptt=CONTEXT + HORIZON)  # no truncation inside the window
    for fn in ("teacher_forced_loss", "rollout_loss"):
        args = (x, y) if fn == "teacher_forced_loss" else (x, y, HORIZON)
        model.zero_grad()
        l_full = getattr(full, fn)(*args, backward=True)
        g_full = _grads(model)
        model.zero_grad()
        l_short = getattr(short, fn)(*args, backward=True)
        g_short = _grads(model)
        model.zero_grad()
        getattr(longer, fn)(*args, backward=True)
        g_longer = _grads(model)
        torch.testing.assert_close(l_short, l_full, rtol=1e-12, atol=0)
        torch.testing.assert_close(g_longer, g_full, rtol=1e-10, atol=1e-14)
        assert not torch.allclose(g_short, g_full, rtol=1e-6, atol=0)


def test_tbptt_teacher_forcing_gradient_matches_manual_truncation():
    x, y = oscillator_windows(4, dtype=torch.float64)
    model = make_model(dtype=torch.float64)
    trainer = make_trainer(model, tbptt=3)
    model.zero_grad()
    trainer.teacher_forced_loss(x, y, backward=True)
    g = _grads(model)
    # by hand: detach the state every 3 inputs, one backward of the whole-window mean
    w = torch.cat([x, y], 1)
    inp, out = w[:, :-1], w[:, 1:]
    state, preds = None, []
    for a in range(0, inp.shape[1], 3):
        p, state = model(inp[:, a:a + 3], state)
        preds.append(p)
        state = state.detach()
    model.zero_grad()
    torch.mean((torch.cat(preds, 1) - out) ** 2).backward()
    torch.testing.assert_close(g, _grads(model), rtol=1e-10, atol=1e-14)


# ------------------------------------------------------------------ clipping, schedules
def test_clipping_bounds_the_gradient_norm():
    x, y = oscillator_windows(32)
    model = make_model()
    max_norm = 1e-3
    trainer = make_trainer(model, clip_grad_norm=max_norm, rollout_schedule=2)
    seen = []

    def before_step(opt, args, kwargs):
        seen.append(float(torch.nn.utils.get_total_norm(
            [p.grad for p in model.parameters() if p.grad is not None])))

    handle = trainer.optimizer.register_step_pre_hook(before_step)
    try:
        hist = trainer.fit(DataLoader(TensorDataset(x, y), batch_size=8), epochs=2,
                           progress=False)
    finally:
        handle.remove()
    assert len(seen) == 8
    assert max(seen) <= max_norm * (1 + 1e-5)
    # the history holds the norm before clipping, which clipping did reduce
    assert np.all(hist["grad_norm"] > 10 * max_norm)
    assert np.all(hist["grad_norm_max"] >= hist["grad_norm"])


def test_unclipped_history_norm_is_the_applied_norm():
    x, y = oscillator_windows(8)
    model = make_model()
    trainer = make_trainer(model)
    seen = []
    trainer.optimizer.register_step_pre_hook(lambda opt, a, k: seen.append(float(
        torch.nn.utils.get_total_norm([p.grad for p in model.parameters()]))))
    hist = trainer.fit(DataLoader(TensorDataset(x, y), batch_size=8), epochs=1, progress=False)
    assert hist["grad_norm"][0] == pytest.approx(seen[0], rel=1e-6)


def test_lr_scheduler_is_stepped_per_epoch():
    x, y = oscillator_windows(8)
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    trainer = Trainer(model, optimizer=opt,
                      scheduler=torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5))
    hist = trainer.fit(DataLoader(TensorDataset(x, y), batch_size=4), epochs=3, progress=False)
    np.testing.assert_allclose(hist["lr"], [0.1, 0.05, 0.025])
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0125)


# ------------------------------------------------------------------ failures
def test_nan_in_data_raises_nonfinite_error_naming_epoch_and_batch():
    x, y = oscillator_windows(16)
    y[11, 2, 0] = float("nan")  # the third batch of 4 (no shuffling)
    trainer = make_trainer(make_model())
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    with pytest.raises(NonFiniteError, match=r"epoch 1, batch 3 of 4.*1 non-finite value"):
        trainer.fit(loader, epochs=2, progress=False)


def test_nan_in_validation_raises():
    x, y = oscillator_windows(8)
    yv = y.clone()
    yv[0, 0, 0] = float("inf")
    trainer = make_trainer(make_model())
    with pytest.raises(NonFiniteError, match="validation.*after epoch 1"):
        trainer.fit(DataLoader(TensorDataset(x, y), batch_size=8),
                    DataLoader(TensorDataset(x, yv), batch_size=8), epochs=1, progress=False)


def test_amp_ignored_on_cpu_with_a_log_message(caplog):
    x, y = oscillator_windows(8)
    with caplog.at_level(logging.INFO, logger="physrnn.train.loop"):
        trainer = make_trainer(make_model(), amp=True)
    assert trainer.amp_dtype is None and trainer.scaler is None
    assert "only used on CUDA" in caplog.text
    hist = trainer.fit(DataLoader(TensorDataset(x, y), batch_size=8), epochs=1, progress=False)
    assert np.isfinite(hist["train_loss"]).all()
    with pytest.raises(ValueError, match="amp"):
        make_trainer(make_model(), amp="fp8")


def test_invalid_options():
    model = make_model()
    with pytest.raises(ValueError, match="unknown loss"):
        Trainer(model, loss="cross_entropy")
    with pytest.raises(ValueError, match="teacher_forcing"):
        Trainer(model, teacher_forcing="half")
    with pytest.raises(ValueError, match="tbptt"):
        Trainer(model, tbptt=0)
    with pytest.raises(ValueError, match="clip_grad_norm"):
        Trainer(model, clip_grad_norm=0.0)
    with pytest.raises(ValueError, match="val_loader"):
        x, y = oscillator_windows(4)
        Trainer(model, patience=2).fit(DataLoader(TensorDataset(x, y)), epochs=1,
                                       progress=False)


# ------------------------------------------------------------------ early stopping
def test_early_stopping_restores_best_weights(monkeypatch):
    x, y = oscillator_windows(8)
    model = make_model()
    trainer = make_trainer(model, patience=2, lr=1e-2)
    metric = iter([3.0, 1.0, 2.0, 1.5, 0.5, 0.1])
    monkeypatch.setattr(trainer, "evaluate", lambda loader: next(metric))
    snapshots = {}

    def snapshot(tr, rec):
        snapshots[rec.epoch] = {k: v.clone() for k, v in tr.model.state_dict().items()}

    hist = trainer.fit(DataLoader(TensorDataset(x, y), batch_size=4), [None], epochs=10,
                       callbacks=[snapshot], progress=False)
    assert hist["epoch"].tolist() == [1, 2, 3, 4]  # epochs 3 and 4 did not improve on 1.0
    assert trainer.stopped and trainer.best_epoch == 2 and trainer.best_val == 1.0
    for k, v in model.state_dict().items():
        assert torch.equal(v, snapshots[2][k])
    assert not torch.equal(snapshots[4]["head.weight"], snapshots[2]["head.weight"])
    # a stopped run stays stopped
    assert len(trainer.fit(DataLoader(TensorDataset(x, y)), [None], epochs=20,
                           progress=False)["epoch"]) == 4


def test_callback_can_stop_training():
    x, y = oscillator_windows(8)
    trainer = make_trainer(make_model())

    def stop_at_2(tr, rec):
        if rec.epoch == 2:
            tr.stop_training = True

    hist = trainer.fit(DataLoader(TensorDataset(x, y), batch_size=4), epochs=5,
                       callbacks=[stop_at_2], progress=False)
    assert hist["epoch"].tolist() == [1, 2]


# ------------------------------------------------------------------ exact resume
def _resume_setup(seed_loader):
    model = make_model(dropout=0.2)  # dropout draws from the trainer's private RNG
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    trainer = Trainer(model, optimizer=opt,
                      scheduler=torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5),
                      rollout_schedule=RolloutSchedule(1, 3, k_max=3), clip_grad_norm=0.5,
                      tbptt=4, seed=11)
    x, y = oscillator_windows(40)
    xv, yv = oscillator_windows(12, seed=1)
    ds = TensorDataset(x, y)
    if seed_loader is None:
        train = trainer.make_loader(ds, batch_size=8)
    else:  # a loader with its own shuffling generator, as make_loaders builds
        train = DataLoader(ds, batch_size=8, shuffle=True,
                           generator=torch.Generator().manual_seed(seed_loader))
    val = DataLoader(TensorDataset(xv, yv), batch_size=6, shuffle=True)
    return trainer, train, val


@pytest.mark.parametrize("seed_loader", [None, 5])
def test_resume_from_checkpoint_equals_uninterrupted_run(tmp_path, seed_loader):
    global_before = torch.get_rng_state()
    ref, train, val = _resume_setup(seed_loader)
    hist_ref = ref.fit(train, val, epochs=5, progress=False)

    # an interrupted run: checkpoint at epoch 2 by a callback, then the process "dies"
    path = tmp_path / "ckpt" / "checkpoint.pt"
    first, train, val = _resume_setup(seed_loader)

    def checkpoint(tr, rec):
        if rec.epoch == 2:
            tr.save_checkpoint(path, config={"note": "test"})
            tr.stop_training = True

    first.fit(train, val, epochs=5, callbacks=[checkpoint], progress=False)
    assert first.epoch == 2

    resumed, train, val = _resume_setup(seed_loader)
    assert resumed.resume(path) is resumed and resumed.epoch == 2
    hist = resumed.fit(train, val, epochs=5, progress=False)

    for key in HISTORY_KEYS:
        if key != "time_s":
            np.testing.assert_array_equal(hist[key], hist_ref[key], err_msg=key)
    for (name, a), b in zip(ref.model.state_dict().items(),
                            resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    for a, b in zip(ref.optimizer.state_dict()["state"].values(),
                    resumed.optimizer.state_dict()["state"].values(), strict=True):
        assert torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])
    assert torch.equal(ref.best_state["head.weight"], resumed.best_state["head.weight"])
    # the library never touched the global RNG
    assert torch.equal(torch.get_rng_state(), global_before)


def test_resume_without_restoring_differs(tmp_path):
    """The resume test can fail: a fresh trainer continuing from the weights alone diverges."""
    ref, train, val = _resume_setup(None)
    hist_ref = ref.fit(train, val, epochs=3, progress=False)
    first, train, val = _resume_setup(None)
    first.fit(train, val, epochs=1, progress=False)
    naive, train, val = _resume_setup(None)
    naive.model.load_state_dict(first.model.state_dict())
    naive.optimizer.load_state_dict(first.optimizer.state_dict())
    naive.epoch = 1  # everything but the RNG/shuffling state and the scheduler
    hist = naive.fit(train, val, epochs=3, progress=False)
    assert not np.array_equal(hist["train_loss"], hist_ref["train_loss"][1:])


def test_resume_rejects_foreign_checkpoint(tmp_path):
    from physrnn.runs.records import save_checkpoint

    save_checkpoint(tmp_path / "c.pt", {"driver": {}})
    with pytest.raises(RecordError, match="no trainer state"):
        make_trainer(make_model()).resume(tmp_path / "c.pt")
    with pytest.raises(RecordError, match="not found"):
        make_trainer(make_model()).resume(tmp_path / "missing.pt")


def test_state_dict_round_trip_in_memory():
    x, y = oscillator_windows(8)
    a = make_trainer(make_model())
    a.fit(DataLoader(TensorDataset(x, y), batch_size=4), epochs=2, progress=False)
    b = make_trainer(make_model(seed=99))
    b.load_state_dict(a.state_dict())
    assert b.epoch == 2 and len(b.history) == 2
    assert torch.equal(a.model.head.weight, b.model.head.weight)
    assert math.isnan(b.history[0].val_loss)


def test_evaluate_alone_leaves_global_rng_untouched():
    x, y = oscillator_windows(8)
    trainer = make_trainer(make_model())
    before = torch.get_rng_state()
    value = trainer.evaluate(DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True))
    assert torch.equal(torch.get_rng_state(), before)
    with torch.no_grad():
        ref = torch.mean((trainer.model.rollout(x, HORIZON) - y) ** 2)
    assert value == pytest.approx(float(ref), rel=1e-5)
