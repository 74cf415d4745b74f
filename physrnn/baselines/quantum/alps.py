"""A physrnn spin system as an ALPS lattice and model, and one run of ALPS's ``loop`` QMC.

ALPS (Bauer et al., J. Stat. Mech. P05001 (2011); optional: ``pip install 'physrnn[qmc]'``)
ships the compiled loop-cluster quantum Monte Carlo code ``loop`` (Todo and Kato, PRL 87,
047203 (2001)). physrnn does not implement QMC: it translates its Hamiltonians into ALPS's
input, runs the program in a private temporary directory and reads its HDF5 results (as
data, with h5py).

**The translation.** ALPS's ``spin`` model with ``S = sigma / 2`` is::

    H = sum_<ij> [Jz_t Sz_i Sz_j + Jxy_t (Sx_i Sx_j + Sy_i Sy_j)] - Gamma sum_i Sx_i

(``t`` the bond type). physrnn's conventions (:mod:`physrnn.spins.base`) map to it as:

* TFIM ``-J sum sz sz - h sum sx`` (Pauli): ``Jz_0 = -4 J``, ``Jxy_0 = 0``, ``Gamma = 2 h``.
* Heisenberg / XXZ ``J sum (Sx Sx + Sy Sy + delta Sz Sz)`` (S units): ``Jz_0 = J delta``,
  ``Jxy_0 = J``.
* J1-J2: bond type 0 (nearest neighbours, ``J1``) and type 1 (``J2``) alike.

The Marshall rotation of physrnn's operators changes no eigenvalue and is not passed on: ALPS
gets the unrotated Hamiltonian. Energies come back in the Hamiltonian's own units (totals),
i.e. exactly physrnn's. The lattice is written from the netket graph's edges (a custom ALPS
``GRAPH``), so any graph works, not only ALPS's built-in lattices.

**What QMC cannot do** is refused by :func:`alps_model` with a
:class:`~physrnn.errors.SignProblemError`: exchange couplings with no sublattice gauge that
makes every off-diagonal element non-positive (frustrated J1-J2, a non-bipartite
antiferromagnet such as an odd periodic chain or the triangular lattice), complex couplings,
sites that are not spin-1/2, and operators given without a lattice model.
"""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from physrnn.errors import QMCError, SignProblemError
from physrnn.metrics.autocorrelation import chain_statistics
from physrnn.spins.base import SpinSystem

__all__ = ["ALPSModel", "LoopRun", "alps_model", "lattice_xml", "loop_executable", "run_loop"]


@dataclass(frozen=True)
class ALPSModel:
    """A spin-1/2 Hamiltonian in ALPS's terms.

    Attributes:
        n_sites: number of sites ``N``.
        edges: bonds ``(i, j, type)`` with 0-based sites and ALPS bond type 0 or 1.
        parameters: the ALPS ``spin``-model parameters (``Jz0``, ``Jxy0``, ``Jz1``, ``Jxy1``,
            ``Gamma``), energy units of the physrnn Hamiltonian.
        gauge: ``(N,)`` signs ``+-1`` (the two sublattices for the staggered magnetisation);
            ``None`` if the nearest-neighbour graph is not bipartite.
        mapping: one sentence stating the translation.
        description: the system's one-line description.
    """

    n_sites: int
    edges: tuple[tuple[int, int, int], ...]
    parameters: dict[str, float]
    gauge: tuple[int, ...] | None
    mapping: str
    description: str = ""


def _real(name: str, value: Any, where: str) -> float:
    if isinstance(value, complex) and value.imag != 0:
        raise SignProblemError(f"{where}: coupling {name} = {value} is complex; QMC in the "
                               "sz basis needs real couplings")
    try:
        out = float(np.real(value))
    except (TypeError, ValueError) as exc:
        raise SignProblemError(f"{where}: coupling {name} = {value!r} is not a number") from exc
    if not math.isfinite(out):
        raise SignProblemError(f"{where}: coupling {name} = {out} is not finite")
    return out


