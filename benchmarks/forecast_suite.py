"""Forecasting suite: physrnn's GRU and LSTM beside every baseline on Lorenz-96, KS and OU.

Question: does the house forecasting benchmark (``forecast_lorenz63.py``) carry over to a
high-dimensional chaotic ODE, a chaotic PDE and a stochastic process? Per system, physrnn's
recurrent forecasters (GRU, LSTM) trained with physrnn's ``Trainer`` (teacher forcing, then a
closed-loop rollout curriculum) are compared in the same run with persistence, the
climatological mean, a linear AR(1) (DMD-like) and an echo-state network with its
validation-scored hyperparameter search (SINDy, polynomial degree 2, only for Lorenz-96 and only
with ``--sindy``: its right-hand side is quadratic; for KS the nodal values need derivatives,
for OU the drift is the linear AR).

Systems (``--systems lorenz96,ks,ou``):

- ``lorenz96``: J = 40, F = 8, dt = 0.01, DOP853 at rtol = atol = 1e-10, 20 time-unit transient;
  lambda_1 = 1.68 (Vlachas et al. 2020), Lyapunov time 0.595 (60 steps).
- ``ks``: Kuramoto-Sivashinsky, L = 32 pi, 64 grid points, dt = 0.25, ETDRK4, 500 time-unit
  transient; lambda_1 = 0.121 from the system's ``info()`` (measured with this integrator at 64
  points; the resolved value is 0.092), Lyapunov time 8.26 (33 steps).
- ``ou``: Ornstein-Uhlenbeck, theta = 1, sigma = 1, dt = 0.1, exact Gaussian update, started
  from the stationary law. No Lyapunov time: VPT in time units (it is tiny: even the optimal
  forecast reaches NRMSE 0.4 at tau = 0.087), and the headline is the efficiency against the
  exact optimal forecast, ``ou_forecast_efficiency`` = sqrt(1 - exp(-2 theta tau)) / NRMSE_rms
  at tau = 1 / theta (1 = optimal; persistence 0.83, the mean 0.93), and NRMSE_rms(tau) beside
  the optimum. An "exact conditional mean (oracle)" row checks the scoring (efficiency ~1). The
  long-run statistics of deterministic forecasts of a stochastic process are not meaningful
  (the forecasts relax to the mean); they are printed for completeness.

Protocol per system (as ``forecast_lorenz63.py``, whose helpers are imported): separate
train / validation / test trajectories written with ``write_dataset`` and normalised with the
train split (sigma = 1 per component); ``--n-test`` (>= 25) test initial conditions cut from the
test trajectories, each with a 100-step context; median VPT (threshold NRMSE 0.4) with
interquartile range; NRMSE at one Lyapunov time (OU: the ensemble RMS NRMSE at tau = 1 / theta,
comparable with the optimum); long-run per-component Wasserstein-1 / sigma and Welch spectrum
distance of a free run beside the truth-versus-truth floor (validation against test). RNNs:
``RecurrentForecaster`` (one layer, predicting increments), Adam with a cosine schedule,
clipping 1.0, teacher forcing then a rollout ramp to ``k_max``; best validation epoch kept; one
row per seed plus "best seed (by val)" and "median of seeds" rows. The summary table gives per
system the best RNN (chosen on validation, never by the test set: among the read-out rows when
they were run, by validation valid steps, otherwise by validation loss), the best baseline (by
the test headline: the strongest competitor) and the ratio RNN / baseline of the headline
(median VPT; OU: efficiency).

Read-out rows (``--models ... ,readout``, on by default): every trained RNN again with its
read-out refitted by ridge regression on quadratic features of the recurrent state
(``physrnn.train.readout``), the ridge chosen on validation forecasts, as in
``forecast_lorenz63.py``.

``--quick`` is a smoke check (tiny data and epochs, 1 seed, 3 ESN configurations; its numbers
are not results). Default sizes target ~30 minutes for the three systems on 2 CPU cores. Timings
depend on the load: on a shared machine pass ``--threads 1``.
"""

from __future__ import annotations

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
from forecast_lorenz63 import (  # noqa: E402
    _num,
    _version,
    evaluate_all,
    readout_entry,
    rollout_schedule,
    seed_summary_rows,
    train_physrnn,
    window_datasets,
    with_summaries,
)

log = logging.getLogger("forecast_suite")

