"""Per-problem choices of the generic analysis rules (hessian, curvature, landscape,
topology), by the ``{problem}`` path segment: where a checkpoint is, what else its objective
reads, the options that choose its objective, and its Hessian and landscape settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from losstopo.workflow.paths import UNET_CHECKPOINT, run_dir
from losstopo.workflow.sampling import sampling_options

UNET_TOP_K = 2  # the segmentation landscapes are 2-D (paper §4.2)


@dataclass(frozen=True)
class AnalysisSettings:
    """What the analysis rules need to know about one problem (or one of your models)."""

    checkpoint_pattern: str  # with {run} and {ckpt}; unused when checkpoint_files is given
    inputs: dict[str, Any]
    objective: list[str]
    top_k: int
    hessian_dtype: str
    hessian_threads: int
    sampling: dict[int, list[str]]
    normalization: str
    landscape_dtype: str
    landscape_threads: int
    checkpoint_files: dict[str, str] = field(default_factory=dict)

    def checkpoint(self, run: str, ckpt: str) -> str:
        """Path of checkpoint ``ckpt`` of ``run``."""
        if self.checkpoint_files:
            return self.checkpoint_files[ckpt]
        return self.checkpoint_pattern.format(run=run, ckpt=ckpt)


def unet_analysed_epochs(unet: dict[str, Any]) -> list[int]:
    """Epochs whose UNet checkpoints are analysed (``all``: every checkpoint, 0 included)."""
    epochs = unet["analysis"]["epochs"]
    return list(range(unet["epochs"] + 1)) if epochs == "all" else sorted(epochs)


def pinn_settings(config: dict[str, Any]) -> AnalysisSettings:
    """The convection PINN: checkpoint ``model`` of each run, top-k = largest landscape."""
    sampling = sampling_options(config["landscape"])
    return AnalysisSettings(
        checkpoint_pattern=run_dir("pinn", "{run}") + "/{ckpt}.pt",
        inputs={},
        objective=[],
        top_k=max(sampling),
        hessian_dtype=config["hessian"]["dtype"],
        hessian_threads=config["hessian"]["threads"],
        sampling=sampling,
        normalization=config["landscape"]["normalization"],
        landscape_dtype=config["landscape"]["dtype"],
        landscape_threads=config["landscape"]["threads"],
    )


def unet_settings(config: dict[str, Any], data_input: str) -> AnalysisSettings:
    """The UNet-CRF: a checkpoint per epoch, the loss on one fixed batch of ``data_input``'s
    dataset, 2-D landscapes."""
    landscape = config["unet"]["landscape"]
    return AnalysisSettings(
        checkpoint_pattern=f"{run_dir('unet', '{run}')}/{UNET_CHECKPOINT}",
        inputs={"data": data_input},
        objective=[
            "--bn-mode",
            landscape["bn_mode"],
            "--objective-batch",
            str(landscape["batch_size"]),
            "--objective-batch-seed",
            str(landscape["batch_seed"]),
        ],
        top_k=UNET_TOP_K,
        hessian_dtype=landscape["hessian_dtype"],
        hessian_threads=landscape["threads"],
        sampling={2: ["--resolution", str(landscape["resolution"])]},
        normalization=landscape["normalization"],
        landscape_dtype=landscape["dtype"],
        landscape_threads=landscape["threads"],
    )


def model_settings(model: dict[str, Any], problem_modules: list[str]) -> AnalysisSettings:
    """One of your models (a ``models:`` entry with its resolved ``files``): its objective
    factory, or a registered problem; the code that defines the objective is an input, so
    editing it re-runs the analysis."""
    spec = model.get("objective")
    code = [spec.rpartition(":")[0]] if spec else problem_modules
    return AnalysisSettings(
        checkpoint_pattern="",
        checkpoint_files=model["files"],
        inputs={"objective_code": [f for f in code if f.endswith(".py")]},
        objective=["--objective", spec] if spec else [],
        top_k=max(model["dims"]),
        hessian_dtype=model["dtype"],
        hessian_threads=model["threads"],
        sampling={dims: ["--resolution", str(model["resolution"])] for dims in model["dims"]},
        normalization=model["normalization"],
        landscape_dtype=model["dtype"],
        landscape_threads=model["threads"],
    )
