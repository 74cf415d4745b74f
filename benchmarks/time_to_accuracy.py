"""Time to a given accuracy: physrnn beside NetKet, same Hamiltonian, samples and machine.

Question: how many wall-clock seconds does each code need until the relative error of its
training energy first stays below 1e-3 and 1e-4 of the exact or reference ground-state
energy, on the TFIM chain N = 100 (h = 1, open, free-fermion energy), the Heisenberg chain
N = 100 (open, DMRG -44.1277398933) and the Heisenberg square 4x4 and 6x6 (open, ED), with the
best optimiser each code offers?

Both codes get the *same* operator (physrnn's netket Hamiltonian, Marshall-rotated for
Heisenberg; S units, TFIM in Pauli units), the same exact samples per step (``--samples``,
default 512) and the same learning-rate schedule, and are timed from the start of their first
step (NetKet's includes its JIT compilation: a user waits for it too). Models:

- physrnn: ``RNNWavefunction1D`` (chains) or ``RNNWavefunction2D`` (squares: 2D GRU cell
  with the two previous neighbours, zigzag order, ``n_up = n_down`` enforced while
  sampling), ``--hidden`` units, one recurrent layer and a dense softmax head;
- NetKet: ``nkx.models.FastGRUNet1D`` (chains) or ``nkx.models.LSTMNet`` with the lattice's
  ``graph`` (snake ordering, previous neighbours from the graph; NetKet's GRU takes one
  previous neighbour only), ``layers = 2``, ``features = --hidden`` (its last recurrent
  layer, with 2 features, replaces the dense head; ``_netket_peer.py``), sampled by
  ``ARDirectSampler``, with ``MCState.chunk_size`` from ``_netket_peer.netket_chunk_size``.

Optimisers (``--physrnn-optimizers``, ``--netket-optimizers``): ``adam`` (Adam, lr
``--adam-lr`` to ``--lr-final``) on both sides, and natural gradient in sample space:
physrnn's ``minsr`` (``SRStep(mode="minsr")`` + SGD) and NetKet's ``sr``
(``nk.driver.VMC_SR(use_ntk=True)``, its minSR / neural-tangent-kernel form, + ``optax.sgd``),
lr ``--sr-lr`` to ``--lr-final``, diagonal shift ``--diag-shift``. The learning rate follows a
cosine over the fraction of the run done, the larger of steps / ``--steps`` and time /
``--budget-s`` (``RunClock`` of ``reproduce_rnn_wavefunctions.py``; NetKet's through
``optax.inject_hyperparams``, set before each step), so that each run ends at ``lr_final``.

Time to accuracy (``_extrapolate.time_to_accuracy``): training energies averaged over windows
of ``--window`` steps; the time is the end of the first window after which every window to
the end of the run lies within the tolerance. ``-`` means not reached within the budget. The
summary compares, per row, the best physrnn optimiser with the best NetKet one:
``speedup = NetKet time / physrnn time`` (``> x`` when only physrnn got there: NetKet's
budget is a lower bound). Each run also reports its final energy from ``--final-samples``
fresh samples.

Run::

    python benchmarks/time_to_accuracy.py --quick          # smoke check, ~2 min
    python benchmarks/time_to_accuracy.py --threads 1 --budget-s 600 \\
        --json benchmarks/results/time_to_accuracy-$(date +%F)-cpu2-threads1.json
    python benchmarks/time_to_accuracy.py --threads 2 ...  # the whole 2-core CPU

``--rows``, ``--seed``, ``--hidden-chain``, ``--hidden-square`` as usual.
"""

from __future__ import annotations

import dataclasses
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
    limit_threads,
    machine_info,
    markdown_table,
    print_footer,
    write_json,
)
from benchmarks._extrapolate import time_to_accuracy  # noqa: E402
from benchmarks._reproduce_rows import ROWS, RowSpec  # noqa: E402

#: rows of this benchmark: names of ``_reproduce_rows.ROWS`` (system and reference)
ROW_NAMES = ("tfim chain N=100 h=1", "heisenberg chain N=100", "heisenberg 4x4 obc",
             "heisenberg 6x6 obc")
TOLERANCES = (1e-3, 1e-4)
PHYSRNN_OPTIMIZERS = ("adam", "minsr")
NETKET_OPTIMIZERS = ("adam", "sr")

