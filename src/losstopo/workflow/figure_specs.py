"""What the workflow's one figure rule draws: for each figure its ``losstopo figure`` kind, the
files it reads, its arguments and its place in the report. Plain data built by plain functions,
so a figure's command can be checked without Snakemake.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from losstopo.workflow.arguments import attached

FigureSpec = dict[str, Any]


def cli_options(section: Mapping[str, Any], names: Iterable[str]) -> list[str]:
    """``--name value`` for each config key (``n_f`` → ``--n-f``; a list joined by commas;
    ``--name`` alone for true, nothing for false or null), as a list for ``{params.x:q}``."""
    options = []
    for name in names:
        value = section[name]
        if value is None or value is False:
            continue
        options.append(f"--{name.replace('_', '-')}")
        if value is not True:
            is_list = isinstance(value, list)
            options.append(",".join(map(str, value)) if is_list else str(value))
    return options


def landscape_of(topology_file: str) -> str:
    """The landscape a merge tree was computed from: ``topology_3d_d0.1_full.nc`` →
    ``landscape_3d_d0.1.nc`` in the same directory."""
    directory, name = os.path.split(topology_file)
    return os.path.join(
        directory, name.replace("topology", "landscape", 1).rsplit("_", 1)[0] + ".nc"
    )


def table_figure(
    kind: str,
    table: str,
    modules: Sequence[str],
    report: tuple[str, str, str],
    options: Sequence[str] = (),
) -> FigureSpec:
    """A figure drawn from ``results/tables/<table>.csv`` by the package ``modules`` (and
    ``plots/common.py``, which every figure uses); ``report`` is (category, subcategory,
    label)."""
    path = f"results/tables/{table}.csv"
    category, subcategory, label = report
    return dict(
        kind=kind,
        inputs=[path],
        arguments=[path, *options],
        code=package_sources(*modules, "plots/common.py"),
        category=category,
        subcategory=subcategory,
        label=label,
    )


def profile_figure(
    topology: Sequence[str],
    columns: int,
    rows: Sequence[str],
    columns_text: Sequence[str],
    drawing: Mapping[str, Any],
    code: Sequence[str],
    report: tuple[str, str, str],
    title: str = "",
) -> FigureSpec:
    """A grid of profiles from merge trees (row-major; their landscapes are read too), drawn
    as the ``figures`` config section says (log axis, threshold, sibling order)."""
    category, subcategory, label = report
    return dict(
        kind="profiles",
        inputs=[*topology, *(landscape_of(path) for path in topology)],
        arguments=[
            *topology,
            "--columns",
            str(columns),
            *attached("--row-labels", rows),
            *attached("--column-labels", columns_text),
            *([] if drawing["log_loss"] else ["--linear"]),
            "--threshold",
            str(drawing["profile_threshold"]),
            "--order",
            drawing["child_order"],
            *attached("--title", [title] if title else []),
        ],
        code=list(code),
        category=category,
        subcategory=subcategory,
        label=label,
    )


def density_figure(
    groups: Mapping[str, Sequence[tuple[str, str]]],
    code: Sequence[str],
    report: tuple[str, str, str],
    title: str,
) -> FigureSpec:
    """Spectral densities of ``curvature.nc`` files: ``groups`` maps a panel's label to its
    (curve label, checkpoint directory) pairs."""
    files, panels, curves = [], [], []
    for panel, members in groups.items():
        for curve, directory in members:
            files.append(f"{directory}/curvature.nc")
            panels.append(panel)
            curves.append(curve)
    category, subcategory, label = report
    return dict(
        kind="spectral-density",
        inputs=files,
        arguments=[
            *files,
            *attached("--panel", panels),
            *attached("--curve", curves),
            *attached("--title", [title]),
        ],
        code=list(code),
        category=category,
        subcategory=subcategory,
        label=label,
    )


def package_sources(*modules: str) -> list[str]:
    """Package files a cheap rule depends on, so an edit to them re-runs the rule."""
    import losstopo

    root = os.path.dirname(losstopo.__file__)
    return [os.path.join(root, module) for module in modules]


# what a grid of profiles is drawn with (``losstopo figure profiles``)
PROFILE_MODULES = (
    "io/panels.py",
    "plots/profile_grid.py",
    "plots/profile.py",
    "plots/common.py",
    "topology/profile.py",
    "topology/descriptors.py",
    "topology/simplify.py",
    "io/topology_file.py",
)
DENSITY_MODULES = ("plots/curvature.py", "io/curvature_file.py", "plots/common.py")
METRIC_MODULES = ("plots/topology_vs_metric.py", "plots/profile_grid.py")


def heatmap(
    kind: str, table: str, report: tuple[str, str, str], options: Sequence[str] = ()
) -> FigureSpec:
    """A heat map of a training table (``losstopo figure <kind>``)."""
    return table_figure(kind, table, ("io/tables.py", "plots/heatmap.py"), report, options)


def metric_figure(table: str, options: Sequence[str], report: tuple[str, str, str]) -> FigureSpec:
    """Panels of a topology table's columns against a metric (``--metric ...`` options)."""
    return table_figure("topology-vs-metric", table, METRIC_MODULES, report, options)


def curvature_vs_metric(
    table: str, metric: Sequence[str], report: tuple[str, str, str], options: Sequence[str] = ()
) -> FigureSpec:
    """The curvature panels (top eigenvalue, trace, negative spectral mass, with the basin
    depth for reference) of a topology table against a metric (``--metric ...`` options)."""
    panels = ["top_eigenvalue", "hessian_trace", "esd_negative_mass", "basin_depth_decades"]
    return metric_figure(table, [*metric, "--panels", *panels, *options], report)


def profiles(
    topology: Sequence[str],
    rows: Sequence[str],
    columns: Sequence[str],
    config: Mapping[str, Any],
    report: tuple[str, str, str],
    title: str = "",
) -> FigureSpec:
    """:func:`profile_figure` of ``topology`` in row-major order under the row and column
    labels, drawn as config ``figures`` says, with the profile code."""
    return profile_figure(
        topology,
        len(columns),
        rows,
        columns,
        config["figures"],
        package_sources(*PROFILE_MODULES),
        report,
        title,
    )


def densities(
    groups: Mapping[str, Sequence[tuple[str, str]]], report: tuple[str, str, str], title: str
) -> FigureSpec:
    """:func:`density_figure` with the spectral-density code."""
    return density_figure(groups, package_sources(*DENSITY_MODULES), report, title)
