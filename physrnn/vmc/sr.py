"""Stochastic reconfiguration (natural gradient) in parameter and sample space.

Notation (real parameters ``theta``, ``p`` of them; ``n`` samples ``s_k ~ |psi|^2``):

    O[k, j]   = d log psi(s_k) / d theta_j           (n, p), complex for phase models
    Ob        = (O - mean_k O) / sqrt(n)              centred, normalised Jacobian
    eps       = (E_loc - mean E_loc) / sqrt(n)        (n,), centred local energies
    S         = Re(Ob^H Ob)                           (p, p), the real part of the QGT
    F         = Re(Ob^H eps)                          (p,), half the energy gradient

(the energy gradient is ``dE/dtheta = 2 F``). The SR direction solves

    (S + lambda I + lambda_rel diag(S)) delta = F                     (mode ``"sr"``)

and ``theta <- theta - eta delta`` is one imaginary-time step of size ``eta``. With real
parameters and complex ``O`` the real part is taken by stacking (Rende et al., arXiv
2310.05715): ``X = [Re Ob; Im Ob]`` ``(2n, p)`` and ``e = [Re eps; Im eps]`` ``(2n,)``, so that
``S = X^T X`` and ``F = X^T e`` exactly; for positive models ``X = Ob``, ``e = Re eps``. The
sample-space form (minSR, Chen & Heyl arXiv 2302.01941; the "kernel" trick) uses the
push-through identity ``(X^T X + lambda I)^-1 X^T = X^T (X X^T + lambda I)^-1``:

    delta = X^T (X X^T + lambda I)^-1 e                               (mode ``"minsr"``)

an ``(n, n)`` (or ``(2n, 2n)``) solve, cheap when ``p >> n``; both modes give the same
``delta`` for the same ``lambda > 0``. All linear algebra is float64.

The Jacobian ``O`` comes from :func:`per_sample_log_psi_grads` (:mod:`physrnn.vmc.jacobian`;
by default the outer-product form of :mod:`physrnn.vmc.outer`, one backward pass for all
samples). Use with any torch optimizer: :func:`apply_direction` writes ``delta`` into ``p.grad`` and
``torch.optim.SGD(model.parameters(), lr=eta)`` then applies the SR step. :class:`SRStep` holds
the options and computes the step; :func:`sr_direction` (the direction only) and
:func:`sr_step` (direction and optimiser step) are thin wrappers around it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from physrnn.vmc.jacobian import GRAD_METHODS, per_sample_log_psi_grads, trainable_parameters
from physrnn.wavefunctions.base import AutoregressiveWavefunction

__all__ = [
    "MODES",
    "SOLVERS",
    "SRInfo",
    "SRStep",
    "apply_direction",
    "gram",
    "per_sample_log_psi_grads",
    "solve_sr",
    "sr_direction",
    "sr_step",
]

log = logging.getLogger(__name__)

MODES = ("auto", "sr", "minsr")
SOLVERS = ("cholesky", "eigh", "cg")


# ---------------------------------------------------------------------------- linear algebra
def _cg(matvec: Any, b: torch.Tensor, *, tol: float, maxiter: int) -> torch.Tensor:
    """Conjugate gradients for a symmetric positive (semi)definite operator; ``x0 = 0``."""
    x = torch.zeros_like(b)
    r = b.clone()
    p = r.clone()
    rr = torch.dot(r, r)
    stop = (tol * torch.linalg.vector_norm(b)) ** 2
    for _ in range(maxiter):
        if rr <= stop:
            break
        ap = matvec(p)
        alpha = rr / torch.dot(p, ap)
        x = x + alpha * p
        r = r - alpha * ap
        rr_new = torch.dot(r, r)
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


#: Row blocks of :func:`gram`: the products below the diagonal blocks are computed, the rest
#: mirrored (4 blocks: 10/16 of the flops of ``a @ a.T``; more blocks were slower on one core).
GRAM_BLOCKS = 4


def gram(a: torch.Tensor) -> torch.Tensor:
    """``a @ a.T`` ``(m, m)`` of ``a`` ``(m, q)`` (a transposed view is fine), computed by
    blocks of rows on and below the diagonal and mirrored (a torch ``syrk``): about 0.6 of the
    time of the full product for ``m >= 256``; exactly symmetric."""
    m = a.shape[0]
    if m < 256:
        out = a @ a.T
        return 0.5 * (out + out.T)
    out = torch.empty(m, m, dtype=a.dtype, device=a.device)
    edges = [round(i * m / GRAM_BLOCKS) for i in range(GRAM_BLOCKS + 1)]
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        out[lo:hi, :hi] = a[lo:hi] @ a[:hi].T
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        out[:lo, lo:hi] = out[lo:hi, :lo].T
        block = out[lo:hi, lo:hi]
        block.copy_(0.5 * (block + block.T))
    return out


def _dense_solve(a: torch.Tensor, b: torch.Tensor, solver: str, rcond: float) -> torch.Tensor:
    if solver == "cholesky":
        chol, info = torch.linalg.cholesky_ex(a)
        if int(info) == 0:
            return torch.cholesky_solve(b.unsqueeze(-1), chol).squeeze(-1)
        log.warning("SR matrix not positive definite (increase diag_shift); using eigh")
    w, v = torch.linalg.eigh(a)
    keep = w > rcond * max(float(w.abs().max()), 0.0)
    inv = torch.where(keep, 1.0 / torch.where(keep, w, torch.ones_like(w)), torch.zeros_like(w))
    return v @ (inv * (v.T @ b))


def solve_sr(
    O: torch.Tensor,
    e_loc: torch.Tensor,
    *,
    diag_shift: float = 1e-3,
    diag_shift_rel: float = 0.0,
    mode: str = "auto",
    solver: str = "cholesky",
    rcond: float = 1e-12,
    cg_tol: float = 1e-10,
    cg_maxiter: int | None = None,
    weights: torch.Tensor | None = None,
    overwrite: bool = False,
) -> torch.Tensor:
    """The SR direction ``delta`` from a Jacobian and local energies (see the module doc).

    Args:
        O: ``(n, p)`` per-sample ``d log psi / d theta`` (real or complex).
        e_loc: ``(n,)`` local energies (real or complex), in energy units.
        diag_shift: absolute shift ``lambda >= 0`` of the diagonal.
        diag_shift_rel: relative shift ``lambda_rel >= 0`` (adds ``lambda_rel diag(S)``);
            parameter-space only (``mode="sr"``; ``"auto"`` then picks ``"sr"``).
        mode: ``"sr"`` (``(p, p)`` system), ``"minsr"`` (``(n, n)`` kernel system) or
            ``"auto"`` (``minsr`` when the stacked sample count is below ``p``).
        solver: ``"cholesky"`` (default; falls back to ``eigh`` if not positive definite),
            ``"eigh"`` (pseudo-inverse dropping eigenvalues ``<= rcond * max``) or ``"cg"``
            (matrix-free conjugate gradients).
        rcond: relative cutoff of the ``eigh`` pseudo-inverse.
        cg_tol, cg_maxiter: CG relative residual tolerance and iteration cap (default: size).
        weights: optional ``(n,)`` probabilities (summing to 1) replacing the uniform sample
            mean, e.g. ``p(s)`` over all configurations for exact expectations; then
            ``Ob = sqrt(w) (O - sum_k w_k O_k)`` and ``eps = sqrt(w) (E_loc - <E_loc>)``.
        overwrite: ``O`` may be centred in place (it is then garbage), which saves a copy of
            ``(n, p)``; only when ``O`` is already float64 / complex128.

    Returns:
        ``(p,)`` float64, in units of energy / (units of ``O``)^2 per unit of imaginary time:
        ``theta <- theta - eta * delta``.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {MODES}")
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {SOLVERS}")
    if not (math.isfinite(diag_shift) and diag_shift >= 0):
        raise ValueError(f"diag_shift must be finite and >= 0, got {diag_shift}")
    if not (math.isfinite(diag_shift_rel) and diag_shift_rel >= 0):
        raise ValueError(f"diag_shift_rel must be finite and >= 0, got {diag_shift_rel}")
    if O.ndim != 2 or e_loc.ndim != 1 or O.shape[0] != e_loc.shape[0]:
        raise ValueError(f"expected O (n, p) and e_loc (n,), got {tuple(O.shape)} and "
                         f"{tuple(e_loc.shape)}")
    n = O.shape[0]
    if n < 2:
        raise ValueError(f"need at least 2 samples, got {n}")
    wide = torch.complex128 if O.is_complex() else torch.float64
    own = overwrite and O.dtype == wide  # centre O in place: no (n, p) copy
    O = O.to(wide)
    e = e_loc.to(torch.complex128 if e_loc.is_complex() else torch.float64)
    if weights is None:
        ob = O.sub_(O.mean(0)) if own else O - O.mean(0)
        scale = 1.0 / math.sqrt(n)  # Ob = scale * ob, folded into the products below
        eps = (e - e.mean()) * scale
    else:
        if weights.shape != (n,):
            raise ValueError(f"weights must have shape ({n},), got {tuple(weights.shape)}")
        w = weights.detach().to(torch.float64)
        if bool((w < 0).any()) or abs(float(w.sum()) - 1.0) > 1e-8:
            raise ValueError("weights must be non-negative and sum to 1")
        root = w.sqrt()
        mean = (w.unsqueeze(-1) * O).sum(0)
        ob = O.sub_(mean).mul_(root.unsqueeze(-1)) if own else root.unsqueeze(-1) * (O - mean)
        scale = 1.0
        eps = root * (e - (w * e).sum())
    if ob.is_complex():
        x = torch.cat([ob.real, ob.imag])
        rhs = torch.cat([eps.real, eps.imag]) if eps.is_complex() else \
            torch.cat([eps, torch.zeros_like(eps)])
    else:
        x, rhs = ob, eps.real if eps.is_complex() else eps
    rows, p = x.shape
    if mode == "auto":
        mode = "minsr" if rows < p and diag_shift_rel == 0 else "sr"
    if mode == "minsr" and diag_shift_rel > 0:
        raise ValueError("diag_shift_rel is only supported with mode='sr'")
    if mode == "minsr" and diag_shift == 0 and solver == "cholesky":
        log.debug("minSR with diag_shift=0: the kernel may be singular")
    maxiter = cg_maxiter or 10 * max(rows, p)
    s2 = scale * scale
    if mode == "sr":
        f = scale * (x.T @ rhs)
        if solver == "cg":
            shift = diag_shift + diag_shift_rel * s2 * (x * x).sum(0)
            return _cg(lambda v: s2 * (x.T @ (x @ v)) + shift * v, f, tol=cg_tol,
                       maxiter=maxiter)
        s = gram(x.T).mul_(s2)
        a = s + torch.diag(diag_shift + diag_shift_rel * torch.diagonal(s))
        return _dense_solve(a, f, solver, rcond)
    if solver == "cg":
        y = _cg(lambda v: s2 * (x @ (x.T @ v)) + diag_shift * v, rhs, tol=cg_tol,
                maxiter=maxiter)
    else:
        k = gram(x).mul_(s2)
        k.diagonal().add_(diag_shift)
        y = _dense_solve(k, rhs, solver, rcond)
    return scale * (x.T @ y)


