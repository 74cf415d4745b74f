"""The systems, settings and reference energies of ``reproduce_rnn_wavefunctions.py``.

Energies are **totals**: the TFIM with Pauli matrices (``H = -sum sz sz - h sum sx``), the
Heisenberg and J1-J2 models in S units (``S = sigma / 2``, ``H = J1 sum S.S + J2 sum S.S``),
the conventions of :mod:`physrnn.spins.chains` and ``/work/shared/REFERENCES.md``. Published
numbers given in Pauli units (varbench) are divided by 4 here.

Each :class:`RowSpec` holds the *full* setting (``full``: close to the papers' scale, meant
for a GPU; not their exact protocol) and the smaller model and batch used with ``--preset cpu``
(``cpu``: only the keys that differ). The number of steps is always the full one; a time
budget (``--budget-s``) may stop training earlier, which the report says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ROWS", "QUICK_ROWS", "QUICK_SETTINGS", "Reference", "RowSpec", "row_names"]

PRR = "Hibat-Allah et al., PRR 2, 023358 (2020)"
SYM = "Hibat-Allah, Melko, Carrasquilla, arXiv 2207.14314"
VARBENCH = "varbench (github.com/varbench/varbench)"

#: Adam learning rate of ``--preset cpu`` (short runs; overridden by a row's ``cpu["lr"]``).
CPU_ADAM_LR = 1e-2


@dataclass(frozen=True)
class Reference:
    """A ground-state energy to compare with.

    ``energy`` is a total in the row's units, or ``None`` when it is computed at run time
    (``kind == "exact"``: ``nk.exact.lanczos_ed``; ``"analytic"``: free fermions).
    ``check`` is a published value the computed one must agree with (to 1e-8 relative).
    """

    kind: str
    source: str
    energy: float | None = None
    check: float | None = None


@dataclass(frozen=True)
class RowSpec:
    """One benchmark row: a system, an ansatz, an optimiser and a target.

    Attributes:
        name: row label and ``--rows`` key, e.g. ``"heisenberg 4x4 obc"``.
        model: ``"tfim"``, ``"heisenberg"`` or ``"j1j2"``.
        size: ``(N,)`` for a chain, ``(Lx, Ly)`` for a square lattice.
        boundary: ``"open"`` or ``"periodic"``.
        h, J2: the TFIM field and the J1-J2 second-neighbour coupling.
        marshall: build the Hamiltonian rotated by the Marshall sign rule (J1 bonds).
        phase: give the wavefunction a learned phase head (complex amplitudes).
        magnetisation: restrict the 2D RNN to ``n_up - n_down = M`` (``None``: no constraint).
        cell: recurrent cell (``gru``; 2D also ``tensor_gru``, ``rnn``).
        optimizer: ``"adam"`` or ``"minsr"`` (SR in sample space, SGD steps).
        annealing: ``(T0, warm-up fraction, annealing fraction)`` of the run, or ``None``.
        target: relative error to reach.
        reference: the reference energy, or ``None`` (energy printed alone).
        published_rnn: ``(energy, error, source)`` of the papers' own RNN result, if any.
        full: settings of the full run (``hidden``, ``layers``, ``n_samples``, ``n_steps``,
            ``lr``, ``lr_final``, ``diag_shift``, ``symmetry``: ``"none"`` or ``"c4v"``, the
            amplitude symmetrised over the square's point group in its trivial irrep).
        cpu: the keys of ``full`` replaced with ``--preset cpu``.
        large: needs a GPU at full scale (``--budget-large-s`` applies).
        note: anything the table reader should know.
    """

    name: str
    model: str
    size: tuple[int, ...]
    boundary: str = "open"
    h: float = 1.0
    J2: float = 0.0
    marshall: bool = False
    phase: bool = False
    magnetisation: int | None = None
    cell: str = "gru"
    optimizer: str = "adam"
    annealing: tuple[float, float, float] | None = None
    target: float = 1e-3
    reference: Reference | None = None
    published_rnn: tuple[float, float | None, str] | None = None
    full: dict[str, Any] = field(default_factory=dict)
    cpu: dict[str, Any] = field(default_factory=dict)
    large: bool = False
    note: str = ""

    @property
    def n_sites(self) -> int:
        """Number of spins."""
        n = 1
        for extent in self.size:
            n *= extent
        return n

    def settings(self, preset: str) -> dict[str, Any]:
        """Full settings, with the CPU replacements for ``preset == "cpu"``."""
        base = {"hidden": 64, "layers": 1, "n_samples": 500, "n_steps": 5000, "lr": 5e-3,
                "lr_final": 1e-4, "diag_shift": 1e-3, "symmetry": "none"}
        base.update(self.full)
        if preset == "cpu":
            if self.optimizer == "adam":
                base["lr"] = CPU_ADAM_LR
            base.update(self.cpu)
        return base


def _heis_square(L: int, boundary: str, **kw: Any) -> RowSpec:
    return RowSpec(f"heisenberg {L}x{L} {'obc' if boundary == 'open' else 'pbc'}",
                   "heisenberg", (L, L), boundary, marshall=True, magnetisation=0, **kw)


ROWS: tuple[RowSpec, ...] = (
    RowSpec("tfim chain N=20 h=1", "tfim", (20,), target=1e-5,
            reference=Reference("analytic", "free fermions (Jordan-Wigner), OBC",
                                check=-25.1077971116),
            full={"hidden": 50, "n_samples": 500, "n_steps": 10_000},
            cpu={"hidden": 32, "n_samples": 256}),
    RowSpec("tfim chain N=100 h=1", "tfim", (100,), target=1e-5,
            reference=Reference("analytic", "free fermions (Jordan-Wigner), OBC",
                                check=-126.9618767397),
            full={"hidden": 50, "n_samples": 500, "n_steps": 10_000},
            cpu={"hidden": 32, "n_samples": 256}),
    RowSpec("heisenberg chain N=100", "heisenberg", (100,), marshall=True, target=1e-4,
            reference=Reference("DMRG", "TeNPy, chi=300 (REFERENCES.md)", -44.1277398933),
            full={"hidden": 100, "n_samples": 500, "n_steps": 20_000},
            cpu={"hidden": 32, "n_samples": 128}),
    RowSpec("j1j2 chain N=100 J2=0.2", "j1j2", (100,), J2=0.2, marshall=True, phase=True,
            target=1e-3,
            reference=Reference("DMRG", "REFERENCES.md", -40.7388190503),
            full={"hidden": 100, "n_samples": 500, "n_steps": 20_000},
            cpu={"hidden": 32, "n_samples": 128},
            note="Marshall-rotated J1 bonds plus a learned phase"),
    RowSpec("j1j2 chain N=100 J2=0.7", "j1j2", (100,), J2=0.7, marshall=True, phase=True,
            optimizer="minsr", annealing=(1.0, 0.0, 0.6), target=1e-3,
            reference=Reference("DMRG", "TeNPy, chi=400 (benchmarks/dmrg_reference.py)",
                                -39.6668012942),
            full={"hidden": 100, "n_samples": 500, "n_steps": 20_000, "lr": 0.5,
                  "lr_final": 0.01, "diag_shift": 1e-2},
            cpu={"hidden": 32, "n_samples": 256},
            note="past Majumdar-Ghosh: Marshall-rotated J1 bonds, learned phase, annealed "
                 "minSR (the recipe that makes N = 20 stable)"),
    RowSpec("j1j2 chain N=100 J2=0.5", "j1j2", (100,), J2=0.5, marshall=True, target=1e-3,
            reference=Reference("analytic", "Majumdar-Ghosh, -3N/8 (open, even N)", -37.5),
            full={"hidden": 100, "n_samples": 500, "n_steps": 20_000},
            cpu={"hidden": 32, "n_samples": 128},
            note="the Marshall-rotated dimer ground state is positive: no phase head"),
    _heis_square(4, "open", target=1e-4,
                 reference=Reference("exact", "netket lanczos_ed", check=-0.5743254416 * 16),
                 full={"hidden": 64, "n_samples": 500, "n_steps": 5000},
                 cpu={"hidden": 24, "n_samples": 256}),
    _heis_square(4, "open", target=1e-4, optimizer="minsr",
                 reference=Reference("exact", "netket lanczos_ed", check=-0.5743254416 * 16),
                 full={"hidden": 64, "n_samples": 500, "n_steps": 2000, "lr": 0.05,
                       "lr_final": 0.01},
                 cpu={"hidden": 24, "n_samples": 256},
                 note="minSR (SGD on the SR direction) beside the Adam row, same wall time"),
    _heis_square(4, "periodic", target=1e-4,
                 reference=Reference("exact", "netket lanczos_ed"),
                 full={"hidden": 64, "n_samples": 500, "n_steps": 5000},
                 cpu={"hidden": 24, "n_samples": 256}),
    _heis_square(6, "open", target=1e-3,
                 reference=Reference("exact", f"ED -86.9071441699763 (Pauli), {VARBENCH} "
                                     "Heisenberg/square_6_OO_36.md", -86.9071441699763 / 4),
                 full={"hidden": 100, "n_samples": 500, "n_steps": 10_000},
                 cpu={"hidden": 24, "n_samples": 128}),
    _heis_square(6, "periodic", target=1e-3,
                 reference=Reference("exact", f"ED -97.7575895972357 (Pauli), {VARBENCH} "
                                     "Heisenberg/square_6_PP_36.md", -97.7575895972357 / 4),
                 full={"hidden": 100, "n_samples": 500, "n_steps": 10_000},
                 cpu={"hidden": 24, "n_samples": 128}),
    RowSpec("tfim 4x4 h=3 obc", "tfim", (4, 4), h=3.0, target=1e-4,
            reference=Reference("exact", "netket lanczos_ed", check=-50.1866238828),
            full={"hidden": 64, "n_samples": 500, "n_steps": 5000},
            cpu={"hidden": 24, "n_samples": 256}),
    RowSpec("tfim 12x12 h=3 obc", "tfim", (12, 12), h=3.0, target=1e-4, large=True,
            reference=Reference("published", "best variational energy, Sharir et al., PRL 124, "
                                "020503 (2020), as listed in REFERENCES.md", -457.0420317),
            published_rnn=(-457.041866, 27e-6, f"{PRR}, 2D RNN d_h=500 (REFERENCES.md)"),
            full={"hidden": 500, "n_samples": 500, "n_steps": 10_000, "lr": 1e-3},
            cpu={"hidden": 16, "n_samples": 32}),
    RowSpec("heisenberg 10x10 obc", "heisenberg", (10, 10), marshall=True, magnetisation=0,
            cell="tensor_gru", annealing=(0.25, 0.05, 0.45), target=1e-4, large=True,
            reference=Reference("published", f"QMC -251.46248 (Pauli), PRB 90, 064425, via "
                                f"{VARBENCH} Heisenberg/square_10_OO_100.md", -251.46248 / 4),
            published_rnn=(-251.45538 / 4, 0.00044 / 4,
                           f"{SYM}, 2D tensorised GRU d_h=200, C4v + Sz=0 + annealing"),
            full={"hidden": 200, "n_samples": 500, "n_steps": 20_000, "lr": 1e-3,
                  "symmetry": "c4v"},
            cpu={"hidden": 16, "n_samples": 32, "symmetry": "none"},
            note="full: C4v-symmetrised amplitude (A1) + Sz=0 + annealing, as published; "
                 "cpu: Sz=0 + annealing, no C4v (8x cheaper per step)"),
)

#: ``--quick``: two small rows whose references are computed here, tiny settings.
QUICK_ROWS = ("tfim chain N=20 h=1", "heisenberg 4x4 obc")
QUICK_SETTINGS = {"hidden": 8, "n_samples": 64, "n_steps": 60}


def row_names() -> list[str]:
    """Distinct row names (the Adam and minSR 4x4 rows share one name)."""
    seen: list[str] = []
    for row in ROWS:
        if row.name not in seen:
            seen.append(row.name)
    return seen
