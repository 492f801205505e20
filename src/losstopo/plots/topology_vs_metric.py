"""Topology summaries against a metric (error, accuracy, any table column): one panel per
shape descriptor, colours and markers by groups of rows, Spearman correlations in the titles."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from losstopo.errors import LosstopoError
from losstopo.plots.profile_grid import FIELD_LABELS


def spearman_text(table: pd.DataFrame, x: str, y: str) -> str:
    """Spearman's ρ of two table columns, for figure titles ("n/a" when undefined)."""
    rho = table[[x, y]].corr(method="spearman").iloc[0, 1]
    return f"{rho:.2f}" if np.isfinite(rho) else "n/a"


def _format_value(value: Any) -> str:
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return str(value)


def select_connectivity(
    table: pd.DataFrame, connectivity: str | None = None
) -> tuple[pd.DataFrame, str | None]:
    """Rows of one connectivity: ``connectivity``, else ``full`` when present, else the
    first in the table (tables without the column are returned whole), and the rows of
    scattered landscapes, whose one merge tree is on the k-NN graph of their samples."""
    if "connectivity" not in table.columns:
        if connectivity is not None:
            raise LosstopoError("the table has no connectivity column")
        return table, None
    present = list(dict.fromkeys(table.connectivity.astype(str)))
    if connectivity is None:
        connectivity = "full" if "full" in present else present[0]
    if connectivity not in present:
        raise LosstopoError(
            f"connectivity {connectivity!r} is not in the table (it has {', '.join(present)})"
        )
    chosen = table.connectivity.astype(str) == connectivity
    if "sampling" in table.columns:  # scattered landscapes have only their k-NN tree
        chosen |= table.sampling.fillna("grid").astype(str) != "grid"
    return table[chosen], connectivity


def _descriptor_grid(
    table: pd.DataFrame,
    x: str,
    x_label: str,
    x_log: bool,
    panels: dict[str, tuple[str, bool]],
    colour_groups: list[tuple[pd.Series, Any, str]],
    marker_groups: list[tuple[pd.Series, str, str]],
    suptitle: str,
) -> Figure:
    """A 2×2 grid of descriptor-vs-performance scatters with Spearman ρ in each title; a
    constant descriptor is stated in words instead of drawn as a flat row of points, and one
    with ``<column>_lower``/``_upper`` columns (the ESD's negative mass) gets error bars."""
    fig, axes = plt.subplots(2, 2, figsize=(10.5, 6.6))
    for ax, (column, (label, log_y)) in zip(axes.ravel(), panels.items(), strict=True):
        values = table[column]
        distinct = values.dropna().unique()
        if len(distinct) <= 1:
            value = _format_value(distinct[0]) if len(distinct) else "n/a"
            ax.text(
                0.5,
                0.5,
                f"all {len(table)} landscapes: {column} = {value}",
                transform=ax.transAxes,
                ha="center",
                va="center",
                fontsize=9,
                gid="constant-panel",
            )
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(label, fontsize=9)
            continue
        bounded = {f"{column}_lower", f"{column}_upper"} <= set(table.columns)
        for colour_mask, colour, _ in colour_groups:
            for marker_mask, marker, _ in marker_groups:
                rows = table[colour_mask & marker_mask]
                if rows.empty:
                    continue
                if bounded:  # the interval the estimate is known to lie in
                    ax.errorbar(
                        rows[x],
                        rows[column],
                        yerr=(
                            (rows[column] - rows[f"{column}_lower"]).clip(lower=0),
                            (rows[f"{column}_upper"] - rows[column]).clip(lower=0),
                        ),
                        fmt="none",
                        ecolor=colour,
                        elinewidth=0.8,
                        alpha=0.6,
                        gid=f"bounds-{column}",
                    )
                ax.scatter(
                    rows[x],
                    rows[column],
                    color=colour,
                    marker=marker,
                    s=30,
                    edgecolor="0.2",
                    linewidths=0.4,
                )
        if x_log and (table[x] > 0).all():
            ax.set_xscale("log")
        if log_y and (values > 0).all():
            ax.set_yscale("log")
        ax.set_xlabel(x_label)
        ax.set_ylabel(label)
        ax.set_title(f"{label} (Spearman ρ = {spearman_text(table, x, column)})", fontsize=9)
    handles = [
        Line2D([], [], ls="", marker="o", color=colour, mec="0.2", label=label)
        for _, colour, label in colour_groups
    ] + [
        Line2D([], [], ls="", marker=marker, color="0.35", label=label)
        for _, marker, label in marker_groups
    ]
    fig.legend(
        handles=handles, loc="center left", bbox_to_anchor=(0.8, 0.5), fontsize=8, frameon=False
    )
    fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.8, 0.96))
    return fig


