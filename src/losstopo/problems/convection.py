"""1-D convection PINN (paper §4.1, after Krishnapriyan et al. 2021).

PDE ``u_t + β u_x = 0`` on ``x ∈ [0, 2π)``, ``t ∈ [0, 1]``, ``u(x, 0) = sin x``, periodic in x;
exact solution ``u = sin(x − β t)``. The loss is the sum of three mean-squared terms: the
initial condition on 256 x-points, the soft periodic boundary on 100 t-points, and the PDE
residual on ``N_f`` collocation points drawn once from the interior of the test grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, jvp

from losstopo.errors import LosstopoError
from losstopo.models.mlp import MLP, stacked_forward
from losstopo.objective import Objective, Params
from losstopo.problems import register
from losstopo.runtime import resolve_dtype, seed_everything
from losstopo.training import OPTIMIZERS, TrainOutcome, run_adam, run_lbfgs

NX = 256
NT = 100
X_MAX = 2.0 * math.pi
DEFAULT_HIDDEN = [50, 50, 50, 50]

UFunction = Callable[[torch.Tensor], torch.Tensor]


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


def loss_terms(u: UFunction, data: ConvectionData) -> dict[str, torch.Tensor]:
    """The three loss terms and their sum for a solution function ``u: (n, 2) → (n, 1)``.

    The residual ``u_t + β u_x`` is the directional derivative of ``u`` along ``(β, 1)`` in
    ``(x, t)``, computed exactly by one forward-mode ``jvp``; this composes with reverse
    mode (training) and with forward-over-reverse (Hessian-vector products).
    """
    ic = torch.mean((u(data.x_ic) - data.u_ic) ** 2)
    bc = torch.mean((u(data.x_lb) - u(data.x_ub)) ** 2)
    _, residual = jvp(u, (data.x_f,), (data.residual_direction,))
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


@dataclass(frozen=True)
class PINNConfig:
    """Everything that defines one PINN training run besides the seed."""

    beta: float
    lr: float
    optimizer: str = "lbfgs"
    iterations: int = 1000
    n_f: int = 100
    collocation_seed: int = 0
    hidden: tuple[int, ...] = tuple(DEFAULT_HIDDEN)
    activation: str = "tanh"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if not math.isfinite(self.beta) or self.beta < 0:
            raise LosstopoError(f"beta must be a finite number >= 0, got {self.beta}")
        if not math.isfinite(self.lr) or self.lr <= 0:
            raise LosstopoError(f"lr must be a finite number > 0, got {self.lr}")
        if self.optimizer not in OPTIMIZERS:
            raise LosstopoError(
                f"unknown optimizer {self.optimizer!r} (choose {', '.join(OPTIMIZERS)})"
            )
        if self.iterations < 1:
            raise LosstopoError(f"iterations must be >= 1, got {self.iterations}")
        if not self.hidden or any(width < 1 for width in self.hidden):
            raise LosstopoError(f"hidden layer widths must be >= 1, got {list(self.hidden)}")
        resolve_dtype(self.dtype)

    def hparams(self) -> dict[str, Any]:
        """Plain-value dict stored in the checkpoint (loadable with ``weights_only=True``)."""
        return {
            "beta": float(self.beta),
            "lr": float(self.lr),
            "optimizer": self.optimizer,
            "iterations": int(self.iterations),
            "n_f": int(self.n_f),
            "collocation_seed": int(self.collocation_seed),
            "hidden": [int(w) for w in self.hidden],
            "activation": self.activation,
            "dtype": self.dtype,
        }

    @classmethod
    def from_hparams(cls, hparams: dict[str, Any]) -> PINNConfig:
        return cls(**{**hparams, "hidden": tuple(hparams["hidden"])})


def build_model(config: PINNConfig) -> MLP:
    return MLP(2, list(config.hidden), 1, config.activation)


@dataclass
class PINNRun:
    """A trained PINN with its outcome and test-grid errors."""

    model: MLP
    outcome: TrainOutcome
    metrics: dict[str, Any]


def train(config: PINNConfig, seed: int, device: torch.device) -> PINNRun:
    """Train one PINN from a seeded PyTorch default initialisation; never raises on divergence."""
    dtype = resolve_dtype(config.dtype)
    seed_everything(seed)
    model = build_model(config).to(device=device, dtype=dtype)
    data = make_data(config.beta, config.n_f, config.collocation_seed, dtype, device)

    def loss() -> torch.Tensor:
        return loss_terms(model, data)["loss"]

    runner = run_lbfgs if config.optimizer == "lbfgs" else run_adam
    outcome = runner(model.parameters(), loss, config.lr, config.iterations)
    metrics = evaluate(model, data)
    metrics.update(
        final_loss=outcome.final_loss,
        iterations=outcome.iterations,
        evaluations=outcome.evaluations,
        seconds=outcome.seconds,
        diverged=outcome.diverged,
    )
    return PINNRun(model=model, outcome=outcome, metrics=metrics)


def evaluate(model: nn.Module, data: ConvectionData) -> dict[str, float]:
    """Loss terms at the current weights and the errors on the 256×100 test grid."""
    terms = {name: float(value.detach()) for name, value in loss_terms(model, data).items()}
    with torch.no_grad():
        u_pred = model(data.x_test).cpu().numpy()
    errors = solution_errors(u_pred, data.u_test.cpu().numpy())
    if not np.all(np.isfinite(u_pred)):
        errors = dict.fromkeys(errors, float("nan"))
    return {**errors, **{name: v for name, v in terms.items() if name != "loss"}}


class ConvectionProblem:
    """Registry entry: rebuilds the PINN and its training loss from a checkpoint."""

    name = "convection"
    table_metrics = ("relative_l2_error",)

    def table_fields(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
        hparams = checkpoint["hparams"]
        return {
            "beta": float(hparams["beta"]),
            "lr": float(hparams["lr"]),
            "seed": int(checkpoint["seed"]),
        }

    def build_model(self, hparams: dict[str, Any]) -> nn.Module:
        return build_model(PINNConfig.from_hparams(hparams))

    def objective(
        self,
        checkpoint: dict[str, Any],
        device: torch.device,
        dtype: torch.dtype,
        **options: Any,
    ) -> Objective:
        if options:
            raise LosstopoError(
                f"the convection problem takes no objective options (got {', '.join(options)})"
            )
        config = PINNConfig.from_hparams(checkpoint["hparams"])
        model = self.build_model(checkpoint["hparams"])
        model.load_state_dict(checkpoint["state_dict"])
        model = model.to(device=device, dtype=dtype).eval()
        data = make_data(config.beta, config.n_f, config.collocation_seed, dtype, device)
        params = {name: p.detach().clone() for name, p in model.named_parameters()}

        def loss_fn(p: Params) -> torch.Tensor:
            return loss_terms(lambda xt: functional_call(model, p, (xt,)), data)["loss"]

        batched = None
        if config.activation == "tanh":

            def batched(points: torch.Tensor) -> torch.Tensor:
                return stacked_loss(model, objective.unflatten(points), data)

        description = (
            f"convection PINN training loss, beta={config.beta:g}: IC on {NX} x-points + "
            f"periodic BC on {NT} t-points + residual on n_f={config.n_f} collocation points "
            f"(collocation_seed={config.collocation_seed})"
        )
        objective = Objective(
            model, params, loss_fn, description, metadata=config.hparams(), batched_loss_fn=batched
        )
        return objective


register(ConvectionProblem())
