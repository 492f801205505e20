"""A third problem for the workflow, in one module outside the package: least squares of a
small tanh network on 16 fixed points, trained by its own rule (toy.smk) from its own config
section (``toy``), analysed by the generic rules into its own table and figures."""

from __future__ import annotations

import os
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from losstopo import Objective
from losstopo.problems import register
from losstopo.workflow import figure_specs as specs
from losstopo.workflow import study
from losstopo.workflow.analysis_settings import AnalysisSettings
from losstopo.workflow.paths import analysis_dir, fmt_number
from losstopo.workflow.sampling import merge_tree_file

HERE = os.path.dirname(os.path.abspath(__file__))


def toy_data(dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.linspace(-1, 1, 32, dtype=dtype, device=device).reshape(16, 2)
    return x, torch.sin(3 * x[:, :1]) * x[:, 1:]


class Toy:
    """The registry side: the model and its loss, rebuilt from a checkpoint."""

    name = "toy"
    table_metrics = ("final_loss",)

    def table_fields(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
        return {"width": checkpoint["hparams"]["width"], "seed": checkpoint["seed"]}

    def build_model(self, hparams: dict[str, Any]) -> nn.Module:
        width = hparams["width"]
        return nn.Sequential(nn.Linear(2, width), nn.Tanh(), nn.Linear(width, 1))

    def objective(
        self, checkpoint: dict[str, Any], device: torch.device, dtype: torch.dtype
    ) -> Objective:
        model = self.build_model(checkpoint["hparams"])
        model.load_state_dict(checkpoint["state_dict"])
        model = model.to(device=device, dtype=dtype)
        return Objective.from_module(model, F.mse_loss, toy_data(dtype, device))


class ToyStudy:
    """The workflow side: config section, training rule, analysis, table and figures."""

    name = "toy"
    rule_files = (os.path.join(HERE, "toy.smk"),)
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "enabled": {"type": "boolean", "default": True},
            "seeds": {
                "type": "array",
                "items": {"type": "integer", "minimum": 0},
                "minItems": 1,
                "default": [0, 1],
            },
            "width": {"type": "integer", "minimum": 1, "default": 3},
            "iterations": {"type": "integer", "minimum": 1, "default": 50},
            "resolution": {"type": "integer", "minimum": 3, "default": 5},
            "distance": {"type": "number", "exclusiveMinimum": 0, "default": 0.5},
        },
    }

    def enabled(self, config: dict[str, Any]) -> bool:
        return config["toy"]["enabled"]

    def errors(self, config: dict[str, Any]) -> list[str]:
        resolution = config["toy"]["resolution"]
        return [f"config.toy.resolution: {resolution} must be odd"] if resolution % 2 == 0 else []

    def settings(self, config: dict[str, Any], run: str) -> AnalysisSettings:
        return AnalysisSettings(
            checkpoint_pattern="results/toy/{run}/{ckpt}.pt",
            inputs={},
            objective=[],
            top_k=2,
            hessian_dtype="float64",
            hessian_threads=1,
            sampling={2: ["--resolution", str(config["toy"]["resolution"])]},
            normalization="none",
            landscape_dtype="float64",
            landscape_threads=1,
        )

    def grid_dims(self, config: dict[str, Any]) -> set[int]:
        return {2}

    def with_curvature(self, config: dict[str, Any], directory: str) -> bool:
        return True

    def targets(self, config: dict[str, Any]) -> list[str]:
        return []

    def trees(self, config: dict[str, Any]) -> list[str]:
        at, chosen = fmt_number(config["toy"]["distance"]), config["topology"]["connectivity"]
        return [
            merge_tree_file(config, analysis_dir("toy", f"seed{seed}", "model"), 2, at, chosen)
            for seed in config["toy"]["seeds"]
        ]

    def tables(self, config: dict[str, Any]) -> dict[str, study.TopologyTable]:
        return {"toy_topology_summary": study.TopologyTable(self.trees(config))}

    def figures(self, config: dict[str, Any]) -> dict[str, specs.FigureSpec]:
        seeds = config["toy"]["seeds"]
        return {
            "toy_profiles": specs.profiles(
                self.trees(config),
                ["2-D"],
                [f"seed {seed}" for seed in seeds],
                config,
                ("Toy problem", "Profiles", "toy profiles by seed"),
            ),
            "toy_topology_vs_loss": specs.metric_figure(
                "toy_topology_summary",
                ["--metric", "final_loss", "--colour-by", "seed", "--marker-by", "dims"],
                ("Toy problem", "Topology vs loss", "toy topology vs final loss"),
            ),
        }


register(Toy())
study.register(ToyStudy())
