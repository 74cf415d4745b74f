r"""Echo-state network (reservoir computing) forecaster with a ridge-regression readout.

The reservoir is a fixed random recurrent network; only the linear readout is trained, by one
ridge regression, so fitting takes seconds and is deterministic for a given ``seed``.

Update (leaky integrator, Jaeger 2001; Lukosevicius 2012, "A practical guide to applying echo
state networks")::

    r_{t+1} = (1 - a) r_t + a f(W r_t + W_in u_t + b)                       (1)
    y_t     = W_out [1; g(r_{t+1}); u_t]                                   (2)

with ``u_t`` the input ``(n_state,)`` (the observed state at time ``t``), ``r_t`` the reservoir
state ``(n_reservoir,)``, ``r_0 = 0``, ``f`` = tanh (or the identity, for tests and linear
problems), ``a`` the leak rate in (0, 1], ``W`` a sparse random ``(n_reservoir, n_reservoir)``
matrix (mean ``degree`` non-zeros per row, entries uniform in [-1, 1]) rescaled to the given
spectral radius, ``W_in = input_scaling * U(-1, 1)`` of shape ``(n_reservoir, n_state)`` and
``b = bias_scaling * U(-1, 1)``. ``g`` is the identity or, with ``squared_states=True``, the
"squared-state trick" of Pathak et al., PRL 120, 024102 (2018): every second unit (even index)
is squared, ``g(r)_i = r_i^2``, which breaks the odd symmetry ``r -> -r`` of a bias-free tanh
reservoir.

The readout ``W_out`` of shape ``(n_state, 1 + n_reservoir + n_state)`` predicts either the next
state, ``u_{t+1} ~ y_t`` (``target="state"``), or the increment, ``u_{t+1} ~ u_t + y_t``
(``target="increment"``). It minimises (ridge regression, every column penalised alike)::

    sum_t |W_out x_t - z_t|^2 + ridge |W_out|_F^2,    x_t = [1; g(r_{t+1}); u_t]

and is solved through the thin SVD of the design matrix ``X = U S V^T`` as
``W_out^T = V diag(s / (s^2 + ridge)) U^T Z`` (numerically stable for tiny ridge; for
``ridge = 0`` this is the minimum-norm least-squares solution with singular values below
``rcond * s_max`` dropped).

Forecasting: the reservoir starts at ``r = 0`` and is driven by the context (teacher forcing),
then runs in closed loop, its own prediction fed back as the next input. All arrays follow the
:class:`~physrnn.nn.base.Forecaster` contract: float64 ``(batch, time, n_state)`` in normalised
units. Time never enters: one step of the ESN is one sample step of the data.

:func:`physrnn.baselines.forecast.esn_search` tunes spectral radius, leak, input scaling and
ridge by random search, scored by the median valid prediction time on validation windows.
"""

from __future__ import annotations

import functools
import logging
import math

import numpy as np

from physrnn.nn.base import check_n_steps, check_series

__all__ = ["EchoStateNetwork"]

log = logging.getLogger(__name__)

_ACTIVATIONS = ("tanh", "identity")
_TARGETS = ("state", "increment")


@functools.lru_cache(maxsize=8)
def _reservoir_base(seed: int, n_reservoir: int, degree: float, n_in: int):
    """Unscaled random matrices for an integer seed (cached: a search reuses one draw).

    Returns read-only ``(W1, Win1, b1)``: ``W1`` ``(n, n)`` sparse with spectral radius 1,
    ``Win1`` ``(n, n_in)`` and ``b1`` ``(n,)`` uniform in [-1, 1].
    """
    return _draw_base(np.random.default_rng(seed), n_reservoir, degree, n_in)


