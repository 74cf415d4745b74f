"""The markdown tables the command line prints after a run, an evaluation or a sweep.

Each function returns the text (no trailing newline); the caller prints it::

    print(vmc_table(run_vmc_job(config, "runs/tfim")))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["vmc_table", "qmc_table", "forecast_table", "sweep_plan_table", "sweep_results_table"]


def _quantity_table(rows: Sequence[tuple[str, str]]) -> str:
    """A two-column markdown table ``| quantity | value |``."""
    width = max(len(r[0]) for r in rows)
    lines = [f"| {'quantity':<{width}} | value |", f"|{'-' * (width + 2)}|-------|"]
    lines += [f"| {name:<{width}} | {value} |" for name, value in rows]
    return "\n".join(lines)


def vmc_table(summary: Mapping[str, Any]) -> str:
    """A VMC run's summary: energy against the reference, error, variance, V-score, cost."""
    def fmt(key: str, spec: str) -> str:
        v = summary.get(key)
        return "-" if v is None else format(v, spec)

    energy = f"{fmt('energy', '.8f')} +- {fmt('energy_error', '.1e')}"
    ref = fmt("reference_energy", ".8f")
    if summary.get("reference_error") is not None:
        ref += f" +- {fmt('reference_error', '.1e')}"
    rows = [
        ("system", summary.get("system", "-")),
        ("energy (ours)", energy),
        (f"reference ({summary.get('reference_kind', '-')})", ref),
        ("relative error", fmt("rel_error", ".2e")),
        ("variance", fmt("variance", ".3e")),
        ("V-score", fmt("v_score", ".2e")),
        ("parameters", fmt("n_parameters", "d")),
        ("steps x samples", f"{summary.get('n_steps')} x {summary.get('n_samples')}"),
        ("wall time (s)", fmt("wall_time_s", ".1f")),
    ]
    return _quantity_table(rows)


def qmc_table(summary: Mapping[str, Any]) -> str:
    """A QMC run's summary: energy +- error, beta reached, convergence, reference, cost."""
    def fmt(key: str, spec: str) -> str:
        v = summary.get(key)
        return "-" if v is None else format(v, spec)

    conv = "yes" if summary.get("converged") else f"NO ({summary.get('qmc_status')})"
    rows = [
        ("system", summary.get("system", "-")),
        ("energy (QMC, total)", f"{fmt('energy', '.8f')} +- {fmt('energy_error', '.1e')}"),
        ("energy per site", fmt("energy_per_site", ".8f")),
        ("beta reached", fmt("beta", "g")),
        ("converged in beta", conv),
        (f"reference ({summary.get('reference_kind', '-')})", fmt("reference_energy", ".8f")),
        ("(E - reference) / error", fmt("deviation_sigma", ".2f")),
        ("staggered m^2 per site^2", fmt("staggered_magnetization_sq", ".5f")),
        ("sweeps (all rungs)", fmt("sweeps", "d")),
        ("QMC wall time (s)", fmt("qmc_wall_s", ".1f")),
    ]
    return _quantity_table(rows)


def forecast_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The forecasters of a training run or an evaluation: valid prediction time (median,
    IQR), NRMSE at one Lyapunov time, long-run invariant-measure and spectrum distances."""
    def f(v, spec: str) -> str:
        return "-" if v is None else format(v, spec)

    unit = next((r.get("vpt_unit") for r in rows if r.get("vpt_unit")), "")
    lines = [f"| model | median VPT ({unit}) | IQR | NRMSE at 1 Lyapunov time | "
             "W1/sigma long run | spectrum distance |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {f(r.get('median_vpt'), '.2f')} | "
              f"{f(r.get('vpt_iqr'), '.2f')} | {f(r.get('nrmse_1lyap'), '.3f')} | "
              f"{f(r.get('w1_longrun'), '.3f')} | {f(r.get('psd_longrun'), '.3f')} |"
              for r in rows]
    return "\n".join(lines)


def sweep_plan_table(plan: Any) -> str:
    """The runs of a :class:`physrnn.runs.sweep.SweepPlan`: index, name, grid values."""
    width = max(len(r.name) for r in plan.runs)
    lines = [f"{len(plan.runs)} {plan.kind} runs in {plan.out}:"]
    for r in plan.runs:
        values = ", ".join(f"{k}={v}" for k, v in r.values.items())
        lines.append(f"  {r.index:>3}  {r.name:<{width}}  {values}")
    return "\n".join(lines)


def sweep_results_table(results: Sequence[Any]) -> str:
    """How each run of a sweep ended (:class:`physrnn.runs.sweep.RunResult`)."""
    width = max(len(r.name) for r in results)
    lines = [f"| {'run':<{width}} | status      | exit | time (s) | note",
             f"|{'-' * (width + 2)}|-------------|------|----------|------"]
    for r in results:
        rc = "-" if r.returncode is None else str(r.returncode)
        lines.append(f"| {r.name:<{width}} | {r.status:<11} | {rc:>4} | {r.seconds:>8.1f} | "
                     f"{r.message}")
    return "\n".join(lines)
