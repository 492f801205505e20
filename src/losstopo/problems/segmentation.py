"""UNet-CRF segmentation of Oxford-IIIT Pet: configuration, loss, metrics and
the objective the analysis stages see (the loss on one fixed batch of training images)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, replace_all_batch_norm_modules_

from losstopo.errors import LosstopoError
from losstopo.objective import Objective, Params
from losstopo.problems import register

N_CLASSES = 3
BN_MODES = ("eval", "batch")


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
    from losstopo.models.unet import build_unet

    return build_unet(config.model_hparams())


def pixel_loss(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over every pixel of every image (3 classes)."""
    return F.cross_entropy(logits, masks)


def pixel_accuracy(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Fraction of pixels whose arg-max class is right (differentiable inputs, no grad)."""
    return (logits.argmax(dim=1) == masks).to(logits.dtype).mean()


def confusion_matrix(logits: torch.Tensor, masks: torch.Tensor) -> np.ndarray:
    """Counts[true, predicted] over all pixels, for pixel accuracy and IoU over a dataset."""
    pred = logits.argmax(dim=1).reshape(-1).cpu()
    true = masks.reshape(-1).cpu()
    counts = torch.bincount(true * N_CLASSES + pred, minlength=N_CLASSES**2)
    return counts.reshape(N_CLASSES, N_CLASSES).numpy().astype(np.int64)


def scores(confusion: np.ndarray) -> dict[str, float]:
    """Pixel accuracy and mean IoU (over classes present in truth or prediction)."""
    total = confusion.sum()
    accuracy = float(np.trace(confusion) / total) if total else float("nan")
    tp = np.diag(confusion).astype(np.float64)
    union = confusion.sum(0) + confusion.sum(1) - tp
    present = union > 0
    miou = float(np.mean(tp[present] / union[present])) if present.any() else float("nan")
    return {"pixel_accuracy": accuracy, "miou": miou}


def fixed_batch_indices(n_images: int, size: int, seed: int) -> np.ndarray:
    """The training images of the landscape batch: ``size`` distinct indices drawn with
    ``seed``, sorted, so every checkpoint of every run is judged on the same images."""
    if size < 1:
        raise LosstopoError(f"objective batch size must be >= 1, got {size}")
    size = min(size, n_images)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_images, size=size, replace=False))


class SegmentationProblem:
    """Registry entry: rebuilds the UNet-CRF and its loss on a fixed training batch."""

    name = "segmentation"
    table_metrics = ("test_pixel_accuracy", "test_miou", "test_loss")

    def table_fields(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
        return {
            "lr": float(checkpoint["hparams"]["lr"]),
            "seed": int(checkpoint["seed"]),
            "epoch": int(checkpoint["epoch"]),
        }

    def build_model(self, hparams: dict[str, Any]) -> nn.Module:
        return build_model(UNetConfig.from_hparams(hparams))

    def objective(
        self,
        checkpoint: dict[str, Any],
        device: torch.device,
        dtype: torch.dtype,
        bn_mode: str = "eval",
        batch_size: int = 32,
        batch_seed: int = 0,
        data_dir: str | None = None,
    ) -> Objective:
        """The cross-entropy of the checkpoint's model on ``batch_size`` fixed training
        images; pixel accuracy is the objective's metric.

        ``bn_mode="eval"`` uses BatchNorm's running statistics (a pure function of the
        parameters); ``"batch"`` normalises with the fixed batch's own statistics.
        """
        from losstopo.data.pets import load_pets

        if bn_mode not in BN_MODES:
            raise LosstopoError(f"unknown bn_mode {bn_mode!r} (choose {', '.join(BN_MODES)})")
        config = UNetConfig.from_hparams(checkpoint["hparams"])
        root = Path(data_dir or config.data_dir)
        data = load_pets(root, "trainval", config.image_size, config.limit_trainval or None)
        index = fixed_batch_indices(len(data.names), batch_size, batch_seed)
        images = data.normalized(torch.as_tensor(index)).to(device=device, dtype=dtype)
        masks = data.masks[torch.as_tensor(index)].long().to(device)

        model = self.build_model(checkpoint["hparams"])
        model.load_state_dict(checkpoint["state_dict"])
        model = model.to(device=device, dtype=dtype).eval()
        if bn_mode == "batch":  # the model is this objective's own copy
            replace_all_batch_norm_modules_(model)
        params = {name: p.detach().clone() for name, p in model.named_parameters()}

        def loss_fn(p: Params) -> torch.Tensor:
            return pixel_loss(functional_call(model, p, (images,)), masks)

        def evaluate_fn(p: Params) -> tuple[torch.Tensor, torch.Tensor]:
            logits = functional_call(model, p, (images,))
            return pixel_loss(logits, masks), pixel_accuracy(logits, masks)

        kind = "synthetic " if data.synthetic else ""
        description = (
            f"UNet-CRF pixel cross-entropy on a fixed batch of {len(index)} {kind}Oxford-IIIT "
            f"Pet training images from {root} (batch_seed={batch_seed}, first indices "
            f"{index[:8].tolist()}), {config.image_size}x{config.image_size}, "
            f"BatchNorm {'running' if bn_mode == 'eval' else 'batch'} statistics"
        )
        metadata = {
            **config.hparams(),
            "bn_mode": bn_mode,
            "objective_batch_size": len(index),
            "objective_batch_seed": batch_seed,
            "synthetic_data": bool(data.synthetic),
        }
        return Objective(
            model,
            params,
            loss_fn,
            description,
            metadata=metadata,
            evaluate_fn=evaluate_fn,
            metric_name="pixel_accuracy",
        )


register(SegmentationProblem())