def apply_direction(model: nn.Module, direction: torch.Tensor) -> None:
    """Write the flattened ``direction`` into ``p.grad`` of the trainable parameters.

    ``direction`` is ``(p,)`` in ``model.parameters()`` order (trainable ones only); an
    optimizer step then moves along ``-direction`` (``SGD(lr=eta)``: ``theta -= eta delta``).
    """
    params = [p for _, p in trainable_parameters(model)]
    total = sum(p.numel() for p in params)
    if direction.ndim != 1 or direction.numel() != total:
        raise ValueError(f"direction has shape {tuple(direction.shape)}, expected ({total},)")
    offset = 0
    for p in params:
        k = p.numel()
        p.grad = direction[offset:offset + k].reshape(p.shape).to(dtype=p.dtype, device=p.device)
        offset += k


@dataclass(frozen=True)
class SRInfo:
    """What one SR step did: ``norm`` of ``delta``, the ``mode`` used, ``n_params``."""

    norm: float
    mode: str
    n_params: int


@dataclass(frozen=True)
class SRStep:
    """A configured SR update: ``SRStep(diag_shift=1e-3)(model, s, e_loc, optimizer)``.

    The one implementation; :func:`sr_direction` and :func:`sr_step` are thin wrappers.

    Attributes:
        diag_shift, diag_shift_rel, mode, solver, rcond, cg_tol, cg_maxiter: the options of
            :func:`solve_sr` (same defaults).
        chunk_size: samples per Jacobian evaluation (:func:`per_sample_log_psi_grads`).
        jacobian: its ``method`` (``"auto"``: the outer-product form where it applies).
        max_norm: rescale ``delta`` to at most this 2-norm (``None``: no clipping).

    :meth:`direction` keeps its ``(n, p)`` Jacobian buffer between calls (float64 or
    complex128): writing into memory already mapped is several times faster than into a
    fresh ``n p`` allocation, which the allocator maps and the kernel zeroes at every step.
    """

    diag_shift: float = 1e-3
    diag_shift_rel: float = 0.0
    mode: str = "auto"
    solver: str = "cholesky"
    chunk_size: int | None = None
    max_norm: float | None = None
    rcond: float = 1e-12
    cg_tol: float = 1e-10
    cg_maxiter: int | None = None
    jacobian: str = "auto"
    _buffers: dict[str, torch.Tensor] = field(default_factory=dict, init=False, repr=False,
                                              compare=False)

    def __post_init__(self) -> None:
        if self.jacobian not in GRAD_METHODS:
            raise ValueError(f"unknown jacobian {self.jacobian!r}; choose one of "
                             f"{GRAD_METHODS}")
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; choose one of {MODES}")
        if self.solver not in SOLVERS:
            raise ValueError(f"unknown solver {self.solver!r}; choose one of {SOLVERS}")
        if self.diag_shift < 0 or self.diag_shift_rel < 0:
            raise ValueError(f"diag shifts must be >= 0, got {self.diag_shift}, "
                             f"{self.diag_shift_rel}")
        if self.max_norm is not None and self.max_norm <= 0:
            raise ValueError(f"max_norm must be > 0, got {self.max_norm}")

    def direction(self, model: AutoregressiveWavefunction, s: torch.Tensor,
                  e_loc: torch.Tensor, *,
                  weights: torch.Tensor | None = None) -> tuple[torch.Tensor, str]:
        """``(delta (p,) float64, "sr" or "minsr")`` for samples ``s`` ``(n, N)`` of ``|psi|^2``
        and their ``(n,)`` local (free) energies ``e_loc``, with the norm clipping applied;
        ``weights``: optional ``(n,)`` probabilities replacing the sample mean (:func:`solve_sr`).
        """
        dtype = torch.complex128 if model.is_complex else torch.float64
        shape = (s.shape[0], model.n_parameters)
        buf = self._buffers.get("jacobian")
        if buf is None or buf.shape != shape or buf.dtype != dtype or buf.device != s.device:
            buf = self._buffers["jacobian"] = torch.empty(shape, dtype=dtype, device=s.device)
        O = per_sample_log_psi_grads(model, s, chunk_size=self.chunk_size,
                                     method=self.jacobian, out=buf)
        return self.solve(O, e_loc, weights=weights, overwrite=True)

    def solve(self, O: torch.Tensor, e_loc: torch.Tensor, *,
              weights: torch.Tensor | None = None,
              overwrite: bool = False) -> tuple[torch.Tensor, str]:
        """``(delta, mode used)`` from a Jacobian ``O`` ``(n, p)`` and ``e_loc`` ``(n,)``.

        :meth:`direction` without the Jacobian; a data-parallel run gathers the rows of ``O``
        from every rank first (:mod:`physrnn.vmc.parallel`). ``overwrite``: ``O`` may be
        centred in place (:func:`solve_sr`).
        """
        mode = self.mode
        if mode == "auto":
            rows = O.shape[0] * (2 if O.is_complex() else 1)
            mode = "minsr" if rows < O.shape[1] and self.diag_shift_rel == 0 else "sr"
        delta = solve_sr(O, e_loc, diag_shift=self.diag_shift,
                         diag_shift_rel=self.diag_shift_rel, mode=mode, solver=self.solver,
                         rcond=self.rcond, cg_tol=self.cg_tol, cg_maxiter=self.cg_maxiter,
                         weights=weights, overwrite=overwrite)
        if self.max_norm is not None:
            norm = float(torch.linalg.vector_norm(delta))
            if norm > self.max_norm:
                delta = delta * (self.max_norm / norm)
        return delta, mode

    def __call__(self, model: AutoregressiveWavefunction, s: torch.Tensor, e_loc: torch.Tensor,
                 optimizer: torch.optim.Optimizer) -> SRInfo:
        """Compute ``delta``, write it into the gradients and take ``optimizer.step()``."""
        delta, mode = self.direction(model, s, e_loc)
        optimizer.zero_grad(set_to_none=True)
        apply_direction(model, delta)
        optimizer.step()
        return SRInfo(float(torch.linalg.vector_norm(delta)), mode, int(delta.numel()))


