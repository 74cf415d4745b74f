"""Exact autoregressive sampling against Markov-chain VMC, same Hamiltonian, samples and budget.

Question: what does physrnn's exact sampling of an RNN wavefunction buy over the usual
Markov-chain variational Monte Carlo (NetKet's RBM and Jastrow states under Metropolis, trained
by stochastic reconfiguration), and over the same RNN sampled by Metropolis chains?

Every method of a row gets the same Hamiltonian (physrnn's operator; for NetKet's exchange
sampler the same Heisenberg model on the S^z = 0 space), the same samples per step
(``--samples``) and the same wall-clock budget (``--budget-s``, compilation included); then one
final estimate from ``--final-samples`` fresh samples of its own sampler. Columns: energy +-
error (the error includes the integrated autocorrelation time of the chains), relative error
to the reference, V-score ``N Var(E) / E^2``, integrated autocorrelation time of the local
energies (Geyer, :func:`physrnn.metrics.chain_statistics`; 1 for exact sampling by
construction, measured anyway on the sample order), split R-hat over the chains, effective
samples per second of the final estimate, steps done in the budget, wall time.

Methods:

- ``rnn``: physrnn's RNN (1D GRU on chains, 2D GRU on square lattices with ``M = 0``), exact
  sampling, Adam (lr 2e-3, constant).
- ``rnn_mcmc``: the same model and optimiser, samples from :class:`physrnn.vmc.MetropolisSampler`
  (16 chains, one sweep between samples; exchange moves for Heisenberg, flips for the TFIM).
- ``rbm1`` / ``rbm2`` / ``jastrow``: ``nk.vqs.MCState`` with ``nk.models.RBM(alpha=1|2)`` /
  ``nk.models.Jastrow()`` (real float64 parameters), ``MetropolisLocal`` (TFIM) or
  ``MetropolisExchange`` on the graph (Heisenberg, ``total_sz = 0``), 16 chains,
  ``nk.driver.VMC_SR`` with SGD lr 0.01 and diagonal shift 0.01 (the kernel form of minSR when
  parameters outnumber samples).

Rows: TFIM chain N = 100 at h = 1 (open; closed form), Heisenberg chain N = 100 (open; DMRG
-44.1277398933), Heisenberg 6x6 and 10x10 open (QMC through physrnn's ALPS translation; the
10x10 also against the published -251.46248 / 4). The Heisenberg operators are
Marshall-rotated (stoquastic), so a positive state can represent the ground state.

Run::

    python benchmarks/compare_mc.py --quick
    python benchmarks/compare_mc.py --threads 1 --rows tfim100,heis100 \\
        --json benchmarks/results/compare_mc-$(date +%F)-$(hostname)-a.json
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

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

ROWS = {
    "tfim100": {"model": "tfim", "lattice": "chain", "n_sites": 100, "h": 1.0},
    "heis100": {"model": "heisenberg", "lattice": "chain", "n_sites": 100},
    "heis6x6": {"model": "heisenberg", "lattice": "square", "Lx": 6, "Ly": 6},
    "heis10x10": {"model": "heisenberg", "lattice": "square", "Lx": 10, "Ly": 10},
}
QUICK_ROWS = {
    "tfim16": {"model": "tfim", "lattice": "chain", "n_sites": 16, "h": 1.0},
    "heis4x4": {"model": "heisenberg", "lattice": "square", "Lx": 4, "Ly": 4},
}
METHODS = ("rnn", "rnn_mcmc", "rbm1", "rbm2", "jastrow")
N_CHAINS = 16

COLUMNS = [("row", "system"), ("method", "method"), ("energy_text", "energy +- error"),
           ("rel_error", "rel. error", ".2e"), ("v_score", "V-score", ".2e"),
           ("tau_int", "tau_int", ".2f"), ("rhat", "split R-hat", ".3f"),
           ("ess_per_s", "ESS / s (final)", ".0f"), ("steps", "steps"),
           ("train_s", "train s", ".0f"), ("n_parameters", "params"),
           ("reference_kind", "reference")]


def build_system(spec: dict):
    from physrnn.config import load_config
    from physrnn.spins import build_system as build
    from physrnn.vmc.config import VMCRunConfig

    cfg = load_config(None, cls=VMCRunConfig, overrides=system_overrides(spec))
    return cfg, build(cfg.system)


def system_overrides(spec: dict) -> list[str]:
    """``--set`` strings of a row's ``[system]``."""
    return [f'system.{k}="{v}"' if isinstance(v, str) else f"system.{k}={v}"
            for k, v in spec.items()]


