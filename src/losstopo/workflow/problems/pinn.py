"""The PINN study (config ``pinn``): training over beta x lr x seed, the analysed cells'
landscapes at every configured dimension and at the extent study's distances, and the
paper's Fig. 3 and Fig. A.5 with their calibration, claims and curvature figures."""

from __future__ import annotations

from itertools import product
from typing import Any

from losstopo.workflow import figure_specs as specs
from losstopo.workflow import paths
from losstopo.workflow.analysis_settings import AnalysisSettings, pinn_settings
from losstopo.workflow.paths import analysis_dir, fmt_number, pinn_run
from losstopo.workflow.sampling import connectivities, merge_tree_file, sampling_options
from losstopo.workflow.study import TopologyTable, register

PLACE = "PINN convection"


class PinnStudy:
    """The convection PINN of the paper (its rules: rules/pinn.smk, rules/claims.smk)."""

    name = "pinn"
    rule_files = ("rules/pinn.smk", "rules/claims.smk")
    schema = None

    def enabled(self, config: dict[str, Any]) -> bool:
        return config["pinn"]["enabled"]

    def errors(self, config: dict[str, Any]) -> list[str]:
        return []  # losstopo.workflow.plan_checks checks the PINN study's fields

    def settings(self, config: dict[str, Any], run: str) -> AnalysisSettings:
        return pinn_settings(config)

    def grid_dims(self, config: dict[str, Any]) -> set[int]:
        return {grid["dims"] for grid in config["landscape"]["grids"]}

    def with_curvature(self, config: dict[str, Any], directory: str) -> bool:
        return True

    def targets(self, config: dict[str, Any]) -> list[str]:
        return ["results/tables/pinn_errors.csv", "results/tables/claims.csv"]

    def tables(self, config: dict[str, Any]) -> dict[str, TopologyTable]:
        options = ["--regime", *regimes(config)]
        return {
            "topology_summary": TopologyTable(summary_files(config), options),
            "extent_study": TopologyTable(extent_files(config), options),
        }

    def figures(self, config: dict[str, Any]) -> dict[str, specs.FigureSpec]:
        return {**table_figures(config), **profile_figures(config), **density_figures(config)}


def run_files(config: dict[str, Any], name: str) -> list[str]:
    """Paths of ``name`` (e.g. metrics.json) in every configured PINN run directory."""
    pinn = config["pinn"]
    return [
        f"{paths.run_dir('pinn', pinn_run(beta, lr, seed))}/{name}"
        for beta, lr, seed in product(pinn["betas"], pinn["learning_rates"], pinn["seeds"])
    ]


def run_dir(cell: dict[str, Any], seed: int) -> str:
    """The analysis directory of an analysed cell's run with ``seed``."""
    return analysis_dir("pinn", pinn_run(cell["beta"], cell["lr"], seed), "model")


def run_dirs(config: dict[str, Any], seeds: list[int] | None = None) -> list[str]:
    """Analysis directories (checkpoint ``model``) of the analysed runs: rows = cells,
    columns = seeds (default: every analysed seed)."""
    analysis = config["pinn"]["analysis"]
    return [
        run_dir(cell, seed)
        for cell in analysis["cells"]
        for seed in (analysis["seeds"] if seeds is None else seeds)
    ]


def distance(config: dict[str, Any]) -> str:
    return fmt_number(config["landscape"]["distance"])


def extent_distances(config: dict[str, Any]) -> list[str]:
    return [fmt_number(d) for d in config["landscape"]["extent_distances"]]


def tree(config: dict[str, Any], run: str, dims: int, at: str | None = None) -> str:
    """A run's merge tree with the configured connectivity (default: configured distance)."""
    chosen = config["topology"]["connectivity"]
    return merge_tree_file(config, run, dims, at or distance(config), chosen)


def summary_files(config: dict[str, Any]) -> list[str]:
    """Merge trees of every configured landscape of every analysed run, every connectivity
    (a scattered landscape's one k-NN tree)."""
    files = [
        merge_tree_file(config, run, dims, distance(config), connectivity)
        for dims in sampling_options(config["landscape"])
        for connectivity in connectivities(config)
        for run in run_dirs(config)
    ]
    return list(dict.fromkeys(files))


def extent_files(config: dict[str, Any]) -> list[str]:
    """The extent study: merge trees at every distance of every analysed run."""
    dims = config["landscape"]["extent_dims"]
    return [
        merge_tree_file(config, run, dims, at, connectivity)
        for at in extent_distances(config)
        for connectivity in connectivities(config)
        for run in run_dirs(config)
    ]


def cell_label(cell: dict[str, Any]) -> str:
    """Row label of an analysed cell: its regime (when named), beta and lr."""
    text = f"β={cell['beta']:g}, lr={cell['lr']:g}"
    return f"{cell['label']}: {text}" if cell.get("label") else text


