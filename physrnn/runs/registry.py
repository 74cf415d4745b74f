"""The run kinds: what ``physrnn <kind>`` runs, configured by what, writing which keys.

Every kind is a :class:`RunKind`: its name (the subcommand), its run-config dataclass, its job
function (``job(config, out, *, overwrite, resume, progress, command) -> summary``), the keys
of its ``summary.json`` with their meaning, and the help texts. The command line builds its
subcommands, ``physrnn show-config`` and ``physrnn sweep`` choose the config class, and
``physrnn collect`` finds the config sections from here::

    from physrnn.runs.registry import RUN_KINDS, load_run_config
    kind, config = load_run_config("examples/forecast_lorenz63.toml")   # kind.name == "train"
    summary = kind.job(config, "runs/l63")

A config file's kind is told by its sections (:func:`kind_of`): ``[wavefunction]`` or
``[vmc]`` make a VMC run, ``[qmc]`` a QMC run, ``[system]`` alone (shared by both) a VMC run,
``[data]``, ``[model]``, ``[train]``, ``[readout]`` or ``[eval]`` a forecasting run. The
config classes and the job modules are imported only when they are asked for, so that
listing the kinds (``physrnn --help``, ``physrnn collect``) imports no torch.
"""

from __future__ import annotations

import importlib
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from physrnn.config import load_config
from physrnn.errors import ConfigError

__all__ = [
    "RunKind",
    "RUN_KINDS",
    "VMC_SUMMARY_KEYS",
    "TRAIN_SUMMARY_KEYS",
    "QMC_SUMMARY_KEYS",
    "MEMORY_SUMMARY_KEYS",
    "get_kind",
    "config_kinds",
    "config_sections",
    "kind_of",
    "load_run_config",
]

#: Keys of ``summary.json`` written by a VMC run, with their meaning (shown by ``--help``).
VMC_SUMMARY_KEYS: dict[str, str] = {
    "status": "completed | failed | interrupted | preempted (SIGTERM/SIGUSR1: checkpointed, "
              "exit code 75)",
    "system": "one-line description of the Hamiltonian",
    "n_sites": "number of sites N",
    "energy": "final variational energy <H> (total) from final_samples fresh exact samples",
    "energy_error": "standard error of energy",
    "energy_per_site": "energy / N",
    "variance": "variance of the local energy, Var(E_loc)",
    "v_score": "N Var(E) / (E - E_inf)^2 (Wu et al. 2024); smaller is better",
    "reference_energy": "best available ground-state energy (total): closed form, exact, "
                        "published or QMC ([reference] kind)",
    "reference_kind": "analytic | exact | published | qmc",
    "reference_source": "formula, method or citation of reference_energy",
    "reference_error": "statistical error bar of reference_energy (qmc)",
    "rel_error": "|energy - reference_energy| / |reference_energy|",
    "n_steps": "optimisation steps taken",
    "n_samples": "exact samples per step",
    "n_parameters": "real trainable parameters of the wavefunction",
    "train_time_s": "wall time of the optimisation (s), summed over resumed segments",
    "samples_per_s": "training samples per second (n_samples * n_steps / train_time_s)",
    "float64_since": "steps done in float32 before the switch to float64 (vmc.float64_from, "
                     "vmc.float64_below); null: no switch",
    "seed": "run.seed",
    "device": "resolved device",
    "physrnn_version": "package version",
    "git_revision": "git revision of the source (-dirty if modified)",
}

