"""VMC of the critical transverse-field Ising chain: physrnn beside NetKet's autoregressive RNN.

Question: on the TFIM chain at h = 1 (open boundaries, N = 20, 50, 100), how close to the exact
ground-state energy does each code get with the same budget (samples per step, steps, Adam
learning rate and schedule, about the same number of parameters), and how fast does each one
train (samples per second)?

Physics (``/work/shared/REFERENCES.md``): ``H = -J sum_<ij> sz_i sz_j - h sum_i sx_i`` with
**Pauli** matrices, J = 1 (ferromagnetic), h = 1 (critical point), open chain. Energies are
**totals** in units of J. The exact energy is the free-fermion closed form
(``physrnn.baselines.quantum.analytic.tfim_chain_energy``); the relative error is
``(E - E0) / |E0|`` (>= 0 up to noise for a variational state) and the V-score is
``N Var(E_loc) / E^2`` (E_inf = 0: the TFIM is traceless; Wu et al., Science 2024).

The two sides, run one after the other in this process:

- **physrnn**: ``RNNWavefunction1D`` (GRU, ``--hidden`` units, 1 layer, dense softmax head,
  float32, positive amplitudes), exact sampling, ``physrnn.vmc.VMC`` with Adam.
- **NetKet**: ``netket.experimental.models.FastGRUNet1D`` sampled by ``ARDirectSampler``,
  ``nk.driver.VMC`` with Adam (``benchmarks/_netket_peer.py``). NetKet's RNN has no dense head:
  it gets 2 recurrent layers, ``[F, 2]`` features, with F chosen so that its parameter count is
  the closest to physrnn's (both counts are reported; they agree to within a few per cent).

Both use the same ``--samples`` per step, ``--steps``, initial learning rate ``--lr`` and the
same schedule (``--schedule cosine`` by default: cosine decay from ``lr`` to ``--lr-final``
over the run, identical step by step in torch and optax; or ``constant``). Gradients are the
plain VMC energy gradients (no SR) on both sides. The final energy of each side is estimated
from ``--final-samples`` fresh exact samples, float64; errors are standard errors of the mean
(samples are i.i.d.).

Timings: ``train wall s`` is the whole training loop (NetKet's includes the JIT compile of its
first step, also shown alone as ``compile s``). ``samples/s`` is ``samples x (steps - 1)``
over steps 2..n on *both* sides (NetKet's first step compiles; physrnn's first step is excluded
too, for the same definition). The final estimate is not part of either.

Threads: ``--threads N`` limits torch, BLAS and XLA to N threads each (call made before jax is
imported); without it each library uses its own default (torch: one thread per core;
XLA: all cores). On a machine shared with other work use ``--threads 1``: torch's OpenMP
threads spin-wait and can slow down by 10-100x when the cores are oversubscribed. The thread
settings and the load average before and after the run are recorded in the JSON.

Run::

    python benchmarks/vmc_chain.py --quick                  # N = 20, ~1 min, smoke check
    python benchmarks/vmc_chain.py --threads 1 \\
        --json benchmarks/results/vmc_chain-$(date +%F)-$(hostname).json

Options ``--sizes 20,50``, ``--steps``, ``--samples``, ``--hidden``, ``--lr``, ``--lr-final``,
``--schedule``, ``--final-samples`` and ``--seed`` override the defaults.
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
    limit_threads,
    machine_info,
    markdown_table,
    print_footer,
    write_json,
)

H_FIELD = 1.0
BOUNDARY = "open"
N_LAYERS = 1
CELL = "gru"

FULL = {"sizes": (20, 50, 100), "n_steps": 300, "n_samples": 256, "final_samples": 10_000}
QUICK = {"sizes": (20,), "n_steps": 200, "n_samples": 256, "final_samples": 1_000}

ROW_COLUMNS = [
    ("n_sites", "N"),
    ("code", "code"),
    ("model", "model"),
    ("n_parameters", "parameters"),
    ("n_steps", "steps"),
    ("n_samples", "samples/step"),
    ("energy", "energy"),
    ("error", "error"),
    ("exact", "exact E0"),
    ("rel_error", "rel. error"),
    ("vscore", "V-score"),
    ("wall_s", "train wall s"),
    ("compile_s", "compile s"),
    ("samples_per_s", "samples/s"),
]

RATIO_COLUMNS = [
    ("n_sites", "N"),
    ("param_ratio", "parameters physrnn/NetKet"),
    ("speed_ratio", "samples/s physrnn/NetKet"),
    ("wall_ratio", "train wall physrnn/NetKet"),
    ("rel_error_ratio", "rel. error physrnn/NetKet"),
    ("vscore_ratio", "V-score physrnn/NetKet"),
]


def _parse_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise SystemExit(f"--sizes: expected comma-separated integers, got {text!r}") from exc
    if not sizes or any(n < 2 for n in sizes):
        raise SystemExit(f"--sizes: need chain lengths >= 2, got {text!r}")
    return sizes


def _parser():
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=str, default=None,
                        help="comma-separated chain lengths (full: 20,50,100; quick: 20)")
    parser.add_argument("--steps", type=int, default=None,
                        help=f"VMC steps per code (full: {FULL['n_steps']}; "
                             f"quick: {QUICK['n_steps']})")
    parser.add_argument("--samples", type=int, default=None,
                        help=f"exact samples per step (full and quick: {FULL['n_samples']})")
    parser.add_argument("--final-samples", type=int, default=None,
                        help=f"fresh samples for the final energy (full: "
                             f"{FULL['final_samples']}; quick: {QUICK['final_samples']})")
    parser.add_argument("--hidden", type=int, default=32,
                        help="physrnn GRU hidden size d_h (1 layer + dense head)")
    parser.add_argument("--lr", type=float, default=1e-2, help="initial Adam learning rate")
    parser.add_argument("--lr-final", type=float, default=1e-4,
                        help="final learning rate of the cosine schedule")
    parser.add_argument("--schedule", choices=("cosine", "constant"), default="cosine",
                        help="learning-rate schedule, the same on both sides")
    parser.add_argument("--seed", type=int, default=0, help="seed of both codes")
    return parser


def _netket_n_parameters(n_sites: int, features: int) -> int:
    """Parameter count of ``FastGRUNet1D(layers=N_LAYERS + 1, features)`` (shapes only)."""
    import jax
    import jax.numpy as jnp
    import netket as nk
    import netket.experimental as nkx

    hilbert = nk.hilbert.Spin(s=0.5, N=n_sites)
    model = nkx.models.FastGRUNet1D(hilbert=hilbert, layers=N_LAYERS + 1, features=features,
                                    param_dtype=jnp.float32)
    shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, n_sites)))
    return int(sum(math.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(shapes)))


def _match_netket_features(n_sites: int, target: int, hidden: int) -> tuple[int, int]:
    """NetKet feature width whose parameter count is closest to ``target``."""
    best = None
    for features in range(max(1, hidden // 2), 2 * hidden + 1):
        count = _netket_n_parameters(n_sites, features)
        if best is None or abs(count - target) < abs(best[1] - target):
            best = (features, count)
    assert best is not None
    return best


def _run_physrnn(n_sites: int, cfg: dict[str, Any]) -> dict[str, Any]:
    import physrnn
    from physrnn.spins.chains import tfim_chain
    from physrnn.vmc import VMC, make_optimizer
    from physrnn.wavefunctions import RNNWavefunction1D

    system = tfim_chain(n_sites, h=H_FIELD, boundary=BOUNDARY)
    model = RNNWavefunction1D(n_sites, hidden_size=cfg["hidden"], n_layers=N_LAYERS, cell=CELL,
                              seed=cfg["seed"])
    opt, sched = make_optimizer(model, lr=cfg["lr"], schedule=cfg["schedule"],
                                n_steps=cfg["n_steps"], lr_final=cfg["lr_final"])
    vmc = VMC(system.operator, model, n_samples=cfg["n_samples"], optimizer=opt,
              scheduler=sched, seed=cfg["seed"], e_inf=system.e_inf)
    history = vmc.run(cfg["n_steps"], progress=False)
    wall_s = vmc.elapsed_s
    first_s = float(history["time_s"][0])
    run_s = wall_s - first_s
    steps_per_s = (cfg["n_steps"] - 1) / run_s
    t0 = time.perf_counter()
    est = vmc.estimate(cfg["final_samples"])
    eval_s = time.perf_counter() - t0
    return {
        "code": f"physrnn {physrnn.__version__}",
        "model": f"GRU {cfg['hidden']}x{N_LAYERS} + dense",
        "n_parameters": int(model.n_parameters),
        "param_dtype": str(model.dtype).replace("torch.", ""),
        "energy": est.mean,
        "error": est.error,
        "variance": est.variance,  # ddof = 1
        "vscore": est.v_score(n_sites, e_inf=system.e_inf),
        "final_samples": est.n_samples,
        "energy_last_step": float(history["energy"][-1]),
        "wall_s": wall_s,
        "compile_s": None,
        "first_step_s": first_s,
        "run_s": run_s,
        "steps_per_s": steps_per_s,
        "samples_per_s": steps_per_s * cfg["n_samples"],
        "eval_s": eval_s,
        "hidden_size": cfg["hidden"],
    }


def _run_netket(n_sites: int, features: int, cfg: dict[str, Any]) -> dict[str, Any]:
    from benchmarks._netket_peer import run_netket_tfim_chain
    from physrnn.vmc import v_score

    res = run_netket_tfim_chain(
        n_sites, H_FIELD,
        n_samples=cfg["n_samples"], n_steps=cfg["n_steps"], lr=cfg["lr"],
        hidden_size=features, n_layers=N_LAYERS, cell=CELL, seed=cfg["seed"],
        boundary=BOUNDARY, final_samples=cfg["final_samples"],
        lr_schedule=cfg["schedule"], lr_final=cfg["lr_final"],
    )
    n = res["final_samples"]
    # _netket_peer reports the ddof = 0 variance (as NetKet); use ddof = 1 like physrnn.
    res["variance_ddof0"] = res["variance"]
    res["variance"] = res["variance"] * n / (n - 1)
    res["vscore"] = v_score(n_sites, variance=res["variance"], energy=res["energy"], e_inf=0.0)
    res["model"] = f"{res['model']} {'x'.join(str(f) for f in res['netket_features'])}"
    return res


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0 or not (math.isfinite(a) and math.isfinite(b)):
        return None
    return a / b


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.threads is not None:
        limit_threads(args.threads)  # before anything imports jax / netket
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None

    base = QUICK if args.quick else FULL
    cfg = {
        "sizes": _parse_sizes(args.sizes) if args.sizes else base["sizes"],
        "n_steps": args.steps if args.steps is not None else base["n_steps"],
        "n_samples": args.samples if args.samples is not None else base["n_samples"],
        "final_samples": (args.final_samples if args.final_samples is not None
                          else base["final_samples"]),
        "hidden": args.hidden,
        "lr": args.lr,
        "lr_final": args.lr_final,
        "schedule": args.schedule,
        "seed": args.seed,
    }
    if cfg["n_steps"] < 2:
        raise SystemExit("--steps must be >= 2 (the first step is timed apart)")
    if cfg["n_samples"] < 2 or cfg["final_samples"] < 2 or cfg["hidden"] < 1:
        raise SystemExit("--samples and --final-samples must be >= 2, --hidden >= 1")
    if cfg["schedule"] == "cosine" and not 0 < cfg["lr_final"] <= cfg["lr"]:
        raise SystemExit("--lr-final must be in (0, --lr]")

    import torch

    from physrnn.baselines.quantum.analytic import tfim_chain_energy
    from physrnn.wavefunctions import RNNWavefunction1D

    if args.threads is None and torch.get_num_threads() > 1 and load_before is not None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        if load_before[0] > (cores or 1) - 0.5:
            print(f"# warning: load average {load_before[0]:.1f} on {cores} cores and torch uses "
                  f"{torch.get_num_threads()} threads: its OpenMP threads may spin-wait and run "
                  "10-100x slower; consider --threads 1", file=sys.stderr, flush=True)

    schedule_text = (f"cosine {cfg['lr']:g} -> {cfg['lr_final']:g}" if cfg["schedule"] == "cosine"
                     else f"constant {cfg['lr']:g}")
    print(f"# TFIM chain, h = {H_FIELD:g}, {BOUNDARY} boundaries; Adam lr {schedule_text} on "
          f"both codes; {cfg['n_samples']} samples/step, {cfg['n_steps']} steps; final "
          f"estimate from {cfg['final_samples']} samples; torch threads "
          f"{torch.get_num_threads()}, --threads {args.threads}", flush=True)

    rows: list[dict[str, Any]] = []
    ratios: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    for n_sites in cfg["sizes"]:
        exact = tfim_chain_energy(n_sites, h=H_FIELD, boundary=BOUNDARY)
        n_ours = RNNWavefunction1D(n_sites, hidden_size=cfg["hidden"], n_layers=N_LAYERS,
                                   cell=CELL).n_parameters
        features, n_theirs = _match_netket_features(n_sites, n_ours, cfg["hidden"])
        if abs(n_theirs - n_ours) > 0.2 * n_ours:
            print(f"# warning: N = {n_sites}: NetKet has {n_theirs} parameters, physrnn "
                  f"{n_ours} (more than 20% apart)", file=sys.stderr)

        side_rows = {}
        for side in ("physrnn", "netket"):
            print(f"# N = {n_sites}: {side} ...", file=sys.stderr, flush=True)
            if side == "physrnn":
                res = _run_physrnn(n_sites, cfg)
            else:
                res = _run_netket(n_sites, features, cfg)
            res.update({
                "side": side,
                "n_sites": n_sites,
                "h": H_FIELD,
                "boundary": BOUNDARY,
                "n_steps": cfg["n_steps"],
                "n_samples": cfg["n_samples"],
                "exact": exact,
                "rel_error": (res["energy"] - exact) / abs(exact),
                "rel_error_err": res["error"] / abs(exact),
                "lr": cfg["lr"],
                "lr_schedule": cfg["schedule"],
                "lr_final": cfg["lr_final"] if cfg["schedule"] == "cosine" else None,
            })
            side_rows[side] = res
            rows.append(res)
            print(f"#   E = {res['energy']:.6f} +- {res['error']:.1e} (exact {exact:.6f}), "
                  f"rel. error {res['rel_error']:.2e}, {res['samples_per_s']:.0f} samples/s",
                  file=sys.stderr, flush=True)

        ours, theirs = side_rows["physrnn"], side_rows["netket"]
        ratios.append({
            "n_sites": n_sites,
            "param_ratio": _ratio(ours["n_parameters"], theirs["n_parameters"]),
            "speed_ratio": _ratio(ours["samples_per_s"], theirs["samples_per_s"]),
            "wall_ratio": _ratio(ours["wall_s"], theirs["wall_s"]),
            "rel_error_ratio": _ratio(ours["rel_error"], theirs["rel_error"]),
            "vscore_ratio": _ratio(ours["vscore"], theirs["vscore"]),
        })
    total_s = time.perf_counter() - t_start
    load_after = os.getloadavg() if hasattr(os, "getloadavg") else None

    print()
    print(markdown_table(rows, ROW_COLUMNS))
    print()
    print("Ratios physrnn / NetKet (samples/s > 1: physrnn faster; rel. error and V-score < 1: "
          "physrnn closer to the ground state):")
    print()
    print(markdown_table(ratios, RATIO_COLUMNS))
    print()
    print_footer(total_s, load_before, load_after, args.quick)

    if args.json is not None:
        machine = machine_info()
        version_keys = VMC_VERSION_KEYS
        payload = {
            "benchmark": "vmc_chain",
            "question": "TFIM chain h = 1 (open): accuracy and speed of physrnn's GRU "
                        "wavefunction beside NetKet's FastGRUNet1D at equal VMC budget",
            "quick": bool(args.quick),
            "settings": {
                **cfg,
                "h": H_FIELD,
                "J": 1.0,
                "boundary": BOUNDARY,
                "cell": CELL,
                "n_layers": N_LAYERS,
                "threads": args.threads,
                "optimizer": "Adam, plain VMC gradient (no SR), same lr and schedule on both",
                "energy_units": "total energy, Pauli matrices, J = 1",
                "rel_error": "(E - E0) / |E0|",
                "vscore": "N Var(E_loc) / E^2 (E_inf = 0), Var with ddof = 1",
                "samples_per_s": "n_samples * (n_steps - 1) / time of steps 2..n_steps",
                "wall_s": "whole training loop (NetKet: including the JIT compile)",
                "load_average_before": load_before,
                "load_average_after": load_after,
                "total_s": total_s,
            },
            "rows": rows,
            "ratios": ratios,
            "machine": machine,
            "versions": {k: machine.get(k) for k in version_keys},
        }
        dest = write_json(args.json, payload)
        print(f"wrote {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
