"""Small networks shared by the tests' dense-Hessian oracles."""

from __future__ import annotations

import torch


def batchnorm_classifier() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """Conv → BatchNorm → ReLU → Linear (float64) with non-trivial running statistics, in
    eval mode, and a batch of six 5×5 images with labels."""
    torch.manual_seed(2)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 3, 3, padding=1),
        torch.nn.BatchNorm2d(3),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(3 * 5 * 5, 2),
    ).double()
    images = torch.randn(6, 1, 5, 5, dtype=torch.float64)
    labels = torch.tensor([0, 1, 0, 1, 1, 0])
    model.train()
    model(images * 3 + 1)  # give the running statistics non-trivial values
    model.eval()
    return model, images, labels
