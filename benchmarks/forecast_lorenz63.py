"""Forecasting Lorenz-63: physrnn's GRU and LSTM beside every baseline, the house benchmark.

Question: how far ahead (valid prediction time, in Lyapunov times) do physrnn's recurrent
forecasters predict the Lorenz-63 attractor, trained with physrnn's ``Trainer`` (teacher forcing,
then a closed-loop rollout curriculum), compared in the same run with persistence, the
climatological mean, a linear autoregression, a tuned echo-state network and SINDy (equation
discovery, the reference that knows the model class)? And what does physrnn's ``Trainer`` cost
over a hand-written minimal PyTorch loop doing the same work?

Protocol (REFERENCES.md, "Forecasting protocol"):

- Data: Lorenz-63 (sigma = 10, rho = 28, beta = 8/3), dt = 0.01, DOP853 at rtol = atol = 1e-10
  (``physrnn.data.simulate``), a 50 time-unit transient discarded. Separate trajectories for
  train, validation and test (written with ``write_dataset`` and explicit splits; states are
  normalised with the train split's mean and standard deviation, so sigma = 1 per component).
  Default: 2 train trajectories of 50 time units (100 time units of training data), 2
  validation and 8 test trajectories of the same length.
- Test problems: ``--n-test`` (default 32) initial conditions cut from the test trajectories
  (``forecast_windows``), each with a ``--test-context`` (100 steps) context and a forecast
  horizon of ``--horizon`` steps. Every model gets the same windows.
- Scores (``evaluate_forecasters``): valid prediction time = first lead time with
  NRMSE > 0.4 (sigma = 1 in normalised units), in Lyapunov times (lambda = 0.9056); median and
  interquartile range over the test ICs (a forecast still valid at the end of the horizon
  counts as the horizon: "valid at horizon" says how many); NRMSE at one Lyapunov time;
  long-run statistics of a free run of ``--free-run`` steps from the first test context
  (per-component Wasserstein-1 / sigma and Welch power-spectrum distance against the test
  trajectories), beside the truth-versus-truth floor (validation against test trajectories).
- RNNs: ``RecurrentForecaster`` (GRU, LSTM; one layer, ``--hidden`` units, predicting
  increments) trained with ``physrnn.train.Trainer``: Adam with a cosine learning-rate schedule
  (``physrnn.optim.make_optimizer``), gradient clipping, ``--tf-epochs`` epochs of teacher
  forcing then a closed-loop rollout whose length ramps linearly to ``--k-max`` steps
  (``RolloutSchedule``) and stays there; the validation metric is the closed-loop loss over the
  whole horizon of validation windows, and the weights of the best validation epoch are kept.
  ``--seeds`` training seeds each; each seed is a row, plus "best seed" (chosen by validation
  loss, never by the test set) and "median over seeds" rows.
- Read-out refit (``--models ...,readout``): every trained RNN again with its read-out
  refitted by ridge regression on the quadratic features ``[h, h_i h_j (i <= j), x]`` of its
  recurrent state (``physrnn.train.readout.select_readout``, float64, washout 100 steps), on
  the same training trajectories; the ridge is chosen from ``--ridges`` by the median number of
  valid steps of closed-loop forecasts from 32 *validation* windows. ``untrained`` adds the
  ablation: the same read-out on the initial recurrent weights of seed 0 (a random recurrent
  network, as in reservoir computing), which isolates what gradient training adds, for every
  seed. ``through`` trains from those same initial weights *through* the ridge read-out
  (``physrnn.train.through_readout.train_through_readout``: the read-out solved in closed form
  on the first 70 % of every training trajectory at every step, the loss the log mean squared
  error of 50- to 200-step closed-loop forecasts of windows from the remaining 30 %,
  backpropagated through the rollout and the solve; the epoch kept by the validation
  windows), then refits the same read-out: the ablation row "trained through the read-out".
  ``--readouts linear`` (or ``quadratic,linear``) runs the same three kinds of rows with the
  *linear* ridge read-out on ``[h]`` alone ("+ linear ridge read-out", ridge from
  ``--linear-ridges``): the network's own output layer, solved in closed form. With the
  quadratic read-out every row reaches the precision of the data: its one-step error equals
  the data's (~1e-10 at the house rtol 1e-10) and the valid time is ``ln(0.4 / error)``
  Lyapunov times, ~22, for trained and untrained weights alike; ``--rtol 1e-13`` makes the
  data 1000x more precise and moves that ceiling. The linear read-out leaves room below the
  ceiling, so there the recurrent weights decide.
- Plain PyTorch loop: the same GRU (seed 0), the same windows, optimiser, schedule, clipping,
  batch size, epochs, rollout curriculum and per-epoch validation, trained by a ~40-line
  hand-written loop. The ratio table gives the wall-time ratio Trainer / plain loop (target
  <= 1.10).
- Baselines (``make_baseline``): persistence, mean, linear AR(1) (DMD-like), ESN (500 units,
  random search over ``--esn-configs`` configurations scored on the validation split) and
  SINDy (polynomial degree 2, STLSQ, integrated with DOP853 at 1e-10).

Default RNN settings (chosen on the *validation* split with single GRU runs, seed 0, on this
machine): hidden 64, training context (warm-up) 20 steps, windows every 4 steps (~2400
windows), batch 32, Adam lr 3e-3 cosine to 1e-4 over 60 epochs, clipping at 1.0, 3 epochs of
teacher forcing then a rollout ramp from 1 to 50 steps over 30 epochs. Validation median VPT
of the probes (40-60 epochs): k_max = 100 with batch 64 reached 1.6-1.9 Lyapunov times whatever
the hidden size (64 or 128), learning rate (3e-3 or 1e-2) or context (20 or 50); k_max = 200 at
that budget failed (0.17); k_max = 50 with batch 32 (twice the optimiser steps) reached 3.5.
The GRU was still improving at the last epoch in every probe: it is budget-limited.

``--quick`` is a smoke check (tiny data and epochs, 1 seed, 4 ESN configs; its numbers are not
results). ``--full`` trains longer on more data and uses the GPU when present
(``device="auto"``). Timings depend on the load: on a shared machine pass ``--threads 1``.
"""

