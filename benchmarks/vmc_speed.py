"""Speed of one VMC step: physrnn beside NetKet on the same model size, samples and machine.

Question: how long do exact sampling, the local energies and a full optimisation step take in
physrnn (``RNNWavefunction1D``, compiled torch operators, cached sampling, prefix-reusing local
energies) and in NetKet 3.23 (``nkx.models.FastGRUNet1D`` / ``FastLSTMNet`` sampled by
``ARDirectSampler``, ``MCState.local_estimators`` and one ``nk.driver.VMC`` Adam step), for the
transverse-field Ising chain (h = 1, Pauli matrices) and the Heisenberg chain (S = sigma / 2,
Marshall-sign rotated), open boundaries, at N = 20, 100, 400, hidden size 32 and 64, 1024
samples, in float32 and in float64?

Models: physrnn has ``--layers`` recurrent layers of width ``--hidden`` and a dense softmax
head; NetKet gets ``layers = --layers + 1`` with ``features = --hidden`` (its last recurrent
layer has 2 features and replaces the head; ``benchmarks/_netket_peer.py``). Both parameter
counts are printed. Parameters are in the row's dtype on both sides; NetKet keeps JAX's x64
mode, so its local energies are float64, like physrnn's (float64 accumulation).

NetKet's chunking: by default (``--netket-chunk-size auto``) NetKet evaluates the local
energies and gradients in chunks of samples (``MCState.chunk_size``) of about 26,000 connected
configurations (256 samples at N = 100, 64 at N = 400, none at N = 20). On this machine that
is NetKet's fastest setting (about 2x faster than everything at once at N = 100) and the only
one that fits in memory at N = 400. It needs ``_netket_peer.enable_netket_chunking`` (a JAX
type check that rejects NetKet's chunked RNN evaluation is switched off; results unchanged).
``--netket-chunk-size none`` measures NetKet's default (no chunking).

Timings (seconds, the best of ``--steps`` rounds after one untimed warm-up call that also
compiles NetKet's JAX functions; the rounds alternate physrnn and NetKet, so that both see the
same load on a shared machine; medians and every time are kept in the JSON): ``sample``
draws ``--samples`` exact samples; ``local energy`` evaluates the local energies of one batch
of samples (NetKet: its own connected elements and a full evaluation of every padded
connected configuration; physrnn: the compiled operator, the per-site states of the samples
and the prefix-reusing suffixes);
``step`` is one full VMC step (sampling, local energies, gradient, Adam update). Speedups are
NetKet time / physrnn time (> 1: physrnn faster), at the same dtype. ``peak MiB`` is the
largest increase of the resident memory during one extra, untimed step, sampled every 2 ms
(for that step only, glibc unmaps blocks of 64 KiB and more on free, so that the resident size
follows the memory in use; while timing, blocks below 32 MiB are reused, for both codes); on
CUDA, physrnn's is ``torch.cuda.max_memory_allocated`` above the memory in use before it.

Energy check (``--energy-steps``, default 100, at N = ``--energy-size``, default 20): both
codes are optimised from their own initialisation with Adam (constant ``--lr``) for the same
number of steps and samples; the final energies from ``--final-samples`` fresh exact samples
are compared with each other (difference over the combined standard error) and with the exact
ground-state energy.

Threads: ``--threads 1`` limits torch, BLAS and XLA to one thread each (set before jax is
imported): one core each, the fair setting on a machine shared with other work.
``--threads 2`` (on a 2-core machine: the whole CPU) lets torch use 2 intra-op threads and
restricts the process to 2 cores, from which XLA sizes its thread pool; run it on an otherwise
idle machine, since oversubscribed threads slow both codes down unevenly.

Run::

    python benchmarks/vmc_speed.py --quick                  # N = 20, ~1 min, smoke check
    python benchmarks/vmc_speed.py --threads 2 --sizes 20,100 \\
        --json benchmarks/results/vmc_speed-$(date +%F)-cpu2-threads2.json
    python benchmarks/vmc_speed.py --device cuda ...        # physrnn on the GPU

Options ``--sizes``, ``--hidden``, ``--dtypes``, ``--models``, ``--cell``, ``--layers``,
``--samples``, ``--steps``, ``--energy-steps``, ``--energy-size``, ``--final-samples``,
``--lr``, ``--seed``, ``--device``, ``--no-memory`` override the defaults.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
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

FULL = {"sizes": (20, 100, 400), "hidden": (32, 64), "dtypes": ("float32", "float64"),
        "models": ("tfim", "heisenberg"), "steps": 3, "energy_steps": 100, "final": 10_000}
QUICK = {"sizes": (20,), "hidden": (16,), "dtypes": ("float32",), "models": ("tfim",),
         "steps": 2, "energy_steps": 20, "final": 2_000}

SPEED_COLUMNS = [
    ("model", "model"),
    ("lattice", "N or L x L"),
    ("hidden", "d_h"),
    ("dtype", "dtype"),
    ("params", "params physrnn / NetKet"),
    ("netket_chunk_size", "NetKet chunk"),
    ("physrnn_sample_s", "sample s physrnn", ".3g"),
    ("netket_sample_s", "sample s NetKet", ".3g"),
    ("physrnn_local_energy_s", "E_loc s physrnn", ".3g"),
    ("netket_local_energy_s", "E_loc s NetKet", ".3g"),
    ("physrnn_step_s", "step s physrnn", ".3g"),
    ("netket_step_s", "step s NetKet", ".3g"),
    ("sampling_speedup", "sampling speedup"),
    ("local_energy_speedup", "E_loc speedup"),
    ("step_speedup", "step speedup"),
    ("peak", "peak MiB physrnn / NetKet"),
]

ENERGY_COLUMNS = [
    ("model", "model"),
    ("n_sites", "N"),
    ("hidden", "d_h"),
    ("dtype", "dtype"),
    ("code", "code"),
    ("n_parameters", "parameters"),
    ("n_steps", "steps"),
    ("energy", "energy"),
    ("error", "error"),
    ("exact", "exact E0"),
    ("rel_error", "rel. error"),
    ("train_s", "train s", ".3g"),
    ("difference_sigma", "|E_physrnn - E_NetKet| / sigma"),
]


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------


def _mallopt(mmap_threshold: int, trim_threshold: int) -> None:
    """Set glibc's mmap and trim thresholds (bytes) and give free heap memory back."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, mmap_threshold)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, trim_threshold)  # M_TRIM_THRESHOLD
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the peak is then a lower bound
        pass


