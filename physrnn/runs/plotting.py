"""Figures a physicist expects to see, written as PNG (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from physrnn.runs.records import atomic_path

__all__ = [
    "plot_vmc_history",
    "plot_training_history",
    "plot_nrmse_curves",
    "plot_forecasts",
    "plot_attractor",
]


def _figure(nrows: int, ncols: int, size: tuple[float, float]):
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
    plt, fig, axes = _figure(2, 1, (7.0, 6.5))
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


def _save(plt, fig, path: str | Path) -> Path:
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return path


def plot_training_history(history: dict[str, np.ndarray], path: str | Path) -> Path:
    """Training and validation loss (log scale) and the rollout length per epoch."""
    plt, fig, axes = _figure(2, 1, (7.0, 5.5))
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
    return _save(plt, fig, path)


def _lead_axis(n: int, dt: float, lam: float | None) -> tuple[np.ndarray, str]:
    lead = dt * np.arange(1, n + 1)
    return (lead * lam, "lead time (Lyapunov times)") if lam else (lead, "lead time")


def plot_nrmse_curves(extras: dict, path: str | Path, *, threshold: float = 0.4) -> Path:
    """NRMSE versus lead time for every model (median and interquartile band over windows)."""
    from physrnn.metrics.forecast import nrmse

    plt, fig, axes = _figure(1, 1, (7.0, 4.5))
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
    return _save(plt, fig, path)


def plot_forecasts(extras: dict, path: str | Path, *, model: str, n_windows: int = 3,
                   max_components: int = 3) -> Path:
    """Forecast of ``model`` versus truth for a few test windows (normalised units)."""
    truth = extras["windows"].truth
    pred = extras["forecasts"][model]
    n_w = min(n_windows, truth.shape[0])
    n_c = min(max_components, truth.shape[-1])
    plt, fig, axes = _figure(n_c, n_w, (3.6 * n_w, 2.2 * n_c))
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
    return _save(plt, fig, path)


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
    plt, fig, axes = _figure(1, len(runs) + 1, (3.2 * (len(runs) + 1), 3.2))
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
    return _save(plt, fig, path)