def reference(system, *, qmc_budget_s: float):
    from physrnn.baselines.quantum.reference import Reference, reference_energy

    if system.describe().startswith("heisenberg square 10x10 N=100 open"):
        return Reference(-251.46248 / 4, "published", "SSE (varbench, PRB 90, 064425)")
    return reference_energy(system, qmc="run", qmc_budget_s=qmc_budget_s, seed=1)


def final_stats(e_loc, n_sites: int, ref: float | None, seconds: float) -> dict:
    """Energy, error with tau, V-score, R-hat and ESS/s of ``(chains, per_chain)`` energies."""
    import numpy as np

    from physrnn.metrics.autocorrelation import chain_statistics

    e = np.asarray(e_loc, dtype=np.float64)
    st = chain_statistics(e)
    out = {"energy": st.mean, "error": st.error, "variance": st.variance,
           "tau_int": st.tau_int, "rhat": st.rhat, "n_final": st.n_samples,
           "ess_per_s": st.n_effective / seconds if seconds > 0 else None,
           "v_score": n_sites * st.variance / st.mean ** 2 if st.mean else None,
           "energy_text": f"{st.mean:.5f} +- {st.error:.1e}"}
    if ref is not None:
        out["rel_error"] = abs(st.mean - ref) / abs(ref)
    return out


