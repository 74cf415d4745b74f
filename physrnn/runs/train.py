"""A complete forecasting run: data, training, evaluation against baselines, record.

What ``physrnn train`` and ``physrnn evaluate`` call; usable from Python::

    from physrnn.config import load_config
    from physrnn.train.config import TrainRunConfig
    from physrnn.runs.train import run_train_job
    summary = run_train_job(load_config("examples/forecast_lorenz63.toml",
                                        cls=TrainRunConfig), "runs/l63")
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from physrnn.checkpoints import load_torch_file, save_torch_file
from physrnn.config import RESUME_FREE, to_dict
from physrnn.data.datasets import make_loaders
from physrnn.data.hdf5 import TrajectoryData, read_dataset
from physrnn.distributed import resolve_device
from physrnn.errors import ConfigError, RecordError
from physrnn.nn.local import LocalRecurrentForecaster
from physrnn.nn.recurrent import RecurrentForecaster, TorchForecaster
from physrnn.optim import make_optimizer
from physrnn.runs import preempt
from physrnn.runs.records import load_checkpoint
from physrnn.runs.registry import TRAIN_SUMMARY_KEYS
from physrnn.runs.skeleton import Run
from physrnn.train.config import TrainRunConfig
from physrnn.train.evaluate import evaluate_forecasters, fit_all_baselines, forecast_windows
from physrnn.train.loop import RolloutSchedule, Trainer
from physrnn.train.parallel import (
    make_data_parallel,
    rank_rng_states,
    restore_rank_rng,
    run_on_main,
)
from physrnn.train.readout import ReadoutFit

__all__ = ["run_train_job", "evaluate_run", "load_trained", "refit_readout",
           "write_eval_figures", "TRAIN_SUMMARY_KEYS"]

log = logging.getLogger(__name__)


def _dataset_path(config: TrainRunConfig, out: Path, progress: bool | None) -> Path:
    # paths in a config (perhaps someone else's) are read only, never written; say where
    # they lead, since a relative path resolves against the current directory
    if config.data.path:
        path = Path(config.data.path)
        if not path.is_file():
            raise ConfigError(f"data.path = {config.data.path!r}: file not found "
                              f"(resolved: {path.resolve()})")
        log.info("dataset: data.path = %r, reading %s", config.data.path, path.resolve())
        return path
    path = out / "data.h5"
    if path.exists():
        log.info("dataset: %s (generated earlier in --out)", path.resolve())
        return path
    from physrnn.data.cards import generate_from_card, load_card

    card = load_card(config.data.card, overrides=list(config.data.card_overrides))
    log.info("generating %s from the card data.card = %r (%s)", path, config.data.card,
             Path(config.data.card).resolve())
    return generate_from_card(card, path, progress=progress)


def build_model(config: TrainRunConfig, n_state: int) -> RecurrentForecaster:
    """The untrained forecaster of ``config.model`` for ``n_state`` components: global, or
    local with shared weights when ``model.patch > 0``.

    Raises:
        ConfigError: a patch that does not divide ``n_state`` or a window longer than it.
    """
    m = config.model
    kw = {"cell": m.cell, "hidden_size": m.hidden_size, "n_layers": m.n_layers,
          "dropout": m.dropout, "predict_increments": m.predict_increments,
          "seed": config.run.seed, "dtype": getattr(torch, m.dtype)}
    if not m.patch:
        return RecurrentForecaster(n_state, **kw)
    try:
        return LocalRecurrentForecaster(n_state, patch=m.patch, overlap=m.overlap, **kw)
    except ValueError as exc:
        raise ConfigError(f"model.patch = {m.patch}, model.overlap = {m.overlap}: "
                          f"{str(exc).removeprefix('PeriodicPatches: ')} (the dataset has "
                          f"{n_state} components)") from None


def _build(config: TrainRunConfig, n_state: int, device: torch.device,
           train_loader) -> Trainer:
    t = config.train
    model = build_model(config, n_state).to(device)
    opt, sched = make_optimizer(model, lr=t.lr, schedule=t.lr_schedule, n_steps=t.epochs,
                                lr_final=t.lr_final)
    if t.weight_decay:
        for group in opt.param_groups:
            group["weight_decay"] = t.weight_decay
    k_max = min(t.rollout_k_max, config.data.horizon)
    schedule = RolloutSchedule(t.rollout_start_epoch, t.rollout_end_epoch, k_max=k_max)
    return Trainer(model, optimizer=opt, scheduler=sched, rollout_schedule=schedule,
                   clip_grad_norm=t.clip_grad_norm or None, tbptt=t.tbptt or None,
                   patience=t.patience or None, device=str(device), amp=t.amp,
                   seed=config.run.seed)


def model_name(config: TrainRunConfig) -> str:
    """Name of the trained forecaster in tables: its cell, plus the refitted read-out."""
    m = config.model
    cell = f"local {m.cell} ({m.patch}+2x{m.overlap})" if m.patch else m.cell
    if config.readout.features == "none":
        return cell
    return f"{cell} + {config.readout.features} ridge read-out"


def check_evaluable(config: TrainRunConfig, data: TrajectoryData) -> None:
    """Check that the test split can be scored with ``config`` (before any training).

    Raises:
        ConfigError: no test trajectories, or test windows (``data.context`` plus the
            evaluation horizon) longer than the trajectories.
    """
    if len(data.splits["test"]) == 0:
        raise ConfigError(f"{data.path}: the test split is empty: nothing to score the "
                          "forecasts on (give the dataset test trajectories)")
    span = config.data.context + _eval_horizon(config, data)
    n_t = data.n_t
    if span > n_t:
        raise ConfigError(f"data.context + the evaluation horizon (eval.horizon_lyapunov) = "
                          f"{span} steps exceed the trajectory length {n_t} of {data.path}")


def _eval_horizon(config: TrainRunConfig, data: TrajectoryData) -> int:
    """Forecast horizon (steps) of the test windows."""
    dt = float(data.meta.get("dt", math.nan))
    lam = data.meta.get("lyapunov_exponent")
    lam = float(lam) if lam is not None and math.isfinite(float(lam)) else None
    unit_time = 1.0 / lam if lam else 1.0
    return max(1, int(math.ceil(config.eval.horizon_lyapunov * unit_time / dt)))


def refit_readout(config: TrainRunConfig, model: RecurrentForecaster, data: TrajectoryData,
                  *, progress: bool | None = None) -> tuple[RecurrentForecaster, ReadoutFit]:
    """The ``[readout]`` step: ridge read-out on the train split, ridge chosen on validation
    forecasts of the test horizon (capped by the validation trajectories' length)."""
    from physrnn.train.readout import select_readout

    r = config.readout
    y = _normalised(data)
    splits = data.splits
    if not len(splits.get("val", [])):
        raise ConfigError(f"readout.features = {r.features!r} chooses its ridge on the "
                          "validation split, and the dataset has none")
    context = config.data.context
    horizon = min(_eval_horizon(config, data), y.shape[1] - context)
    if horizon < 1:
        raise ConfigError(f"data.context = {context} leaves no validation horizon in "
                          f"trajectories of {y.shape[1]} steps")
    val = forecast_windows(y, splits["val"], n_test=config.eval.n_test, context=context,
                           horizon=horizon, seed=config.run.seed + 1)
    try:
        return select_readout(model, y[splits["train"]], val.context, val.truth,
                              ridges=list(r.ridges), washout=r.washout, readout=r.features,
                              threshold=config.eval.threshold, progress=progress)
    except ValueError as exc:
        raise ConfigError(f"readout: {exc}") from None


def _save_readout(path: Path, model: RecurrentForecaster, fit: ReadoutFit) -> None:
    save_torch_file(path, {"format": "physrnn-readout", "state_dict": model.state_dict(),
                           "readout": model.readout,
                           "dtype": str(model.dtype).removeprefix("torch."), "ridge": fit.ridge,
                           "table": fit.table, "one_step_rmse": fit.one_step_rmse})


def _load_readout(path: Path, model: RecurrentForecaster) -> RecurrentForecaster:
    state = load_torch_file(path, what="read-out file")
    try:
        fitted = model.with_readout(state["readout"]).to(getattr(torch, state["dtype"]))
        fitted.load_state_dict(state["state_dict"])
    except Exception as exc:  # noqa: BLE001 - unpickling raises many types; one message
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RecordError(f"{path}: not a physrnn read-out file ({first})") from None
    return fitted.eval()


def _baselines(config: TrainRunConfig, data: TrajectoryData, dt: float) -> dict[str, Any]:
    from physrnn.baselines.forecast.predictors import make_baseline

    out: dict[str, Any] = {}
    for name in config.eval.baselines:
        kwargs: dict[str, Any] = {}
        if name == "esn":
            kwargs = {"n_configs": config.eval.esn_configs, "seed": config.run.seed}
        elif name == "sindy":
            kwargs = {"dt": dt}
        try:
            out[name] = make_baseline(name, **kwargs)
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"eval.baselines: {exc}") from None
    return out