#: Keys of ``summary.json`` written by a QMC run (shown by ``physrnn qmc --help``).
QMC_SUMMARY_KEYS: dict[str, str] = {
    "status": "completed | failed | interrupted",
    "system": "one-line description of the Hamiltonian",
    "n_sites": "number of sites N",
    "energy": "QMC ground-state energy (total, the system's units) at the largest beta",
    "energy_error": "its error bar (the larger of ALPS's binning error and a Geyer estimate "
                    "on ALPS's bins)",
    "energy_per_site": "energy / N",
    "beta": "inverse temperature of energy",
    "converged": "qmc.agree consecutive beta doublings agreed within qmc.sigma error bars",
    "qmc_status": "converged | beta_max | budget (what ended the beta ladder)",
    "sweeps": "measured sweeps over all rungs",
    "qmc_wall_s": "seconds in the QMC program",
    "rungs": "beta values run",
    "staggered_magnetization_sq": "(1/N^2) sum s_i s_j <Sz_i Sz_j> at the last beta (S units)",
    "uniform_magnetization_sq": "(1/N^2) sum <Sz_i Sz_j> at the last beta (S units)",
    "mapping": "the translation into ALPS's spin model, in words",
    "cache_file": "the QMC cache entry written (reference energies of later runs)",
    "pyalps_version": "version of the ALPS package that ran",
    "reference_energy": "closed-form, exact or published energy when there is one",
    "reference_kind": "analytic | exact | published",
    "reference_source": "formula, method or citation of reference_energy",
    "deviation_sigma": "(energy - reference_energy) / energy_error",
    "seed": "run.seed (ALPS's SEED of the first rung; rung k uses seed + k)",
    "physrnn_version": "package version",
    "git_revision": "git revision of the source",
}

#: Keys of ``summary.json`` of a forecasting run (shown by ``physrnn train --help``).
TRAIN_SUMMARY_KEYS: dict[str, str] = {
    "status": "completed | interrupted | preempted (SIGTERM/SIGUSR1: checkpointed, exit code 75)",
    "system": "dataset's system name",
    "model": "the trained forecaster: its cell (gru, lstm, rnn) and refitted read-out",
    "vpt_unit": "unit of the valid prediction times (Lyapunov times or time units)",
    "median_vpt": "median valid prediction time of the trained RNN on the test windows",
    "vpt_iqr": "interquartile range of the RNN's valid prediction time",
    "nrmse_1lyap": "RNN's NRMSE at one Lyapunov time (mean over test windows)",
    "best_baseline": "baseline with the largest median VPT",
    "best_baseline_vpt": "its median VPT",
    "vpt_<name>": "median VPT of each baseline (persistence, mean, linear, esn, sindy)",
    "n_test": "number of test initial conditions",
    "readout_ridge": "ridge of the refitted read-out (readout.features != 'none')",
    "readout_one_step_rmse": "one-step rms error of the refitted read-out on the train split",
    "epochs": "training epochs completed",
    "train_windows": "training windows per epoch",
    "n_parameters": "trainable parameters of the RNN",
    "train_time_s": "wall time of training (s)",
    "final_val_loss": "validation loss after the last epoch",
    "data_file": "resolved path of the dataset that was read",
    "seed": "run.seed",
    "physrnn_version": "package version",
    "git_revision": "git revision of the source",
}

#: Keys of ``summary.json`` of a memory experiment (shown by ``physrnn memory --help``).
MEMORY_SUMMARY_KEYS: dict[str, str] = {
    "task": "the memory task (adding, recall, copy)",
    "longest_solved": "{'<cell>/<variant>': longest delay that at least half of the seeds "
                      "solved (0: none)}",
    "rows": "one row per (cell, variant, delay, seed): final_loss, trivial_loss, solved_loss, "
            "solved, steps, train_s, grad_decay_per_step, grad_verdict",
}


def _resolve(path: str) -> Any:
    """The object ``"module:name"`` names (the module imported on first use)."""
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class RunKind:
    """One kind of run (one ``physrnn <name>`` subcommand).

    Attributes:
        name: the subcommand and the ``--kind`` of ``physrnn sweep``.
        help: one line for ``physrnn --help``.
        description: the paragraph of ``physrnn <name> --help``.
        config_path: ``"module:class"`` of the frozen run-config dataclass; see
            :attr:`config_class`.
        config_sections: the fields (sections) of that dataclass, in order.
        job_path: ``"module:function"`` of the job; see :attr:`job`.
        summary_keys: ``{key: meaning}`` of the ``summary.json`` the job writes.
        outputs: the files the job leaves in ``--out DIR``, as a sentence.
        config_file: the subcommand takes a TOML config file (``show-config`` and ``sweep``
            work with the kind); ``False``: it is configured by its options.
    """

    name: str
    help: str
    description: str
    config_path: str
    config_sections: tuple[str, ...]
    job_path: str
    summary_keys: Mapping[str, str]
    outputs: str
    config_file: bool = True

    @property
    def sections(self) -> frozenset[str]:
        """The config sections that tell this kind's files apart (all but ``run``)."""
        return frozenset(self.config_sections) - {"run"}

    @property
    def config_class(self) -> type:
        """The run-config dataclass, imported on first use."""
        return _resolve(self.config_path)

    @property
    def job(self) -> Callable[..., dict[str, Any]]:
        """The job function, imported on first use."""
        return _resolve(self.job_path)

    def summary_help(self) -> str:
        """The ``--help`` epilog: the outputs, then every summary key with its meaning."""
        width = max(len(k) for k in self.summary_keys)
        lines = [f"  {k:<{width}}  {v}" for k, v in self.summary_keys.items()]
        return f"outputs in --out DIR: {self.outputs}\n\nsummary.json keys:\n" + "\n".join(lines)


