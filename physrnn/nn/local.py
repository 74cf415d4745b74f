r"""Local (parallel) recurrent models with shared weights for 1D periodic fields.

A field ``u`` of ``n_sites`` values on a ring (Lorenz-96 sites, Kuramoto-Sivashinsky grid
points, a user's periodic recording) is split into ``P = n_sites / patch`` patches of
``patch`` consecutive sites. Patch ``p`` owns the sites ``p * patch .. p * patch + patch - 1``
and *reads* them together with ``overlap`` neighbours on each side (periodic wrap), a window of
``width = patch + 2 overlap`` sites::

    window_p = u[(p * patch - overlap .. p * patch + patch + overlap - 1) mod n_sites]

One model, the same weights for every patch, reads every window and predicts its patch's own
sites one step ahead; the predictions of all patches, side by side, are the next field, from
which the next windows are cut. This is the parallel scheme of Pathak, Hunt, Girvan, Lu and
Ott, PRL 120, 024102 (2018) (reservoirs) and Vlachas et al., Neural Networks 126, 191 (2020)
(reservoirs, GRU and LSTM), with the weights *shared* by all patches: on a translation-invariant
(periodic, homogeneous) system every patch obeys the same local law, so one model sees ``P``
times more training data and the forecast is equivariant under shifts of the field by whole
patches.

* :class:`PeriodicPatches`: the windows (an index array) and the assembly of patch outputs.
* :class:`LocalRecurrentForecaster`: a :class:`~physrnn.nn.recurrent.RecurrentForecaster`
  (RNN, LSTM or GRU) that reads the full field ``(batch, time, n_sites)`` and runs its cell on
  the ``batch * P`` windows; it trains with :class:`physrnn.train.Trainer` and refits its
  read-out with :func:`physrnn.train.readout.fit_readout` like the global model.
* :class:`physrnn.nn.local_reservoir.LocalESN`: the echo-state network in the same scheme.

All arrays are in the data's normalised units; one step is one sample of the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from physrnn.nn.recurrent import RecurrentForecaster, readout_features

__all__ = ["PeriodicPatches", "LocalRecurrentForecaster"]


@dataclass(frozen=True)
class PeriodicPatches:
    """Patches of a 1D periodic field and the windows that read them.

    Args:
        n_sites: sites of the field ``n`` (>= 1).
        patch: sites owned by each patch; must divide ``n_sites``.
        overlap: neighbours read on each side (>= 0, ``patch + 2 overlap <= n_sites`` so that
            no site is read twice by one window).

    Attributes:
        n_patches: ``P = n_sites // patch``.
        width: ``patch + 2 overlap``, the window's size.
        index: ``(P, width)`` int64 site indices of every window; the patch's own sites are
            the columns ``overlap .. overlap + patch - 1``.

    Example:
        >>> pp = PeriodicPatches(8, 2, overlap=1)
        >>> pp.index[0].tolist(), pp.index[3].tolist()
        ([7, 0, 1, 2], [5, 6, 7, 0])
    """

    n_sites: int
    patch: int
    overlap: int = 0
    index: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for key in ("n_sites", "patch", "overlap"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int | np.integer):
                raise ValueError(f"PeriodicPatches: {key} must be an integer, got {v!r}")
        if self.n_sites < 1 or self.patch < 1 or self.overlap < 0:
            raise ValueError(f"PeriodicPatches: need n_sites >= 1, patch >= 1, overlap >= 0, "
                             f"got n_sites={self.n_sites}, patch={self.patch}, "
                             f"overlap={self.overlap}")
        if self.n_sites % self.patch:
            raise ValueError(f"PeriodicPatches: patch={self.patch} does not divide "
                             f"n_sites={self.n_sites}; choose a divisor, e.g. "
                             f"{_divisors(self.n_sites)}")
        if self.patch + 2 * self.overlap > self.n_sites:
            raise ValueError(f"PeriodicPatches: a window of patch + 2 overlap = "
                             f"{self.patch + 2 * self.overlap} sites is longer than the ring "
                             f"({self.n_sites} sites); lower overlap")
        starts = np.arange(self.n_patches) * self.patch - self.overlap
        idx = (starts[:, None] + np.arange(self.width)[None, :]) % self.n_sites
        idx.setflags(write=False)
        object.__setattr__(self, "index", idx.astype(np.int64))

    @property
    def n_patches(self) -> int:
        return self.n_sites // self.patch

    @property
    def width(self) -> int:
        return self.patch + 2 * self.overlap

    def windows(self, x):
        """Windows of a field: ``(..., n_sites)`` -> ``(..., P, width)`` (numpy or torch)."""
        if x.shape[-1] != self.n_sites:
            raise ValueError(f"PeriodicPatches: the field has {x.shape[-1]} sites, expected "
                             f"{self.n_sites}")
        if isinstance(x, torch.Tensor):
            return x[..., torch.as_tensor(self.index, device=x.device)]
        return np.asarray(x)[..., self.index]

    def core(self, w):
        """The owned sites of windows: ``(..., width)`` -> ``(..., patch)``."""
        return w[..., self.overlap:self.overlap + self.patch]

    def assemble(self, y):
        """Patch outputs side by side: ``(..., P, patch)`` -> ``(..., n_sites)``."""
        if tuple(y.shape[-2:]) != (self.n_patches, self.patch):
            raise ValueError(f"PeriodicPatches: patch outputs must end in ({self.n_patches}, "
                             f"{self.patch}), got {tuple(y.shape)}")
        return y.reshape(*y.shape[:-2], self.n_sites)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0][:12]


class LocalRecurrentForecaster(RecurrentForecaster):
    """A recurrent forecaster applied patch by patch, with one set of weights for all patches.

    The cell reads the ``batch * P`` windows (see :class:`PeriodicPatches`) as separate
    sequences; its read-out predicts the window's ``patch`` owned sites (their increments with
    ``predict_increments``, added to the owned sites of the input). Input and output are the
    whole field, so the model is a drop-in :class:`RecurrentForecaster` for
    :class:`physrnn.train.Trainer`, :func:`physrnn.train.readout.fit_readout`,
    :class:`physrnn.nn.recurrent.TorchForecaster` and every evaluation.

    Args:
        n_sites: sites of the periodic field (``n_state`` of the data).
        patch, overlap: see :class:`PeriodicPatches`.
        **options: keyword arguments of :class:`RecurrentForecaster` (``cell``,
            ``hidden_size``, ``n_layers``, ``dropout``, ``predict_increments``, ``readout``,
            ``seed``, ``dtype``).

    Shapes:
        series ``(batch, time, n_sites)``; the state is that of the cell for ``batch * P``
        sequences, ``(n_layers, batch * P, hidden_size)`` (a pair for the LSTM), patch-minor
        (sequence ``b * P + p`` is patch ``p`` of series ``b``).

    Example:
        >>> m = LocalRecurrentForecaster(40, patch=2, overlap=4, hidden_size=16)
        >>> m.rollout(torch.zeros(3, 10, 40), 5).shape
        torch.Size([3, 5, 40])
    """

    def __init__(self, n_sites: int, *, patch: int, overlap: int = 0, **options) -> None:
        patches = PeriodicPatches(int(n_sites), int(patch), int(overlap))
        dtype = options.pop("dtype", torch.float32)
        super().__init__(patches.width, dtype=torch.float64, **options)
        self.patches = patches
        self.n_state = patches.n_sites
        self.n_output = patches.patch
        self.head = self.initial_head()
        self.to(dtype)

    @property
    def views_per_series(self) -> int:
        return self.patches.n_patches

    def extra_repr(self) -> str:
        return (f"n_sites={self.n_state}, patch={self.patches.patch}, "
                f"overlap={self.patches.overlap}, cell={self.cell!r}, "
                f"hidden_size={self.hidden_size}, n_layers={self.n_layers}, "
                f"predict_increments={self.predict_increments}, readout={self.readout!r}")

    def teacher_view(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(batch, T, n_sites)`` -> windows ``(batch * P, T, width)`` and owned sites
        ``(batch * P, T, patch)``."""
        b, t, _ = x.shape
        w = self.patches.windows(x)                       # (b, T, P, width)
        w = w.permute(0, 2, 1, 3).reshape(b * self.patches.n_patches, t, self.patches.width)
        return w, self.patches.core(w)

    def forward(self, x: torch.Tensor, state=None):
        """Teacher-forced one-step predictions of the whole field.

        Args:
            x: ``(batch, T, n_sites)``.
            state: the carried cell state (``None``: zeros).

        Returns:
            ``(pred, state)``, ``pred`` ``(batch, T, n_sites)`` with ``pred[:, t]`` the
            prediction of ``x[:, t + 1]``.
        """
        self._check(x, "x")
        b, t, _ = x.shape
        inputs, own = self.teacher_view(x)
        h, state = self.rnn(inputs, state)
        out = self.head(readout_features(self.out_dropout(h), inputs, self.readout))
        if self.predict_increments:
            out = own + out
        out = out.reshape(b, self.patches.n_patches, t, self.patches.patch).permute(0, 2, 1, 3)
        return self.patches.assemble(out), state