def _normalised(data: TrajectoryData) -> np.ndarray:
    return data.normalisation.normalise(np.asarray(data.y, dtype=np.float64))


def evaluate_run(
    config: TrainRunConfig,
    model: torch.nn.Module,
    data: TrajectoryData,
    *,
    fit_baselines: bool = True,
    progress: bool | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Score the trained RNN and the configured baselines on the test split.

    Returns:
        ``(rows, extras)``: the table rows (see :func:`evaluate_forecasters`) and what the
        figures need (windows, forecasts, free runs, units).
    """
    meta = data.meta
    dt = float(meta.get("dt", math.nan))
    lam = meta.get("lyapunov_exponent")
    lam = float(lam) if lam is not None and math.isfinite(float(lam)) else None
    check_evaluable(config, data)
    y = _normalised(data)
    splits = data.splits
    horizon = _eval_horizon(config, data)
    windows = forecast_windows(y, splits["test"], n_test=config.eval.n_test,
                               context=config.data.context, horizon=horizon,
                               seed=config.run.seed)
    forecasters, fit_s = fit_all_baselines(
        _baselines(config, data, dt) if fit_baselines else {}, y[splits["train"]],
        y[splits["val"]] if len(splits["val"]) else None, progress=progress)
    name = model_name(config)
    forecasters = {name: TorchForecaster(model, name=name),
                   **forecasters}
    steps = config.eval.free_run_steps
    pool = y[splits["test"]]
    floor = y[splits["val"]] if len(splits["val"]) else None
    rows, forecasts, free_runs = evaluate_forecasters(
        forecasters, windows, dt=dt, lyapunov_exponent=lam, threshold=config.eval.threshold,
        free_run_steps=min(steps, y.shape[1]) if steps else 0, truth_pool=pool,
        floor_pool=floor, return_free_runs=True, progress=progress)
    for row in rows:
        if row["model"] in fit_s:
            row["fit_s"] = fit_s[row["model"]]
    _physics_scores(rows, forecasts, free_runs, windows, data, dt)
    extras = {"windows": windows, "forecasts": forecasts, "free_runs": free_runs,
              "dt": dt, "lyapunov_exponent": lam,
              "truth_pool": pool, "state_names": list(meta.get("state_names", []))}
    return rows, extras


def _physics_scores(rows: list[dict[str, Any]], forecasts: dict[str, np.ndarray],
                    free_runs: dict[str, np.ndarray], windows, data: TrajectoryData,
                    dt: float) -> None:
    """Scores that need the system: OU optimal-forecast efficiency, invariant drift."""
    from physrnn.metrics.forecast import ou_forecast_efficiency
    from physrnn.metrics.invariants import invariant_drift
    from physrnn.systems.base import get_system

    meta = data.meta
    params = dict(meta.get("params") or {})
    name = meta.get("system")
    if name == "ornstein_uhlenbeck":
        theta = float(params.get("theta", 1.0))
        k = min(windows.truth.shape[1], max(1, int(round(1.0 / (theta * dt))))) - 1
        for row in rows:
            if row["model"] in forecasts:
                eff = ou_forecast_efficiency(forecasts[row["model"]], windows.truth,
                                             np.ones(windows.truth.shape[-1]), dt=dt,
                                             theta=theta)
                row["ou_efficiency_1tau"] = float(eff[k])
        return
    try:
        system = get_system(str(name), **params)
    except Exception:  # noqa: BLE001 - foreign or custom systems simply get no drift score
        return
    if not system.info().invariants or data.n_state != system.n_state:
        return
    for row in rows:
        run = free_runs.get(row["model"])
        if run is not None:
            phys = data.normalisation.denormalise(run)
            inv = system.invariants(phys)
            row["invariant_drift"] = float(max(invariant_drift(v[None, :])[0]
                                               for v in inv.values()))


def _summary(config: TrainRunConfig, rows: list[dict[str, Any]], trainer: Trainer,
             data: TrajectoryData, n_windows: int, status: str) -> dict[str, Any]:
    prov = Run.provenance()
    rnn = rows[0] if rows else {}
    base = [r for r in rows[1:] if r.get("median_vpt") is not None]
    best = max(base, key=lambda r: r["median_vpt"]) if base else None
    history = trainer.history_arrays()
    summary: dict[str, Any] = {
        "status": status, "system": data.meta.get("system"), "model": model_name(config),
        "vpt_unit": rnn.get("vpt_unit"), "median_vpt": rnn.get("median_vpt"),
        "vpt_iqr": rnn.get("vpt_iqr"), "nrmse_1lyap": rnn.get("nrmse_1lyap"),
        "best_baseline": None if best is None else best["model"],
        "best_baseline_vpt": None if best is None else best["median_vpt"],
    }
    summary.update({f"vpt_{r['model']}": r["median_vpt"] for r in base})
    val = history.get("val_loss")
    summary.update(
        n_test=rnn.get("n_test"), epochs=trainer.epoch, train_windows=n_windows,
        n_parameters=sum(p.numel() for p in trainer.model.parameters()),
        train_time_s=float(history["time_s"][-1]) if len(history.get("time_s", [])) else 0.0,
        final_val_loss=float(val[-1]) if val is not None and len(val) else None,
        data_file=str(Path(data.path).resolve()) if getattr(data, "path", None) else None,
        seed=config.run.seed, physrnn_version=prov["physrnn_version"],
        git_revision=prov["git_revision"])
    return summary


def _finish(run: Run, trainer: Trainer, summary: dict[str, Any], rows=(), extras=None,
            message: str = "") -> dict[str, Any]:
    """Write record, summary (with the table under ``"table"``) and figures on rank 0."""
    if not run.is_main:
        return summary
    from physrnn.runs.plotting import plot_training_history

    history = trainer.history_arrays()
    flat = {k: v for k, v in summary.items() if isinstance(v, int | float | str | bool)}
    summary["table"] = list(rows)

    def figures(out: Path) -> None:
        if len(history.get("epoch", [])):
            plot_training_history(history, out / "training.png")
        if extras:
            write_eval_figures(out, run.config, extras)

    return run.finish(summary, history=history, results=flat, message=message, figures=figures)


def write_eval_figures(out: Path, config: TrainRunConfig, extras: dict[str, Any]) -> None:
    """``nrmse.png``, ``forecasts.png`` (and ``attractor.png`` after free runs) in ``out``,
    from the ``extras`` of :func:`evaluate_run`."""
    from physrnn.runs.plotting import plot_attractor, plot_forecasts, plot_nrmse_curves

    plot_nrmse_curves(extras, out / "nrmse.png", threshold=config.eval.threshold)
    plot_forecasts(extras, out / "forecasts.png", model=model_name(config))
    if extras.get("free_runs"):
        plot_attractor(extras, out / "attractor.png")


def run_train_job(
    config: TrainRunConfig,
    out: str | Path,
    *,
    overwrite: bool = False,
    resume: bool = False,
    progress: bool | None = None,
    command: str = "physrnn train",
    evaluate: bool = True,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """Train the configured RNN forecaster, checkpoint it, and score it against baselines.

    Args:
        stop_after: stop (as if interrupted) after this many total epochs, with a checkpoint
            and status ``"interrupted"``; ``--resume`` continues.

    Preemption: inside :func:`physrnn.runs.preempt.handle_preemption` (the command line installs
    it), SIGTERM or SIGUSR1 ends the run after the current epoch with a checkpoint and status
    ``"preempted"``; ``resume=True`` continues bit-identically.

    Several processes: when a ``torch.distributed`` process group of ``R > 1`` ranks is
    running (:func:`physrnn.distributed.init_distributed`, as ``physrnn train`` does under
    ``torchrun`` or ``srun``), every rank calls this function and training is data-parallel
    (:mod:`physrnn.train.parallel`): ``data.batch_size`` is the per-rank batch, the global
    batch is ``R`` times larger, and the run matches a one-process run with batch
    ``R * data.batch_size`` to rounding. Rank 0 alone prepares the output directory, generates
    the dataset, writes checkpoints, records and figures, and refits and scores the model;
    the other ranks return a summary without the table.

    Returns:
        The summary dict (keys in :data:`TRAIN_SUMMARY_KEYS`) with the full table under
        ``"table"``.
    """
    with Run(config, out, overwrite=overwrite, resume=resume, command=command,
             unit="epoch") as run:
        return _train(run, config, progress=progress, evaluate=evaluate, stop_after=stop_after)


def _train(run: Run, config: TrainRunConfig, *, progress: bool | None, evaluate: bool,
           stop_after: int | None) -> dict[str, Any]:
    """:func:`run_train_job` inside its :class:`Run` (output directory prepared and locked)."""
    out = run.out
    path = run_on_main(_dataset_path, config, out, progress)
    d = config.data
    data = read_dataset(path)
    if evaluate:  # fail before training, not after it
        check_evaluable(config, data)
    try:
        loaders = make_loaders(path, context=d.context, horizon=d.horizon, stride=d.stride,
                               batch_size=d.batch_size, num_workers=d.num_workers,
                               seed=config.run.seed, dtype=getattr(torch, config.model.dtype))
    except ValueError as exc:
        raise ConfigError(f"data.context / data.horizon: {exc}") from None
    if "train" not in loaders:
        raise ConfigError(f"{path}: the train split is empty")
    trainer = _build(config, data.n_state, run.device, loaders["train"])
    train_loader, val_loader = make_data_parallel(trainer, loaders["train"], loaders.get("val"))
    if not run.is_main:
        progress = False
    ckpt = run.checkpoint_path
    saved = run.load_checkpoint(free=RESUME_FREE | {(sec, k) for sec in ("eval", "readout")
                                                    for k in to_dict(config)[sec]})
    if saved is not None:
        trainer.resume(ckpt)
        restore_rank_rng(trainer, saved)
        log.info("resumed from %s at epoch %d", ckpt, trainer.epoch)
        run.last_checkpoint = trainer.epoch
    n_windows = len(loaders["train"].dataset)

    def summary(status: str, rows=()) -> dict[str, Any]:
        return _summary(config, list(rows), trainer, data, n_windows, status)

    def checkpoint(tr: Trainer) -> None:
        extra = rank_rng_states(tr)  # every rank's own RNG stream (a collective; {} alone)
        run.save_checkpoint("trainer", tr.state_dict, extra=extra)
        run.last_checkpoint = tr.epoch

    preempted = {"stop": False}

    def callback(tr: Trainer, rec) -> None:
        stop = run.preemption_requested()
        if stop or tr.epoch % config.run.checkpoint_every == 0:
            checkpoint(tr)
        if stop:
            preempted["stop"] = tr.stop_training = True
            log.warning("preempted (%s) after epoch %d: checkpoint written to %s",
                        preempt.signal_name() or "signal", tr.epoch, ckpt)

    epochs = config.train.epochs if stop_after is None else min(stop_after, config.train.epochs)
    with run.guard(lambda status, message: _finish(run, trainer, summary(status),
                                                   message=message),
                   position=lambda: trainer.epoch):
        trainer.fit(train_loader, val_loader, epochs=epochs, callbacks=(callback,),
                    progress=progress)
    checkpoint(trainer)  # after fit: early stopping may have restored the best weights
    if preempted["stop"] and trainer.epoch < config.train.epochs and not trainer.stopped:
        return _finish(run, trainer, summary("preempted"),
                       message=run.preempted_message(trainer.epoch, config.train.epochs))
    if trainer.epoch < config.train.epochs and not (trainer.stop_training or trainer.stopped):
        return _finish(run, trainer, summary("interrupted"))
    if not run.is_main:  # rank 0 refits, scores and writes; the others are done
        return summary("completed")
    model, fit = trainer.model, None
    if config.readout.features != "none":
        model, fit = refit_readout(config, trainer.model, data, progress=progress)
        _save_readout(out / "readout.pt", model, fit)
        log.info("read-out refit: ridge %.1e, one-step rmse %.2e", fit.ridge, fit.one_step_rmse)
    rows, extras = evaluate_run(config, model, data, progress=progress) if evaluate else ([], {})
    result = summary("completed", rows)
    if fit is not None:
        result.update(readout_ridge=fit.ridge, readout_one_step_rmse=fit.one_step_rmse)
    return _finish(run, trainer, result, rows, extras)


def load_trained(run_dir: str | Path, *, overrides: list[str] | None = None):
    """Config, trained model and dataset of a finished ``physrnn train`` run directory."""
    from physrnn.config import apply_overrides, from_dict

    run_dir = Path(run_dir)
    state = load_checkpoint(run_dir / "checkpoint.pt")
    if "config" not in state:
        raise RecordError(f"{run_dir / 'checkpoint.pt'}: no config stored in the checkpoint")
    data_dict = apply_overrides(state["config"], overrides or [])
    config = from_dict(TrainRunConfig, data_dict, source=str(run_dir / "checkpoint.pt"))
    path = Path(config.data.path) if config.data.path else run_dir / "data.h5"
    data = read_dataset(path)
    device = resolve_device(config.run.device)
    trainer = _build(config, data.n_state, device, None)
    trainer.resume(run_dir / "checkpoint.pt")
    model = trainer.model
    if (run_dir / "readout.pt").is_file():
        model = _load_readout(run_dir / "readout.pt", model.cpu())
    return config, model, data