from __future__ import annotations

import copy
import logging
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    base_parser,
    limit_threads,
    machine_info,
    markdown_table,
    write_json,
)

log = logging.getLogger("forecast_lorenz63")

# row-label suffix per read-out of the refit rows
READOUT_SUFFIX = {"quadratic": " + ridge read-out", "linear": " + linear ridge read-out"}

# per size: trajectories (train, val, test), time units per trajectory, epochs, ...
PRESETS: dict[str, dict[str, Any]] = {
    "quick": dict(n_train=2, n_val=1, n_test=4, traj_time=15.0, epochs=12, tf_epochs=2,
                  ramp_epochs=6, k_max=50, hidden=32, seeds=[0], esn_configs=4,
                  n_test_ics=25, horizon=1000, free_run=3000, stride=10, batch_size=32,
                  lr=3e-3, context=20, through_epochs=1, through_steps=2),
    "default": dict(n_train=2, n_val=2, n_test=8, traj_time=50.0, epochs=60, tf_epochs=3,
                    ramp_epochs=30, k_max=50, hidden=64, seeds=[0, 1, 2], esn_configs=32,
                    n_test_ics=32, horizon=3000, free_run=10000, stride=4, batch_size=32,
                    lr=3e-3, context=20, through_epochs=6, through_steps=10),
    "full": dict(n_train=8, n_val=4, n_test=16, traj_time=50.0, epochs=100, tf_epochs=5,
                 ramp_epochs=50, k_max=50, hidden=64, seeds=[0, 1, 2], esn_configs=64,
                 n_test_ics=64, horizon=4000, free_run=20000, stride=4, batch_size=64,
                 lr=3e-3, context=20, through_epochs=8, through_steps=20),
}


