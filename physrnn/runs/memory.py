"""Memory experiments: which recurrent cell solves a task at which delay, and why.

For every (task, delay, cell, variant, seed) a small network is trained for a fixed budget of
optimiser steps on freshly generated batches; the final test loss is compared with the task's
trivial baseline and its "solved" threshold (adding problem: MSE 1/6 and 0.01). Gradient
diagnostics (||dL/dh_t|| versus steps before the loss, with a fitted decay rate) are recorded
beside each result.

    rows = run_memory_experiment(task="adding", delays=[10, 50, 100], cells=["rnn", "gru"])

Variants of the plain tanh RNN: ``"clip"`` (gradient-norm clipping at 1), ``"orthogonal"``
(orthogonal recurrent initialisation) and ``"identity"`` (IRNN-style identity initialisation,
Le et al. 2015, with ReLU replaced by tanh here).

:func:`run_memory_job` is the whole ``physrnn memory`` run: the experiment, its table, record,
summary and figures in an output directory.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from physrnn.data.tasks import make_task
from physrnn.nn.recurrent import CELLS
from physrnn.runs.memory_config import MEMORY_VARIANTS, MemoryRunConfig
from physrnn.runs.skeleton import Run

__all__ = [
    "MemoryNet",
    "MemoryResult",
    "train_memory",
    "run_memory_experiment",
    "run_memory_job",
    "memory_table",
    "memory_outputs",
    "longest_solved",
    "initial_gradient_norms",
    "initial_diagnostics",
    "plot_memory",
    "VARIANTS",
]

log = logging.getLogger(__name__)

VARIANTS = MEMORY_VARIANTS


class MemoryNet(nn.Module):
    """A recurrent cell with a linear readout for memory tasks.

    Args:
        n_in: input features; n_out: output features (classes for the copy task).
        cell: ``"rnn"`` (tanh), ``"lstm"`` or ``"gru"``.
        init: ``"default"``, ``"orthogonal"`` or ``"identity"`` for the recurrent weights.
        last_only: return only the last step's output ``(B, n_out)`` (adding problem);
            otherwise every step ``(B, T, n_out)``.
    """

    def __init__(self, n_in: int, n_out: int, *, cell: str = "gru", hidden_size: int = 64,
                 init: str = "default", last_only: bool = False, seed: int = 0) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; choose one of {sorted(CELLS)}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.rnn = CELLS[cell](n_in, hidden_size, batch_first=True)
            self.readout = nn.Linear(hidden_size, n_out)
            w = self.rnn.weight_hh_l0
            with torch.no_grad():
                if init == "orthogonal":
                    for k in range(w.shape[0] // hidden_size):
                        nn.init.orthogonal_(w[k * hidden_size:(k + 1) * hidden_size])
                elif init == "identity":
                    for k in range(w.shape[0] // hidden_size):
                        w[k * hidden_size:(k + 1) * hidden_size].copy_(torch.eye(hidden_size))
                elif init != "default":
                    raise ValueError(f"unknown init {init!r}")
        self.last_only = last_only

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(x)
        return self.readout(h[:, -1] if self.last_only else h)


def _loss(task_name: str, model: MemoryNet, batch: tuple) -> torch.Tensor:
    if task_name == "recall":
        x, y, mask = batch
        pred = model(x)
        return ((pred - y) ** 2 * mask).sum() / mask.sum()
    if task_name == "copy":
        x, y = batch
        logits = model(x)
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                                           ignore_index=-100)
    x, y = batch
    return nn.functional.mse_loss(model(x), y)


@dataclass(frozen=True)
class MemoryResult:
    """Outcome of one training run (losses in the task's own units: MSE or cross-entropy)."""

    task: str
    delay: int
    cell: str
    variant: str
    seed: int
    final_loss: float
    trivial_loss: float
    solved_loss: float
    solved: bool
    steps: int
    train_s: float
    grad_decay_per_step: float
    grad_verdict: str

    def row(self) -> dict[str, Any]:
        """Plain dict for tables and JSON."""
        return {"task": self.task, "delay": self.delay, "model": self.cell,
                "variant": self.variant, "seed": self.seed, "final_loss": self.final_loss,
                "trivial_loss": self.trivial_loss, "solved_loss": self.solved_loss,
                "solved": self.solved, "steps": self.steps, "train_s": self.train_s,
                "grad_decay_per_step": self.grad_decay_per_step,
                "grad_verdict": self.grad_verdict}


def _trivial_and_solved(task) -> tuple[float, float]:
    trivial = float(getattr(task, "trivial_mse", getattr(task, "trivial_cross_entropy", 1.0)))
    solved = float(getattr(task, "solved_mse", 0.01 if hasattr(task, "trivial_mse") else 0.05))
    return trivial, solved


def _gradient_decay(model: MemoryNet, task_name: str, batch: tuple) -> tuple[float, str]:
    """Decay per step of ||dL/dh_t|| going back from the loss, and a verdict."""
    try:
        from physrnn.nn.diagnostics import hidden_gradient_norms, verdict
    except ImportError:  # diagnostics are optional for this experiment
        return math.nan, "unavailable"
    x = batch[0]

    def loss_fn(h: torch.Tensor) -> torch.Tensor:
        out = model.readout(h[:, -1] if model.last_only else h)
        if task_name == "recall":
            return (((out - batch[1]) ** 2) * batch[2]).sum() / batch[2].sum()
        if task_name == "copy":
            return nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]),
                                               batch[1].reshape(-1), ignore_index=-100)
        return nn.functional.mse_loss(out, batch[1])

    norms = hidden_gradient_norms(model.rnn, x, loss_fn)
    v = verdict(norms)
    return float(v["decay_per_step"]), str(v["kind"])


