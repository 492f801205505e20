"""Exact Hessian-vector products of an objective.

Every mode is exact (no finite differences) and works for losses that themselves
differentiate the network with respect to its inputs (the PINN residual). The rule
(``mode="auto"``), fixed so that results are reproducible rather than picked by timing:

1. reverse-over-reverse with a retained autograd graph: the gradient ``g(θ)`` is built once
   with ``create_graph=True`` and each product is one backward pass ``∂(g·v)/∂θ`` through
   it. On the convection PINN this is ~3× faster per product than forward-over-reverse
   (``benchmarks/peers.py``), because the graph of ``g`` is not rebuilt for every vector.
2. forward-over-reverse (``jvp`` of ``grad`` with ``torch.func``), when the objective's
   ``loss_fn`` cannot be differentiated twice in reverse mode.
3. reverse-over-reverse with ``torch.func`` (``vjp`` of ``grad``), where an operation has
   no forward-mode derivative of its backward (``F.mse_loss`` in torch 2.13 fails with
   "ZeroTensors are immutable").

The chosen mode is recorded in ``mode`` (``hvp_mode`` in the Hessian file).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.func import grad, jvp, vjp

from losstopo.objective import Objective

AUTOGRAD = "reverse-over-reverse (autograd, retained graph)"
FORWARD = "forward-over-reverse"
FUNC_REVERSE = "reverse-over-reverse"
MODES = ("auto", "autograd", "forward", "func-reverse")


class HVPOperator:
    """``v ↦ H(θ) v`` on flat vectors, counting how many products were taken."""

    def __init__(self, objective: Objective, mode: str = "auto"):
        if mode not in MODES:
            raise ValueError(f"unknown HVP mode {mode!r} (choose {', '.join(MODES)})")
        self.objective = objective
        self.n = objective.n_parameters
        self.dtype = next(iter(objective.params.values())).dtype
        self.device = next(iter(objective.params.values())).device
        self.count = 0
        self._grad = grad(objective.loss_fn)
        self._requested = mode
        self.mode = {"auto": AUTOGRAD, "autograd": AUTOGRAD, "forward": FORWARD}.get(
            mode, FUNC_REVERSE
        )
        self._pullback: Callable | None = None
        self._graph: tuple[list[torch.Tensor], tuple[torch.Tensor, ...]] | None = None

    def _gradient_graph(self) -> tuple[list[torch.Tensor], tuple[torch.Tensor, ...]]:
        """The leaves θ and the gradient built on them with ``create_graph=True``, once."""
        if self._graph is None:
            with torch.enable_grad():
                leaves = {
                    name: p.detach().clone().requires_grad_(True)
                    for name, p in self.objective.params.items()
                }
                loss = self.objective.loss_fn(leaves)
                grads = torch.autograd.grad(loss, list(leaves.values()), create_graph=True)
            self._graph = (list(leaves.values()), grads)
        return self._graph

    def gradient(self) -> torch.Tensor:
        """∇L(θ) as a flat vector. In the retained-graph mode it is the gradient the products
        differentiate (no second forward and backward pass, and no ``torch.func``, whose
        first call imports the compiler stack: 1.3 s of a short landscape job)."""
        if self.mode == AUTOGRAD:
            try:
                _, grads = self._gradient_graph()
            except RuntimeError:
                if self._requested == "autograd":
                    raise
            else:
                return self.objective.flatten(
                    dict(zip(self.objective.params, grads, strict=True))
                ).detach()
        return self.objective.flatten(self._grad(self.objective.params)).detach()

    def _autograd_hvp(self, tangent: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        leaves, grads = self._gradient_graph()
        with torch.enable_grad():
            hv = torch.autograd.grad(
                grads,
                leaves,
                [tangent[name] for name in self.objective.params],
                retain_graph=True,
                allow_unused=True,
            )
        return {
            name: torch.zeros_like(leaf) if h is None else h
            for name, leaf, h in zip(self.objective.params, leaves, hv, strict=True)
        }

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        tangent = self.objective.unflatten(v.to(self.dtype))
        hv = None
        if self.mode == AUTOGRAD:
            try:
                hv = self._autograd_hvp(tangent)
            except RuntimeError as exc:
                if self.count > 0 or self._requested == "autograd":
                    raise
                self.mode = f"{FORWARD} (reverse-over-reverse failed: {exc})"
                self._graph = None
        if hv is None and self.mode.startswith(FORWARD):
            try:
                _, hv = jvp(self._grad, (self.objective.params,), (tangent,))
            except RuntimeError as exc:
                if self.count > 0 or self._requested == "forward":
                    raise  # it worked before: a real error, not a missing formula
                self.mode = f"{FUNC_REVERSE} (forward mode failed: {exc})"
        if hv is None:
            if self._pullback is None:
                _, self._pullback = vjp(self._grad, self.objective.params)
            (hv,) = self._pullback(tangent)
        self.count += 1
        # forward-mode formulas of some ops promote 0-d float32 tangents to float64 (seen for
        # a scalar parameter inside exp/pow in torch 2.13): keep the objective's precision
        return self.objective.flatten(hv).detach().to(self.dtype)
