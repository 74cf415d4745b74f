"""Memory tasks generated on the fly: adding, delayed recall, copy, heavy particle in a bath.

Each task is a map-style :class:`torch.utils.data.Dataset` of fixed length ``n_samples``. Item
``i`` is generated from its own random stream ``numpy.random.default_rng([seed, i])``, so the
data do not depend on shuffling, batch size or the number of DataLoader workers, and nothing
touches global random state::

    task = make_task("adding", delay=100, n_samples=10_000, seed=0)
    x, y = task[3]                                    # (100, 2), (1,)
    xb, yb = task.batch(64, generator=torch.Generator().manual_seed(1))   # (64, 100, 2), (64, 1)

Shapes are ``(time, feature)`` per item and ``(batch, time, feature)`` batched; inputs are
float32. Every task states its loss and a trivial baseline (``trivial_mse`` or
``trivial_cross_entropy``): a model that does not beat it has learned nothing.

Tasks (see /work/shared/REFERENCES.md, "Memory tasks"):

- :class:`AddingTask` (Hochreiter and Schmidhuber, Neural Comput. 9, 1735 (1997)).
- :class:`DelayedRecallTask` ("tell / value / ask", F. Marquardt's course on machine learning
  for physicists).
- :class:`CopyTask` (recall a sequence of symbols after blank steps).
- :class:`HeavyParticleTask`: forecast the observed ``(X, P)`` of a heavy particle coupled to a
  hidden Ohmic bath (:mod:`physrnn.systems.bath`); memory is needed to infer the bath.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = [
    "MemoryTask",
    "AddingTask",
    "DelayedRecallTask",
    "CopyTask",
    "HeavyParticleTask",
    "TASKS",
    "make_task",
    "IGNORE_INDEX",
]

IGNORE_INDEX = -100
"""Target class index ignored by :func:`torch.nn.functional.cross_entropy` (its default)."""


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


class MemoryTask(Dataset):
    """Base class: a fixed-length dataset whose item ``i`` depends only on ``(seed, i)``.

    Subclasses implement :meth:`_generate` ``(rng) -> tuple of tensors``.

    Args:
        n_samples: number of items (``len(task)``), ``>= 1``.
        seed: non-negative integer; item ``i`` uses ``numpy.random.default_rng([seed, i])``.
    """

    trivial_mse: float | None = None

    def __init__(self, n_samples: int, seed: int) -> None:
        self.n_samples = _check_int("n_samples", n_samples, 1)
        self.seed = _check_int("seed", seed, 0)

    def __len__(self) -> int:
        return self.n_samples

    def rng(self, index: int) -> np.random.Generator:
        """The random stream of item ``index`` (``0 <= index < n_samples``)."""
        return np.random.default_rng([self.seed, int(index)])

    def _index(self, index: int) -> int:
        i = int(index)
        if i < 0:
            i += self.n_samples
        if not 0 <= i < self.n_samples:
            raise IndexError(f"index {index} out of range for {type(self).__name__} of "
                             f"length {self.n_samples}")
        return i

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        i = self._index(index)
        return self._generate(self.rng(i), i)

    def _generate(self, rng: np.random.Generator, index: int) -> tuple[torch.Tensor, ...]:
        raise NotImplementedError

    def batch(self, n: int, *, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        """``n`` items drawn uniformly with replacement (indices from ``generator``), stacked.

        Returns the item tuple with a leading batch axis, e.g. ``(n, T, F)`` inputs.
        """
        n = _check_int("n", n, 1)
        if not isinstance(generator, torch.Generator):
            raise ValueError("generator must be a torch.Generator (explicit randomness)")
        idx = torch.randint(self.n_samples, (n,), generator=generator).tolist()
        return self.stack(idx)

    def stack(self, indices: list[int]) -> tuple[torch.Tensor, ...]:
        """Items ``indices`` stacked along a new leading batch axis."""
        items = [self[i] for i in indices]
        return tuple(torch.stack(parts) for parts in zip(*items, strict=True))


class AddingTask(MemoryTask):
    """Adding problem (Hochreiter and Schmidhuber 1997).

    Item: ``(x, y)``.

    - ``x`` ``(T, 2)`` float32: channel 0 holds numbers uniform in ``[0, 1)``; channel 1 is a
      marker with exactly two ones, the first at a time in ``[0, T // 2)``, the second in
      ``[T // 2, T)``, zeros elsewhere.
    - ``y`` ``(1,)`` float32: the sum of the two marked numbers (read the output at the last
      step).

    Loss: MSE. Trivial baseline: predicting the mean ``1`` gives ``trivial_mse = 1/6`` (variance
    of the sum of two independent ``U(0, 1)``); the task counts as solved below
    ``solved_mse = 0.01``.

    Args:
        length: sequence length ``T >= 2``.
        n_samples, seed: see :class:`MemoryTask`.
    """

    trivial_mse = 1.0 / 6.0
    solved_mse = 0.01

    def __init__(self, length: int, n_samples: int, seed: int) -> None:
        super().__init__(n_samples, seed)
        self.length = _check_int("length", length, 2)

    def _generate(self, rng: np.random.Generator, index: int) -> tuple[torch.Tensor, ...]:
        T = self.length
        half = T // 2
        x = np.zeros((T, 2), dtype=np.float32)
        x[:, 0] = rng.random(T)
        i1 = int(rng.integers(0, half))
        i2 = int(rng.integers(half, T))
        x[i1, 1] = x[i2, 1] = 1.0
        y = np.array([x[i1, 0] + x[i2, 0]], dtype=np.float32)
        return torch.from_numpy(x), torch.from_numpy(y)


class DelayedRecallTask(MemoryTask):
    """Delayed recall with "tell / value / ask" channels (Marquardt's course).

    At a random time ``t_tell`` in ``[0, lead)`` the value ``v ~ U(-1, 1)`` is told
    (``tell = 1``, ``value = v``); exactly ``delay`` steps later, at ``t_ask = t_tell + delay``,
    the network is asked (``ask = 1``) and must output ``v`` at that step. Sequences have
    ``T = lead + delay`` steps.

    Item: ``(x, y, mask)``.

    - ``x`` ``(T, 3)`` float32, channels ``(tell, value, ask)``. The value channel is zero except
      at ``t_tell``, or, with ``distractors=True``, holds fresh ``U(-1, 1)`` numbers at every
      other step (the network must then latch the value at the tell signal).
    - ``y`` ``(T, 1)`` float32: ``v`` at ``t_ask``, zero elsewhere.
    - ``mask`` ``(T, 1)`` float32: one at ``t_ask``, zero elsewhere.

    Loss: masked MSE ``sum(mask (out - y)^2) / sum(mask)``. Trivial baseline: predicting 0
    gives ``trivial_mse = Var(v) = 1/3``.

    Args:
        delay: steps between tell and ask, ``>= 1``.
        n_samples, seed: see :class:`MemoryTask`.
        lead: the tell time is uniform in ``[0, lead)``, ``lead >= 1``.
        distractors: random numbers on the value channel away from the tell time.
    """

    trivial_mse = 1.0 / 3.0
    channels = ("tell", "value", "ask")

    def __init__(self, delay: int, n_samples: int, seed: int, *, lead: int = 5,
                 distractors: bool = False) -> None:
        super().__init__(n_samples, seed)
        self.delay = _check_int("delay", delay, 1)
        self.lead = _check_int("lead", lead, 1)
        self.distractors = bool(distractors)
        self.length = self.lead + self.delay

    def _generate(self, rng: np.random.Generator, index: int) -> tuple[torch.Tensor, ...]:
        T = self.length
        t_tell = int(rng.integers(0, self.lead))
        t_ask = t_tell + self.delay
        v = np.float32(rng.uniform(-1.0, 1.0))
        x = np.zeros((T, 3), dtype=np.float32)
        if self.distractors:
            x[:, 1] = rng.uniform(-1.0, 1.0, T)
        x[t_tell, 0] = 1.0
        x[t_tell, 1] = v
        x[t_ask, 2] = 1.0
        y = np.zeros((T, 1), dtype=np.float32)
        mask = np.zeros((T, 1), dtype=np.float32)
        y[t_ask, 0] = v
        mask[t_ask, 0] = 1.0
        return torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(mask)


class CopyTask(MemoryTask):
    """Copy task: reproduce a sequence of symbols after ``delay`` blank steps.

    Input alphabet: symbols ``0 .. n_symbols - 1``, blank ``n_symbols``, delimiter
    ``n_symbols + 1``. A sequence of ``seq_len`` symbols drawn uniformly is followed by
    ``delay`` blanks, one delimiter, and ``seq_len`` blanks during which the network must
    reproduce the symbols. ``T = 2 seq_len + delay + 1``.

    Item: ``(x, y)``.

    - ``x`` ``(T, n_symbols + 2)`` float32 one-hot.
    - ``y`` ``(T,)`` int64 class indices: ``y[seq_len + delay + 1 + k] = symbol k``,
      ``IGNORE_INDEX = -100`` elsewhere.

    Loss: ``F.cross_entropy(logits.reshape(-1, n_symbols), y.reshape(-1))`` (ignores ``-100``)
    on logits ``(batch, T, n_symbols)``. Trivial baseline: the memoryless uniform guess costs
    ``trivial_cross_entropy = log(n_symbols)`` nats per copied symbol.

    Args:
        n_symbols: alphabet size, ``>= 2``.
        seq_len: number of symbols to copy, ``>= 1``.
        delay: blank steps between the sequence and the delimiter, ``>= 1``.
        n_samples, seed: see :class:`MemoryTask`.
    """

    def __init__(self, n_symbols: int, seq_len: int, delay: int, n_samples: int,
                 seed: int) -> None:
        super().__init__(n_samples, seed)
        self.n_symbols = _check_int("n_symbols", n_symbols, 2)
        self.seq_len = _check_int("seq_len", seq_len, 1)
        self.delay = _check_int("delay", delay, 1)
        self.blank = self.n_symbols
        self.delimiter = self.n_symbols + 1
        self.n_inputs = self.n_symbols + 2
        self.length = 2 * self.seq_len + self.delay + 1
        self.trivial_cross_entropy = math.log(self.n_symbols)

    def _generate(self, rng: np.random.Generator, index: int) -> tuple[torch.Tensor, ...]:
        L, T = self.seq_len, self.length
        symbols = rng.integers(0, self.n_symbols, L)
        tokens = np.full(T, self.blank, dtype=np.int64)
        tokens[:L] = symbols
        start = L + self.delay
        tokens[start] = self.delimiter
        x = np.zeros((T, self.n_inputs), dtype=np.float32)
        x[np.arange(T), tokens] = 1.0
        y = np.full(T, IGNORE_INDEX, dtype=np.int64)
        y[start + 1:] = symbols
        return torch.from_numpy(x), torch.from_numpy(y)


class HeavyParticleTask(MemoryTask):
    """Forecast the observed ``(X, P)`` of a heavy particle in a hidden Ohmic bath.

    At construction, ``ceil(n_samples / windows_per_traj)`` thermal trajectories of
    ``get_system("heavy_particle_bath", **bath_params)`` are integrated once with
    :func:`~physrnn.data.simulate.simulate` (seed ``seed``), each cut into ``windows_per_traj``
    consecutive non-overlapping windows of ``context + horizon`` steps. Item ``i`` is window
    ``i % windows_per_traj`` of trajectory ``i // windows_per_traj``, so it depends only on
    ``(seed, i)`` and the parameters.

    Normalisation uses the exact Boltzmann statistics at ``kT`` (not the sample, so different
    seeds share it): ``z = (obs - mean) / std`` with ``mean = 0`` and
    ``std = (sqrt(<X^2>), sqrt(M kT))``; ``<X^2> = kT / k`` (harmonic) or from
    ``exp(-U / kT)`` by quadrature (double well). Un-normalise with ``self.mean``, ``self.std``.

    Item: ``(x, y)``.

    - ``x`` ``(context, 2)`` float32: normalised ``(X, P)`` over the context.
    - ``y`` ``(horizon, 2)`` float32: normalised ``(X, P)`` over the next ``horizon`` steps.

    Loss: MSE over horizon and both channels. Trivial baseline: persistence (repeat the last
    context value); ``trivial_mse`` is its MSE over this dataset, computed at construction.
    Predicting the mean gives about 1 (``zero_mse``, also computed).

    Args:
        n_samples: number of windows.
        context: input steps, ``>= 1``.
        horizon: target steps, ``>= 1``.
        seed: simulation seed.
        dt: sampling interval (default: the system's, 0.1).
        windows_per_traj: windows cut from each trajectory, ``>= 1``.
        **bath_params: fields of :class:`~physrnn.systems.bath.BathParams`.
    """

    def __init__(self, n_samples: int, context: int, horizon: int, seed: int, *,
                 dt: float | None = None, windows_per_traj: int = 8,
                 **bath_params: Any) -> None:
        from physrnn.data.simulate import simulate
        from physrnn.systems import get_system

        super().__init__(n_samples, seed)
        self.context = _check_int("context", context, 1)
        self.horizon = _check_int("horizon", horizon, 1)
        self.windows_per_traj = _check_int("windows_per_traj", windows_per_traj, 1)
        self.system = get_system("heavy_particle_bath", **bath_params)
        self.window = self.context + self.horizon
        n_traj = -(-self.n_samples // self.windows_per_traj)
        self.n_traj = n_traj
        sim = simulate(self.system, n_traj=n_traj, n_t=self.windows_per_traj * self.window,
                       dt=dt, seed=self.seed, progress=False, record_invariants=False)
        self.dt = float(sim.meta["dt"])
        self.mean, self.std = _equilibrium_scale(self.system.params)
        z = (sim.y - self.mean.numpy()) / self.std.numpy()
        windows = z.reshape(n_traj * self.windows_per_traj, self.window, 2)[: self.n_samples]
        self._windows = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))
        ctx, fut = windows[:, : self.context], windows[:, self.context:]
        self.trivial_mse = float(np.mean((fut - ctx[:, -1:, :]) ** 2))
        self.zero_mse = float(np.mean(fut**2))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        w = self._windows[self._index(index)]
        return w[: self.context].clone(), w[self.context:].clone()


def _equilibrium_scale(params: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Boltzmann mean ``(2,)`` and std ``(2,)`` of ``(X, P)`` at ``kT`` (both potentials even)."""
    from physrnn.systems.bath import potential

    kT, M = float(params.kT), float(params.M)
    if params.potential == "harmonic":
        var_x = kT / float(params.k)
    else:
        x_max = float(params.x0) * math.sqrt(1.0 + math.sqrt(40.0 * kT / float(params.V0)))
        grid = np.linspace(-x_max, x_max, 20001)
        U, _, _ = potential(grid, params)
        w = np.exp(-(U - U.min()) / kT)
        var_x = float(np.sum(grid**2 * w) / np.sum(w))
    mean = torch.zeros(2, dtype=torch.float64)
    std = torch.tensor([math.sqrt(var_x), math.sqrt(M * kT)], dtype=torch.float64)
    return mean, std


TASKS: dict[str, type[MemoryTask]] = {
    "adding": AddingTask,
    "recall": DelayedRecallTask,
    "copy": CopyTask,
    "heavy_particle": HeavyParticleTask,
}

_DELAY_ARG = {"adding": "length", "recall": "delay", "copy": "delay", "heavy_particle": "context"}


def make_task(name: str, *, delay: int, n_samples: int, seed: int, **kw: Any) -> MemoryTask:
    """Build task ``name`` from :data:`TASKS` with the generic memory length ``delay``.

    ``delay`` becomes the adding task's ``length``, the recall and copy tasks' ``delay``, and the
    heavy-particle task's ``context``. Other task arguments go in ``kw`` (e.g. ``n_symbols=8,
    seq_len=10`` for ``"copy"``; ``horizon=10`` and bath parameters for ``"heavy_particle"``).
    """
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {sorted(TASKS)}")
    _check_int("delay", delay, 1)
    key = _DELAY_ARG[name]
    if key in kw:
        raise ValueError(f"give the {name} task's {key!r} as delay=, not as a keyword")
    if name == "copy":
        kw.setdefault("n_symbols", 8)
        kw.setdefault("seq_len", 10)
    if name == "heavy_particle":
        kw.setdefault("horizon", 10)
    kw[key] = delay
    return TASKS[name](n_samples=n_samples, seed=seed, **kw)
