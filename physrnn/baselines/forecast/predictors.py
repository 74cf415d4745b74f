r"""Forecasting baselines: what a trained RNN has to beat.

Each baseline implements the :class:`~physrnn.nn.base.Forecaster` contract: ``fit(train, val)``
on float64 ``(n_traj, n_t, n_state)`` arrays in normalised units, then
``forecast(context, n_steps)`` ``(batch, n_context, n_state) -> (batch, n_steps, n_state)``.

* :class:`Persistence`: ``x_{t+k} = x_t`` (the last context point, repeated).
* :class:`ClimatologicalMean`: ``x_{t+k} = <x>`` the training mean over trajectories and time
  (zero in normalised units up to the train/val split, but computed).
* :class:`LinearAR`: ``x_{t+1} = c + sum_{k=1}^p A_k x_{t+1-k}``, least squares across
  trajectories; ``p = 1`` is the DMD-like linear propagator.
* :class:`ESNBaseline`: an echo-state network tuned by
  :func:`physrnn.baselines.forecast.esn_search`.
* :class:`SINDyBaseline`: sparse identification of nonlinear dynamics (Brunton, Proctor and Kutz,
  PNAS 113, 3932 (2016)) with pysindy (optional: ``pip install pysindy``), integrated forward
  with :func:`scipy.integrate.solve_ivp`.
* :class:`~physrnn.baselines.forecast.ngrc.NGRC`: next-generation reservoir computing (Gauthier
  et al., Nat. Commun. 12, 5564 (2021)), global or local with shared weights.
* :class:`~physrnn.baselines.forecast.reservoirpy_peer.ReservoirpyESN`: reservoirpy's echo-state
  network with physrnn's hyperparameters (optional: ``pip install 'physrnn[reservoirpy]'``).

Select by name through :data:`BASELINES` / :func:`make_baseline` (the CLI reads the same
registry).
"""

from __future__ import annotations

import logging
import math

import numpy as np

from physrnn.baselines.forecast.ngrc import NGRC
from physrnn.baselines.forecast.reservoirpy_peer import ReservoirpyESN
from physrnn.baselines.forecast.search import esn_search
from physrnn.nn.base import check_n_steps, check_series
from physrnn.nn.reservoir import EchoStateNetwork

__all__ = [
    "Persistence",
    "ClimatologicalMean",
    "LinearAR",
    "ESNBaseline",
    "SINDyBaseline",
    "BASELINES",
    "make_baseline",
]

log = logging.getLogger(__name__)


class _Fitted:
    """Shared bookkeeping: ``n_state_`` after fit, a clear error before."""

    name = "baseline"
    n_state_: int | None = None

    def _require_fit(self) -> int:
        if self.n_state_ is None:
            raise RuntimeError(f"{self.name}: call fit() before forecasting")
        return self.n_state_

    def _context(self, context: np.ndarray, n_steps: int, min_len: int = 1,
                 reason: str = "") -> tuple[np.ndarray, int]:
        n_state = self._require_fit()
        ctx = check_series(context, what="context", owner=self.name, n_state=n_state,
                            min_len=min_len, min_len_reason=reason)
        return ctx, check_n_steps(n_steps, self.name)


class Persistence(_Fitted):
    """``x_{t+k} = x_t``: the last context point repeated ``n_steps`` times."""

    def __init__(self, *, name: str = "persistence") -> None:
        self.name = name

    def fit(self, train: np.ndarray, val: np.ndarray | None = None) -> Persistence:
        """Only records ``n_state`` from ``train`` ``(n_traj, n_t, n_state)``."""
        self.n_state_ = check_series(train, what="train", owner=self.name).shape[2]
        return self

    def forecast(self, context: np.ndarray, n_steps: int) -> np.ndarray:
        """``(batch, n_context, n_state) -> (batch, n_steps, n_state)``: last point repeated."""
        ctx, n_steps = self._context(context, n_steps)
        return np.repeat(ctx[:, -1:, :], n_steps, axis=1)


class ClimatologicalMean(_Fitted):
    """``x_{t+k} = <x>``: the mean of the training data over trajectories and time.

    Attributes after ``fit``: ``mean_`` ``(n_state,)`` in the data's (normalised) units.
    """

    def __init__(self, *, name: str = "mean") -> None:
        self.name = name

    def fit(self, train: np.ndarray, val: np.ndarray | None = None) -> ClimatologicalMean:
        train = check_series(train, what="train", owner=self.name)
        self.mean_ = train.mean(axis=(0, 1))
        self.n_state_ = train.shape[2]
        return self

    def forecast(self, context: np.ndarray, n_steps: int) -> np.ndarray:
        """``(batch, n_context, n_state) -> (batch, n_steps, n_state)``, all equal to ``mean_``."""
        ctx, n_steps = self._context(context, n_steps)
        return np.broadcast_to(self.mean_, (ctx.shape[0], n_steps, self.n_state_)).copy()