def _gauge(n: int, bonds: list[tuple[int, int, int]]) -> list[int] | None:
    """Signs ``s`` with ``s_i s_j = sign`` on every ``(i, j, sign)`` bond, or ``None``.
    Sites reached by no bond get ``+1``."""
    s = [0] * n
    adj: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for i, j, sg in bonds:
        adj[i].append((j, sg))
        adj[j].append((i, sg))
    for start in range(n):
        if s[start]:
            continue
        s[start] = 1
        queue = deque([start])
        while queue:
            i = queue.popleft()
            for j, sg in adj[i]:
                if s[j] == 0:
                    s[j] = s[i] * sg
                    queue.append(j)
                elif s[j] != s[i] * sg:
                    return None
    return s


def _edges(system: SpinSystem) -> list[tuple[int, int, int]]:
    graph = system.graph
    if graph is None:
        raise SignProblemError(f"{system.describe()}: QMC needs a lattice model (a graph and "
                               "its couplings); an operator given without one is not supported")
    return [(int(i), int(j), int(c)) for i, j, c in graph.edges(return_color=True)]


def alps_model(system: SpinSystem) -> ALPSModel:
    """Translate ``system`` into ALPS's ``spin`` model on its own graph (module doc).

    Raises:
        SignProblemError: the Hamiltonian has a sign problem, complex couplings, sites that are
            not spin-1/2, or no lattice model; the message names the culprit in one line.
    """
    where = system.describe()
    shape = tuple(int(v) for v in getattr(system.hilbert, "shape", ()))
    if not shape or any(v != 2 for v in shape):
        raise SignProblemError(f"{where}: QMC here handles spin-1/2 sites only (local "
                               f"dimensions {sorted(set(shape))})")
    p = system.params
    edges = _edges(system)
    if system.name == "tfim":
        J, h = _real("J", p["J"], where), _real("h", p["h"], where)
        params = {"Jz0": -4.0 * J, "Jxy0": 0.0, "Gamma": 2.0 * h}
        mapping = (f"TFIM -J sum sz sz - h sum sx (Pauli), J = {J:g}, h = {h:g} -> ALPS spin "
                   f"model Jz = -4J = {-4 * J:g}, Jxy = 0, Gamma = 2h = {2 * h:g} (S = sigma/2)")
        jxy = {0: 0.0}
    elif system.name in ("heisenberg", "xxz", "j1j2"):
        J1 = _real("J", p.get("J", p.get("J1")), where)
        delta = _real("delta", p.get("delta", 1.0), where)
        J2 = _real("J2", p.get("J2", 0.0), where)
        params = {"Jz0": J1 * delta, "Jxy0": J1, "Gamma": 0.0}
        jxy = {0: J1}
        if any(c == 1 for *_, c in edges):
            params.update(Jz1=J2, Jxy1=J2)
            jxy[1] = J2
        mapping = (f"J (Sx Sx + Sy Sy + delta Sz Sz) (S units), J = {J1:g}, delta = {delta:g}"
                   + (f", J2 = {J2:g} (bond type 1)" if 1 in jxy else "")
                   + " -> ALPS spin model Jz = J delta, Jxy = J (unrotated: the Marshall "
                   "rotation changes no eigenvalue)")
    else:
        raise SignProblemError(f"{where}: no ALPS translation for model {system.name!r} "
                               "(known: tfim, heisenberg, xxz, j1j2)")
    bad = [c for *_, c in edges if c not in jxy]
    if bad:
        raise SignProblemError(f"{where}: bond colour {bad[0]} has no coupling in the "
                               "translation")
    # sign-free iff some gauge s makes every exchange off-diagonal element non-positive:
    # s_i s_j = -sign(Jxy) on every bond with Jxy != 0
    signed = [(i, j, -1 if jxy[c] > 0 else 1) for i, j, c in edges if jxy[c] != 0.0]
    gauge = _gauge(system.n_sites, signed)
    if gauge is None:
        raise SignProblemError(
            f"{where}: the exchange couplings are frustrated (no sublattice sign makes every "
            "off-diagonal element non-positive), so QMC in the sz basis has a sign problem; use "
            "exact diagonalisation (N <= 20) or a published reference")
    nn = _gauge(system.n_sites, [(i, j, -1) for i, j, c in edges if c == 0])
    return ALPSModel(n_sites=system.n_sites, edges=tuple(edges), parameters=params,
                     gauge=None if nn is None else tuple(nn), mapping=mapping,
                     description=where)


