"""One recipe for every derived random stream: :func:`derive_seed`.

A run has one seed; each stream it needs (the trainer's dropout and shuffling streams, a rank's
stream, a VMC block's sampling stream at a given step, an evaluation stream) gets its own seed
derived from a *key*, a tuple of non-negative integers that names the stream, through
:class:`numpy.random.SeedSequence`::

    derive_seed(*key, spawn_key=s, bits=b)
        == SeedSequence(list(key), spawn_key=s).generate_state(1, w)[0] & (2**b - 1)

with ``w`` = ``uint32`` for ``b <= 32`` and ``uint64`` otherwise. Different keys give
independent streams (SeedSequence hashes the whole key), and the same key always gives the same
seed. The streams of the package:

=============================================  =======================================
stream                                         call
=============================================  =======================================
trainer's private torch stream / shuffling /   ``derive_seed(seed, 0)`` / ``(seed, 1)`` /
CUDA stream (:class:`~physrnn.train.Trainer`)  ``(seed, 2)``
rank ``r > 0`` (:func:`~physrnn.distributed.   ``derive_seed(seed, spawn_key=(r,))``
rank_seed`)
VMC block ``b`` at step ``k``                  ``derive_seed(seed, k, tag, spawn_key=(b,))``
(:func:`~physrnn.vmc.parallel.stream_seed`)    (``tag`` 2: training, 1: evaluation)
one-process VMC evaluation at step ``k``       ``derive_seed(seed, k, 1, bits=32)``
=============================================  =======================================

Seeds of 63 bits (the default) fit ``torch.Generator.manual_seed`` and a signed 64-bit integer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["SEED_BITS", "derive_seed"]

#: Bits of a derived seed by default (a non-negative signed 64-bit integer).
SEED_BITS = 63


def derive_seed(*key: int, spawn_key: Sequence[int] = (), bits: int = SEED_BITS) -> int:
    """The seed of the stream named by ``key`` (see the module docstring for the recipe).

    Args:
        key: one or more non-negative integers, e.g. ``(seed, step, tag)``; the first is
            usually the run's seed.
        spawn_key: the ``spawn_key`` of the ``SeedSequence`` (non-negative integers; a child
            stream, e.g. a rank or a block).
        bits: width of the result, ``1 <= bits <= 64``: the first ``uint32`` word of the
            state masked to ``bits`` for ``bits <= 32``, else the first ``uint64`` word.

    Returns:
        An integer in ``[0, 2**bits)``.

    Raises:
        ValueError: no key, a negative key or spawn key, or ``bits`` outside ``[1, 64]``.
    """
    if not key:
        raise ValueError("derive_seed needs at least one key")
    if isinstance(bits, bool) or not 1 <= int(bits) <= 64:
        raise ValueError(f"bits must be in [1, 64], got {bits!r}")
    entropy = [int(k) for k in key]
    spawn = tuple(int(k) for k in spawn_key)
    if any(k < 0 for k in entropy) or any(k < 0 for k in spawn):
        raise ValueError(f"keys must be >= 0, got key {tuple(entropy)}, spawn_key {spawn}")
    word = np.uint32 if bits <= 32 else np.uint64
    state = np.random.SeedSequence(entropy, spawn_key=spawn).generate_state(1, word)
    return int(state[0]) & ((1 << int(bits)) - 1)
