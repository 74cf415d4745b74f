"""Ground-state energies by quantum Monte Carlo (ALPS ``loop``) with beta doubling.

``loop`` samples the thermal state at inverse temperature ``beta``. The ground state is
reached by doubling ``beta`` (Sandvik, PRB 66, 024418 (2002)): ``beta = beta_start,
2 beta_start, ...`` until ``agree`` consecutive doublings leave the energy unchanged within
``sigma`` combined error bars, ``|E(2 beta) - E(beta)| <= sigma sqrt(err^2 + err'^2)``. The
result is the energy at the largest ``beta`` reached, with its error bar, that ``beta``, the
sweeps, and the whole trace::

    from physrnn.spins import heisenberg_square
    from physrnn.baselines.quantum.qmc import qmc_ground_state
    res = qmc_ground_state(heisenberg_square(4, 4, boundary="periodic"), budget_s=60, seed=1)
    res.energy, res.error, res.beta, res.converged     # total energy, S units

Sweeps per ``beta`` are fixed (``sweeps``), or cut to fit ``budget_s`` (seconds, whole ladder):
the cost of a sweep grows like ``beta N``, measured on the first rung and extrapolated.

Results are cached on disk as JSON (data only) keyed by a hash of the translated Hamiltonian
(:func:`qmc_cache_path`), with the run's provenance, so :func:`cached_qmc` answers at once the
next time the same system asks for a reference. The cache directory is
``$PHYSRNN_CACHE_DIR/qmc`` (default ``~/.cache/physrnn/qmc``).

Units: energies are totals in the system's own units (Pauli for the TFIM, S = sigma/2 for the
exchange models; :mod:`physrnn.baselines.quantum.alps` states the mapping).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from physrnn.baselines.quantum.alps import ALPSModel, LoopRun, alps_model, run_loop
from physrnn.errors import QMCError, RecordError
from physrnn.io import atomic_path
from physrnn.spins.base import SpinSystem

__all__ = ["QMCResult", "qmc_ground_state", "qmc_cache_path", "cached_qmc", "save_qmc_cache",
           "model_hash", "CACHE_ENV"]

log = logging.getLogger(__name__)

#: Environment variable naming the cache root (``<root>/qmc/<hash>.json``).
CACHE_ENV = "PHYSRNN_CACHE_DIR"
_CACHE_SCHEMA = "physrnn-qmc-cache"
_CACHE_VERSION = 1


@dataclass
class QMCResult:
    """A QMC ground-state estimate.

    Attributes:
        energy, error: total energy at the largest ``beta`` reached and its error bar.
        energy_per_site: ``energy / n_sites``.
        beta: the inverse temperature of ``energy``.
        converged: ``agree`` consecutive doublings agreed (``False``: ``beta_max`` or the budget
            stopped the ladder first; the energy is then an upper bound, within errors).
        status: ``"converged"``, ``"beta_max"`` or ``"budget"``.
        n_sites: ``N``.
        sweeps: measured sweeps summed over the ladder.
        wall_s: seconds spent in the QMC program.
        trace: one dict per rung (``beta``, ``energy``, ``error``, ``alps_error``,
            ``error_converged``, ``tau_bins``, ``sweeps``, ``thermalization``, ``wall_s``).
        staggered_magnetization_sq: ``<m_s^2>`` per site squared, ``(1/N^2) sum s_i s_j
            <Sz_i Sz_j>`` with the sublattice signs ``s`` (S units), at the last rung.
        uniform_magnetization_sq: ``(1/N^2) sum <Sz_i Sz_j>`` (S units), at the last rung.
        correlations: ``(N, N)`` ``<Sz_i Sz_j>`` at the last rung (S units), or ``None``.
        mapping: the ALPS translation, in words.
        system: the system's description; ``hash``: :func:`model_hash`.
        settings: the ladder's settings; ``provenance``: versions and time.
    """

    energy: float
    error: float
    energy_per_site: float
    beta: float
    converged: bool
    status: str
    n_sites: int
    sweeps: int
    wall_s: float
    trace: list[dict[str, Any]]
    staggered_magnetization_sq: float | None = None
    uniform_magnetization_sq: float | None = None
    correlations: np.ndarray | None = None
    mapping: str = ""
    system: str = ""
    hash: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-ready dict (correlations as nested lists)."""
        d = asdict(self)
        d["correlations"] = None if self.correlations is None else self.correlations.tolist()
        return d