# what a topology-vs-metric panel can show: column → (axis label, log scale when positive)
DESCRIPTOR_PANELS = {
    "basin_depth_decades": ("θ basin depth (decades)", False),
    "basin_fraction": ("θ basin fraction of grid", True),
    "n_minima_above_log": ("minima above log threshold", False),
    "n_saddles_above_log": ("saddles above log threshold", False),
    "top_eigenvalue": ("top Hessian eigenvalue", True),
    "hessian_trace": ("Hessian trace (Hutchinson)", True),
    "esd_negative_mass": ("ESD mass below zero", False),
    "max_persistence": ("largest persistence", True),
    "persistence_entropy": ("persistence entropy", False),
}
CURVATURE_PANELS = ("top_eigenvalue", "hessian_trace", "esd_negative_mass")
DEFAULT_PANELS = (
    "basin_depth_decades",
    "basin_fraction",
    "n_minima_above_log",
    "n_saddles_above_log",
)
METRIC_NAMES = {
    "relative_l2_error": "relative L2 error",
    "test_pixel_accuracy": "test pixel accuracy",
    "test_accuracy": "test accuracy",
}
PROBLEM_NAMES = {"convection": "PINN", "segmentation": "UNet-CRF"}
MARKERS = "os^Dv<>ph*"


def _group_label(names: tuple[str, ...], values: tuple[Any, ...]) -> str:
    """``β=1, lr=1`` or ``epoch 2`` or ``3-D``: a group of rows as a legend reads it."""
    parts = []
    for name, value in zip(names, values, strict=True):
        if name == "dims":
            parts.append(f"{int(value)}-D")
        elif name in FIELD_LABELS and isinstance(value, int | float | np.number):
            parts.append(FIELD_LABELS[name].format(float(value)))
        else:
            parts.append(f"{name}={_format_value(value)}")
    return ", ".join(parts)


def _groups(table: pd.DataFrame, names: tuple[str, ...]) -> list[tuple[pd.Series, tuple]]:
    """Rows per distinct combination of ``names``, sorted ascending (learning rates
    descending, as the heat maps' rows)."""
    combos = list(dict.fromkeys(zip(*(table[n] for n in names), strict=True)))
    for position in reversed(range(len(names))):
        combos.sort(key=lambda combo: combo[position], reverse=names[position] == "lr")
    groups = []
    for combo in combos:
        mask = pd.Series(True, index=table.index)
        for name, value in zip(names, combo, strict=True):
            mask &= table[name] == value
        groups.append((mask, combo))
    return groups


def _regime_suffix(table: pd.DataFrame, mask: pd.Series) -> str:
    if "regime" in table.columns:
        regimes = [r for r in table.loc[mask, "regime"].dropna().unique() if str(r).strip()]
        if regimes:
            return f" ({regimes[0]})"
    return ""


def groups_by_colour(
    table: pd.DataFrame, names: tuple[str, ...]
) -> list[tuple[pd.Series, Any, str]]:
    """One tab10 colour per combination of ``names`` (e.g. each analysed (β, lr) cell),
    labelled with its regime where the table names one."""
    groups = _groups(table, names)
    colours = plt.cm.tab10(np.arange(len(groups)) % 10)
    return [
        (mask, colour, _group_label(names, combo) + _regime_suffix(table, mask))
        for (mask, combo), colour in zip(groups, colours, strict=True)
    ]


