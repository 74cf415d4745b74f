"""Config of a VMC run (``physrnn vmc``): :class:`VMCRunConfig` and its sections.

The ``[system]``, ``[wavefunction]``, ``[vmc]`` and ``[reference]`` sections, with the shared
``[run]`` (:class:`physrnn.config.RunConfig`). Each section validates its own keys in
``__post_init__``; :func:`check_vmc_sections` checks the combinations that involve two
sections (for example a 2D wavefunction on a chain) and is called by :class:`VMCRunConfig`.
Every rejection is a :class:`ConfigError` whose message names the key;
:func:`physrnn.config.from_dict` adds the file and the section. Load a file with::

    from physrnn.vmc.config import load_vmc_config
    config = load_vmc_config("examples/tfim_chain_periodic.toml", overrides=["vmc.lr=3e-3"])

Example file (every key optional; defaults are the quickstart run)::

    [system]
    model = "tfim"          # "tfim", "heisenberg", "xxz", "j1j2"
    lattice = "chain"       # "chain" (n_sites), "square" (Lx, Ly)
    n_sites = 20
    boundary = "open"       # "open", "periodic"
    h = 1.0

    [vmc]
    n_steps = 1000
    n_samples = 512

    [reference]
    kind = "auto"           # "auto", "qmc" (run ALPS QMC where ED is too large), "none"

Lattices (``[system]``):

* ``lattice = "chain"``: ``n_sites`` spins in a line; ``Lx`` and ``Ly`` stay 0 (unused).
* ``lattice = "square"``: an ``Lx x Ly`` lattice (both ``>= 2``, ``>= 3`` if periodic) in
  netket's ``Grid([Lx, Ly])`` site numbering; ``n_sites`` is derived, ``Lx * Ly``, and filled
  in on load so that records state ``N``. Leave ``n_sites`` out (the chain default, 20, is
  replaced); any other value that is not ``Lx * Ly`` is an error.

Models: ``tfim`` (Pauli matrices, ``h`` the transverse field), ``heisenberg``, ``xxz``
(``delta`` the anisotropy) and ``j1j2`` (``J`` is ``J1``, ``J2`` the next-nearest-neighbour
coupling: ``i, i+2`` on the chain, the plaquette diagonals on the square); see
:mod:`physrnn.spins.chains` and :mod:`physrnn.spins.lattices` for the conventions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from physrnn.config import RunConfig, load_config, require

__all__ = ["SystemConfig", "WavefunctionConfig", "VMCConfig", "ReferenceConfig", "VMCRunConfig",
           "check_vmc_sections", "load_vmc_config"]

#: Models whose Hamiltonian conserves the total ``S^z`` and has a Marshall sign rule.
_EXCHANGE_MODELS = ("heisenberg", "xxz", "j1j2")
#: The chain length of the defaults; replaced by ``Lx * Ly`` for square lattices.
_DEFAULT_N_SITES = 20


@dataclass(frozen=True)
class SystemConfig:
    """The physical system (module doc). Energies are totals; see :mod:`physrnn.spins.chains`.

    Attributes:
        model: ``"tfim"``, ``"heisenberg"``, ``"xxz"`` or ``"j1j2"``.
        lattice: ``"chain"`` or ``"square"``.
        n_sites: chain length ``N``; derived (``Lx * Ly``) for square lattices.
        Lx, Ly: square-lattice extents (0 for chains).
        boundary: ``"open"`` or ``"periodic"``.
        J: nearest-neighbour coupling (``J1`` of the J1-J2 model), energy units.
        h: transverse field of the TFIM.
        delta: XXZ anisotropy.
        J2: next-nearest-neighbour coupling, ``j1j2`` only.
        marshall_sign: rotate exchange Hamiltonians by the Marshall sign rule (bipartite
            lattices only; ignored by the TFIM).
    """

    model: Literal["tfim", "heisenberg", "xxz", "j1j2"] = "tfim"
    lattice: Literal["chain", "square"] = "chain"
    n_sites: int = _DEFAULT_N_SITES
    boundary: Literal["open", "periodic"] = "open"
    J: float = 1.0
    h: float = 1.0
    delta: float = 1.0
    marshall_sign: bool = True
    Lx: int = 0
    Ly: int = 0
    J2: float = 0.0

    def __post_init__(self) -> None:
        periodic = self.boundary == "periodic"
        if self.lattice == "chain":
            require(self.n_sites >= 2, "n_sites", f"must be >= 2, got {self.n_sites}")
            for key in ("Lx", "Ly"):
                require(getattr(self, key) == 0, key, "is only used with lattice = 'square' "
                         "(the chain length is n_sites); remove it")
            require(not periodic or self.n_sites >= 3, "n_sites",
                     f"a periodic chain needs n_sites >= 3, got {self.n_sites}")
            require(not (periodic and self.model == "j1j2") or self.n_sites >= 5, "n_sites",
                     f"a periodic J1-J2 chain needs n_sites >= 5 (distinct second "
                     f"neighbours), got {self.n_sites}")
            extents = (self.n_sites,)
        else:
            low = 3 if periodic else 2
            for key in ("Lx", "Ly"):
                v = getattr(self, key)
                require(v >= low, key, f"lattice = 'square' with {self.boundary} boundaries "
                         f"needs {key} >= {low}, got {v}" + (" (a periodic extent of 2 is the "
                                                              "open one)" if v == 2 else ""))
            n = self.Lx * self.Ly
            require(self.n_sites in (n, _DEFAULT_N_SITES), "n_sites",
                     f"is Lx * Ly = {n} for a {self.Lx}x{self.Ly} square lattice, got "
                     f"{self.n_sites}; leave n_sites out")
            object.__setattr__(self, "n_sites", n)
            extents = (self.Lx, self.Ly)
        require(self.J2 == 0.0 or self.model == "j1j2", "J2",
                 f"is only used by model = 'j1j2' (got J2 = {self.J2} with model = "
                 f"{self.model!r})")
        if self.marshall_sign and self.model in _EXCHANGE_MODELS:
            odd = [v for v in extents if v % 2 == 1]
            require(not (periodic and odd), "marshall_sign",
                     f"the Marshall sign rule needs a bipartite lattice; periodic boundaries "
                     f"with an odd extent ({odd[0] if odd else 0}) are not bipartite (set "
                     "marshall_sign = false or use even extents)")

    @property
    def is_bipartite(self) -> bool:
        """Open lattices, and periodic ones whose extents are all even."""
        extents = (self.n_sites,) if self.lattice == "chain" else (self.Lx, self.Ly)
        return self.boundary == "open" or all(v % 2 == 0 for v in extents)


@dataclass(frozen=True)
class WavefunctionConfig:
    """The variational wavefunction: an autoregressive RNN, optionally symmetrised.

    Attributes:
        kind: ``"rnn1d"`` (:class:`~physrnn.wavefunctions.RNNWavefunction1D`, any lattice in
            netket's site order) or ``"rnn2d"``
            (:class:`~physrnn.wavefunctions.RNNWavefunction2D`, square lattices, snake order).
        cell: ``"gru"``, ``"lstm"`` (1D), ``"rnn"``, ``"tensor_gru"`` (2D).
        hidden_size: recurrent state size ``d_h``.
        n_layers: stacked layers (1D only).
        phase: learned phase head (complex wavefunction).
        dtype: parameter dtype.
        marshall_sign: fixed Marshall phase in the model (2D only); use it with the unrotated
            Hamiltonian (``system.marshall_sign = false``), never with both.
        magnetisation: ``M = n_up - n_down = 2 S^z_tot`` sector sampled exactly (2D only);
            unset (the default) samples every sector.
        symmetry: lattice group of a
            :class:`~physrnn.wavefunctions.SymmetrisedWavefunction`: ``"none"``,
            ``"translations"`` (periodic lattices), ``"point"`` (C4v of an ``L x L``, C2v of a
            rectangle) or ``"space"`` (translations times point group, periodic square).
        spin_flip: add the global spin flip (Z2) to the group.
        irrep: one-dimensional irrep of the point part (``"A1"`` trivial; ``point``/``space``).
        flip_character: ``+1`` or ``-1``, the character of the spin flip.
        momentum: crystal momentum of ``symmetry = "translations"``, one integer per lattice
            axis (``[m]`` on a chain, ``[mx, my]`` on a square), ``k = 2 pi m / L`` per axis,
            ``psi(T_t s) = exp(i k . t) psi(s)``; unset: ``k = 0``. A nonzero ``k`` makes the
            wavefunction complex.
        init_from: start from the wavefunction of an earlier ``physrnn vmc`` run (its output
            directory or ``checkpoint.pt``), e.g. a smaller system of the same model: the
            recurrent weights do not depend on the number of sites
            (:mod:`physrnn.vmc.transfer`). Same kind, cell, sizes and symmetrisation; ``""``
            (the default) starts from random weights. Ignored when resuming.
    """

    kind: Literal["rnn1d", "rnn2d"] = "rnn1d"
    cell: Literal["gru", "lstm", "rnn", "tensor_gru"] = "gru"
    hidden_size: int = 32
    n_layers: int = 1
    phase: bool = False
    dtype: Literal["float32", "float64"] = "float32"
    marshall_sign: bool = False
    magnetisation: int | None = None
    symmetry: Literal["none", "translations", "point", "space"] = "none"
    spin_flip: bool = False
    irrep: Literal["A1", "A2", "B1", "B2"] = "A1"
    flip_character: int = 1
    momentum: list[int] | None = None
    init_from: str = ""

    def __post_init__(self) -> None:
        require(self.hidden_size >= 1, "hidden_size", f"must be >= 1, got {self.hidden_size}")
        require(self.n_layers >= 1, "n_layers", f"must be >= 1, got {self.n_layers}")
        two_d = self.kind == "rnn2d"
        require(self.cell != "tensor_gru" or two_d, "cell",
                 "'tensor_gru' is a 2D cell: set kind = 'rnn2d' or use gru, lstm or rnn")
        require(self.cell != "lstm" or not two_d, "cell",
                 "'lstm' is a 1D cell: kind = 'rnn2d' takes gru, rnn or tensor_gru")
        require(self.n_layers == 1 or not two_d, "n_layers",
                 f"kind = 'rnn2d' has one recurrent layer, got {self.n_layers}")
        require(not self.marshall_sign or two_d, "marshall_sign",
                 "kind = 'rnn1d' has no Marshall phase; rotate the Hamiltonian instead "
                 "(system.marshall_sign = true)")
        require(self.magnetisation is None or two_d, "magnetisation",
                 "fixed-magnetisation (U(1)) sampling is implemented by kind = 'rnn2d' only; "
                 "rnn1d samples every sector (remove magnetisation)")
        require(self.irrep == "A1" or self.symmetry in ("point", "space"), "irrep",
                 f"{self.irrep!r} is an irrep of the point group: needs symmetry = 'point' "
                 f"or 'space', got symmetry = {self.symmetry!r}")
        require(self.momentum is None or self.symmetry == "translations", "momentum",
                 f"a crystal momentum needs symmetry = 'translations', got symmetry = "
                 f"{self.symmetry!r}")
        require(self.flip_character in (1, -1), "flip_character",
                 f"must be 1 or -1, got {self.flip_character}")
        require(self.flip_character == 1 or self.spin_flip, "flip_character",
                 "-1 needs spin_flip = true")
        require(not self.spin_flip or self.magnetisation in (None, 0), "spin_flip",
                 f"the spin flip maps magnetisation {self.magnetisation} to "
                 f"{-(self.magnetisation or 0)}: it is a symmetry of the M = 0 sector only")


@dataclass(frozen=True)
class VMCConfig:
    """Variational Monte Carlo optimisation.

    The default is Adam on the variance-reduced energy gradient. ``sr`` preconditions the
    gradient by stochastic reconfiguration (:class:`physrnn.vmc.sr.SRStep`; the optimizer then
    applies the SR direction, ``optimizer = "sgd"`` giving plain imaginary-time steps of size
    ``lr``). ``annealing`` minimises the free energy ``<E> - T S`` while ``T`` falls from
    ``T0`` to 0 (:class:`physrnn.vmc.annealing.AnnealingSchedule`).

    Attributes:
        n_steps, n_samples, lr, lr_schedule, lr_final, final_samples, chunk_size: as before.
        optimizer: ``"adam"`` or ``"sgd"``.
        sr: ``"none"``, ``"sr"`` (``(p, p)`` solve), ``"minsr"`` (``(n, n)`` kernel solve) or
            ``"auto"`` (minSR when the samples are fewer than the parameters).
        sr_shift: absolute diagonal shift ``lambda >= 0`` of the SR matrix.
        sr_shift_rel: relative shift (``lambda_rel diag(S)``), parameter-space SR only.
        sr_solver: ``"cholesky"``, ``"eigh"`` or ``"cg"``.
        sr_max_norm: clip the SR direction to this norm (0: no clipping).
        annealing: ``"none"``, ``"linear"`` or ``"exponential"``.
        T0: initial temperature (energy units) of the annealing.
        annealing_warmup: steps held at ``T0``.
        annealing_steps: steps over which ``T`` falls from ``T0`` to 0.
        deterministic: split each step's samples into ``blocks`` blocks with their own random
            streams, reduced in block order: the run is then bit-identical on CPU for any
            number of processes dividing ``blocks`` (:mod:`physrnn.vmc.parallel`).
        blocks: blocks of the deterministic mode (0: the number of processes).
        float64_from: move a float32 wavefunction (and the optimiser state) to float64 once
            this many steps are done (0: never by step count; :mod:`physrnn.vmc.precision`).
        float64_below: move it once the relative spread of the local energies,
            ``sqrt(Var E_loc) / |<E>|`` averaged over 10 steps, falls below this value
            (0: never). With ``float64_from`` too, whichever comes first.
    """

    n_steps: int = 1000
    n_samples: int = 512
    lr: float = 1e-2
    lr_schedule: Literal["constant", "cosine", "exponential"] = "cosine"
    lr_final: float = 1e-4
    final_samples: int = 20_000
    chunk_size: int = 8192
    optimizer: Literal["adam", "sgd"] = "adam"
    sr: Literal["none", "sr", "minsr", "auto"] = "none"
    sr_shift: float = 1e-3
    sr_shift_rel: float = 0.0
    sr_solver: Literal["cholesky", "eigh", "cg"] = "cholesky"
    sr_max_norm: float = 0.0
    annealing: Literal["none", "linear", "exponential"] = "none"
    T0: float = 1.0
    annealing_warmup: int = 0
    annealing_steps: int = 100
    deterministic: bool = False
    blocks: int = 0
    float64_from: int = 0
    float64_below: float = 0.0

    def __post_init__(self) -> None:
        require(self.n_steps >= 1, "n_steps", f"must be >= 1, got {self.n_steps}")
        require(self.n_samples >= 2, "n_samples", f"must be >= 2, got {self.n_samples}")
        require(self.lr > 0, "lr", f"must be > 0, got {self.lr}")
        require(self.lr_final > 0, "lr_final", f"must be > 0, got {self.lr_final}")
        require(self.final_samples >= 2, "final_samples",
                 f"must be >= 2, got {self.final_samples}")
        require(self.chunk_size >= 1, "chunk_size", f"must be >= 1, got {self.chunk_size}")
        require(self.sr_shift >= 0, "sr_shift", f"must be >= 0, got {self.sr_shift}")
        require(self.sr_shift_rel >= 0, "sr_shift_rel", f"must be >= 0, got {self.sr_shift_rel}")
        require(self.sr_shift_rel == 0 or self.sr != "minsr", "sr_shift_rel",
                 "a relative shift needs the parameter-space solve (sr = 'sr'), not minsr")
        require(self.sr_max_norm >= 0, "sr_max_norm",
                 f"must be >= 0 (0: no clipping), got {self.sr_max_norm}")
        require(self.T0 > 0, "T0", f"must be > 0, got {self.T0}")
        require(self.annealing_warmup >= 0, "annealing_warmup",
                 f"must be >= 0, got {self.annealing_warmup}")
        require(self.annealing_steps >= 1, "annealing_steps",
                 f"must be >= 1, got {self.annealing_steps}")
        require(self.blocks >= 0, "blocks", f"must be >= 0 (0: one per process), got "
                 f"{self.blocks}")
        require(self.blocks == 0 or self.deterministic, "blocks",
                 "blocks is a setting of the deterministic mode: set deterministic = true")
        require(self.blocks <= self.n_samples, "blocks",
                 f"more blocks ({self.blocks}) than samples per step ({self.n_samples})")
        require(self.float64_from >= 0, "float64_from",
                 f"must be >= 0 (0: never), got {self.float64_from}")
        require(self.float64_from < self.n_steps, "float64_from",
                 f"the run has n_steps = {self.n_steps}: a switch after {self.float64_from} "
                 "steps would never happen")
        require(self.float64_below >= 0, "float64_below",
                 f"must be >= 0 (0: never), got {self.float64_below}")
        end = self.annealing_warmup + self.annealing_steps
        require(self.annealing == "none" or end <= self.n_steps, "annealing_steps",
                 f"the temperature reaches 0 after annealing_warmup + annealing_steps = {end} "
                 f"steps, but the run has n_steps = {self.n_steps}")


def check_vmc_sections(system: SystemConfig, wavefunction: WavefunctionConfig) -> None:
    """Reject wavefunction settings that the system cannot take (keys ``section.key``).

    Raises:
        ConfigError: (a :class:`physrnn.config.FieldError` naming
            ``wavefunction.<key>``).
    """
    wf, key = wavefunction, "wavefunction."
    square = system.lattice == "square"
    require(wf.kind != "rnn2d" or square, key + "kind",
             "'rnn2d' needs system.lattice = 'square' (use kind = 'rnn1d' on a chain)")
    if wf.magnetisation is not None:
        m, n = wf.magnetisation, system.n_sites
        require(system.model in _EXCHANGE_MODELS, key + "magnetisation",
                 f"model {system.model!r} does not conserve the total S^z; a fixed sector "
                 "needs heisenberg, xxz or j1j2")
        require(abs(m) <= n and (n + m) % 2 == 0, key + "magnetisation",
                 f"M = n_up - n_down = {m} is impossible on N = {n} sites (need |M| <= N and "
                 "M of the parity of N)")
    if wf.marshall_sign:
        require(system.model in _EXCHANGE_MODELS, key + "marshall_sign",
                 f"the Marshall sign is for antiferromagnets (heisenberg, xxz, j1j2), not "
                 f"{system.model!r}")
        require(not system.marshall_sign, key + "marshall_sign",
                 "the Hamiltonian is already Marshall-rotated (system.marshall_sign = true); "
                 "the two signs would cancel: set one of them to false")
        require(system.is_bipartite, key + "marshall_sign",
                 "the Marshall sign rule needs a bipartite lattice (periodic extents must be "
                 "even)")
    periodic = system.boundary == "periodic"
    if wf.symmetry in ("translations", "space"):
        require(periodic, key + "symmetry",
                 f"{wf.symmetry!r} needs system.boundary = 'periodic' (an open lattice has no "
                 "translation symmetry)")
    if wf.momentum is not None:
        axes = 2 if square else 1
        require(len(wf.momentum) == axes, key + "momentum",
                 f"needs {axes} integer(s), one per axis of the {system.lattice}, got "
                 f"{wf.momentum}")
    if wf.symmetry in ("point", "space"):
        require(square, key + "symmetry",
                 f"{wf.symmetry!r} is implemented for system.lattice = 'square' only")


@dataclass(frozen=True)
class ReferenceConfig:
    """Which ground-state energy a VMC run is compared with (``[reference]``).

    Attributes:
        kind: ``"auto"``: the best of closed form, exact diagonalisation (N <= 20), a published
            number, or a converged QMC result already in the cache; ``"qmc"``: as ``auto``, but
            run QMC (ALPS, ``pip install 'physrnn[qmc]'``) before the optimisation when ED is
            too large and the cache has none (sign-free systems only); ``"none"``: no
            comparison.
        qmc_budget_s: wall-clock budget of that QMC run in seconds (0 = none).
    """

    kind: Literal["auto", "qmc", "none"] = "auto"
    qmc_budget_s: float = 600.0

    def __post_init__(self) -> None:
        require(self.qmc_budget_s >= 0, "qmc_budget_s",
                f"must be >= 0 (0 = none), got {self.qmc_budget_s}")


@dataclass(frozen=True)
class VMCRunConfig:
    """Everything a ``physrnn vmc`` run needs; stored in full in every record."""

    system: SystemConfig = field(default_factory=SystemConfig)
    wavefunction: WavefunctionConfig = field(default_factory=WavefunctionConfig)
    vmc: VMCConfig = field(default_factory=VMCConfig)
    reference: ReferenceConfig = field(default_factory=ReferenceConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        check_vmc_sections(self.system, self.wavefunction)
        switch = self.vmc.float64_from > 0 or self.vmc.float64_below > 0
        require(not switch or self.wavefunction.dtype == "float32",
                "vmc.float64_from" if self.vmc.float64_from else "vmc.float64_below",
                "switches a float32 wavefunction to float64, but wavefunction.dtype is "
                "already 'float64' (remove the key or train in float32)")


def load_vmc_config(path: str | Path | None = None, *,
                    overrides: list[str] | None = None) -> VMCRunConfig:
    """Load a VMC run config strictly: :func:`physrnn.config.load_config` of
    :class:`VMCRunConfig`.

    Args:
        path: TOML file; ``None`` starts from the defaults (the quickstart run).
        overrides: ``["section.key=value", ...]``, applied after the file.

    Raises:
        ConfigError: unreadable file, TOML syntax error, unknown key or wrong type (named).
    """
    return load_config(path, cls=VMCRunConfig, overrides=overrides)
