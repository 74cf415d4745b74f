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

Use with any torch optimizer: :func:`apply_direction` writes ``delta`` into ``p.grad`` and
``torch.optim.SGD(model.parameters(), lr=eta)`` then applies the SR step. :class:`SRStep` holds
the options and computes the step; :func:`sr_direction` (the direction only) and
:func:`sr_step` (direction and optimiser step) are thin wrappers around it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from physrnn.wavefunctions.base import AutoregressiveWavefunction

__all__ = [
    "MODES",
    "SOLVERS",
    "SRInfo",
    "SRStep",
    "apply_direction",
    "per_sample_log_psi_grads",
    "solve_sr",
    "sr_direction",
    "sr_step",
]

log = logging.getLogger(__name__)

MODES = ("auto", "sr", "minsr")
SOLVERS = ("cholesky", "eigh", "cg")
GRAD_METHODS = ("auto", "vmap", "jacrev", "loop")

#: Default samples per ``jacrev`` call: larger chunks were slower on CPU (GRU, d_h 16-64,
#: N = 10-20: 16-32 samples about 2-5x faster than 256 at once, and than the loop).
JAC_CHUNK = 32
#: Most samples per ``vmap`` call, and the memory their per-sample gradients may take.
VMAP_CHUNK = 1024
VMAP_BYTES = 1 << 28


class _LogPsi(nn.Module):
    """``forward(s) = model.log_psi(s)``, so that ``torch.func.functional_call`` can be used."""

    def __init__(self, model: AutoregressiveWavefunction) -> None:
        super().__init__()
        self.model = model

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return self.model.log_psi(s)


