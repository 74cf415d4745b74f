r"""The echo-state network in the local (parallel) scheme, one reservoir shared by all patches.

Every patch of a periodic field (:class:`~physrnn.nn.local.PeriodicPatches`) drives its own
copy of the *same* reservoir with its window ``w_t`` (``width`` sites) and a *shared* ridge
read-out predicts the patch's own sites, as in Pathak et al., PRL 120, 024102 (2018) with the
weights tied across patches (translation invariance)::

    r_{t+1} = (1 - a) r_t + a tanh(W r_t + W_in w_t + b)                    (1)
    y_t     = W_out [1; g(r_{t+1}); w_t]                                     (2)

``W`` is a sparse random ``(N, N)`` matrix (``degree`` non-zeros per row on average, entries
uniform in [-1, 1]) scaled to ``spectral_radius`` (computed by ARPACK from a seeded start
vector); with ``sparse_input`` (default, as Pathak) each unit reads one site of the window
(units assigned round-robin) with a weight uniform in ``[-input_scaling, input_scaling]``,
else ``W_in`` is dense uniform; ``b`` is uniform in ``[-bias_scaling, bias_scaling]``; ``g``
squares every second unit with ``squared_states`` (Pathak's symmetry breaking); with
``window_features="quadratic"`` the features also hold the window's quadratic monomials. The
read-out
predicts the owned sites ``u_{t+1}`` (``target="state"``) or their increment
(``target="increment"``).

Fitting accumulates the normal equations ``G = X^T X``, ``C = X^T Z`` over blocks of time steps
(memory ``O(F^2)`` for ``F = 1 + N + width`` features, whatever the number of rows
``n_traj * P * (n_t - 1 - washout)``) and solves ``(G + ridge I) W_out^T = C`` by Cholesky
(every column penalised alike, as :class:`~physrnn.nn.reservoir.EchoStateNetwork`). Cost per
time step: a sparse product ``O(degree N P)`` per trajectory and ``O(P F^2)`` for the normal
equations (the dominant term: ``2 n_rows F^2`` flops in all).
"""

from __future__ import annotations

import copy
import logging
import math
import warnings

import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg

from physrnn.nn.base import check_n_steps, check_series
from physrnn.nn.local import PeriodicPatches

__all__ = ["LocalESN"]

log = logging.getLogger(__name__)

_TARGETS = ("state", "increment")
_WINDOW_FEATURES = ("linear", "quadratic")


