"""1-D convection (paper §4.1, after Krishnapriyan et al. 2021): the PDE, its point sets,
the PINN loss and the errors against the exact solution.

PDE ``u_t + β u_x = 0`` on ``x ∈ [0, 2π)``, ``t ∈ [0, 1]``, ``u(x, 0) = sin x``, periodic in x;
exact solution ``u = sin(x − β t)``. The loss is the sum of three mean-squared terms: the
initial condition on 256 x-points, the soft periodic boundary on 100 t-points, and the PDE
residual on ``N_f`` collocation points drawn once from the interior of the test grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from losstopo.errors import LosstopoError
from losstopo.objective import Params
from losstopo.problems.convection.mlp import MLP, SubspaceMLP, stacked_forward

NX = 256
NT = 100
X_MAX = 2.0 * math.pi

UFunction = Callable[[torch.Tensor], torch.Tensor]
TangentFunction = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def exact_solution(x: np.ndarray | torch.Tensor, t: np.ndarray | torch.Tensor, beta: float):
    """``u(x, t) = sin(x − β t)`` (numpy or torch, following the input)."""
    if isinstance(x, torch.Tensor):
        return torch.sin(x - beta * t)
    return np.sin(np.asarray(x) - beta * np.asarray(t))


def grid_axes(nx: int = NX, nt: int = NT) -> tuple[np.ndarray, np.ndarray]:
    """Test-grid axes: ``x = linspace(0, 2π, nx, endpoint=False)``, ``t = linspace(0, 1, nt)``."""
    return np.linspace(0.0, X_MAX, nx, endpoint=False), np.linspace(0.0, 1.0, nt)


def collocation_points(n_f: int, seed: int, nx: int = NX, nt: int = NT) -> np.ndarray:
    """``n_f`` distinct interior grid points (x > 0, t > 0), drawn once with a fixed seed.

    The set depends only on ``(n_f, seed)``, so every β and every run seed shares it.
    """
    x, t = grid_axes(nx, nt)
    xx, tt = np.meshgrid(x[1:], t[1:])
    interior = np.stack([xx.ravel(), tt.ravel()], axis=1)
    if not 1 <= n_f <= len(interior):
        raise LosstopoError(f"n_f must be in [1, {len(interior)}], got {n_f}")
    rng = np.random.default_rng(seed)
    index = np.sort(rng.choice(len(interior), size=n_f, replace=False))
    return interior[index]


@dataclass(frozen=True)
class ConvectionData:
    """Fixed point sets of one convection problem, as ``(n, 2)`` tensors of ``(x, t)``."""

    beta: float
    x_ic: torch.Tensor
    u_ic: torch.Tensor
    x_lb: torch.Tensor
    x_ub: torch.Tensor
    x_f: torch.Tensor
    x_test: torch.Tensor
    u_test: torch.Tensor

    @property
    def residual_direction(self) -> torch.Tensor:
        """Tangent ``(β, 1)`` per collocation point: ``∇u · (β, 1) = u_t + β u_x``."""
        direction = torch.tensor([self.beta, 1.0], dtype=self.x_f.dtype, device=self.x_f.device)
        return direction.expand_as(self.x_f)


def make_data(
    beta: float,
    n_f: int = 100,
    collocation_seed: int = 0,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> ConvectionData:
    """Build the IC, boundary, collocation and test point sets"""
    x, t = grid_axes()
    as_t = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype, device=device)  # noqa: E731
    x_ic = np.stack([x, np.zeros_like(x)], axis=1)
    x_lb = np.stack([np.zeros_like(t), t], axis=1)
    x_ub = np.stack([np.full_like(t, X_MAX), t], axis=1)
    xx, tt = np.meshgrid(x, t)  # rows = t, columns = x
    x_test = np.stack([xx.ravel(), tt.ravel()], axis=1)
    return ConvectionData(
        beta=float(beta),
        x_ic=as_t(x_ic),
        u_ic=as_t(np.sin(x)[:, None]),
        x_lb=as_t(x_lb),
        x_ub=as_t(x_ub),
        x_f=as_t(collocation_points(n_f, collocation_seed)),
        x_test=as_t(x_test),
        u_test=as_t(exact_solution(x_test[:, 0], x_test[:, 1], beta)[:, None]),
    )


def loss_terms(
    u: UFunction, data: ConvectionData, u_with_tangent: TangentFunction | None = None
) -> dict[str, torch.Tensor]:
    """The three loss terms and their sum for a solution function ``u: (n, 2) → (n, 1)``.

    The residual ``u_t + β u_x`` is the directional derivative of ``u`` along ``(β, 1)`` in
    ``(x, t)``, computed exactly in forward mode: by ``u_with_tangent(x, dx) → (u, du)``
    when given (the MLP's written-out tangent, bit-identical to ``jvp``), else by
    ``torch.func.jvp`` of ``u``. Either composes with reverse mode (training) and with
    forward-over-reverse (Hessian-vector products).
    """
    ic = torch.mean((u(data.x_ic) - data.u_ic) ** 2)
    bc = torch.mean((u(data.x_lb) - u(data.x_ub)) ** 2)
    if u_with_tangent is None:
        from torch.func import jvp

        _, residual = jvp(u, (data.x_f,), (data.residual_direction,))
    else:
        _, residual = u_with_tangent(data.x_f, data.residual_direction)
    pde = torch.mean(residual**2)
    return {"loss_ic": ic, "loss_bc": bc, "loss_residual": pde, "loss": ic + bc + pde}


def stacked_loss(model: MLP, params: Params, data: ConvectionData) -> torch.Tensor:
    """The loss of :func:`loss_terms` for a stack of M parameter sets at once → (M,).

    One stacked forward over all IC, boundary and collocation points, with the residual
    tangent ``(β, 1)`` propagated on the collocation rows only.
    """
    n_ic, n_b, n_f = len(data.x_ic), len(data.x_lb), len(data.x_f)
    inputs = torch.cat([data.x_ic, data.x_lb, data.x_ub, data.x_f])
    u, du = stacked_forward(model, params, inputs, n_f, data.residual_direction)
    u = u[..., 0]
    ic = torch.mean((u[:, :n_ic] - data.u_ic[:, 0]) ** 2, dim=1)
    bc = torch.mean((u[:, n_ic : n_ic + n_b] - u[:, n_ic + n_b : n_ic + 2 * n_b]) ** 2, dim=1)
    pde = torch.mean(du[..., 0] ** 2, dim=1)
    return ic + bc + pde


def solution_errors(u_pred: np.ndarray, u_true: np.ndarray) -> dict[str, float]:
    """Relative L2, mean absolute and relative L∞ errors on the test grid."""
    u_pred = np.asarray(u_pred, dtype=np.float64).ravel()
    u_true = np.asarray(u_true, dtype=np.float64).ravel()
    diff = u_pred - u_true
    return {
        "relative_l2_error": float(np.linalg.norm(diff) / np.linalg.norm(u_true)),
        "abs_error": float(np.mean(np.abs(diff))),
        "linf_relative_error": float(np.max(np.abs(diff)) / np.max(np.abs(u_true))),
    }


def subspace_loss(
    model: MLP, data: ConvectionData, theta: Params, directions: Params
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The loss of :func:`loss_terms` at θ + Σ αᵢ dᵢ as a function of α (M × n) → (M,).

    ``directions`` holds tensors with a leading direction axis. One
    :class:`~losstopo.problems.convection.mlp.SubspaceMLP` pass over all IC, boundary and
    collocation points gives ``u`` and, on the collocation rows, its tangent along ``(β, 1)``
    (the residual ``u_t + β u_x``).
    """
    n_ic, n_b, n_f = len(data.x_ic), len(data.x_lb), len(data.x_f)
    inputs = torch.cat([data.x_ic, data.x_lb, data.x_ub, data.x_f])
    forward = SubspaceMLP(model, theta, directions, inputs, n_f, data.residual_direction)
    u_ic = data.u_ic[:, 0]

    def loss(alphas: torch.Tensor) -> torch.Tensor:
        values, tangents = forward(alphas)
        out = values[:, 0]
        ic = torch.mean((out[:, :n_ic] - u_ic) ** 2, dim=1)
        bc = torch.mean((out[:, n_ic : n_ic + n_b] - out[:, n_ic + n_b : n_ic + 2 * n_b]) ** 2, 1)
        pde = torch.mean(tangents[:, 0] ** 2, dim=1)
        return ic + bc + pde

    return loss
