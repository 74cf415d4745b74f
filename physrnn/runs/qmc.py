"""A quantum Monte Carlo ground state from a config: ``physrnn qmc CONFIG --out DIR``.

Reads the ``[system]`` section of a VMC config (and ``[qmc]``,
:class:`physrnn.baselines.quantum.config.QMCRunConfig`), runs ALPS ``loop`` with beta doubling
(:func:`physrnn.baselines.quantum.qmc.qmc_ground_state`) and writes the usual outputs:
``record.h5`` (config, provenance, the ladder as history, results), ``summary.json``,
``qmc.png`` (energy and error bar against beta, with the exact or analytic energy when there is
one) and ``correlations.npy`` (``(N, N)`` ``<Sz_i Sz_j>`` at the last beta, S units). From
Python::

    from physrnn.config import load_config
    from physrnn.baselines.quantum.config import QMCRunConfig
    from physrnn.runs.qmc import run_qmc_job
    summary = run_qmc_job(load_config("examples/heisenberg_square_qmc.toml",
                                      cls=QMCRunConfig), "runs/qmc")

A QMC run has no checkpoint: ``resume`` starts the ladder afresh.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from physrnn.baselines.quantum.config import QMCRunConfig
from physrnn.baselines.quantum.qmc import QMCResult, qmc_cache_path, qmc_ground_state
from physrnn.baselines.quantum.reference import Reference, reference_energy
from physrnn.errors import QMCError
from physrnn.io import atomic_path
from physrnn.runs.plotting import figure, save_figure
from physrnn.runs.skeleton import Run
from physrnn.spins import SpinSystem, build_system

__all__ = ["run_qmc_job", "plot_qmc_ladder"]

log = logging.getLogger(__name__)


def plot_qmc_ladder(trace: list[dict[str, Any]], path: str | Path, *,
                    reference: Reference | None = None, title: str = "") -> Path:
    """Energy (with error bars) against beta on a log2 axis, and below it the error bar.

    Args:
        trace: the rungs of :attr:`QMCResult.trace` (``beta``, ``energy``, ``error``).
        path: PNG file (written atomically).
        reference: drawn as a horizontal line with its kind.
    """
    plt, fig, axes = figure(2, 1, (7.0, 6.0))
    ax_e, ax_s = axes[0, 0], axes[1, 0]
    beta = np.array([r["beta"] for r in trace])
    e = np.array([r["energy"] for r in trace])
    err = np.array([r["error"] for r in trace])
    ax_e.errorbar(beta, e, yerr=err, fmt="o-", color="C0", capsize=3, label="QMC (ALPS loop)")
    if reference is not None:
        ax_e.axhline(reference.energy, color="k", ls="--", lw=1.0,
                     label=f"{reference.kind} {reference.energy:.8g}")
    ax_s.semilogy(beta, np.maximum(err, 1e-16), "s-", color="C1", label="error bar")
    ax_e.set_xscale("log", base=2)
    ax_e.set_ylabel("energy (total)")
    ax_s.set_ylabel("error bar")
    ax_s.set_xlabel("inverse temperature beta")
    ax_e.legend(fontsize=8)
    ax_s.legend(fontsize=8)
    if title:
        ax_e.set_title(title, fontsize=10)
    return save_figure(plt, fig, path)


def _summary(res: QMCResult, system: SpinSystem, ref: Reference | None,
             config: QMCRunConfig, cache_file: str) -> dict[str, Any]:
    prov = Run.provenance()
    out: dict[str, Any] = {
        "status": "completed", "system": system.describe(), "n_sites": system.n_sites,
        "energy": res.energy, "energy_error": res.error, "energy_per_site": res.energy_per_site,
        "beta": res.beta, "converged": res.converged, "qmc_status": res.status,
        "sweeps": res.sweeps, "qmc_wall_s": res.wall_s, "rungs": len(res.trace),
        "staggered_magnetization_sq": res.staggered_magnetization_sq,
        "uniform_magnetization_sq": res.uniform_magnetization_sq,
        "mapping": res.mapping, "cache_file": cache_file,
        "pyalps_version": res.provenance.get("pyalps_version"),
    }
    if ref is not None:
        out.update(reference_energy=ref.energy, reference_kind=ref.kind,
                   reference_source=ref.source,
                   deviation_sigma=(res.energy - ref.energy) / res.error if res.error else None)
    out.update(seed=config.run.seed, physrnn_version=prov["physrnn_version"],
               git_revision=prov["git_revision"])
    return out


def run_qmc_job(config: QMCRunConfig, out: str | Path, *, overwrite: bool = False,
                resume: bool = False, progress: bool | None = None,
                command: str = "physrnn qmc") -> dict[str, Any]:
    """Run the QMC ladder of ``config`` and write record, summary, figure and correlations.

    Args:
        config: the resolved run config.
        out: output directory (locked while the run lasts).
        overwrite: replace results already in ``out``.
        resume: accepted for the command line's sake; the ladder starts afresh.
        progress: accepted for the command line's sake (the library logs one line per rung
            at INFO; ``--quiet`` hides it).
        command: recorded in the run record.

    Returns:
        The summary dict (keys: :data:`physrnn.runs.registry.QMC_SUMMARY_KEYS`).

    Raises:
        SignProblemError: QMC cannot treat the system (before anything is written).
        QMCError: ALPS is missing or failed (a record with status ``"failed"`` is written).
    """
    system = build_system(config.system)
    from physrnn.baselines.quantum.alps import alps_model

    alps_model(system)   # refuse a sign problem before preparing the output directory
    q = config.qmc
    with Run(config, out, overwrite=overwrite, resume=resume, command=command,
             unit="rung") as run:
        ref = reference_energy(system, qmc="off")
        trace: list[dict[str, Any]] = []

        def report(rung: dict[str, Any]) -> None:   # the library logs one line per rung
            trace.append(rung)

        def write(status: str, message: str) -> dict[str, Any]:
            summary = {"status": status, "system": system.describe(),
                       "n_sites": system.n_sites, "rungs": len(trace), "seed": config.run.seed}
            return run.finish(summary, history=_history(trace), message=message)

        try:
            with run.guard(write, position=lambda: len(trace)):
                res = qmc_ground_state(
                    system, beta_start=q.beta_start, beta_max=q.beta_max, sweeps=q.sweeps,
                    thermalization=q.thermalization or None, agree=q.agree, sigma=q.sigma,
                    budget_s=q.budget_s or None,
                    min_sweeps=q.min_sweeps or min(2_000, q.sweeps),
                    production_sweeps=q.production_sweeps,
                    correlations=q.correlations, seed=config.run.seed, cache=q.cache,
                    callback=report)
        except QMCError as exc:
            write("failed", str(exc))
            raise
        cache_file = str(qmc_cache_path(system)) if q.cache else ""
        summary = _summary(res, system, ref, config, cache_file)
        if res.correlations is not None and run.is_main:
            with atomic_path(run.out / "correlations.npy") as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, res.correlations, allow_pickle=False)

        def figures(path: Path) -> None:
            plot_qmc_ladder(res.trace, path / "qmc.png", reference=ref,
                            title=system.describe())

        message = "" if res.converged else (
            f"the beta ladder stopped ({res.status}) before {q.agree} doublings agreed; the "
            "energy is an upper bound within its error (raise qmc.budget_s or qmc.beta_max)")
        return run.finish(summary, history=_history(res.trace), message=message,
                          figures=figures)


def _history(trace: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    keys = ("beta", "energy", "error", "alps_error", "tau_bins", "sweeps", "thermalization",
            "wall_s", "error_converged")
    out = {k: np.array([r[k] for r in trace], dtype=np.float64) for k in keys}
    out["production"] = np.array([bool(r.get("production")) for r in trace])
    return out