def sr_direction(
    model: AutoregressiveWavefunction,
    s: torch.Tensor,
    e_loc: torch.Tensor,
    *,
    diag_shift: float = 1e-3,
    diag_shift_rel: float = 0.0,
    mode: str = "auto",
    solver: str = "cholesky",
    chunk_size: int | None = None,
    rcond: float = 1e-12,
    cg_tol: float = 1e-10,
    cg_maxiter: int | None = None,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """The flattened SR direction ``delta`` ``(p,)`` float64 for samples ``s`` ``(n, N)`` and
    their local (free) energies ``e_loc`` ``(n,)``; a thin wrapper, ``SRStep(diag_shift=...,
    ...).direction(model, s, e_loc, weights=weights)[0]`` (no norm clipping)."""
    step = SRStep(diag_shift=diag_shift, diag_shift_rel=diag_shift_rel, mode=mode,
                  solver=solver, chunk_size=chunk_size, rcond=rcond, cg_tol=cg_tol,
                  cg_maxiter=cg_maxiter)
    return step.direction(model, s, e_loc, weights=weights)[0]


def sr_step(
    model: AutoregressiveWavefunction,
    s: torch.Tensor,
    e_loc: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    *,
    diag_shift: float = 1e-3,
    mode: str = "auto",
    solver: str = "cholesky",
    **kwargs: Any,
) -> SRInfo:
    """One SR update with ``optimizer`` (use ``SGD(lr=eta)`` for plain SR).

    A thin wrapper: ``SRStep(diag_shift=..., mode=..., solver=..., **kwargs)(model, s, e_loc,
    optimizer)``; ``kwargs`` are the other fields of :class:`SRStep` (``diag_shift_rel``,
    ``chunk_size``, ``max_norm``, ``rcond``, ``cg_tol``, ``cg_maxiter``).
    """
    return SRStep(diag_shift=diag_shift, mode=mode, solver=solver, **kwargs)(
        model, s, e_loc, optimizer)