SYSTEMS: dict[str, dict[str, Any]] = {
    "lorenz96": dict(title="Lorenz-96 (J = 40, F = 8)", registry="lorenz96",
                     params={"J": 40, "F": 8.0}, dt=0.01),
    "ks": dict(title="Kuramoto-Sivashinsky (L = 32 pi, 64 points)",
               registry="kuramoto_sivashinsky", params={"L": 32.0 * math.pi, "n_modes": 64},
               dt=0.25),
    "ou": dict(title="Ornstein-Uhlenbeck (theta = 1, sigma = 1)", registry="ornstein_uhlenbeck",
               params={"theta": 1.0, "sigma": 1.0}, dt=0.1),
}

_COMMON_QUICK = dict(n_train=2, n_val=1, n_test=2, epochs=10, tf_epochs=2, ramp_epochs=4,
                     k_max=20, hidden=32, seeds=[0], esn_configs=3, esn_reservoir=200,
                     n_test_ics=25, batch_size=32, lr=3e-3, context=20, stride=10)
_COMMON_DEFAULT = dict(n_train=4, n_val=2, n_test=4, epochs=30, tf_epochs=3, ramp_epochs=15,
                       k_max=50, hidden=64, seeds=[0, 1], esn_configs=12, esn_reservoir=500,
                       n_test_ics=32, batch_size=32, lr=3e-3, context=20, stride=5)
# per size and system: time units per trajectory, horizon and free run (steps), overrides
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "quick": {
        "lorenz96": dict(_COMMON_QUICK, traj_time=10.0, horizon=300, free_run=2000),
        "ks": dict(_COMMON_QUICK, traj_time=250.0, horizon=200, free_run=2000),
        "ou": dict(_COMMON_QUICK, traj_time=100.0, horizon=50, free_run=2000, n_test_ics=500,
                   n_test=8),
    },
    "default": {
        "lorenz96": dict(_COMMON_DEFAULT, traj_time=25.0, horizon=600, free_run=10000),
        "ks": dict(_COMMON_DEFAULT, traj_time=625.0, horizon=330, free_run=10000),
        "ou": dict(_COMMON_DEFAULT, traj_time=250.0, horizon=50, free_run=10000, hidden=32,
                   k_max=20, epochs=20, ramp_epochs=8, n_test_ics=2000, n_test=16),
    },
}
THRESHOLD = 0.4


def parse_args(argv: list[str] | None):
    p = base_parser(__doc__.split("\n\n")[0])
    p.add_argument("--systems", default="lorenz96,ks,ou",
                   help="comma list of systems: lorenz96, ks, ou")
    p.add_argument("--seeds", default=None,
                   help="training seeds: a count N (0..N-1) or a comma list (default 2; quick 1)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs per RNN")
    p.add_argument("--hidden", type=int, default=None, help="hidden units of GRU and LSTM")
    p.add_argument("--n-test", type=int, default=None, help="test initial conditions (>= 25)")
    p.add_argument("--esn-configs", type=int, default=None, help="ESN search configurations")
    p.add_argument("--test-context", type=int, default=100,
                   help="context of every test forecast (steps; >= the ESN washout)")
    p.add_argument("--models", default="gru,lstm,baselines,readout",
                   help="what to run: any of gru, lstm, baselines, readout (the quadratic "
                        "ridge read-out refit of every trained RNN) (comma list)")
    p.add_argument("--ridges", default="0,1e-18,1e-16,1e-14,1e-12,1e-10,1e-8,1e-6",
                   help="ridge grid of the read-out refit, chosen on validation forecasts")
    p.add_argument("--sindy", action="store_true",
                   help="also fit SINDy (polynomial degree 2) on Lorenz-96 (slow at J = 40)")
    p.add_argument("--device", default="cpu", help="torch device for the RNNs")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the initial conditions")
    p.add_argument("-v", "--verbose", action="store_true", help="log every epoch")
    args = p.parse_args(argv)
    size = "quick" if args.quick else "default"
    systems = [x.strip() for x in args.systems.split(",") if x.strip()]
    unknown = set(systems) - set(SYSTEMS)
    if unknown or not systems:
        p.error(f"unknown --systems {sorted(unknown)}; choose from {sorted(SYSTEMS)}")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    known = {"gru", "lstm", "baselines", "readout"}
    if set(models) - known:
        p.error(f"unknown --models {sorted(set(models) - known)}")
    seeds = None
    if args.seeds is not None:
        txt = args.seeds.strip()
        seeds = ([int(x) for x in txt.split(",") if x.strip()] if "," in txt
                 else list(range(int(txt))))
        if not seeds:
            p.error("--seeds gave no seed")
    settings = {}
    for name in systems:
        s = dict(PRESETS[size][name])
        s.update(size=size, system=name, models=models, device=args.device,
                 data_seed=args.data_seed, test_context=args.test_context, clip=1.0,
                 sindy=args.sindy and name == "lorenz96",
                 ridges=[float(r) for r in args.ridges.split(",") if r.strip()])
        for key, value in (("epochs", args.epochs), ("hidden", args.hidden),
                           ("n_test_ics", args.n_test), ("esn_configs", args.esn_configs),
                           ("seeds", seeds)):
            if value is not None:
                s[key] = value
        s["lr_final"] = s["lr"] / 30.0
        if s["n_test_ics"] < 25:
            p.error("the protocol needs >= 25 test initial conditions")
        settings[name] = s
    return args, settings


