"""Small networks shared by the tests' dense-Hessian oracles."""

from __future__ import annotations

from collections.abc import Callable

import torch

from losstopo.objective import Objective


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


def trained_unet_crf(steps: int = 300) -> Callable[[torch.dtype], Objective]:
    """A UNet with its mean-field CRF (width 2, depth 2: 509 parameters) fitted by Adam to
    four random 8×8 images with a three-class labelling of their first two channels, in eval
    mode. Returns a factory of its objective in a given dtype (the same weights)."""
    import torch.nn.functional as F

    from losstopo.problems.segmentation.unet import build_unet

    torch.manual_seed(7)
    hparams = {"width": 2, "depth": 2}
    model = build_unet(hparams).double()
    images = torch.randn(4, 3, 8, 8, dtype=torch.float64)
    labels = (images[:, 0] > 0).long() + (images[:, 1] > 0.5).long()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(model(images), labels).backward()
        optimizer.step()
    model.eval()

    def objective(dtype: torch.dtype) -> Objective:
        copy = build_unet(hparams)
        copy.load_state_dict(model.state_dict())
        copy = copy.to(dtype)
        return Objective.from_module(copy, F.cross_entropy, (images.to(dtype), labels))

    return objective