def topology_vs_metric(
    table: pd.DataFrame,
    metric: str,
    *,
    colour_by: tuple[str, ...] = ("beta", "lr"),
    marker_by: str = "dims",
    panels: tuple[str, ...] = DEFAULT_PANELS,
    connectivity: str | None = None,
    dims: int | None = None,
) -> Figure:
    """Topology summaries of one table (any problem) against one of its checkpoints'
    metrics: a 2×2 grid of scatters with Spearman ρ, one colour per combination of the
    ``colour_by`` columns (with its regime, where named) and one marker per value of
    ``marker_by``, for one connectivity (and, with ``dims``, one landscape dimension)."""
    if len(panels) != 4:
        raise LosstopoError(f"a topology-vs-metric figure has 4 panels, got {len(panels)}")
    unknown = [p for p in panels if p not in DESCRIPTOR_PANELS]
    if unknown:
        raise LosstopoError(
            f"unknown panel(s) {', '.join(unknown)} (choose from {', '.join(DESCRIPTOR_PANELS)})"
        )
    needed = [metric, marker_by, *colour_by, *panels]
    missing = [c for c in dict.fromkeys(needed) if c not in table.columns]
    if missing:
        raise LosstopoError(f"topology table lacks column(s) {', '.join(missing)}")
    table, chosen = select_connectivity(table, connectivity)
    if dims is not None:  # e.g. checkpoint-level numbers (curvature) once per checkpoint
        if "dims" not in table.columns or not (table.dims == dims).any():
            raise LosstopoError(f"the table has no {dims}-D landscapes")
        table = table[table.dims == dims]
    table = table.reset_index(drop=True)
    colour_groups = groups_by_colour(table, colour_by)
    marker_groups = [
        (mask, marker, _group_label((marker_by,), combo))
        for (mask, combo), marker in zip(_groups(table, (marker_by,)), MARKERS, strict=False)
    ]
    values = table[metric].astype(float)
    positive = values[values > 0]
    x_log = len(positive) == len(values) and positive.max() > 10 * positive.min()
    problems = [str(p) for p in table["problem"].unique()] if "problem" in table else []
    problem = PROBLEM_NAMES.get(problems[0], problems[0]) if problems else ""
    if problem == "model" and "run" in table:  # a model of the user's: its name
        problem = ", ".join(str(run) for run in table["run"].unique())
    data = " (SYNTHETIC data)" if table.get("synthetic_data", pd.Series([False])).any() else ""
    threshold = ""
    if "log_threshold_decades" in table.columns and table.log_threshold_decades.nunique() == 1:
        threshold = f", log threshold {table.log_threshold_decades.iloc[0]:g} decades"
    graph = f", {chosen} connectivity" if chosen else ""
    if chosen and chosen != "knn" and (table.get("sampling", pd.Series(["grid"])) != "grid").any():
        graph += " (scattered samples: knn)"
    metric_name = METRIC_NAMES.get(metric, metric.replace("_", " "))
    # four panels, at most three of them curvature: the others are topology descriptors
    curvature = any(p in CURVATURE_PANELS for p in panels)
    subject = "curvature and topology" if curvature else "topology"
    counts = f"({len(table)} landscapes{graph}{threshold})"
    title = f"{problem} {subject} vs {metric_name}{data} {counts}"
    return _descriptor_grid(
        table,
        metric,
        metric_name,
        x_log,
        {column: DESCRIPTOR_PANELS[column] for column in panels},
        colour_groups,
        marker_groups,
        title.strip(),
    )


def topology_vs_error(table: pd.DataFrame, connectivity: str | None = None) -> Figure:
    """PINN landscapes against relative L2 error (colour = analysed cell, marker =
    landscape dimension): the trained basin's depth and share, minima and saddles above
    the log-persistence threshold."""
    return topology_vs_metric(table, "relative_l2_error", connectivity=connectivity)


def topology_vs_accuracy(table: pd.DataFrame, connectivity: str | None = None) -> Figure:
    """UNet checkpoints against test pixel accuracy (colour = learning rate, marker =
    epoch): the trained basin's depth and share, minima above the log-persistence
    threshold and the top Hessian eigenvalue."""
    return topology_vs_metric(
        table,
        "test_pixel_accuracy",
        colour_by=("lr",),
        marker_by="epoch",
        panels=(*DEFAULT_PANELS[:3], "top_eigenvalue"),
        connectivity=connectivity,
    )
