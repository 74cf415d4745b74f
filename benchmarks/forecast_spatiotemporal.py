"""Spatiotemporal chaos: local (parallel) models on Lorenz-96 and Kuramoto-Sivashinsky.

Question: do physrnn's local models with shared weights forecast 40- and 512-dimensional
chaotic fields as far as the published parallel reservoirs and RNNs, and beside reservoirpy's
ESN and NG-RC trained on the same data in the same run?

Protocol (after Vlachas et al., Neural Networks 126, 191 (2020) and Pathak et al., PRL 120,
024102 (2018)); every system is one long training trajectory, one validation trajectory and one
test trajectory from independent random initial conditions, each after a discarded transient:

- ``l96f8`` / ``l96f10``: Lorenz-96, J = 40, F = 8 / 10, dt = 0.01, transient 10^5 steps,
  ``--train-steps`` training samples (Vlachas: 10^5), lambda_1 = 1.68 / 2.27 (Vlachas). The
  truth is DOP853 at rtol = atol = 1e-9 (Vlachas integrate with RK4 at dt = 0.01).
  Patches of 2 sites reading 4 neighbours on each side (Vlachas' parallel models read
  interaction length 4 around groups of 2).
- ``ks100`` / ``ks200``: Kuramoto-Sivashinsky, L = 100 / 200, 512 grid points, dt = 0.25,
  ETDRK4 (dt_int = 0.25), transient 1000 time units; at L = 200 patches of 8 points reading 6
  neighbours each side (Pathak: 64 reservoirs of q = 8 points with l = 6 overlap), at L = 100
  16 points reading 12 (the same physical window; ``--locality`` overrides). lambda_1 is measured
  here (Benettin, two trajectories renormalised every time unit, ``lyap_time`` time units)
  and printed beside the published values.
- ``l63``: Lorenz-63 (sigma 10, rho 28, beta 8/3), dt = 0.01, DOP853 at 1e-9, one patch of the
  3 components (the global model), VPT threshold 0.4 as the house protocol
  (``forecast_lorenz63.py``), 4x10^4 training steps: the row for "trained > untrained".

All data are normalised per component with the training mean and standard deviation (a
periodic homogeneous field: all components alike). Test: ``--n-test`` initial conditions (>= 100
at full size) cut from the test trajectory, each with ``--context`` steps of warm-up and a
horizon of ``--horizon`` steps; VPT = first lead time with NRMSE > 0.5 (per-component sigma of
the normalised data = 1), in Lyapunov times; median and interquartile range. Long run: a free
run of ``--free-run`` steps from the first test context, per-component Wasserstein-1 / sigma and
Welch spectrum distance, beside the truth-versus-truth floor (validation against test).

Models (same training data, same patches):

- ``persistence``.
- ``NG-RC local``: :class:`physrnn.baselines.forecast.NGRC`, k = 2, s = 1, quadratic, one shared
  read-out; ridge chosen on validation forecasts.
- ``reservoirpy ESN local`` (the peer): :class:`physrnn.baselines.forecast.ReservoirpyESN` with
  ``--reservoir`` units, physrnn's spectral radius, leak, input scaling, degree, washout and the
  ridge chosen for physrnn's same-settings row, bias 0.5 (reservoirpy's states have no squared
  units, so a bias breaks the odd symmetry), patches as separate sequences.
- ``physrnn local ESN, peer settings``: :class:`physrnn.nn.local_reservoir.LocalESN` with the
  peer's exact settings (dense input, bias 0.5, no squared states): same size, same data.
- ``physrnn local ESN``: LocalESN with Pathak's choices (sparse input, no bias, squared
  states), ridge on validation.
- ``physrnn local ESN + quadratic window``: the same reservoir, read-out also on the window's
  quadratic monomials (``window_features="quadratic"``).
- ``... + training noise``: the same model trained on a noisy drive with clean targets
  (``input_noise``, Wikner et al., Chaos 32, 053111 (2022)); noise level and ridge on
  validation.
- ``local GRU untrained + ridge`` / ``local GRU trained + ridge``:
  :class:`physrnn.nn.local.LocalRecurrentForecaster` (``--hidden`` units), its quadratic read-out
  refitted by ridge regression on the training trajectory (ridge on validation), with the
  recurrent weights at their random initialisation or trained by physrnn's Trainer
  (teacher forcing, then a closed-loop rollout curriculum, ``--epochs`` on windows of the
  training trajectory): the ablation "does gradient training add value".
- ``local GRU trained through the read-out + ridge``: the untrained row's weights trained
  through the same quadratic ridge read-out (:func:`physrnn.train.through_readout.
  train_through_readout`: the read-out solved in closed form at every step, the loss the log
  error of closed-loop forecasts of held-out windows, rollouts growing from 20 to 80 steps, the
  read-out fitted at every step on the first 20 % of the training series, which bounds memory),
  the epoch kept by the validation windows, then the read-out refitted as for the rows above.
  Opt-in (``--models ...,gru_through``): it costs more than every other row together (KS
  L = 100: 2862 s on one core, about 5 GB; median VPT 3.73 against 1.10 untrained and 1.51
  trained by the Trainer, ``results/...-2026-12-03-cpu2-ks100-gru-through.json``).

Full size (``--systems l96f8,l96f10,ks100,ks200``) on 2 CPU cores: about 1-2 h. CPU-sized
reductions are printed in the table's settings (``--train-steps`` of KS, the reservoir size and
GRU epochs); the full settings of the papers are accepted unchanged (``--train-steps 100000
--reservoir 5000``). ``--quick`` is a smoke check (tiny data; its numbers are not results).

Run::

    python benchmarks/forecast_spatiotemporal.py --quick
    python benchmarks/forecast_spatiotemporal.py --threads 2 \\
        --json benchmarks/results/forecast_spatiotemporal-$(date +%F)-$(hostname).json
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks._common import (  # noqa: E402
    base_parser,
    limit_threads,
    machine_info,
    markdown_table,
    write_json,
)

SYSTEMS = {
    "l96f8": {"label": "Lorenz-96 J=40, F=8", "system": "lorenz96", "params": {"J": 40, "F": 8.0},
              "dt": 0.01, "transient": 1000.0, "lyapunov": 1.68, "patch": 2, "overlap": 4,
              "lyapunov_source": "Vlachas et al. 2020"},
    "l96f10": {"label": "Lorenz-96 J=40, F=10", "system": "lorenz96",
               "params": {"J": 40, "F": 10.0}, "dt": 0.01, "transient": 1000.0,
               "lyapunov": 2.27, "patch": 2, "overlap": 4,
               "lyapunov_source": "Vlachas et al. 2020"},
    "ks100": {"label": "KS L=100, 512 points", "system": "kuramoto_sivashinsky",
              "params": {"L": 100.0, "n_modes": 512, "dt_int": 0.25}, "dt": 0.25,
              # 16 points reading 12 each side: the window spans 7.5 length units, as Pathak's
              # 8 + 2x6 do at L = 200 (full result: 6.97 Lyapunov times with training noise
              # against 3.50 at 8 + 2x6)
              "transient": 1000.0, "lyapunov": None, "patch": 16, "overlap": 12,
              "lyapunov_published": (0.094, "Vlachas et al. 2020, lambda_1 of their KS data "
                                     "(2 pi L = 100, 512 points) in the authors' code "
                                     "pvlachas/RNN-RC-Chaos")},
    "l63": {"label": "Lorenz-63 (house)", "system": "lorenz63", "params": {}, "dt": 0.01,
            "transient": 50.0, "lyapunov": 0.9056, "patch": 3, "overlap": 0,
            "lyapunov_source": "REFERENCES.md (Sprott)", "threshold": 0.4},
    "ks200": {"label": "KS L=200, 512 points", "system": "kuramoto_sivashinsky",
              "params": {"L": 200.0, "n_modes": 512, "dt_int": 0.25}, "dt": 0.25,
              "transient": 1000.0, "lyapunov": None, "patch": 8, "overlap": 6},
}

FULL = {"l96": {"train_steps": 100_000, "val_steps": 20_000, "context": 500, "horizon": 1000},
        "l63": {"train_steps": 40_000, "val_steps": 10_000, "context": 100, "horizon": 2000},
        "ks": {"train_steps": 20_000, "val_steps": 6_000, "context": 200, "horizon": 400},
        "n_test": 100, "n_val": 20, "reservoir": 1000, "hidden": 32, "epochs": 6,
        "through_epochs": 8, "through_steps": 10, "free_run": 5000, "lyap_time": 2000.0}
QUICK = {"l96": {"train_steps": 3_000, "val_steps": 1_500, "context": 100, "horizon": 200},
         "l63": {"train_steps": 3_000, "val_steps": 1_500, "context": 100, "horizon": 300},
         "ks": {"train_steps": 1_500, "val_steps": 800, "context": 50, "horizon": 100},
         "n_test": 6, "n_val": 4, "reservoir": 80, "hidden": 8, "epochs": 1,
         "through_epochs": 1, "through_steps": 1, "free_run": 300, "lyap_time": 100.0}
RIDGES = (1e-8, 1e-6, 1e-4, 1e-2)
# KS read-outs want far more regularisation (a probe on the KS L = 100 validation windows:
# local ESN median VPT 0.57 at ridge 1e-2, 1.71 at 1, 0.81 at 100): its grid reaches 100
RIDGES_BY_FAMILY = {"l96": RIDGES, "l63": RIDGES, "ks": (1e-4, 1e-2, 0.1, 1.0, 10.0, 1e2)}
# reservoir spectral radius and input scaling, every reservoir of a system alike (peer too);
# KS from validation probes of the local ESN at L = 100 (rho 0.6 / input 0.5: 1.71 at ridge
# 1; rho 0.9 / input 0.25: 2.58 at ridge 0.1)
RESERVOIR_BY_FAMILY = {"l96": (0.6, 0.5), "l63": (0.6, 0.5), "ks": (0.9, 0.25)}
# training-noise levels (standard deviations in normalised units) of the noise-trained local
# ESN, chosen with the ridge on validation; a probe on the KS L = 100 validation windows
# (quadratic window, rho 0.9 / input 0.25): 2.64 clean (ridge 0.1), 3.11 at 3e-4, 2.84 at 1e-3,
# 1.46 at 3e-3, 0.84 at 1e-2 (each at its best ridge)
NOISES_BY_FAMILY = {"l96": (1e-4, 3e-4, 1e-3), "l63": (1e-5, 1e-4, 1e-3),
                    "ks": (1e-4, 3e-4, 1e-3)}
NOISE_RIDGES_BY_FAMILY = {"l96": RIDGES, "l63": RIDGES, "ks": (1e-5, 1e-4, 1e-3, 1e-2, 0.1)}
THRESHOLD = 0.5
# closed-loop horizon (steps) of training through the read-out, first and last epoch
THROUGH_ROLLOUT = (20, 80)
# share of the training series whose teacher-forced states fit the read-out at every step of
# training through it (its autograd graph is the memory: 0.7 of KS L = 100 went past 19 GB)
THROUGH_FIT_FRACTION = 0.2

COLUMNS = [("system", "system"), ("model", "model"), ("median_vpt", "median VPT (Lyap.)"),
           ("vpt_iqr_text", "IQR"), ("n_censored", "censored"),
           ("nrmse_1lyap", "NRMSE at 1 Lyap."), ("w1_longrun", "W1/sigma long run"),
           ("psd_longrun", "PSD dist. long run"), ("fit_s", "fit s"),
           ("forecast_s", "forecast s"), ("settings", "settings")]


def parse_args(argv):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--systems", default="l96f8,l96f10,ks100,ks200")
    p.add_argument("--models", default="persistence,ngrc,peer,esn_peer_settings,esn,esn_quad,"
                   "esn_quad_noise,gru_untrained,gru_trained",
                   help="comma list; gru_through (the local GRU trained through its read-out, "
                        "48 min and about 5 GB at KS L = 100) is not in the default")
    p.add_argument("--train-steps", type=int, default=None,
                   help="training samples per system (default: Lorenz-96 1e5, KS 2e4)")
    p.add_argument("--reservoir", type=int, default=None, help="reservoir units")
    p.add_argument("--hidden", type=int, default=None, help="GRU hidden units")
    p.add_argument("--epochs", type=int, default=None, help="GRU training epochs")
    p.add_argument("--n-test", type=int, default=None, help="test initial conditions")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--locality", default=None, metavar="P:O",
                   help="patch size and overlap of every model, e.g. 16:12 (default: each "
                        "system's own, printed in the table)")
    return p.parse_args(argv)


# ------------------------------------------------------------------------------------- data
def make_system(key: str):
    from physrnn.systems import get_system

    spec = SYSTEMS[key]
    return get_system(spec["system"], **spec["params"])


def simulate_split(system, spec: dict, n_t: int, seed: int) -> np.ndarray:
    """One trajectory ``(n_t, n)`` after the transient."""
    from physrnn.data.simulate import simulate

    kw = {"rtol": 1e-9, "atol": 1e-9} if system.kind == "ode" else {}
    sim = simulate(system, n_traj=1, n_t=n_t, dt=spec["dt"], transient=spec["transient"],
                   seed=seed, progress=False, record_invariants=False, **kw)
    return sim.y[0]


def ks_lyapunov(system, dt: float, total_time: float, seed: int) -> tuple[float, float]:
    """Largest Lyapunov exponent by Benettin's method: two trajectories from the attractor,
    renormalised to 1e-8 every time unit; mean and standard error over 10 blocks."""
    rng = np.random.default_rng(seed)
    u = system.integrate(system.initial_condition(rng), np.array([0.0, 500.0]))[-1]
    d0 = 1e-8
    v = rng.standard_normal(u.size)
    w = u + d0 * v / np.linalg.norm(v)
    logs = []
    for _ in range(int(total_time)):
        a = system.integrate(u, np.array([0.0, 1.0]))[-1]
        b = system.integrate(w, np.array([0.0, 1.0]))[-1]
        d = np.linalg.norm(b - a)
        logs.append(math.log(d / d0))
        u, w = a, a + (b - a) * (d0 / d)
    blocks = np.array_split(np.array(logs), 10)
    means = np.array([blk.mean() for blk in blocks])
    return float(np.mean(logs)), float(means.std(ddof=1) / math.sqrt(len(means)))


# ----------------------------------------------------------------------------------- models
def pick_ridge(make, ridges, val_windows, *, dt: float, lam: float,
               threshold: float = THRESHOLD) -> tuple[Any, float, list]:
    """Fit with each ridge (``make(ridge)`` returns a fitted forecaster); keep the best median
    validation VPT."""
    from physrnn.metrics.forecast import valid_prediction_time

    best, best_vpt, scores = None, -1.0, []
    for r in ridges:
        model = make(r)
        pred = model.forecast(val_windows.context, val_windows.truth.shape[1])
        vpt = float(np.median(valid_prediction_time(
            pred, val_windows.truth, np.ones(pred.shape[-1]), dt=dt, lyapunov_exponent=lam,
            threshold=threshold)))
        scores.append({"ridge": r, "val_median_vpt": vpt})
        if vpt > best_vpt:
            best, best_vpt = model, vpt
    return best, best_vpt, scores


def untrained_local_gru(n_sites: int, spec: dict, s: dict, seed: int):
    """The local GRU of every GRU row at its random initialisation (``spec``'s patches,
    ``s["hidden"]`` units, ``seed``)."""
    from physrnn.nn.local import LocalRecurrentForecaster

    return LocalRecurrentForecaster(n_sites, patch=spec["patch"], overlap=spec["overlap"],
                                    hidden_size=s["hidden"], seed=seed)


def train_local_gru(train: np.ndarray, spec: dict, s: dict, seed: int):
    """Train a LocalRecurrentForecaster with physrnn's Trainer on windows of ``train``."""
    import torch

    from physrnn.optim import make_optimizer
    from physrnn.train.loop import RolloutSchedule, Trainer

    model = untrained_local_gru(train.shape[-1], spec, s, seed)
    ctx, k_max, stride = 20, 20, 10
    x = torch.as_tensor(train, dtype=torch.float32)
    win = x.unfold(0, ctx + k_max, stride).permute(0, 2, 1)        # (n_win, ctx + k, n)
    epochs = s["epochs"]
    opt, sched = make_optimizer(model, lr=3e-3, schedule="cosine", n_steps=epochs,
                                lr_final=1e-4)
    trainer = Trainer(model, optimizer=opt, scheduler=sched, loss="mse",
                      teacher_forcing="window",
                      rollout_schedule=RolloutSchedule(1, max(1, epochs - 1), k_min=1,
                                                       k_max=k_max),
                      clip_grad_norm=1.0, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for idx in torch.randperm(win.shape[0], generator=gen).split(64):
        batches.append((win[idx, :ctx], win[idx, ctx:]))
    t0 = time.perf_counter()
    trainer.fit(batches, epochs=epochs, progress=False)
    return model, time.perf_counter() - t0


def build_models(key: str, spec: dict, train: np.ndarray, val_windows, s: dict,
                 models: list[str], seed: int) -> tuple[dict, dict, dict]:
    """Fit every model of ``models``; returns (forecasters, fit seconds, settings text)."""
    from physrnn.baselines.forecast import NGRC, Persistence, ReservoirpyESN
    from physrnn.nn.local_reservoir import LocalESN
    from physrnn.nn.recurrent import TorchForecaster

    dt, lam, thr = spec["dt"], spec["lyapunov_used"], spec.get("threshold", THRESHOLD)
    family = next(f for f in RIDGES_BY_FAMILY if key.startswith(f))
    ridges = RIDGES_BY_FAMILY[family]
    patch, overlap, n_res = spec["patch"], spec["overlap"], s["reservoir"]
    loc = (patch, overlap)
    out, fit_s, notes = {}, {}, {}
    tr = train[None]
    rho, scale_in = RESERVOIR_BY_FAMILY[family]
    common = {"n_reservoir": n_res, "spectral_radius": rho, "input_scaling": scale_in,
              "washout": 100, "degree": 3.0, "seed": seed}

    def timed(name, fn, note):
        t0 = time.perf_counter()
        model, extra = fn()
        fit_s[name] = time.perf_counter() - t0
        out[name] = model
        notes[name] = note + (f"; {extra}" if extra else "")
        print(f"  {key}: {name} fitted in {fit_s[name]:.1f} s ({notes[name]})", flush=True)

    if "persistence" in models:
        timed("persistence", lambda: (Persistence().fit(tr), ""), "x_{t+k} = x_t")
    if "ngrc" in models:
        def ngrc():
            best, vpt, _ = pick_ridge(lambda r: NGRC(2, 1, ridge=r, locality=loc).fit(tr),
                                      ridges, val_windows, dt=dt, lam=lam,
                                      threshold=thr)
            return best, f"ridge {best.ridge:g} (val VPT {vpt:.2f})"
        timed("NG-RC local", ngrc, f"k=2, s=1, quadratic, patch {patch}+2x{overlap}")
    ridge_same = None
    if "esn_peer_settings" in models:
        def esn_peer():
            nonlocal ridge_same
            base = LocalESN(patch, overlap=overlap, ridge=ridges[0], sparse_input=False,
                            bias_scaling=0.5, squared_states=False, target="state",
                            **common).fit(tr)
            best, vpt, _ = pick_ridge(base.with_ridge, ridges, val_windows, dt=dt, lam=lam,
                                      threshold=thr)
            ridge_same = best.ridge
            return best, f"ridge {best.ridge:g} (val VPT {vpt:.2f})"
        timed("physrnn local ESN, peer settings", esn_peer,
              f"N={n_res}, dense input, bias 0.5, no squared states")
    if "peer" in models:
        ridge = ridge_same if ridge_same is not None else 1e-6
        timed("reservoirpy ESN local (peer)",
              lambda: (ReservoirpyESN(n_res, spectral_radius=rho, leak=1.0, input_scaling=scale_in,
                                      bias_scaling=0.5, ridge=ridge, degree=3.0, washout=100,
                                      locality=loc, seed=seed).fit(tr), ""),
              f"N={n_res}, reservoirpy Reservoir + Ridge, ridge {ridge:g}")
    for name, wf, tag in (("physrnn local ESN", "linear", "esn"),
                          ("physrnn local ESN + quadratic window", "quadratic", "esn_quad")):
        if tag not in models:
            continue

        def esn(wf=wf):
            base = LocalESN(patch, overlap=overlap, ridge=ridges[0], window_features=wf,
                            target="increment", **common).fit(tr)
            best, vpt, _ = pick_ridge(base.with_ridge, ridges, val_windows, dt=dt, lam=lam,
                                      threshold=thr)
            return best, f"ridge {best.ridge:g} (val VPT {vpt:.2f})"
        timed(name, esn, f"N={n_res}, sparse input, squared states, window {wf}")
    if "esn_quad_noise" in models:
        noises = NOISES_BY_FAMILY[family]
        noise_ridges = NOISE_RIDGES_BY_FAMILY[family]

        def esn_noise():
            best, best_vpt = None, -1.0
            for sd in noises:           # one fit per noise level, ridge re-solved for each
                base = LocalESN(patch, overlap=overlap, ridge=noise_ridges[0],
                                window_features="quadratic", target="increment",
                                input_noise=sd, **common).fit(tr)
                model, vpt, _ = pick_ridge(base.with_ridge, noise_ridges, val_windows, dt=dt,
                                           lam=lam, threshold=thr)
                if vpt > best_vpt:
                    best, best_vpt = model, vpt
            return best, (f"noise {best.input_noise:g}, ridge {best.ridge:g} "
                          f"(val VPT {best_vpt:.2f})")
        timed("physrnn local ESN + quadratic window + training noise", esn_noise,
              f"N={n_res}, as the row above, input noise from {list(noises)} on validation")
    for tag, trained in (("gru_untrained", False), ("gru_trained", True)):
        if tag not in models:
            continue

        def gru(trained=trained):
            import torch

            from physrnn.train.readout import select_readout

            if trained:
                model, secs = train_local_gru(train, spec, s, seed)
            else:
                model, secs = untrained_local_gru(train.shape[-1], spec, s, seed), 0.0
            fitted, info = select_readout(model, torch.as_tensor(tr), val_windows.context,
                                          val_windows.truth, ridges=(0.0,) + ridges,
                                          washout=100, readout="quadratic",
                                          threshold=thr, progress=False)
            return TorchForecaster(fitted), (f"ridge {info.ridge:g}" +
                                             (f", trained {secs:.0f} s" if trained else ""))
        label = "local GRU trained + ridge" if trained else "local GRU untrained + ridge"
        timed(label, gru, f"hidden {s['hidden']}, quadratic read-out" +
              (f", {s['epochs']} epochs TF + rollout to 20" if trained else ""))
    if "gru_through" in models:
        def gru_through():
            from physrnn.train.through_readout import train_through_readout

            fitted, info = train_through_readout(
                untrained_local_gru(train.shape[-1], spec, s, seed), tr,
                val_windows.context, val_windows.truth,
                epochs=s["through_epochs"], steps_per_epoch=s["through_steps"],
                fit_fraction=THROUGH_FIT_FRACTION, batch_size=16, context=100,
                rollout_steps=THROUGH_ROLLOUT, washout=100,
                refit_ridges=(0.0,) + ridges, threshold=thr, readout="quadratic", seed=seed,
                progress=False)
            return TorchForecaster(fitted), (f"ridge {info.readout.ridge:g}, best epoch "
                                             f"{info.best_epoch}")
        timed("local GRU trained through the read-out + ridge", gru_through,
              f"hidden {s['hidden']}, quadratic read-out, from the untrained row's weights, "
              f"{s['through_epochs']} x {s['through_steps']} steps, rollouts "
              f"{THROUGH_ROLLOUT[0]}-{THROUGH_ROLLOUT[1]}")
    return out, fit_s, notes


# ------------------------------------------------------------------------------------- main
def run_system(key: str, s: dict, models: list[str], seed: int) -> dict[str, Any]:
    from physrnn.train.evaluate import evaluate_forecasters, forecast_windows

    spec = dict(SYSTEMS[key])
    if s.get("locality"):
        spec["patch"], spec["overlap"] = s["locality"]
    fam = s[next(f for f in ("l96", "l63", "ks") if key.startswith(f))]
    system = make_system(key)
    t0 = time.perf_counter()
    n_train = s.get("train_steps") or fam["train_steps"]
    ctx, hor = fam["context"], fam["horizon"]
    n_test_t = s["n_test"] * (ctx + hor) + 1
    train = simulate_split(system, spec, n_train, seed + 1)
    val = simulate_split(system, spec, fam["val_steps"], seed + 2)
    test = simulate_split(system, spec, max(n_test_t, s["free_run"] + ctx), seed + 3)
    sim_s = time.perf_counter() - t0
    if spec["lyapunov"] is None:
        lam, err = ks_lyapunov(system, spec["dt"], s["lyap_time"], seed + 4)
        spec["lyapunov_used"], spec["lyapunov_err"] = lam, err
        spec["lyapunov_source"] = (f"measured here: {lam:.4f} +- {err:.4f} (Benettin, "
                                   f"{s['lyap_time']:.0f} time units)")
        if spec.get("lyapunov_published"):
            spec["lyapunov_source"] += (f"; published {spec['lyapunov_published'][0]:g} "
                                        f"({spec['lyapunov_published'][1]})")
    else:
        spec["lyapunov_used"] = spec["lyapunov"]
    mean, sd = train.mean(), train.std()
    z = {k: (v - mean) / sd for k, v in (("train", train), ("val", val), ("test", test))}
    # test ICs: consecutive non-overlapping windows of the test trajectory
    starts = np.arange(s["n_test"]) * (ctx + hor)
    win = np.stack([z["test"][a:a + ctx + hor] for a in starts])
    from physrnn.train.evaluate import ForecastWindows

    test_w = ForecastWindows(context=win[:, :ctx], truth=win[:, ctx:],
                             trajectories=np.zeros(len(starts), int), starts=starts)
    val_w = forecast_windows(z["val"][None], np.array([0]), n_test=s["n_val"], context=ctx,
                             horizon=hor, seed=seed)
    print(f"{spec['label']}: simulated {n_train} + {fam['val_steps']} + {len(test)} steps in "
          f"{sim_s:.0f} s; lambda_1 = {spec['lyapunov_used']:.4f} "
          f"({spec.get('lyapunov_source', '')})", flush=True)
    forecasters, fit_s, notes = build_models(key, spec, z["train"], val_w, s, models, seed)
    rows, _ = evaluate_forecasters(forecasters, test_w, dt=spec["dt"],
                                   lyapunov_exponent=spec["lyapunov_used"],
                                   threshold=spec.get("threshold", THRESHOLD),
                                   free_run_steps=s["free_run"], truth_pool=z["test"][None],
                                   floor_pool=z["val"][None], progress=False)
    for r in rows:
        r["system"] = spec["label"]
        r["fit_s"] = fit_s.get(r["model"])
        r["settings"] = notes.get(r["model"], "")
        if r.get("vpt_q25") is not None:
            r["vpt_iqr_text"] = f"{r['vpt_q25']:.2f}-{r['vpt_q75']:.2f}"
    return {"system": key, "label": spec["label"], "rows": rows, "simulate_s": sim_s,
            "lyapunov": spec["lyapunov_used"], "lyapunov_source": spec.get("lyapunov_source"),
            "n_train": n_train, "n_val": fam["val_steps"], "n_test_ics": s["n_test"],
            "context": ctx, "horizon": hor, "patch": spec["patch"], "overlap": spec["overlap"],
            "dt": spec["dt"], "transient": spec["transient"], "params": spec["params"],
            "vpt_threshold": spec.get("threshold", THRESHOLD)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        limit_threads(args.threads)
    s = dict(QUICK if args.quick else FULL)
    for key in ("reservoir", "hidden", "epochs", "n_test"):
        if getattr(args, key) is not None:
            s[key] = getattr(args, key)
    s["train_steps"] = args.train_steps
    s["locality"] = None
    if args.locality:
        try:
            patch, overlap = (int(v) for v in args.locality.split(":"))
        except ValueError:
            raise SystemExit(f"--locality wants PATCH:OVERLAP, got {args.locality!r}") from None
        s["locality"] = [patch, overlap]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    systems = [k.strip() for k in args.systems.split(",") if k.strip()]
    unknown = [k for k in systems if k not in SYSTEMS]
    if unknown:
        raise SystemExit(f"unknown systems {unknown}; choose from {sorted(SYSTEMS)}")
    t0 = time.perf_counter()
    results = []
    for key in systems:
        results.append(run_system(key, s, models, args.seed))
        rows = [r for res in results for r in res["rows"]]
        print(markdown_table(rows, COLUMNS), flush=True)
    rows = [r for res in results for r in res["rows"]]
    print()
    print(markdown_table(rows, COLUMNS))
    payload = {"benchmark": "forecast_spatiotemporal", "quick": bool(args.quick),
               "question": "local models with shared weights on Lorenz-96 and KS beside "
                           "reservoirpy's ESN and NG-RC, same data, same run",
               "settings": {**{k: v for k, v in s.items()}, "models": models,
                            "vpt_threshold": THRESHOLD, "ridges": RIDGES_BY_FAMILY,
                            "reservoir_rho_input": RESERVOIR_BY_FAMILY,
                            "training_noise": NOISES_BY_FAMILY,
                            "training_noise_ridges": NOISE_RIDGES_BY_FAMILY,
                            "seed": args.seed,
                            "threads": args.threads, "total_s": time.perf_counter() - t0},
               "systems": results, "rows": rows,
               "machine": machine_info(import_jax=False)}
    if args.json:
        write_json(args.json, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
