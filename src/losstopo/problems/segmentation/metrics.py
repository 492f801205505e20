"""Loss and scores of 3-class pixel segmentation (pet, background, border)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

N_CLASSES = 3


def predicted_classes(logits: torch.Tensor) -> torch.Tensor:
    """Each pixel's arg-max class (the first on ties, as ``argmax``). ``max(dim=1)`` returns
    the same indices as ``argmax(dim=1)``, and on a CPU reduces across the three class maps
    about 10x faster (argmax alone cost a landscape point 12 of its 68 ms)."""
    return logits.max(dim=1).indices


def pixel_loss(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over every pixel of every image (3 classes)."""
    return F.cross_entropy(logits, masks)


def pixel_accuracy(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Fraction of pixels whose arg-max class is right (differentiable inputs, no grad)."""
    return (predicted_classes(logits) == masks).to(logits.dtype).mean()


def confusion_matrix(logits: torch.Tensor, masks: torch.Tensor) -> np.ndarray:
    """Counts[true, predicted] over all pixels, for pixel accuracy and IoU over a dataset."""
    pred = predicted_classes(logits).reshape(-1).cpu()
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