def parse_args(argv: list[str] | None):
    p = base_parser(__doc__.split("\n\n")[0])
    p.add_argument("--full", action="store_true",
                   help="longer training on more data; GPU when present (device='auto')")
    p.add_argument("--seeds", default=None,
                   help="training seeds: a count N (0..N-1) or a comma list (default 3; quick 1)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs per RNN")
    p.add_argument("--hidden", type=int, default=None, help="hidden units of GRU and LSTM")
    p.add_argument("--lr", type=float, default=None, help="initial Adam learning rate")
    p.add_argument("--lr-final", type=float, default=None,
                   help="final learning rate of the cosine schedule (default lr / 30)")
    p.add_argument("--k-max", type=int, default=None, help="final rollout length (steps)")
    p.add_argument("--tf-epochs", type=int, default=None, help="teacher-forcing epochs")
    p.add_argument("--ramp-epochs", type=int, default=None,
                   help="epochs over which the rollout length ramps from 1 to k-max")
    p.add_argument("--context", type=int, default=None, help="training warm-up (steps)")
    p.add_argument("--test-context", type=int, default=100,
                   help="context of every test forecast (steps; >= the ESN washout)")
    p.add_argument("--stride", type=int, default=None, help="stride between training windows")
    p.add_argument("--batch-size", type=int, default=None, help="training batch size")
    p.add_argument("--clip", type=float, default=1.0, help="gradient-norm clipping")
    p.add_argument("--train-time", type=float, default=None,
                   help="time units per trajectory (train data = n_train x this)")
    p.add_argument("--n-train", type=int, default=None, help="training trajectories")
    p.add_argument("--n-test", type=int, default=None, help="test initial conditions (>= 25)")
    p.add_argument("--horizon", type=int, default=None, help="forecast horizon (steps)")
    p.add_argument("--free-run", type=int, default=None, help="free-run length (steps)")
    p.add_argument("--esn-configs", type=int, default=None, help="ESN search configurations")
    p.add_argument("--models", default="gru,lstm,plain,baselines,readout,untrained,through",
                   help="what to run: any of gru, lstm, plain, baselines, readout (ridge "
                        "read-out refit of every trained RNN), untrained (the same read-out "
                        "on untrained recurrent weights), through (training through the "
                        "read-out from the untrained weights) (comma list)")
    p.add_argument("--through-epochs", type=int, default=None,
                   help="epochs of training through the read-out (steps per epoch: "
                        "--through-steps)")
    p.add_argument("--through-steps", type=int, default=None,
                   help="optimiser steps per epoch of training through the read-out")
    p.add_argument("--through-lr", type=float, default=1e-3,
                   help="Adam learning rate of training through the read-out")
    p.add_argument("--readouts", default="quadratic",
                   help="read-out features of the refit rows (readout, untrained, through): "
                        "quadratic ([h, h_i h_j, x]) and/or linear ([h]) (comma list)")
    p.add_argument("--ridges", default="0,1e-18,1e-16,1e-14,1e-12,1e-10,1e-8",
                   help="ridge grid of the read-out refit, chosen on validation forecasts")
    p.add_argument("--linear-ridges", default="0,1e-14,1e-12,1e-10,1e-8,1e-6,1e-4,1e-2,1",
                   help="ridge grid of the linear read-out refit (--readouts linear)")
    p.add_argument("--rtol", type=float, default=None,
                   help="rtol = atol of the DOP853 data (default: the house protocol's 1e-10)")
    p.add_argument("--device", default=None, help="torch device (default cpu; --full: auto)")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the initial conditions")
    p.add_argument("-v", "--verbose", action="store_true", help="log every epoch")
    args = p.parse_args(argv)
    if args.quick and args.full:
        p.error("--quick and --full exclude each other")
    size = "quick" if args.quick else "full" if args.full else "default"
    s = dict(PRESETS[size])
    s["size"] = size
    for key, attr in (("epochs", "epochs"), ("hidden", "hidden"), ("lr", "lr"),
                      ("k_max", "k_max"), ("tf_epochs", "tf_epochs"),
                      ("ramp_epochs", "ramp_epochs"), ("context", "context"),
                      ("stride", "stride"), ("batch_size", "batch_size"),
                      ("traj_time", "train_time"), ("n_train", "n_train"),
                      ("n_test_ics", "n_test"), ("horizon", "horizon"),
                      ("free_run", "free_run"), ("esn_configs", "esn_configs")):
        value = getattr(args, attr)
        if value is not None:
            s[key] = value
    if args.seeds is not None:
        seeds = args.seeds.strip()
        s["seeds"] = ([int(x) for x in seeds.split(",") if x.strip()] if "," in seeds
                      else list(range(int(seeds))))
        if not s["seeds"]:
            p.error("--seeds gave no seed")
    s["lr_final"] = args.lr_final if args.lr_final is not None else s["lr"] / 30.0
    s["clip"] = args.clip
    s["test_context"] = args.test_context
    s["device"] = args.device or ("auto" if args.full else "cpu")
    s["models"] = [m.strip() for m in args.models.split(",") if m.strip()]
    s["data_seed"] = args.data_seed
    s["ridges"] = {"quadratic": [float(r) for r in args.ridges.split(",") if r.strip()],
                   "linear": [float(r) for r in args.linear_ridges.split(",") if r.strip()]}
    s["readouts"] = [r.strip() for r in args.readouts.split(",") if r.strip()]
    if not s["readouts"] or set(s["readouts"]) - {"quadratic", "linear"}:
        p.error(f"--readouts must list quadratic and/or linear, got {args.readouts!r}")
    s["through_lr"] = args.through_lr
    if args.rtol is not None and not 0 < args.rtol < 1e-3:
        p.error(f"--rtol must lie in (0, 1e-3), got {args.rtol!r}")
    s["rtol"] = args.rtol
    for key in ("through_epochs", "through_steps"):
        if getattr(args, key) is not None:
            s[key] = getattr(args, key)
    unknown = set(s["models"]) - {"gru", "lstm", "plain", "baselines", "readout", "untrained",
                                  "through"}
    if unknown:
        p.error(f"unknown --models {sorted(unknown)}")
    if size != "quick" and s["n_test_ics"] < 25:
        p.error("the protocol needs >= 25 test initial conditions")
    return args, s


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def make_data(s: dict[str, Any], tmpdir: Path) -> dict[str, Any]:
    """Simulate train/val/test trajectories, write and read them back as a physrnn dataset."""
    from physrnn.data.hdf5 import read_dataset, write_dataset
    from physrnn.data.simulate import simulate
    from physrnn.systems import get_system

    system = get_system("lorenz63")
    info = system.info()
    dt = info.default_dt
    n_tr, n_va, n_te = s["n_train"], s["n_val"], s["n_test"]
    n_traj = n_tr + n_va + n_te
    n_t = int(round(s["traj_time"] / dt)) + 1
    t0 = time.perf_counter()
    tol = {} if s.get("rtol") is None else {"rtol": s["rtol"], "atol": s["rtol"]}
    sim = simulate(system, n_traj=n_traj, n_t=n_t, dt=dt, seed=s["data_seed"], workers=1,
                   progress=False, record_invariants=False, **tol)
    sim_s = time.perf_counter() - t0
    splits = {"train": np.arange(n_tr), "val": np.arange(n_tr, n_tr + n_va),
              "test": np.arange(n_tr + n_va, n_traj)}
    path = write_dataset(tmpdir / "lorenz63.h5", t=sim.t, y=sim.y, meta=dict(sim.meta),
                         y0=sim.y0, splits=splits, overwrite=True)
    data = read_dataset(path, load=True)
    mean = np.asarray(data.normalisation.mean)
    scale = np.asarray(data.normalisation.scale)
    z = (np.asarray(data.y, dtype=np.float64) - mean) / scale
    return {"data": data, "path": path, "z": z, "splits": splits, "dt": dt,
            "lyapunov": info.lyapunov_exponent, "meta": dict(sim.meta), "n_t": n_t,
            "simulate_s": sim_s, "mean": mean, "scale": scale}


