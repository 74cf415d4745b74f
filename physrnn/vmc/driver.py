"""Variational Monte Carlo for autoregressive wavefunctions.

Each step draws exact samples ``s ~ |psi|^2``, evaluates local energies, and follows the
variance-reduced energy gradient

    dE/dtheta = 2 Re < (E_loc - <E_loc>) d log psi^*(s) / dtheta >,

implemented as the surrogate loss ``2 Re mean(conj(log psi) * (E_loc - <E_loc>).detach())``.

Data parallelism: started under ``torchrun``/``srun`` after
:func:`physrnn.distributed.init_distributed`, the driver splits ``n_samples`` (the total per
step) over the ranks, reduces the statistics and gradients, and keeps the parameters
identical on every rank; ``deterministic=True`` makes runs on different numbers of processes
bit-identical. See :mod:`physrnn.vmc.parallel`.

A step samples with the model's prefix cache (when it supports one and it fits in memory),
computes the local energies from the compiled operator by prefix reuse
(:func:`physrnn.vmc.estimators.local_energies`), and back-propagates the surrogate loss in
chunks of samples whose gradients are summed, so that no step holds the autograd graph of the
whole batch.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from physrnn.distributed import DistributedError, is_main
from physrnn.errors import NonFiniteError
from physrnn.optim import make_optimizer
from physrnn.progress import Progress, lines_wanted
from physrnn.seeding import derive_seed
from physrnn.vmc import parallel
from physrnn.vmc.estimators import (
    MEMORY_FRACTION,
    EnergyStats,
    available_memory,
    energy_stats,
    local_energies,
)
from physrnn.vmc.free_energy import free_energy_local
from physrnn.vmc.operators import ConnectedOperator
from physrnn.vmc.precision import PrecisionSwitch, to_float64
from physrnn.vmc.sr import apply_direction
from physrnn.wavefunctions.base import AutoregressiveWavefunction

# make_optimizer lives in physrnn.optim; it is re-exported here for existing imports.
__all__ = ["VMC", "StepRecord", "make_optimizer"]

log = logging.getLogger(__name__)

#: Sites x samples per backward pass of the surrogate loss (bounds the autograd memory).
GRAD_ROWS = 1 << 15

HISTORY_KEYS = ("step", "energy", "error", "variance", "imag", "lr", "grad_norm", "time_s")


@dataclass(frozen=True)
class StepRecord:
    """What one optimisation step measured (energies total, in the operator's units).

    ``step`` counts completed steps (1-based); ``energy``/``error``/``variance`` are those of the
    samples drawn *before* the parameter update; ``time_s`` is the wall time since step 1 began.
    """

    step: int
    energy: float
    error: float
    variance: float
    imag: float
    lr: float
    grad_norm: float
    time_s: float


class VMC:
    """Variational Monte Carlo optimisation of an autoregressive wavefunction.

    Args:
        operator: the Hamiltonian, a netket operator on spin-1/2 sites (or a
            :class:`ConnectedOperator`).
        model: the wavefunction; must have ``model.n_sites == operator.hilbert.size``.
        n_samples: exact samples per step, the **total** over all ranks in a data-parallel
            run (each of ``R`` ranks draws ``n_samples / R``, see :mod:`physrnn.vmc.parallel`).
        optimizer: a torch optimizer over ``model.parameters()``; Adam(lr=1e-2) if ``None``.
        scheduler: an optional learning-rate scheduler, stepped once per VMC step.
        seed: seed of the sampling stream (a private ``torch.Generator``).
        chunk_size: most connected configurations evaluated together in local energies
            (``None``: chosen for the device); samples are further chunked to fit in memory.
        e_inf: infinite-temperature energy for the V-score (0 for traceless Hamiltonians).
        method: local energies by ``"auto"`` (prefix reuse when the model supports it),
            ``"prefix"`` or ``"scratch"`` (every connected amplitude from scratch).
        grad_chunk_size: samples per backward pass of the surrogate loss (the gradients are
            summed); ``None``: ``GRAD_ROWS // N``, which bounds the autograd memory.
        sr: a :class:`~physrnn.vmc.sr.SRStep` to precondition the gradient by stochastic
            reconfiguration (SR or minSR); the optimizer then applies the SR direction (use
            ``torch.optim.SGD(lr=eta)`` for plain imaginary-time steps of size ``eta``).
        annealing: a :class:`~physrnn.vmc.annealing.AnnealingSchedule`; step ``k`` minimises
            the free energy ``<E> - T(k) S`` with the exact entropy of the model.
        deterministic: split each step's samples into ``blocks`` fixed blocks, each with its
            own random stream, evaluated separately and reduced in block order: on CPU the run
            is then bit-identical on any number of processes that divides ``blocks`` (one
            process included). Slower than the default when a rank holds several blocks.
        blocks: number of blocks of the deterministic mode (default: the world size).
        check_sync: in a multi-process run, check every ``check_sync`` steps that the
            parameters are bitwise equal on all ranks (a debugging aid; 0: never).
        sampler: draw the samples with this object's ``sample(model, n, generator) -> (s,
            cache)`` instead of exactly, e.g. a
            :class:`~physrnn.vmc.metropolis.MetropolisSampler` (one process only; its chains
            are not part of the checkpoint).
        precision: a :class:`~physrnn.vmc.precision.PrecisionSwitch`: a float32 model and its
            optimiser state move to float64 before the first step at which it is due
            (``float64_since`` then holds the number of steps done in float32).

    In a multi-process run (a process group started by
    :func:`physrnn.distributed.init_distributed`), building the driver is a collective: the
    settings are compared between ranks and rank 0's parameters are broadcast. Every rank then
    calls :meth:`step`/:meth:`run`/:meth:`estimate` in step; a rank that dies makes the others
    raise :class:`~physrnn.distributed.DistributedError` within the process group's timeout.

    Example:
        >>> from physrnn.spins.chains import tfim_chain
        >>> from physrnn.wavefunctions import RNNWavefunction1D
        >>> system = tfim_chain(10, h=1.0)
        >>> vmc = VMC(system.operator, RNNWavefunction1D(10, hidden_size=16), n_samples=128)
        >>> history = vmc.run(5, progress=False)
    """

    def __init__(
        self,
        operator: Any,
        model: AutoregressiveWavefunction,
        *,
        n_samples: int = 512,
        optimizer: torch.optim.Optimizer | None = None,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
        seed: int = 0,
        chunk_size: int | None = None,
        e_inf: float = 0.0,
        method: str = "auto",
        grad_chunk_size: int | None = None,
        sr: Any = None,
        annealing: Any = None,
        deterministic: bool = False,
        blocks: int | None = None,
        check_sync: int = 0,
        sampler: Any = None,
        precision: PrecisionSwitch | None = None,
    ) -> None:
        self.operator = operator if isinstance(operator, ConnectedOperator) else \
            ConnectedOperator(operator)
        if model.n_sites != self.operator.n_sites:
            raise ValueError(f"model has {model.n_sites} sites but the operator acts on "
                             f"{self.operator.n_sites}")
        if n_samples < 2:
            raise ValueError(f"n_samples must be >= 2, got {n_samples}")
        if self.operator.is_complex and not model.is_complex:
            log.warning("complex operator with a positive wavefunction: the phase of the ground "
                        "state cannot be represented; consider phase=True")
        self.model = model
        self.n_samples = int(n_samples)
        self.optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=1e-2)
        self.scheduler = scheduler
        if method not in ("auto", "prefix", "scratch"):
            raise ValueError(f"unknown method {method!r}; choose 'auto', 'prefix' or 'scratch'")
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.chunk_size = None if chunk_size is None else int(chunk_size)
        self.method = method
        if grad_chunk_size is not None and grad_chunk_size < 1:
            raise ValueError(f"grad_chunk_size must be >= 1, got {grad_chunk_size}")
        self.grad_chunk_size = grad_chunk_size
        self.sr = sr
        self.annealing = annealing
        self.temperature = 0.0
        self.free_energy = math.nan
        self.e_inf = float(e_inf)
        self.seed = int(seed)
        self.generator = torch.Generator(device=model.device)
        self.generator.manual_seed(self.seed)
        self.step_count = 0
        self.elapsed_s = 0.0
        self.history: list[StepRecord] = []
        if check_sync < 0:
            raise ValueError(f"check_sync must be >= 0, got {check_sync}")
        self.check_sync = int(check_sync)
        #: Blocks and ranks of a data-parallel or deterministic run; None: one plain process.
        self.sampler = sampler
        self.precision = precision if precision is not None and precision.enabled else None
        #: Steps completed when the model moved to float64 (None: not switched here).
        self.float64_since: int | None = None
        self.layout = parallel.make_layout(self.n_samples, deterministic, blocks)
        if self.layout is not None:
            if sampler is not None:
                raise ValueError("a custom sampler runs on one process only (no deterministic "
                                 "blocks, no process group)")
            parallel.setup(self)

    # ------------------------------------------------------------------ one step
    def step(self) -> StepRecord:
        """Sample, estimate the energy, take one optimiser step; returns what was measured.

        In a multi-process run every rank must call it; the record is the same on every rank
        (statistics of all ranks' samples), except ``time_s``.
        """
        t0 = time.perf_counter()
        if (self.precision is not None and self.model.dtype != torch.float64
                and self.precision.due(self.step_count, self.history)):
            self.switch_to_float64()
        if self.layout is None:
            stats = self._gradient()
        else:
            stats = parallel.gradient_step(self)
        grad_norm = self._grad_norm()
        if not math.isfinite(grad_norm):
            raise NonFiniteError(f"gradient is NaN or infinite at step {self.step_count + 1} "
                                 f"(energy {stats.mean:.6g}); parameters left unchanged")
        lr = float(self.optimizer.param_groups[0]["lr"])
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        self.step_count += 1
        if (self.layout is not None and self.check_sync
                and self.step_count % self.check_sync == 0
                and not parallel.parameters_in_sync(self.model)):
            raise DistributedError(f"parameters differ between ranks after step "
                                   f"{self.step_count}")
        self.elapsed_s += time.perf_counter() - t0
        rec = StepRecord(self.step_count, stats.mean, stats.error, stats.variance, stats.imag,
                         lr, grad_norm, self.elapsed_s)
        self.history.append(rec)
        return rec

    def switch_to_float64(self) -> None:
        """Move the model and the optimiser state to float64 now (exact casts, in place)."""
        to_float64(self.model, self.optimizer)
        self.float64_since = self.step_count
        log.info("wavefunction switched to float64 after %d steps", self.step_count)

    def _gradient(self) -> EnergyStats:
        """One process: sample, local energies, gradient (or SR direction) into ``p.grad``."""
        s, cache = self.sample(self.n_samples, self.generator)
        log_psi_s = None
        if self.method == "scratch" or not self.model.supports_prefix:
            log_psi_s = self.model.log_psi_chunked(s, self.chunk_size or 8192)
        e_loc = local_energies(self.model, self.operator, s, log_psi_s=log_psi_s,
                               cache=cache, chunk_size=self.chunk_size, method=self.method)
        stats = energy_stats(e_loc)
        if not (math.isfinite(stats.mean) and math.isfinite(stats.variance)):
            raise NonFiniteError(f"energy is NaN or infinite ({stats.mean}, variance "
                                 f"{stats.variance}) at step {self.step_count + 1}")
        target = self._annealed(s, e_loc, log_psi_s)
        self.optimizer.zero_grad(set_to_none=True)
        if self.sr is not None:
            delta, _ = self.sr.direction(self.model, s, target)
            apply_direction(self.model, delta)
        else:
            self.surrogate_backward(s, target - target.mean())
        return stats

    def _annealed(self, s: torch.Tensor, e_loc: torch.Tensor,
                  log_psi_s: torch.Tensor | None) -> torch.Tensor:
        """``E_loc``, or ``F_loc = E_loc + T log |psi|^2`` at the annealing temperature; sets
        ``self.temperature`` and ``self.free_energy`` (the sample mean of ``F_loc``)."""
        self.temperature = 0.0 if self.annealing is None else float(
            self.annealing(self.step_count))
        if self.temperature <= 0.0:
            self.free_energy = float(e_loc.real.mean())
            return e_loc
        if log_psi_s is None:
            log_psi_s = self.model.log_psi_chunked(s, self.chunk_size or 8192)
        target = free_energy_local(e_loc, 2.0 * log_psi_s.real.double(), self.temperature)
        self.free_energy = float(target.real.mean())
        return target

    def surrogate_backward(self, s: torch.Tensor, centred: torch.Tensor, *,
                           n_total: int | None = None) -> None:
        """Back-propagate the surrogate loss ``2 Re sum(conj(log psi(s)) centred) / n_total``.

        One chunk of ``grad_chunk_size`` samples at a time (memory ``O(chunk N d_h)``); the
        gradients are accumulated into ``p.grad`` (not zeroed first). With ``centred = E_loc -
        <E_loc>`` (detached) this is the energy gradient; :mod:`physrnn.vmc.parallel` calls it
        per block with the mean over all ranks' samples and ``n_total`` their count.

        Args:
            s: ``(n, N)`` configurations.
            centred: ``(n,)`` centred local (free) energies, energy units, detached.
            n_total: the divisor; default ``n`` (the sample mean).
        """
        n = s.shape[0] if n_total is None else int(n_total)
        per_chunk = self.grad_chunk_size or max(1, GRAD_ROWS // self.model.n_sites)
        for start in range(0, s.shape[0], per_chunk):
            log_psi = self.model.log_psi(s[start:start + per_chunk])
            c = centred[start:start + per_chunk]
            if log_psi.is_complex():
                surrogate = (torch.conj(log_psi).to(torch.complex128) * c).real
            else:
                surrogate = log_psi.to(torch.float64) * c.real
            (2.0 * surrogate.sum() / n).backward()

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, Any]:
        """``n`` exact samples of ``|psi|^2`` drawn with ``generator``, and the model's prefix
        cache when it is used (``method`` is not ``"scratch"`` and the model supports it) and
        fits in memory (else ``None``).

        Returns:
            ``(s, cache)``: ``s`` ``(n, N)`` configurations, ``cache`` for
            :func:`~physrnn.vmc.estimators.local_energies` or ``None``.
        """
        model = self.model
        if self.sampler is not None:
            return self.sampler.sample(model, n, generator)
        if self.method != "scratch" and model.supports_prefix:
            need = n * model.cache_nbytes_per_sample()
            if need <= MEMORY_FRACTION * available_memory(model.device):
                return model.sample_with_cache(n, generator=generator)
        return model.sample(n, generator=generator), None

    def _grad_norm(self) -> float:
        grads = [p.grad.detach().double().norm() for p in self.model.parameters()
                 if p.grad is not None]
        return float(torch.stack(grads).norm()) if grads else 0.0

    # ------------------------------------------------------------------ the loop
    def run(
        self,
        n_steps: int,
        *,
        progress: bool | None = None,
        callback: Callable[[VMC, StepRecord], None] | None = None,
        reference: float | None = None,
    ) -> dict[str, np.ndarray]:
        """Optimise until ``n_steps`` steps have been taken in total (so a resumed run continues).

        Args:
            n_steps: total number of steps (already completed steps count).
            progress: show a progress bar; ``None`` shows it only on a terminal.
            callback: called after every step with ``(driver, record)`` (checkpoints, logging).
            reference: exact energy, to show the relative error in the progress bar.

        Returns:
            The history as arrays, see :meth:`history_arrays`.
        """
        disable = None if progress is None else not progress
        if not is_main():
            disable = True
        bar = tqdm(total=n_steps, initial=self.step_count, disable=disable, desc="vmc",
                   dynamic_ncols=True, leave=True)
        lines = Progress(n_steps, phase="vmc", unit="step", start=min(self.step_count, n_steps),
                         enabled=is_main() and lines_wanted(progress))
        try:
            while self.step_count < n_steps:
                rec = self.step()
                postfix = {"E": f"{rec.energy:.6f}", "err": f"{rec.error:.1e}",
                           "var": f"{rec.variance:.2e}"}
                if reference:
                    postfix["rel"] = f"{abs((rec.energy - reference) / reference):.1e}"
                bar.set_postfix(postfix, refresh=False)
                bar.update(1)
                lines.update(self.step_count, **{"E": rec.energy, "err": rec.error,
                                                 "var": rec.variance})
                if callback is not None:
                    callback(self, rec)
        finally:
            bar.close()
        return self.history_arrays()

    def history_arrays(self) -> dict[str, np.ndarray]:
        """History as ``{key: (n_steps,) array}`` with keys :data:`HISTORY_KEYS`."""
        rows = [asdict(r) for r in self.history]
        return {k: np.asarray([r[k] for r in rows], dtype=np.int64 if k == "step" else np.float64)
                for k in HISTORY_KEYS}

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def estimate(self, n_samples: int = 10_000, *, batch_size: int = 2048) -> EnergyStats:
        """Energy of the current state from ``n_samples`` fresh exact samples (float64).

        Uses a generator derived from ``(seed, step_count)``, so evaluation never perturbs the
        training stream and is reproducible. In a multi-process run ``n_samples`` is the total
        (every rank must call it) and the statistics are those of all ranks' samples.
        """
        if self.layout is not None:
            return parallel.estimate(self, n_samples, batch_size=batch_size)
        gen = torch.Generator(device=self.model.device)
        gen.manual_seed(derive_seed(self.seed, self.step_count, 1, bits=32))
        if self.sampler is not None and hasattr(self.sampler, "n_chains"):
            return self._chain_estimate(n_samples, gen)
        chunks = []
        remaining = n_samples
        while remaining > 0:
            b = min(batch_size, remaining)
            s, cache = self.sample(b, gen)
            chunks.append(local_energies(self.model, self.operator, s, cache=cache,
                                         chunk_size=self.chunk_size, method=self.method))
            remaining -= b
        return energy_stats(torch.cat(chunks))

    def _chain_estimate(self, n_samples: int, gen: torch.Generator) -> EnergyStats:
        """:meth:`estimate` with Markov chains: the error bar includes the chains'
        integrated autocorrelation time (:func:`physrnn.metrics.chain_statistics`)."""
        from physrnn.metrics.autocorrelation import chain_statistics

        c = self.sampler.n_chains
        n = max(c * 4, (n_samples // c) * c)
        s, cache = self.sample(n, gen)
        e = local_energies(self.model, self.operator, s, cache=cache,
                           chunk_size=self.chunk_size, method=self.method)
        base = energy_stats(e)
        st = chain_statistics(e.real.double().reshape(c, -1).cpu().numpy())
        return replace(base, error=st.error)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue bit-identically: model, optimiser, scheduler, RNG.

        In a data-parallel or deterministic run the sampling streams derive from
        ``(seed, step_count)``, so rank 0's state resumes every rank."""
        return {
            "step_count": self.step_count,
            "elapsed_s": self.elapsed_s,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "history": [asdict(r) for r in self.history],
            "seed": self.seed,
            "float64_since": self.float64_since,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (a model saved after its switch to float64 is switched
        here first, so that no value is rounded to float32)."""
        since = state.get("float64_since")
        if since is not None and self.model.dtype != torch.float64:
            to_float64(self.model, self.optimizer)
        self.float64_since = None if since is None else int(since)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])
        self.step_count = int(state["step_count"])
        self.elapsed_s = float(state.get("elapsed_s", 0.0))
        self.history = [StepRecord(**r) for r in state["history"]]
        self.seed = int(state.get("seed", self.seed))
