"""The one seam between problems and analysis: a scalar loss as a pure function of parameters.

Everything after training (Hessian-vector products, eigen-solvers, landscape sampling)
consumes an :class:`Objective` and never learns which problem produced it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

Params = dict[str, torch.Tensor]


@dataclass
class Objective:
    """Loss ``L(θ)`` on fixed data, with θ as a dict in ``named_parameters()`` order.

    ``loss_fn`` must be functional (built on ``torch.func.functional_call``) so that it
    can be differentiated with ``torch.func.grad``/``jvp`` and batched with ``vmap``.
    """

    model: nn.Module
    params: Params
    loss_fn: Callable[[Params], torch.Tensor]
    description: str
    metadata: dict[str, object] = field(default_factory=dict)
    batched_loss_fn: Callable[[torch.Tensor], torch.Tensor] | None = None
    """Optional fast path: losses at a stack of flat parameter vectors (M × P) → (M,).
    When absent, batched evaluation uses ``vmap`` over ``loss_fn``."""
    subspace_loss_fn: (
        Callable[[torch.Tensor, torch.Tensor], Callable[[torch.Tensor], torch.Tensor]] | None
    ) = None
    """Optional fast path for landscapes: ``subspace_loss_fn(theta, directions)`` (flat θ of
    P entries, directions n × P) returns a function of displacements α (M × n) → the losses at
    θ + αD (M,). Built once per set of directions, it lets a problem precompute what is affine
    in α (e.g. a first layer on fixed inputs). When absent, ``batched_loss_fn`` (or ``vmap``)
    runs on the points θ + αD."""
    evaluate_fn: Callable[[Params], tuple[torch.Tensor, torch.Tensor]] | None = None
    """Optional: the loss and a second scalar (``metric_name``, e.g. pixel accuracy) from one
    forward pass, so a landscape can record both without evaluating the model twice."""
    metric_name: str | None = None

    @classmethod
    def from_module(
        cls,
        model: nn.Module,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        batch: tuple[torch.Tensor, torch.Tensor],
        description: str | None = None,
    ) -> Objective:
        """The loss ``loss_fn(model(inputs), targets)`` on one fixed batch, as a function of
        the model's parameters (its current values are θ).

        The model is put in eval mode: BatchNorm uses its running statistics, which stay
        fixed, so the objective is a pure function of the parameters (as the landscapes of
        the paper assume). Buffers are taken from the module as they are.
        """
        from torch.func import functional_call

        inputs, targets = batch
        model = model.eval()
        params = {name: p.detach().clone() for name, p in model.named_parameters()}

        def loss(p: Params) -> torch.Tensor:
            return loss_fn(functional_call(model, p, (inputs,)), targets)

        text = description or (
            f"{type(model).__name__} loss {getattr(loss_fn, '__name__', 'loss')} on a fixed "
            f"batch of {len(inputs)} examples (eval mode)"
        )
        return cls(model, params, loss, text)

    def __call__(self, params: Params | None = None) -> torch.Tensor:
        """Evaluate the loss at ``params`` (θ when omitted)."""
        return self.loss_fn(self.params if params is None else params)

    @property
    def parameter_names(self) -> list[str]:
        return list(self.params)

    @property
    def parameter_shapes(self) -> list[list[int]]:
        return [list(p.shape) for p in self.params.values()]

    @property
    def n_parameters(self) -> int:
        return sum(math.prod(p.shape) for p in self.params.values())

    def flatten(self, params: Params) -> torch.Tensor:
        """Concatenate a parameter dict into one vector in ``named_parameters()`` order."""
        return torch.cat([params[name].reshape(-1) for name in self.params])

    def unflatten(self, vector: torch.Tensor) -> Params:
        """Split a flat vector back into a parameter dict shaped like θ."""
        if vector.shape[-1] != self.n_parameters:
            raise ValueError(
                f"vector has {vector.shape[-1]} entries, the model has {self.n_parameters}"
            )
        out: Params = {}
        offset = 0
        for name, ref in self.params.items():
            size = ref.numel()
            shape = (*vector.shape[:-1], *ref.shape)  # () for scalar parameters
            out[name] = vector[..., offset : offset + size].reshape(shape)
            offset += size
        return out

    def theta(self) -> torch.Tensor:
        """θ as one flat vector."""
        return self.flatten(self.params)