# --------------------------------------------------------------------------------------------
# RNN training: physrnn Trainer and a plain loop
# --------------------------------------------------------------------------------------------


def rollout_schedule(s: dict[str, Any]):
    from physrnn.train.loop import RolloutSchedule

    start = min(s["tf_epochs"], s["epochs"])
    end = min(start + s["ramp_epochs"], max(s["epochs"] - 1, start))
    return RolloutSchedule(start, end, k_min=1, k_max=s["k_max"])


def make_model(cell: str, seed: int, s: dict[str, Any], n_state: int = 3):
    from physrnn.nn.recurrent import RecurrentForecaster

    return RecurrentForecaster(n_state, cell=cell, hidden_size=s["hidden"], predict_increments=True,
                               seed=seed)


def make_opt(model, s: dict[str, Any]):
    from physrnn.optim import make_optimizer

    return make_optimizer(model, lr=s["lr"], schedule="cosine", n_steps=s["epochs"],
                          lr_final=s["lr_final"])


def window_datasets(d: dict[str, Any], s: dict[str, Any]):
    from physrnn.data.datasets import WindowDataset

    train = WindowDataset(d["data"], split="train", context=s["context"], horizon=s["k_max"],
                          stride=s["stride"])
    val = WindowDataset(d["data"], split="val", context=s["context"], horizon=s["k_max"],
                        stride=max(s["k_max"], 50))
    return train, val


def train_physrnn(cell: str, seed: int, train_ds, val_ds, s: dict[str, Any], n_state: int = 3):
    """Train with physrnn's Trainer; returns (model, seconds, trainer)."""
    import torch
    from torch.utils.data import DataLoader

    from physrnn.train.loop import Trainer

    model = make_model(cell, seed, s, n_state)
    opt, sched = make_opt(model, s)
    trainer = Trainer(model, optimizer=opt, scheduler=sched, loss="mse",
                      teacher_forcing="window", rollout_schedule=rollout_schedule(s),
                      clip_grad_norm=s["clip"], val_metric="rollout", device=s["device"],
                      seed=seed)
    loader = trainer.make_loader(train_ds, batch_size=s["batch_size"])
    val_loader = DataLoader(val_ds, batch_size=256, shuffle=False)
    t0 = time.perf_counter()
    trainer.fit(loader, val_loader, epochs=s["epochs"], progress=False)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0
    trainer.restore_best()
    return trainer.model, elapsed, trainer


def refit_readout(model, train_z: np.ndarray, val_windows, s: dict[str, Any],
                  readout: str = "quadratic"):
    """Ridge read-out (``readout`` features) on ``model``'s recurrent weights, ridge chosen on
    validation forecasts (``physrnn.train.readout.select_readout``); returns
    ``(model, ReadoutFit)``."""
    from physrnn.train.readout import select_readout

    return select_readout(model.cpu(), train_z, val_windows.context, val_windows.truth,
                          ridges=s["ridges"][readout], washout=min(s["test_context"], 100),
                          readout=readout)


