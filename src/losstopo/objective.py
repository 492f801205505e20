"""The one seam between problems and analysis: a scalar loss as a pure function of parameters.

Everything after training (Hessian-vector products, eigen-solvers, landscape sampling)
consumes an :class:`Objective` and never learns which problem produced it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

from losstopo.errors import LosstopoError

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
    probe_fn: Callable[[Params], torch.Tensor] | None = None
    """Optional: the loss on the part of the data that one evaluation holds in memory at
    once (the largest batch of a loader), from which landscapes size their chunks of points.
    When absent, that is the whole loss."""

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

    @classmethod
    def from_loader(
        cls,
        model: nn.Module,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        loader: Iterable,
        description: str | None = None,
    ) -> Objective:
        """The mean of ``loss_fn(model(inputs), targets)`` over every example of ``loader``
        (a ``DataLoader`` or any re-iterable of ``(inputs, targets)`` batches), exactly: each
        batch's mean is weighted by its size, so uneven batches give the loss of the whole
        dataset as one batch, while only one batch is in memory at a time.

        ``loss_fn`` must return the batch mean (``reduction="mean"``). The loader is read
        once here to count its examples and then once per loss, gradient, Hessian-vector
        product and chunk of landscape points; it must yield the same batches every time
        (no shuffling). Floating-point data are cast to the parameters' dtype and all data
        moved to their device. The model is put in eval mode, as in :meth:`from_module`;
        ``metadata`` records the examples and batches used.
        """
        from losstopo.loader_objective import DataPasses, MeanLoss, check_sampler

        check_sampler(loader)
        model = model.eval()
        params = {name: p.detach().clone() for name, p in model.named_parameters()}
        if not params:
            raise LosstopoError(f"{type(model).__name__} has no parameters")
        first = next(iter(params.values()))
        data = DataPasses(model, loss_fn, loader, list(params), first.device, first.dtype)
        data.count()

        def tensors(p: Params) -> tuple[torch.Tensor, ...]:
            return tuple(p[name] for name in data.names)

        def loss(p: Params) -> torch.Tensor:
            return MeanLoss.apply(data, *tensors(p))

        def batched(points: torch.Tensor) -> torch.Tensor:
            return data.stacked_loss(tensors(objective.unflatten(points)))

        text = description or (
            f"{type(model).__name__} loss {getattr(loss_fn, '__name__', 'loss')} averaged over "
            f"all {data.n_examples} examples in {data.n_batches} batches of at most "
            f"{max(data.sizes)} (eval mode)"
        )
        metadata: dict[str, object] = {
            "objective_examples": data.n_examples,
            "objective_batches": data.n_batches,
            "objective_batch_size": max(data.sizes),
        }
        objective = cls(
            model,
            params,
            loss,
            text,
            metadata,
            batched_loss_fn=batched,
            probe_fn=lambda p: data.largest_batch_loss(tensors(p)),
        )
        return objective

    def probe(self) -> torch.Tensor:
        """The loss at θ on what one evaluation holds in memory at once (see ``probe_fn``)."""
        return (self.probe_fn or self.loss_fn)(self.params)

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