#: Thresholds while timing (both codes): blocks below 32 MiB are reused from the heap, as with
#: glibc's own dynamic threshold after warm-up, so no page faults are timed.
_TIMING_MALLOC = (32 << 20, 64 << 20)
#: Thresholds while measuring memory: blocks >= 64 KiB are unmapped on free, so the resident
#: size follows the memory in use.
_MEMORY_MALLOC = (64 << 10, 64 << 10)


class PeakRSS:
    """Largest increase of the resident set size inside a ``with`` block (bytes).

    The resident size is sampled every ``interval_s`` by a thread; glibc is switched to
    :data:`_MEMORY_MALLOC` inside the block and back to :data:`_TIMING_MALLOC` after it.
    """

    def __init__(self, interval_s: float = 0.002) -> None:
        import psutil

        self._proc = psutil.Process()
        self._interval = interval_s
        self.peak = 0

    def __enter__(self) -> PeakRSS:
        _mallopt(*_MEMORY_MALLOC)
        self._base = self._proc.memory_info().rss
        self._top = self._base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self._top = max(self._top, self._proc.memory_info().rss)
            time.sleep(self._interval)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._top = max(self._top, self._proc.memory_info().rss)
        self.peak = self._top - self._base
        _mallopt(*_TIMING_MALLOC)