# --------------------------------------------------------------------------------------------
# Data and models
# --------------------------------------------------------------------------------------------


def make_data(s: dict[str, Any], tmpdir: Path) -> dict[str, Any]:
    """Simulate train/val/test trajectories of one system, write them as a physrnn dataset and
    read them back (same layout as ``forecast_lorenz63.make_data``)."""
    from physrnn.data.hdf5 import read_dataset, write_dataset
    from physrnn.data.simulate import simulate
    from physrnn.systems import get_system

    spec = SYSTEMS[s["system"]]
    system = get_system(spec["registry"], **spec["params"])
    info = system.info()
    dt = spec["dt"]
    n_tr, n_va, n_te = s["n_train"], s["n_val"], s["n_test"]
    n_traj = n_tr + n_va + n_te
    n_t = int(round(s["traj_time"] / dt)) + 1
    t0 = time.perf_counter()
    sim = simulate(system, n_traj=n_traj, n_t=n_t, dt=dt, seed=s["data_seed"], workers=1,
                   progress=False, record_invariants=False)
    sim_s = time.perf_counter() - t0
    splits = {"train": np.arange(n_tr), "val": np.arange(n_tr, n_tr + n_va),
              "test": np.arange(n_tr + n_va, n_traj)}
    path = write_dataset(tmpdir / f"{s['system']}.h5", t=sim.t, y=sim.y, meta=dict(sim.meta),
                         y0=sim.y0, splits=splits, overwrite=True)
    data = read_dataset(path, load=True)
    mean = np.asarray(data.normalisation.mean)
    scale = np.asarray(data.normalisation.scale)
    z = (np.asarray(data.y, dtype=np.float64) - mean) / scale
    return {"data": data, "z": z, "splits": splits, "dt": dt, "system": system,
            "lyapunov": info.lyapunov_exponent, "meta": dict(sim.meta), "n_t": n_t,
            "simulate_s": sim_s, "mean": mean, "scale": scale, "n_state": z.shape[-1]}


class OUOracle:
    """The exact optimal OU forecast, the conditional mean ``mu + (x0 - mu) e^{-theta t}``, in
    the dataset's normalised coordinates (a check of the scoring: efficiency ~1)."""

    name = "exact conditional mean (oracle)"

    def __init__(self, *, theta: float, mu: float, dt: float, mean, scale) -> None:
        self.theta, self.dt = float(theta), float(dt)
        self.mu_z = (mu - np.asarray(mean)) / np.asarray(scale)

    def forecast(self, context: np.ndarray, n_steps: int) -> np.ndarray:
        x0 = np.asarray(context, dtype=np.float64)[:, -1:, :]
        decay = np.exp(-self.theta * self.dt * np.arange(1, n_steps + 1))[None, :, None]
        return self.mu_z + (x0 - self.mu_z) * decay


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


