"""Whole-dataset objectives: the exact mean loss over every batch of a data loader.

``L(θ) = Σ_b (n_b / N) · L_b(θ)``, where ``L_b`` is the batch's mean loss and ``n_b`` its
size, equals the loss on all N examples as one batch, yet only one batch is ever in memory:
the loss, its gradient and each Hessian-vector product are sums over batches, computed one
batch at a time. They enter autograd as two custom functions (the loss, whose derivative is
the gradient, whose derivative is the Hessian-vector product), so every consumer of an
:class:`~losstopo.objective.Objective` (``HVPOperator`` in each of its modes, ``torch.func``
gradients, landscapes) works on it unchanged. Landscapes vectorise over a chunk of points
inside each data batch, so the data is read once per chunk rather than once per point.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from losstopo.errors import LosstopoError
from losstopo.layout import ChannelsLastCalls

Params = dict[str, torch.Tensor]
Batch = tuple[torch.Tensor, torch.Tensor]
BatchLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class DataPasses:
    """The loader, read batch by batch at the parameters' device and dtype.

    ``sizes`` are the batch sizes of the first pass; every later pass must yield the same
    number of examples in the same number of batches, or the objective would change between
    two evaluations.
    """

    model: nn.Module
    loss_fn: BatchLoss
    loader: Iterable
    names: list[str]
    device: torch.device
    dtype: torch.dtype
    sizes: list[int] = field(default_factory=list)
    _direct: ChannelsLastCalls = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._direct = ChannelsLastCalls(self.model, self.device)

    @property
    def n_examples(self) -> int:
        return sum(self.sizes)

    @property
    def n_batches(self) -> int:
        return len(self.sizes)

    def count(self) -> None:
        """Read the loader once to learn its batch sizes (and check its batches' form)."""
        self.sizes = []
        for index, batch in enumerate(self.loader):
            inputs, _ = _pair(batch, index)
            self.sizes.append(_size(inputs, index))
        if not self.sizes or self.n_examples == 0:
            raise LosstopoError("the data loader yielded no examples")

    def batches(self) -> Iterator[tuple[float, torch.Tensor, torch.Tensor]]:
        """``(n_b / N, inputs, targets)`` for each batch of one full pass."""
        total, seen = self.n_examples, []
        for index, batch in enumerate(self.loader):
            inputs, targets = _pair(batch, index)
            seen.append(_size(inputs, index))
            yield seen[-1] / total, self._moved(inputs), self._moved(targets)
        if seen != self.sizes:
            raise LosstopoError(
                f"the data loader yielded {sum(seen)} examples in {len(seen)} batches, but "
                f"{total} in {self.n_batches} on its first pass: the objective needs the same "
                "batches on every pass"
            )

    def _moved(self, tensor: torch.Tensor) -> torch.Tensor:
        """On the parameters' device; floating-point data in their dtype too."""
        if tensor.is_floating_point():
            return tensor.to(device=self.device, dtype=self.dtype)
        return tensor.to(device=self.device)

    def batch_loss(
        self, params: Params, inputs: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        """The loss function's value (the batch mean) on one batch."""
        from torch.func import functional_call

        loss = self.loss_fn(functional_call(self.model, params, (inputs,)), targets)
        if loss.ndim != 0:
            raise LosstopoError(
                f"the loss function returned shape {tuple(loss.shape)} on a batch; it must "
                "return the batch's mean loss (a scalar)"
            )
        return loss

    def params(self, tensors: tuple[torch.Tensor, ...]) -> Params:
        return dict(zip(self.names, tensors, strict=True))

    def largest_batch_loss(self, tensors: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The loss on the largest batch alone: what one evaluation holds in memory."""
        largest = max(range(self.n_batches), key=self.sizes.__getitem__)
        for index, (_, inputs, targets) in enumerate(self.batches()):
            if index == largest:
                return self.batch_loss(self.params(tensors), inputs, targets)
        raise LosstopoError("the data loader yielded fewer batches than on its first pass")

    @torch.no_grad()
    def mean_loss(self, tensors: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Σ_b (n_b/N) L_b, accumulated in float64."""
        params = self.params(tensors)
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        for weight, inputs, targets in self.batches():
            total += weight * self.batch_loss(params, inputs, targets).double()
        return total.to(self.dtype)

    def mean_gradient(self, tensors: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        """Σ_b (n_b/N) ∇L_b, one batch's graph at a time, accumulated in float64."""
        from torch.func import grad

        totals = [torch.zeros_like(t, dtype=torch.float64) for t in tensors]
        for weight, inputs, targets in self.batches():
            gradient = grad(self._on(inputs, targets))(tensors)
            _accumulate(totals, gradient, weight)
        return tuple(total.to(t.dtype) for total, t in zip(totals, tensors, strict=True))

    def mean_hvp(
        self, tensors: tuple[torch.Tensor, ...], vectors: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, ...]:
        """Σ_b (n_b/N) H_b v, reverse-over-reverse (``torch.func``: it composes with the
        transforms a caller may be inside, and every op has a reverse-mode derivative) on
        one batch's graph at a time."""
        from torch.func import grad, vjp

        totals = [torch.zeros_like(t, dtype=torch.float64) for t in tensors]
        tangents = tuple(v.to(t.dtype) for v, t in zip(vectors, tensors, strict=True))
        for weight, inputs, targets in self.batches():
            _, pullback = vjp(grad(self._on(inputs, targets)), tensors)
            (products,) = pullback(tangents)
            _accumulate(totals, products, weight)
        return tuple(total.to(t.dtype) for total, t in zip(totals, tensors, strict=True))

    def _on(self, inputs: torch.Tensor, targets: torch.Tensor) -> Callable:
        """One batch's loss as a function of the parameter tensors (in ``names`` order)."""
        return lambda tensors: self.batch_loss(self.params(tensors), inputs, targets)

    @torch.no_grad()
    def stacked_loss(self, stacked: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Losses at M parameter sets (each tensor with a leading axis of M): each batch is
        read once and evaluated at all M points in one vectorised call, or for one point in a
        direct call (channels-last convolutions on a CPU: ``losstopo.layout``)."""
        from torch.func import vmap

        total = torch.zeros(stacked[0].shape[0], dtype=torch.float64, device=self.device)
        single = tuple(t[0] for t in stacked) if stacked[0].shape[0] == 1 else None
        for weight, inputs, targets in self.batches():
            loss = self._on(inputs, targets)
            values = vmap(loss)(stacked) if single is None else self._direct(loss, single)
            total += weight * values.double()
        return total.to(self.dtype)


def _pair(batch: object, index: int) -> Batch:
    """A batch as ``(inputs, targets)`` tensors, or one line saying what it was."""
    if (
        isinstance(batch, tuple | list)
        and len(batch) == 2
        and all(isinstance(part, torch.Tensor) for part in batch)
    ):
        return batch[0], batch[1]
    raise LosstopoError(
        f"batch {index} of the data loader is a {type(batch).__name__}; expected a pair "
        "(inputs, targets) of tensors"
    )


def _size(inputs: torch.Tensor, index: int) -> int:
    if inputs.ndim == 0:
        raise LosstopoError(f"batch {index} of the data loader has 0-d inputs (no batch axis)")
    return int(inputs.shape[0])


def _accumulate(totals: list[torch.Tensor], parts, weight: float) -> None:
    for total, part in zip(totals, parts, strict=True):
        if part is not None:
            total += weight * part.double()


class _OverLoader(torch.autograd.Function):
    """A function of the parameter tensors over the loader's data (the first input): both
    derivatives keep the data passes and the tensors."""

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.data = inputs[0]
        ctx.save_for_backward(*inputs[1:])
        ctx.save_for_forward(*inputs[1:])


class MeanLoss(_OverLoader):
    """``L(θ)`` over the loader; its derivative is :class:`MeanGradient`. Under ``vmap`` it
    evaluates all points batch by batch (``DataPasses.stacked_loss``): the loader is read
    outside the transform, where creating its iterator (a random seed) is allowed."""

    @staticmethod
    def forward(data: DataPasses, *tensors: torch.Tensor) -> torch.Tensor:
        return data.mean_loss(tensors)

    @staticmethod
    def vmap(info, in_dims, data: DataPasses, *tensors: torch.Tensor):
        stacked = tuple(
            t.expand(info.batch_size, *t.shape) if dim is None else t.movedim(dim, 0)
            for t, dim in zip(tensors, in_dims[1:], strict=True)
        )
        return data.stacked_loss(stacked), 0

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        gradient = MeanGradient.apply(ctx.data, *ctx.saved_tensors)
        return (None, *(grad_output * g for g in gradient))

    @staticmethod
    def jvp(ctx, _data, *tangents: torch.Tensor) -> torch.Tensor:
        tensors = ctx.saved_tensors
        gradient = MeanGradient.apply(ctx.data, *tensors)
        out = torch.zeros((), dtype=tensors[0].dtype, device=tensors[0].device)
        for g, t in zip(gradient, tangents, strict=True):
            if t is not None:
                out = out + (g * t).sum()
        return out


class MeanGradient(_OverLoader):
    """``∇L(θ)`` over the loader; its derivative (both ways: H is symmetric) is the
    Hessian-vector product over the loader. Third derivatives are not available."""

    @staticmethod
    def forward(data: DataPasses, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return data.mean_gradient(tensors)

    @staticmethod
    def backward(ctx, *grad_outputs: torch.Tensor):
        return (None, *ctx.data.mean_hvp(ctx.saved_tensors, grad_outputs))

    @staticmethod
    def jvp(ctx, _data, *tangents: torch.Tensor) -> tuple[torch.Tensor, ...]:
        tensors = ctx.saved_tensors
        vectors = tuple(
            torch.zeros_like(t) if v is None else v for t, v in zip(tensors, tangents, strict=True)
        )
        return ctx.data.mean_hvp(tensors, vectors)


def check_sampler(loader: Iterable) -> None:
    """Refuse a loader that shuffles or can be read only once: every pass must read the same
    batches (a reordered pass changes the sums in their last bits, and with ``drop_last``
    leaves out other examples)."""
    from torch.utils.data import RandomSampler, SubsetRandomSampler, WeightedRandomSampler

    if isinstance(loader, Iterator):
        raise LosstopoError(
            "the data loader is a one-shot iterator; pass something that can be read many "
            "times (a DataLoader or a list of (inputs, targets) batches)"
        )
    samplers = [getattr(loader, "sampler", None)]
    samplers.append(getattr(getattr(loader, "batch_sampler", None), "sampler", None))
    for sampler in samplers:
        if isinstance(sampler, RandomSampler | SubsetRandomSampler | WeightedRandomSampler):
            raise LosstopoError(
                f"the data loader draws its batches with a {type(sampler).__name__}; the "
                "objective needs the same batches on every pass (use shuffle=False)"
            )
