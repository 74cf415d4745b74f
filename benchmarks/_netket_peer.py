"""NetKet's own autoregressive RNN: the peer side of ``vmc_chain.py`` and ``vmc_speed.py``.

Physics (see ``/work/shared/REFERENCES.md``): transverse-field Ising chain with **Pauli**
matrices, ferromagnetic J = 1,

    H = -sum_<ij> sz_i sz_j - h sum_i sx_i,

built as ``nk.operator.Ising(hilbert, graph, h=h, J=-1.0)`` (NetKet's Ising is
``-h sum sx + J sum sz sz``, hence ``J = -1``). Energies are **totals** (not per site).

Model: ``nkx.models.FastGRUNet1D`` (``cell="gru"``) or ``nkx.models.FastLSTMNet``
(``cell="lstm"``), sampled exactly by ``nk.sampler.ARDirectSampler`` and trained with plain
Adam (no SR) through ``nk.driver.VMC``. The learning rate is constant (``optax.adam(lr)``,
the default) or follows the same schedule as ``physrnn.vmc.make_optimizer``: ``"cosine"``
is ``optax.cosine_decay_schedule(lr, n_steps, alpha=lr_final / lr)``, i.e.
``lr_t = lr_final + (lr - lr_final) (1 + cos(pi t / n_steps)) / 2`` at step t = 0, 1, ...
(identical to ``torch.optim.lr_scheduler.CosineAnnealingLR(T_max=n_steps,
eta_min=lr_final)``); ``"exponential"`` is ``lr (lr_final / lr)^(t / n_steps)``
(``torch``'s ``ExponentialLR``).

How ``hidden_size`` / ``n_layers`` map onto NetKet's RNN
--------------------------------------------------------
NetKet's RNN has no dense output head: its *last* recurrent layer has ``hilbert.local_size``
(= 2) features, which are used directly as the two log-amplitudes of the conditional
(``p(s_i | s_<i) = softmax(2 x)``). A torch RNN wavefunction with ``n_layers`` recurrent layers
of width ``hidden_size`` plus a dense softmax head is therefore matched by

    FastGRUNet1D(hilbert=hi, layers=n_layers + 1, features=hidden_size, param_dtype=float32)

i.e. NetKet's feature list ``[hidden_size] * n_layers + [2]``: ``n_layers`` hidden recurrent
layers followed by a 2-feature recurrent output layer (in place of the dense head). Passing
``layers=n_layers`` would give a single 2-feature layer, not a width-``hidden_size`` RNN. The
output layer's values lie in [-1, 1] (GRU/LSTM outputs are bounded), so each conditional
probability is confined to [1/(1+e^4), 1/(1+e^-4)] = [0.018, 0.982]; this is NetKet's design
and is recorded, not patched. No ``graph`` is passed to the model: the autoregressive order is
the natural 1D order 0..N-1 (NetKet's fast 1D path; ``FastGRUNet1D`` supports only one
previous neighbour). ``boundary`` affects the Hamiltonian only.

Parameters are float32 (``param_dtype=jnp.float32``) for a fair comparison with a float32 torch
model; NetKet keeps JAX's x64 mode on, so local energies and their statistics are float64.

Threads: this module never sets environment variables. JAX's CPU thread pool is fixed when
``jax`` is first imported, so the *caller* controls threads, before importing this module or
netket (e.g. ``benchmarks._common.limit_threads(n)``, or ``XLA_FLAGS`` / ``taskset`` in the
shell). Report the thread setting beside the timings (``_common.machine_info()`` records it).
"""

from __future__ import annotations

import time
from typing import Any

__all__ = [
    "build_netket_vmc",
    "enable_netket_chunking",
    "netket_chunk_size",
    "netket_final_energy",
    "netket_local_energies",
    "netket_sample",
    "netket_step",
    "run_netket_tfim_chain",
]

_CELLS = {"gru": "FastGRUNet1D", "lstm": "FastLSTMNet"}
_BOUNDARIES = ("open", "periodic")
_SCHEDULES = ("constant", "cosine", "exponential")