def readout_entry(model, label: str, seed: int, base_s: float, kind: str,
                  train_z: np.ndarray, val_windows, s: dict[str, Any],
                  readout: str = "quadratic"):
    """Refit ``model``'s read-out (:func:`refit_readout`) and describe it as a table entry.

    Returns ``(forecaster, extra, val)``: the ``TorchForecaster``, the row's extra fields and
    the validation score for seed selection (minus the best median valid steps: lower is
    better, like a validation loss)."""
    from physrnn.nn.recurrent import TorchForecaster

    t0 = time.perf_counter()
    fitted, info = refit_readout(model, train_z, val_windows, s, readout)
    fit_s = time.perf_counter() - t0
    extra = {"train_s": base_s + fit_s, "readout_s": fit_s, "seed": seed,
             "n_params": sum(p.numel() for p in fitted.parameters()), "kind": kind,
             "readout": readout, "readout_ridge": info.ridge,
             "one_step_rmse": info.one_step_rmse,
             "readout_rows": info.n_rows, "readout_table": info.table}
    best_val = max(r["val_median_steps"] for r in info.table)
    print(f"  {label}: read-out refit {fit_s:.1f} s, ridge {info.ridge:.0e}, one-step rmse "
          f"{info.one_step_rmse:.1e}, validation median {best_val:.0f} steps", flush=True)
    return TorchForecaster(fitted, name=label), extra, -best_val


def train_through(cell: str, seed: int, train_z: np.ndarray, val_windows, s: dict[str, Any],
                  readout: str = "quadratic"):
    """Train ``make_model(cell, seed)`` (the untrained row's weights) through the ridge
    read-out with ``readout`` features; returns ``(model, seconds, ThroughReadoutFit)``."""
    from physrnn.train.through_readout import train_through_readout

    t0 = time.perf_counter()
    model, info = train_through_readout(
        make_model(cell, seed, s), train_z, val_windows.context, val_windows.truth,
        epochs=s["through_epochs"], steps_per_epoch=s["through_steps"],
        context=s["test_context"], washout=min(s["test_context"], 100),
        refit_ridges=s["ridges"][readout], threshold=0.4, lr=s["through_lr"], readout=readout,
        seed=seed, progress=False)
    return model, time.perf_counter() - t0, info


def seed_summary_rows(rnn_meta: dict[str, list[dict[str, Any]]],
                      by_name: dict[str, dict[str, Any]], keys: tuple[str, ...],
                      **fields: Any) -> list[dict[str, Any]]:
    """Per group of seeds: a "best seed (by val)" row and a "median of N seeds" row (the
    median of each of ``keys`` present in the seed rows); ``fields`` go into the median row."""
    out = []
    for group, metas in rnn_meta.items():
        if len(metas) < 2:
            continue
        best = min(metas, key=lambda m: m["val"])
        b = dict(by_name[best["label"]])
        b.update(model=f"{group} best seed (by val)", kind=f"{group}_best")
        out.append(b)
        seed_rows = [by_name[m["label"]] for m in metas]
        med: dict[str, Any] = {"model": f"{group} median of {len(metas)} seeds",
                               "seed": None, "kind": f"{group}_median", **fields}
        for key in keys:
            if any(key in r for r in seed_rows):
                med[key] = float(np.median([_num(r.get(key)) for r in seed_rows]))
        out.append(med)
    return out


def with_summaries(rows: list[dict[str, Any]], summary_rows: list[dict[str, Any]]):
    """Summary rows before the truth floor, and the "q25-q75" IQR strings of the table."""
    floor = [r for r in rows if r["model"] == "truth floor"]
    rows = [r for r in rows if r["model"] != "truth floor"] + summary_rows + floor
    for r in rows:
        if r.get("vpt_q25") is not None and r.get("median_vpt") is not None:
            r["vpt_iqr_str"] = f"{_num(r['vpt_q25']):.2f}-{_num(r['vpt_q75']):.2f}"
    return rows


def train_plain(cell: str, seed: int, train_ds, val_ds, s: dict[str, Any]):
    """The same training by a minimal hand-written PyTorch loop; returns (model, s, best val)."""
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader

    device = torch.device("cuda" if s["device"] == "auto" and torch.cuda.is_available()
                          else "cpu" if s["device"] == "auto" else s["device"])
    model = make_model(cell, seed, s).to(device)
    opt, sched = make_opt(model, s)
    gen = torch.Generator()
    gen.manual_seed(seed)
    loader = DataLoader(train_ds, batch_size=s["batch_size"], shuffle=True, generator=gen)
    val_loader = DataLoader(val_ds, batch_size=256, shuffle=False)
    schedule = rollout_schedule(s)

    def loss_of(ctx, tgt, k):
        if k == 0:  # teacher forcing over the whole window
            w = torch.cat([ctx, tgt], dim=1)
            pred, _ = model(w[:, :-1])
            return F.mse_loss(pred, w[:, 1:])
        pred, state = model(ctx)
        nxt = pred[:, -1]
        preds = [nxt]
        for _ in range(k - 1):
            nxt, state = model.step(nxt, state)
            preds.append(nxt)
        return F.mse_loss(torch.stack(preds, dim=1), tgt[:, :k])

    best, best_state = math.inf, None
    t0 = time.perf_counter()
    for epoch in range(s["epochs"]):
        k = schedule(epoch)
        model.train()
        for ctx, tgt in loader:
            ctx, tgt = ctx.to(device), tgt.to(device)
            opt.zero_grad(set_to_none=True)
            loss = loss_of(ctx, tgt, k)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), s["clip"])
            opt.step()
        sched.step()
        model.eval()
        with torch.no_grad():
            tot, n = 0.0, 0
            for ctx, tgt in val_loader:
                ctx, tgt = ctx.to(device), tgt.to(device)
                tot += float(loss_of(ctx, tgt, tgt.shape[1])) * ctx.shape[0]
                n += ctx.shape[0]
        if tot / n < best:
            best, best_state = tot / n, copy.deepcopy(model.state_dict())
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0
    model.load_state_dict(best_state)
    return model, elapsed, best


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------