def ou_scores(pred: np.ndarray, truth: np.ndarray, *, dt: float, theta: float,
              sigma_z: np.ndarray) -> dict[str, float]:
    """Efficiency and ensemble RMS NRMSE at tau = 1 / theta against the exact optimum."""
    from physrnn.metrics.forecast import nrmse_curve, ou_forecast_efficiency, ou_optimal_nrmse

    i = int(round(1.0 / (theta * dt))) - 1  # lead time of index i is (i + 1) dt
    eff = ou_forecast_efficiency(pred, truth, sigma_z, dt=dt, theta=theta)
    curve = nrmse_curve(pred, truth, sigma_z, reduce="rms")
    return {"ou_efficiency": float(eff[i]), "nrmse_1lyap": float(curve[i]),
            "ou_nrmse_optimal": float(ou_optimal_nrmse((i + 1) * dt, theta)),
            "ou_tau": (i + 1) * dt}


# --------------------------------------------------------------------------------------------
# One system
# --------------------------------------------------------------------------------------------


def run_system(s: dict[str, Any]) -> dict[str, Any]:
    from physrnn.baselines.forecast.predictors import make_baseline
    from physrnn.nn.recurrent import TorchForecaster
    from physrnn.train.evaluate import forecast_windows

    name = s["system"]
    spec = SYSTEMS[name]
    wall0 = time.perf_counter()
    tmp = tempfile.TemporaryDirectory(prefix=f"forecast_suite_{name}_")
    d = make_data(s, Path(tmp.name))
    z, splits, dt, lam = d["z"], d["splits"], d["dt"], d["lyapunov"]
    is_ou = name == "ou"
    train_z, val_z, test_z = z[splits["train"]], z[splits["val"]], z[splits["test"]]
    train_tu = len(splits["train"]) * (d["n_t"] - 1) * dt
    print(f"\n# {spec['title']}: dt = {dt}, {d['n_state']} components, transient "
          f"{d['meta'].get('transient')} discarded; train {len(splits['train'])} x "
          f"{s['traj_time']:g} = {train_tu:g} time units, val {len(splits['val'])}, test "
          f"{len(splits['test'])} trajectories (simulated in {d['simulate_s']:.1f} s)",
          flush=True)
    windows = forecast_windows(z, splits["test"], n_test=s["n_test_ics"],
                               context=s["test_context"], horizon=s["horizon"], seed=1234)
    train_ds, val_ds = window_datasets(d, s)
    print(f"training windows: {len(train_ds)} (context {s['context']}, horizon {s['k_max']}, "
          f"stride {s['stride']}); validation windows {len(val_ds)}", flush=True)

    forecasters: dict[str, Any] = {}
    extra: dict[str, dict[str, Any]] = {}
    if "baselines" in s["models"]:
        specs = [("persistence", {}), ("mean", {}), ("linear", {"order": 1}),
                 ("esn", {"n_configs": s["esn_configs"], "seed": 0,
                          "n_reservoir": s["esn_reservoir"], "n_horizon": s["horizon"]})]
        if s["sindy"]:
            specs.append(("sindy", {"dt": dt, "degree": 2, "on_failure": "nan"}))
        for bname, kw in specs:
            t0 = time.perf_counter()
            model = make_baseline(bname, **kw).fit(train_z, val_z)
            fit_s = time.perf_counter() - t0
            label = {"linear": "linear AR(1)", "esn": f"ESN ({s['esn_reservoir']}, tuned)",
                     "sindy": "SINDy (poly 2)"}.get(bname, bname)
            forecasters[label] = model
            extra[label] = {"train_s": fit_s, "kind": "baseline"}
            if bname == "esn":
                best = next(r for r in model.table_ if r.get("best"))
                extra[label]["esn_best"] = {k: v for k, v in best.items() if k != "best"}
            print(f"  fitted {label} in {fit_s:.1f} s", flush=True)
        if is_ou:
            p = d["system"].params
            forecasters[OUOracle.name] = OUOracle(theta=p.theta, mu=p.mu, dt=dt,
                                                  mean=d["mean"], scale=d["scale"])
            extra[OUOracle.name] = {"kind": "oracle", "train_s": 0.0}

    rnn_meta: dict[str, list[dict[str, Any]]] = {}
    val_windows = forecast_windows(z, splits["val"], n_test=s["n_test_ics"],
                                   context=s["test_context"],
                                   horizon=min(s["horizon"], d["n_t"] - s["test_context"]),
                                   seed=4321) if "readout" in s["models"] else None

    def add_readout(cell: str, seed: int, model, base: str, base_s: float) -> None:
        label = f"{base} + ridge read-out"
        forecasters[label], extra[label], val = readout_entry(
            model, label, seed, base_s, f"{cell}_readout", train_z, val_windows, s)
        rnn_meta.setdefault(f"{cell.upper()} + ridge read-out", []).append(
            {"label": label, "val": val})

    for cell in ("gru", "lstm"):
        if cell not in s["models"]:
            continue
        for seed in s["seeds"]:
            model, elapsed, trainer = train_physrnn(cell, seed, train_ds, val_ds, s,
                                                    n_state=d["n_state"])
            label = f"{cell.upper()} seed {seed}"
            forecasters[label] = TorchForecaster(model, name=label)
            extra[label] = {"train_s": elapsed, "seed": seed, "kind": cell,
                            "n_params": sum(q.numel() for q in model.parameters()),
                            "best_epoch": trainer.best_epoch, "best_val_loss": trainer.best_val,
                            "s_per_epoch": elapsed / max(trainer.epoch, 1)}
            rnn_meta.setdefault(cell.upper(), []).append({"label": label,
                                                          "val": trainer.best_val})
            print(f"  trained {label}: {elapsed:.1f} s, best val {trainer.best_val:.3e} at "
                  f"epoch {trainer.best_epoch}", flush=True)
            if "readout" in s["models"]:
                add_readout(cell, seed, model, label, elapsed)

    print("evaluating ...", flush=True)
    rows, forecasts = evaluate_all(forecasters, windows, dt=dt, lam=lam, free_run=s["free_run"],
                               truth_pool=test_z, floor_pool=val_z)
    if is_ou:
        p = d["system"].params
        sigma_z = math.sqrt(d["system"].stationary_variance()) / np.asarray(d["scale"])
        by_model = {r["model"]: r for r in rows}
        for row in rows:
            if row["model"] in forecasts:
                row.update(ou_scores(forecasts[row["model"]], windows.truth, dt=dt,
                                     theta=p.theta, sigma_z=sigma_z))
        oracle = by_model.get(OUOracle.name, {}).get("nrmse_1lyap")
        for row in rows:  # paired with the oracle on the same windows: less sampling noise
            if oracle is not None and row.get("nrmse_1lyap"):
                row["ou_efficiency_vs_oracle"] = oracle / row["nrmse_1lyap"]
    for row in rows:
        row.update(extra.get(row["model"], {}))
        row.setdefault("seed", None)
        row["system"] = name

    by_name = {r["model"]: r for r in rows}
    vpt_unit = next((r.get("vpt_unit") for r in rows if r.get("vpt_unit")), None)
    summary_rows = seed_summary_rows(
        rnn_meta, by_name, ("median_vpt", "vpt_q25", "vpt_q75", "vpt_iqr", "nrmse_1lyap",
                            "w1_longrun", "psd_longrun", "ou_efficiency", "train_s", "n_params"),
        system=name, vpt_unit=vpt_unit)
    rows = with_summaries(rows, summary_rows)

    # summary: best RNN by validation, best baseline by the test headline. The two RNN
    # families are scored on validation differently (closed-loop loss; valid steps after the
    # read-out refit), so the refitted family is taken when it was run.
    head = "ou_efficiency" if is_ou else "median_vpt"
    summary: dict[str, Any] = {"system": name, "headline": head,
                               "vpt_unit": "time units" if lam is None else "Lyapunov times"}
    refitted = {g: m for g, m in rnn_meta.items() if g.endswith("read-out")}
    all_rnn = [m for metas in (refitted or rnn_meta).values() for m in metas]
    if all_rnn:
        r = by_name[min(all_rnn, key=lambda m: m["val"])["label"]]
        summary.update(best_rnn=r["model"], rnn_vpt=r.get("median_vpt"),
                       rnn_headline=r.get(head))
    bases = [r for r in rows if r.get("kind") == "baseline"
             and math.isfinite(_num(r.get(head)))]
    if bases:
        b = max(bases, key=lambda r: _num(r.get(head)))
        summary.update(best_baseline=b["model"], baseline_vpt=b.get("median_vpt"),
                       baseline_headline=b.get(head))
    if summary.get("rnn_headline") is not None and _num(summary.get("baseline_headline")) > 0:
        summary["ratio"] = _num(summary["rnn_headline"]) / _num(summary["baseline_headline"])

    wall = time.perf_counter() - wall0
    unit = "time units" if lam is None else "Lyap."
    columns = [("model", "model"), ("seed", "seed"),
               ("median_vpt", f"median VPT ({unit})", ".2f"), ("vpt_iqr_str", "VPT IQR")]
    if is_ou:
        columns += [("nrmse_1lyap", "NRMSE_rms @ tau=1/theta", ".3f"),
                    ("ou_nrmse_optimal", "optimum", ".3f"),
                    ("ou_efficiency", "efficiency @ tau", ".3f"),
                    ("ou_efficiency_vs_oracle", "eff. vs oracle (paired)", ".3f")]
    else:
        columns += [("nrmse_1lyap", "NRMSE @ 1 Lyap.", ".3f")]
    columns += [("w1_longrun", "W1/sigma long run", ".3f"),
                ("psd_longrun", "PSD dist. long run", ".3f"),
                ("train_s", "train s"), ("n_params", "params")]
    horizon_note = (f"Lyapunov time {1 / lam:.3f}" if lam is not None
                    else "no Lyapunov time; VPT in time units")
    print()
    print(f"## {spec['title']} ({s['size']}; {s['n_test_ics']} test ICs, VPT threshold "
          f"{THRESHOLD}, {horizon_note}; train {train_tu:g} time units; {wall:.0f} s)")
    print()
    print(markdown_table(rows, columns))
    print(flush=True)

    settings = {k: v for k, v in s.items()}
    settings.update({
        "title": spec["title"], "params": spec["params"], "dt": dt,
        "integrator": d["meta"].get("integrator") or d["meta"].get("method"),
        "transient": d["meta"].get("transient"), "lyapunov_exponent": lam,
        "train_time_units": train_tu, "train_windows": len(train_ds),
        "val_windows": len(val_ds), "vpt_threshold": THRESHOLD,
        "rollout_schedule": repr(rollout_schedule(s)), "wall_s": wall,
        "simulate_s": d["simulate_s"],
    })
    tmp.cleanup()
    return {"rows": rows, "summary": summary, "settings": settings}


