"""The segmentation problem's registry entry: rebuilds the UNet-CRF of a checkpoint and the
objective the analysis stages see (the loss on one fixed batch of training images)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, replace_all_batch_norm_modules_

from losstopo.errors import LosstopoError
from losstopo.objective import Objective, Params
from losstopo.problems import register
from losstopo.problems.segmentation.config import UNetConfig, build_model
from losstopo.problems.segmentation.metrics import pixel_accuracy, pixel_loss

BN_MODES = ("eval", "batch")


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
        from losstopo.problems.segmentation.pets import load_pets

        if bn_mode not in BN_MODES:
            raise LosstopoError(f"unknown bn_mode {bn_mode!r} (choose {', '.join(BN_MODES)})")
        config = UNetConfig.from_hparams(checkpoint["hparams"])
        root = Path(data_dir or config.data_dir)
        data = load_pets(root, "trainval", config.image_size, config.limit_trainval or None)
        index = fixed_batch_indices(len(data.names), batch_size, batch_seed)
        images = data.network_inputs(torch.as_tensor(index), device, dtype)
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