def lattice_xml(model: ALPSModel) -> str:
    """The ALPS lattice library (one ``GRAPH`` named ``physrnn``) of ``model``'s edges."""
    lines = ["<LATTICES>", f'<GRAPH name="physrnn" vertices="{model.n_sites}">']
    gauge = model.gauge or (1,) * model.n_sites
    lines += [f'  <VERTEX id="{i + 1}" type="{0 if g > 0 else 1}"/>' for i, g in enumerate(gauge)]
    lines += [f'  <EDGE type="{t}" source="{i + 1}" target="{j + 1}"/>'
              for i, j, t in model.edges]
    lines += ["</GRAPH>", "</LATTICES>", ""]
    return "\n".join(lines)


def loop_executable() -> Path:
    """Path of ALPS's ``loop`` program, from the installed ``pyalps`` package.

    Raises:
        QMCError: pyalps is not installed (``pip install 'physrnn[qmc]'``) or ships no ``loop``.
    """
    spec = importlib.util.find_spec("pyalps")
    if spec is None or spec.origin is None:
        raise QMCError("quantum Monte Carlo needs ALPS, an optional dependency: "
                       "pip install 'physrnn[qmc]'")
    exe = Path(spec.origin).parent / "bin" / "loop"
    if not (exe.is_file() and os.access(exe, os.X_OK)):
        raise QMCError(f"the installed pyalps has no executable 'loop' program ({exe})")
    return exe


@dataclass
class LoopRun:
    """One ``loop`` run at inverse temperature ``beta``.

    Attributes:
        beta: inverse temperature (1 / energy unit).
        energy, energy_error: total energy and its error; the error is the larger of ALPS's
            binning error and Sokal's windowed estimate on ALPS's bins (a run too short for
            its correlation time then shows it).
        alps_error: ALPS's binning-analysis error alone.
        error_converged: ALPS's flag: 0 converged, 1 maybe, 2 not converged.
        tau_bins: integrated autocorrelation time of the energy bins (in bins).
        sweeps, thermalization: Monte Carlo sweeps measured and discarded.
        wall_s: seconds of the program's run.
        observables: ``name -> (value, error)`` for scalar ALPS measurements (S units).
        correlations: ``(N, N)`` equal-time ``<Sz_i Sz_j>`` (S units) or ``None``.
        seed: ALPS's SEED.
    """

    beta: float
    energy: float
    energy_error: float
    alps_error: float
    error_converged: int
    tau_bins: float
    sweeps: int
    thermalization: int
    wall_s: float
    seed: int
    observables: dict[str, tuple[float, float]] = field(default_factory=dict)
    correlations: np.ndarray | None = None


_SCALARS = ("Energy", "Energy Density", "Staggered Magnetization^2",
            "Staggered Magnetization Density^2", "Magnetization^2", "Magnetization Density^2",
            "Susceptibility", "Staggered Susceptibility")


#: ALPS's XML reader needs the stylesheet instruction before the root element
_HEADER = ('<?xml version="1.0" encoding="UTF-8"?>\n'
           '<?xml-stylesheet type="text/xsl" href="ALPS.xsl"?>\n')


def _task_xml(parameters: dict[str, Any]) -> str:
    body = "\n".join(f"<PARAMETER name={quoteattr(str(k))}>{escape(str(v))}</PARAMETER>"
                     for k, v in parameters.items())
    return (_HEADER + '<SIMULATION xmlns:xsi='
            '"http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation='
            '"http://xml.comp-phys.org/2003/8/QMCXML.xsd">\n  <PARAMETERS>\n'
            f"{body}\n  </PARAMETERS>\n</SIMULATION>\n")


def _job_xml(name: str) -> str:
    return (_HEADER + '<JOB xmlns:xsi='
            '"http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation='
            '"http://xml.comp-phys.org/2003/8/job.xsd">\n'
            f'  <OUTPUT file="{name}.out.xml"/>\n  <TASK status="new">\n'
            f'    <INPUT file="{name}.task1.in.xml"/>\n'
            f'    <OUTPUT file="{name}.task1.out.xml"/>\n  </TASK>\n</JOB>\n')