#: Every run kind, by name, in the order ``physrnn --help`` lists them.
RUN_KINDS: dict[str, RunKind] = {k.name: k for k in (
    RunKind(
        name="vmc", help="variational Monte Carlo from a config",
        description="Variational Monte Carlo ground state of a spin chain or square lattice "
                    "described by a TOML config (see examples/). Started as R processes "
                    "(torchrun --nproc-per-node R -m physrnn.cli vmc ..., or srun), the "
                    "samples of every step are shared by the ranks.",
        config_path="physrnn.vmc.config:VMCRunConfig",
        config_sections=("system", "wavefunction", "vmc", "reference", "run"),
        job_path="physrnn.runs.vmc:run_vmc_job",
        summary_keys=VMC_SUMMARY_KEYS,
        outputs="record.h5 (config, versions, history, results), summary.json, energy.png, "
                "checkpoint.pt"),
    RunKind(
        name="qmc", help="quantum Monte Carlo ground state (ALPS loop) from a config",
        description="Ground-state energy of the [system] of a VMC config by ALPS's loop-cluster "
                    "QMC (pip install 'physrnn[qmc]'), doubling beta until the energy stops "
                    "moving ([qmc] section: beta_start, beta_max, sweeps, budget_s, agree, "
                    "sigma). Sign-free Hamiltonians only: frustrated or non-bipartite "
                    "antiferromagnets are refused. The result is cached on disk by a hash of "
                    "the Hamiltonian and becomes the reference energy of later VMC runs "
                    "(PHYSRNN_CACHE_DIR, default ~/.cache/physrnn).",
        config_path="physrnn.baselines.quantum.config:QMCRunConfig",
        config_sections=("system", "qmc", "run"),
        job_path="physrnn.runs.qmc:run_qmc_job",
        summary_keys=QMC_SUMMARY_KEYS,
        outputs="record.h5 (config, versions, the beta ladder, results), summary.json, "
                "qmc.png, correlations.npy"),
    RunKind(
        name="train", help="train an RNN forecaster and score it against baselines",
        description="Train a recurrent forecaster on a simulated-dynamics dataset (teacher "
                    "forcing, then closed-loop rollout), then score it and every configured "
                    "baseline on the test split. Started as R processes (torchrun "
                    "--nproc-per-node R -m physrnn.cli train ..., or srun), training is "
                    "data-parallel: data.batch_size is per process, rank 0 writes the outputs. "
                    "Evaluation cost: readout.features = 'quadratic' refits by one QR per "
                    "training trajectory of (steps + p) x p with p ~ hidden_size^2 / 2 (about "
                    "75 s and 5 GB per 25,000-step trajectory at hidden_size 128 on one core), "
                    "then an SVD of p x p; the esn baseline fits eval.esn_configs reservoirs on "
                    "the whole train split; each forecast runs horizon_lyapunov Lyapunov times "
                    "step by step. Away from a terminal a progress line is logged every 30 s "
                    "(PHYSRNN_PROGRESS_EVERY seconds) with the phase, k/N, loss, elapsed and "
                    "ETA.",
        config_path="physrnn.train.config:TrainRunConfig",
        config_sections=("data", "model", "train", "readout", "eval", "run"),
        job_path="physrnn.runs.train:run_train_job",
        summary_keys=TRAIN_SUMMARY_KEYS,
        outputs="record.h5, summary.json (with the full table under 'table'), training.png, "
                "nrmse.png, forecasts.png, checkpoint.pt, data.h5 when generated from a card"),
    RunKind(
        name="memory", help="which cells solve memory tasks at which delay",
        description="Train RNN / LSTM / GRU on a memory task (adding, recall, copy) at "
                    "several\ndelays for a fixed budget; table and plot of final loss versus "
                    "delay, with\ngradient diagnostics.",
        config_path="physrnn.runs.memory_config:MemoryRunConfig",
        config_sections=("memory",),
        job_path="physrnn.runs.memory:run_memory_job",
        summary_keys=MEMORY_SUMMARY_KEYS,
        outputs="summary.json, record.h5, memory.png, gradients.png, jacobians_<cell>.png, "
                "bptt_terms_<cell>.png",
        config_file=False),
)}


