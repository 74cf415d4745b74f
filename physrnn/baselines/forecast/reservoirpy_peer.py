r"""reservoirpy's echo-state network as a peer of :class:`~physrnn.nn.reservoir.EchoStateNetwork`.

reservoirpy (Trouvain et al., ICANN 2020; optional: ``pip install 'physrnn[reservoirpy]'``) is the
common Python reservoir-computing library. This module builds its ``Reservoir`` and ``Ridge``
nodes from physrnn's hyperparameters, so "same size, same data" comparisons with physrnn's ESN
are fair. The update is the same leaky integrator (reservoirpy's ``Reservoir._step``)::

    r_{t+1} = (1 - a) r_t + a f(W r_t + W_in u_t + b),      r_0 = 0
    y_t     = W_out^T [g(r_{t+1}); u_t] + c                  (reservoirpy ``Ridge``)

and the parameters map as follows:

=====================  =================================================================
physrnn                reservoirpy
=====================  =================================================================
``n_reservoir``        ``Reservoir(units=n_reservoir)``
``spectral_radius``    ``sr`` (rescaled with ARPACK for a sparse ``W``, exact eigvals in
                       physrnn: equal to ~1e-10)
``leak``               ``lr``
``degree``             ``rc_connectivity = min(1, degree / n_reservoir)``; ``W`` entries
                       uniform in [-1, 1] (``mat_gen.uniform``), as physrnn; reservoirpy draws
                       exactly ``connectivity n^2`` non-zeros, physrnn a Bernoulli mask
``input_scaling``      ``input_scaling`` with ``Win = mat_gen.uniform(-1, 1)`` and
                       ``input_connectivity = 1`` (dense, as physrnn; reservoirpy's default is
                       a sparse Bernoulli +-1 matrix with connectivity 0.1)
``bias_scaling``       ``bias = mat_gen.uniform(-bias_scaling, bias_scaling)``, dense (physrnn:
                       the same law; reservoirpy's default is no bias)
``ridge``              ``Ridge(ridge, fit_bias=True)``: the intercept ``c`` is **not**
                       penalised (physrnn penalises its constant feature like the others), and
                       the normal equations are solved with ``scipy.linalg.solve`` (physrnn:
                       thin SVD); the features are ``[r; u]`` (physrnn ``[1; r; u]``)
``washout``            ``Ridge.fit(..., warmup=washout)``: discarded from every sequence
``target``             ``"state"`` (``y = u_{t+1}``) or ``"increment"`` (``y = u_{t+1} - u_t``)
``seed``               ``Reservoir(seed=seed)`` (a different random stream from physrnn: the
                       two reservoirs are draws from the same law, not the same matrix)
=====================  =================================================================

Physrnn's ``squared_states`` has no reservoirpy counterpart and is not offered. Fitting runs
reservoirpy's own ``Reservoir.run`` over every training sequence (each from ``r = 0``) and its
``Ridge.fit``. Forecasting drives the fitted node's matrices (``W``, ``Win``, ``bias``, ``lr``,
``activation``) with the context and then in closed loop for the whole batch at once: the same
arithmetic as ``Reservoir.step`` and ``Ridge.step`` (the tests check it against them), without a
Python loop over the batch.

**Local version** (``locality=(patch, overlap)``, as
:class:`~physrnn.baselines.forecast.ngrc.NGRC`): a 1D periodic field of ``n`` sites is cut
into ``n / patch`` patches; each patch drives its own copy of **one** reservoir with its
``patch + 2 overlap`` input sites and predicts its own ``patch`` sites through **one** shared
readout (Pathak et al., PRL 120, 024102 (2018), with shared weights as in Vlachas et al.,
Neural Networks 126, 191 (2020)). In fitting the patches
are separate reservoirpy sequences.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from physrnn.baselines.forecast.ngrc import patch_indices
from physrnn.nn.base import check_n_steps, check_series

__all__ = ["ReservoirpyESN"]

log = logging.getLogger(__name__)

_STATE_BYTES = 5e8  # reservoir states held at once while fitting (bytes)

_ACTIVATIONS = ("tanh", "identity")
_TARGETS = ("state", "increment")


def _import_reservoirpy():
    """The reservoirpy modules used here, or an ImportError saying how to install them."""
    try:
        import reservoirpy.mat_gen as mat_gen
        from reservoirpy.nodes import Reservoir, Ridge
    except ImportError as exc:
        raise ImportError("ReservoirpyESN needs reservoirpy, an optional dependency: "
                          "pip install 'physrnn[reservoirpy]'") from exc
    return Reservoir, Ridge, mat_gen


class ReservoirpyESN:
    """reservoirpy ``Reservoir`` + ``Ridge`` with physrnn's ESN hyperparameters (module docstring).

    Args:
        n_reservoir: number of reservoir units ``N``.
        spectral_radius, leak, input_scaling, bias_scaling, ridge, degree, washout, activation,
            target: as in :class:`~physrnn.nn.reservoir.EchoStateNetwork` (same defaults).
        locality: ``None`` (global) or ``(patch, overlap)`` for a periodic 1D field.
        seed: int seed of reservoirpy's generator for ``W``, ``Win`` and the bias.
        name: the forecaster's name.

    Attributes after ``fit``: ``reservoir_`` and ``readout_`` (the fitted reservoirpy nodes),
    ``n_state_``, ``train_nrmse_`` (one-step, teacher-forced RMS error of the regression target
    on the training rows after the washout).
    """

    def __init__(
        self,
        n_reservoir: int = 500,
        *,
        spectral_radius: float = 0.9,
        leak: float = 1.0,
        input_scaling: float = 0.5,
        bias_scaling: float = 0.5,
        ridge: float = 1e-6,
        degree: float = 3.0,
        washout: int = 100,
        activation: str = "tanh",
        target: str = "state",
        locality: tuple[int, int] | None = None,
        seed: int = 0,
        name: str = "reservoirpy-esn",
    ) -> None:
        owner = "ReservoirpyESN"
        if isinstance(n_reservoir, bool) or int(n_reservoir) != n_reservoir or n_reservoir < 1:
            raise ValueError(f"{owner}: n_reservoir must be a positive int, got {n_reservoir!r}")
        if not 0.0 < leak <= 1.0:
            raise ValueError(f"{owner}: leak must be in (0, 1], got {leak!r}")
        for key, val in (("spectral_radius", spectral_radius), ("input_scaling", input_scaling),
                         ("bias_scaling", bias_scaling), ("ridge", ridge)):
            if not (val >= 0 and math.isfinite(val)):
                raise ValueError(f"{owner}: {key} must be finite and >= 0, got {val!r}")
        if not degree > 0:
            raise ValueError(f"{owner}: degree must be > 0, got {degree!r}")
        if isinstance(washout, bool) or int(washout) != washout or washout < 0:
            raise ValueError(f"{owner}: washout must be an int >= 0, got {washout!r}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"{owner}: unknown activation {activation!r}; choose from "
                             f"{_ACTIVATIONS}")
        if target not in _TARGETS:
            raise ValueError(f"{owner}: unknown target {target!r}; choose from {_TARGETS}")
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
            raise ValueError(f"{owner}: seed must be an int, got {seed!r}")
        if locality is not None:
            if len(locality) != 2:
                raise ValueError(f"{owner}: locality must be (patch, overlap), got {locality!r}")
            patch, overlap = locality
            # integer checks now; divisibility once the field's size is known (fit)
            patch_indices(int(patch) * (2 * int(overlap) + 1), patch, overlap, owner=owner)
            locality = (int(patch), int(overlap))
        self.n_reservoir = int(n_reservoir)
        self.spectral_radius = float(spectral_radius)
        self.leak = float(leak)
        self.input_scaling = float(input_scaling)
        self.bias_scaling = float(bias_scaling)
        self.ridge = float(ridge)
        self.degree = float(degree)
        self.washout = int(washout)
        self.activation = activation
        self.target = target
        self.locality = locality
        self.seed = int(seed)
        self.name = name
        self.reservoir_ = None
        self.readout_ = None
        self.n_state_: int | None = None

    def __repr__(self) -> str:
        return (f"ReservoirpyESN(n_reservoir={self.n_reservoir}, spectral_radius="
                f"{self.spectral_radius:.4g}, leak={self.leak:.4g}, input_scaling="
                f"{self.input_scaling:.4g}, ridge={self.ridge:.3g}, target={self.target!r}, "
                f"locality={self.locality})")

    def config(self) -> dict:
        """The constructor arguments."""
        return {key: getattr(self, key) for key in (
            "n_reservoir", "spectral_radius", "leak", "input_scaling", "bias_scaling", "ridge",
            "degree", "washout", "activation", "target", "locality", "seed", "name")}

    # -- nodes ------------------------------------------------------------------------------

    def _make_reservoir(self, n_in: int):
        reservoir_cls, _, mat_gen = _import_reservoirpy()
        b = self.bias_scaling
        return reservoir_cls(
            units=self.n_reservoir, lr=self.leak, sr=self.spectral_radius,
            input_scaling=self.input_scaling, input_connectivity=1.0,
            rc_connectivity=min(1.0, self.degree / self.n_reservoir),
            W=mat_gen.uniform(low=-1.0, high=1.0), Win=mat_gen.uniform(low=-1.0, high=1.0),
            bias=mat_gen.uniform(low=-b, high=b) if b > 0 else 0.0,
            activation=self.activation, input_dim=n_in, seed=self.seed)

    def _local(self, x: np.ndarray) -> np.ndarray:
        """``(b, T, n)`` -> ``(b * n_patches, T, patch + 2 overlap)``: one sequence per patch."""
        loc = x[..., self.inputs_]  # (b, T, n_p, L)
        return np.moveaxis(loc, 2, 1).reshape(-1, x.shape[1], self.inputs_.shape[1])

    def _own(self, x: np.ndarray) -> np.ndarray:
        """``(b, T, n)`` -> ``(b * n_patches, T, patch)``: the sites each patch predicts."""
        own = x[..., self.own_]
        return np.moveaxis(own, 2, 1).reshape(-1, x.shape[1], self.own_.shape[1])

    # -- fitting ----------------------------------------------------------------------------

    def fit(self, train: np.ndarray, val: np.ndarray | None = None) -> ReservoirpyESN:
        """Run reservoirpy's reservoir over every training sequence, fit its ridge readout.

        Args:
            train: ``(n_traj, n_t, n_state)`` with ``n_t > washout + 1``; each trajectory (and
                each patch of it) is a separate sequence started from ``r = 0``.
            val: ignored.
        """
        _, ridge_cls, _ = _import_reservoirpy()
        self.reservoir_ = self.readout_ = None
        train = check_series(train, what="train", owner=self.name, min_len=self.washout + 2,
                             min_len_reason=f"washout={self.washout} plus two points")
        n = train.shape[2]
        patch, overlap = self.locality if self.locality is not None else (n, 0)
        self.inputs_, self.own_ = patch_indices(n, patch, overlap, owner=self.name)
        self.n_state_ = n
        u = self._local(train)  # (S, T, L)
        own = self._own(train)
        z_all = own[:, 1:] - own[:, :-1] if self.target == "increment" else own[:, 1:]
        reservoir = self._make_reservoir(u.shape[2])  # a fresh node: every sequence from r = 0
        readout = ridge_cls(ridge=self.ridge, fit_bias=True)
        # reservoirpy's Ridge sums X^T X per sequence (its worker) and solves once (its
        # master): run the reservoir a group of sequences at a time so that the states of
        # all patches of a long training set are never held at once
        seq_bytes = 8 * (u.shape[1] - 1) * (self.n_reservoir + u.shape[2])
        per = max(1, int(_STATE_BYTES // seq_bytes))
        first: list[tuple[np.ndarray, np.ndarray]] = []

        def partial_sums():
            for a in range(0, u.shape[0], per):
                if a:  # each group from r = 0, as the first (run() starts every series there)
                    reservoir.state = {k: np.zeros_like(v) for k, v in reservoir.state.items()}
                states = np.asarray(reservoir.run(u[a:a + per, :-1]))  # r_{t+1} after u_t
                x = np.concatenate([states, u[a:a + per, :-1]], axis=2)
                del states
                z = z_all[a:a + per]
                if not first:
                    first.append((x[:, self.washout:], z[:, self.washout:]))
                for x_seq, z_seq in zip(x, z, strict=True):
                    yield readout.worker(x_seq[self.washout:], z_seq[self.washout:])

        # master() sizes its sums from the node's dimensions before it reads the first group
        readout.initialize(np.zeros((2, self.n_reservoir + u.shape[2])),
                           np.zeros((2, z_all.shape[2])))
        readout.master(partial_sums())
        w_out, bias = np.asarray(readout.Wout), np.asarray(readout.bias).reshape(-1)
        if not (np.all(np.isfinite(w_out)) and np.all(np.isfinite(bias))):
            raise FloatingPointError(f"{self.name}: the readout has non-finite entries "
                                     f"(ridge={self.ridge})")
        x, z = first[0]  # one-step error on the first group of sequences
        self.train_nrmse_ = float(np.sqrt(np.mean((x @ w_out + bias - z) ** 2)))
        self.reservoir_, self.readout_ = reservoir, readout
        return self

    # -- prediction -------------------------------------------------------------------------

    def _require_fit(self) -> int:
        if self.readout_ is None:
            raise RuntimeError(f"{self.name}: call fit() before forecasting")
        return self.n_state_

    def _step(self, r: np.ndarray, u: np.ndarray) -> np.ndarray:
        """``Reservoir._step`` for a batch: ``r`` ``(N, m)``, ``u`` ``(L, m)`` -> ``(N, m)``."""
        res = self.reservoir_
        bias = np.asarray(res.bias, dtype=np.float64)
        pre = res.W @ r + res.Win @ u + (bias.reshape(-1, 1) if bias.ndim else bias)
        return (1.0 - res.lr) * r + res.lr * res.activation(np.asarray(pre))

    def _readout(self, r: np.ndarray, u_loc: np.ndarray, u_own: np.ndarray) -> np.ndarray:
        """``Ridge.step`` for a batch: ``(N, m)``, ``(L, m)``, ``(patch, m)`` -> ``(patch, m)``."""
        w_out = np.asarray(self.readout_.Wout)
        n_res = self.n_reservoir
        y = w_out[:n_res].T @ r + w_out[n_res:].T @ u_loc + np.asarray(
            self.readout_.bias).reshape(-1, 1)
        return u_own + y if self.target == "increment" else y

    def states(self, series: np.ndarray) -> np.ndarray:
        """Teacher-forced reservoir states ``r_{t+1}`` from ``r_0 = 0``.

        Args:
            series: ``(batch, T, n_state)``.

        Returns:
            ``(batch, n_patches, T, N)`` (``n_patches = 1`` for the global model).
        """
        n = self._require_fit()
        x = check_series(series, what="series", owner=self.name, n_state=n)
        u = self._local(x)  # (m, T, L)
        r = np.zeros((self.n_reservoir, u.shape[0]))
        out = np.empty((u.shape[0], u.shape[1], self.n_reservoir))
        for t in range(u.shape[1]):
            r = self._step(r, u[:, t].T)
            out[:, t] = r.T
        return out.reshape(x.shape[0], -1, u.shape[1], self.n_reservoir)

    def forecast(self, context: np.ndarray, n_steps: int) -> np.ndarray:
        """Drive with the context from ``r = 0``, then run in closed loop (generative mode).

        Args:
            context: ``(batch, n_context, n_state)``; best ``n_context >= washout``.
            n_steps: number of future steps (>= 0).

        Returns:
            ``(batch, n_steps, n_state)`` float64.
        """
        n = self._require_fit()
        ctx = check_series(context, what="context", owner=self.name, n_state=n)
        n_steps = check_n_steps(n_steps, self.name)
        if ctx.shape[1] < self.washout:
            log.debug("%s: context of %d steps is shorter than the washout (%d)", self.name,
                      ctx.shape[1], self.washout)
        b = ctx.shape[0]
        out = np.empty((b, n_steps, n))
        if n_steps == 0:
            return out
        u = self._local(ctx)  # (m, T, L) with m = b * n_patches
        r = np.zeros((self.n_reservoir, u.shape[0]))
        for t in range(u.shape[1]):
            r = self._step(r, u[:, t].T)
        x = ctx[:, -1]
        with np.errstate(over="ignore", invalid="ignore"):
            for k in range(n_steps):
                loc = x[:, self.inputs_].reshape(-1, self.inputs_.shape[1]).T  # (L, m)
                own = x[:, self.own_].reshape(-1, self.own_.shape[1]).T  # (patch, m)
                y = self._readout(r, loc, own)  # (patch, m)
                x = y.T.reshape(b, n)  # patches own consecutive sites, in order
                out[:, k] = x
                if k + 1 < n_steps:
                    r = self._step(r, x[:, self.inputs_].reshape(-1, self.inputs_.shape[1]).T)
        return out
