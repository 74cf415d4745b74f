"""A complete VMC run from a config: build, optimise, checkpoint, evaluate, record.

This is what ``physrnn vmc`` and ``physrnn quickstart`` call; it is equally usable from Python::

    from physrnn.config import load_config
    from physrnn.vmc.config import VMCRunConfig
    from physrnn.runs.vmc import run_vmc_job
    summary = run_vmc_job(load_config("examples/tfim_chain_periodic.toml", cls=VMCRunConfig),
                          "runs/tfim")
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch

from physrnn.baselines.quantum.reference import Reference, reference_energy
from physrnn.checkpoints import check_state_shapes
from physrnn.distributed import get_world_size
from physrnn.errors import ConfigError, NonFiniteError, RecordError
from physrnn.progress import phase
from physrnn.runs import preempt
from physrnn.runs.plotting import plot_vmc_history
from physrnn.runs.registry import VMC_SUMMARY_KEYS as SUMMARY_KEYS
from physrnn.runs.skeleton import Preempted, Run
from physrnn.spins import SpinSystem, build_system
from physrnn.vmc.config import VMCRunConfig
from physrnn.vmc.driver import VMC
from physrnn.vmc.factory import build_vmc
from physrnn.vmc.transfer import load_initial_parameters

__all__ = ["run_vmc_job", "build_vmc", "SUMMARY_KEYS"]

log = logging.getLogger(__name__)


def _results(driver: VMC, system: SpinSystem, ref: Reference | None, est, config,
             device: torch.device, status: str) -> dict[str, Any]:
    prov = Run.provenance()
    out: dict[str, Any] = {"status": status, "system": system.describe(),
                           "n_sites": system.n_sites}
    if est is not None:
        out.update(energy=est.mean, energy_error=est.error,
                   energy_per_site=est.mean / system.n_sites, variance=est.variance,
                   v_score=est.v_score(system.n_sites, e_inf=system.e_inf))
    if ref is not None:
        out.update(reference_energy=ref.energy, reference_kind=ref.kind,
                   reference_source=ref.source, reference_error=ref.error)
        if est is not None:
            out["rel_error"] = abs((est.mean - ref.energy) / ref.energy)
    train_time = driver.elapsed_s
    out.update(
        n_steps=driver.step_count, n_samples=driver.n_samples,
        n_parameters=driver.model.n_parameters, train_time_s=train_time,
        samples_per_s=driver.n_samples * driver.step_count / train_time if train_time else None,
        float64_since=driver.float64_since,
        seed=config.run.seed, device=str(device), physrnn_version=prov["physrnn_version"],
        git_revision=prov["git_revision"],
    )
    return out


def _figures(driver: VMC, ref: Reference | None, title: str):
    """``figures(out)`` for :meth:`Run.finish`: the energy history, once there is one."""
    def figures(out: Path) -> None:
        history = driver.history_arrays()
        if len(history["step"]) > 0:
            plot_vmc_history(history, out / "energy.png",
                             reference=None if ref is None else ref.energy,
                             reference_label="exact" if ref is None else ref.kind, title=title)
    return figures


def run_vmc_job(
    config: VMCRunConfig,
    out: str | Path,
    *,
    overwrite: bool = False,
    resume: bool = False,
    progress: bool | None = None,
    command: str = "physrnn vmc",
    stop_after: int | None = None,
) -> dict[str, Any]:
    """Run VMC as described by ``config`` and write record, summary, figure and checkpoints.

    Args:
        config: the resolved run config.
        out: output directory (see :func:`physrnn.runs.records.prepare_output_dir`).
        overwrite: replace results already in ``out``.
        resume: continue from ``out/checkpoint.pt`` (same config required).
        progress: progress bar; ``None`` shows it only on a terminal.
        command: recorded in the run record.
        stop_after: stop (as if interrupted) once this many total steps are done; for tests and
            time-limited jobs. A checkpoint is written and the status is ``"interrupted"``.

    Preemption: inside :func:`physrnn.runs.preempt.handle_preemption` (``physrnn vmc`` installs
    it), SIGTERM or SIGUSR1 ends the run after the current step with a checkpoint and status
    ``"preempted"`` (record and summary written, no final estimate); ``resume=True``
    continues bit-identically (the checkpoint holds the model, optimiser, scheduler, sampling
    generator, step count and history).

    Several processes: under a ``torch.distributed`` process group of ``R > 1`` ranks
    (``physrnn vmc`` started by ``torchrun`` or ``srun``) every rank calls this function and
    VMC is data-parallel (:mod:`physrnn.vmc.parallel`): ``vmc.n_samples`` is the total per
    step, each rank draws ``n_samples / R``; rank 0 alone prepares the output directory and
    writes checkpoints, the record, the summary and the figure. ``vmc.deterministic = true``
    makes the run bit-identical to one process with the same ``vmc.blocks``.

    Returns:
        The summary dict (keys documented in :data:`SUMMARY_KEYS`).

    Raises:
        NonFiniteError: NaN/inf energy or gradient; the last good checkpoint is kept and a
            record with status ``"failed"`` is written.
    """
    world = get_world_size()
    blocks = config.vmc.blocks
    if config.vmc.deterministic and blocks and blocks % world:
        raise ConfigError(f"key 'vmc.blocks': {blocks} blocks cannot be shared evenly by "
                          f"{world} processes; use a multiple of {world}")
    with Run(config, out, overwrite=overwrite, resume=resume, command=command, unit="step",
             failures=(NonFiniteError,)) as run:
        return _optimise(run, config, progress=progress, stop_after=stop_after)


def _optimise(run: Run, config: VMCRunConfig, *, progress: bool | None,
              stop_after: int | None) -> dict[str, Any]:
    """:func:`run_vmc_job` inside its :class:`Run` (output directory prepared and locked)."""
    device = run.device
    system = build_system(config.system)
    rc = config.reference
    ref = None if rc.kind == "none" else reference_energy(
        system, qmc="run" if rc.kind == "qmc" else "cache",
        qmc_budget_s=rc.qmc_budget_s or None, seed=config.run.seed)
    driver = build_vmc(config, system, device)
    ckpt_path = run.checkpoint_path
    state = run.load_checkpoint(exact_for=config.vmc.blocks if config.vmc.deterministic
                                else None)
    if state is not None:
        if not isinstance(state.get("driver"), dict):
            raise RecordError(f"{ckpt_path}: not a VMC checkpoint (no driver state; keys: "
                              f"{', '.join(sorted(map(str, state)))})")
        check_state_shapes(state["driver"].get("model"), driver.model, ckpt_path,
                           what="wavefunction")
        driver.load_state_dict(state["driver"])
        log.info("resumed from %s at step %d", ckpt_path, driver.step_count)
        run.last_checkpoint = driver.step_count
    elif config.wavefunction.init_from:
        start = load_initial_parameters(driver.model, config.wavefunction.init_from)
        log.info("wavefunction parameters from %s (N = %s, step %s)", start["path"],
                 start["n_sites"], start["step"])
    figures = _figures(driver, ref, system.describe())

    def finish(status: str, message: str = "", est=None) -> dict[str, Any]:
        results = _results(driver, system, ref, est, config, device, status)
        return run.finish(results, history=driver.history_arrays(), message=message,
                          figures=figures)

    def checkpoint() -> None:
        run.last_checkpoint = driver.step_count
        run.save_checkpoint("driver", driver.state_dict)

    target = config.vmc.n_steps if stop_after is None else min(stop_after, config.vmc.n_steps)

    def callback(drv: VMC, rec) -> None:
        stop = run.preemption_requested() and drv.step_count < target
        if stop or drv.step_count % config.run.checkpoint_every == 0:
            checkpoint()
        if stop:
            log.warning("preempted (%s) after step %d: checkpoint written to %s",
                        preempt.signal_name() or "signal", drv.step_count, ckpt_path)
            raise Preempted

    t0 = time.perf_counter()
    try:
        with run.guard(finish, position=lambda: driver.step_count):
            driver.run(target, progress=progress, callback=callback,
                       reference=None if ref is None else ref.energy)
    except Preempted:
        return finish("preempted", run.preempted_message(driver.step_count, config.vmc.n_steps))
    checkpoint()
    if driver.step_count < config.vmc.n_steps:
        return finish("interrupted",
                      f"stopped after {driver.step_count} of {config.vmc.n_steps} steps")
    with phase("final estimate", enabled=progress is not False):
        est = driver.estimate(config.vmc.final_samples)
    results = _results(driver, system, ref, est, config, device, "completed")
    results["wall_time_s"] = time.perf_counter() - t0
    return run.finish(results, history=driver.history_arrays(), figures=figures)