SUMMARY_COLUMNS = [
    ("system", "system"), ("headline", "headline"),
    ("best_rnn", "best RNN (by val)"), ("rnn_vpt", "RNN median VPT", ".2f"),
    ("rnn_headline", "RNN headline", ".3f"),
    ("best_baseline", "best baseline (by test)"), ("baseline_vpt", "baseline VPT", ".2f"),
    ("baseline_headline", "baseline headline", ".3f"),
    ("ratio", "ratio RNN / baseline", ".2f"), ("vpt_unit", "VPT unit"),
]
JSON_FIELDS = ("system", "model", "seed", "median_vpt", "vpt_q25", "vpt_q75", "vpt_iqr",
               "vpt_unit", "nrmse_1lyap", "w1_longrun", "psd_longrun", "ou_efficiency",
               "train_s")


def main(argv: list[str] | None = None) -> int:
    args, settings = parse_args(argv)
    if args.threads is not None:
        limit_threads(args.threads)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s: %(message)s")
    import torch

    wall0 = time.perf_counter()
    results = {name: run_system(s) for name, s in settings.items()}
    summaries = [r["summary"] for r in results.values()]
    wall = time.perf_counter() - wall0
    print("## Summary (headline: median VPT; OU: efficiency against the exact optimum at "
          "tau = 1/theta)")
    print()
    print(markdown_table(summaries, SUMMARY_COLUMNS))
    print()
    print(f"total wall time {wall:.0f} s; torch threads {torch.get_num_threads()}")

    if args.json is not None:
        out_rows = []
        for r in results.values():
            for row in r["rows"]:
                plain = {k: row.get(k) for k in JSON_FIELDS}
                plain.update({k: v for k, v in row.items()
                              if k not in JSON_FIELDS and k != "vpt_iqr_str"})
                out_rows.append(plain)
        payload = {"benchmark": "forecast_suite", "rows": out_rows, "summary": summaries,
                   "settings": {k: r["settings"] for k, r in results.items()},
                   "total_wall_s": wall, "machine": machine_info(import_jax=False),
                   "versions": {m: _version(m) for m in ("physrnn", "torch", "numpy",
                                                          "scipy", "pysindy")}}
        dest = write_json(args.json, payload)
        print(f"wrote {dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
