"""Fully connected network of the convection PINN (Krishnapriyan et al. 2021)."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU}


class MLP(nn.Module):
    """``in → hidden… → out`` with an activation between layers and PyTorch default init.

    Parameter names are ``layers.layer_<i>.weight|bias``; they define the order of the
    flat parameter vector that Hessian and landscape files refer to.
    """

    def __init__(self, n_in: int, hidden: list[int], n_out: int, activation: str = "tanh"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r} (choose {', '.join(ACTIVATIONS)})")
        sizes = [n_in, *hidden, n_out]
        layers: list[tuple[str, nn.Module]] = []
        for i in range(len(sizes) - 1):
            layers.append((f"layer_{i}", nn.Linear(sizes[i], sizes[i + 1])))
            if i < len(sizes) - 2:
                layers.append((f"activation_{i}", ACTIVATIONS[activation]()))
        self.layers = nn.Sequential(OrderedDict(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)