RUN_COLUMNS = [
    ("row", "system"), ("code", "code"), ("optimizer", "optimiser"),
    ("n_parameters", "params"), ("steps_done", "steps"), ("s_per_step", "s/step"),
    ("first_step_s", "first step s"), ("time_to_1e-3", "s to 1e-3"),
    ("time_to_1e-4", "s to 1e-4"), ("last_window_rel_error", "last window rel. err"),
    ("final_relative_error", "final rel. err"), ("wall_s", "wall s"),
]
SUMMARY_COLUMNS = [
    ("row", "system"), ("physrnn_best_1e-3", "physrnn to 1e-3"),
    ("netket_best_1e-3", "NetKet to 1e-3"), ("speedup_1e-3", "speedup 1e-3"),
    ("physrnn_best_1e-4", "physrnn to 1e-4"), ("netket_best_1e-4", "NetKet to 1e-4"),
    ("speedup_1e-4", "speedup 1e-4"),
]


def row_spec(name: str) -> RowSpec:
    """The ``_reproduce_rows`` spec of a row (its first, Adam, entry)."""
    for spec in ROWS:
        if spec.name == name:
            return spec
    raise SystemExit(f"--rows: unknown {name!r}; known: {list(ROW_NAMES)}")


def settings_of(spec: RowSpec, args: Any, optimizer: str) -> dict[str, Any]:
    """Model, batch and schedule of one run (the same for both codes)."""
    chain = len(spec.size) == 1
    sr = optimizer in ("minsr", "sr")
    return {"hidden": args.hidden_chain if chain else args.hidden_square, "layers": 1,
            "n_samples": args.samples, "n_steps": args.steps,
            "lr": args.sr_lr if sr else args.adam_lr, "lr_final": args.lr_final,
            "diag_shift": args.diag_shift, "symmetry": "none"}


def cosine(lr: float, lr_final: float, fraction: float) -> float:
    """Cosine schedule from ``lr`` at fraction 0 to ``lr_final`` at 1."""
    return lr_final + 0.5 * (lr - lr_final) * (1.0 + math.cos(math.pi * fraction))


# ----------------------------------------------------------------------------- the two codes
def train_physrnn(spec: RowSpec, cfg: dict[str, Any], *, budget_s: float, seed: int,
                  init: dict[str, Any] | None = None) -> tuple[Any, Any, float]:
    """Train physrnn's RNN wavefunction of a row on the CPU for ``cfg["n_steps"]`` steps or
    ``budget_s`` seconds; ``init``: a ``state_dict`` to start from (names and shapes checked).

    Returns ``(model, vmc, wall_s)``.
    """
    import torch

    from benchmarks.reproduce_rnn_wavefunctions import (
        RunClock,
        build_driver,
        build_model,
        build_system,
    )
    from physrnn.checkpoints import check_state_shapes

    system = build_system(spec)
    model = build_model(spec, cfg, seed, torch.device("cpu"))
    if init is not None:
        check_state_shapes(init, model, "<smaller system>", what="wavefunction")
        model.load_state_dict(init)
    clock = RunClock(cfg["n_steps"], budget_s)
    vmc = build_driver(spec, cfg, system, model, seed, clock)
    clock.start()
    while vmc.step_count < cfg["n_steps"] and not clock.out_of_time():
        vmc.step()
    return model, vmc, clock.elapsed()


def run_physrnn(spec: RowSpec, cfg: dict[str, Any], optimizer: str, *, budget_s: float,
                seed: int, final_samples: int) -> dict[str, Any]:
    """Train physrnn's RNN wavefunction; per-step times and energies."""
    spec = dataclasses.replace(spec, optimizer=optimizer)
    model, vmc, wall_s = train_physrnn(spec, cfg, budget_s=budget_s, seed=seed)
    hist = vmc.history_arrays()
    est = vmc.estimate(final_samples)
    return {"code": f"physrnn {_version('physrnn')}", "n_parameters": int(model.n_parameters),
            "times": hist["time_s"], "energies": hist["energy"], "errors": hist["error"],
            "wall_s": wall_s, "final_energy": est.mean, "final_error": est.error,
            "model": type(model).__name__ + f" ({spec.cell})"}


