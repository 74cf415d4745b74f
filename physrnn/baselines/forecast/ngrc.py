r"""Next-generation reservoir computing (NG-RC): a nonlinear vector autoregression.

Gauthier, Bollt, Griffith and Barbosa, Nat. Commun. 12, 5564 (2021). No reservoir is drawn: the
feature vector at time ``t`` is built from the current state and ``k - 1`` delayed states
``s`` steps apart, and a ridge regression maps it to the next step::

    O_lin(t)  = [x_t; x_{t-s}; ...; x_{t-(k-1)s}]                 (k n values)
    O_nl(t)   = the unique monomials of degree 2 .. ``degree`` of O_lin(t)
    O(t)      = [1; O_lin(t); O_nl(t)]                              (constant optional)
    x_{t+1}   = x_t + W O(t)      (target="increment", as the paper)
              or      W O(t)      (target="state")

With ``degree = 2`` there are ``1 + k n + k n (k n + 1) / 2`` features. ``W`` minimises
``sum_t |W O(t) - z_t|^2 + ridge |W|_F^2`` (every column penalised alike, the constant too, as
in the paper's code) over every window of every training trajectory.

The paper's Lorenz-63 forecast uses ``k = 2``, ``s = 1``, quadratic monomials, ``ridge =
2.5e-6`` and data sampled every ``dt = 0.025`` (in the raw, unnormalised coordinates; physrnn
fits in normalised ones, so the best ridge differs).

**Local (parallel) version** for 1D periodic fields (Lorenz-96, Kuramoto-Sivashinsky):
``locality=(patch, overlap)`` splits the ``n`` sites into ``n / patch`` patches of ``patch``
consecutive sites. Patch ``j`` builds its features from the sites ``j patch - overlap`` ..
``(j + 1) patch + overlap - 1`` (indices modulo ``n``) and predicts only its own ``patch``
sites. One readout ``W`` is shared by all patches (their regression rows are stacked), so the
model is translation-equivariant under shifts by multiples of ``patch`` and a 512-point field
costs the regression of one ``patch + 2 overlap``-site model. ``locality=None`` is the global
model (one patch of ``n`` sites, no overlap).

Fitting with ``solver="normal"`` accumulates the normal equations ``O^T O`` and ``O^T Z`` over
chunks of rows, so memory does not grow with the length of the data, and solves them by
Cholesky; ``solver="svd"`` builds the whole design matrix and uses its thin SVD (accurate down
to ``ridge = 0``, where the normal equations square the condition number; more memory).
``solver="auto"`` (default) takes the SVD when the design matrix has at most 2^24 entries
(128 MiB) and the normal equations above. All arrays follow the
:class:`~physrnn.nn.base.Forecaster` contract: float64 ``(batch, time, n_state)`` in normalised
units; one step is one sample step.
"""

from __future__ import annotations

import itertools
import logging
import math

import numpy as np
import scipy.linalg

from physrnn.nn.base import check_n_steps, check_series
from physrnn.nn.local import PeriodicPatches

__all__ = ["NGRC", "n_features", "patch_indices"]

log = logging.getLogger(__name__)

_TARGETS = ("increment", "state")
_SOLVERS = ("auto", "normal", "svd")
_CHUNK_ENTRIES = 1 << 23  # design-matrix entries per chunk of rows (64 MiB of float64)
_SVD_ENTRIES = 1 << 24  # solver="auto": the SVD up to this many design-matrix entries


def n_features(n_in: int, k: int, *, degree: int = 2, constant: bool = True) -> int:
    """Number of NG-RC features for ``n_in`` inputs per time, ``k`` delays, monomials to ``degree``.

    ``constant + m + sum_{d=2}^{degree} C(m + d - 1, d)`` with ``m = k n_in``; for ``degree = 2``
    that is ``1 + m + m (m + 1) / 2``.
    """
    m = k * n_in
    return int(constant) + m + sum(math.comb(m + d - 1, d) for d in range(2, degree + 1))


