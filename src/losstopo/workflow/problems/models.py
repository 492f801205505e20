"""Your own models (config ``models``): each entry's checkpoints analysed under
``results/models/<name>/<file stem>``, a table and a profile figure per model, and a figure
against the metric it names."""

from __future__ import annotations

import functools
from typing import Any

from losstopo.workflow import figure_specs as specs
from losstopo.workflow.analysis_settings import AnalysisSettings, model_settings
from losstopo.workflow.models import model_checkpoints
from losstopo.workflow.paths import analysis_dir, fmt_number
from losstopo.workflow.sampling import merge_tree_file
from losstopo.workflow.study import TopologyTable, register

PLACE = "Your models"


class ModelsStudy:
    """Checkpoints of your own models (no rules of its own: the checkpoints exist)."""

    name = "models"
    rule_files = ()
    schema = None

    def entries(self, config: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The ``models`` entries by name, each with its checkpoint ``files`` by stem."""
        return {
            entry["name"]: {**entry, "files": _checkpoints(index, _hashable(entry["checkpoints"]))}
            for index, entry in enumerate(config.get("models") or [])
        }

    def enabled(self, config: dict[str, Any]) -> bool:
        return bool(config.get("models"))

    def errors(self, config: dict[str, Any]) -> list[str]:
        return []  # losstopo.workflow.plan_checks checks the entries

    def settings(self, config: dict[str, Any], run: str) -> AnalysisSettings:
        return model_settings(self.entries(config)[run], config["problem_modules"])

    def grid_dims(self, config: dict[str, Any]) -> set[int]:
        return {dims for entry in config.get("models") or [] for dims in entry["dims"]}

    def with_curvature(self, config: dict[str, Any], directory: str) -> bool:
        return True

    def targets(self, config: dict[str, Any]) -> list[str]:
        return []

    def tables(self, config: dict[str, Any]) -> dict[str, TopologyTable]:
        return {
            f"models/{name}_topology_summary": TopologyTable(self.trees(config, name))
            for name in self.entries(config)
        }

    def trees(self, config: dict[str, Any], name: str) -> list[str]:
        """Merge trees of one model's checkpoints (every configured dimension)."""
        entry = self.entries(config)[name]
        at, chosen = fmt_number(entry["distance"]), config["topology"]["connectivity"]
        return [
            merge_tree_file(config, analysis_dir("models", name, stem), dims, at, chosen)
            for dims in entry["dims"]
            for stem in entry["files"]
        ]

    def figures(self, config: dict[str, Any]) -> dict[str, specs.FigureSpec]:
        figures = {}
        for name, entry in self.entries(config).items():
            figures[f"models/{name}_profiles"] = specs.profiles(
                self.trees(config, name),
                [f"{dims}-D" for dims in entry["dims"]],
                list(entry["files"]),
                config,
                (PLACE, name, f"profiles of {name}"),
                f"{name}: profiles by checkpoint",
            )
            if entry["metric"]:
                figures[f"models/{name}_topology_vs_metric"] = specs.metric_figure(
                    f"models/{name}_topology_summary",
                    ["--metric", entry["metric"], "--colour-by", "run", "--marker-by", "dims"],
                    (PLACE, name, f"topology vs {entry['metric']} of {name}"),
                )
        return figures


def _hashable(patterns: str | list[str]) -> str | tuple[str, ...]:
    return patterns if isinstance(patterns, str) else tuple(patterns)


@functools.cache
def _checkpoints(index: int, patterns: str | tuple[str, ...]) -> dict[str, str]:
    """The files of ``config.models[index].checkpoints``, globbed once per process."""
    return model_checkpoints(index, {"checkpoints": patterns})


register(ModelsStudy())