class LinearAR(_Fitted):
    r"""Multivariate linear autoregression of order ``p``.

    ``x_{t+1} = c + sum_{k=1}^{p} A_k x_{t+1-k}``, fitted by (ridge) least squares over every
    window of every training trajectory::

        min sum_t |x_{t+1} - c - sum_k A_k x_{t+1-k}|^2 + ridge sum_k |A_k|_F^2

    (the intercept ``c`` is not penalised). With ``p = 1`` and no intercept this is the DMD
    propagator ``A = X' X^+``.

    Args:
        order: ``p >= 1``.
        ridge: Tikhonov penalty on the ``A_k`` (>= 0).
        intercept: fit ``c`` (else ``c = 0``).

    Attributes after ``fit``: ``coef_`` ``(p, n_state, n_state)`` with ``coef_[k - 1] = A_k``
    (``A_1`` multiplies the most recent state), ``intercept_`` ``(n_state,)``.
    """

    def __init__(self, order: int = 1, *, ridge: float = 0.0, intercept: bool = True,
                 name: str = "linear") -> None:
        if isinstance(order, bool) or int(order) != order or order < 1:
            raise ValueError(f"LinearAR: order must be an int >= 1, got {order!r}")
        if not (ridge >= 0 and math.isfinite(ridge)):
            raise ValueError(f"LinearAR: ridge must be finite and >= 0, got {ridge!r}")
        self.order = int(order)
        self.ridge = float(ridge)
        self.intercept = bool(intercept)
        self.name = name

    def _lags(self, x: np.ndarray) -> np.ndarray:
        """``(b, T, n)`` -> ``(b, T - p + 1, p * n)``: rows ``[x_t, x_{t-1}, ..., x_{t-p+1}]``."""
        p, T = self.order, x.shape[1]
        return np.concatenate([x[:, p - 1 - k:T - k] for k in range(p)], axis=2)

    def fit(self, train: np.ndarray, val: np.ndarray | None = None) -> LinearAR:
        """Least squares on all windows of ``train`` ``(n_traj, n_t, n_state)``, ``n_t > p``."""
        p = self.order
        train = check_series(train, what="train", owner=self.name, min_len=p + 1,
                              min_len_reason=f"order p={p} needs p + 1 points per trajectory")
        n = train.shape[2]
        feats = self._lags(train[:, :-1]).reshape(-1, p * n)
        target = train[:, p:].reshape(-1, n)
        if self.intercept:
            feats = np.concatenate([np.ones((feats.shape[0], 1)), feats], axis=1)
        if self.ridge > 0:
            pen = np.sqrt(self.ridge) * np.eye(feats.shape[1])
            if self.intercept:
                pen = pen[1:]
            feats = np.concatenate([feats, pen], axis=0)
            target = np.concatenate([target, np.zeros((pen.shape[0], n))], axis=0)
        sol, _, rank, _ = np.linalg.lstsq(feats, target, rcond=None)
        if rank < feats.shape[1]:
            log.warning("%s: design matrix is rank deficient (%d < %d); using the minimum-norm "
                        "solution", self.name, rank, feats.shape[1])
        if self.intercept:
            self.intercept_ = sol[0].copy()
            sol = sol[1:]
        else:
            self.intercept_ = np.zeros(n)
        # sol (p * n, n): block k holds A_{k+1}^T
        self.coef_ = np.stack([sol[k * n:(k + 1) * n].T for k in range(p)])
        self.n_state_ = n
        return self

    def forecast(self, context: np.ndarray, n_steps: int) -> np.ndarray:
        """Iterate the recursion from the last ``p`` context points.

        ``(batch, n_context >= p, n_state) -> (batch, n_steps, n_state)``.
        """
        ctx, n_steps = self._context(
            context, n_steps, min_len=self.order,
            reason=f"LinearAR order p={self.order} needs the last p states")
        hist = [ctx[:, -1 - k] for k in range(self.order)]  # most recent first
        out = np.empty((ctx.shape[0], n_steps, self.n_state_))
        with np.errstate(over="ignore", invalid="ignore"):
            for t in range(n_steps):
                nxt = self.intercept_ + sum(h @ a.T for h, a in zip(hist, self.coef_, strict=True))
                out[:, t] = nxt
                hist = [nxt, *hist[:-1]]
        return out