def model_hash(model: ALPSModel) -> str:
    """SHA-256 (hex, 16 characters) of the translated Hamiltonian: sites, edges, couplings."""
    blob = json.dumps({"n": model.n_sites, "edges": sorted(model.edges),
                       "parameters": {k: float(v) for k, v in sorted(model.parameters.items())}},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _cache_root() -> Path:
    root = os.environ.get(CACHE_ENV)
    return (Path(root) if root else Path.home() / ".cache" / "physrnn") / "qmc"


def qmc_cache_path(system: SpinSystem) -> Path:
    """Where the cached QMC result of ``system`` lives (it may not exist)."""
    return _cache_root() / f"{model_hash(alps_model(system))}.json"


def save_qmc_cache(result: QMCResult, *, force: bool = False) -> Path:
    """Write ``result`` (without correlations) to the cache, atomically; returns the path.

    An existing entry that is converged with an error bar no larger than ``result``'s is kept
    (a short run never replaces a long one), unless ``force``; an unreadable entry is replaced.
    """
    path = _cache_root() / f"{result.hash}.json"
    if not force and path.is_file():
        try:
            old = _read_entry(path)
        except RecordError:
            old = None
        if old is not None and old.converged and (not result.converged
                                                  or old.error <= result.error):
            log.info("QMC cache %s kept: its error %.2g <= this run's %.2g", path, old.error,
                     result.error)
            return path
    payload = {"schema": _CACHE_SCHEMA, "version": _CACHE_VERSION,
               **{k: v for k, v in result.to_json().items() if k != "correlations"}}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=1))
    return path


def _read_entry(path: Path) -> QMCResult:
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RecordError(f"{path}: corrupted QMC cache entry ({exc}); delete it") from exc
    if not isinstance(d, dict) or d.get("schema") != _CACHE_SCHEMA:
        raise RecordError(f"{path}: not a physrnn QMC cache entry")
    if d.get("version") != _CACHE_VERSION:
        raise RecordError(f"{path}: QMC cache version {d.get('version')}, this physrnn reads "
                          f"{_CACHE_VERSION}; delete it")
    fields = {k: d[k] for k in QMCResult.__dataclass_fields__ if k in d}
    try:
        res = QMCResult(**fields)
        float(res.energy), float(res.error)
    except (TypeError, ValueError) as exc:
        raise RecordError(f"{path}: incomplete QMC cache entry ({exc})") from exc
    return res


def cached_qmc(system: SpinSystem, *, converged_only: bool = True) -> QMCResult | None:
    """The cached QMC result of ``system``, or ``None`` (no entry, or not converged).

    Raises:
        SignProblemError: QMC cannot treat ``system`` (no entry could exist).
        RecordError: the cache entry is not a physrnn QMC record or is corrupted.
    """
    path = qmc_cache_path(system)
    if not path.is_file():
        return None
    res = _read_entry(path)
    if converged_only and not res.converged:
        return None
    return res


def _rung(run: LoopRun) -> dict[str, Any]:
    return {"beta": run.beta, "energy": run.energy, "error": run.energy_error,
            "alps_error": run.alps_error, "error_converged": run.error_converged,
            "tau_bins": run.tau_bins, "sweeps": run.sweeps,
            "thermalization": run.thermalization, "wall_s": run.wall_s, "seed": run.seed}