def run_netket(spec: RowSpec, cfg: dict[str, Any], optimizer: str, *, budget_s: float,
               seed: int, final_samples: int) -> dict[str, Any]:
    """Train NetKet's RNN on the same operator; per-step times and energies."""
    import jax.numpy as jnp
    import netket as nk
    import netket.experimental as nkx
    import numpy as np
    import optax

    from benchmarks._netket_peer import (
        enable_netket_chunking,
        netket_chunk_size,
        netket_final_energy,
    )
    from benchmarks.reproduce_rnn_wavefunctions import RunClock, build_system

    system = build_system(spec)
    operator = system.operator
    hilbert = operator.hilbert
    if len(spec.size) == 1:
        model = nkx.models.FastGRUNet1D(hilbert=hilbert, layers=cfg["layers"] + 1,
                                        features=cfg["hidden"], param_dtype=jnp.float32)
    else:
        model = nkx.models.LSTMNet(hilbert=hilbert, layers=cfg["layers"] + 1,
                                   features=cfg["hidden"], graph=system.graph,
                                   param_dtype=jnp.float32)
    enable_netket_chunking()
    vstate = nk.vqs.MCState(nk.sampler.ARDirectSampler(hilbert), model,
                            n_samples=cfg["n_samples"], seed=seed, sampler_seed=seed + 1)
    chunk = netket_chunk_size(cfg["n_samples"], operator.max_conn_size)
    if chunk is not None:
        vstate.chunk_size = chunk
    lr, lr_final = float(cfg["lr"]), float(cfg["lr_final"])
    if optimizer == "adam":
        opt = optax.inject_hyperparams(optax.adam)(learning_rate=lr)
        driver = nk.driver.VMC(operator, opt, variational_state=vstate)
    elif optimizer == "sr":
        opt = optax.inject_hyperparams(optax.sgd)(learning_rate=lr)
        driver = nk.driver.VMC_SR(operator, opt, diag_shift=float(cfg["diag_shift"]),
                                  variational_state=vstate, use_ntk=True)
    else:
        raise ValueError(f"unknown NetKet optimizer {optimizer!r}")
    clock = RunClock(cfg["n_steps"], budget_s)
    times: list[float] = []
    energies: list[float] = []
    errors: list[float] = []

    def callback(step: int, log_data: Any, drv: Any) -> bool:
        stats = drv._loss_stats  # the energy statistics of this step's samples (both drivers)
        energies.append(float(np.asarray(stats.mean).real))
        errors.append(float(np.asarray(stats.error_of_mean).real))
        times.append(clock.elapsed())
        drv._optimizer_state.hyperparams["learning_rate"] = jnp.asarray(
            cosine(lr, lr_final, clock.fraction(len(times))), dtype=jnp.float32)
        return not clock.out_of_time()

    clock.start()
    driver.run(n_iter=cfg["n_steps"], out=None, show_progress=False, callback=callback)
    wall_s = clock.elapsed()
    final = netket_final_energy(vstate, operator, final_samples)
    return {"code": f"netket {nk.__version__}", "n_parameters": int(vstate.n_parameters),
            "times": np.asarray(times), "energies": np.asarray(energies),
            "errors": np.asarray(errors), "wall_s": wall_s, "final_energy": final["energy"],
            "final_error": final["error"], "model": type(model).__name__,
            "chunk_size": chunk}


def _version(module: str) -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(module)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def measure(run: dict[str, Any], reference: float, window: int) -> dict[str, Any]:
    """Times to each tolerance, the final error, and a thinned curve, from one run."""
    import numpy as np

    times, energies = np.asarray(run.pop("times")), np.asarray(run.pop("energies"))
    errors = np.asarray(run.pop("errors"))
    n = len(times)
    acc = {f"{tol:.0e}": time_to_accuracy(times, energies, errors, reference, tol,
                                          window=window) for tol in TOLERANCES}
    thin = max(1, n // 200)
    return {**run, "steps_done": n,
            "s_per_step": (times[-1] - times[0]) / (n - 1) if n > 1 else None,
            "first_step_s": float(times[0]) if n else None,
            "time_to_accuracy": acc,
            **{f"time_to_{tol:.0e}".replace("e-0", "e-"): acc[f"{tol:.0e}"]["time_s"]
               for tol in TOLERANCES},
            "last_window_rel_error": acc["1e-03"]["last_window_rel_error"],
            "final_relative_error": (run["final_energy"] - reference) / abs(reference),
            "curve": {"time_s": times[::thin].tolist(), "energy": energies[::thin].tolist()}}


def summarise(runs: list[dict[str, Any]], row: str) -> dict[str, Any]:
    """Best time of each code to each tolerance and their ratio (NetKet / physrnn)."""
    out: dict[str, Any] = {"row": row}
    for tol in ("1e-3", "1e-4"):
        best = {}
        for code in ("physrnn", "netket"):
            mine = [r for r in runs if r["code"].startswith(code)]
            got = [(r[f"time_to_{tol}"], r["optimizer"]) for r in mine
                   if r[f"time_to_{tol}"] is not None]
            best[code] = min(got) if got else None
            budget = max((r["wall_s"] for r in mine), default=None)
            out[f"{code}_best_{tol}"] = (f"{best[code][0]:.0f} s ({best[code][1]})"
                                         if best[code] else
                                         f"> {budget:.0f} s" if budget else "-")
        p, k = best["physrnn"], best["netket"]
        netket_budget = max((r["wall_s"] for r in runs if r["code"].startswith("netket")),
                            default=None)
        if p and k:
            out[f"speedup_{tol}"] = f"{k[0] / p[0]:.2f}"
        elif p and netket_budget:
            out[f"speedup_{tol}"] = f"> {netket_budget / p[0]:.2f}"
        else:
            out[f"speedup_{tol}"] = "-"
    return out


# ----------------------------------------------------------------------------- command line
def _parser() -> Any:
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="all", help="comma-separated; " + "; ".join(ROW_NAMES))
    parser.add_argument("--physrnn-optimizers", default=",".join(PHYSRNN_OPTIMIZERS))
    parser.add_argument("--netket-optimizers", default=",".join(NETKET_OPTIMIZERS))
    parser.add_argument("--budget-s", type=float, default=600.0, help="per run (s)")
    parser.add_argument("--steps", type=int, default=20_000, help="most steps per run")
    parser.add_argument("--samples", type=int, default=512, help="exact samples per step")
    parser.add_argument("--hidden-chain", type=int, default=32)
    parser.add_argument("--hidden-square", type=int, default=24)
    parser.add_argument("--adam-lr", type=float, default=1e-2)
    parser.add_argument("--sr-lr", type=float, default=0.05)
    parser.add_argument("--lr-final", type=float, default=1e-4)
    parser.add_argument("--diag-shift", type=float, default=1e-3)
    parser.add_argument("--window", type=int, default=25, help="steps per window")
    parser.add_argument("--final-samples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def _choices(text: str, known: tuple[str, ...], flag: str) -> list[str]:
    out = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in out if t not in known]
    if bad:
        raise SystemExit(f"{flag}: unknown {bad}; known: {list(known)}")
    return out


