"""Figures a physicist expects to see, written as PNG (matplotlib, Agg backend).

Every ``plot_*`` function writes its PNG atomically (a crash never leaves half a figure under
the final name) and returns the path. :func:`figure` and :func:`save_figure` are the two steps
every one of them takes, for figures of one's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from physrnn.nn.diagnostics import verdict
from physrnn.runs.records import atomic_path

__all__ = [
    "figure",
    "save_figure",
    "plot_vmc_history",
    "plot_training_history",
    "plot_nrmse_curves",
    "plot_forecasts",
    "plot_attractor",
    "plot_gradient_norms",
    "plot_jacobian_spectra",
    "plot_weight_contributions",
]


def figure(nrows: int, ncols: int, size: tuple[float, float]) -> tuple[Any, Any, np.ndarray]:
    """A new figure on the Agg backend: ``(pyplot, figure, axes)``.

    Args:
        nrows, ncols: the grid of axes (sharing their x axis).
        size: ``(width, height)`` in inches.

    Returns:
        ``axes`` is always 2D, ``(nrows, ncols)``.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(nrows, ncols, figsize=size, sharex=True, squeeze=False)


def plot_vmc_history(
    history: dict[str, np.ndarray],
    path: str | Path,
    *,
    reference: float | None = None,
    reference_label: str = "exact",
    title: str = "",
) -> Path:
    """Energy versus step (with error band and the reference line), and below it the relative
    error and the local-energy variance on log scales.

    Args:
        history: arrays ``step``, ``energy``, ``error``, ``variance`` of equal length.
        path: PNG file to write (atomically).
        reference: reference ground-state energy (total), drawn as a horizontal line.
    """
    plt, fig, axes = figure(2, 1, (7.0, 6.5))
    ax_e, ax_r = axes[0, 0], axes[1, 0]
    step, energy, error = history["step"], history["energy"], history["error"]
    ax_e.plot(step, energy, lw=1.0, color="C0", label="VMC energy")
    ax_e.fill_between(step, energy - error, energy + error, color="C0", alpha=0.25, lw=0)
    if reference is not None:
        ax_e.axhline(reference, color="k", ls="--", lw=1.0,
                     label=f"{reference_label} {reference:.8g}")
        span = max(abs(reference) * 0.02, 1e-3)
        ax_e.set_ylim(reference - 0.2 * span, reference + span)
        rel = np.abs((energy - reference) / reference)
        ax_r.semilogy(step, np.maximum(rel, 1e-12), lw=1.0, color="C1",
                      label="|E - E_ref| / |E_ref|")
    ax_r.semilogy(step, np.maximum(history["variance"], 1e-16), lw=1.0, color="C2",
                  label="Var(E_loc)")
    ax_e.set_ylabel("energy (total)")
    ax_r.set_ylabel("relative error, variance")
    ax_r.set_xlabel("VMC step")
    ax_e.legend(loc="upper right", fontsize=8)
    ax_r.legend(loc="upper right", fontsize=8)
    ax_r.grid(True, which="major", alpha=0.3)
    if title:
        ax_e.set_title(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return path


def save_figure(plt: Any, fig: Any, path: str | Path) -> Path:
    """Lay out ``fig``, write it as a PNG (120 dpi) atomically to ``path``, close it."""
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return path


def plot_training_history(history: dict[str, np.ndarray], path: str | Path) -> Path:
    """Training and validation loss (log scale) and the rollout length per epoch."""
    plt, fig, axes = figure(2, 1, (7.0, 5.5))
    ax, ax_k = axes[0, 0], axes[1, 0]
    epoch = history["epoch"]
    ax.semilogy(epoch, history["train_loss"], label="train loss", color="C0")
    if "val_loss" in history and np.any(np.isfinite(history["val_loss"])):
        ax.semilogy(epoch, history["val_loss"], label="validation loss (closed loop)",
                    color="C1")
    ax.set_ylabel("loss (normalised units^2)")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    if "rollout_k" in history:
        ax_k.step(epoch, history["rollout_k"], where="post", color="C2")
    ax_k.set_ylabel("rollout length k (0 = teacher forcing)")
    ax_k.set_xlabel("epoch")
    return save_figure(plt, fig, path)


def _lead_axis(n: int, dt: float, lam: float | None) -> tuple[np.ndarray, str]:
    lead = dt * np.arange(1, n + 1)
    return (lead * lam, "lead time (Lyapunov times)") if lam else (lead, "lead time")


def plot_nrmse_curves(extras: dict, path: str | Path, *, threshold: float = 0.4) -> Path:
    """NRMSE versus lead time for every model (median and interquartile band over windows)."""
    from physrnn.metrics.forecast import nrmse

    plt, fig, axes = figure(1, 1, (7.0, 4.5))
    ax = axes[0, 0]
    truth = extras["windows"].truth
    lead, label = _lead_axis(truth.shape[1], extras["dt"], extras["lyapunov_exponent"])
    for k, (name, pred) in enumerate(extras["forecasts"].items()):
        err = nrmse(pred, truth, np.ones(truth.shape[-1]))
        med = np.median(err, axis=0)
        ax.plot(lead, med, color=f"C{k}", label=name, lw=1.5 if k == 0 else 1.0)
        ax.fill_between(lead, np.quantile(err, 0.25, axis=0), np.quantile(err, 0.75, axis=0),
                        color=f"C{k}", alpha=0.15, lw=0)
    ax.axhline(threshold, color="k", ls="--", lw=1.0, label=f"VPT threshold {threshold}")
    ax.set_xlabel(label)
    ax.set_ylabel("NRMSE")
    ax.set_ylim(0, max(1.5, 2 * threshold))
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    return save_figure(plt, fig, path)


def plot_forecasts(extras: dict, path: str | Path, *, model: str, n_windows: int = 3,
                   max_components: int = 3) -> Path:
    """Forecast of ``model`` versus truth for a few test windows (normalised units)."""
    truth = extras["windows"].truth
    pred = extras["forecasts"][model]
    n_w = min(n_windows, truth.shape[0])
    n_c = min(max_components, truth.shape[-1])
    plt, fig, axes = figure(n_c, n_w, (3.6 * n_w, 2.2 * n_c))
    lead, label = _lead_axis(truth.shape[1], extras["dt"], extras["lyapunov_exponent"])
    names = extras.get("state_names") or [f"y{i}" for i in range(truth.shape[-1])]
    for j in range(n_w):
        for c in range(n_c):
            ax = axes[c, j]
            ax.plot(lead, truth[j, :, c], color="k", lw=1.0, label="truth")
            ax.plot(lead, pred[j, :, c], color="C0", lw=1.0, ls="--", label=model)
            if j == 0:
                ax.set_ylabel(f"{names[c]} (normalised)")
            if c == n_c - 1:
                ax.set_xlabel(label)
    axes[0, 0].legend(fontsize=7)
    return save_figure(plt, fig, path)


def plot_attractor(extras: dict, path: str | Path, *, components: tuple[int, int] = (0, -1),
                   max_models: int = 4) -> Path:
    """Projection of each model's long free run beside the true test trajectories.

    Uses state components ``components`` (default first and last, x-z for Lorenz-63), in
    normalised units; a model whose free run diverged is absent.
    """
    runs = dict(list(extras["free_runs"].items())[:max_models])
    truth = extras["truth_pool"].reshape(-1, extras["truth_pool"].shape[-1])
    names = extras.get("state_names") or [f"y{i}" for i in range(truth.shape[-1])]
    i, j = components
    plt, fig, axes = figure(1, len(runs) + 1, (3.2 * (len(runs) + 1), 3.2))
    panels = [("truth (test)", truth), *runs.items()]
    for k, (name, run) in enumerate(panels):
        ax = axes[0, k]
        ax.plot(run[:, i], run[:, j], lw=0.3, color="k" if k == 0 else f"C{k - 1}")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(names[i])
        if k == 0:
            ax.set_ylabel(names[j])
    lims = (truth[:, i].min() - 0.5, truth[:, i].max() + 0.5), \
        (truth[:, j].min() - 0.5, truth[:, j].max() + 0.5)
    for ax in axes[0]:
        ax.set_xlim(*lims[0])
        ax.set_ylim(*lims[1])
    return save_figure(plt, fig, path)


# --------------------------------------------------------------------------- BPTT diagnostics


def _numpy(a: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().double().numpy()
    return np.asarray(a, dtype=np.float64)


def _label_axes(ax, xlabel: str, ylabel: str, title: str, *, legend_size: int = 8) -> None:
    """Axis labels, a light grid, the legend and the optional title of a diagnostics plot."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="best", fontsize=legend_size)
    if title:
        ax.set_title(title, fontsize=10)


def plot_gradient_norms(norms_by_model: Mapping[str, torch.Tensor | np.ndarray],
                        path: str | Path, *, title: str = "") -> Path:
    """``||dL/dh_t||`` (log scale) against the number of steps before the loss, one line per
    model, labelled with the :func:`physrnn.nn.diagnostics.verdict`.

    Args:
        norms_by_model: ``{name: (T,)}`` norms in time order (lengths may differ).
        path: PNG file to write (atomically).
    """
    if not norms_by_model:
        raise ValueError("norms_by_model is empty")
    plt, fig, axes = figure(1, 1, (7.0, 4.5))
    ax = axes[0, 0]
    for i, (name, norms) in enumerate(norms_by_model.items()):
        a = _numpy(norms)
        if a.ndim != 1:
            raise ValueError(f"norms of {name!r} must be (T,), got {a.shape}")
        label = name
        if a.size >= 2 and np.all(np.isfinite(a)):
            v = verdict(a)
            label = f"{name}: {v['kind']}, x{v['decay_per_step']:.3g}/step"
        k = np.arange(a.size - 1, -1, -1)
        ax.semilogy(k, np.maximum(a, 1e-300), lw=1.2, color=f"C{i % 10}", label=label)
    _label_axes(ax, "steps before the loss  (T - 1 - t)", "||dL/dh_t||", title)
    return save_figure(plt, fig, path)


def plot_jacobian_spectra(sv: torch.Tensor | np.ndarray, path: str | Path, *,
                          title: str = "") -> Path:
    """Singular values of the step Jacobians along the trajectory (log scale).

    Each line is one singular-value index (largest first), the median over the batch, against
    the time step; the dashed line at 1 separates contracting from expanding directions.

    Args:
        sv: ``(T-1, B, D)`` from :func:`physrnn.nn.diagnostics.jacobian_spectra` (or ``(T-1, D)``).
        path: PNG file to write (atomically).
    """
    a = _numpy(sv)
    if a.ndim == 2:
        a = a[:, None, :]
    if a.ndim != 3 or a.shape[0] < 1:
        raise ValueError(f"sv must be (T-1, B, D) or (T-1, D), got {a.shape}")
    med = np.median(a, axis=1)  # (T-1, D)
    plt, fig, axes = figure(1, 1, (7.0, 4.5))
    ax = axes[0, 0]
    steps = np.arange(med.shape[0])
    cmap = plt.get_cmap("viridis")
    d = med.shape[1]
    for i in range(d):
        ax.semilogy(steps, np.maximum(med[:, i], 1e-300), lw=0.9,
                    color=cmap(i / max(d - 1, 1)), label="largest" if i == 0 else
                    ("smallest" if i == d - 1 else None))
    ax.axhline(1.0, color="k", ls="--", lw=1.0)
    _label_axes(ax, "time step t  (J_t = ds_{t+1}/ds_t)", "singular values (median over batch)",
                title)
    return save_figure(plt, fig, path)


def plot_weight_contributions(contributions: Mapping[str, torch.Tensor | np.ndarray],
                              path: str | Path, *, title: str = "") -> Path:
    """Per-time-step contributions to the gradient of each shared weight (log scale).

    BPTT sums these terms over time; when the recurrent Jacobians contract, the early steps'
    terms are exponentially small and the gradient carries no information about long delays.

    Args:
        contributions: ``{parameter name: (T,) norms}`` from
            :func:`physrnn.nn.diagnostics.per_step_weight_contributions`.
        path: PNG file to write (atomically).
    """
    plt, fig, axes = figure(1, 1, (7.0, 4.5))
    ax = axes[0, 0]
    for k, (name, values) in enumerate(contributions.items()):
        v = _numpy(values).astype(float)
        positive = v[v > 0]
        floor = positive.max() * 1e-30 if positive.size else 1e-300
        ax.semilogy(np.arange(len(v)), np.maximum(v, floor), lw=1.0, color=f"C{k % 10}",
                    label=name)
    _label_axes(ax, "time step t", "||dL/dW at step t||", title, legend_size=7)
    return save_figure(plt, fig, path)
