"""Per-sample gradients ``O[k, j] = d log psi(s_k) / d theta_j``: the Jacobian of SR and minSR.

:func:`per_sample_log_psi_grads` computes the ``(n, p)`` Jacobian of ``log psi`` over a batch of
configurations by one of four methods:

- ``"outer"``: the outer-product form of :mod:`physrnn.vmc.outer`; one batched forward pass
  with autograd and one backward pass of the batch sum (two for complex models), then one
  batched matrix product per weight. The fastest by far where it applies (recurrent
  wavefunctions built of ``nn.Linear`` and ``nn.GRU``/``nn.LSTM``/``nn.RNN``; 1D GRU, N = 100,
  d_h 64, 500 samples, one CPU thread: about 0.3 s against 5.3 s for ``jacrev``; 2D GRU 4x4:
  0.08 s against 1.7 s for ``vmap``; ``benchmarks/sr_cost.py``);
- ``"vmap"``: ``torch.func.vmap(grad(...))`` of the single-sample ``log psi`` (materialises
  every sample's gradient at every recurrent step);
- ``"jacrev"``: ``torch.func.jacrev`` of the batch output (one vmapped backward pass per sample);
- ``"loop"``: one ``torch.autograd.grad`` per sample, the reference.

``"auto"`` takes the first that works: ``outer`` (checked once per model against ``loop`` on a
float64 copy, see :func:`outer_verified`), ``vmap``, ``jacrev``, ``loop``.
"""

from __future__ import annotations

import copy
import logging
import weakref

import torch
from torch import nn

from physrnn.vmc.outer import (
    OUTER_ROWS,
    OuterUnsupported,
    outer_product_grads,
    outer_unsupported_reason,
)
from physrnn.wavefunctions.base import AutoregressiveWavefunction

__all__ = [
    "GRAD_METHODS",
    "JAC_CHUNK",
    "outer_verified",
    "per_sample_log_psi_grads",
    "trainable_parameters",
]

log = logging.getLogger(__name__)

GRAD_METHODS = ("auto", "outer", "vmap", "jacrev", "loop")

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