COLUMNS = [
    ("model", "model"),
    ("seed", "seed"),
    ("median_vpt", "median VPT (Lyap.)", ".2f"),
    ("vpt_iqr_str", "VPT IQR"),
    ("n_censored", "valid at horizon"),
    ("nrmse_1lyap", "NRMSE @ 1 Lyap.", ".3f"),
    ("w1_longrun", "W1/sigma long run", ".3f"),
    ("psd_longrun", "PSD dist. long run", ".3f"),
    ("train_s", "train s"),
    ("n_params", "params"),
]
RATIO_COLUMNS = [("ratio", "ratio"), ("value", "value", ".3f"), ("note", "note")]


def evaluate_all(forecasters: dict[str, Any], windows, *, dt: float, lam: float | None,
                 free_run: int, truth_pool: np.ndarray, floor_pool: np.ndarray):
    """Score every forecaster and add the truth-versus-truth floor; returns (rows, forecasts).

    A free run that collapses onto a fixed point gets ``psd_longrun = inf`` and a note
    (``physrnn.train.evaluate.evaluate_forecasters``) instead of aborting the benchmark."""
    from physrnn.train.evaluate import evaluate_forecasters

    return evaluate_forecasters(forecasters, windows, dt=dt, lyapunov_exponent=lam,
                                threshold=0.4, free_run_steps=free_run, truth_pool=truth_pool,
                                floor_pool=floor_pool)


def _num(x: Any) -> float:
    return float(x) if x is not None else math.nan


