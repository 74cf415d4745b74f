"""A complete VMC run from a config: build, optimise, checkpoint, evaluate, record.

This is what ``physrnn vmc`` and ``physrnn quickstart`` call; it is equally usable from Python::

    from physrnn.config import load_config
    from physrnn.runs.vmc import run_vmc_job
    summary = run_vmc_job(load_config("examples/tfim_chain.toml"), "runs/tfim")
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch

from physrnn.baselines.quantum.reference import Reference, reference_energy
from physrnn.checkpoints import check_checkpoint_version, check_state_shapes
from physrnn.config import RESUME_FREE, VMCRunConfig, check_resumable, to_dict, to_toml
from physrnn.distributed import (
    any_rank,
    check_resume_world_size,
    get_world_size,
    is_main,
    resolve_device,
    run_on_main,
)
from physrnn.errors import ConfigError, NonFiniteError, RecordError
from physrnn.runs import preempt
from physrnn.runs.plotting import plot_vmc_history
from physrnn.runs.records import (
    load_checkpoint,
    prepare_output_dir,
    provenance,
    release_output_dir,
    save_checkpoint,
    write_record,
    write_summary,
)
from physrnn.spins.chains import SpinSystem, build_system
from physrnn.vmc.driver import VMC
from physrnn.vmc.factory import build_vmc

__all__ = ["run_vmc_job", "build_vmc", "SUMMARY_KEYS"]

log = logging.getLogger(__name__)

#: Keys of ``summary.json`` written by a VMC run, with their meaning (shown by ``--help``).
SUMMARY_KEYS: dict[str, str] = {
    "status": "completed | failed | interrupted | preempted (SIGTERM/SIGUSR1: checkpointed, "
              "exit code 75)",
    "system": "one-line description of the Hamiltonian",
    "n_sites": "number of sites N",
    "energy": "final variational energy <H> (total) from final_samples fresh exact samples",
    "energy_error": "standard error of energy",
    "energy_per_site": "energy / N",
    "variance": "variance of the local energy, Var(E_loc)",
    "v_score": "N Var(E) / (E - E_inf)^2 (Wu et al. 2024); smaller is better",
    "reference_energy": "best available exact or published ground-state energy (total)",
    "reference_kind": "analytic | exact | published",
    "reference_source": "formula, method or citation of reference_energy",
    "rel_error": "|energy - reference_energy| / |reference_energy|",
    "n_steps": "optimisation steps taken",
    "n_samples": "exact samples per step",
    "n_parameters": "real trainable parameters of the wavefunction",
    "train_time_s": "wall time of the optimisation (s), summed over resumed segments",
    "samples_per_s": "training samples per second (n_samples * n_steps / train_time_s)",
    "seed": "run.seed",
    "device": "resolved device",
    "physrnn_version": "package version",
    "git_revision": "git revision of the source (-dirty if modified)",
}


def _results(driver: VMC, system: SpinSystem, ref: Reference | None, est, config,
             device: torch.device, status: str) -> dict[str, Any]:
    prov = provenance()
    out: dict[str, Any] = {"status": status, "system": system.describe(),
                           "n_sites": system.n_sites}
    if est is not None:
        out.update(energy=est.mean, energy_error=est.error,
                   energy_per_site=est.mean / system.n_sites, variance=est.variance,
                   v_score=est.v_score(system.n_sites, system.e_inf))
    if ref is not None:
        out.update(reference_energy=ref.energy, reference_kind=ref.kind,
                   reference_source=ref.source)
        if est is not None:
            out["rel_error"] = abs((est.mean - ref.energy) / ref.energy)
    train_time = driver.elapsed_s
    out.update(
        n_steps=driver.step_count, n_samples=driver.n_samples,
        n_parameters=driver.model.n_parameters, train_time_s=train_time,
        samples_per_s=driver.n_samples * driver.step_count / train_time if train_time else None,
        seed=config.run.seed, device=str(device), physrnn_version=prov["physrnn_version"],
        git_revision=prov["git_revision"],
    )
    return out


class _Preempted(Exception):
    """Raised by the step callback to leave ``VMC.run`` after a preemption checkpoint."""


def _finish(out: Path, driver: VMC, config: VMCRunConfig, results: dict[str, Any],
            ref: Reference | None, command: str, message: str = "") -> None:
    if not is_main():
        return
    history = driver.history_arrays()
    write_record(out / "record.h5", config=to_dict(config), config_toml=to_toml(config),
                 history=history, results=results, command=command, status=results["status"],
                 message=message)
    write_summary(out / "summary.json", results)
    if len(history["step"]) > 0:
        plot_vmc_history(history, out / "energy.png",
                         reference=None if ref is None else ref.energy,
                         reference_label="exact" if ref is None else ref.kind,
                         title=results["system"])


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
    out = run_on_main(prepare_output_dir, out, overwrite=overwrite, resume=resume, lock=True)
    try:
        return _run_locked(config, out, resume=resume, progress=progress, command=command,
                           stop_after=stop_after)
    finally:
        release_output_dir(out)


def _run_locked(config: VMCRunConfig, out: Path, *, resume: bool, progress: bool | None,
                command: str, stop_after: int | None) -> dict[str, Any]:
    """:func:`run_vmc_job` after the output directory is prepared and locked (rank 0)."""
    if config.run.threads:
        torch.set_num_threads(config.run.threads)
    device = resolve_device(config.run.device)
    system = build_system(config.system)
    ref = reference_energy(system)
    driver = build_vmc(config, system, device)
    ckpt_path = out / "checkpoint.pt"
    if resume and ckpt_path.exists():
        state = load_checkpoint(ckpt_path)
        check_checkpoint_version(state, ckpt_path)
        check_resume_world_size(state, ckpt_path, exact_for=(
            config.vmc.blocks if config.vmc.deterministic else None))
        check_resumable(state.get("config", {}), config, ckpt_path, RESUME_FREE)
        if not isinstance(state.get("driver"), dict):
            raise RecordError(f"{ckpt_path}: not a VMC checkpoint (no driver state; keys: "
                              f"{', '.join(sorted(map(str, state)))})")
        check_state_shapes(state["driver"].get("model"), driver.model, ckpt_path,
                           what="wavefunction")
        driver.load_state_dict(state["driver"])
        log.info("resumed from %s at step %d", ckpt_path, driver.step_count)

    saved_step = {"step": driver.step_count if resume and ckpt_path.exists() else None}

    def checkpoint() -> None:
        saved_step["step"] = driver.step_count
        if is_main():
            save_checkpoint(ckpt_path, {"config": to_dict(config), "driver": driver.state_dict(),
                                        "world_size": get_world_size()})

    target = config.vmc.n_steps if stop_after is None else min(stop_after, config.vmc.n_steps)

    def callback(drv: VMC, rec) -> None:
        stop = any_rank(preempt.requested()) and drv.step_count < target
        if stop or drv.step_count % config.run.checkpoint_every == 0:
            checkpoint()
        if stop:
            log.warning("preempted (%s) after step %d: checkpoint written to %s",
                        preempt.signal_name() or "signal", drv.step_count, ckpt_path)
            raise _Preempted

    t0 = time.perf_counter()
    try:
        driver.run(target, progress=progress, callback=callback,
                   reference=None if ref is None else ref.energy)
    except _Preempted:
        results = _results(driver, system, ref, None, config, device, "preempted")
        _finish(out, driver, config, results, ref, command,
                message=f"preempted by {preempt.signal_name() or 'a signal'} after step "
                        f"{driver.step_count} of {config.vmc.n_steps}; continue with --resume")
        return results
    except NonFiniteError as exc:
        results = _results(driver, system, ref, None, config, device, "failed")
        _finish(out, driver, config, results, ref, command, message=str(exc))
        raise NonFiniteError(f"{exc}; last good checkpoint kept at {ckpt_path}") from None
    except KeyboardInterrupt:
        # no checkpoint here: Ctrl-C may come in the middle of a step (sampling streams
        # advanced, parameters half-updated), and only step boundaries resume exactly
        last = saved_step["step"]
        kept = ("no checkpoint was written yet" if last is None else
                f"the checkpoint of step {last} is kept (continue with --resume)")
        results = _results(driver, system, ref, None, config, device, "interrupted")
        _finish(out, driver, config, results, ref, command,
                message=f"interrupted by the user during step {driver.step_count + 1}; {kept}")
        raise
    checkpoint()
    if driver.step_count < config.vmc.n_steps:
        results = _results(driver, system, ref, None, config, device, "interrupted")
        _finish(out, driver, config, results, ref, command,
                message=f"stopped after {driver.step_count} of {config.vmc.n_steps} steps")
        return results
    est = driver.estimate(config.vmc.final_samples)
    results = _results(driver, system, ref, est, config, device, "completed")
    results["wall_time_s"] = time.perf_counter() - t0
    _finish(out, driver, config, results, ref, command)
    return results
