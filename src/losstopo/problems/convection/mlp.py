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


# tanh(20) rounds to exactly 1.0 in float32 and float64: a hidden unit with weight 0 and
# bias 20 therefore carries the constant 1 that the next layer's bias row multiplies.
_ONE_PREACTIVATION = 20.0


def stacked_forward(
    model: MLP,
    params: dict[str, torch.Tensor],
    x: torch.Tensor,
    tangent_rows: int = 0,
    tangent: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Evaluate a tanh MLP for a stack of M parameter sets at once, with an optional
    forward-mode tangent for the last ``tangent_rows`` inputs.

    ``params`` holds tensors with a leading stack axis (``weight``: M × out × in). Each
    layer is one batched matrix product with the bias folded in: activations carry a
    trailing unit equal to exactly 1 (``tanh(20)`` in floating point), so no bias is
    broadcast, copied or added separately, and ``tanh`` runs in place on contiguous
    memory. The tangent is propagated exactly (``dz = dx Wᵀ``, ``d tanh z = (1 − tanh² z)
    dz``; the constant unit has tangent 0). Returns ``u`` (M × N × out) and the tangent of
    ``u`` on the last ``tangent_rows`` rows, or None. This is the batched equivalent of
    ``vmap(functional_call)`` + ``jvp`` used for landscapes.
    """
    names = [name for name, m in model.layers.named_children() if isinstance(m, nn.Linear)]
    if model.layers[1].__class__ is not nn.Tanh and len(names) > 1:
        raise ValueError("stacked_forward supports tanh MLPs only")
    stack = params[f"layers.{names[0]}.weight"].shape[0]
    n_rows, dtype, device = x.shape[0], x.dtype, x.device
    h = torch.ones(stack, n_rows, x.shape[1] + 1, dtype=dtype, device=device)
    h[..., :-1] = x
    dh = None
    if tangent is not None:
        dh = torch.zeros(stack, tangent_rows, x.shape[1] + 1, dtype=dtype, device=device)
        dh[..., :-1] = tangent
    for index, name in enumerate(names):
        weight = params[f"layers.{name}.weight"]  # (M, out, in)
        bias = params[f"layers.{name}.bias"]  # (M, out)
        last = index == len(names) - 1
        n_out = weight.shape[1] + (0 if last else 1)
        augmented = torch.zeros(stack, weight.shape[2] + 1, n_out, dtype=dtype, device=device)
        augmented[:, :-1, : weight.shape[1]] = weight.transpose(1, 2)
        augmented[:, -1, : weight.shape[1]] = bias
        if not last:
            augmented[:, -1, -1] = _ONE_PREACTIVATION
        z = torch.bmm(h, augmented)
        dz = torch.bmm(dh, augmented) if dh is not None else None
        if last:
            return z, dz
        h = torch.tanh_(z)
        if dz is not None:
            dh = dz.mul_(1 - h[:, n_rows - tangent_rows :] ** 2)
    raise ValueError("model has no linear layers")