def run_physrnn(spec: dict, system, *, mcmc: bool, samples: int, budget_s: float, final: int,
                seed: int, ref: float | None) -> dict:
    import torch

    from physrnn.config import load_config
    from physrnn.vmc.config import VMCRunConfig
    from physrnn.vmc.estimators import local_energies
    from physrnn.vmc.factory import build_vmc
    from physrnn.vmc.metropolis import MetropolisSampler

    over = [f"vmc.n_samples={samples}", "vmc.lr=2e-3", "vmc.lr_schedule=\"constant\"",
            "vmc.n_steps=1000000", f"run.seed={seed}"]
    if spec["lattice"] == "square":
        over += ["wavefunction.kind=\"rnn2d\"", "wavefunction.magnetisation=0"]
    config = load_config(None, cls=VMCRunConfig, overrides=system_overrides(spec) + over)
    driver = build_vmc(config, system, torch.device("cpu"))
    if mcmc:
        heis = system.name != "tfim"
        driver.sampler = MetropolisSampler(
            N_CHAINS, moves="exchange" if heis else "flip",
            edges=list(system.graph.edges()) if heis else None, burn_in=20, seed=seed)
    t0 = time.perf_counter()
    steps = 0
    while time.perf_counter() - t0 < budget_s:
        driver.step()
        steps += 1
    train_s = time.perf_counter() - t0
    gen = torch.Generator().manual_seed(seed + 99)
    t1 = time.perf_counter()
    n_fin = (final // N_CHAINS) * N_CHAINS
    s, cache = driver.sample(n_fin, gen)
    e = local_energies(driver.model, driver.operator, s, cache=cache).real.double()
    secs = time.perf_counter() - t1
    chains = e.reshape(N_CHAINS, -1).numpy()   # exact samples: any split into chains
    out = final_stats(chains, system.n_sites, ref, secs)
    out.update(steps=steps, train_s=train_s, n_parameters=driver.model.n_parameters,
               acceptance=getattr(driver.sampler, "acceptance", None),
               settings="exact sampling" if not mcmc else
               f"Metropolis {driver.sampler.moves}, {N_CHAINS} chains, 1 sweep between samples")
    return out


def run_netket(system, kind: str, *, samples: int, budget_s: float, final: int, seed: int,
               ref: float | None) -> dict:
    import jax
    import netket as nk
    import numpy as np

    heis = system.name != "tfim"
    graph = system.graph
    if heis:
        hi = nk.hilbert.Spin(0.5, N=system.n_sites, total_sz=0)
        J = system.params.get("J", system.params.get("J1", 1.0))
        # NetKet's Heisenberg is Pauli (4x S units) with the Marshall rule on bipartite graphs
        op = nk.operator.Heisenberg(hi, graph, J=0.25 * J,
                                    sign_rule=bool(system.params.get("marshall_sign", True)))
        sampler = nk.sampler.MetropolisExchange(hi, graph=graph, n_chains=N_CHAINS)
    else:
        hi, op = system.hilbert, system.operator
        sampler = nk.sampler.MetropolisLocal(hi, n_chains=N_CHAINS)
    model = {"rbm1": lambda: nk.models.RBM(alpha=1, param_dtype=float),
             "rbm2": lambda: nk.models.RBM(alpha=2, param_dtype=float),
             "jastrow": lambda: nk.models.Jastrow(param_dtype=float)}[kind]()
    vs = nk.vqs.MCState(sampler, model, n_samples=samples, seed=seed, sampler_seed=seed + 1)
    n_par = int(vs.n_parameters)
    driver = nk.driver.VMC_SR(op, nk.optimizer.Sgd(learning_rate=0.01), diag_shift=0.01,
                              variational_state=vs, use_ntk=n_par > samples)
    t0 = time.perf_counter()
    steps = 0
    while time.perf_counter() - t0 < budget_s:
        driver.run(n_iter=1, show_progress=False)
        steps += 1
    train_s = time.perf_counter() - t0
    vs.n_samples = (final // N_CHAINS) * N_CHAINS
    t1 = time.perf_counter()
    vs.sample()
    loc = vs.local_estimators(op)
    e = np.asarray(jax.block_until_ready(getattr(loc, "data", loc))).real
    secs = time.perf_counter() - t1
    out = final_stats(e.reshape(N_CHAINS, -1), system.n_sites, ref, secs)
    out.update(steps=steps, train_s=train_s, n_parameters=n_par,
               settings=f"{type(sampler).__name__}, {N_CHAINS} chains, VMC_SR lr 0.01, "
                        f"shift 0.01{', NTK' if n_par > samples else ''}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--rows", default=None, help=f"comma-separated from {', '.join(ROWS)}")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--samples", type=int, default=512, help="samples per step, every method")
    p.add_argument("--final-samples", type=int, default=4096)
    p.add_argument("--budget-s", type=float, default=None,
                   help="training wall budget per method (default 240 s, quick 8 s)")
    p.add_argument("--qmc-budget-s", type=float, default=900.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.threads:
        limit_threads(args.threads)
    table = QUICK_ROWS if args.quick else ROWS
    keys = args.rows.split(",") if args.rows else list(table)
    rows_all = {**ROWS, **QUICK_ROWS}
    unknown = [k for k in keys if k not in rows_all]
    methods = [m for m in args.methods.split(",") if m]
    if unknown or any(m not in METHODS for m in methods):
        raise SystemExit(f"rows from {', '.join(rows_all)}; methods from {', '.join(METHODS)}")
    budget = args.budget_s or (8.0 if args.quick else 240.0)
    samples = 128 if args.quick else args.samples
    final = 512 if args.quick else args.final_samples
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    rows = []
    for key in keys:
        _, system = build_system(rows_all[key])
        ref = reference(system, qmc_budget_s=60.0 if args.quick else args.qmc_budget_s)
        print(f"{system.describe()}: reference {None if ref is None else ref.energy} "
              f"({None if ref is None else ref.kind})", flush=True)
        for m in methods:
            kw = {"samples": samples, "budget_s": budget, "final": final, "seed": args.seed,
                  "ref": None if ref is None else ref.energy}
            if m.startswith("rnn"):
                r = run_physrnn(rows_all[key], system, mcmc=m == "rnn_mcmc", **kw)
            else:
                r = run_netket(system, m, **kw)
            r.update(row=system.describe().split(" (")[0], key=key, method=m,
                     reference=None if ref is None else ref.energy,
                     reference_kind=None if ref is None else ref.kind,
                     reference_source=None if ref is None else ref.source)
            rows.append(r)
            print(f"  {m}: {r['energy_text']}, rel {r.get('rel_error', math.nan):.2e}, tau "
                  f"{r['tau_int']:.2f}, {r['steps']} steps", flush=True)
    print()
    print(markdown_table(rows, COLUMNS))
    print_footer(time.perf_counter() - t0, load0, os.getloadavg(), args.quick)
    if args.json:
        write_json(args.json, {"benchmark": "compare_mc", "quick": bool(args.quick),
                               "rows": rows, "settings": {
                                   "budget_s": budget, "samples": samples, "final": final,
                                   "methods": methods, "rows": keys, "n_chains": N_CHAINS,
                                   "seed": args.seed},
                               "machine": machine_info()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