class ESNBaseline(_Fitted):
    """Echo-state network whose hyperparameters are tuned on the validation set.

    ``fit(train, val)`` runs :func:`~physrnn.baselines.forecast.esn_search` (random search, score =
    median valid prediction time on ``val`` windows) and keeps the best network. Without
    ``val``, the last ``val_fraction`` of every training trajectory's time steps is held out
    for the search (and the network is trained on the rest).

    Args:
        **search_kwargs: passed to :func:`~physrnn.baselines.forecast.esn_search` (``n_configs``,
            ``seed``, ``n_reservoir``, ``n_context``, ``n_horizon``, ``space``, and fixed
            :class:`~physrnn.nn.reservoir.EchoStateNetwork` arguments).

    Attributes after ``fit``: ``model_`` (the fitted :class:`EchoStateNetwork`), ``table_``
    (every tried configuration and its validation scores).
    """

    def __init__(self, *, val_fraction: float = 0.25, name: str = "esn",
                 **search_kwargs) -> None:
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"ESNBaseline: val_fraction must be in (0, 1), got {val_fraction!r}")
        self.val_fraction = float(val_fraction)
        self.search_kwargs = search_kwargs
        self.name = name
        self.model_: EchoStateNetwork | None = None

    def fit(self, train: np.ndarray, val: np.ndarray | None = None) -> ESNBaseline:
        train = check_series(train, what="train", owner=self.name)
        if val is None:
            n_val = int(round(self.val_fraction * train.shape[1]))
            if n_val < 2 or train.shape[1] - n_val < 2:
                raise ValueError(f"{self.name}: trajectories of {train.shape[1]} steps are too "
                                 f"short to hold out a validation part; pass val")
            train, val = train[:, :-n_val], train[:, -n_val:]
            log.info("%s: no val given, holding out the last %d steps of each trajectory",
                     self.name, n_val)
        self.model_, self.table_ = esn_search(train, val, **self.search_kwargs)
        self.n_state_ = self.model_.n_state_
        return self

    def forecast(self, context: np.ndarray, n_steps: int) -> np.ndarray:
        """Delegates to the best :class:`EchoStateNetwork`."""
        self._require_fit()
        return self.model_.forecast(context, n_steps)


def _import_pysindy():
    try:
        import pysindy
    except ImportError as exc:
        raise ImportError("pysindy is not installed: pip install pysindy") from exc
    return pysindy


