"""The segmentation study (config ``unet``): a UNet-CRF trained on Oxford-IIIT Pet (or its
synthetic stand-in) over lr x seed with a checkpoint per epoch, 2-D landscapes of the analysed
checkpoints, and the paper's Fig. 4 and Fig. B.6."""

from __future__ import annotations

import os
from typing import Any

from losstopo.workflow import figure_specs as specs
from losstopo.workflow import paths
from losstopo.workflow.analysis_settings import (
    AnalysisSettings,
    unet_analysed_epochs,
    unet_settings,
)
from losstopo.workflow.sampling import merge_tree_file
from losstopo.workflow.study import TopologyTable, register

PLACE = "UNet-CRF segmentation"
# the shape descriptors drawn against accuracy
UNET_PANELS = ["basin_depth_decades", "basin_fraction", "n_minima_above_log", "top_eigenvalue"]
# the config keys of ``unet`` that ``losstopo train-unet`` takes as options of the same name
TRAINING_OPTIONS = [
    "epochs",
    "batch_size",
    "image_size",
    "width",
    "depth",
    "crf_iterations",
    "crf_taps",
    "crf_bilateral",
    "weight_decay",
    "step_size",
    "gamma",
    "limit_trainval",
    "limit_test",
    "dtype",
]


class UnetStudy:
    """The UNet-CRF of the paper (its rules: rules/unet.smk)."""

    name = "unet"
    rule_files = ("rules/unet.smk",)
    schema = None

    def enabled(self, config: dict[str, Any]) -> bool:
        return config["unet"]["enabled"]

    def errors(self, config: dict[str, Any]) -> list[str]:
        errors = []  # losstopo.workflow.plan_checks checks the study's fields
        data = data_input(config)
        if self.enabled(config) and not synthetic(config) and not os.path.isfile(data):
            errors.append(
                f"config.unet.data_dir: {data_dir(config)} has no annotations/trainval.txt. "
                "Download images.tar.gz and annotations.tar.gz from "
                "https://www.robots.ox.ac.uk/~vgg/data/pets/ and extract both there, or set "
                "unet.dataset: synthetic"
            )
        return errors

    def settings(self, config: dict[str, Any], run: str) -> AnalysisSettings:
        return unet_settings(config, data_input(config))

    def grid_dims(self, config: dict[str, Any]) -> set[int]:
        return {2}

    def with_curvature(self, config: dict[str, Any], directory: str) -> bool:
        """Every analysed checkpoint, or (``curvature.unet_checkpoints: figures``) those of
        the Fig. 4 profiles, which the spectral-density figure draws."""
        return config["curvature"]["unet_checkpoints"] == "all" or directory in fig4_dirs(config)

    def targets(self, config: dict[str, Any]) -> list[str]:
        return ["results/tables/unet_accuracy.csv"]

    def tables(self, config: dict[str, Any]) -> dict[str, TopologyTable]:
        unet = config["unet"]
        dirs = checkpoint_dirs(
            unet["learning_rates"], unet["analysis"]["seeds"], unet_analysed_epochs(unet)
        )
        return {"unet_topology_summary": TopologyTable(trees(config, dirs))}

    def figures(self, config: dict[str, Any]) -> dict[str, specs.FigureSpec]:
        unet, figures = config["unet"], config["unet"]["figures"]
        data = " (SYNTHETIC data)" if synthetic(config) else ""
        by_accuracy = ["--metric", "test_pixel_accuracy", "--colour-by", "lr"]
        by_accuracy += ["--marker-by", "epoch"]
        result = {
            "fig4_accuracy_heatmap": specs.heatmap(
                "unet-heatmap",
                "unet_accuracy",
                (PLACE, "Fig. 4", "Fig. 4 (left): accuracy over lr x epoch"),
            ),
            "unet_topology_vs_accuracy": specs.metric_figure(
                "unet_topology_summary",
                [*by_accuracy, "--panels", *UNET_PANELS],
                (PLACE, "Topology vs performance", "topology vs accuracy: UNet-CRF checkpoints"),
            ),
            "fig4_profiles": specs.profiles(
                trees(config, fig4_dirs(config)),
                [f"seed {seed}" for seed in figures["profile_seeds"]],
                [f"epoch {epoch}" for epoch in figures["profile_epochs"]],
                config,
                (PLACE, "Fig. 4", "Fig. 4 (right): profiles over training"),
                f"UNet-CRF profiles over training, lr={figures['profile_lr']:g}{data}",
            ),
            "figB6_profiles_by_lr": specs.profiles(
                trees(
                    config,
                    checkpoint_dirs(
                        unet["learning_rates"],
                        [figures["compare_seed"]],
                        figures["compare_epochs"],
                    ),
                ),
                [f"lr={lr:g}" for lr in unet["learning_rates"]],
                [f"epoch {epoch}" for epoch in figures["compare_epochs"]],
                config,
                (PLACE, "Fig. B.6", "Fig. B.6: profiles across learning rates"),
                f"UNet-CRF profiles across learning rates, seed {figures['compare_seed']}{data}",
            ),
        }
        if config["curvature"]["enabled"]:
            result["unet_curvature_vs_accuracy"] = specs.curvature_vs_metric(
                "unet_topology_summary",
                by_accuracy,
                (PLACE, "Curvature", "curvature vs accuracy: UNet-CRF checkpoints"),
            )
            result["unet_spectral_density"] = specs.densities(
                {
                    f"seed {seed}": [
                        (f"epoch {epoch}", checkpoint_dir(figures["profile_lr"], seed, epoch))
                        for epoch in figures["profile_epochs"]
                    ]
                    for seed in figures["profile_seeds"]
                },
                (PLACE, "Curvature", "eigenvalue spectral densities over training"),
                "UNet-CRF Hessian eigenvalue spectral densities over training, "
                f"lr={figures['profile_lr']:g}{data}",
            )
        return result