def main(argv: list[str] | None = None) -> int:
    """Run every (row, code, optimiser), print both tables, write the JSON."""
    args = _parser().parse_args(argv)
    if args.threads is not None:
        limit_threads(args.threads)  # before anything imports jax / netket
    names = list(ROW_NAMES) if args.rows == "all" else _choices(args.rows, ROW_NAMES, "--rows")
    p_opts = _choices(args.physrnn_optimizers, PHYSRNN_OPTIMIZERS, "--physrnn-optimizers")
    k_opts = _choices(args.netket_optimizers, NETKET_OPTIMIZERS, "--netket-optimizers")
    if args.quick:
        names = names if args.rows != "all" else ["heisenberg 4x4 obc"]
        args.budget_s, args.steps, args.final_samples = 20.0, 200, 1000
        args.hidden_chain = args.hidden_square = 8
        args.samples, args.window = 128, 10
    load_before = os.getloadavg()
    from benchmarks.reproduce_rnn_wavefunctions import build_system, reference_of

    machine = machine_info() if args.json is not None else {}
    t_start = time.perf_counter()
    runs: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []

    def payload(complete: bool) -> dict[str, Any]:
        return {"benchmark": "time_to_accuracy", "quick": bool(args.quick),
                "complete": complete, "settings": {**vars(args), "tolerances": TOLERANCES,
                                                   "load_average_before": load_before,
                                                   "total_s": time.perf_counter() - t_start},
                "summary": summary, "runs": runs, "machine": machine,
                "versions": {k: machine.get(k) for k in VMC_VERSION_KEYS}}

    for name in names:
        spec = row_spec(name)
        reference, _, source = reference_of(spec, build_system(spec))
        row_runs = []
        for code, opts, runner in (("physrnn", p_opts, run_physrnn),
                                   ("netket", k_opts, run_netket)):
            for opt in opts:
                cfg = settings_of(spec, args, opt)
                print(f"# {name}: {code} {opt} ...", file=sys.stderr, flush=True)
                raw = runner(spec, cfg, opt, budget_s=args.budget_s, seed=args.seed,
                             final_samples=args.final_samples)
                run = {"row": name, "optimizer": opt, "settings": cfg, "reference": reference,
                       "reference_source": source, **measure(raw, reference, args.window)}
                print(f"#   {run['steps_done']} steps, {run['wall_s']:.0f} s, final rel. "
                      f"err {run['final_relative_error']:.2e}, to 1e-3: "
                      f"{run['time_to_1e-3']}, to 1e-4: {run['time_to_1e-4']}",
                      file=sys.stderr, flush=True)
                runs.append(run)
                row_runs.append(run)
                if args.json is not None:
                    write_json(args.json, payload(complete=False))
        summary.append(summarise(row_runs, name))
    print()
    print(markdown_table(runs, RUN_COLUMNS))
    print()
    print(markdown_table(summary, SUMMARY_COLUMNS))
    print()
    print_footer(time.perf_counter() - t_start, load_before, os.getloadavg(), args.quick)
    if args.json is not None:
        print(f"wrote {write_json(args.json, payload(complete=True))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