def train_memory(
    task_name: str,
    delay: int,
    cell: str,
    *,
    variant: str = "plain",
    seed: int = 0,
    steps: int = 1000,
    batch_size: int = 64,
    hidden_size: int = 64,
    lr: float = 1e-3,
    eval_batches: int = 8,
) -> MemoryResult:
    """Train one network on one task at one delay for a fixed number of steps.

    Batches are drawn from a training task (seed ``seed``) and the loss is measured on a
    separate test task (seed ``seed + 10_000``).
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {VARIANTS}")
    if task_name not in ("adding", "recall", "copy"):
        raise ValueError(f"memory experiments support the adding, recall and copy tasks, not "
                         f"{task_name!r} (the heavy particle is a forecasting task: physrnn "
                         "train)")
    train = make_task(task_name, delay=delay, n_samples=steps * batch_size, seed=seed)
    test = make_task(task_name, delay=delay, n_samples=eval_batches * batch_size,
                     seed=seed + 10_000)
    first = train.stack(list(range(2)))
    n_in = first[0].shape[-1]
    if task_name == "copy":
        n_out = first[0].shape[-1] - 2
    else:
        n_out = first[1].shape[-1]
    init = variant if variant in ("orthogonal", "identity") else "default"
    model = MemoryNet(n_in, n_out, cell=cell, hidden_size=hidden_size, init=init,
                      last_only=task_name == "adding", seed=seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    clip = 1.0 if variant == "clip" else None
    t0 = time.perf_counter()
    for _ in range(steps):
        batch = train.batch(batch_size, generator=gen)
        loss = _loss(task_name, model, batch)
        if not torch.isfinite(loss):
            log.warning("%s %s delay %d: loss became %s", cell, variant, delay, float(loss))
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
    train_s = time.perf_counter() - t0
    with torch.no_grad():
        losses = [float(_loss(task_name, model, test.stack(list(range(k * batch_size,
                                                                        (k + 1) * batch_size)))))
                  for k in range(eval_batches)]
    final = float(np.mean(losses))
    trivial, solved_at = _trivial_and_solved(train)
    decay, kind = _gradient_decay(model, task_name, test.stack(list(range(batch_size))))
    return MemoryResult(task_name, int(delay), cell, variant, int(seed), final, trivial,
                        solved_at, bool(math.isfinite(final) and final < solved_at), steps,
                        train_s, decay, kind)


def run_memory_experiment(
    *,
    task: str = "adding",
    delays: list[int],
    cells: list[str],
    variants: list[str] | None = None,
    seeds: int = 1,
    steps: int = 1000,
    batch_size: int = 64,
    hidden_size: int = 64,
    lr: float = 1e-3,
    progress: bool | None = None,
) -> list[dict[str, Any]]:
    """Train every (cell, variant, delay, seed); variants other than ``"plain"`` apply to the
    tanh RNN only. Returns one row per run (see :meth:`MemoryResult.row`)."""
    from tqdm.auto import tqdm

    variants = variants or ["plain"]
    jobs = [(c, v, d, s) for c in cells for v in variants for d in delays for s in range(seeds)
            if v == "plain" or c == "rnn"]
    rows = []
    for c, v, d, s in tqdm(jobs, desc=f"memory {task}", disable=None if progress is None
                           else not progress):
        res = train_memory(task, d, c, variant=v, seed=s, steps=steps, batch_size=batch_size,
                           hidden_size=hidden_size, lr=lr)
        log.info("%s %s delay %d seed %d: loss %.4g (trivial %.3g) %s", c, v, d, s,
                 res.final_loss, res.trivial_loss, "solved" if res.solved else "not solved")
        rows.append(res.row())
    return rows


def _memory_batch(task_name: str, delay: int, batch_size: int, seed: int):
    task = make_task(task_name, delay=delay, n_samples=batch_size, seed=seed)
    batch = task.stack(list(range(batch_size)))
    n_in = batch[0].shape[-1]
    n_out = n_in - 2 if task_name == "copy" else batch[1].shape[-1]
    return batch, n_in, n_out


def _task_loss_fn(task_name: str, model: MemoryNet, batch: tuple):
    def loss_fn(h: torch.Tensor) -> torch.Tensor:
        pred = model.readout(h[:, -1] if model.last_only else h)
        if task_name == "recall":
            return (((pred - batch[1]) ** 2) * batch[2]).sum() / batch[2].sum()
        if task_name == "copy":
            return nn.functional.cross_entropy(pred.reshape(-1, pred.shape[-1]),
                                               batch[1].reshape(-1), ignore_index=-100)
        return nn.functional.mse_loss(pred, batch[1])

    return loss_fn


def initial_diagnostics(task_name: str, delay: int, cell: str, *, hidden_size: int = 64,
                        batch_size: int = 16, seed: int = 0) -> dict[str, Any]:
    """Step-Jacobian singular values ``(T-1, B, D)`` and per-step weight-gradient norms
    ``{name: (T,)}`` of a freshly initialised network on one batch of the task."""
    from physrnn.nn.diagnostics import (
        jacobian_spectra,
        per_step_weight_contributions,
        step_jacobians,
    )

    batch, n_in, n_out = _memory_batch(task_name, delay, batch_size, seed)
    model = MemoryNet(n_in, n_out, cell=cell, hidden_size=hidden_size,
                      last_only=task_name == "adding", seed=seed)
    loss_fn = _task_loss_fn(task_name, model, batch)
    sv = jacobian_spectra(step_jacobians(model.rnn, batch[0])).detach()
    contrib = per_step_weight_contributions(model.rnn, batch[0], loss_fn)
    return {"singular_values": sv,
            "contributions": {k: v.detach() for k, v in contrib.items() if "weight" in k}}


def initial_gradient_norms(task_name: str, delay: int, cells: list[str], variants: list[str],
                           *, hidden_size: int = 64, batch_size: int = 64,
                           seed: int = 0) -> dict[str, torch.Tensor]:
    """||dL/dh_t|| of freshly initialised networks on one batch, per "cell (variant)" label.

    The textbook picture: at initialisation the tanh RNN's gradient decays geometrically with
    the distance to the loss, gated cells keep it.
    """
    from physrnn.nn.diagnostics import hidden_gradient_norms

    batch, n_in, n_out = _memory_batch(task_name, delay, batch_size, seed)
    out: dict[str, torch.Tensor] = {}
    for cell in cells:
        for variant in variants:
            if variant != "plain" and cell != "rnn":
                continue
            init = variant if variant in ("orthogonal", "identity") else "default"
            model = MemoryNet(n_in, n_out, cell=cell, hidden_size=hidden_size, init=init,
                              last_only=task_name == "adding", seed=seed)
            loss_fn = _task_loss_fn(task_name, model, batch)
            label = cell if variant == "plain" else f"{cell} ({variant})"
            out[label] = hidden_gradient_norms(model.rnn, batch[0], loss_fn).detach()
    return out


def longest_solved(rows: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """Longest delay solved by at least half of the seeds, per (model, variant); 0 if none."""
    out: dict[tuple[str, str], int] = {}
    keys = {(r["model"], r["variant"]) for r in rows}
    for key in keys:
        best = 0
        for d in sorted({r["delay"] for r in rows if (r["model"], r["variant"]) == key}):
            runs = [r for r in rows if (r["model"], r["variant"]) == key and r["delay"] == d]
            if sum(r["solved"] for r in runs) * 2 >= len(runs):
                best = d
        out[key] = best
    return out


def plot_memory(rows: list[dict[str, Any]], path) -> Any:
    """Final test loss versus delay per (model, variant), with the trivial and solved levels."""
    from physrnn.runs.plotting import figure, save_figure

    plt, fig, axes = figure(1, 1, (7.0, 4.5))
    ax = axes[0, 0]
    keys = sorted({(r["model"], r["variant"]) for r in rows})
    for k, key in enumerate(keys):
        delays = sorted({r["delay"] for r in rows if (r["model"], r["variant"]) == key})
        med = [np.median([r["final_loss"] for r in rows
                          if (r["model"], r["variant"]) == key and r["delay"] == d])
               for d in delays]
        label = key[0] if key[1] == "plain" else f"{key[0]} ({key[1]})"
        ax.semilogy(delays, med, "o-", color=f"C{k}", label=label)
    ax.axhline(rows[0]["trivial_loss"], color="k", ls="--", lw=1, label="trivial baseline")
    ax.axhline(rows[0]["solved_loss"], color="k", ls=":", lw=1, label="solved threshold")
    ax.set_xscale("log")
    ax.set_xlabel("delay (time steps)")
    ax.set_ylabel("final test loss (median over seeds)")
    ax.set_title(f"{rows[0]['task']} task", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    return save_figure(plt, fig, path)


def memory_table(rows: list[dict[str, Any]], delays: list[int]) -> str:
    """Markdown table: per (cell, variant) the longest solved delay and the median final loss
    at each of ``delays``."""
    best = longest_solved(rows)
    lines = ["| model | variant | longest solved delay | " + " | ".join(
        f"loss at {d}" for d in delays) + " |", "|---|---|---|" + "---|" * len(delays)]
    for (model, variant), d_best in sorted(best.items()):
        losses = [np.median([r["final_loss"] for r in rows if r["model"] == model
                             and r["variant"] == variant and r["delay"] == d]) for d in delays]
        lines.append(f"| {model} | {variant} | {d_best} | "
                     + " | ".join(f"{x:.3g}" for x in losses) + " |")
    return "\n".join(lines)


def memory_outputs(config: MemoryRunConfig) -> list[str]:
    """The files :func:`run_memory_job` writes in its output directory, in order."""
    written = ["summary.json", "record.h5", "memory.png", "gradients.png"]
    for cell in config.memory.models:
        written += [f"jacobians_{cell}.png", f"bptt_terms_{cell}.png"]
    return written


def run_memory_job(
    config: MemoryRunConfig,
    out: str | Path,
    *,
    overwrite: bool = False,
    resume: bool = False,
    progress: bool | None = None,
    command: str = "physrnn memory",
    report: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """The memory experiment of ``config`` with its outputs in ``out``.

    Trains every (cell, variant, delay, seed) (:func:`run_memory_experiment`), then writes
    ``summary.json``, ``record.h5``, ``memory.png`` (final loss versus delay) and the
    diagnostics at initialisation at the longest delay: ``gradients.png`` (``||dL/dh_t||``),
    ``jacobians_<cell>.png`` (step-Jacobian singular values) and ``bptt_terms_<cell>.png``
    (per-step BPTT terms).

    Args:
        config: the experiment.
        out: output directory.
        overwrite: replace results already in ``out``.
        resume: accept an ``out`` that holds results (the experiment itself starts afresh).
        progress: progress bar; ``None`` shows it only on a terminal.
        command: recorded in the run record.
        report: called with :func:`memory_table` as soon as the training runs are done
            (before the diagnostics).

    Returns:
        The summary: ``task``, ``longest_solved`` (``{"<cell>/<variant>": delay}``) and the
        ``rows`` of every training run.
    """
    from physrnn.runs.plotting import (
        plot_gradient_norms,
        plot_jacobian_spectra,
        plot_weight_contributions,
    )

    c = config.memory
    with Run(config, out, overwrite=overwrite, resume=resume, command=command,
             toml_in_record=False) as run:
        rows = run_memory_experiment(task=c.task, delays=list(c.delays), cells=list(c.models),
                                     variants=list(c.variants), seeds=c.seeds, steps=c.steps,
                                     hidden_size=c.hidden, lr=c.lr, progress=progress)
        best = longest_solved(rows)
        if report is not None:
            report(memory_table(rows, list(c.delays)))
        summary = {"task": c.task, "longest_solved": {f"{m}/{v}": d for (m, v), d in
                                                      sorted(best.items())}, "rows": rows}
        run.write_summary(summary)
        history = {k: np.asarray([r[k] for r in rows]) for k in ("delay", "final_loss",
                                                                  "train_s")}
        run.write_record(history=history,
                         results={f"longest_solved_{m}_{v}": d for (m, v), d in best.items()})
        longest = max(c.delays)
        plot_memory(rows, run.out / "memory.png")
        norms = initial_gradient_norms(c.task, longest, list(c.models), list(c.variants),
                                       hidden_size=c.hidden)
        plot_gradient_norms(norms, run.out / "gradients.png",
                            title=f"{c.task}, delay {longest}, at initialisation")
        for cell in c.models:
            diag = initial_diagnostics(c.task, longest, cell, hidden_size=c.hidden)
            plot_jacobian_spectra(diag["singular_values"], run.out / f"jacobians_{cell}.png",
                                  title=f"{cell}: step Jacobian singular values at "
                                        "initialisation")
            plot_weight_contributions(diag["contributions"], run.out / f"bptt_terms_{cell}.png",
                                      title=f"{cell}: per-step BPTT terms at initialisation")
        return summary
