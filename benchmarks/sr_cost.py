"""Cost of natural gradient: one VMC step with minSR beside one with Adam, same model and samples.

Question: how much longer is a full VMC step (exact sampling, local energies, gradient,
parameter update) with stochastic reconfiguration in sample space (``SRStep(mode="minsr")``:
per-sample ``d log psi / d theta``, the ``(n, n)`` kernel, a Cholesky solve) than with Adam on
the plain energy gradient, for the systems of ``benchmarks/reproduce_rnn_wavefunctions.py``:
the Heisenberg chain N = 100 (``RNNWavefunction1D``, GRU) and the Heisenberg 4x4 square, open
boundaries (``RNNWavefunction2D``, 2D GRU, U(1) sector M = 0), both Marshall-rotated, hidden
size 64, 500 samples, float32, one thread? The goal is a minSR step at most 2x an Adam step.

Timings (seconds): the two drivers are built on the same model size and seed, warmed up by one
untimed step each (which also checks the outer-product Jacobian once, see
``physrnn.vmc.jacobian.outer_verified``), then ``--steps`` rounds alternate one Adam step and
one minSR step, so both see the same load on a shared machine; the table gives the best of
the rounds (medians and every time are kept in the JSON). The breakdown columns time the
parts of a minSR step on one batch of samples: ``jacobian`` (``per_sample_log_psi_grads``
with ``--jacobian``), ``solve`` (``SRStep.solve``: centring, the kernel ``X X^T``, Cholesky,
``X^T y``) and, for Adam, ``gradient`` (the surrogate loss backward).

``--jacobian`` picks the per-sample gradient method of the minSR driver: ``auto`` (default;
the outer-product form where it applies), ``outer``, ``vmap``, ``jacrev`` or ``loop``. Run
against a checkout from before the outer-product form, the option is ignored (``auto`` was
then ``vmap`` or ``jacrev``).

Run::

    python benchmarks/sr_cost.py --quick                      # ~1 min smoke check
    python benchmarks/sr_cost.py --threads 1 --json benchmarks/results/sr_cost-$(date +%F).json

Options ``--systems``, ``--hidden``, ``--samples``, ``--steps``, ``--jacobian``, ``--seed``
override the defaults.
"""

from __future__ import annotations

import inspect
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (  # noqa: E402
    base_parser,
    limit_threads,
    machine_info,
    markdown_table,
    print_footer,
    write_json,
)

SYSTEMS = {"chain": "heisenberg chain N=100", "square": "heisenberg 4x4 obc"}
FULL = {"hidden": 64, "samples": 500, "steps": 5, "chain_sites": 100}
QUICK = {"hidden": 16, "samples": 100, "steps": 2, "chain_sites": 20}

COLUMNS = [
    ("system", "system"),
    ("n_parameters", "parameters"),
    ("n_samples", "samples"),
    ("jacobian", "Jacobian method"),
    ("adam_step_s", "Adam step s", ".3g"),
    ("minsr_step_s", "minSR step s", ".3g"),
    ("ratio", "minSR / Adam", ".2f"),
    ("gradient_s", "gradient s", ".3g"),
    ("jacobian_s", "Jacobian s", ".3g"),
    ("solve_s", "solve s", ".3g"),
]


def _parser() -> Any:
    p = base_parser(__doc__.split("\n\n")[0])
    p.add_argument("--systems", default="chain,square",
                   help="comma-separated: chain (Heisenberg chain), square (Heisenberg 4x4)")
    p.add_argument("--hidden", type=int, default=None, help="hidden size d_h")
    p.add_argument("--samples", type=int, default=None, help="samples per step")
    p.add_argument("--steps", type=int, default=None, help="timed rounds (Adam + minSR each)")
    p.add_argument("--jacobian", default="auto",
                   choices=("auto", "outer", "vmap", "jacrev", "loop"),
                   help="per_sample_log_psi_grads method of the minSR driver")
    p.add_argument("--seed", type=int, default=0)
    return p


def _build(system: str, cfg: dict[str, Any], seed: int) -> tuple[Any, Any]:
    """``(spin system, fresh model)`` of a row."""
    from physrnn.spins.chains import heisenberg_chain
    from physrnn.spins.lattices import heisenberg_square
    from physrnn.wavefunctions import RNNWavefunction1D
    from physrnn.wavefunctions.rnn2d import RNNWavefunction2D

    if system == "chain":
        n = cfg["chain_sites"]
        return (heisenberg_chain(n, boundary="open", marshall_sign=True),
                RNNWavefunction1D(n, hidden_size=cfg["hidden"], seed=seed))
    return (heisenberg_square(4, 4, boundary="open", marshall_sign=True),
            RNNWavefunction2D(4, 4, hidden_size=cfg["hidden"], magnetisation=0, seed=seed))


def _sr_step(jacobian: str) -> Any:
    from physrnn.vmc.sr import SRStep

    kwargs: dict[str, Any] = {"diag_shift": 1e-3, "mode": "minsr", "solver": "cholesky"}
    if "jacobian" in SRStep.__dataclass_fields__:
        kwargs["jacobian"] = jacobian
    return SRStep(**kwargs)


