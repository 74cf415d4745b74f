"""Reproduce the RNN-wavefunction ground-state energies of Hibat-Allah et al. with physrnn.

Question: how close does physrnn's VMC (``RNNWavefunction1D`` / ``RNNWavefunction2D``, exact
sampling, ``physrnn.vmc.VMC``) get to the exact or published ground-state energies of the
systems of Hibat-Allah et al., PRR 2, 023358 (2020) and arXiv 2207.14314, in how much wall
time, on which hardware?

Systems and references (``benchmarks/_reproduce_rows.py``; totals; TFIM in Pauli units,
Heisenberg and J1-J2 in S units, ``S = sigma / 2``): TFIM chain h = 1, N = 20 and 100 (free
fermions); Heisenberg chain N = 100 (DMRG); J1-J2 chain N = 100 at J2 = 0.2 (DMRG) and 0.5
(Majumdar-Ghosh, exact); Heisenberg square 4x4 (``nk.exact.lanczos_ed``) and 6x6 (published
ED), open and periodic; TFIM square 4x4 h = 3 (ED) and 12x12 h = 3 (published); Heisenberg
10x10 open (published QMC). The 4x4 open Heisenberg row is run twice, with Adam and with
minSR (``physrnn.vmc.sr.SRStep``, plain SGD steps along the SR direction), at the same time
budget.

Per row: the energy and its standard error from ``--final-samples`` fresh exact samples,
``relative_error = (E - E_ref) / |E_ref|``, for ``N <= 16`` also the exact ``<H>`` of the
trained model over all ``2^N`` configurations (``relative_error_exact``, which then decides
whether the target is reached), the V-score ``N Var(E_loc) / E^2`` (Wu et al.,
Science 2024; ``E_inf = 0``), the training wall time, the steps done and the full number of
steps, and whether ``|relative_error| <= target``. Training stops after the row's full number
of steps or after ``--budget-s`` seconds (``--budget-large-s`` for the rows that need a GPU at
full scale), whichever comes first; the learning-rate schedule (cosine, ``lr`` to
``lr_final``) and the annealing temperature follow the *fraction of the run done*, the larger
of steps / full steps and time / budget, so that a time-limited run still ends at
``lr_final`` and zero temperature. When the target is missed, the tail of the training curve
(the last half of the steps, in 8 windows) is fitted by a power law ``|E - E_ref| ~ step^b``
in log-log, and the steps and time (at the measured seconds per step) needed for the target
are **extrapolated**; the time to 1e-3, 1e-4 and the target is measured on the training
curve (``_extrapolate.time_to_accuracy``: the first window of 25 steps after which every
window mean stays within the tolerance); ``no trend`` when the fit does not decrease
(exponent above -0.2) or fewer than 4 windows lie above the reference, ``noise-limited``
when the remaining distance is below 3 times the windows' statistical error.

``--preset full`` (default on CUDA) runs the settings of the row table (hidden 50-500, 500
samples per step, 2,000-20,000 steps: close to the papers' scale, not their exact protocol);
``--preset cpu`` (default on CPU) keeps the steps but uses smaller models and batches; every
row says what was reduced.

Run::

    python benchmarks/reproduce_rnn_wavefunctions.py --quick          # smoke check, < 1 min
    python benchmarks/reproduce_rnn_wavefunctions.py --threads 1 --budget-s 90 \\
        --json benchmarks/results/reproduce_rnn_wavefunctions-$(date +%F)-cpu2.json
    python benchmarks/reproduce_rnn_wavefunctions.py --device cuda --budget-s 0 --json ...
    python benchmarks/reproduce_rnn_wavefunctions.py --table a.json b.json  # one table

``--rows "heisenberg 4x4 obc,tfim chain N=20 h=1"`` selects rows by name; ``--seed``,
``--final-samples`` and ``--device`` as usual; ``--budget-s 0`` removes the time limit.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (  # noqa: E402
    VMC_VERSION_KEYS,
    base_parser,
    cpu_model_name,
    limit_threads,
    machine_info,
    markdown_table,
    print_footer,
    write_json,
)
from benchmarks._extrapolate import (  # noqa: E402
    extrapolate,
    human_time,
    thin_curve,
    time_to_accuracy,
)
from benchmarks._reproduce_rows import (  # noqa: E402
    QUICK_ROWS,
    QUICK_SETTINGS,
    ROWS,
    RowSpec,
    row_names,
)

COLUMNS = [
    ("system", "system"),
    ("optimizer", "optimiser"),
    ("hidden", "d_h"),
    ("n_samples", "samples/step"),
    ("steps", "steps done/full"),
    ("energy", "energy"),
    ("error", "error"),
    ("reference", "reference", ".10g"),
    ("reference_kind", "ref. kind"),
    ("relative_error", "rel. error"),
    ("relative_error_err", "rel. error σ"),
    ("relative_error_exact", "rel. error, exact <H>"),
    ("v_score", "V-score"),
    ("target", "target", ".0e"),
    ("target_reached", "reached"),
    ("wall_s", "train wall s"),
    ("time_to_1e-3", "s to 1e-3"),
    ("time_to_1e-4", "s to 1e-4"),
    ("time_to_target", "s to target"),
    ("extrapolated_steps", "steps for target (extrap.)"),
    ("extrapolated_time", "time for target (extrap.)"),
    ("device", "device"),
]

EXACT_SITES = 16  # rows up to this size also get the exact <H> of the trained model


class RunClock:
    """Fraction of a run done: the larger of steps / full steps and time / budget."""

    def __init__(self, n_steps: int, budget_s: float | None) -> None:
        self.n_steps = max(int(n_steps), 1)
        self.budget_s = budget_s if budget_s and budget_s > 0 else None
        self.t0: float | None = None

    def start(self) -> None:
        """Start the wall clock (call just before the first step)."""
        self.t0 = time.perf_counter()

    def elapsed(self) -> float:
        """Seconds since :meth:`start` (0 before)."""
        return 0.0 if self.t0 is None else time.perf_counter() - self.t0

    def fraction(self, step: int) -> float:
        """Fraction in ``[0, 1]`` of the run done after ``step`` steps."""
        f = step / self.n_steps
        if self.budget_s is not None:
            f = max(f, self.elapsed() / self.budget_s)
        return min(f, 1.0)

    def out_of_time(self) -> bool:
        """The time budget is spent."""
        return self.budget_s is not None and self.elapsed() >= self.budget_s


# ----------------------------------------------------------------------------- building blocks
def build_system(spec: RowSpec) -> Any:
    """The :class:`~physrnn.spins.chains.SpinSystem` of a row."""
    from physrnn.spins.chains import heisenberg_chain, tfim_chain
    from physrnn.spins.lattices import heisenberg_square, j1j2_chain, tfim_square

    chain = len(spec.size) == 1
    if spec.model == "tfim":
        return (tfim_chain(spec.size[0], h=spec.h, boundary=spec.boundary) if chain
                else tfim_square(*spec.size, h=spec.h, boundary=spec.boundary))
    if spec.model == "heisenberg":
        return (heisenberg_chain(spec.size[0], boundary=spec.boundary,
                                 marshall_sign=spec.marshall) if chain
                else heisenberg_square(*spec.size, boundary=spec.boundary,
                                       marshall_sign=spec.marshall))
    if spec.model == "j1j2" and chain:
        return j1j2_chain(spec.size[0], J2=spec.J2, boundary=spec.boundary,
                          marshall_sign=spec.marshall)
    raise ValueError(f"no builder for {spec.model} on {spec.size}")


def reference_of(spec: RowSpec, system: Any) -> tuple[float | None, str | None, str | None]:
    """``(energy, kind, source)``; exact ones computed here and checked against REFERENCES.md."""
    ref = spec.reference
    if ref is None:
        return None, None, "no reference"
    energy = ref.energy
    if ref.kind == "analytic" and energy is None:
        from physrnn.baselines.quantum.analytic import tfim_chain_energy

        energy = tfim_chain_energy(system.n_sites, h=spec.h, boundary=spec.boundary)
    elif ref.kind == "exact" and energy is None:
        import netket as nk

        energy = float(nk.exact.lanczos_ed(system.operator, k=1)[0])
    if ref.check is not None and abs(energy - ref.check) > 1e-8 * abs(ref.check):
        raise RuntimeError(f"{spec.name}: computed reference {energy!r} disagrees with the "
                           f"published {ref.check!r}")
    return float(energy), ref.kind, ref.source


def build_model(spec: RowSpec, cfg: dict[str, Any], seed: int, device: Any) -> Any:
    """The RNN wavefunction of a row, on ``device``."""
    from physrnn.wavefunctions import RNNWavefunction1D
    from physrnn.wavefunctions.rnn2d import RNNWavefunction2D

    if len(spec.size) == 1:
        model = RNNWavefunction1D(spec.size[0], hidden_size=cfg["hidden"],
                                  n_layers=cfg["layers"], cell=spec.cell, phase=spec.phase,
                                  seed=seed)
    else:
        model = RNNWavefunction2D(*spec.size, hidden_size=cfg["hidden"], cell=spec.cell,
                                  boundary=spec.boundary, phase=spec.phase,
                                  magnetisation=spec.magnetisation, seed=seed)
    if cfg["symmetry"] == "c4v":
        from physrnn.wavefunctions import SymmetrisedWavefunction
        from physrnn.wavefunctions.groups import square_point_group

        # trivial irrep A1: the Marshall-rotated ground state of an even L x L square with
        # N/2 even is invariant (checked by ED on 4x4, open and periodic)
        model = SymmetrisedWavefunction(model, square_point_group(*spec.size))
    elif cfg["symmetry"] != "none":
        raise ValueError(f"{spec.name}: unknown symmetry {cfg['symmetry']!r}")
    return model.to(device)


def build_driver(spec: RowSpec, cfg: dict[str, Any], system: Any, model: Any, seed: int,
                 clock: RunClock) -> Any:
    """``VMC`` with Adam or minSR + SGD, the clock-driven cosine schedule and annealing."""
    import torch

    from physrnn.vmc import VMC
    from physrnn.vmc.annealing import AnnealingSchedule
    from physrnn.vmc.sr import SRStep

    lr, lr_final = float(cfg["lr"]), float(cfg["lr_final"])

    def factor(step: int) -> float:
        f = clock.fraction(step)
        return (lr_final + 0.5 * (lr - lr_final) * (1.0 + math.cos(math.pi * f))) / lr

    sr = None
    if spec.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    elif spec.optimizer == "minsr":
        opt = torch.optim.SGD(model.parameters(), lr=lr)
        sr = SRStep(diag_shift=float(cfg["diag_shift"]), mode="minsr", solver="cholesky")
    else:
        raise ValueError(f"unknown optimizer {spec.optimizer!r}")
    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    annealing = None
    if spec.annealing is not None:
        t0, warm, anneal = spec.annealing
        n = clock.n_steps
        table = AnnealingSchedule(T0=t0, n_warmup=int(warm * n), n_anneal=int(anneal * n))

        def annealing(step: int) -> float:
            return table(int(clock.fraction(step) * n))

    return VMC(system.operator, model, n_samples=cfg["n_samples"], optimizer=opt,
               scheduler=sched, seed=seed, e_inf=system.e_inf, sr=sr, annealing=annealing)


def exact_model_energy(model: Any, system: Any) -> float | None:
    """``<psi|H|psi>`` of the trained model by enumeration for ``N <= EXACT_SITES``, else ``None``.

    On 4 x 4 lattices this resolves relative errors far below the sampled estimate's
    statistical error (about 1e-4 with 10,000 samples), so the 1e-4 targets can be judged.
    """
    from physrnn.vmc import exact_energy

    if system.n_sites > EXACT_SITES:
        return None
    return exact_energy(model, system.operator)


# ----------------------------------------------------------------------------- one row
def run_row(spec: RowSpec, cfg: dict[str, Any], full: dict[str, Any], *, budget_s: float | None,
            final_samples: int, seed: int, device: Any, device_label: str) -> dict[str, Any]:
    """Train one row and measure it; returns the JSON row."""
    from physrnn.errors import NonFiniteError

    system = build_system(spec)
    reference, ref_kind, ref_source = reference_of(spec, system)
    model = build_model(spec, cfg, seed, device)
    clock = RunClock(cfg["n_steps"], budget_s)
    vmc = build_driver(spec, cfg, system, model, seed, clock)
    failure = None
    clock.start()
    try:
        while vmc.step_count < cfg["n_steps"] and not clock.out_of_time():
            vmc.step()
    except NonFiniteError as err:
        failure = str(err)
    wall_s = clock.elapsed()
    history = vmc.history_arrays()
    done = vmc.step_count
    s_per_step = vmc.elapsed_s / done if done else math.nan

    t0 = time.perf_counter()
    est = vmc.estimate(final_samples)
    eval_s = time.perf_counter() - t0
    n = system.n_sites
    rel = rel_err = None
    if reference is not None:
        rel = (est.mean - reference) / abs(reference)
        rel_err = est.error / abs(reference)
    exact, rel_exact = exact_model_energy(model, system), None
    if exact is not None and reference is not None:
        rel_exact = (exact - reference) / abs(reference)
    judged = rel_exact if rel_exact is not None else rel  # no sampling noise where possible
    reached = judged is not None and abs(judged) <= spec.target
    accuracy = {f"{tol:.0e}": time_to_accuracy(history["time_s"], history["energy"],
                                               history["error"], reference, tol)
                for tol in sorted({1e-3, 1e-4, spec.target}, reverse=True)}
    extra = ({"status": "target reached"} if reached else
             extrapolate(history["step"], history["energy"], reference, spec.target,
                         s_per_step, history["error"]) if done else {"status": "no steps"})

    reduced = [f"{done} of {full['n_steps']} steps"] if done < full["n_steps"] else []
    reduced += [f"{key} {cfg[key]:g} of {full[key]:g}"
                for key in ("hidden", "n_samples", "layers", "lr") if cfg[key] != full[key]]
    if cfg["symmetry"] != full["symmetry"]:
        reduced.append(f"symmetry {cfg['symmetry']} of {full['symmetry']}")
    if spec.optimizer == "minsr":
        opt_text = (f"minSR (cholesky) + SGD lr {cfg['lr']:g}->"
                    f"{cfg['lr_final']:g}, shift {cfg['diag_shift']:g}")
    else:
        opt_text = f"Adam lr {cfg['lr']:g}->{cfg['lr_final']:g} (cosine)"
    if spec.annealing is not None:
        opt_text += f" + annealing T0={spec.annealing[0]:g}"
    pub = spec.published_rnn
    fit = extra.get("status") == "fit"
    return {
        "system": spec.name,
        "units": system.units,
        "n_sites": n,
        "optimizer": ("minSR" if spec.optimizer == "minsr" else "Adam")
        + (" + annealing" if spec.annealing is not None else ""),
        "optimizer_detail": opt_text,
        "annealing": spec.annealing,
        "cell": spec.cell,
        "hidden": cfg["hidden"],
        "layers": cfg["layers"] if len(spec.size) == 1 else 1,
        "phase": spec.phase,
        "marshall": spec.marshall,
        "magnetisation": spec.magnetisation,
        "n_parameters": int(model.n_parameters),
        "n_samples": cfg["n_samples"],
        "steps_done": done,
        "steps_full": full["n_steps"],
        "steps": f"{done}/{full['n_steps']}",
        "full_setting": full,
        "run_setting": cfg,
        "reduced": (("reduced: " + ", ".join(reduced) + f", {device_label}") if reduced
                    else None),
        "energy": est.mean,
        "error": est.error,
        "variance": est.variance,
        "energy_per_site": est.mean / n,
        "final_samples": est.n_samples,
        "reference": reference,
        "reference_per_site": None if reference is None else reference / n,
        "reference_kind": ref_kind,
        "reference_source": ref_source,
        "published_rnn_energy": None if pub is None else pub[0],
        "published_rnn_error": None if pub is None else pub[1],
        "published_rnn_source": None if pub is None else pub[2],
        "published_rnn_relative_error": (None if pub is None or reference is None
                                         else (pub[0] - reference) / abs(reference)),
        "relative_error": rel,
        "relative_error_err": rel_err,
        "energy_exact": exact,
        "relative_error_exact": rel_exact,
        "v_score": est.v_score(n, e_inf=system.e_inf),
        "target": spec.target,
        "target_reached": reached,
        "wall_s": wall_s,
        "s_per_step": s_per_step,
        "eval_s": eval_s,
        "budget_s": budget_s,
        "failure": failure,
        "extrapolation": extra,
        "time_to_accuracy": accuracy,
        "time_to_1e-3": accuracy["1e-03"]["time_s"],
        "time_to_1e-4": accuracy["1e-04"]["time_s"],
        "time_to_target": accuracy[f"{spec.target:.0e}"]["time_s"],
        "extrapolated_steps": (f"{extra['steps_needed']:.3g}" if fit else
                               None if reached else extra.get("status")),
        "extrapolated_time": human_time(extra.get("time_needed_s")) if fit else None,
        "device": device_label,
        "note": spec.note,
        "curve": thin_curve(history) if done else None,
    }


# ----------------------------------------------------------------------------- command line
def _parser() -> Any:
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=str, default="all",
                        help="comma-separated row names, or 'all'; names: "
                             + "; ".join(row_names()))
    parser.add_argument("--optimizers", type=str, default="all",
                        help="only the rows of these optimisers: adam, minsr (comma-separated) "
                             "or all")
    parser.add_argument("--preset", choices=("auto", "full", "cpu"), default="auto",
                        help="model and batch sizes: full (the row table), cpu (smaller), "
                             "auto (full on CUDA, cpu otherwise)")
    parser.add_argument("--budget-s", type=float, default=300.0,
                        help="training time limit per row in seconds (0: none)")
    parser.add_argument("--budget-large-s", type=float, default=None,
                        help="time limit of the rows that need a GPU at full scale "
                             "(default: --budget-s)")
    parser.add_argument("--final-samples", type=int, default=10_000,
                        help="fresh samples for the final energy of each row")
    parser.add_argument("--seed", type=int, default=0, help="seed of models and sampling")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--table", nargs="+", metavar="JSON", default=None,
                        help="print one table of the rows of these result files (e.g. rows "
                             "run by several processes) and exit; runs nothing")
    return parser


def print_tables(paths: list[str]) -> int:
    """Print the table of the rows stored in result files (``--table``), file order."""
    import json

    rows: list[dict[str, Any]] = []
    for path in paths:
        try:
            payload = json.loads(Path(path).read_text())
        except (OSError, ValueError) as err:
            raise SystemExit(f"--table: cannot read {path}: {err}") from None
        if not isinstance(payload, dict) or payload.get("benchmark") != \
                "reproduce_rnn_wavefunctions":
            raise SystemExit(f"--table: {path} is not a reproduce_rnn_wavefunctions result")
        rows += [{**row, "steps": row["steps"] + ("" if payload.get("complete") else " (partial)")}
                 for row in payload["rows"]]
    print(markdown_table(rows, COLUMNS))
    return 0


def select_rows(text: str, quick: bool, optimizers: str = "all") -> list[RowSpec]:
    """The rows named in ``text`` (``"all"``: every row) whose optimiser is in ``optimizers``
    (comma-separated ``adam``/``minsr``, or ``"all"``), in table order."""
    if optimizers != "all":
        wanted = {o.strip() for o in optimizers.split(",")}
        if not wanted <= {"adam", "minsr"}:
            raise SystemExit(f"--optimizers: unknown {sorted(wanted - {'adam', 'minsr'})}; "
                             "known: adam, minsr")
        return [r for r in select_rows(text, quick) if r.optimizer in wanted]
    if quick:
        names = list(QUICK_ROWS) if text == "all" else [t.strip() for t in text.split(",")]
    else:
        names = row_names() if text == "all" else [t.strip() for t in text.split(",")]
    unknown = [name for name in names if name not in row_names()]
    if unknown:
        raise SystemExit(f"--rows: unknown {unknown}; known: {row_names()}")
    return [row for row in ROWS if row.name in names]


def _device_label(device: Any) -> str:
    """``"NVIDIA H100 (CUDA)"`` or ``"CPU <model>, <threads> thr"``."""
    import platform

    import torch

    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA)"
    name = cpu_model_name() or platform.processor() or platform.machine()
    return f"CPU {name}, {torch.get_num_threads()} thr"


def main(argv: list[str] | None = None) -> int:
    """Run the selected rows, print the table, write the JSON."""
    args = _parser().parse_args(argv)
    if args.table is not None:
        return print_tables(args.table)
    if args.threads is not None:
        limit_threads(args.threads)  # before anything imports jax / netket
    if args.final_samples < 2:
        raise SystemExit("--final-samples must be >= 2")
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None

    import torch

    from physrnn.distributed import resolve_device

    device = resolve_device(args.device)
    preset = args.preset if args.preset != "auto" else ("full" if device.type == "cuda"
                                                        else "cpu")
    budget = args.budget_s if args.budget_s > 0 else None
    budget_large = budget if args.budget_large_s is None else (args.budget_large_s or None)
    final_samples = 500 if args.quick else args.final_samples
    if args.quick:
        budget = budget_large = min(budget or 20.0, 20.0)
    label = _device_label(device)
    rows_spec = select_rows(args.rows, args.quick, args.optimizers)
    print(f"# {len(rows_spec)} rows on {label}; preset {'quick' if args.quick else preset}; "
          f"budget {budget} s per row ({budget_large} s for large rows); final estimate from "
          f"{final_samples} samples; torch threads {torch.get_num_threads()}", flush=True)

    rows: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    machine = machine_info() if args.json is not None else {}
    settings = {
        "preset": "quick" if args.quick else preset,
        "budget_s": budget,
        "budget_large_s": budget_large,
        "final_samples": final_samples,
        "seed": args.seed,
        "device": str(device),
        "threads": args.threads,
        "schedule": "cosine lr -> lr_final over the fraction of the run done "
                    "(max of steps / full steps and time / budget)",
        "relative_error": "(E - E_ref) / |E_ref|",
        "relative_error_exact": "the same for the exact <H> of the trained model (all 2^N "
                                f"configurations, N <= {EXACT_SITES}); decides 'reached' "
                                "where present",
        "v_score": "N Var(E_loc) / E^2 (E_inf = 0), Var with ddof = 1",
        "time_to_accuracy": "wall time (s since step 1) at the end of the first window of 25 "
                            "training steps after which every window mean stays within the "
                            "tolerance of the reference to the end of the run (measured on "
                            "the training curve, with its sampling noise)",
        "extrapolation": "power law fit of |E - E_ref| / |E_ref| vs step over the last half "
                         "of the training curve (8 window means); an extrapolation, not a "
                         "measurement",
        "load_average_before": load_before,
    }

    def payload(done_rows: list[dict[str, Any]], complete: bool) -> dict[str, Any]:
        load_now = os.getloadavg() if hasattr(os, "getloadavg") else None
        return {
            "benchmark": "reproduce_rnn_wavefunctions",
            "question": "physrnn VMC energies beside the exact / published ground-state "
                        "energies of PRR 2, 023358 (2020) and arXiv 2207.14314",
            "quick": bool(args.quick),
            "complete": complete,
            "settings": {**settings, "load_average_after": load_now,
                         "total_s": time.perf_counter() - t_start},
            "rows": done_rows,
            "machine": machine,
            "versions": {k: machine.get(k) for k in VMC_VERSION_KEYS},
        }

    for spec in rows_spec:
        full = spec.settings("full")
        cfg = {**spec.settings(preset), **(QUICK_SETTINGS if args.quick else {})}
        print(f"# {spec.name} ({spec.optimizer}) ...", file=sys.stderr, flush=True)
        row = run_row(spec, cfg, full, budget_s=budget_large if spec.large else budget,
                      final_samples=final_samples, seed=args.seed, device=device,
                      device_label=label)
        rows.append(row)
        if args.json is not None:  # partial results survive an interrupted run
            write_json(args.json, payload(rows, complete=False))
        rel = row["relative_error"]
        print(f"#   E = {row['energy']:.8g} +- {row['error']:.2g} (ref {row['reference']}), "
              f"rel {'-' if rel is None else f'{rel:.2e}'}"
              + ("" if row["relative_error_exact"] is None
                 else f" (exact <H>: {row['relative_error_exact']:.2e})")
              + f", {row['steps']} steps in "
              f"{row['wall_s']:.0f} s; {row['reduced'] or 'full setting'}",
              file=sys.stderr, flush=True)
    total_s = time.perf_counter() - t_start
    load_after = os.getloadavg() if hasattr(os, "getloadavg") else None

    print()
    print(markdown_table(rows, COLUMNS))
    print()
    for row in rows:
        bits = [row["reduced"] or "full setting", f"reference: {row['reference_source']}"]
        if row["published_rnn_energy"] is not None:
            err = row["published_rnn_error"]
            pm = "" if err is None else f" +- {err:.2g}"
            prel = row["published_rnn_relative_error"]
            prel_text = "" if prel is None else f", rel. error {prel:.1e}"
            bits.append(f"published RNN {row['published_rnn_energy']:.8g}{pm}{prel_text} "
                        f"({row['published_rnn_source']})")
        if row["extrapolation"].get("status") == "fit":
            bits.append(f"extrapolated (power law, exponent "
                        f"{row['extrapolation']['exponent']:.2f}), not measured")
        if row["failure"]:
            bits.append(f"stopped: {row['failure']}")
        print(f"- {row['system']} ({row['optimizer']}): " + "; ".join(bits))
    print()
    print_footer(total_s, load_before, load_after, args.quick)

    if args.json is not None:
        dest = write_json(args.json, payload(rows, complete=True))
        print(f"wrote {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
