"""What defines one UNet-CRF training run on Oxford-IIIT Pet besides the seed, and the
network it trains."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from torch import nn

from losstopo.errors import LosstopoError
from losstopo.problems.segmentation.metrics import N_CLASSES


@dataclass(frozen=True)
class UNetConfig:
    """Everything that defines one UNet training run besides the seed (plain values only,
    so the dict stored in each checkpoint loads with ``weights_only=True``)."""

    data_dir: str
    lr: float
    epochs: int = 30
    batch_size: int = 32
    image_size: int = 224
    width: int = 16
    depth: int = 5
    crf_iterations: int = 5
    crf_taps: int = 11
    crf_bilateral: bool = False
    weight_decay: float = 0.01
    step_size: int = 20
    gamma: float = 0.1
    limit_trainval: int = 0  # 0 = every image of the split
    limit_test: int = 0

    def __post_init__(self) -> None:
        if not math.isfinite(self.lr) or self.lr <= 0:
            raise LosstopoError(f"lr must be a finite number > 0, got {self.lr}")
        for name in ("epochs", "batch_size", "image_size", "width", "depth", "step_size"):
            if getattr(self, name) < 1:
                raise LosstopoError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.crf_iterations < 0:
            raise LosstopoError(f"crf_iterations must be >= 0, got {self.crf_iterations}")
        if self.crf_taps < 1 or self.crf_taps % 2 == 0:
            raise LosstopoError(f"crf_taps must be odd and >= 1, got {self.crf_taps}")
        if self.image_size < 2 ** (self.depth - 1):
            raise LosstopoError(
                f"image_size {self.image_size} is too small for depth {self.depth} "
                f"(needs >= {2 ** (self.depth - 1)})"
            )
        if not (0 < self.gamma <= 1):
            raise LosstopoError(f"gamma must be in (0, 1], got {self.gamma}")
        if self.weight_decay < 0:
            raise LosstopoError(f"weight_decay must be >= 0, got {self.weight_decay}")

    def hparams(self) -> dict[str, Any]:
        return {k: (str(v) if k == "data_dir" else v) for k, v in asdict(self).items()}

    @classmethod
    def from_hparams(cls, hparams: dict[str, Any]) -> UNetConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in hparams.items() if k in known})

    def model_hparams(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "depth": self.depth,
            "n_classes": N_CLASSES,
            "crf_iterations": self.crf_iterations,
            "crf_taps": self.crf_taps,
            "crf_bilateral": self.crf_bilateral,
        }


def build_model(config: UNetConfig) -> nn.Module:
    from losstopo.problems.segmentation.unet import build_unet

    return build_unet(config.model_hparams())
