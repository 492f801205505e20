"""The second-order Taylor model of the loss in a landscape's own coordinates: the null model.

A landscape samples L(θ + Σ αᵢ dᵢ). Its exact second-order Taylor model at θ is

    q(α) = L(θ) + gᵀα + ½ αᵀKα,   gᵢ = ∇L(θ)·dᵢ,   Kᵢⱼ = dᵢᵀ H dⱼ,

with the normalised directions dᵢ themselves (not their eigenvalues: per-tensor scaling
makes them non-orthogonal, so K is not diagonal). It costs one gradient and n exact
Hessian-vector products. q has at most one minimum; whatever structure a merge tree finds in
q on the landscape's points and graph is made by the sampling, the graph and the box, so
counts of the real loss are read against it (``losstopo.topology.null_model``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from losstopo.objective import Objective


@dataclass
class TaylorTerms:
    """L(θ), g (n,) and the symmetrised K (n × n) of a set of n directions, in float64."""

    center_loss: float
    gradient: np.ndarray
    hessian: np.ndarray
    asymmetry: float  # ‖K − Kᵀ‖ / ‖K‖ before symmetrising: the HVPs' rounding
    n_hvp: int
    hvp_mode: str
    dtype: str


def taylor_terms(objective: Objective, directions: torch.Tensor) -> TaylorTerms:
    """g and K along the rows of ``directions`` (n × P, already normalised) by one exact
    gradient and n exact Hessian-vector products, in the objective's precision."""
    from losstopo.hessian.operator import HVPOperator

    theta = objective.theta()
    rows = directions.to(dtype=theta.dtype, device=theta.device)
    with torch.no_grad():
        center_loss = float(objective())
    operator = HVPOperator(objective)
    gradient = operator.gradient()
    products = torch.stack([operator(row) for row in rows])
    d = rows.double()
    g = (d @ gradient.double()).cpu().numpy()
    k = (d @ products.double().T).cpu().numpy()
    norm = float(np.linalg.norm(k))
    asymmetry = float(np.linalg.norm(k - k.T) / norm) if norm > 0 else 0.0
    return TaylorTerms(
        center_loss=center_loss,
        gradient=g,
        hessian=0.5 * (k + k.T),
        asymmetry=asymmetry,
        n_hvp=operator.count,
        hvp_mode=operator.mode,
        dtype=str(theta.dtype).removeprefix("torch."),
    )