def regimes(config: dict[str, Any]) -> list[str]:
    """``BETA:LR:LABEL`` of every analysed cell that names its regime."""
    return [
        f"{cell['beta']:g}:{cell['lr']:g}:{cell['label']}"
        for cell in config["pinn"]["analysis"]["cells"]
        if cell.get("label")
    ]


def table_figures(config: dict[str, Any]) -> dict[str, specs.FigureSpec]:
    """Figures drawn from the PINN tables."""
    connectivity = ["--connectivity", config["topology"]["connectivity"]]
    by_error = ["--metric", "relative_l2_error", "--colour-by", "beta,lr", "--marker-by", "dims"]
    cells = [f"{c['beta']:g}:{c['lr']:g}" for c in config["pinn"]["analysis"]["cells"]]
    figures = {
        "fig3_error_heatmap": specs.heatmap(
            "pinn-heatmap",
            "pinn_errors",
            (PLACE, "Fig. 3", "Fig. 3 (left): error over beta x lr"),
            ["--highlight", *cells],
        ),
        "extent_study": specs.table_figure(
            "extent-study",
            "extent_study",
            ["plots/extent.py", *specs.METRIC_MODULES],
            (PLACE, "Landscape extent", "extent study: shape descriptors by distance"),
        ),
        "topology_vs_error": specs.metric_figure(
            "topology_summary",
            by_error + connectivity,
            (PLACE, "Topology vs performance", "topology vs error: shape descriptors vs error"),
        ),
        "null_calibration": specs.table_figure(
            "null-calibration",
            "topology_summary",
            ["plots/calibration.py"],
            (PLACE, "Calibration", "critical points of the loss and of its null model"),
        ),
        "claims": specs.table_figure(
            "claims",
            "claims",
            ["plots/claims.py"],
            (PLACE, "Claims", "the paper's claims: effects, intervals over seeds, verdicts"),
        ),
    }
    if config["curvature"]["enabled"]:
        figures["curvature_vs_error"] = specs.curvature_vs_metric(
            "topology_summary",
            by_error,
            (PLACE, "Curvature", "curvature vs error: top eigenvalue, trace, negative mass"),
            [*connectivity, "--dims", str(config["figures"]["profile_dims"])],
        )
    return figures


def profile_figures(config: dict[str, Any]) -> dict[str, specs.FigureSpec]:
    """Fig. 3 (right) at the configured and the near extent, Fig. A.5 and the extent
    study's profiles."""
    analysis, drawing = config["pinn"]["analysis"], config["figures"]
    cells = [cell_label(cell) for cell in analysis["cells"]]
    seeds = [f"seed {seed}" for seed in analysis["seeds"]]
    runs = run_dirs(config)
    extent_dims = config["landscape"]["extent_dims"]
    by_dims = drawing["compare_dims"]
    figures = {
        "fig3_profiles": specs.profiles(
            [tree(config, run, drawing["profile_dims"]) for run in runs],
            cells,
            seeds,
            config,
            (PLACE, "Fig. 3", "Fig. 3 (right): profiles by regime and seed"),
        )
    }
    if drawing["near_distance"] is not None:
        near = fmt_number(drawing["near_distance"])
        figures["fig3_profiles_near"] = specs.profiles(
            [tree(config, run, extent_dims, near) for run in runs],
            cells,
            seeds,
            config,
            (PLACE, "Fig. 3", "Fig. 3 (right) near theta: profiles by regime and seed"),
            f"{extent_dims}-D profiles at extent ±{near}: inside the trained basins",
        )
    figures["figA5_profiles_by_dimension"] = specs.profiles(
        [tree(config, run, dims) for dims in by_dims for run in runs],
        [f"{dims}-D" for dims in by_dims],
        [f"{cell.split(':')[0]}, seed {seed}" for cell in cells for seed in analysis["seeds"]],
        config,
        (PLACE, "Fig. A.5", "Fig. A.5: profiles by landscape dimension"),
    )
    distances = extent_distances(config)
    first_seed = run_dirs(config, analysis["seeds"][:1])
    figures["extent_profiles"] = specs.profiles(
        [tree(config, run, extent_dims, at) for run in first_seed for at in distances],
        cells,
        [f"distance {at}" for at in distances],
        config,
        (PLACE, "Landscape extent", "extent study: profiles by distance"),
    )
    return figures


def density_figures(config: dict[str, Any]) -> dict[str, specs.FigureSpec]:
    """The analysed runs' eigenvalue spectral densities, one panel per cell."""
    if not config["curvature"]["enabled"]:
        return {}
    analysis = config["pinn"]["analysis"]
    groups = {
        cell_label(cell): [(f"seed {seed}", run_dir(cell, seed)) for seed in analysis["seeds"]]
        for cell in analysis["cells"]
    }
    return {
        "pinn_spectral_density": specs.densities(
            groups,
            (PLACE, "Curvature", "eigenvalue spectral densities of the analysed runs"),
            "PINN Hessian eigenvalue spectral densities (SLQ), seeds overlaid",
        )
    }


register(PinnStudy())