def _provenance() -> dict[str, Any]:
    import datetime as dt
    import importlib.metadata as md

    import physrnn
    from physrnn.io import git_revision

    try:
        alps = md.version("pyalps")
    except md.PackageNotFoundError:
        alps = "unknown"
    return {"physrnn_version": physrnn.__version__, "git_revision": git_revision(),
            "pyalps_version": alps, "program": "ALPS loop",
            "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}


def qmc_ground_state(
    system: SpinSystem,
    *,
    beta_start: float = 2.0,
    beta_max: float = 512.0,
    sweeps: int = 20_000,
    thermalization: int | None = None,
    agree: int = 2,
    sigma: float = 2.0,
    budget_s: float | None = None,
    min_sweeps: int = 2_000,
    production_sweeps: int = 0,
    correlations: bool = True,
    seed: int = 0,
    cache: bool = True,
    callback=None,
) -> QMCResult:
    """Ground-state energy of ``system`` by ALPS ``loop`` with beta doubling (module doc).

    Args:
        system: a sign-free spin-1/2 :class:`SpinSystem` (TFIM, Heisenberg/XXZ, unfrustrated
            J1-J2) on any netket graph.
        beta_start, beta_max: first and largest inverse temperature (1 / energy unit).
        sweeps: measured sweeps per rung (cut to fit ``budget_s``, never below ``min_sweeps``).
        thermalization: discarded sweeps per rung; default ``sweeps // 10``.
        agree: consecutive agreeing doublings that end the ladder.
        sigma: agreement threshold in combined error bars.
        budget_s: wall-clock budget for the whole ladder (seconds), or ``None``.
        min_sweeps: fewest sweeps a rung may be cut to.
        production_sweeps: once the ladder has converged, one more run at the last ``beta``
            with this many sweeps (cut to what is left of ``budget_s``) gives the reported
            energy and its (smaller) error bar; 0: the last rung's.
        correlations: measure ``<Sz_i Sz_j>`` (needed for the magnetisations).
        seed: base seed; rung ``k`` uses ``seed + k`` (same seed: same numbers).
        cache: write the result to the on-disk cache.
        callback: ``callback(rung_dict)`` after every rung (progress reporting).

    Raises:
        SignProblemError: QMC cannot treat the system (one line saying why).
        QMCError: ALPS is missing or failed.
    """
    if not (0 < beta_start <= beta_max):
        raise ValueError(f"need 0 < beta_start <= beta_max, got {beta_start}, {beta_max}")
    if agree < 1 or sigma <= 0 or sweeps < 1:
        raise ValueError(f"need agree >= 1, sigma > 0, sweeps >= 1; got {agree}, {sigma}, "
                         f"{sweeps}")
    model = alps_model(system)
    t0 = time.perf_counter()
    trace: list[dict[str, Any]] = []
    runs: list[LoopRun] = []
    cost = None                  # seconds per (sweep * beta), measured
    beta, streak, status = float(beta_start), 0, "beta_max"
    k = 0
    while beta <= beta_max * (1 + 1e-12):
        n_sw = int(sweeps)
        if budget_s is not None and cost is not None:
            left = budget_s - (time.perf_counter() - t0)
            fit = int(left / (cost * beta * 1.1))
            if fit < min_sweeps:
                status = "budget"
                break
            n_sw = min(n_sw, fit)
        n_th = int(thermalization) if thermalization is not None else max(n_sw // 10, 100)
        run = run_loop(model, beta=beta, sweeps=n_sw, thermalization=n_th, seed=seed + k,
                       correlations=correlations,
                       timeout_s=None if budget_s is None else max(budget_s * 2, 60.0))
        cost = run.wall_s / ((n_sw + n_th) * beta)
        runs.append(run)
        trace.append(_rung(run))
        log.info("qmc %s: beta %g, E = %.6f +- %.6f (%d sweeps, %.1f s)", system.describe(),
                 beta, run.energy, run.energy_error, n_sw, run.wall_s)
        if callback is not None:
            callback(trace[-1])
        if len(runs) >= 2:
            a, b = runs[-2], runs[-1]
            tol = sigma * math.hypot(a.energy_error, b.energy_error)
            streak = streak + 1 if abs(b.energy - a.energy) <= tol else 0
            if streak >= agree:
                status = "converged"
                break
        beta *= 2.0
        k += 1
    if not runs:
        raise QMCError(f"qmc {system.describe()}: the budget of {budget_s} s allowed no rung")
    if status == "converged" and production_sweeps > runs[-1].sweeps:
        n_sw = int(production_sweeps)
        if budget_s is not None:
            left = budget_s - (time.perf_counter() - t0)
            n_sw = min(n_sw, int(left / (cost * runs[-1].beta * 1.1)))
        if n_sw > runs[-1].sweeps:
            run = run_loop(model, beta=runs[-1].beta, sweeps=n_sw,
                           thermalization=int(thermalization) if thermalization is not None
                           else max(n_sw // 20, 1000), seed=seed + k + 1,
                           correlations=correlations)
            runs.append(run)
            trace.append({**_rung(run), "production": True})
            log.info("qmc %s: production at beta %g, E = %.8f +- %.2g (%d sweeps, %.1f s)",
                     system.describe(), run.beta, run.energy, run.energy_error, n_sw,
                     run.wall_s)
            if callback is not None:
                callback(trace[-1])
    last = runs[-1]
    n = system.n_sites
    stag = unif = None
    if last.correlations is not None:
        unif = float(last.correlations.sum() / n ** 2)
        if model.gauge is not None:
            g = np.asarray(model.gauge, dtype=np.float64)
            stag = float(g @ last.correlations @ g / n ** 2)
    result = QMCResult(
        energy=last.energy, error=last.energy_error, energy_per_site=last.energy / n,
        beta=last.beta, converged=status == "converged", status=status, n_sites=n,
        sweeps=sum(r.sweeps for r in runs), wall_s=sum(r.wall_s for r in runs), trace=trace,
        staggered_magnetization_sq=stag, uniform_magnetization_sq=unif,
        correlations=last.correlations, mapping=model.mapping, system=system.describe(),
        hash=model_hash(model),
        settings={"beta_start": beta_start, "beta_max": beta_max, "sweeps": sweeps,
                  "thermalization": thermalization, "agree": agree, "sigma": sigma,
                  "budget_s": budget_s, "min_sweeps": min_sweeps,
                  "production_sweeps": production_sweeps, "seed": seed},
        provenance=_provenance())
    if cache:
        try:
            save_qmc_cache(result)
        except OSError as exc:  # an unwritable cache never loses the result
            log.warning("QMC cache not written: %s", exc)
    return result
