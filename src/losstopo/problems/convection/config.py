"""What defines one convection PINN run besides the seed, and the network it trains."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from losstopo.errors import LosstopoError
from losstopo.problems.convection.mlp import MLP
from losstopo.runtime import resolve_dtype

DEFAULT_HIDDEN = [50, 50, 50, 50]
OPTIMIZERS = ("lbfgs", "adam")


@dataclass(frozen=True)
class PINNConfig:
    """Everything that defines one PINN training run besides the seed."""

    beta: float
    lr: float
    optimizer: str = "lbfgs"
    iterations: int = 1000
    n_f: int = 100
    collocation_seed: int = 0
    hidden: tuple[int, ...] = tuple(DEFAULT_HIDDEN)
    activation: str = "tanh"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if not math.isfinite(self.beta) or self.beta < 0:
            raise LosstopoError(f"beta must be a finite number >= 0, got {self.beta}")
        if not math.isfinite(self.lr) or self.lr <= 0:
            raise LosstopoError(f"lr must be a finite number > 0, got {self.lr}")
        if self.optimizer not in OPTIMIZERS:
            raise LosstopoError(
                f"unknown optimizer {self.optimizer!r} (choose {', '.join(OPTIMIZERS)})"
            )
        if self.iterations < 1:
            raise LosstopoError(f"iterations must be >= 1, got {self.iterations}")
        if not self.hidden or any(width < 1 for width in self.hidden):
            raise LosstopoError(f"hidden layer widths must be >= 1, got {list(self.hidden)}")
        resolve_dtype(self.dtype)

    def hparams(self) -> dict[str, Any]:
        """Plain-value dict stored in the checkpoint (loadable with ``weights_only=True``)."""
        return {
            "beta": float(self.beta),
            "lr": float(self.lr),
            "optimizer": self.optimizer,
            "iterations": int(self.iterations),
            "n_f": int(self.n_f),
            "collocation_seed": int(self.collocation_seed),
            "hidden": [int(w) for w in self.hidden],
            "activation": self.activation,
            "dtype": self.dtype,
        }

    @classmethod
    def from_hparams(cls, hparams: dict[str, Any]) -> PINNConfig:
        return cls(**{**hparams, "hidden": tuple(hparams["hidden"])})


def build_model(config: PINNConfig) -> MLP:
    return MLP(2, list(config.hidden), 1, config.activation)