def _block(tree: Any) -> None:
    """Wait until every array of a pytree is computed (so that wall times are real)."""
    import jax

    jax.block_until_ready(tree)


def run_netket_tfim_chain(
    n_sites: int,
    h: float,
    *,
    n_samples: int,
    n_steps: int,
    lr: float,
    hidden_size: int,
    n_layers: int,
    cell: str = "gru",
    seed: int = 0,
    boundary: str = "open",
    final_samples: int = 10_000,
    lr_schedule: str = "constant",
    lr_final: float = 1e-4,
) -> dict:
    """Train NetKet's fast autoregressive RNN on the Pauli TFIM chain and time it.

    Args:
        n_sites: chain length N (>= 2).
        h: transverse field (Pauli units, J = 1 ferromagnetic).
        n_samples: exact (direct) samples per VMC step.
        n_steps: number of Adam steps (>= 2: the first is timed separately as compile).
        lr: Adam learning rate (the initial one for a decaying ``lr_schedule``).
        hidden_size: width of each hidden recurrent layer.
        n_layers: number of hidden recurrent layers (NetKet gets ``n_layers + 1`` layers, the
            last with 2 features; see the module docstring).
        cell: ``"gru"`` (``FastGRUNet1D``) or ``"lstm"`` (``FastLSTMNet``).
        seed: seeds both the parameter initialisation and the sampler.
        boundary: ``"open"`` or ``"periodic"`` (Hamiltonian bonds only).
        final_samples: fresh samples for the final energy estimate.
        lr_schedule: ``"constant"`` (default), ``"cosine"`` or ``"exponential"`` decay from
            ``lr`` to ``lr_final`` over ``n_steps`` (as ``physrnn.vmc.make_optimizer``; see the
            module docstring).
        lr_final: final learning rate of a decaying schedule (ignored for ``"constant"``).

    Returns:
        A flat dict. Energies are totals in units of J (Pauli convention):
        ``code`` ("netket <version>"), ``model`` (class name), ``netket_layers``,
        ``netket_features`` (per-layer feature list), ``n_parameters``, ``param_dtype``,
        ``energy`` / ``error`` / ``variance`` (mean, i.i.d. standard error of the mean
        sqrt(var_ddof1 / n) and variance (ddof 0, as NetKet) of the local energies over
        ``final_samples`` fresh exact samples, float64), ``error_netket`` (NetKet's blocking
        estimate of the same error), ``final_samples``, ``local_energy_dtype`` (dtype NetKet
        computed the local energies in; statistics are then taken in float64),
        ``energy_last_step`` (training estimate at the last step), ``wall_s`` (training wall
        time including compile), ``compile_s`` (first step: JIT + one step), ``run_s``
        (steps 2..n_steps), ``steps_per_s`` and ``samples_per_s`` (over steps 2..n_steps),
        ``eval_s`` (final estimate, including its recompile), ``n_steps``, ``n_samples``,
        ``n_sites``, ``h``, ``boundary``, ``lr``, ``lr_schedule``, ``lr_final`` (None when
        constant), ``hidden_size``, ``n_layers``, ``cell``, ``seed``.

    Raises:
        ValueError: unknown ``cell`` or ``boundary``, or out-of-range sizes.
        FloatingPointError: a non-finite training or final energy.
    """
    cell = cell.lower()
    if cell not in _CELLS:
        raise ValueError(f"cell must be one of {sorted(_CELLS)}, got {cell!r}")
    if boundary not in _BOUNDARIES:
        raise ValueError(f"boundary must be one of {_BOUNDARIES}, got {boundary!r}")
    if lr_schedule not in _SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {_SCHEDULES}, got {lr_schedule!r}")
    if lr_schedule != "constant" and not 0 < lr_final <= lr:
        raise ValueError(f"lr_final must be in (0, lr = {lr}], got {lr_final}")
    if n_sites < 2:
        raise ValueError(f"n_sites must be >= 2, got {n_sites}")
    if n_steps < 2:
        raise ValueError(f"n_steps must be >= 2 (step 1 is timed as compile), got {n_steps}")
    for name, value in (
        ("n_samples", n_samples),
        ("hidden_size", hidden_size),
        ("n_layers", n_layers),
        ("final_samples", final_samples),
    ):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")

    import jax
    import jax.numpy as jnp
    import netket as nk
    import netket.experimental as nkx
    import numpy as np
    import optax

    graph = nk.graph.Chain(n_sites, pbc=(boundary == "periodic"))
    hilbert = nk.hilbert.Spin(s=0.5, N=n_sites)
    hamiltonian = nk.operator.Ising(hilbert, graph, h=h, J=-1.0)

    model_cls = getattr(nkx.models, _CELLS[cell])
    model = model_cls(
        hilbert=hilbert,
        layers=n_layers + 1,
        features=hidden_size,
        param_dtype=jnp.float32,
    )
    features = [hidden_size] * n_layers + [hilbert.local_size]

    sampler = nk.sampler.ARDirectSampler(hilbert)
    vstate = nk.vqs.MCState(sampler, model, n_samples=n_samples, seed=seed, sampler_seed=seed + 1)
    if vstate.n_samples != n_samples:
        raise ValueError(
            f"NetKet changed n_samples from {n_samples} to {vstate.n_samples}; pick a multiple "
            "of the number of devices"
        )
    leaves = jax.tree_util.tree_leaves(vstate.parameters)
    dtypes = sorted({str(leaf.dtype) for leaf in leaves})
    param_dtype = dtypes[0] if len(dtypes) == 1 else ",".join(dtypes)

    if lr_schedule == "cosine":
        learning_rate = optax.cosine_decay_schedule(lr, n_steps, alpha=lr_final / lr)
    elif lr_schedule == "exponential":
        learning_rate = optax.exponential_decay(lr, 1, (lr_final / lr) ** (1.0 / n_steps))
    else:
        learning_rate = lr
    driver = nk.driver.VMC(hamiltonian, optax.adam(learning_rate), variational_state=vstate)

    # Step 1: JIT compilation of sampling, local energies and gradient + one real step.
    t0 = time.perf_counter()
    driver.run(n_iter=1, out=None, show_progress=False)
    _block(vstate.parameters)
    first_energy = float(np.asarray(driver.energy.mean).real)
    t1 = time.perf_counter()
    # Steps 2..n_steps: the training loop proper.
    driver.run(n_iter=n_steps - 1, out=None, show_progress=False)
    _block(vstate.parameters)
    last_energy = float(np.asarray(driver.energy.mean).real)
    t2 = time.perf_counter()
    if not (np.isfinite(first_energy) and np.isfinite(last_energy)):
        raise FloatingPointError(
            f"non-finite NetKet training energy (first {first_energy}, last {last_energy})"
        )

    compile_s = t1 - t0
    run_s = t2 - t1
    steps_per_s = (n_steps - 1) / run_s

    # Final estimate from fresh exact samples (resampling changes the batch shape: recompile,
    # timed separately as eval_s and not included in wall_s). Direct samples are i.i.d., so the
    # standard error is sqrt(var / n); NetKet's own `error_of_mean` is a blocking estimate
    # (noisier), kept as `error_netket`.
    t3 = time.perf_counter()
    vstate.n_samples = final_samples
    vstate.reset()
    e_loc_raw = vstate.local_estimators(hamiltonian)
    # NetKet >= 3.23 wraps the (n_chains, chain_len) array in a `LocalEstimators` object.
    e_loc_raw = getattr(e_loc_raw, "data", e_loc_raw)
    stats = nk.stats.statistics(e_loc_raw)
    e_loc = np.asarray(e_loc_raw).reshape(-1)
    local_energy_dtype = str(e_loc.dtype)
    eval_s = time.perf_counter() - t3
    if np.iscomplexobj(e_loc):
        e_loc = e_loc.real
    e_loc = e_loc.astype(np.float64)
    n_final = e_loc.size
    if not np.all(np.isfinite(e_loc)):
        raise FloatingPointError(
            f"{int(np.sum(~np.isfinite(e_loc)))} non-finite final local energies"
        )
    energy = float(np.mean(e_loc))
    variance = float(np.var(e_loc))
    error = float(np.sqrt(np.var(e_loc, ddof=1) / n_final))
    error_netket = float(np.asarray(stats.error_of_mean))

    return {
        "code": f"netket {nk.__version__}",
        "model": model_cls.__name__,
        "netket_layers": n_layers + 1,
        "netket_features": features,
        "n_parameters": int(vstate.n_parameters),
        "param_dtype": param_dtype,
        "energy": energy,
        "error": error,
        "error_netket": error_netket,
        "variance": variance,
        "final_samples": n_final,
        "local_energy_dtype": local_energy_dtype,
        "energy_last_step": last_energy,
        "wall_s": compile_s + run_s,
        "compile_s": compile_s,
        "run_s": run_s,
        "steps_per_s": steps_per_s,
        "samples_per_s": steps_per_s * n_samples,
        "eval_s": eval_s,
        "n_steps": n_steps,
        "n_samples": n_samples,
        "n_sites": n_sites,
        "h": float(h),
        "boundary": boundary,
        "lr": float(lr),
        "lr_schedule": lr_schedule,
        "lr_final": float(lr_final) if lr_schedule != "constant" else None,
        "hidden_size": hidden_size,
        "n_layers": n_layers,
        "cell": cell,
        "seed": seed,
    }


