"""The convection problem's registry entry: rebuilds the PINN and its training loss (the
objective the analysis stages see) from a checkpoint."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from losstopo.objective import Objective, Params
from losstopo.problems import register
from losstopo.problems.convection.config import PINNConfig, build_model
from losstopo.problems.convection.physics import (
    NT,
    NX,
    loss_terms,
    make_data,
    stacked_loss,
    subspace_loss,
)


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
        self, checkpoint: dict[str, Any], device: torch.device, dtype: torch.dtype
    ) -> Objective:
        """The training loss; the problem takes no objective options (the loader names any
        given as unknown)."""
        config = PINNConfig.from_hparams(checkpoint["hparams"])
        model = self.build_model(checkpoint["hparams"])
        model.load_state_dict(checkpoint["state_dict"])
        model = model.to(device=device, dtype=dtype).eval()
        data = make_data(config.beta, config.n_f, config.collocation_seed, dtype, device)
        params = {name: p.detach().clone() for name, p in model.named_parameters()}

        def loss_fn(p: Params) -> torch.Tensor:
            return loss_terms(
                lambda xt: functional_call(model, p, (xt,)),
                data,
                lambda xt, tangent: functional_call(model, p, (xt, tangent)),
            )["loss"]

        batched = along = None
        if config.activation == "tanh":

            def batched(points: torch.Tensor) -> torch.Tensor:
                return stacked_loss(model, objective.unflatten(points), data)

            def along(theta: torch.Tensor, directions: torch.Tensor):
                return subspace_loss(
                    model, data, objective.unflatten(theta), objective.unflatten(directions)
                )

        description = (
            f"convection PINN training loss, beta={config.beta:g}: IC on {NX} x-points + "
            f"periodic BC on {NT} t-points + residual on n_f={config.n_f} collocation points "
            f"(collocation_seed={config.collocation_seed})"
        )
        objective = Objective(
            model,
            params,
            loss_fn,
            description,
            metadata=config.hparams(),
            batched_loss_fn=batched,
            subspace_loss_fn=along,
        )
        return objective


register(ConvectionProblem())