def _interleaved(pairs: dict[str, tuple[Callable[[], Any], Callable[[], Any]]],
                 repeats: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Time ``(physrnn, netket)`` callables per metric: one untimed warm-up call each (NetKet:
    JIT compilation), then ``repeats`` rounds that alternate the two codes, so that both see
    the same load on a shared machine."""
    ours: dict[str, list[float]] = {}
    theirs: dict[str, list[float]] = {}
    for key, (fn_ours, fn_theirs) in pairs.items():
        fn_ours()
        fn_theirs()
        ours[key], theirs[key] = [], []
        for _ in range(repeats):
            for fn, out in ((fn_ours, ours[key]), (fn_theirs, theirs[key])):
                t0 = time.perf_counter()
                fn()
                out.append(time.perf_counter() - t0)
    return ours, theirs


#: models on an L x L square (``--sizes`` are then side lengths L)
SQUARE_MODELS = ("tfim_square", "heisenberg_square")
MODELS = ("tfim", "heisenberg", *SQUARE_MODELS)


def _build_operator(model: str, size: int):
    """The open chain of ``size`` sites, or the open ``size x size`` square."""
    from physrnn.spins.chains import heisenberg_chain, tfim_chain
    from physrnn.spins.lattices import heisenberg_square, tfim_square

    if model == "tfim":
        return tfim_chain(size, h=1.0, boundary="open")
    if model == "tfim_square":
        return tfim_square(size, size, h=3.0, boundary="open")
    if model == "heisenberg_square":
        return heisenberg_square(size, size, boundary="open", marshall_sign=True)
    return heisenberg_chain(size, boundary="open")


def _physrnn_side(system, hidden: int, dtype: str, args, device) -> tuple[Any, Any, Any]:
    import torch

    from physrnn.vmc import VMC, ConnectedOperator, make_optimizer
    from physrnn.wavefunctions import RNNWavefunction1D
    from physrnn.wavefunctions.rnn2d import RNNWavefunction2D

    if system.graph.ndim == 2:  # 2D GRU, the two previous neighbours, Sz = 0 for Heisenberg
        L = int(system.graph.extent[0])
        model = RNNWavefunction2D(L, L, hidden_size=hidden, cell="gru",
                                  magnetisation=0 if system.name == "xxz" else None,
                                  dtype=getattr(torch, dtype), seed=args.seed).to(device)
    else:
        model = RNNWavefunction1D(system.n_sites, hidden_size=hidden, n_layers=args.layers,
                                  cell=args.cell, dtype=getattr(torch, dtype),
                                  seed=args.seed).to(device)
    opt, _ = make_optimizer(model, lr=args.lr)
    operator = ConnectedOperator(system.operator)
    vmc = VMC(operator, model, n_samples=args.samples, optimizer=opt, seed=args.seed,
              e_inf=system.e_inf)
    return model, operator, vmc


def _physrnn_calls(system, hidden: int, dtype: str, args, device):
    """physrnn's model and the callables timed: sampling, local energies, one VMC step."""
    import torch

    from physrnn.vmc import local_energies

    model, operator, vmc = _physrnn_side(system, hidden, dtype, args, device)
    gen = torch.Generator(device=device).manual_seed(args.seed + 7)
    cuda = device.type == "cuda"

    def synced(fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            out = fn()
            if cuda:
                torch.cuda.synchronize(device)
            return out
        return run

    s = model.sample(args.samples, generator=gen)
    calls = {
        "sample_s": synced(lambda: model.sample(args.samples, generator=gen)),
        "local_energy_s": synced(lambda: local_energies(model, operator, s)),
        "step_s": synced(vmc.step),
    }
    return model, vmc, calls


def _physrnn_peak(vmc, device) -> int:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        vmc.step()
        torch.cuda.synchronize(device)
        return int(torch.cuda.max_memory_allocated(device) - before)
    with PeakRSS() as mem:
        vmc.step()
    return mem.peak


def _netket_chunk(system, args) -> int | None:
    from benchmarks._netket_peer import netket_chunk_size

    if args.netket_chunk_size == "none":
        return None
    if args.netket_chunk_size == "auto":
        return netket_chunk_size(args.samples, int(system.operator.max_conn_size))
    chunk = int(args.netket_chunk_size)
    return None if chunk >= args.samples else chunk


def _netket_calls(system, hidden: int, dtype: str, args):
    """NetKet's state, driver, chunk size and the callables timed."""
    from benchmarks._netket_peer import (
        build_netket_vmc,
        netket_local_energies,
        netket_sample,
        netket_step,
    )

    chunk = _netket_chunk(system, args)
    square = system.graph.ndim == 2
    vstate, driver, _ = build_netket_vmc(system.operator, hidden_size=hidden,
                                         n_layers=args.layers, cell=args.cell, dtype=dtype,
                                         n_samples=args.samples, lr=args.lr, seed=args.seed,
                                         chunk_size=chunk, graph=system.graph if square else None)
    calls = {
        "sample_s": lambda: netket_sample(vstate),
        "local_energy_s": lambda: netket_local_energies(vstate, system.operator),
        "step_s": lambda: netket_step(driver, 1),
    }
    return vstate, driver, chunk, calls


def _measure(system, hidden: int, dtype: str, args, device) -> tuple[dict, dict]:
    """Both codes on one setting: timings (interleaved), parameter counts, peak memory."""
    from benchmarks._netket_peer import netket_step

    model, vmc, calls_ours = _physrnn_calls(system, hidden, dtype, args, device)
    if args.no_netket:  # physrnn alone (e.g. on a GPU machine without NetKet's GPU backend)
        t_ours, _ = _interleaved({k: (fn, lambda: None) for k, fn in calls_ours.items()},
                                 args.steps)
        ours = {"n_parameters": model.n_parameters, **t_ours,
                "peak_bytes": None if args.no_memory else _physrnn_peak(vmc, device)}
        return ours, None
    vstate, driver, chunk, calls_theirs = _netket_calls(system, hidden, dtype, args)
    pairs = {key: (calls_ours[key], calls_theirs[key]) for key in calls_ours}
    t_ours, t_theirs = _interleaved(pairs, args.steps)
    ours = {"n_parameters": model.n_parameters, **t_ours, "peak_bytes": None}
    theirs = {"n_parameters": int(vstate.n_parameters), **t_theirs, "peak_bytes": None,
              "chunk_size": chunk}
    if not args.no_memory:
        ours["peak_bytes"] = _physrnn_peak(vmc, device)
        with PeakRSS() as mem:
            netket_step(driver, 1)
        theirs["peak_bytes"] = mem.peak
    return ours, theirs


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _speed_row(model: str, n_sites: int, hidden: int, dtype: str, ours: dict,
               theirs: dict | None, n_samples: int) -> dict[str, Any]:
    if theirs is None:  # --no-netket
        theirs = {"n_parameters": None, "peak_bytes": None,
                  **{k: [math.nan] for k in ("sample_s", "local_energy_s", "step_s")}}
    row: dict[str, Any] = {"model": model, "n_sites": n_sites, "hidden": hidden, "dtype": dtype,
                           "n_samples": n_samples,
                           "physrnn_parameters": ours["n_parameters"],
                           "netket_parameters": theirs["n_parameters"]}
    for side, res in (("physrnn", ours), ("netket", theirs)):
        for key in ("sample_s", "local_energy_s", "step_s"):
            row[f"{side}_{key}"] = min(res[key])
            row[f"{side}_{key}_median"] = statistics.median(res[key])
            row[f"{side}_{key}_all"] = res[key]
        row[f"{side}_samples_per_s"] = n_samples / row[f"{side}_sample_s"]
        row[f"{side}_local_energies_per_s"] = n_samples / row[f"{side}_local_energy_s"]
        row[f"{side}_steps_per_s"] = 1.0 / row[f"{side}_step_s"]
        peak = res["peak_bytes"]
        row[f"{side}_peak_mib"] = None if peak is None else peak / 2**20
    row["netket_chunk_size"] = theirs.get("chunk_size")
    row["sampling_speedup"] = _ratio(row["netket_sample_s"], row["physrnn_sample_s"])
    row["local_energy_speedup"] = _ratio(row["netket_local_energy_s"],
                                         row["physrnn_local_energy_s"])
    row["step_speedup"] = _ratio(row["netket_step_s"], row["physrnn_step_s"])
    row["step_speedup_median"] = _ratio(row["netket_step_s_median"],
                                        row["physrnn_step_s_median"])
    row["params"] = f"{row['physrnn_parameters']} / {row['netket_parameters']}"
    if row["physrnn_peak_mib"] is not None and row["netket_peak_mib"] is not None:
        row["peak"] = f"{row['physrnn_peak_mib']:.0f} / {row['netket_peak_mib']:.0f}"
    return row


BESIDE_COLUMNS = [
    ("model", "model"), ("lattice", "N or L x L"), ("hidden", "d_h"), ("dtype", "dtype"),
    ("physrnn_step_s", "step s physrnn, this run", ".3g"),
    ("beside_physrnn_step_s", "step s physrnn, beside", ".3g"),
    ("beside_netket_step_s", "step s NetKet, beside", ".3g"),
    ("beside_device", "beside: device"),
]


def _beside(paths: list[str], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """This run's physrnn step times beside those of earlier result files."""

    def key(row: dict[str, Any]) -> tuple:
        return (row.get("model"), row.get("n_sites"), row.get("hidden"), row.get("dtype"))

    theirs: dict[tuple, dict[str, Any]] = {}
    for path in paths:
        try:
            earlier = json.loads(Path(path).read_text())
        except (OSError, ValueError) as err:
            raise SystemExit(f"--beside: cannot read {path}: {err}") from None
        if not isinstance(earlier, dict) or earlier.get("benchmark") != "vmc_speed":
            raise SystemExit(f"--beside: {path} is not a vmc_speed result")
        settings = earlier.get("settings", {})
        label = (f"{settings.get('device', '?')}, --threads {settings.get('threads')} "
                 f"({Path(path).name})")
        for r in earlier.get("rows", []):
            theirs.setdefault(key(r), {**r, "label": label})
    out = []
    for row in rows:
        match = theirs.get(key(row), {})
        label = match.get("label")
        out.append({"model": row["model"], "lattice": row.get("lattice"),
                    "hidden": row["hidden"], "dtype": row["dtype"],
                    "physrnn_step_s": row["physrnn_step_s"],
                    "beside_physrnn_step_s": match.get("physrnn_step_s"),
                    "beside_netket_step_s": match.get("netket_step_s"),
                    "beside_device": label or "-"})
    return out


# --------------------------------------------------------------------------------------------
# Energy check
# --------------------------------------------------------------------------------------------


_REFERENCES: dict[tuple[str, int], float | None] = {}


def _energy_check(model: str, hidden: int, dtype: str, args, device) -> list[dict[str, Any]]:
    from benchmarks._netket_peer import build_netket_vmc, netket_final_energy, netket_step
    from physrnn.baselines.quantum.reference import reference_energy

    n = args.energy_size
    system = _build_operator(model, n)
    key = (model, n)
    if key not in _REFERENCES:
        ref = reference_energy(system)
        _REFERENCES[key] = None if ref is None else ref.energy
    exact = _REFERENCES[key]
    rows = []
    net, _, vmc = _physrnn_side(system, hidden, dtype, args, device)
    t0 = time.perf_counter()
    vmc.run(args.energy_steps, progress=False)
    train_s = time.perf_counter() - t0
    est = vmc.estimate(args.final_samples)
    rows.append({"code": "physrnn", "n_parameters": net.n_parameters, "energy": est.mean,
                 "error": est.error, "variance": est.variance, "train_s": train_s})
    vstate, driver, _ = build_netket_vmc(system.operator, hidden_size=hidden,
                                         n_layers=args.layers, cell=args.cell, dtype=dtype,
                                         n_samples=args.samples, lr=args.lr, seed=args.seed,
                                         chunk_size=_netket_chunk(system, args))
    t0 = time.perf_counter()
    netket_step(driver, args.energy_steps)
    train_s = time.perf_counter() - t0
    fin = netket_final_energy(vstate, system.operator, args.final_samples)
    rows.append({"code": "NetKet", "n_parameters": int(vstate.n_parameters),
                 "energy": fin["energy"], "error": fin["error"], "variance": fin["variance"],
                 "train_s": train_s})
    sigma = (rows[0]["error"] ** 2 + rows[1]["error"] ** 2) ** 0.5
    diff = abs(rows[0]["energy"] - rows[1]["energy"]) / sigma if sigma > 0 else None
    for row in rows:
        row.update({"model": model, "n_sites": n, "hidden": hidden, "dtype": dtype,
                    "n_steps": args.energy_steps, "n_samples": args.samples,
                    "final_samples": args.final_samples, "exact": exact,
                    "rel_error": None if exact is None else (row["energy"] - exact) / abs(exact),
                    "difference_sigma": diff})
    return rows


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _ints(text: str, name: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise SystemExit(f"--{name}: expected comma-separated integers, got {text!r}") from exc
    if not values or any(v < 1 for v in values):
        raise SystemExit(f"--{name}: expected positive integers, got {text!r}")
    return values


def _words(text: str, name: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    values = tuple(part.strip() for part in text.split(",") if part.strip())
    bad = [v for v in values if v not in allowed]
    if not values or bad:
        raise SystemExit(f"--{name}: choose from {allowed}, got {text!r}")
    return values


def _parser():
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=None, help="chain lengths (full: 20,100,400)")
    parser.add_argument("--hidden", default=None, help="hidden sizes (full: 32,64)")
    parser.add_argument("--dtypes", default=None, help="float32,float64 (full: both)")
    parser.add_argument("--models", default=None,
                        help="tfim,heisenberg (chains, full: both) and tfim_square, "
                             "heisenberg_square (L x L, open; --sizes are then L)")
    parser.add_argument("--cell", choices=("gru", "lstm"), default="gru",
                        help="recurrent cell on both sides (FastGRUNet1D / FastLSTMNet)")
    parser.add_argument("--layers", type=int, default=1,
                        help="physrnn recurrent layers (NetKet gets one more, 2 features)")
    parser.add_argument("--samples", type=int, default=1024, help="exact samples per step")
    parser.add_argument("--steps", type=int, default=None,
                        help=f"timed rounds per measurement after a warm-up "
                             f"(full: {FULL['steps']}; quick: {QUICK['steps']})")
    parser.add_argument("--energy-steps", type=int, default=None,
                        help=f"VMC steps of the energy check, 0 to skip (full: "
                             f"{FULL['energy_steps']}; quick: {QUICK['energy_steps']})")
    parser.add_argument("--energy-size", type=int, default=20, help="N of the energy check")
    parser.add_argument("--final-samples", type=int, default=None,
                        help=f"fresh samples for the final energies (full: {FULL['final']})")
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate (constant)")
    parser.add_argument("--seed", type=int, default=0, help="seed of both codes")
    parser.add_argument("--device", default="cpu",
                        help="physrnn's device: cpu, cuda, cuda:1 or auto (NetKet: JAX default)")
    parser.add_argument("--netket-chunk-size", default="auto",
                        help="NetKet's MCState.chunk_size in samples: 'auto' (about 26,000 "
                             "connected configurations per chunk, its fastest setting here), "
                             "'none' (NetKet's default: everything at once) or a number")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the extra step that measures peak memory")
    parser.add_argument("--no-netket", action="store_true",
                        help="time physrnn alone (NetKet columns empty, no energy check)")
    parser.add_argument("--beside", metavar="JSON", nargs="+", default=None,
                        help="earlier vmc_speed results (e.g. the CPU ones): their step times "
                             "of the same (model, N, d_h, dtype) are printed beside; the first "
                             "file with a match wins")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.threads is not None:
        limit_threads(args.threads)  # before anything imports jax / netket
    _mallopt(*_TIMING_MALLOC)
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    base = QUICK if args.quick else FULL
    sizes = _ints(args.sizes, "sizes") if args.sizes else base["sizes"]
    hiddens = _ints(args.hidden, "hidden") if args.hidden else base["hidden"]
    dtypes = (_words(args.dtypes, "dtypes", ("float32", "float64")) if args.dtypes
              else base["dtypes"])
    models = _words(args.models, "models", MODELS) if args.models else base["models"]
    args.steps = args.steps if args.steps is not None else base["steps"]
    args.energy_steps = (args.energy_steps if args.energy_steps is not None
                         else base["energy_steps"])
    args.final_samples = args.final_samples if args.final_samples is not None else base["final"]
    if args.netket_chunk_size not in ("auto", "none") and not args.netket_chunk_size.isdigit():
        raise SystemExit("--netket-chunk-size: 'auto', 'none' or a positive integer")
    if args.steps < 1 or args.samples < 2 or args.layers < 1 or min(sizes) < 2:
        raise SystemExit("--steps >= 1, --samples >= 2, --layers >= 1 and N >= 2 are needed")

    import torch

    from physrnn.distributed import resolve_device

    device = resolve_device(args.device)
    print(f"# physrnn on {device}; {args.samples} samples; {args.cell.upper()} with "
          f"{args.layers} layer(s) (NetKet {args.layers + 1}); timings: best of "
          f"{args.steps} alternating rounds after a warm-up; torch threads "
          f"{torch.get_num_threads()}, --threads {args.threads}", flush=True)

    rows: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    for model in models:
        for n_sites in sizes:
            system = _build_operator(model, n_sites)
            lattice = f"{n_sites}x{n_sites}" if model in SQUARE_MODELS else str(n_sites)
            for hidden in hiddens:
                for dtype in dtypes:
                    tag = f"{model} {lattice} d_h={hidden} {dtype}"
                    print(f"# {tag} ...", file=sys.stderr, flush=True)
                    ours, theirs = _measure(system, hidden, dtype, args, device)
                    row = _speed_row(model, system.n_sites, hidden, dtype, ours, theirs,
                                     args.samples)
                    row["lattice"] = lattice
                    rows.append(row)
                    print(f"#   step {row['physrnn_step_s']:.3f} s vs {row['netket_step_s']:.3f}"
                          f" s: speedup {row['step_speedup']:.2f}", file=sys.stderr, flush=True)

    beside = _beside(args.beside, rows) if args.beside else None
    energy_rows: list[dict[str, Any]] = []
    if args.energy_steps > 0 and not args.no_netket:
        for model in (m for m in models if m not in SQUARE_MODELS):
            for dtype in dtypes:
                hidden = hiddens[0]
                print(f"# energy check {model} N={args.energy_size} {dtype} ...",
                      file=sys.stderr, flush=True)
                energy_rows += _energy_check(model, hidden, dtype, args, device)
    total_s = time.perf_counter() - t_start
    load_after = os.getloadavg() if hasattr(os, "getloadavg") else None

    print()
    print(markdown_table(rows, SPEED_COLUMNS))
    print()
    print("Speedup = NetKet time / physrnn time at the same dtype (> 1: physrnn faster).")
    if beside is not None:
        print()
        print("Step times beside earlier results (same model, N, d_h, dtype):")
        print()
        print(markdown_table(beside, BESIDE_COLUMNS))
    if energy_rows:
        print()
        print(f"Energies after {args.energy_steps} Adam steps (lr {args.lr:g}, {args.samples} "
              f"samples/step), from {args.final_samples} fresh samples:")
        print()
        print(markdown_table(energy_rows, ENERGY_COLUMNS))
    print()
    print_footer(total_s, load_before, load_after, args.quick)

    if args.json is not None:
        machine = machine_info()
        version_keys = VMC_VERSION_KEYS
        payload = {
            "benchmark": "vmc_speed",
            "question": "time of sampling, local energies and one VMC step: physrnn's "
                        "RNNWavefunction1D beside NetKet's FastGRUNet1D/FastLSTMNet",
            "quick": bool(args.quick),
            "settings": {
                "sizes": sizes, "hidden": hiddens, "dtypes": dtypes, "models": models,
                "cell": args.cell, "layers_physrnn": args.layers,
                "layers_netket": args.layers + 1, "n_samples": args.samples,
                "timed_repeats": args.steps, "energy_steps": args.energy_steps,
                "energy_size": args.energy_size, "final_samples": args.final_samples,
                "lr": args.lr, "seed": args.seed, "device": str(device),
                "netket_chunk_size": args.netket_chunk_size,
                "threads": args.threads,
                "timings": "best (minimum) of timed_repeats rounds after one untimed warm-up "
                           "call; rounds alternate physrnn and NetKet; medians and all "
                           "times are in the rows (*_median, *_all)",
                "speedup": "NetKet time / physrnn time, same dtype",
                "peak_mib": "largest resident-memory increase during one extra step "
                            "(CUDA: torch max_memory_allocated increase)",
                "tfim": "H = -sum sz sz - sum sx (Pauli), open chain, total energy",
                "heisenberg": "H = sum S.S (S = sigma/2), Marshall-rotated, open chain",
                "load_average_before": load_before, "load_average_after": load_after,
                "total_s": total_s,
            },
            "rows": rows,
            "beside": beside,
            "energy_rows": energy_rows,
            "machine": machine,
            "versions": {k: machine.get(k) for k in version_keys},
        }
        dest = write_json(args.json, payload)
        print(f"wrote {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