# --------------------------------------------------------------------------------------------
# Speed of one VMC step (for ``vmc_speed.py``)
# --------------------------------------------------------------------------------------------


def enable_netket_chunking() -> None:
    """Make ``MCState.chunk_size`` usable with NetKet's RNN models under JAX >= 0.7.

    NetKet evaluates chunks inside ``jax.shard_map`` (even on one device); JAX's "varying
    manual axes" check then rejects the ``flax`` scan of the RNN layers ("scan body function
    carry input and carry output must have equal types"). This wraps ``jax.shard_map`` with
    ``check_vma=False`` for the rest of the process: a static type check only, no numerical
    effect (chunked and unchunked local energies and gradients agree to ~1e-13 in float64).
    Call it before the first chunked evaluation; calling it again does nothing.
    """
    import functools

    import jax

    if getattr(jax.shard_map, "_physrnn_no_vma", False):
        return
    original = jax.shard_map

    def shard_map(f=None, /, **kwargs):
        kwargs["check_vma"] = False
        if f is None:
            return functools.partial(original, **kwargs)
        return original(f, **kwargs)

    shard_map._physrnn_no_vma = True
    jax.shard_map = shard_map


def netket_chunk_size(n_samples: int, max_conn_size: int,
                      target_configurations: int = 26_000) -> int | None:
    """A chunk of samples whose connected configurations number about
    ``target_configurations`` (the fastest setting measured at N = 100 on 2 CPU cores: 256
    samples x 101 configurations), as a power of 2; ``None`` when no chunking is needed."""
    import math

    chunk = 2 ** round(math.log2(max(1.0, target_configurations / max(1, max_conn_size))))
    return None if chunk >= n_samples else int(chunk)