def main(argv: list[str] | None = None) -> int:
    args, s = parse_args(argv)
    if args.threads is not None:
        limit_threads(args.threads)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s: %(message)s")
    import torch

    from physrnn.baselines.forecast.predictors import make_baseline
    from physrnn.nn.recurrent import TorchForecaster
    from physrnn.train.evaluate import forecast_windows

    wall0 = time.perf_counter()
    tmp = tempfile.TemporaryDirectory(prefix="forecast_lorenz63_")
    d = make_data(s, Path(tmp.name))
    z, splits, dt, lam = d["z"], d["splits"], d["dt"], d["lyapunov"]
    train_z, val_z, test_z = z[splits["train"]], z[splits["val"]], z[splits["test"]]
    train_time_units = len(splits["train"]) * (d["n_t"] - 1) * dt
    print(f"Lorenz-63, dt = {dt}, DOP853 at rtol {d['meta'].get('rtol')}, transient "
          f"{d['meta']['transient']} "
          f"discarded; train {len(splits['train'])} x {s['traj_time']:g} = "
          f"{train_time_units:g} time units, val {len(splits['val'])}, test "
          f"{len(splits['test'])} trajectories (simulated in {d['simulate_s']:.1f} s)",
          flush=True)
    ctx_len = max(s["test_context"], 1)
    windows = forecast_windows(z, splits["test"], n_test=s["n_test_ics"], context=ctx_len,
                               horizon=s["horizon"], seed=1234)
    train_ds, val_ds = window_datasets(d, s)
    print(f"training windows: {len(train_ds)} (context {s['context']}, horizon {s['k_max']}, "
          f"stride {s['stride']}); validation windows {len(val_ds)}", flush=True)

    forecasters: dict[str, Any] = {}
    extra: dict[str, dict[str, Any]] = {}
    timings: dict[str, float] = {}

    # ---- baselines
    if "baselines" in s["models"]:
        specs = [("persistence", {}), ("mean", {}), ("linear", {"order": 1}),
                 ("esn", {"n_configs": s["esn_configs"], "seed": 0, "n_reservoir": 500}),
                 ("sindy", {"dt": dt, "degree": 2, "on_failure": "nan"})]
        for name, kw in specs:
            t0 = time.perf_counter()
            model = make_baseline(name, **kw).fit(train_z, val_z)
            fit_s = time.perf_counter() - t0
            label = {"linear": "linear AR(1)", "esn": "ESN (500, tuned)",
                     "sindy": "SINDy (poly 2)"}.get(name, name)
            forecasters[label] = model
            extra[label] = {"train_s": fit_s, "kind": "baseline"}
            timings[label] = fit_s
            if name == "esn":
                best = next(r for r in model.table_ if r.get("best"))
                extra[label]["esn_best"] = {k: v for k, v in best.items() if k != "best"}
                extra[label]["n_params"] = int(np.asarray(model.model_.W_out_).size) if hasattr(
                    model.model_, "W_out_") else None
            if name == "sindy":
                extra[label]["equations"] = model.equations()
                extra[label]["n_params"] = int(np.count_nonzero(model.coefficients_))
            print(f"  fitted {label} in {fit_s:.1f} s", flush=True)

    # ---- RNNs with physrnn's Trainer, then (optionally) the ridge read-out refit
    rnn_meta: dict[str, list[dict[str, Any]]] = {}
    plain_vs: dict[str, float] = {}
    refit = bool({"readout", "untrained", "through"} & set(s["models"]))
    val_windows = (forecast_windows(z, splits["val"], n_test=s["n_test_ics"], context=ctx_len,
                                    horizon=min(s["horizon"], d["n_t"] - ctx_len), seed=4321)
                   if refit else None)

    def add_readout(cell: str, seed: int, model, label: str, base_s: float, kind: str,
                    readout: str) -> str:
        label = f"{label}{READOUT_SUFFIX[readout]}"
        forecasters[label], extra[label], val = readout_entry(model, label, seed, base_s,
                                                              f"{cell}_{kind}", train_z,
                                                              val_windows, s, readout)
        group = {"readout": "", "untrained": " untrained",
                 "through": " trained through the read-out"}[kind]
        rnn_meta.setdefault(f"{cell.upper()}{group}{READOUT_SUFFIX[readout]}", []).append(
            {"label": label, "val": val})
        timings[label] = extra[label]["train_s"]
        return label

    for cell in ("gru", "lstm"):
        if cell not in s["models"]:
            continue
        for seed, readout in ((sd, ro) for ro in s["readouts"] for sd in s["seeds"]):
            if "untrained" in s["models"]:
                add_readout(cell, seed, make_model(cell, seed, s),
                            f"{cell.upper()} untrained seed {seed}", 0.0, "untrained", readout)
            if "through" in s["models"]:
                model, elapsed, info = train_through(cell, seed, train_z, val_windows, s,
                                                     readout)
                label = f"{cell.upper()} trained through the read-out seed {seed}"
                print(f"  {label} ({readout}): {elapsed:.1f} s, best epoch {info.best_epoch} "
                      f"of {s['through_epochs']}", flush=True)
                label = add_readout(cell, seed, model, label, elapsed, "through", readout)
                extra[label]["through_history"] = info.history
                extra[label]["best_epoch"] = info.best_epoch
        for seed in s["seeds"]:
            model, elapsed, trainer = train_physrnn(cell, seed, train_ds, val_ds, s)
            label = f"{cell.upper()} seed {seed}"
            forecasters[label] = TorchForecaster(model, name=label)
            n_params = sum(p.numel() for p in model.parameters())
            extra[label] = {"train_s": elapsed, "seed": seed, "n_params": n_params,
                            "kind": cell, "best_epoch": trainer.best_epoch,
                            "best_val_loss": trainer.best_val,
                            "s_per_epoch": elapsed / max(trainer.epoch, 1)}
            rnn_meta.setdefault(cell.upper(), []).append({"label": label,
                                                          "val": trainer.best_val})
            timings[label] = elapsed
            if cell == "gru" and seed == s["seeds"][0]:
                plain_vs["trainer_s"] = elapsed
            print(f"  trained {label}: {elapsed:.1f} s, best val {trainer.best_val:.3e} at "
                  f"epoch {trainer.best_epoch}", flush=True)
            if "readout" in s["models"]:
                for readout in s["readouts"]:
                    add_readout(cell, seed, model, label, elapsed, "readout", readout)

    # ---- the plain loop
    if "plain" in s["models"]:
        seed = s["seeds"][0]
        model, elapsed, best_val = train_plain("gru", seed, train_ds, val_ds, s)
        label = f"GRU plain torch loop seed {seed}"
        forecasters[label] = TorchForecaster(model, name=label)
        extra[label] = {"train_s": elapsed, "seed": seed,
                        "n_params": sum(p.numel() for p in model.parameters()),
                        "kind": "plain", "best_val_loss": best_val,
                        "s_per_epoch": elapsed / max(s["epochs"], 1)}
        timings[label] = elapsed
        plain_vs["plain_s"] = elapsed
        print(f"  trained {label}: {elapsed:.1f} s, best val {best_val:.3e}", flush=True)

    # ---- evaluation, all models on the same windows
    print("evaluating ...", flush=True)
    rows, _ = evaluate_all(forecasters, windows, dt=dt, lam=lam, free_run=s["free_run"],
                           truth_pool=test_z, floor_pool=val_z)
    for row in rows:
        row.update(extra.get(row["model"], {}))
        row.setdefault("seed", None)

    # best seed (by validation loss) and median over seeds
    by_name = {r["model"]: r for r in rows}
    summary_rows = seed_summary_rows(
        rnn_meta, by_name, ("median_vpt", "vpt_q25", "vpt_q75", "vpt_iqr", "n_censored",
                            "nrmse_1lyap", "w1_longrun", "psd_longrun", "train_s", "n_params"))
    rows = with_summaries(rows, summary_rows)

    ratios = []
    if "trainer_s" in plain_vs and "plain_s" in plain_vs:
        ratios.append({"ratio": "train wall time, physrnn Trainer / plain torch loop (GRU)",
                       "value": plain_vs["trainer_s"] / plain_vs["plain_s"],
                       "note": f"{plain_vs['trainer_s']:.1f} s / {plain_vs['plain_s']:.1f} s; "
                               "target <= 1.10"})
    esn = by_name.get("ESN (500, tuned)")
    for group in rnn_meta:
        cands = [r for r in summary_rows if r["model"] == f"{group} best seed (by val)"]
        if not cands:
            cands = [by_name[m["label"]] for m in rnn_meta[group]]
        if cands and esn and _num(esn.get("median_vpt")) > 0:
            ratios.append({"ratio": f"median VPT, {cands[0]['model']} / ESN",
                           "value": _num(cands[0]["median_vpt"]) / _num(esn["median_vpt"]),
                           "note": f"{_num(cands[0]['median_vpt']):.2f} / "
                                   f"{_num(esn['median_vpt']):.2f} Lyapunov times"})
    wall = time.perf_counter() - wall0

    print()
    print(f"## Lorenz-63 forecasts ({s['size']}; {s['n_test_ics']} test ICs, VPT threshold "
          f"0.4, Lyapunov time {1 / lam:.3f}; train {train_time_units:g} time units)")
    print()
    print(markdown_table(rows, COLUMNS))
    print(f"\n'valid at horizon': test ICs still valid after the whole horizon ("
          f"{s['horizon'] * dt * lam:.1f} Lyapunov times); their VPT counts as the horizon, so "
          "statistics with censored ICs are lower bounds.")
    print()
    if ratios:
        print(markdown_table(ratios, RATIO_COLUMNS))
        print()
    print(f"total wall time {wall:.0f} s; torch threads {torch.get_num_threads()}")

    if args.json is not None:
        settings = {k: v for k, v in s.items()}
        settings.update({
            "system": "lorenz63", "dt": dt, "integrator": d["meta"].get("integrator"),
            "rtol": d["meta"].get("rtol"), "atol": d["meta"].get("atol"),
            "transient": d["meta"].get("transient"), "lyapunov_exponent": lam,
            "train_time_units": train_time_units,
            "val_time_units": len(splits["val"]) * (d["n_t"] - 1) * dt,
            "test_time_units": len(splits["test"]) * (d["n_t"] - 1) * dt,
            "train_windows": len(train_ds), "val_windows": len(val_ds),
            "vpt_threshold": 0.4, "sigma": "1 per component (normalised units)",
            "rollout_schedule": repr(rollout_schedule(s)),
            "optimizer": "Adam, cosine lr schedule per epoch (make_optimizer)",
            "predict_increments": True, "wall_s_per_model": timings, "total_wall_s": wall,
            "simulate_s": d["simulate_s"],
        })
        out_rows = [{k: v for k, v in r.items() if k != "vpt_iqr_str"} for r in rows]
        settings["readout"] = ("'+ ridge read-out': quadratic features [h, h_i h_j (i <= j), "
                               "x]; '+ linear ridge read-out': [h]; ridge chosen on validation "
                               "forecasts (physrnn.train.readout.select_readout), float64, "
                               "washout = test context")
        payload = {"benchmark": "forecast_lorenz63", "rows": out_rows, "ratios": ratios,
                   "settings": settings, "machine": machine_info(import_jax=False),
                   "versions": {m: _version(m) for m in ("physrnn", "torch", "numpy",
                                                          "scipy", "pysindy")}}
        dest = write_json(args.json, payload)
        print(f"wrote {dest}")
    tmp.cleanup()
    return 0


def _version(module: str) -> str | None:
    import importlib

    try:
        return str(getattr(importlib.import_module(module), "__version__", "unknown"))
    except Exception:
        return None


if __name__ == "__main__":
    raise SystemExit(main())