class LocalESN:
    """Echo-state network for periodic fields, one reservoir and read-out for every patch.

    Args:
        patch: sites owned by each patch (must divide the field's size, known at ``fit``).
        overlap: neighbours read on each side of a patch.
        n_reservoir: reservoir units ``N``.
        spectral_radius, leak, input_scaling, bias_scaling, ridge, degree, washout,
        squared_states, target: as :class:`~physrnn.nn.reservoir.EchoStateNetwork`.
        sparse_input: each unit reads one window site (True) or all of them (False).
        window_features: ``"linear"`` (the window ``w_t`` beside the reservoir in eq. 2) or
            ``"quadratic"`` (also its monomials ``w_i w_j``, ``i <= j``: the features of
            next-generation reservoir computing, Gauthier et al., Nat. Commun. 12, 5564
            (2021), next to the reservoir; a quadratic local law such as Lorenz-96's is then
            in the read-out's span).
        block_steps: time steps per block of the normal equations (memory/speed trade-off).
        input_noise: standard deviation (normalised units) of Gaussian noise added to the
            training field that drives the reservoir and fills the features, while the
            targets stay clean (Wikner et al., Chaos 32, 053111 (2022)): the read-out learns
            to pull perturbed states back to the attractor, which stabilises the closed loop.
            0 (default) trains on the clean field.
        seed: int seed of ``W``, ``W_in``, ``b`` and the training noise.
        name: the forecaster's name.

    Attributes after ``fit``: ``patches_`` (:class:`PeriodicPatches`), ``W_`` (sparse CSR
    ``(N, N)``), ``W_in_`` ``(N, width)``, ``b_`` ``(N,)``, ``W_out_`` ``(patch, F)``,
    ``n_state_``, ``train_nrmse_`` (one-step, teacher-forced), ``n_rows_``, and the normal
    equations ``gram_`` ``(F, F)``, ``cross_`` ``(F, patch)`` (see :meth:`with_ridge`).

    Shapes: the Forecaster contract, float64 ``(batch, time, n_sites)`` in normalised units.
    """

    def __init__(
        self,
        patch: int,
        *,
        overlap: int = 0,
        n_reservoir: int = 1000,
        spectral_radius: float = 0.6,
        leak: float = 1.0,
        input_scaling: float = 1.0,
        bias_scaling: float = 0.0,
        ridge: float = 1e-4,
        degree: float = 3.0,
        washout: int = 100,
        squared_states: bool = True,
        target: str = "state",
        sparse_input: bool = True,
        window_features: str = "linear",
        block_steps: int = 200,
        input_noise: float = 0.0,
        seed: int = 0,
        name: str = "local-esn",
    ) -> None:
        for key, val in (("n_reservoir", n_reservoir), ("patch", patch),
                         ("block_steps", block_steps)):
            if isinstance(val, bool) or int(val) != val or val < 1:
                raise ValueError(f"{name}: {key} must be a positive int, got {val!r}")
        if isinstance(overlap, bool) or int(overlap) != overlap or overlap < 0:
            raise ValueError(f"{name}: overlap must be an int >= 0, got {overlap!r}")
        if not 0.0 < leak <= 1.0:
            raise ValueError(f"{name}: leak must be in (0, 1], got {leak!r}")
        for key, val in (("spectral_radius", spectral_radius), ("input_scaling", input_scaling),
                         ("bias_scaling", bias_scaling), ("ridge", ridge),
                         ("input_noise", input_noise)):
            if not (val >= 0 and math.isfinite(val)):
                raise ValueError(f"{name}: {key} must be finite and >= 0, got {val!r}")
        if not degree > 0:
            raise ValueError(f"{name}: degree must be > 0, got {degree!r}")
        if isinstance(washout, bool) or int(washout) != washout or washout < 0:
            raise ValueError(f"{name}: washout must be an int >= 0, got {washout!r}")
        if window_features not in _WINDOW_FEATURES:
            raise ValueError(f"{name}: unknown window_features {window_features!r}; choose "
                             f"from {_WINDOW_FEATURES}")
        if target not in _TARGETS:
            raise ValueError(f"{name}: unknown target {target!r}; choose from {_TARGETS}")
        self.patch, self.overlap = int(patch), int(overlap)
        self.n_reservoir = int(n_reservoir)
        self.spectral_radius = float(spectral_radius)
        self.leak = float(leak)
        self.input_scaling = float(input_scaling)
        self.bias_scaling = float(bias_scaling)
        self.ridge = float(ridge)
        self.degree = float(degree)
        self.washout = int(washout)
        self.squared_states = bool(squared_states)
        self.target = target
        self.sparse_input = bool(sparse_input)
        self.window_features = window_features
        self.block_steps = int(block_steps)
        self.input_noise = float(input_noise)
        self.seed = int(seed)
        self.name = name
        self.W_out_: np.ndarray | None = None
        self.patches_: PeriodicPatches | None = None

    def config(self) -> dict:
        """The constructor arguments."""
        return {k: getattr(self, k) for k in (
            "patch", "overlap", "n_reservoir", "spectral_radius", "leak", "input_scaling",
            "bias_scaling", "ridge", "degree", "washout", "squared_states", "target",
            "sparse_input", "window_features", "block_steps", "input_noise", "seed", "name")}

    def __repr__(self) -> str:
        return (f"LocalESN(patch={self.patch}, overlap={self.overlap}, n_reservoir="
                f"{self.n_reservoir}, spectral_radius={self.spectral_radius:.4g}, leak="
                f"{self.leak:.4g}, input_scaling={self.input_scaling:.4g}, ridge="
                f"{self.ridge:.3g})")

    # -- reservoir --------------------------------------------------------------------------

    def _draw(self, n_sites: int) -> None:
        self.patches_ = PeriodicPatches(n_sites, self.patch, self.overlap)
        width, n = self.patches_.width, self.n_reservoir
        rng = np.random.default_rng(self.seed)
        density = min(1.0, self.degree / n)
        w = scipy.sparse.random(n, n, density=density, format="csr", random_state=rng,
                                data_rvs=lambda k: rng.uniform(-1.0, 1.0, k))
        v0 = rng.uniform(-1.0, 1.0, n)
        if w.nnz == 0:
            raise ValueError(f"{self.name}: the reservoir matrix is empty; raise degree")
        if n > 20:
            rho = float(np.max(np.abs(scipy.sparse.linalg.eigs(
                w, k=1, which="LM", v0=v0, return_eigenvectors=False, maxiter=100 * n))))
        else:
            rho = float(np.max(np.abs(np.linalg.eigvals(w.toarray()))))
        if rho < 1e-12:
            raise ValueError(f"{self.name}: the reservoir matrix has spectral radius 0; "
                             f"raise degree")
        self.W_ = (w * (self.spectral_radius / rho)).tocsr()
        if self.sparse_input:
            win = np.zeros((n, width))
            win[np.arange(n), np.arange(n) % width] = rng.uniform(-1.0, 1.0, n)
        else:
            win = rng.uniform(-1.0, 1.0, (n, width))
        self.W_in_ = self.input_scaling * win
        self.b_ = self.bias_scaling * rng.uniform(-1.0, 1.0, n)
        self.n_state_ = n_sites

    def _step(self, r: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Eq. (1): ``r`` ``(N, B)`` states, ``w`` ``(B, width)`` windows -> ``(N, B)``."""
        pre = self.W_ @ r + self.W_in_ @ w.T + self.b_[:, None]
        act = np.tanh(pre, out=pre)
        if self.leak == 1.0:
            return act
        return (1.0 - self.leak) * r + self.leak * act

    def n_features(self, width: int) -> int:
        """``F``: 1 + N + width (+ width (width + 1) / 2 with quadratic window features)."""
        quad = width * (width + 1) // 2 if self.window_features == "quadratic" else 0
        return 1 + self.n_reservoir + width + quad

    def _features(self, r: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Eq. (2)'s ``[1; g(r); w (; w_i w_j, i <= j)]``: ``(N, B)``, ``(B, width)`` ->
        ``(B, F)``."""
        b, width = w.shape
        n = self.n_reservoir
        x = np.empty((b, self.n_features(width)))
        x[:, 0] = 1.0
        x[:, 1:1 + n] = r.T
        if self.squared_states:
            x[:, 1:1 + n:2] **= 2
        x[:, 1 + n:1 + n + width] = w
        if self.window_features == "quadratic":
            i, j = np.triu_indices(width)
            np.multiply(w[:, i], w[:, j], out=x[:, 1 + n + width:])
        return x

    def _windows(self, u: np.ndarray) -> np.ndarray:
        """``(b, n_sites)`` -> ``(b * P, width)`` windows, patch-minor."""
        return self.patches_.windows(u).reshape(-1, self.patches_.width)

    def _targets(self, u_next: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Regression targets ``(b * P, patch)`` for the next field ``(b, n_sites)``."""
        z = u_next.reshape(-1, self.patch)
        return z - self.patches_.core(w) if self.target == "increment" else z

    # -- fitting ----------------------------------------------------------------------------

    def fit(self, train: np.ndarray, val: np.ndarray | None = None) -> LocalESN:
        """Draw the reservoir, drive it with every patch of every trajectory, solve the
        read-out.

        Args:
            train: ``(n_traj, n_t, n_sites)``, ``n_t > washout + 1``.
            val: ignored (tune hyperparameters on validation forecasts outside).
        """
        self.W_out_ = None
        train = check_series(train, what="train", owner=self.name, min_len=self.washout + 2,
                             min_len_reason=f"washout={self.washout}")
        self._draw(train.shape[2])
        n_traj, n_t, _ = train.shape
        p = self.patches_.n_patches
        n_feat = self.n_features(self.patches_.width)
        gram = np.zeros((n_feat, n_feat))
        cross = np.zeros((n_feat, self.patch))
        zz = 0.0
        r = np.zeros((self.n_reservoir, n_traj * p))
        rows: list[np.ndarray] = []
        targets: list[np.ndarray] = []
        n_rows = 0

        def flush() -> None:
            nonlocal zz, n_rows
            if not rows:
                return
            x, z = np.concatenate(rows), np.concatenate(targets)
            gram[:] += x.T @ x
            cross[:] += x.T @ z
            zz += float(np.sum(z * z))
            n_rows += x.shape[0]
            rows.clear()
            targets.clear()

        noise = np.random.default_rng([self.seed, 1]) if self.input_noise > 0 else None
        for t in range(n_t - 1):
            u = train[:, t]
            if noise is not None:
                u = u + self.input_noise * noise.standard_normal(u.shape)
            w = self._windows(u)
            r = self._step(r, w)
            if t >= self.washout:
                rows.append(self._features(r, w))
                targets.append(self._targets(train[:, t + 1], w))
                if len(rows) >= self.block_steps:
                    flush()
        flush()
        self.gram_, self.cross_, self.zz_, self.n_rows_ = gram, cross, zz, n_rows
        self._solve()
        return self

    def with_ridge(self, ridge: float) -> LocalESN:
        """A copy with the read-out re-solved for another ``ridge`` (same reservoir, same
        accumulated normal equations: no new pass over the data)."""
        self._require_fit()
        if not (ridge >= 0 and math.isfinite(ridge)):
            raise ValueError(f"{self.name}: ridge must be finite and >= 0, got {ridge!r}")
        out = copy.copy(self)
        out.ridge = float(ridge)
        out._solve()
        return out

    def _solve(self) -> None:
        """``W_out_`` and ``train_nrmse_`` from the normal equations and ``ridge``."""
        gram, cross = self.gram_, self.cross_
        reg = gram + self.ridge * np.eye(gram.shape[0])
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", scipy.linalg.LinAlgWarning)
                w_out = scipy.linalg.solve(reg, cross, assume_a="pos")
            for c in caught:  # tiny ridges on collinear features: accurate enough, say so
                log.debug("%s: %s", self.name, c.message)
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
            w_out = np.linalg.lstsq(reg, cross, rcond=None)[0]
        if not np.all(np.isfinite(w_out)):
            raise FloatingPointError(f"{self.name}: the read-out has non-finite entries "
                                     f"(ridge={self.ridge})")
        self.W_out_ = w_out.T.copy()
        # residual |X W - Z|^2 = Z.Z - 2 tr(W^T C) + tr(W^T G W), from the accumulated sums
        resid = (self.zz_ - 2.0 * float(np.sum(w_out * cross))
                 + float(np.sum(w_out * (gram @ w_out))))
        self.train_nrmse_ = math.sqrt(max(resid, 0.0) / (self.n_rows_ * self.patch))

    # -- prediction -------------------------------------------------------------------------

    def _require_fit(self) -> None:
        if self.W_out_ is None:
            raise RuntimeError(f"{self.name}: call fit() before forecasting")

    def _readout(self, r: np.ndarray, w: np.ndarray, b: int) -> np.ndarray:
        y = self._features(r, w) @ self.W_out_.T                    # (b * P, patch)
        if self.target == "increment":
            y = y + self.patches_.core(w)
        return y.reshape(b, self.n_state_)

    def forecast(self, context: np.ndarray, n_steps: int) -> np.ndarray:
        """Drive every patch with the context, then run in closed loop.

        Args:
            context: ``(batch, n_context, n_sites)``; best ``n_context >= washout``.
            n_steps: future steps (>= 0).

        Returns:
            ``(batch, n_steps, n_sites)`` float64.
        """
        self._require_fit()
        context = check_series(context, what="context", owner=self.name, n_state=self.n_state_)
        n_steps = check_n_steps(n_steps, self.name)
        b = context.shape[0]
        out = np.empty((b, n_steps, self.n_state_))
        if n_steps == 0:
            return out
        r = np.zeros((self.n_reservoir, b * self.patches_.n_patches))
        for t in range(context.shape[1]):
            w = self._windows(context[:, t])
            r = self._step(r, w)
        with np.errstate(over="ignore", invalid="ignore"):
            for k in range(n_steps):
                u = self._readout(r, w, b)
                out[:, k] = u
                if k + 1 < n_steps:
                    w = self._windows(u)
                    r = self._step(r, w)
        return out

    def predict_one_step(self, series: np.ndarray) -> np.ndarray:
        """Teacher-forced one-step predictions ``(batch, T, n_sites)``: entry ``t`` predicts
        ``series[:, t + 1]``."""
        self._require_fit()
        series = check_series(series, what="series", owner=self.name, n_state=self.n_state_)
        b, n_t, _ = series.shape
        out = np.empty_like(series)
        r = np.zeros((self.n_reservoir, b * self.patches_.n_patches))
        for t in range(n_t):
            w = self._windows(series[:, t])
            r = self._step(r, w)
            out[:, t] = self._readout(r, w, b)
        return out