def patch_indices(n: int, patch: int, overlap: int, *, owner: str = "NGRC"
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Site indices of the patches of a periodic 1D field of ``n`` sites.

    Returns:
        ``inputs`` ``(n // patch, patch + 2 overlap)``: the sites patch ``j`` reads (its own and
        ``overlap`` neighbours each side, modulo ``n``); ``own`` ``(n // patch, patch)``: the
        sites it predicts (``own.ravel()`` is ``0 .. n - 1`` in order).

    Raises:
        ValueError: ``patch`` does not divide ``n``, or the window is wider than the field.
    """
    if isinstance(patch, bool) or int(patch) != patch or patch < 1:
        raise ValueError(f"{owner}: locality patch must be an int >= 1, got {patch!r}")
    if isinstance(overlap, bool) or int(overlap) != overlap or overlap < 0:
        raise ValueError(f"{owner}: locality overlap must be an int >= 0, got {overlap!r}")
    if n % patch:
        raise ValueError(f"{owner}: locality patch={patch} does not divide the field's "
                         f"n_state={n} (n_state % patch = {n % patch})")
    if patch + 2 * overlap > n:
        raise ValueError(f"{owner}: locality window patch + 2 overlap = {patch + 2 * overlap} "
                         f"is wider than the field (n_state={n})")
    pp = PeriodicPatches(int(n), int(patch), int(overlap))
    return pp.index, np.arange(n).reshape(pp.n_patches, pp.patch)


def _int_at_least(value, low: int, what: str) -> int:
    if isinstance(value, bool) or int(value) != value or value < low:
        raise ValueError(f"NGRC: {what} must be an int >= {low}, got {value!r}")
    return int(value)


class NGRC:
    """NG-RC forecaster (see the module docstring for the features and the local version).

    Args:
        k: number of time points in the linear part (the current one and ``k - 1`` delays).
        s: spacing of the delays in sample steps.
        degree: highest monomial degree of the nonlinear part (>= 2; 1 drops it).
        ridge: Tikhonov penalty of the readout (>= 0).
        target: ``"increment"`` (predict ``x_{t+1} - x_t``, as the paper) or ``"state"``.
        constant: include the constant feature.
        locality: ``None`` (global) or ``(patch, overlap)`` for a periodic 1D field.
        solver: ``"auto"``, ``"normal"`` (chunked normal equations, Cholesky) or ``"svd"``.
        name: the forecaster's name.

    Attributes after ``fit``: ``W_out_`` ``(n_out, n_features_)`` with ``n_out = patch`` (or
    ``n_state``), ``n_features_``, ``n_state_``, ``train_nrmse_`` (one-step, teacher-forced RMS
    error of the regression target on the training rows).
    """

    def __init__(self, k: int = 2, s: int = 1, *, degree: int = 2, ridge: float = 1e-6,
                 target: str = "increment", constant: bool = True,
                 locality: tuple[int, int] | None = None, solver: str = "auto",
                 name: str = "ngrc") -> None:
        self.k = _int_at_least(k, 1, "k")
        self.s = _int_at_least(s, 1, "s")
        self.degree = _int_at_least(degree, 1, "degree")
        if not (ridge >= 0 and math.isfinite(ridge)):
            raise ValueError(f"NGRC: ridge must be finite and >= 0, got {ridge!r}")
        if target not in _TARGETS:
            raise ValueError(f"NGRC: unknown target {target!r}; choose from {_TARGETS}")
        if solver not in _SOLVERS:
            raise ValueError(f"NGRC: unknown solver {solver!r}; choose from {_SOLVERS}")
        if locality is not None:
            if len(locality) != 2:
                raise ValueError(f"NGRC: locality must be (patch, overlap), got {locality!r}")
            locality = (_int_at_least(locality[0], 1, "locality patch"),
                        _int_at_least(locality[1], 0, "locality overlap"))
        self.ridge = float(ridge)
        self.target = target
        self.constant = bool(constant)
        self.locality = locality
        self.solver = solver
        self.name = name
        self.W_out_: np.ndarray | None = None
        self.n_state_: int | None = None

    def __repr__(self) -> str:
        return (f"NGRC(k={self.k}, s={self.s}, degree={self.degree}, ridge={self.ridge:.3g}, "
                f"target={self.target!r}, locality={self.locality})")

    @property
    def window(self) -> int:
        """Number of past points one step needs: ``(k - 1) s + 1``."""
        return (self.k - 1) * self.s + 1

    def config(self) -> dict:
        """The constructor arguments."""
        return {key: getattr(self, key) for key in (
            "k", "s", "degree", "ridge", "target", "constant", "locality", "solver", "name")}

    # -- features ---------------------------------------------------------------------------

    def _setup(self, n: int) -> None:
        patch, overlap = self.locality if self.locality is not None else (n, 0)
        self.inputs_, self.own_ = patch_indices(n, patch, overlap, owner=self.name)
        m = self.k * self.inputs_.shape[1]
        self._monomials = [np.array(list(itertools.combinations_with_replacement(range(m), d)),
                                    dtype=np.intp) for d in range(2, self.degree + 1)]
        self.n_features_ = n_features(self.inputs_.shape[1], self.k, degree=self.degree,
                                      constant=self.constant)
        self.n_state_ = n

    def features(self, lin: np.ndarray) -> np.ndarray:
        """``[1; lin; monomials]``: ``(..., k n_in)`` -> ``(..., n_features_)``.

        Monomials are ordered by degree, then lexicographically in the indices of ``lin``.
        """
        parts = [np.ones(lin.shape[:-1] + (1,))] if self.constant else []
        parts.append(lin)
        for idx in self._monomials:
            mono = lin[..., idx[:, 0]]
            for j in range(1, idx.shape[1]):
                mono = mono * lin[..., idx[:, j]]
            parts.append(mono)
        return np.concatenate(parts, axis=-1)

    def _linear_part(self, x: np.ndarray, end: int, count: int) -> np.ndarray:
        """Delay vectors of the ``count`` times ending before ``end``.

        ``x`` ``(b, T, n)`` -> ``(b, count, n_patches, k n_in)``: entry ``i`` is time
        ``t = end - count + i``, ordered ``[x_t; x_{t-s}; ...]`` on each patch's input sites.
        """
        lags = [x[:, end - count - j * self.s:end - j * self.s][..., self.inputs_]
                for j in range(self.k)]
        return np.concatenate(lags, axis=-1)

    # -- fitting ----------------------------------------------------------------------------

    def _rows(self, train: np.ndarray):
        """Yield ``(O, Z)`` chunks of the regression: features and targets of every window."""
        w = self.window
        b, n_t, _ = train.shape
        n_p, patch = self.own_.shape
        per_time = b * n_p * self.n_features_
        step = max(1, _CHUNK_ENTRIES // per_time)
        for t0 in range(w - 1, n_t - 1, step):
            t1 = min(t0 + step, n_t - 1)
            o = self.features(self._linear_part(train, t1, t1 - t0))
            z = train[:, t0 + 1:t1 + 1][..., self.own_]
            if self.target == "increment":
                z = z - train[:, t0:t1][..., self.own_]
            yield o.reshape(-1, self.n_features_), z.reshape(-1, patch)

    def fit(self, train: np.ndarray, val: np.ndarray | None = None) -> NGRC:
        """Ridge regression over every window of every trajectory of ``train``.

        Args:
            train: ``(n_traj, n_t, n_state)`` with ``n_t > (k - 1) s + 1``.
            val: ignored (choose ``k``, ``s`` and ``ridge`` outside).
        """
        self.W_out_ = None
        w = self.window
        train = check_series(train, what="train", owner=self.name, min_len=w + 1,
                              min_len_reason=f"k={self.k}, s={self.s} need (k - 1) s + 1 = {w} "
                                             f"points plus a target")
        self._setup(train.shape[2])
        n_f = self.n_features_
        n_rows = train.shape[0] * (train.shape[1] - w) * self.own_.shape[0]
        solver = self.solver
        if solver == "auto":
            solver = "svd" if n_rows * n_f <= _SVD_ENTRIES else "normal"
        if solver == "svd":
            o, z = (np.concatenate(a) for a in zip(*self._rows(train), strict=True))
            u, sv, vt = np.linalg.svd(o, full_matrices=False)
            if self.ridge > 0:
                filt = sv / (sv**2 + self.ridge)
            else:
                keep = sv > 1e-12 * (sv[0] if sv.size else 0.0)
                filt = np.where(keep, 1.0 / np.where(keep, sv, 1.0), 0.0)
            w_out = ((vt.T * filt) @ (u.T @ z)).T
            sse, count = float(np.sum((o @ w_out.T - z) ** 2)), z.size
        else:
            gram = np.zeros((n_f, n_f))
            rhs = np.zeros((n_f, self.own_.shape[1]))
            zz, count = 0.0, 0
            for o, z in self._rows(train):
                gram += o.T @ o
                rhs += o.T @ z
                zz += float(np.sum(z * z))
                count += z.size
            w_out = self._solve_normal(gram, rhs).T
            # |O W - Z|^2 = |Z|^2 - 2 <W, O^T Z> + <W, O^T O W>, without a second pass
            sse = max(zz - 2.0 * float(np.sum(w_out.T * rhs))
                      + float(np.sum(w_out.T * (gram @ w_out.T))), 0.0)
        if not np.all(np.isfinite(w_out)):
            raise FloatingPointError(f"{self.name}: the readout has non-finite entries "
                                     f"(ridge={self.ridge})")
        self.W_out_ = w_out
        self.train_nrmse_ = math.sqrt(sse / max(count, 1))
        return self

    def _solve_normal(self, gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        """``(G + ridge I)^{-1} R`` by Cholesky; a pseudo-inverse if that is not positive."""
        g = gram + self.ridge * np.eye(gram.shape[0])
        try:
            return scipy.linalg.solve(g, rhs, assume_a="pos")
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
            log.warning("%s: the normal equations are not positive definite (ridge=%g); using "
                        "the pseudo-inverse", self.name, self.ridge)
            evals, evecs = np.linalg.eigh(g)
            keep = evals > 1e-14 * max(float(evals[-1]), 0.0)
            inv = np.where(keep, 1.0 / np.where(keep, evals, 1.0), 0.0)
            return evecs @ (inv[:, None] * (evecs.T @ rhs))

    # -- prediction -------------------------------------------------------------------------

    def _require_fit(self) -> int:
        if self.W_out_ is None:
            raise RuntimeError(f"{self.name}: call fit() before forecasting")
        return self.n_state_

    def _advance(self, hist: np.ndarray) -> np.ndarray:
        """One step from the last ``window`` points ``hist`` ``(b, window, n)`` -> ``(b, n)``."""
        o = self.features(self._linear_part(hist, hist.shape[1], 1)[:, 0])
        y = (o @ self.W_out_.T).reshape(hist.shape[0], -1)  # patches own consecutive sites
        return hist[:, -1] + y if self.target == "increment" else y

    def predict_one_step(self, series: np.ndarray) -> np.ndarray:
        """Teacher-forced one-step predictions.

        Args:
            series: ``(batch, T, n_state)`` with ``T >= (k - 1) s + 1``.

        Returns:
            ``(batch, T - (k - 1) s, n_state)``: entry ``i`` predicts
            ``series[:, (k - 1) s + i + 1]`` (the last one the point after the series).
        """
        n = self._require_fit()
        w = self.window
        x = check_series(series, what="series", owner=self.name, n_state=n, min_len=w,
                         min_len_reason=f"(k - 1) s + 1 = {w} points per step")
        count = x.shape[1] - w + 1
        o = self.features(self._linear_part(x, x.shape[1], count))
        y = (o @ self.W_out_.T).reshape(x.shape[0], count, n)
        return x[:, w - 1:] + y if self.target == "increment" else y

    def forecast(self, context: np.ndarray, n_steps: int) -> np.ndarray:
        """Warm up on the last ``(k - 1) s + 1`` context points, then run in closed loop.

        Args:
            context: ``(batch, n_context, n_state)``, ``n_context >= (k - 1) s + 1``.
            n_steps: number of future steps (>= 0).

        Returns:
            ``(batch, n_steps, n_state)`` float64 (a diverging forecast gives inf/NaN).
        """
        n = self._require_fit()
        w = self.window
        ctx = check_series(context, what="context", owner=self.name, n_state=n, min_len=w,
                           min_len_reason=f"k={self.k}, s={self.s} warm up on (k - 1) s + 1 "
                                          f"= {w} points")
        n_steps = check_n_steps(n_steps, self.name)
        buf = np.empty((ctx.shape[0], w + n_steps, n))  # the warm-up, then the forecast
        buf[:, :w] = ctx[:, -w:]
        with np.errstate(over="ignore", invalid="ignore"):
            for t in range(n_steps):
                buf[:, w + t] = self._advance(buf[:, t:w + t])
        return buf[:, w:].copy()
