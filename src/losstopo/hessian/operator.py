"""Exact Hessian-vector products of an objective.

The HVP is forward-over-reverse (``jvp`` of ``grad``) with ``torch.func``, so it is exact
(no finite differences) and works for losses that themselves differentiate the network
with respect to its inputs. Where an operation has no forward-mode derivative of its
backward (``F.mse_loss`` in torch 2.13 fails with "ZeroTensors are immutable"), the
operator falls back to reverse-over-reverse (``vjp`` of ``grad``), which is exact as well.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.func import grad, jvp, vjp

from losstopo.objective import Objective


class HVPOperator:
    """``v ↦ H(θ) v`` on flat vectors, counting how many products were taken."""

    def __init__(self, objective: Objective):
        self.objective = objective
        self.n = objective.n_parameters
        self.dtype = next(iter(objective.params.values())).dtype
        self.device = next(iter(objective.params.values())).device
        self.count = 0
        self._grad = grad(objective.loss_fn)
        self.mode = "forward-over-reverse"
        self._pullback: Callable | None = None

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        tangent = self.objective.unflatten(v.to(self.dtype))
        if self.mode == "forward-over-reverse":
            try:
                _, hv = jvp(self._grad, (self.objective.params,), (tangent,))
            except RuntimeError as exc:
                if self.count > 0:  # it worked before: a real error, not a missing formula
                    raise
                self.mode = f"reverse-over-reverse (forward mode failed: {exc})"
        if self.mode != "forward-over-reverse":
            if self._pullback is None:
                _, self._pullback = vjp(self._grad, self.objective.params)
            (hv,) = self._pullback(tangent)
        self.count += 1
        # forward-mode formulas of some ops promote 0-d float32 tangents to float64 (seen for
        # a scalar parameter inside exp/pow in torch 2.13): keep the objective's precision
        return self.objective.flatten(hv).detach().to(self.dtype)
