"""Quantum quench of a spin-1/2 chain: observables versus time from exact state evolution.

The registered system ``"spin_quench"`` (kind ``"quantum"``) prepares an initial state
``|psi0>`` of ``N <= 20`` spins, either the ground state of the pre-quench Hamiltonian or a
product state, and evolves it with the post-quench Hamiltonian,
``|psi(t)> = exp(-i H_final t) |psi0>`` (``hbar = 1``, time in units of ``1/J``), by
:func:`scipy.sparse.linalg.expm_multiply` on netket's sparse Hamiltonian (no Trotter error; the
result is exact to double precision). Quench dynamics of the transverse-field Ising chain are
known in closed form (free fermions): Calabrese, Essler and Fagotti, PRL 106, 227203 (2011) and
J. Stat. Mech. P07016 (2012); the Loschmidt echo of a quench across ``h = J`` shows dynamical
quantum phase transitions, Heyl, Polkovnikov and Kehrein, PRL 110, 135704 (2013).

Models and conventions (the same as :mod:`physrnn.spins.chains`):

* ``model="tfim"``: ``H = -J sum_<ij> sz_i sz_j - h sum_i sx_i`` with **Pauli** matrices; the
  pre-quench field is ``h_initial``, the post-quench field ``h_final``.
* ``model="xxz"``: ``H = J sum_<ij> (Sx_i Sx_j + Sy_i Sy_j + delta Sz_i Sz_j)`` in **S units**
  (``S = sigma/2``); the anisotropy changes from ``delta_initial`` to ``delta_final``.
* Energies are totals in units of ``J``.

**No Marshall sign rotation.** The XXZ Hamiltonian is built with ``marshall_sign=False``. The
rotated Hamiltonian ``U H U^dagger`` with ``U = prod_{i odd} sigma^z_i`` has the same spectrum,
and for a ground-state-to-ground-state quench with both Hamiltonians rotated the diagonal
(``sz``-basis) observables and the Loschmidt echo would even come out the same, but the state
would be ``U |psi(t)>``: every observable that flips a spin on one sublattice changes sign
(``<sx_i>``, ``<sy_i>`` on odd sites, ``<sx_i sx_{i+1}>`` on every bond), and a product initial
state given in the physical frame (``"all_x"``, ``"random_product"``) would be evolved by the
wrong Hamiltonian. Dynamics therefore always use the physical (unrotated) frame.

**The state of this system is a vector of observables**, not the wavefunction. Components, in
the order of ``info().state_names`` (all expectation values of **Pauli** matrices, ``"1"``):

=============  =========================================================================
``sz``         magnetisation per site ``(1/N) sum_i <sz_i>``
``sx``         transverse magnetisation per site ``(1/N) sum_i <sx_i>``
``sy``         ``(1/N) sum_i <sy_i>``
``sz_stag``    staggered magnetisation ``(1/N) sum_i (-1)^i <sz_i>`` (site 0 is even)
``szsz``       nearest-neighbour correlator ``<sz_i sz_{i+1}>`` averaged over the bonds
``sxsx``       ``<sx_i sx_{i+1}>`` averaged over the bonds
``loschmidt``  Loschmidt echo ``|<psi0|psi(t)>|^2`` with ``psi0`` the state at ``t[0]``
``energy``     ``<H_final>``, total, units of ``J`` (conserved)
=============  =========================================================================

The full state is ``observables + ("energy",)`` (energy appended if not asked for) so that
:meth:`SpinQuench.invariants` can report it; :meth:`SpinQuench.observe` returns only the
requested ``observables``. The wavefunction is internal: :meth:`SpinQuench.integrate` does not
reconstruct it from ``y0`` (impossible in general) but identifies ``y0`` as the observables of the
initial state (the deterministic one, or a random product state drawn by
:meth:`SpinQuench.initial_condition` of the same instance) and raises
:class:`SystemDefinitionError` for any other ``y0``; in particular a ``transient`` cannot be used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from physrnn.errors import SystemDefinitionError
from physrnn.systems.base import DynamicalSystem, SystemInfo, register

__all__ = ["QuenchParams", "SpinQuench", "OBSERVABLES", "INITIAL_STATES", "MAX_SITES"]

#: Names of the observables that can be recorded (see the module docstring).
OBSERVABLES = ("sz", "sx", "sy", "sz_stag", "szsz", "sxsx", "loschmidt", "energy")
#: Initial states: the pre-quench ground state or a product state.
INITIAL_STATES = ("ground", "all_up", "all_x", "neel", "random_product")
#: Largest chain (``2^20`` amplitudes, 16 MiB per state vector).
MAX_SITES = 20
_MODELS = ("tfim", "xxz")
_MAX_CHUNK_ELEMENTS = 2**23  # amplitudes held at once during evolution (128 MiB complex)


@dataclass(frozen=True)
class QuenchParams:
    """Parameters of :class:`SpinQuench`.

    Attributes:
        model: ``"tfim"`` or ``"xxz"``.
        n_sites: number of spins ``N`` (2 ..  20).
        boundary: ``"open"`` or ``"periodic"``.
        J: coupling (energy unit); TFIM ``J > 0`` ferromagnetic, XXZ ``J > 0`` antiferromagnetic.
        h_initial, h_final: TFIM transverse field before and after the quench (ignored for XXZ).
            The default ``3 -> 0.5`` crosses the critical point ``h = J``.
        delta_initial, delta_final: XXZ anisotropy before and after (ignored for the TFIM).
        initial: ``"ground"`` (ground state of the pre-quench Hamiltonian, which must be
            non-degenerate), ``"all_up"`` (all ``sz = +1``), ``"all_x"`` (all ``sx = +1``, the
            TFIM ground state at ``h -> infinity``), ``"neel"`` (up, down, up, ...) or
            ``"random_product"`` (each spin along a direction drawn uniformly on the Bloch sphere
            from the ``rng`` of :meth:`SpinQuench.initial_condition`).
        observables: names from :data:`OBSERVABLES`, recorded in this order.
    """

    model: str = "tfim"
    n_sites: int = 10
    boundary: str = "open"
    J: float = 1.0
    h_initial: float = 3.0
    h_final: float = 0.5
    delta_initial: float = 4.0
    delta_final: float = 0.5
    initial: str = "ground"
    observables: tuple[str, ...] = ("sz", "sx", "szsz", "loschmidt")

    def __post_init__(self) -> None:
        # TOML gives lists; keep the dataclass hashable.
        if not isinstance(self.observables, tuple):
            object.__setattr__(self, "observables", tuple(self.observables))


@register
class SpinQuench(DynamicalSystem):
    """Quench of a TFIM or XXZ chain; the state is a vector of observables (module docstring).

    Example::

        sys = get_system("spin_quench", n_sites=10, h_initial=3.0, h_final=0.5)
        y0 = sys.initial_condition(np.random.default_rng(0))
        y = sys.integrate(y0, np.linspace(0, 5, 101), rng=rng, method="expm_multiply",
                          rtol=0, atol=0)            # (101, n_state), real
    """

    name = "spin_quench"
    kind = "quantum"
    Params = QuenchParams

    def __init__(self, params: QuenchParams | None = None) -> None:
        self._cache: dict[str, Any] = {}
        self._random_states: list[tuple[np.ndarray, np.ndarray]] = []
        super().__init__(params)

    # ------------------------------------------------------------------ metadata
    def validate(self) -> None:
        p = self.params
        if p.model not in _MODELS:
            raise SystemDefinitionError(f"spin_quench: model must be one of {_MODELS}, "
                                        f"got {p.model!r}")
        if isinstance(p.n_sites, bool) or not isinstance(p.n_sites, int | np.integer):
            raise SystemDefinitionError(f"spin_quench: n_sites must be an integer, "
                                        f"got {p.n_sites!r}")
        if p.n_sites > MAX_SITES:
            raise SystemDefinitionError(
                f"spin_quench: n_sites={p.n_sites} exceeds {MAX_SITES} (exact evolution of 2^N "
                "amplitudes); use a variational method for larger chains")
        from physrnn.spins.base import check_chain

        check_chain(int(p.n_sites), p.boundary)
        if p.initial not in INITIAL_STATES:
            raise SystemDefinitionError(f"spin_quench: initial must be one of {INITIAL_STATES}, "
                                        f"got {p.initial!r}")
        if not p.observables:
            raise SystemDefinitionError("spin_quench: observables must not be empty")
        bad = [o for o in p.observables if o not in OBSERVABLES]
        if bad:
            raise SystemDefinitionError(f"spin_quench: unknown observable(s) {bad}; "
                                        f"known: {OBSERVABLES}")
        if len(set(p.observables)) != len(p.observables):
            raise SystemDefinitionError(f"spin_quench: repeated observable in {p.observables}")
        for key in ("J", "h_initial", "h_final", "delta_initial", "delta_final"):
            if not math.isfinite(float(getattr(p, key))):
                raise SystemDefinitionError(f"spin_quench: {key} must be finite")
        if float(p.J) == 0.0:
            raise SystemDefinitionError("spin_quench: J = 0 leaves no energy unit")

    @property
    def state_names(self) -> tuple[str, ...]:
        """Names of the full state: the observables, then ``"energy"`` if not among them."""
        obs = tuple(self.params.observables)
        return obs if "energy" in obs else obs + ("energy",)

    def info(self) -> SystemInfo:
        """Metadata; ``state_units`` is ``"1"`` (Pauli expectation values) or ``"J"`` (energy)."""
        p = self.params
        names = self.state_names
        if p.model == "tfim":
            ref = ("TFIM quench h_initial -> h_final, H = -J sum sz sz - h sum sx (Pauli): "
                   "Calabrese, Essler, Fagotti, PRL 106, 227203 (2011); J. Stat. Mech. P07016 "
                   "(2012); Loschmidt echo: Heyl, Polkovnikov, Kehrein, PRL 110, 135704 (2013)")
        else:
            ref = ("XXZ quench delta_initial -> delta_final, H = J sum (SxSx + SySy + delta SzSz),"
                   " S = sigma/2; e.g. Barmettler, Punk, Gritsev, Demler, Altman, PRL 102, 130603"
                   " (2009)")
        return SystemInfo(
            state_names=names,
            state_units=tuple("J" if n == "energy" else "1" for n in names),
            time_unit="1/J",
            time_scale=1.0 / abs(float(p.J)),
            time_scale_name="inverse coupling 1/J",
            invariants=("energy",),
            reference=ref,
            default_dt=0.05,
            default_transient=0.0,
            default_method="expm_multiply",
            default_rtol=0.0,
            default_atol=0.0,
        )

    def observed_names(self) -> tuple[str, ...]:
        """Names of what :meth:`observe` returns (the requested observables)."""
        return tuple(self.params.observables)

    def observed_units(self) -> tuple[str, ...]:
        """Units of what :meth:`observe` returns."""
        return tuple("J" if n == "energy" else "1" for n in self.params.observables)

    def observe(self, y: np.ndarray) -> np.ndarray:
        """The requested observables ``(..., n_obs)`` from full states ``(..., n_state)``."""
        y = np.asarray(y)
        return y[..., : len(self.params.observables)]

    def invariants(self, y: np.ndarray) -> dict[str, np.ndarray]:
        """``{"energy": <H_final>}`` (total, units of J) of full states ``(..., n_state)``."""
        y = np.asarray(y)
        return {"energy": y[..., self.state_names.index("energy")]}

    # ------------------------------------------------------------------ quantum machinery
    def hamiltonian(self, which: str = "final"):
        """Sparse Hamiltonian (CSR, float64, total energy, units of ``J``) in physrnn's basis.

        Basis: index ``k = sum_i b_i 2^(N-1-i)`` with ``b_i = 0`` for spin up (``sz_i = +1``);
        site 0 is the most significant bit, i.e. the order of ``numpy.kron`` over sites.

        Args:
            which: ``"initial"`` (pre-quench) or ``"final"`` (post-quench).
        """
        if which not in ("initial", "final"):
            raise SystemDefinitionError(f"which must be 'initial' or 'final', got {which!r}")
        key = f"H_{which}"
        if key not in self._cache:
            self._cache[key] = self._build_hamiltonian(which)
        return self._cache[key]

    def _build_hamiltonian(self, which: str):
        from physrnn.spins.chains import tfim_chain, xxz_chain

        p = self.params
        n = int(p.n_sites)
        if p.model == "tfim":
            h = p.h_initial if which == "initial" else p.h_final
            spin = tfim_chain(n, h=float(h), J=float(p.J), boundary=p.boundary)
        else:
            delta = p.delta_initial if which == "initial" else p.delta_final
            # Physical frame: see the module docstring ("No Marshall sign rotation").
            spin = xxz_chain(n, delta=float(delta), J=float(p.J), boundary=p.boundary,
                             marshall_sign=False)
        H = spin.operator.to_sparse().tocsr()
        # Map netket's basis onto physrnn's (identity for netket 3.x; checked, not assumed).
        local = np.asarray(spin.hilbert.local_states)
        if not np.array_equal(np.sort(local), np.array([-1, 1])):
            raise SystemDefinitionError(f"unexpected netket local states {local}")
        bits = self._bits()
        # a sample of basis states first (cheap); the full permutation only if it differs
        sample = np.unique(np.r_[0, bits.shape[0] - 1,
                                 np.random.default_rng(0).integers(0, bits.shape[0], 256)])
        for rows in (sample, np.arange(bits.shape[0])):
            states = np.where(bits[rows] == 0, local.dtype.type(1), local.dtype.type(-1))
            numbers = np.asarray(spin.hilbert.states_to_numbers(states))
            if np.array_equal(numbers, rows):
                break
            if rows.size == bits.shape[0]:
                H = H[numbers][:, numbers].tocsr()
        if np.iscomplexobj(H.data):
            if np.max(np.abs(H.data.imag), initial=0.0) > 0:
                raise SystemDefinitionError("Hamiltonian unexpectedly complex")
            H = H.real.tocsr()
        return H.astype(np.float64)

    def _bits(self) -> np.ndarray:
        """``(2^N, N)`` uint8: ``b[k, i] = 1`` if site ``i`` is down in basis state ``k``."""
        if "bits" not in self._cache:
            n = int(self.params.n_sites)
            k = np.arange(2**n, dtype=np.int64)
            shifts = np.arange(n - 1, -1, -1, dtype=np.int64)
            self._cache["bits"] = ((k[:, None] >> shifts[None, :]) & 1).astype(np.uint8)
        return self._cache["bits"]

    def _diagonals(self) -> dict[str, np.ndarray]:
        """Diagonals ``(2^N,)`` of the ``sz``-basis observables (Pauli units)."""
        if "diag" not in self._cache:
            bits = self._bits()
            n = int(self.params.n_sites)
            d = {"sz": np.zeros(2**n), "sz_stag": np.zeros(2**n), "szsz": np.zeros(2**n)}
            for i in range(n):
                s_i = 1.0 - 2.0 * bits[:, i]
                d["sz"] += s_i / n
                d["sz_stag"] += (1.0 if i % 2 == 0 else -1.0) * s_i / n
            bonds = self._bonds()
            for i, j in bonds:
                d["szsz"] += (1.0 - 2.0 * bits[:, i]) * (1.0 - 2.0 * bits[:, j]) / len(bonds)
            self._cache["diag"] = d
        return self._cache["diag"]

    def _bonds(self) -> list[tuple[int, int]]:
        n = int(self.params.n_sites)
        bonds = [(i, i + 1) for i in range(n - 1)]
        if self.params.boundary == "periodic":
            bonds.append((n - 1, 0))
        return bonds

    def ground_state(self) -> np.ndarray:
        """Normalised ground state ``(2^N,)`` of the pre-quench Hamiltonian.

        Raises:
            SystemDefinitionError: the ground state is (numerically) degenerate, so the initial
                state would be ill-defined; choose other parameters or a product state.
        """
        if "psi_ground" not in self._cache:
            H = self.hamiltonian("initial")
            dim = H.shape[0]
            if dim <= 64:
                evals, evecs = np.linalg.eigh(H.toarray())
            else:
                from scipy.sparse.linalg import eigsh

                # A random start vector (fixed seed) overlaps every symmetry sector, so the
                # degeneracy check sees a partner of any symmetry.
                v0 = np.random.default_rng(0).standard_normal(dim)
                evals, evecs = eigsh(H, k=2, which="SA", v0=v0, tol=0)
                order = np.argsort(evals)
                evals, evecs = evals[order], evecs[:, order]
            gap = float(evals[1] - evals[0])
            if gap < 1e-8 * max(1.0, abs(float(evals[0]))):
                raise SystemDefinitionError(
                    f"spin_quench: the pre-quench ground state is degenerate (gap {gap:.3g}); "
                    "the initial state is ill-defined: change h_initial/delta_initial or use a "
                    "product initial state")
            psi = evecs[:, 0].astype(np.complex128)
            self._cache["psi_ground"] = psi / np.linalg.norm(psi)
        return self._cache["psi_ground"]

    def product_state(self, spinors: np.ndarray) -> np.ndarray:
        """Product state ``(2^N,)`` from single-site spinors ``(N, 2)`` (up, down amplitudes)."""
        spinors = np.asarray(spinors, dtype=np.complex128)
        n = int(self.params.n_sites)
        if spinors.shape != (n, 2):
            raise SystemDefinitionError(f"spinors must have shape ({n}, 2), got {spinors.shape}")
        psi = np.ones(1, dtype=np.complex128)
        for s in spinors:
            psi = np.kron(psi, s / np.linalg.norm(s))
        return psi

    def initial_state(self) -> np.ndarray:
        """The deterministic initial wavefunction ``(2^N,)``; not for ``"random_product"``."""
        p = self.params
        n = int(p.n_sites)
        if p.initial == "ground":
            return self.ground_state()
        if p.initial == "all_up":
            return self.product_state(np.tile([1.0, 0.0], (n, 1)))
        if p.initial == "all_x":
            return self.product_state(np.tile([1.0, 1.0], (n, 1)))
        if p.initial == "neel":
            return self.product_state(np.array([[1.0, 0.0] if i % 2 == 0 else [0.0, 1.0]
                                                for i in range(n)]))
        raise SystemDefinitionError("spin_quench: a random product state is drawn by "
                                    "initial_condition(rng), it has no fixed wavefunction")

    def measure(self, psi: np.ndarray, psi0: np.ndarray) -> np.ndarray:
        """Full state vector(s) ``(k, n_state)`` of wavefunctions ``psi`` ``(k, 2^N)``.

        ``psi0`` ``(2^N,)`` is the reference of the Loschmidt echo.
        """
        psi = np.atleast_2d(np.asarray(psi, dtype=np.complex128))
        n = int(self.params.n_sites)
        bits = self._bits()
        idx = np.arange(2**n, dtype=np.int64)
        prob = np.abs(psi) ** 2
        bonds = self._bonds()
        diag = self._diagonals()
        out = np.empty((psi.shape[0], len(self.state_names)))
        for col, name in enumerate(self.state_names):
            if name in ("sz", "sz_stag", "szsz"):
                out[:, col] = prob @ diag[name]
            elif name == "sx":
                acc = np.zeros(psi.shape[0])
                for i in range(n):
                    flipped = psi[:, idx ^ (1 << (n - 1 - i))]
                    acc += np.real(np.sum(psi.conj() * flipped, axis=1))
                out[:, col] = acc / n
            elif name == "sy":
                # (sigma^y psi)(s) = -i s_i psi(s with site i flipped), s_i = +1 for up
                acc = np.zeros(psi.shape[0])
                for i in range(n):
                    flipped = psi[:, idx ^ (1 << (n - 1 - i))]
                    s_i = 1.0 - 2.0 * bits[:, i]
                    acc += np.real(np.sum(psi.conj() * (-1j * s_i) * flipped, axis=1))
                out[:, col] = acc / n
            elif name == "sxsx":
                acc = np.zeros(psi.shape[0])
                for i, j in bonds:
                    mask = (1 << (n - 1 - i)) | (1 << (n - 1 - j))
                    acc += np.real(np.sum(psi.conj() * psi[:, idx ^ mask], axis=1))
                out[:, col] = acc / len(bonds)
            elif name == "loschmidt":
                out[:, col] = np.abs(psi @ np.asarray(psi0).conj()) ** 2
            elif name == "energy":
                H = self.hamiltonian("final")
                out[:, col] = np.real(np.sum(psi.conj() * (H @ psi.T).T, axis=1))
        return out

    # ------------------------------------------------------------------ DynamicalSystem API
    def initial_condition(self, rng: np.random.Generator) -> np.ndarray:
        """Full state ``(n_state,)`` of the initial wavefunction at ``t = 0``.

        Deterministic (``rng`` unused) except for ``initial="random_product"``, where each spin
        points along a direction drawn uniformly on the Bloch sphere; the drawn wavefunction is
        remembered by this instance so that :meth:`integrate` can evolve it.
        """
        if self.params.initial != "random_product":
            psi0 = self.initial_state()
            return self.measure(psi0, psi0)[0]
        n = int(self.params.n_sites)
        cos_theta = rng.uniform(-1.0, 1.0, size=n)
        phi = rng.uniform(0.0, 2.0 * np.pi, size=n)
        half = np.arccos(cos_theta) / 2.0
        spinors = np.stack([np.cos(half), np.exp(1j * phi) * np.sin(half)], axis=1)
        psi0 = self.product_state(spinors)
        y0 = self.measure(psi0, psi0)[0]
        self._random_states.append((y0, psi0))
        return y0

    def _psi0_for(self, y0: np.ndarray) -> np.ndarray:
        y0 = np.asarray(y0, dtype=float)
        if y0.shape != (len(self.state_names),):
            raise SystemDefinitionError(
                f"spin_quench: y0 must have shape ({len(self.state_names)},) "
                f"(state {self.state_names}), got {y0.shape}")
        if self.params.initial == "random_product":
            for y_known, psi0 in reversed(self._random_states):
                if np.allclose(y0, y_known, rtol=0.0, atol=1e-12):
                    return psi0
        else:
            psi0 = self.initial_state()
            if np.allclose(y0, self.measure(psi0, psi0)[0], rtol=0.0, atol=1e-8):
                return psi0
        raise SystemDefinitionError(
            "spin_quench: y0 is not the observable vector of this system's initial state; the "
            "wavefunction cannot be reconstructed from observables (start from "
            "initial_condition(rng) of the same instance, and use no transient)")

    def integrate(
        self,
        y0: np.ndarray,
        t: np.ndarray,
        *,
        rng: np.random.Generator,
        method: str = "expm_multiply",
        rtol: float = 0.0,
        atol: float = 0.0,
    ) -> np.ndarray:
        """Full states ``(n_t, n_state)``, real, at times ``t`` (units of ``1/J``).

        ``|psi(t)> = exp(-i H_final (t - t[0])) |psi0>`` with ``psi0`` the wavefunction behind
        ``y0`` at ``t[0]``. A uniform grid uses the start/stop form of ``expm_multiply`` (in
        chunks bounded in memory); any other grid is evolved interval by interval.

        Args:
            y0: ``(n_state,)`` from :meth:`initial_condition` of this instance.
            t: ``(n_t,)`` output times.
            rng: unused (the evolution is deterministic).
            method: ``"expm_multiply"`` (the only one).
            rtol, atol: ignored; ``expm_multiply`` works to double precision.
        """
        from scipy.sparse.linalg import expm_multiply

        if method != "expm_multiply":
            raise SystemDefinitionError(
                f"spin_quench: method must be 'expm_multiply', got {method!r}")
        t = np.asarray(t, dtype=float)
        if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)):
            raise SystemDefinitionError(f"spin_quench: t must be a finite 1-d array, got "
                                        f"shape {t.shape}")
        psi0 = self._psi0_for(y0)
        A = (-1j * self.hamiltonian("final")).tocsr()
        dim = psi0.size
        n_t = t.size
        out = np.empty((n_t, len(self.state_names)))
        out[0] = self.measure(psi0, psi0)[0]
        dts = np.diff(t)
        uniform = n_t >= 3 and np.allclose(dts, dts[0], rtol=1e-12, atol=1e-14 * abs(dts[0]))
        chunk = max(1, _MAX_CHUNK_ELEMENTS // dim)
        psi = psi0
        k = 1
        while k < n_t:
            if uniform:
                m = min(chunk, n_t - k)
                dt = float(dts[0])
                states = expm_multiply(A, psi, start=0.0, stop=m * dt, num=m + 1,
                                       endpoint=True)[1:]
            else:
                m = 1
                states = expm_multiply(A * float(dts[k - 1]), psi)[None, :]
            out[k:k + m] = self.measure(states, psi0)
            psi = states[-1]
            k += m
        return out

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cache"] = {}  # rebuilt on demand; keeps pickles for worker processes small
        return state