def _draw_base(rng: np.random.Generator, n_reservoir: int, degree: float, n_in: int):
    p = min(1.0, degree / n_reservoir)
    for _ in range(10):
        mask = rng.random((n_reservoir, n_reservoir)) < p
        w = np.where(mask, rng.uniform(-1.0, 1.0, (n_reservoir, n_reservoir)), 0.0)
        rho = float(np.max(np.abs(np.linalg.eigvals(w)))) if n_reservoir else 0.0
        if rho > 1e-12:
            break
    else:
        raise ValueError(
            f"EchoStateNetwork: could not draw a reservoir matrix with non-zero spectral "
            f"radius (n_reservoir={n_reservoir}, degree={degree}); increase degree"
        )
    w /= rho
    win = rng.uniform(-1.0, 1.0, (n_reservoir, n_in))
    b = rng.uniform(-1.0, 1.0, n_reservoir)
    for a in (w, win, b):
        a.setflags(write=False)
    return w, win, b


class EchoStateNetwork:
    """Leaky echo-state network with a ridge readout (see the module docstring, eqs. 1-2).

    Args:
        n_reservoir: number of reservoir units ``N``.
        spectral_radius: largest |eigenvalue| of ``W`` after rescaling.
        leak: leak rate ``a`` in (0, 1] (1: no leak).
        input_scaling: ``W_in`` entries are uniform in ``[-input_scaling, input_scaling]``.
        bias_scaling: ``b`` entries are uniform in ``[-bias_scaling, bias_scaling]``.
        ridge: Tikhonov regularisation of the readout (>= 0).
        degree: mean number of non-zeros per row of ``W``.
        washout: reservoir steps discarded at the start of every training trajectory (the
            reservoir forgets ``r_0 = 0``); the forecast context should be at least as long.
        squared_states: square every second reservoir unit in the readout (Pathak et al.).
        activation: ``"tanh"`` or ``"identity"`` (a linear reservoir).
        target: ``"state"`` (predict ``u_{t+1}``) or ``"increment"`` (``u_{t+1} - u_t``).
        rcond: relative cut-off of singular values, used only when ``ridge == 0``.
        seed: int or ``numpy.random.Generator`` for ``W``, ``W_in`` and ``b`` (drawn at ``fit``).
        name: the forecaster's name.

    Attributes after ``fit``: ``W_`` ``(N, N)``, ``W_in_`` ``(N, n_state)``, ``b_`` ``(N,)``,
    ``W_out_`` ``(n_state, 1 + N + n_state)``, ``n_state_``, ``train_nrmse_`` (one-step,
    teacher-forced, on the training design matrix).
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
        squared_states: bool = False,
        activation: str = "tanh",
        target: str = "state",
        rcond: float = 1e-12,
        seed: int | np.random.Generator = 0,
        name: str = "esn",
    ) -> None:
        if int(n_reservoir) != n_reservoir or n_reservoir < 1:
            raise ValueError(f"EchoStateNetwork: n_reservoir must be a positive int, got "
                             f"{n_reservoir!r}")
        if not 0.0 < leak <= 1.0:
            raise ValueError(f"EchoStateNetwork: leak must be in (0, 1], got {leak!r}")
        for key, val in (("spectral_radius", spectral_radius), ("input_scaling", input_scaling),
                         ("bias_scaling", bias_scaling), ("ridge", ridge), ("rcond", rcond)):
            if not (val >= 0 and math.isfinite(val)):
                raise ValueError(f"EchoStateNetwork: {key} must be finite and >= 0, got {val!r}")
        if degree <= 0:
            raise ValueError(f"EchoStateNetwork: degree must be > 0, got {degree!r}")
        if int(washout) != washout or washout < 0:
            raise ValueError(f"EchoStateNetwork: washout must be an int >= 0, got {washout!r}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"EchoStateNetwork: unknown activation {activation!r}; choose from "
                             f"{_ACTIVATIONS}")
        if target not in _TARGETS:
            raise ValueError(f"EchoStateNetwork: unknown target {target!r}; choose from "
                             f"{_TARGETS}")
        self.n_reservoir = int(n_reservoir)
        self.spectral_radius = float(spectral_radius)
        self.leak = float(leak)
        self.input_scaling = float(input_scaling)
        self.bias_scaling = float(bias_scaling)
        self.ridge = float(ridge)
        self.degree = float(degree)
        self.washout = int(washout)
        self.squared_states = bool(squared_states)
        self.activation = activation
        self.target = target
        self.rcond = float(rcond)
        self.seed = seed
        self.name = name
        self.W_out_: np.ndarray | None = None
        self.W_: np.ndarray | None = None

    def __repr__(self) -> str:
        return (f"EchoStateNetwork(n_reservoir={self.n_reservoir}, spectral_radius="
                f"{self.spectral_radius:.4g}, leak={self.leak:.4g}, input_scaling="
                f"{self.input_scaling:.4g}, ridge={self.ridge:.3g}, squared_states="
                f"{self.squared_states}, activation={self.activation!r}, target={self.target!r})")

    def config(self) -> dict:
        """The constructor arguments (``seed`` only if it is an int)."""
        cfg = {k: getattr(self, k) for k in (
            "n_reservoir", "spectral_radius", "leak", "input_scaling", "bias_scaling", "ridge",
            "degree", "washout", "squared_states", "activation", "target", "rcond", "name")}
        if not isinstance(self.seed, np.random.Generator):
            cfg["seed"] = self.seed
        return cfg

    # -- reservoir --------------------------------------------------------------------------

    def _init_matrices(self, n_state: int) -> None:
        if isinstance(self.seed, np.random.Generator):
            w1, win1, b1 = _draw_base(self.seed, self.n_reservoir, self.degree, n_state)
        else:
            w1, win1, b1 = _reservoir_base(int(self.seed), self.n_reservoir, self.degree,
                                           n_state)
        self.W_ = self.spectral_radius * w1
        self.W_in_ = self.input_scaling * win1
        self.b_ = self.bias_scaling * b1
        self.n_state_ = n_state

    def _step(self, r: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Eq. (1) for a batch: ``r`` ``(batch, N)``, ``u`` ``(batch, n_state)`` -> ``(batch, N)``.
        """
        pre = r @ self.W_.T + u @ self.W_in_.T + self.b_
        act = np.tanh(pre) if self.activation == "tanh" else pre
        if self.leak == 1.0:
            return act
        return (1.0 - self.leak) * r + self.leak * act

    def _features(self, r: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Readout features ``[1; g(r); u]``: ``(..., N)``, ``(..., n)`` -> ``(..., 1 + N + n)``.
        """
        if self.squared_states:
            r = r.copy()
            r[..., ::2] **= 2
        ones = np.ones(r.shape[:-1] + (1,))
        return np.concatenate([ones, r, u], axis=-1)

    def _drive(self, u: np.ndarray) -> np.ndarray:
        """Teacher-forced states: ``u`` ``(batch, T, n)`` -> ``r_{t+1}``, t < T: ``(batch, T, N)``.
        """
        b, T, _ = u.shape
        states = np.empty((b, T, self.n_reservoir))
        r = np.zeros((b, self.n_reservoir))
        for t in range(T):
            r = self._step(r, u[:, t])
            states[:, t] = r
        return states

    def _require_fit(self) -> None:
        if self.W_out_ is None:
            raise RuntimeError(f"{self.name}: call fit() before forecasting")

    # -- fitting ----------------------------------------------------------------------------

    def design_matrix(self, train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Design matrix and targets of the readout regression, concatenated over trajectories.

        Args:
            train: ``(n_traj, n_t, n_state)`` with ``n_t > washout + 1``. Draws the reservoir
                matrices if they are not drawn yet (else ``n_state`` must match them).

        Returns:
            ``X`` ``(n_traj * (n_t - 1 - washout), 1 + N + n_state)``, rows
            ``[1; g(r_{t+1}); u_t]`` for ``washout <= t < n_t - 1`` of every trajectory, and
            ``Z`` ``(same rows, n_state)``: ``u_{t+1}`` or ``u_{t+1} - u_t`` (see ``target``).
        """
        drawn = getattr(self, "W_", None) is not None
        train = check_series(train, what="train", owner=self.name,
                              n_state=self.n_state_ if drawn else None,
                              min_len=self.washout + 2)
        if not drawn:
            self._init_matrices(train.shape[2])
        u_in = train[:, :-1]
        b, n_t, n = u_in.shape
        n_res = self.n_reservoir
        # the rows [1; g(r_{t+1}); u_t] are written in place, one block for the whole matrix,
        # so the states are never held twice (same values as _features(_drive(u), u))
        x = np.empty((b, n_t - self.washout, 1 + n_res + n))
        x[..., 0] = 1.0
        r = np.zeros((b, n_res))
        for t in range(n_t):
            r = self._step(r, u_in[:, t])
            if t >= self.washout:
                x[:, t - self.washout, 1:1 + n_res] = r
        if self.squared_states:
            x[..., 1:1 + n_res:2] **= 2
        u_in = u_in[:, self.washout:]
        x[..., 1 + n_res:] = u_in
        x = x.reshape(-1, 1 + n_res + n)
        z = train[:, self.washout + 1:]
        if self.target == "increment":
            z = z - u_in
        return x, z.reshape(-1, train.shape[2])

    def _solve(self, x: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Ridge solution ``W_out`` ``(n_out, n_features)`` through the thin SVD of ``x``."""
        u, s, vt = np.linalg.svd(x, full_matrices=False)
        if self.ridge > 0:
            filt = s / (s**2 + self.ridge)
        else:
            keep = s > self.rcond * (s[0] if s.size else 0.0)
            filt = np.where(keep, 1.0 / np.where(keep, s, 1.0), 0.0)
        return ((vt.T * filt) @ (u.T @ z)).T

    def fit(self, train: np.ndarray, val: np.ndarray | None = None) -> EchoStateNetwork:
        """Draw the reservoir, run it over every training trajectory, solve the readout.

        Args:
            train: ``(n_traj, n_t, n_state)``; each trajectory is driven from ``r = 0`` and its
                first ``washout`` states are discarded.
            val: ignored (hyperparameters are tuned by :func:`esn_search`).
        """
        self.W_out_ = None
        self.W_ = None
        x, z = self.design_matrix(train)
        w_out = self._solve(x, z)
        if not np.all(np.isfinite(w_out)):
            raise FloatingPointError(f"{self.name}: the readout has non-finite entries "
                                     f"(ridge={self.ridge})")
        self.W_out_ = w_out
        self.train_nrmse_ = float(np.sqrt(np.mean((x @ w_out.T - z) ** 2)))
        return self

    # -- prediction -------------------------------------------------------------------------

    def _readout(self, r: np.ndarray, u: np.ndarray) -> np.ndarray:
        y = self._features(r, u) @ self.W_out_.T
        return u + y if self.target == "increment" else y

    def predict_one_step(self, series: np.ndarray) -> np.ndarray:
        """Teacher-forced one-step predictions.

        Args:
            series: ``(batch, T, n_state)``.

        Returns:
            ``(batch, T, n_state)``: entry ``t`` predicts ``series[:, t + 1]`` from
            ``series[:, :t + 1]`` (the last one predicts the point after the series).
        """
        self._require_fit()
        series = check_series(series, what="series", owner=self.name, n_state=self.n_state_)
        return self._readout(self._drive(series), series)

    def forecast(self, context: np.ndarray, n_steps: int) -> np.ndarray:
        """Teacher-force the context, then run in closed loop.

        Args:
            context: ``(batch, n_context, n_state)``; best ``n_context >= washout``.
            n_steps: number of future steps (>= 0).

        Returns:
            ``(batch, n_steps, n_state)`` float64.
        """
        self._require_fit()
        context = check_series(context, what="context", owner=self.name, n_state=self.n_state_)
        n_steps = check_n_steps(n_steps, self.name)
        if context.shape[1] < self.washout:
            log.debug("%s: context of %d steps is shorter than the washout (%d)", self.name,
                      context.shape[1], self.washout)
        b = context.shape[0]
        out = np.empty((b, n_steps, self.n_state_))
        if n_steps == 0:
            return out
        r = np.zeros((b, self.n_reservoir))
        for t in range(context.shape[1]):
            r = self._step(r, context[:, t])
        u = context[:, -1]
        with np.errstate(over="ignore", invalid="ignore"):
            for k in range(n_steps):
                u = self._readout(r, u)
                out[:, k] = u
                if k + 1 < n_steps:
                    r = self._step(r, u)
        return out
