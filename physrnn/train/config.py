"""Config of a forecasting run (``physrnn train``): data, model, training, evaluation, run.

Example (``examples/forecast_lorenz63.toml``)::

    [data]
    card = "datasets/lorenz63.toml"   # generated into the output directory if path is empty
    context = 100
    horizon = 50

    [model]
    cell = "gru"
    hidden_size = 128

    [train]
    epochs = 30
    rollout_k_max = 50

    [readout]
    features = "quadratic"            # ridge read-out refit after training ("none": keep)

    [eval]
    baselines = ["persistence", "mean", "linear", "esn"]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from physrnn.config import RunConfig, require

__all__ = ["DataConfig", "ModelConfig", "TrainConfig", "ReadoutConfig", "EvalConfig",
           "TrainRunConfig"]


@dataclass(frozen=True)
class DataConfig:
    """Where the trajectories come from and how they are cut into windows (in samples)."""

    path: str = ""
    card: str = ""
    card_overrides: list[str] = field(default_factory=list)
    context: int = 100
    horizon: int = 50
    stride: int = 10
    batch_size: int = 64
    num_workers: int = 0

    def __post_init__(self) -> None:
        require(bool(self.path) or bool(self.card), "path",
                 "give a dataset file (data.path) or a dataset card (data.card)")
        require(self.context >= 1, "context", f"must be >= 1, got {self.context}")
        require(self.horizon >= 1, "horizon", f"must be >= 1, got {self.horizon}")
        require(self.stride >= 1, "stride", f"must be >= 1, got {self.stride}")
        require(self.batch_size >= 1, "batch_size", f"must be >= 1, got {self.batch_size}")
        require(self.num_workers >= 0, "num_workers", f"must be >= 0, got {self.num_workers}")


@dataclass(frozen=True)
class ModelConfig:
    """The recurrent forecaster."""

    cell: Literal["gru", "lstm", "rnn"] = "gru"
    hidden_size: int = 128
    n_layers: int = 1
    dropout: float = 0.0
    predict_increments: bool = True
    dtype: Literal["float32", "float64"] = "float32"
    #: local (parallel) model for a 1D periodic field: sites per patch, 0 = one global model
    #: (:class:`physrnn.nn.local.LocalRecurrentForecaster`; must divide the field's size)
    patch: int = 0
    #: neighbours each patch reads on each side (local models only)
    overlap: int = 0

    def __post_init__(self) -> None:
        require(self.hidden_size >= 1, "hidden_size", f"must be >= 1, got {self.hidden_size}")
        require(self.patch >= 0, "patch", f"must be >= 0 (0 = global model), got {self.patch}")
        require(self.overlap >= 0, "overlap", f"must be >= 0, got {self.overlap}")
        require(self.patch > 0 or self.overlap == 0, "overlap",
                "needs a local model (set model.patch > 0)")
        require(self.n_layers >= 1, "n_layers", f"must be >= 1, got {self.n_layers}")
        require(0.0 <= self.dropout < 1.0, "dropout", f"must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation: Adam, schedule, clipping, teacher forcing -> rollout curriculum."""

    epochs: int = 30
    lr: float = 1e-3
    lr_schedule: Literal["constant", "cosine", "exponential"] = "cosine"
    lr_final: float = 1e-5
    weight_decay: float = 0.0
    clip_grad_norm: float = 1.0
    rollout_start_epoch: int = 5
    rollout_end_epoch: int = 20
    rollout_k_max: int = 50
    tbptt: int = 0
    patience: int = 0
    amp: bool = False

    def __post_init__(self) -> None:
        require(self.epochs >= 1, "epochs", f"must be >= 1, got {self.epochs}")
        require(self.lr > 0, "lr", f"must be > 0, got {self.lr}")
        require(self.lr_final > 0, "lr_final", f"must be > 0, got {self.lr_final}")
        require(self.weight_decay >= 0, "weight_decay",
                 f"must be >= 0 (0 = none), got {self.weight_decay}")
        require(self.clip_grad_norm >= 0, "clip_grad_norm", "must be >= 0 (0 = off)")
        require(self.rollout_k_max >= 1, "rollout_k_max", "must be >= 1")
        require(self.rollout_end_epoch >= self.rollout_start_epoch, "rollout_end_epoch",
                 "must be >= rollout_start_epoch")
        require(self.tbptt >= 0, "tbptt", "must be >= 0 (0 = full BPTT)")
        require(self.patience >= 0, "patience", "must be >= 0 (0 = no early stopping)")


@dataclass(frozen=True)
class ReadoutConfig:
    """Ridge-regression refit of the read-out after training (:mod:`physrnn.train.readout`).

    ``features``: ``"none"`` keeps the gradient-trained read-out; ``"linear"`` refits it on
    ``h``; ``"quadratic"`` on ``[h, h_i h_j, x]`` (the one that forecasts chaotic flows far).
    The ridge is chosen from ``ridges`` by closed-loop forecasts on the validation split;
    ``washout`` steps start every training trajectory and are not fitted.
    Cost (quadratic): one QR per training trajectory, ~2 (n_t + p) p^2 flops with
    ``p ~ hidden_size^2 / 2`` (8388 at 128: ~75 s per 25 000-step trajectory on one core, ~5 GB),
    then an SVD of ``p x p`` (~4 min at 128): long trajectories make it a run's longest stage.
    """

    features: Literal["none", "linear", "quadratic"] = "none"
    ridges: list[float] = field(default_factory=lambda: [0.0, 1e-16, 1e-14, 1e-12, 1e-10,
                                                               1e-8, 1e-6])
    washout: int = 100

    def __post_init__(self) -> None:
        require(len(self.ridges) >= 1 and all(r >= 0 for r in self.ridges), "ridges",
                 f"must be a non-empty list of numbers >= 0, got {self.ridges}")
        require(self.washout >= 0, "washout", f"must be >= 0, got {self.washout}")


@dataclass(frozen=True)
class EvalConfig:
    """Scoring on the test split: forecasts from many initial conditions, long free runs.

    Cost: each model forecasts ``n_test`` windows of ``horizon_lyapunov / (lambda dt)`` steps
    (14 000 for Rossler at dt = 0.01), one step at a time; the esn baseline fits
    ``esn_configs`` reservoirs on the whole train split, each an SVD of rows x 504.
    """

    n_test: int = 25
    horizon_lyapunov: float = 10.0
    threshold: float = 0.4
    baselines: list[str] = field(default_factory=lambda: ["persistence", "mean", "linear",
                                                          "esn"])
    esn_configs: int = 16
    free_run_steps: int = 5000

    def __post_init__(self) -> None:
        require(self.n_test >= 1, "n_test", f"must be >= 1, got {self.n_test}")
        require(self.horizon_lyapunov > 0, "horizon_lyapunov", "must be > 0")
        require(self.threshold > 0, "threshold", "must be > 0")
        require(self.esn_configs >= 1, "esn_configs",
                 f"must be >= 1 (reservoirs tried by the esn baseline), got {self.esn_configs}")
        require(self.free_run_steps >= 0, "free_run_steps", "must be >= 0")


@dataclass(frozen=True)
class TrainRunConfig:
    """Everything a ``physrnn train`` run needs; stored in full in every record."""

    data: DataConfig = field(default_factory=lambda: DataConfig(card="datasets/lorenz63.toml"))
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    readout: ReadoutConfig = field(default_factory=ReadoutConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    run: RunConfig = field(default_factory=RunConfig)