def build_netket_vmc(
    operator: Any,
    *,
    hidden_size: int,
    n_layers: int,
    cell: str = "gru",
    dtype: str = "float32",
    n_samples: int = 1024,
    lr: float = 1e-2,
    seed: int = 0,
    chunk_size: int | None = None,
    graph: Any = None,
) -> tuple[Any, Any, Any]:
    """NetKet's fast RNN, ``ARDirectSampler``, ``MCState`` and an Adam ``VMC`` driver.

    Args:
        operator: the netket Hamiltonian (used as given: NetKet's own connected elements).
        hidden_size: width of each hidden recurrent layer.
        n_layers: hidden recurrent layers; NetKet gets ``n_layers + 1`` (the last one with
            ``hilbert.local_size`` features, in place of a dense head; module docstring).
        cell: ``"gru"`` (``FastGRUNet1D``) or ``"lstm"`` (``FastLSTMNet``).
        dtype: ``"float32"`` or ``"float64"``, the model's ``param_dtype``.
        n_samples: exact samples per step.
        lr: constant Adam learning rate.
        seed: parameter and sampler seed.
        chunk_size: ``MCState.chunk_size`` (samples per chunk of the local energies and
            gradients), or ``None`` for none; enables :func:`enable_netket_chunking`.
        graph: a 2D lattice: NetKet's 2D recurrent model ``nkx.models.LSTMNet(graph=...)``
            (snake ordering, previous neighbours from the graph; ``cell`` is then ignored,
            NetKet's GRU takes one previous neighbour only). ``None``: the fast 1D model.

    Returns:
        ``(vstate, driver, model)``.
    """
    cell = cell.lower()
    if cell not in _CELLS:
        raise ValueError(f"cell must be one of {sorted(_CELLS)}, got {cell!r}")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    import jax.numpy as jnp
    import netket as nk
    import netket.experimental as nkx
    import optax

    hilbert = operator.hilbert
    if graph is None:
        model = getattr(nkx.models, _CELLS[cell])(hilbert=hilbert, layers=n_layers + 1,
                                                  features=hidden_size,
                                                  param_dtype=getattr(jnp, dtype))
    else:
        model = nkx.models.LSTMNet(hilbert=hilbert, layers=n_layers + 1, features=hidden_size,
                                   graph=graph, param_dtype=getattr(jnp, dtype))
    sampler = nk.sampler.ARDirectSampler(hilbert)
    if chunk_size is not None or graph is not None:
        enable_netket_chunking()  # also needed by the 2D model's scan, chunked or not
    vstate = nk.vqs.MCState(sampler, model, n_samples=n_samples, seed=seed, sampler_seed=seed + 1)
    if vstate.n_samples != n_samples:
        raise ValueError(f"NetKet changed n_samples from {n_samples} to {vstate.n_samples}")
    if chunk_size is not None:
        vstate.chunk_size = int(chunk_size)
    driver = nk.driver.VMC(operator, optax.adam(lr), variational_state=vstate)
    return vstate, driver, model