def _read_results(path: Path, n_sites: int) -> dict[str, Any]:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            res = f["simulation/results"]
            if "Energy" not in res:
                raise QMCError(f"{path}: ALPS results hold no Energy measurement")
            out: dict[str, Any] = {"observables": {}}
            for name in _SCALARS:
                if name in res and "mean" in res[name]:
                    out["observables"][name] = (float(res[name]["mean/value"][()]),
                                                float(res[name]["mean/error"][()]))
            e = res["Energy"]
            out["error_converged"] = int(e["mean/error_convergence"][()])
            ts = e["timeseries/data"]
            binsize = int(ts.attrs.get("binsize", 1))
            out["bins"] = np.asarray(ts[()], dtype=np.float64) / max(binsize, 1)
            if "Spin Correlations" in res:
                c = np.asarray(res["Spin Correlations/mean/value"][()], dtype=np.float64)
                if c.size == n_sites * n_sites:
                    out["correlations"] = c.reshape(n_sites, n_sites)
    except (OSError, KeyError) as exc:
        raise QMCError(f"{path}: cannot read ALPS results ({exc})") from exc
    return out


def run_loop(model: ALPSModel, *, beta: float, sweeps: int, thermalization: int, seed: int,
             correlations: bool = True, timeout_s: float | None = None) -> LoopRun:
    """Run ALPS ``loop`` once on ``model`` at inverse temperature ``beta``.

    The program runs in a fresh temporary directory (removed afterwards), never in the caller's
    working directory; one thread.

    Args:
        model: from :func:`alps_model`.
        beta: inverse temperature ``> 0`` (1 / energy unit).
        sweeps: measured Monte Carlo sweeps (``>= 1000`` for ALPS's binning to mean anything).
        thermalization: discarded sweeps.
        seed: ALPS's random seed (same seed, same machine: same numbers).
        correlations: measure ``<Sz_i Sz_j>`` for all pairs.
        timeout_s: kill the program after this many seconds (``QMCError``).

    Raises:
        QMCError: the program is missing, fails, times out or writes unreadable results.
    """
    if not (beta > 0 and math.isfinite(beta)):
        raise ValueError(f"beta must be a positive number, got {beta}")
    if sweeps < 1 or thermalization < 0:
        raise ValueError(f"sweeps must be >= 1 and thermalization >= 0, got {sweeps}, "
                         f"{thermalization}")
    exe = loop_executable()
    parameters: dict[str, Any] = {
        "ALGORITHM": "loop", "LATTICE_LIBRARY": "lattice.xml", "LATTICE": "physrnn",
        "MODEL": "spin",
        "local_S": 0.5, **{k: repr(float(v)) for k, v in model.parameters.items()},
        "T": repr(1.0 / beta), "SWEEPS": int(sweeps), "THERMALIZATION": int(thermalization),
        "SEED": int(seed) % (2 ** 30)}
    if correlations:
        parameters["MEASURE[Correlations]"] = "true"
    with tempfile.TemporaryDirectory(prefix="physrnn-alps-") as tmp:
        d = Path(tmp)
        (d / "lattice.xml").write_text(lattice_xml(model))
        (d / "job.task1.in.xml").write_text(_task_xml(parameters))
        (d / "job.in.xml").write_text(_job_xml("job"))
        env = {**os.environ, "ALPS_XML_PATH": str(exe.parent.parent / "xml"),
               "OMP_NUM_THREADS": "1"}
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([str(exe), "job.in.xml"], cwd=d, capture_output=True,
                                  text=True, timeout=timeout_s, env=env)
        except subprocess.TimeoutExpired as exc:
            raise QMCError(f"ALPS loop did not finish within {timeout_s:.0f} s ({model.description}"
                           f", beta {beta:g}, {sweeps} sweeps)") from exc
        wall = time.perf_counter() - t0
        out_h5 = d / "job.task1.out.h5"
        if proc.returncode != 0 or not out_h5.is_file():
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
            raise QMCError(f"ALPS loop failed (exit code {proc.returncode}) on "
                           f"{model.description}: {' | '.join(tail)}")
        res = _read_results(out_h5, model.n_sites)
    e, e_alps = res["observables"]["Energy"]
    bins = res["bins"]
    tau_bins, ours = 1.0, 0.0
    if bins.size >= 8:
        st = chain_statistics(bins)
        tau_bins, ours = st.tau_int, st.error
    return LoopRun(beta=float(beta), energy=e, energy_error=max(e_alps, ours), alps_error=e_alps,
                   error_converged=res["error_converged"], tau_bins=tau_bins,
                   sweeps=int(sweeps), thermalization=int(thermalization), wall_s=wall,
                   seed=int(seed), observables=res["observables"],
                   correlations=res.get("correlations"))