class SINDyBaseline(_Fitted):
    r"""SINDy: sparse regression of ``dx/dt`` on a polynomial library, integrated forward.

    ``dx/dt = Xi^T Theta(x)`` with ``Theta`` the monomials of the state up to ``degree``
    (constant included) and ``Xi`` found by sequentially thresholded least squares (STLSQ;
    coefficients below ``threshold`` in magnitude are zeroed and the rest refitted), the
    derivative estimated by finite differences of order ``fd_order`` from samples ``dt``
    apart. Fitting is in the data's (normalised) coordinates: an affine change of variables
    keeps a polynomial vector field polynomial of the same degree.

    Forecasts integrate the discovered model from the last context point with
    :func:`scipy.integrate.solve_ivp` (``method``, ``rtol``, ``atol``), output every ``dt``;
    each batch member is integrated separately.

    Args:
        dt: sampling interval of the data, in the system's time units.
        degree: polynomial degree of the library.
        threshold: STLSQ threshold (in units of the coefficients: 1 / time).
        alpha: ridge penalty of STLSQ's inner regressions.
        fd_order: order of the finite-difference derivative.
        on_failure: ``"raise"`` (default): a failed or diverged integration raises
            ``FloatingPointError`` naming the batch member; ``"nan"``: log a warning and fill
            that member's remaining steps with NaN (counts as an invalid prediction).

    Requires the optional dependency pysindy (imported at ``fit``).

    Attributes after ``fit``: ``model_`` (the ``pysindy.SINDy`` object), ``coefficients_``
    ``(n_state, n_features)``, ``feature_names_``, ``powers_`` ``(n_features, n_state)``.
    """

    def __init__(self, dt: float, *, degree: int = 2, threshold: float = 0.1,
                 alpha: float = 0.05, fd_order: int = 2, method: str = "DOP853",
                 rtol: float = 1e-10, atol: float = 1e-10, on_failure: str = "raise",
                 name: str = "sindy") -> None:
        if not (dt > 0 and math.isfinite(dt)):
            raise ValueError(f"SINDyBaseline: dt must be finite and > 0, got {dt!r}")
        if on_failure not in ("raise", "nan"):
            raise ValueError(f"SINDyBaseline: on_failure must be 'raise' or 'nan', got "
                             f"{on_failure!r}")
        if int(degree) != degree or degree < 1:
            raise ValueError(f"SINDyBaseline: degree must be an int >= 1, got {degree!r}")
        self.dt = float(dt)
        self.degree = int(degree)
        self.threshold = float(threshold)
        self.alpha = float(alpha)
        self.fd_order = int(fd_order)
        self.method = method
        self.rtol = float(rtol)
        self.atol = float(atol)
        self.on_failure = on_failure
        self.name = name

    def fit(self, train: np.ndarray, val: np.ndarray | None = None) -> SINDyBaseline:
        """Fit on every trajectory of ``train`` ``(n_traj, n_t, n_state)`` (sampled every dt)."""
        ps = _import_pysindy()
        train = check_series(train, what="train", owner=self.name, min_len=self.fd_order + 2,
                              min_len_reason="finite differences")
        model = ps.SINDy(
            optimizer=ps.STLSQ(threshold=self.threshold, alpha=self.alpha),
            feature_library=ps.PolynomialLibrary(degree=self.degree),
            differentiation_method=ps.FiniteDifference(order=self.fd_order),
        )
        model.fit([traj for traj in train], t=self.dt)
        self.model_ = model
        self.coefficients_ = np.asarray(model.coefficients(), dtype=np.float64)
        self.feature_names_ = list(model.get_feature_names())
        self.powers_ = np.asarray(model.feature_library.powers_, dtype=np.int64)
        if self.powers_.shape != (self.coefficients_.shape[1], train.shape[2]):
            raise RuntimeError(f"{self.name}: unexpected pysindy library layout "
                               f"{self.powers_.shape} vs coefficients {self.coefficients_.shape}")
        self.n_state_ = train.shape[2]
        return self

    def equations(self, precision: int = 3) -> list[str]:
        """The discovered right-hand sides, one string per state component."""
        self._require_fit()
        return list(self.model_.equations(precision=precision))

    def rhs(self, t: float, x: np.ndarray) -> np.ndarray:
        """``dx/dt`` of the discovered model: ``x`` ``(n_state,)`` -> ``(n_state,)``."""
        theta = np.prod(x[None, :] ** self.powers_, axis=1)
        return self.coefficients_ @ theta

    def forecast(self, context: np.ndarray, n_steps: int) -> np.ndarray:
        """Integrate from ``context[:, -1]``; output at ``dt, 2 dt, ..., n_steps dt`` later.

        ``(batch, n_context, n_state) -> (batch, n_steps, n_state)``.
        """
        from scipy.integrate import solve_ivp

        ctx, n_steps = self._context(context, n_steps)
        out = np.full((ctx.shape[0], n_steps, self.n_state_), np.nan)
        if n_steps == 0:
            return out
        t_eval = self.dt * np.arange(1, n_steps + 1)
        for i in range(ctx.shape[0]):
            with np.errstate(over="ignore", invalid="ignore"):
                sol = solve_ivp(self.rhs, (0.0, t_eval[-1]), ctx[i, -1], method=self.method,
                                t_eval=t_eval, rtol=self.rtol, atol=self.atol)
            y = sol.y.T
            ok = sol.success and y.shape[0] == n_steps and np.all(np.isfinite(y))
            if not ok:
                msg = (f"{self.name}: integration of batch member {i} failed after "
                       f"{y.shape[0]} of {n_steps} steps ({sol.message})")
                if self.on_failure == "raise":
                    raise FloatingPointError(msg)
                log.warning("%s; the rest is NaN", msg)
                finite = np.all(np.isfinite(y), axis=1)
                if not finite.all():
                    y = y[: int(np.argmin(finite))]
            out[i, : y.shape[0]] = y
        return out


BASELINES: dict[str, type] = {
    "persistence": Persistence,
    "mean": ClimatologicalMean,
    "linear": LinearAR,
    "esn": ESNBaseline,
    "sindy": SINDyBaseline,
    "ngrc": NGRC,
    "reservoirpy-esn": ReservoirpyESN,
}


def make_baseline(name: str, **kwargs):
    """Build the baseline registered under ``name`` (see :data:`BASELINES`) with ``kwargs``.

    ``"sindy"`` needs ``dt``; ``"linear"`` takes ``order`` and ``ridge``; ``"esn"`` takes
    :func:`~physrnn.baselines.forecast.esn_search` arguments.
    """
    try:
        cls = BASELINES[name]
    except KeyError:
        raise ValueError(f"unknown baseline {name!r}; choose from {sorted(BASELINES)}") from None
    return cls(**kwargs)
