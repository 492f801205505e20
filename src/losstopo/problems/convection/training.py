"""Training one convection PINN from a seeded initialisation, and the run on disk:
``model.pt`` (checkpoint) and ``metrics.json``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from losstopo.io.atomic import write_json_atomic
from losstopo.io.checkpoint import save_checkpoint
from losstopo.io.provenance import base_provenance
from losstopo.optim import TrainOutcome, run_adam, run_lbfgs
from losstopo.problems.convection.config import PINNConfig, build_model
from losstopo.problems.convection.mlp import MLP
from losstopo.problems.convection.physics import (
    ConvectionData,
    loss_terms,
    make_data,
    solution_errors,
)
from losstopo.runtime import device_name, resolve_dtype, seed_everything


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
        return loss_terms(model, data, model)["loss"]

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
    terms = {name: float(value.detach()) for name, value in loss_terms(model, data, model).items()}
    with torch.no_grad():
        u_pred = model(data.x_test).cpu().numpy()
    errors = solution_errors(u_pred, data.u_test.cpu().numpy())
    if not np.all(np.isfinite(u_pred)):
        errors = dict.fromkeys(errors, float("nan"))
    return {**errors, **{name: v for name, v in terms.items() if name != "loss"}}


def write_pinn_run(
    config: PINNConfig, seed: int, device: torch.device, out: Path, threads: int = 1
) -> dict[str, Any]:
    """Train, then write the checkpoint and metrics atomically; returns the metrics dict.

    The checkpoint is written first, so a present ``metrics.json`` implies a complete run.
    """
    run = train(config, seed, device)
    provenance = {**base_provenance(), "threads": threads, "device": device_name(device)}
    metrics: dict[str, Any] = {
        "problem": "convection",
        **config.hparams(),
        "seed": seed,
        "iteration_budget": config.iterations,
        **run.metrics,
        **provenance,
    }
    state = {k: v.detach().cpu() for k, v in run.model.state_dict().items()}
    checkpoint = {
        "problem": "convection",
        "hparams": config.hparams(),
        "state_dict": state,
        "metrics": dict(run.metrics),
        "iteration": run.outcome.iterations,
        "seed": seed,
        "device": device_name(device),
        "provenance": provenance,
    }
    save_checkpoint(out / "model.pt", checkpoint)
    write_json_atomic(out / "metrics.json", metrics)
    return metrics
