"""One PINN training run on disk: ``model.pt`` (checkpoint) and ``metrics.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from losstopo.io.atomic import write_json_atomic
from losstopo.io.checkpoint import save_checkpoint
from losstopo.io.provenance import base_provenance
from losstopo.problems.convection import PINNConfig, train
from losstopo.runtime import device_name


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