def get_kind(name: str) -> RunKind:
    """The run kind called ``name``.

    Raises:
        ConfigError: no such kind (the message lists them).
    """
    try:
        return RUN_KINDS[name]
    except KeyError:
        raise ConfigError(f"unknown run kind {name!r}; choose "
                          f"{', '.join(RUN_KINDS)}") from None


def config_kinds() -> list[str]:
    """Names of the kinds that take a TOML config file, sorted."""
    return sorted(k.name for k in RUN_KINDS.values() if k.config_file)


def config_sections() -> list[str]:
    """Every config section of every kind (``run`` included), in registry order."""
    out: list[str] = []
    for kind in RUN_KINDS.values():
        out += [s for s in kind.config_sections if s not in out]
    return out


def kind_of(config_path: str | Path | None, keys: Sequence[str] = (), *,
            default: str | None = None) -> str:
    """The kind (of those with config files) whose sections the file and ``keys`` use.

    Args:
        config_path: a TOML file (unreadable or invalid files count as having no sections:
            the loader reports them with the details), or ``None``.
        keys: ``section.key`` names used besides the file (``--set``, ``--grid``).
        default: the answer when nothing tells the kinds apart (no kind's section at all);
            ``None`` makes that an error.

    Raises:
        ConfigError: the sections of two kinds, or of none and no ``default`` (pass
            ``--kind``).
    """
    sections: set[str] = set()
    if config_path is not None and Path(config_path).is_file():
        try:
            sections |= set(tomllib.loads(Path(config_path).read_text(encoding="utf-8")))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            pass
    sections |= {k.split(".")[0] for k in keys}
    names = [n for n in RUN_KINDS if RUN_KINDS[n].config_file]
    own = {n: RUN_KINDS[n].sections - frozenset().union(
        *(RUN_KINDS[m].sections for m in names if m != n)) for n in names}
    found = [n for n in names if sections & own[n]]
    if len(found) == 1:
        return found[0]
    if not found:   # only sections several kinds share ([system]): the first kind using them
        found = [n for n in names if sections & RUN_KINDS[n].sections][:1]
        if found:
            return found[0]
    if not found and default is not None:
        return default
    choice = " or a ".join(names)
    raise ConfigError(f"{config_path}: cannot tell whether this is a {choice} config "
                      f"(sections: {', '.join(sorted(sections)) or 'none'}); pass --kind")


def load_run_config(path: str | Path | None = None, *, kind: str | None = None,
                    overrides: Sequence[str] = (), default: str | None = None
                    ) -> tuple[RunKind, Any]:
    """Load a run config of the kind named, or of the kind its sections tell.

    Args:
        path: TOML file; ``None`` starts from the kind's defaults.
        kind: the kind's name; ``None``: :func:`kind_of` the file and the override keys.
        overrides: ``["section.key=value", ...]``, applied after the file.
        default: the kind when neither the file nor the overrides tell.

    Returns:
        ``(kind, config)``.

    Raises:
        ConfigError: an unknown or ambiguous kind, or what :func:`load_config` raises.
    """
    keys = [o.split("=", 1)[0].strip() for o in overrides]
    run_kind = get_kind(kind or kind_of(path, keys, default=default))
    return run_kind, load_config(path, cls=run_kind.config_class, overrides=list(overrides))
