"""The data and the model of the own-model example: three noisy spirals and a tanh MLP.

Both the training script and the objective factory import this module, so the network that
``losstopo`` analyses is rebuilt exactly as it was trained, on exactly the same data. It is
self-contained (no losstopo import): this folder is meant to be copied as the starting point
for your own models.
"""

from __future__ import annotations

import numpy as np
import torch

N_PER_CLASS = 100
"""Training points per class (300 in all): enough for the spirals to be learnable, few enough
that full-batch L-BFGS and every Hessian-vector product of the analysis stay fast."""
DATA_SEED = 0
"""Seed of the training draw; the checkpoints record it so the objective uses the same data."""
TEST_SEED = 1
"""Seed of the held-out draw: a different sample of the same distribution."""
HIDDEN = 10


def spirals(n_per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Three interleaved noisy spirals in the plane (float64 points, int64 labels), with 10 %
    of the labels redrawn so that no network fits the data exactly: the trained weights sit
    in a basin of non-zero loss, as in real tasks."""
    rng = np.random.default_rng(seed)
    points, labels = [], []
    for label in range(3):
        radius = np.linspace(0.1, 1.0, n_per_class)
        angle = radius * 4.0 + label * 2 * np.pi / 3 + rng.normal(0, 0.35, n_per_class)
        points.append(np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1))
        labels.append(np.full(n_per_class, label))
    x = torch.as_tensor(np.concatenate(points), dtype=torch.float64)
    y = np.concatenate(labels)
    flip = rng.random(len(y)) < 0.1
    y[flip] = rng.integers(0, 3, flip.sum())
    return x, torch.as_tensor(y, dtype=torch.int64)


def make_model(hidden: int = HIDDEN) -> torch.nn.Sequential:
    """The classifier 2 → hidden → hidden → 3 with tanh activations, in float64. Its weights
    are drawn from torch's global generator: seed it first (``torch.manual_seed``)."""
    return torch.nn.Sequential(
        torch.nn.Linear(2, hidden),
        torch.nn.Tanh(),
        torch.nn.Linear(hidden, hidden),
        torch.nn.Tanh(),
        torch.nn.Linear(hidden, 3),
    ).double()


def accuracy(model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of ``inputs`` whose predicted class (largest logit) is the target."""
    with torch.no_grad():
        return float((model(inputs).argmax(dim=1) == targets).double().mean())