def netket_sample(vstate: Any) -> Any:
    """Draw a fresh batch of exact samples and wait for it (timing helper)."""
    vstate.reset()
    samples = vstate.sample()
    _block(samples)
    return samples


def netket_local_energies(vstate: Any, operator: Any) -> Any:
    """Local energies of the current samples, ``(n_chains, chain_length)``, computed and waited
    for (NetKet's ``MCState.local_estimators``)."""
    out = vstate.local_estimators(operator)
    data = getattr(out, "data", out)
    _block(data)
    return data


def netket_step(driver: Any, n_steps: int = 1) -> float:
    """Run ``n_steps`` VMC steps and return the last training energy (real part)."""
    import numpy as np

    driver.run(n_iter=n_steps, out=None, show_progress=False)
    _block(driver.state.parameters)
    return float(np.asarray(driver.energy.mean).real)


def netket_final_energy(vstate: Any, operator: Any, n_samples: int) -> dict:
    """Energy of the current state from ``n_samples`` fresh exact samples.

    Returns:
        ``energy`` (mean of the local energies, real part, float64), ``error`` (i.i.d.
        standard error ``sqrt(var_ddof1 / n)``: direct samples are independent), ``variance``
        (ddof 1) and ``n_samples``.
    """
    import numpy as np

    vstate.n_samples = n_samples
    vstate.reset()
    e_loc = np.asarray(netket_local_energies(vstate, operator)).reshape(-1)
    e_loc = (e_loc.real if np.iscomplexobj(e_loc) else e_loc).astype(np.float64)
    if not np.all(np.isfinite(e_loc)):
        raise FloatingPointError(f"{int(np.sum(~np.isfinite(e_loc)))} non-finite local energies")
    n = e_loc.size
    var = float(np.var(e_loc, ddof=1))
    return {"energy": float(np.mean(e_loc)), "error": float(np.sqrt(var / n)), "variance": var,
            "n_samples": n}