def synthetic(config: dict[str, Any]) -> bool:
    return config["unet"]["dataset"] == "synthetic"


def data_dir(config: dict[str, Any]) -> str:
    return config["unet"]["data_dir"].rstrip("/")


def data_input(config: dict[str, Any]) -> str:
    """What the training and analysis jobs read: the generator's marker file for the
    synthetic data (so the data is made first), the real split file otherwise (a missing
    dataset is then reported before any job runs)."""
    if synthetic(config):
        return f"{data_dir(config)}/SYNTHETIC.json"
    return f"{data_dir(config)}/annotations/trainval.txt"


def dataset_of(config: dict[str, Any], data_file: str) -> str:
    """The dataset directory, from the path of the data file a job reads."""
    directory = os.path.dirname(data_file)
    return directory if synthetic(config) else os.path.dirname(directory)


def run_dir(lr: float, seed: int) -> str:
    return paths.run_dir("unet", paths.unet_run(lr, seed))


def run_dirs(config: dict[str, Any]) -> list[str]:
    """Run directories of every (learning rate, seed) training run."""
    unet = config["unet"]
    return [run_dir(lr, seed) for lr in unet["learning_rates"] for seed in unet["seeds"]]


def checkpoint_dir(lr: float, seed: int, epoch: int) -> str:
    """The analysis directory of one epoch's checkpoint."""
    return f"{run_dir(lr, seed)}/{paths.epoch_name(epoch)}"


def checkpoint_dirs(learning_rates: list[float], seeds: list[int], epochs: list[int]) -> list[str]:
    """Analysis directories (one per checkpoint) in row-major (lr, seed, epoch) order."""
    return [
        checkpoint_dir(lr, seed, epoch)
        for lr in learning_rates
        for seed in seeds
        for epoch in epochs
    ]


def fig4_dirs(config: dict[str, Any]) -> list[str]:
    """The checkpoints of the Fig. 4 profiles (rows = seeds, columns = epochs)."""
    figures = config["unet"]["figures"]
    return checkpoint_dirs(
        [figures["profile_lr"]], figures["profile_seeds"], figures["profile_epochs"]
    )


def trees(config: dict[str, Any], dirs: list[str]) -> list[str]:
    """The 2-D merge trees of UNet checkpoint directories."""
    at = paths.fmt_number(config["unet"]["landscape"]["distance"])
    chosen = config["topology"]["connectivity"]
    return [merge_tree_file(config, d, 2, at, chosen) for d in dirs]


register(UnetStudy())
