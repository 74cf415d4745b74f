"""Figures a physicist expects to see, written as PNG (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from physrnn.records import atomic_path

__all__ = ["plot_vmc_history"]


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