def _trainable(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    return [(k, p) for k, p in model.named_parameters() if p.requires_grad]


def _as_real_rows(log_psi: torch.Tensor) -> torch.Tensor:
    """``(b,)`` real -> ``(b,)``; complex -> ``(2, b)`` stacked real and imaginary parts."""
    if log_psi.is_complex():
        return torch.stack([log_psi.real, log_psi.imag])
    return log_psi


def _jacrev_chunk(model: AutoregressiveWavefunction, s: torch.Tensor) -> torch.Tensor:
    """Jacobian of the batch output wrt the parameters, ``(b, p)`` or complex ``(b, p)``.

    ``log_psi`` of a batch is a set of independent per-sample functions (no batch-coupling
    layers in recurrent wavefunctions), so the Jacobian of the ``(b,)`` output is the stack of
    per-sample gradients; ``jacrev`` computes it as ``b`` vmapped backward passes.
    """
    wrapper = _LogPsi(model)
    named = _trainable(model)
    names = ["model." + k for k, _ in named]
    params = tuple(p.detach() for _, p in named)

    def fn(*flat: torch.Tensor) -> torch.Tensor:
        bound = dict(zip(names, flat, strict=True))
        return _as_real_rows(torch.func.functional_call(wrapper, bound, (s,)))

    jac = torch.func.jacrev(fn, argnums=tuple(range(len(params))))(*params)
    b = s.shape[0]
    rows = torch.cat([j.reshape(*j.shape[: j.ndim - p.ndim], -1)
                      for j, p in zip(jac, params, strict=True)], dim=-1)
    if rows.ndim == 3:  # (2, b, p): real and imaginary parts
        return torch.complex(rows[0].double(), rows[1].double())
    return rows.reshape(b, -1).double()


def _vmap_chunk(model: AutoregressiveWavefunction, s: torch.Tensor) -> torch.Tensor:
    """Per-sample gradients by ``vmap(grad(log_psi of one sample))``, ``(b, p)``.

    One batched backward pass over the chunk (2D GRU, 4x4, d_h 24, 256 samples, one CPU core:
    30 ms against 120 ms for :func:`_jacrev_chunk`); needs a model written with out-of-place
    operations only.
    """
    wrapper = _LogPsi(model)
    named = _trainable(model)
    params = {"model." + k: p.detach() for k, p in named}
    complex_out = bool(model.is_complex)

    def one(flat: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return _as_real_rows(torch.func.functional_call(wrapper, flat, (x.unsqueeze(0),)))[..., 0]

    per_sample = torch.func.jacrev(one) if complex_out else torch.func.grad(one)
    grads = torch.func.vmap(per_sample, in_dims=(None, 0))(params, s)
    b = s.shape[0]
    lead = (b, 2) if complex_out else (b,)
    rows = torch.cat([grads["model." + k].reshape(*lead, -1) for k, _ in named], dim=-1)
    if complex_out:
        return torch.complex(rows[:, 0].double(), rows[:, 1].double())
    return rows.double()


#: Model classes for which ``vmap`` failed once: ``"auto"`` goes straight to ``jacrev``.
_NO_VMAP: set[type] = set()


def _loop_chunk(model: AutoregressiveWavefunction, s: torch.Tensor) -> torch.Tensor:
    """Per-sample gradients by one ``torch.autograd.grad`` call per sample (and part)."""
    params = [p for _, p in _trainable(model)]
    rows = []
    for k in range(s.shape[0]):
        out = model.log_psi(s[k:k + 1])[0]
        parts = [out.real, out.imag] if out.is_complex() else [out]
        flat = []
        for i, part in enumerate(parts):
            g = torch.autograd.grad(part, params, retain_graph=i + 1 < len(parts),
                                    allow_unused=True)
            flat.append(torch.cat([(torch.zeros_like(p) if gi is None else gi).reshape(-1)
                                   for gi, p in zip(g, params, strict=True)]).double())
        rows.append(torch.complex(flat[0], flat[1]) if len(flat) == 2 else flat[0])
    return torch.stack(rows)


def per_sample_log_psi_grads(
    model: AutoregressiveWavefunction,
    s: torch.Tensor,
    *,
    chunk_size: int | None = None,
    method: str = "auto",
) -> torch.Tensor:
    """The Jacobian ``O[k, j] = d log psi(s_k) / d theta_j`` of every sample.

    Parameters are the trainable ones, flattened in ``model.parameters()`` order (the layout
    :func:`apply_direction` expects). For complex ``log psi`` (phase models, real parameters)
    ``O = d Re log psi + i d Im log psi``.

    Args:
        model: the wavefunction.
        s: ``(n, N)`` long configurations.
        chunk_size: samples per Jacobian evaluation (bounds memory, ``O(chunk * graph)``);
            ``None``: :data:`JAC_CHUNK`.
        method: ``"vmap"`` (``torch.func.vmap(grad(...))`` of the single-sample ``log psi``:
            one batched backward pass; the 2D model and its symmetrised wrapper), ``"jacrev"``
            (``torch.func.jacrev`` of the batch output: one vmapped backward pass per sample;
            also works for ``nn.GRU``/``nn.LSTM``, which ``vmap`` cannot batch), ``"loop"``
            (one ``torch.autograd.grad`` per sample; the reference) or ``"auto"`` (``vmap``,
            then ``jacrev``, then ``loop``, whichever first works for the model).

    Returns:
        ``(n, p)`` float64, or complex128 for complex models.
    """
    if method not in GRAD_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {GRAD_METHODS}")
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if s.ndim != 2:
        raise ValueError(f"expected configurations of shape (n, N), got {tuple(s.shape)}")
    step = JAC_CHUNK if chunk_size is None else int(chunk_size)
    chunks = torch.split(s, max(step, 1))
    if method == "loop":
        return torch.cat([_loop_chunk(model, c) for c in chunks])
    if method == "vmap" or (method == "auto" and type(model) not in _NO_VMAP):
        if chunk_size is None:  # per-sample gradients and a few temporaries of that size
            n_params = sum(p.numel() for _, p in _trainable(model))
            per_sample = 4 * n_params * next(model.parameters()).element_size()
            vchunks = torch.split(s, max(1, min(VMAP_CHUNK, VMAP_BYTES // per_sample)))
        else:
            vchunks = chunks
        try:
            return torch.cat([_vmap_chunk(model, c) for c in vchunks])
        except (RuntimeError, NotImplementedError, ValueError) as err:
            if method == "vmap":
                raise
            _NO_VMAP.add(type(model))
            log.debug("vmap(grad) failed for %s (%s); using jacrev", type(model).__name__, err)
    try:
        return torch.cat([_jacrev_chunk(model, c) for c in chunks])
    except (RuntimeError, NotImplementedError) as err:
        if method == "jacrev":
            raise
        log.warning("torch.func.jacrev failed for %s (%s); per-sample gradients by a loop",
                    type(model).__name__, err)
        return torch.cat([_loop_chunk(model, c) for c in chunks])


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
    O = O.to(torch.complex128 if O.is_complex() else torch.float64)
    e = e_loc.to(torch.complex128 if e_loc.is_complex() else torch.float64)
    if weights is None:
        ob = (O - O.mean(0)) / math.sqrt(n)
        eps = (e - e.mean()) / math.sqrt(n)
    else:
        if weights.shape != (n,):
            raise ValueError(f"weights must have shape ({n},), got {tuple(weights.shape)}")
        w = weights.detach().to(torch.float64)
        if bool((w < 0).any()) or abs(float(w.sum()) - 1.0) > 1e-8:
            raise ValueError("weights must be non-negative and sum to 1")
        root = w.sqrt()
        ob = root.unsqueeze(-1) * (O - (w.unsqueeze(-1) * O).sum(0))
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
    if mode == "sr":
        f = x.T @ rhs
        if solver == "cg":
            shift = diag_shift + diag_shift_rel * (x * x).sum(0)
            return _cg(lambda v: x.T @ (x @ v) + shift * v, f, tol=cg_tol, maxiter=maxiter)
        s = x.T @ x
        a = s + torch.diag(diag_shift + diag_shift_rel * torch.diagonal(s))
        return _dense_solve(a, f, solver, rcond)
    if solver == "cg":
        y = _cg(lambda v: x @ (x.T @ v) + diag_shift * v, rhs, tol=cg_tol, maxiter=maxiter)
    else:
        k = x @ x.T
        eye = torch.eye(rows, dtype=k.dtype, device=k.device)
        y = _dense_solve(k + diag_shift * eye, rhs, solver, rcond)
    return x.T @ y


def apply_direction(model: nn.Module, direction: torch.Tensor) -> None:
    """Write the flattened ``direction`` into ``p.grad`` of the trainable parameters.

    ``direction`` is ``(p,)`` in ``model.parameters()`` order (trainable ones only); an
    optimizer step then moves along ``-direction`` (``SGD(lr=eta)``: ``theta -= eta delta``).
    """
    params = [p for _, p in _trainable(model)]
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
        max_norm: rescale ``delta`` to at most this 2-norm (``None``: no clipping).
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

    def __post_init__(self) -> None:
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
        O = per_sample_log_psi_grads(model, s, chunk_size=self.chunk_size)
        return self.solve(O, e_loc, weights=weights)

    def solve(self, O: torch.Tensor, e_loc: torch.Tensor, *,
              weights: torch.Tensor | None = None) -> tuple[torch.Tensor, str]:
        """``(delta, mode used)`` from a Jacobian ``O`` ``(n, p)`` and ``e_loc`` ``(n,)``.

        :meth:`direction` without the Jacobian; a data-parallel run gathers the rows of ``O``
        from every rank first (:mod:`physrnn.vmc.parallel`).
        """
        mode = self.mode
        if mode == "auto":
            rows = O.shape[0] * (2 if O.is_complex() else 1)
            mode = "minsr" if rows < O.shape[1] and self.diag_shift_rel == 0 else "sr"
        delta = solve_sr(O, e_loc, diag_shift=self.diag_shift,
                         diag_shift_rel=self.diag_shift_rel, mode=mode, solver=self.solver,
                         rcond=self.rcond, cg_tol=self.cg_tol, cg_maxiter=self.cg_maxiter,
                         weights=weights)
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