def _timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run_row(system: str, cfg: dict[str, Any], *, jacobian: str, seed: int) -> dict[str, Any]:
    """One system: alternate Adam and minSR steps, then time the parts of a minSR step."""
    import torch

    from physrnn.vmc import VMC
    from physrnn.vmc.estimators import local_energies
    from physrnn.vmc.sr import per_sample_log_psi_grads

    spins, adam_model = _build(system, cfg, seed)
    _, sr_model = _build(system, cfg, seed)
    sr = _sr_step(jacobian)
    adam = VMC(spins.operator, adam_model, n_samples=cfg["samples"], seed=seed,
               optimizer=torch.optim.Adam(adam_model.parameters(), lr=1e-3))
    minsr = VMC(spins.operator, sr_model, n_samples=cfg["samples"], seed=seed, sr=sr,
                optimizer=torch.optim.SGD(sr_model.parameters(), lr=1e-3))
    adam.step()
    minsr.step()
    times: dict[str, list[float]] = {"adam": [], "minsr": []}
    for _ in range(cfg["steps"]):
        times["adam"].append(_timed(adam.step))
        times["minsr"].append(_timed(minsr.step))
    # the parts, on one batch of the minSR model's samples
    s, cache = minsr.sample(cfg["samples"], torch.Generator().manual_seed(seed + 1))
    e_loc = local_energies(sr_model, minsr.operator, s, cache=cache)
    parts: dict[str, list[float]] = {"gradient": [], "jacobian": [], "solve": []}
    method = getattr(sr, "jacobian", "auto")
    # the driver lets the solve centre its fresh Jacobian in place, where the code can
    own = {"overwrite": True} if "overwrite" in inspect.signature(sr.solve).parameters else {}
    # and writes the Jacobian into a buffer kept between steps, where the code does
    buffer = {}
    if "out" in inspect.signature(per_sample_log_psi_grads).parameters:
        buffer["out"] = torch.empty(cfg["samples"], sr_model.n_parameters, dtype=torch.complex128
                                    if sr_model.is_complex else torch.float64)
    centred = e_loc - e_loc.mean()
    for _ in range(max(2, cfg["steps"] // 2)):
        sr_model.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        minsr.surrogate_backward(s, centred)
        t1 = time.perf_counter()
        jac = per_sample_log_psi_grads(sr_model, s, chunk_size=sr.chunk_size, method=method,
                                       **buffer)
        t2 = time.perf_counter()
        sr.solve(jac, e_loc, **own)
        t3 = time.perf_counter()
        for key, dt in (("gradient", t1 - t0), ("jacobian", t2 - t1), ("solve", t3 - t2)):
            parts[key].append(dt)
    best = {k: min(v) for k, v in times.items()}
    row = {"system": (f"heisenberg chain N={cfg['chain_sites']}" if system == "chain"
                      else SYSTEMS[system]),
           "n_parameters": sr_model.n_parameters, "n_samples": cfg["samples"],
           "hidden": cfg["hidden"], "jacobian": method,
           "adam_step_s": best["adam"], "minsr_step_s": best["minsr"],
           "ratio": best["minsr"] / best["adam"],
           "adam_step_median_s": statistics.median(times["adam"]),
           "minsr_step_median_s": statistics.median(times["minsr"]),
           "adam_steps_s": times["adam"], "minsr_steps_s": times["minsr"]}
    row.update({f"{k}_s": min(v) for k, v in parts.items()})
    return row


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    base = QUICK if args.quick else FULL
    cfg = dict(base)
    for key in ("hidden", "samples", "steps"):
        if getattr(args, key) is not None:
            cfg[key] = int(getattr(args, key))
    systems = [x.strip() for x in args.systems.split(",") if x.strip()]
    unknown = [x for x in systems if x not in SYSTEMS]
    if unknown or cfg["steps"] < 1 or cfg["samples"] < 2:
        raise SystemExit(f"--systems from {sorted(SYSTEMS)} (got {unknown}), --steps >= 1, "
                         f"--samples >= 2")
    threads = args.threads or 1
    limit_threads(threads)
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"# minSR vs Adam VMC step: d_h {cfg['hidden']}, {cfg['samples']} samples, float32, "
          f"{threads} thread(s); best of {cfg['steps']} alternating rounds after one warm-up "
          f"step each", flush=True)
    t0 = time.perf_counter()
    rows = [run_row(name, cfg, jacobian=args.jacobian, seed=args.seed) for name in systems]
    print(markdown_table(rows, COLUMNS))
    print_footer(time.perf_counter() - t0, load_before,
                 os.getloadavg() if hasattr(os, "getloadavg") else None, args.quick)
    if args.json is not None:
        dest = write_json(args.json, {"rows": rows, "machine": machine_info(import_jax=False),
                                      "settings": {**cfg, "threads": threads,
                                                   "jacobian": args.jacobian,
                                                   "seed": args.seed, "quick": args.quick}})
        print(f"wrote {dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