def trainable_parameters(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """``(name, parameter)`` of the trainable parameters in ``model.named_parameters()`` order:
    the column order of the Jacobian and of an SR direction."""
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
    named = trainable_parameters(model)
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
    named = trainable_parameters(model)
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
    params = [p for _, p in trainable_parameters(model)]
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


#: Models already checked by :func:`outer_verified`, and the answer.
_OUTER_CHECKED: weakref.WeakKeyDictionary[nn.Module, bool] = weakref.WeakKeyDictionary()


def outer_verified(model: AutoregressiveWavefunction, s: torch.Tensor) -> bool:
    """Whether ``method="auto"`` may use the outer-product form for ``model``.

    True when every trainable parameter is covered (:func:`outer_unsupported_reason`) and,
    on a float64 copy of the model, the rows of the first two configurations of ``s``
    ``(n, N)`` equal single-sample autograd (``"loop"``) to ``1e-9`` of their largest entry;
    a weight that is also used outside its layer, or a layer that mixes the rows of a batch,
    fails this. The answer is kept for the model object.
    """
    known = _OUTER_CHECKED.get(model)
    if known is not None:
        return known
    reason = outer_unsupported_reason(model)
    if reason is None:
        try:
            probe = model
            if any(p.dtype != torch.float64 for p in model.parameters()):
                probe = copy.deepcopy(model).to(torch.float64)
            few = s[:2]
            fast = outer_product_grads(probe, few, [p for _, p in trainable_parameters(probe)])
            ref = _loop_chunk(probe, few)
            scale = float(ref.abs().max()) if ref.numel() else 0.0
            if fast.shape != ref.shape or float((fast - ref).abs().max()) > 1e-9 * scale:
                reason = "its rows differ from single-sample autograd"
        except (OuterUnsupported, RuntimeError, TypeError, ValueError, copy.Error) as err:
            reason = f"{type(err).__name__}: {err}"
    if reason is not None:
        log.debug("outer-product Jacobian not used for %s: %s", type(model).__name__, reason)
    _OUTER_CHECKED[model] = reason is None
    return reason is None


def _outer(model: AutoregressiveWavefunction, s: torch.Tensor, chunk_size: int | None,
           out: torch.Tensor | None) -> torch.Tensor:
    params = [p for _, p in trainable_parameters(model)]
    rows = int(chunk_size) if chunk_size is not None else max(1, OUTER_ROWS // s.shape[1])
    if out is None:
        dtype = torch.complex128 if model.is_complex else torch.float64
        out = torch.empty(s.shape[0], sum(p.numel() for p in params), dtype=dtype,
                          device=s.device)
    for lo in range(0, s.shape[0], rows):
        outer_product_grads(model, s[lo:lo + rows], params, out=out[lo:lo + rows])
    return out


def per_sample_log_psi_grads(
    model: AutoregressiveWavefunction,
    s: torch.Tensor,
    *,
    chunk_size: int | None = None,
    method: str = "auto",
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """The Jacobian ``O[k, j] = d log psi(s_k) / d theta_j`` of every sample.

    Parameters are the trainable ones, flattened in ``model.parameters()`` order (the layout
    :func:`physrnn.vmc.sr.apply_direction` expects). For complex ``log psi`` (phase models,
    real parameters) ``O = d Re log psi + i d Im log psi``.

    Args:
        model: the wavefunction.
        s: ``(n, N)`` long configurations.
        chunk_size: samples per Jacobian evaluation (bounds memory, ``O(chunk * graph)``);
            ``None``: ``OUTER_ROWS // N`` for ``"outer"``, :data:`JAC_CHUNK` for the others.
        method: ``"outer"`` (one batched backward pass and per-layer outer products,
            :mod:`physrnn.vmc.outer`; models built of ``nn.Linear`` and torch recurrent
            layers, such as the 1D and 2D recurrent wavefunctions), ``"vmap"``
            (``torch.func.vmap(grad(...))`` of the single-sample ``log psi``; the 2D model
            and its symmetrised wrapper), ``"jacrev"`` (``torch.func.jacrev`` of the batch
            output: one vmapped backward pass per sample; also works for ``nn.GRU``/
            ``nn.LSTM``, which ``vmap`` cannot batch), ``"loop"`` (one
            ``torch.autograd.grad`` per sample; the reference) or ``"auto"`` (``outer`` where
            :func:`outer_verified`, else ``vmap``, then ``jacrev``, then ``loop``, whichever
            first works for the model).
        out: an ``(n, p)`` tensor of the result's dtype to write the Jacobian into (a buffer
            reused between steps saves mapping fresh memory for every step); ``None``: new.

    Returns:
        ``(n, p)`` float64, or complex128 for complex models (``out`` when given).

    Raises:
        physrnn.vmc.outer.OuterUnsupported: ``method="outer"`` for a model it does not cover.
    """
    if method not in GRAD_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {GRAD_METHODS}")
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if s.ndim != 2:
        raise ValueError(f"expected configurations of shape (n, N), got {tuple(s.shape)}")
    if out is not None:
        dtype = torch.complex128 if model.is_complex else torch.float64
        n_cols = sum(p.numel() for _, p in trainable_parameters(model))
        if out.shape != (s.shape[0], n_cols) or out.dtype != dtype:
            raise ValueError(f"out must be ({s.shape[0]}, {n_cols}) {dtype}, got "
                             f"{tuple(out.shape)} {out.dtype}")
    if method == "outer":
        return _outer(model, s, chunk_size, out)
    if method == "auto" and s.shape[0] > 0 and outer_verified(model, s):
        try:
            return _outer(model, s, chunk_size, out)
        except OuterUnsupported as err:  # e.g. dropout while training: this call only
            log.debug("outer-product Jacobian failed for %s (%s)", type(model).__name__, err)
    result = _other_methods(model, s, chunk_size, method)
    return result if out is None else out.copy_(result)


def _other_methods(model: AutoregressiveWavefunction, s: torch.Tensor,
                   chunk_size: int | None, method: str) -> torch.Tensor:
    """``vmap``, ``jacrev`` and ``loop`` (:func:`per_sample_log_psi_grads`)."""
    step = JAC_CHUNK if chunk_size is None else int(chunk_size)
    chunks = torch.split(s, max(step, 1))
    if method == "loop":
        return torch.cat([_loop_chunk(model, c) for c in chunks])
    if method == "vmap" or (method == "auto" and type(model) not in _NO_VMAP):
        if chunk_size is None:  # per-sample gradients and a few temporaries of that size
            n_params = sum(p.numel() for _, p in trainable_parameters(model))
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

