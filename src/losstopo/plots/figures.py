"""Figure assembly from data: grids of profiles (merge trees with their checkpoints' fields
and metrics, read by :mod:`losstopo.io.panels`), topology against a metric and the
landscape-extent study (tables)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullLocator

from losstopo.errors import LosstopoError
from losstopo.io.panels import PanelInput
from losstopo.plots.profile import (
    ABSOLUTE_COLOUR_LABEL,
    BASIN_COLOR,
    BASIN_LABEL,
    CMAP,
    COLOURS,
    MINIMUM_COLOR,
    RELATIVE_COLOUR_LABEL,
    SADDLE_COLOR,
    THETA_COLOR,
    THETA_LABEL,
    Y_MODES,
    draw_profile,
    fill_values,
    relative_norm,
    set_loss_limits,
    shared_norm,
    y_range,
)
from losstopo.topology.profile import Profile, landscape_profile
from losstopo.topology.simplify import absolute_threshold, simplify


def panel_title(info: dict[str, Any], dims: int | None = None) -> str:
    """PINN: β, lr, seed and error; segmentation: lr, seed, epoch and test accuracy; then
    the landscape's dimension, extent and graph."""
    dims = int(info.get("dims", dims or 0)) or dims
    shape = [f"{dims}-D" if dims else "", ""]
    if info.get("distance") is not None:
        shape[1] = f"extent ±{float(info['distance']):g}"
    if info.get("layout") == "scattered":
        shape.append(f"{int(info['n_points'])} {info.get('sampling', '')} samples")
    if info.get("connectivity"):
        shape.append(info["connectivity"])
    second = ", ".join(part for part in shape if part)
    try:
        if "fields" in info:
            first = _checkpoint_line(info["fields"], info.get("metrics", {}))
        elif "relative_l2_error" in info:
            first = (
                f"β={float(info['beta']):g}, lr={float(info['lr']):g}, seed {int(info['seed'])}"
                f" · error {float(info['relative_l2_error']):.2g}"
            )
        else:
            first = (
                f"lr={float(info['lr']):g}, seed {int(info['seed'])}, epoch "
                f"{int(info['epoch'])} · acc. {float(info['test_pixel_accuracy']):.3f}"
            )
    except (KeyError, ValueError, TypeError) as exc:
        raise LosstopoError(
            f"no run metrics for a panel title ({exc} missing); pass a run directory with "
            "metrics.json or a topology file carrying its checkpoint's metrics"
        ) from None
    return f"{first}\n{second}" if second else first


# how a checkpoint's fields and metrics read in panel titles (others: name=value)
FIELD_LABELS = {"beta": "β={:g}", "lr": "lr={:g}", "seed": "seed {:.0f}", "epoch": "epoch {:.0f}"}
METRIC_LABELS = {
    "relative_l2_error": "error {:.2g}",
    "test_pixel_accuracy": "acc. {:.3f}",
    "test_accuracy": "test acc. {:.3f}",
}


def _checkpoint_line(fields: dict[str, Any], metrics: dict[str, Any]) -> str:
    """``β=1, lr=1, seed 0 · error 0.27``: what identifies a checkpoint and its first
    metric (as its problem or factory recorded them)."""
    parts = [FIELD_LABELS.get(k, k + "={:g}").format(float(v)) for k, v in fields.items()]
    line = ", ".join(parts)
    if metrics:
        name, value = next(iter(metrics.items()))
        text = METRIC_LABELS.get(name, name.replace("_", " ") + " {:.3g}").format(float(value))
        line = f"{line} · {text}" if line else text
    return line


def _percent(fraction: float) -> str:
    value = 100.0 * fraction
    if not math.isfinite(value):
        return "n/a"
    if value >= 10:
        return f"{value:.0f} %"
    if value >= 1:
        return f"{value:.1f} %"
    return f"{value:.2g} %"


def panel_annotation(
    profile: Profile, n_minima: int, n_saddles: int, connectivity: str, points: str = "grid"
) -> str:
    """Counts, and the trained basin's share of the grid (or the samples) and depth in
    decades."""
    text = f"{n_minima} min, {n_saddles} sad ({connectivity})"
    basin = profile.basin
    if basin is not None:
        depth = basin.depth_decades
        depth_text = f"{depth:.1f} decades" if math.isfinite(depth) else "depth n/a"
        text += f"\nθ basin {_percent(basin.fraction)} of {points}, {depth_text}"
    return text


@dataclass
class _PanelData:
    profile: Profile
    title: str
    annotation: str
    scattered: bool = False


def _panel_data(panel: PanelInput, threshold: float, order: str) -> _PanelData:
    """A panel's profile (simplified at the relative ``threshold``), title and counts."""
    tree = panel.tree
    if threshold > 0:
        tree = simplify(tree, absolute_threshold(tree, threshold, relative=True))
    profile = landscape_profile(tree, order=order)
    info = dict(panel.info)
    info["connectivity"] = info.get("connectivity") or tree.connectivity
    scattered = info.get("layout") == "scattered"
    counts = (tree.n_minima, tree.n_saddles, tree.connectivity)
    return _PanelData(
        profile=profile,
        title=panel_title(info, None if scattered else len(tree.shape)),
        annotation=panel_annotation(profile, *counts, "samples" if scattered else "grid"),
        scattered=scattered,
    )


# inches of the profile grid's layout
_PANEL_H = 2.0
_TITLE_H = 0.5
_GAP_W = 0.4
_AXIS_W = 0.8  # y tick labels and the y label
_RIGHT_W = 1.55  # colour bar with its ticks and two-line label
_BOTTOM_H = 0.95  # x tick labels, x label and the legend
_COLUMN_LABEL_H = 0.3
_SUPTITLE_H = 0.4
_MIN_ASPECT = 1.25  # width / height of a profile grid


def _text_width(lines: list[str], fontsize: float) -> float:
    """Rough width in inches of the longest of ``lines`` (DejaVu Sans averages ~0.6 em)."""
    longest = max((len(line) for text in lines for line in text.split("\n")), default=0)
    return longest * fontsize * 0.6 / 72


def profile_grid(
    panels: list[PanelInput],
    columns: int,
    log_y: bool = True,
    threshold: float = 0.0,
    order: str = "width",
    title: str | None = None,
    colour: str = "relative",
    y: str | None = None,
    row_labels: list[str] | None = None,
    column_labels: list[str] | None = None,
) -> Figure:
    """Panels in row-major order with one shared colour scale and titles with each run's
    error or accuracy; rows share their loss limits (``y="relative"``: the whole figure).

    ``colour``: ``relative`` (arc mean loss in decades above the loss at θ, clipped at the
    2nd–98th percentile of all arcs) or ``absolute`` (mean loss, log scale). ``y``: ``log``
    (default unless ``log_y`` is false), ``linear`` or ``relative`` (loss/loss at θ, log).
    """
    y = y or ("log" if log_y else "linear")
    if y not in Y_MODES:
        raise LosstopoError(f"unknown y axis {y!r} (choose {', '.join(Y_MODES)})")
    if colour not in COLOURS:
        raise LosstopoError(f"unknown colour {colour!r} (choose {' or '.join(COLOURS)})")
    if columns < 1:
        raise LosstopoError(f"columns must be >= 1, got {columns}")
    if not panels:
        raise LosstopoError("no panels given")
    rows = math.ceil(len(panels) / columns)
    if row_labels is not None and len(row_labels) != rows:
        raise LosstopoError(f"{len(row_labels)} row label(s) for {rows} row(s)")
    if column_labels is not None and len(column_labels) != min(columns, len(panels)):
        raise LosstopoError(f"{len(column_labels)} column label(s) for {columns} column(s)")
    data = [_panel_data(panel, threshold, order) for panel in panels]
    scattered = {d.scattered for d in data}
    x_label = {
        frozenset({False}): "fraction of grid points",
        frozenset({True}): "fraction of samples",
    }.get(frozenset(scattered), "fraction of grid points or samples")
    profiles = [d.profile for d in data]

    panel_h = _PANEL_H if rows <= 3 else max(1.4, 6.5 / rows)
    row_label_w = _text_width(row_labels, 9) + 0.2 if row_labels else 0.0
    left_w = _AXIS_W + row_label_w
    top_h = _TITLE_H + (_COLUMN_LABEL_H if column_labels else 0) + (_SUPTITLE_H if title else 0)
    height = top_h + rows * panel_h + (rows - 1) * _TITLE_H + _BOTTOM_H
    fixed_w = left_w + _RIGHT_W + (columns - 1) * _GAP_W
    panel_w = max(3.2, (_MIN_ASPECT * height - fixed_w) / columns)
    width = fixed_w + columns * panel_w
    fig = plt.figure(figsize=(width, height))
    grid_left, grid_right = left_w / width, 1 - _RIGHT_W / width
    grid_bottom, grid_top = _BOTTOM_H / height, 1 - top_h / height
    axes = fig.subplots(
        rows,
        columns,
        squeeze=False,
        sharex=True,
        sharey="all" if y == "relative" else "row",
        gridspec_kw={
            "left": grid_left,
            "right": grid_right,
            "bottom": grid_bottom,
            "top": grid_top,
            "wspace": _GAP_W / panel_w,
            "hspace": _TITLE_H / panel_h,
        },
    )
    shift = max(p.log_shift for p in profiles) if y == "log" else 0.0
    if colour == "relative":
        norm = relative_norm(profiles)
    else:
        norm = shared_norm(profiles, log=y != "linear")
    for index, ax in enumerate(axes.ravel()):
        if index >= len(profiles):
            ax.set_visible(False)
            continue
        draw_profile(
            ax,
            profiles[index],
            norm,
            show_x=index + columns >= len(profiles),
            colour=colour,
            y=y,
            shift=shift,
            set_limits=False,
            x_label=x_label,
        )
        if index + columns >= len(profiles):  # bottom of its column: show the x axis
            ax.tick_params(axis="x", labelbottom=True)
        ax.set_title(data[index].title, fontsize=8)
        ax.text(
            0.02,
            0.97,
            data[index].annotation,
            transform=ax.transAxes,
            fontsize=6.5,
            va="top",
            ha="left",
            color="black",
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "alpha": 0.85, "lw": 0},
            gid="panel-annotation",
        )
    # shared loss limits: per row, or over the whole figure for the relative axis
    groups = (
        [list(range(len(profiles)))]
        if y == "relative"
        else [list(range(r * columns, min((r + 1) * columns, len(profiles)))) for r in range(rows)]
    )
    for members in groups:
        ranges = [y_range(profiles[i], y, shift) for i in members]
        low, high = min(r[0] for r in ranges), max(r[1] for r in ranges)
        for i in members:
            set_loss_limits(axes.ravel()[i], low, high, y)
    ylabel = {"log": "loss", "linear": "loss", "relative": "loss / loss at θ"}[y]
    if y == "log" and shift > 0:
        ylabel = f"loss + {shift:.3g}"
    for row in range(rows):
        axes[row, 0].set_ylabel(ylabel)
        if row_labels:
            axes[row, 0].annotate(
                row_labels[row],
                xy=(0, 0.5),
                xycoords=axes[row, 0].yaxis.label,
                xytext=(-8, 0),
                textcoords="offset points",
                ha="right",
                va="center",
                fontsize=9,
                gid="row-label",
            )
    for col, label in enumerate(column_labels or []):
        axes[0, col].annotate(
            label,
            xy=(0.5, 1.0),
            xycoords=axes[0, col].title,
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=9,
            fontweight="bold",
            gid="column-label",
        )
    _profile_colour_bar(fig, profiles, norm, colour, (grid_right, grid_bottom, grid_top), width)
    handles = [
        Line2D([], [], ls="", marker="o", color=MINIMUM_COLOR, label="minimum"),
        Line2D([], [], ls="", marker="o", color=SADDLE_COLOR, label="saddle"),
        Line2D([], [], ls="", marker="*", ms=10, mfc=THETA_COLOR, mec="black", label=THETA_LABEL),
        Patch(facecolor="none", edgecolor=BASIN_COLOR, lw=1.3, label=BASIN_LABEL),
    ]
    fig.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=((grid_left + grid_right) / 2, 0.05 / height),
        ncol=4,
        fontsize=8,
        frameon=False,
    )
    if title:  # above the column labels and panel titles, whatever the number of rows
        fig.suptitle(
            title, x=(grid_left + grid_right) / 2, y=1 - 0.08 / height, va="top", fontsize=10
        )
    return fig


def _profile_colour_bar(
    fig: Figure,
    profiles: list[Profile],
    norm,
    colour: str,
    grid: tuple[float, float, float],
    width: float,
) -> None:
    """One colour bar right of the panels; its arrows say where the scale is clipped."""
    right, bottom, top = grid
    box = (right + 0.25 / width, bottom, 0.15 / width, top - bottom)
    cax = fig.add_axes(box, label="colour-bar")
    values = np.concatenate([fill_values(p, colour) for p in profiles])
    values = values[np.isfinite(values)]
    below = bool(values.size and values.min() < norm.vmin)
    above = bool(values.size and values.max() > norm.vmax)
    extend = {(True, True): "both", (True, False): "min", (False, True): "max"}.get(
        (below, above), "neither"
    )
    mappable = plt.cm.ScalarMappable(norm=norm, cmap=CMAP)
    label = RELATIVE_COLOUR_LABEL if colour == "relative" else ABSOLUTE_COLOUR_LABEL
    bar = fig.colorbar(mappable, cax=cax, extend=extend)
    bar.set_label(label, fontsize=8.5)
    if colour == "absolute" and norm.vmin > 0 and norm.vmax / norm.vmin < 10:
        bar.ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
        bar.ax.yaxis.set_minor_locator(NullLocator())
        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.4g}"))


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


def _colour_groups(table: pd.DataFrame, names: tuple[str, ...]) -> list[tuple[pd.Series, Any, str]]:
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
    colour_groups = _colour_groups(table, colour_by)
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
    title = f"{problem} topology vs {metric_name}{data} ({len(table)} landscapes{graph}{threshold})"
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


EXTENT_COLUMNS = [
    "beta",
    "lr",
    "seed",
    "distance",
    "connectivity",
    "dims",
    "basin_depth_decades",
    "basin_fraction",
    "n_minima_above_log",
    "center_loss",
    "loss_median",
]
BASIN_FRACTION_CRITERION = 0.01


def median_decades(table: pd.DataFrame) -> pd.Series:
    """log10(median loss / loss at θ): how far the typical grid point sits above θ."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = table.loss_median.astype(float) / table.center_loss.astype(float)
        out = np.log10(ratio.where(ratio > 0))
    return pd.Series(out, index=table.index)


def extent_study(table: pd.DataFrame) -> Figure:
    """Shape descriptors against the landscape extent: rows = connectivities, columns =
    basin fraction, basin depth, minima above the log threshold and median loss over the
    loss at θ; one colour per (β, lr) cell, the seed mean as a line, each seed a point."""
    missing = [c for c in EXTENT_COLUMNS if c not in table.columns]
    if missing:
        raise LosstopoError(f"extent-study table lacks column(s) {', '.join(missing)}")
    if table.empty:
        raise LosstopoError("the extent-study table has no rows")
    table = table.assign(median_decades=median_decades(table)).reset_index(drop=True)
    present = list(dict.fromkeys(table.connectivity.astype(str)))
    connectivities = [c for c in ("full", "knn") if c in present] + sorted(
        c for c in present if c not in ("full", "knn")
    )
    panels = {
        "basin_fraction": "θ basin fraction of grid",
        "basin_depth_decades": "θ basin depth (decades)",
        "n_minima_above_log": "minima above log threshold",
        "median_decades": "median loss / loss at θ (decades)",
    }
    units = {
        "basin_fraction": "fraction of grid points",
        "basin_depth_decades": "decades",
        "n_minima_above_log": "count",
        "median_decades": "decades",
    }
    cells = _colour_groups(table, ("beta", "lr"))
    dims = sorted(table.dims.unique())
    styles = dict(zip(dims, ["-", "--", ":", "-."], strict=False))
    rows = len(connectivities)
    fig, axes = plt.subplots(
        rows, len(panels), figsize=(15.0, 0.9 + 2.9 * rows), squeeze=False, sharex=True
    )
    for row, graph in enumerate(connectivities):
        part = table[table.connectivity.astype(str) == graph]
        for col, (column, label) in enumerate(panels.items()):
            ax = axes[row, col]
            for mask, colour, _ in cells:
                for d in dims:
                    rows_ = part[mask.loc[part.index] & (part.dims == d)]
                    rows_ = rows_[np.isfinite(rows_[column].astype(float))]
                    if rows_.empty:
                        continue
                    ax.scatter(
                        rows_.distance, rows_[column], color=colour, s=14, alpha=0.6, linewidths=0
                    )
                    # the basin share spans decades: its line is the seeds' geometric mean
                    values = rows_[column].astype(float)
                    if column == "basin_fraction":
                        values = np.log10(values)
                    mean = values.groupby(rows_.distance).mean()
                    if column == "basin_fraction":
                        mean = 10.0**mean
                    ax.plot(mean.index, mean.values, color=colour, ls=styles[d], lw=1.5)
            if column == "basin_fraction":
                ax.axhline(BASIN_FRACTION_CRITERION, color="0.3", ls="--", lw=1, gid="criterion")
                ax.set_yscale("log")
            ax.set_xscale("log")
            ax.set_title(f"{label} — {graph} graph", fontsize=9)
            ax.set_ylabel(units[column], fontsize=8)
            if row == rows - 1:
                ax.set_xlabel("landscape extent (distance)")
    handles = [Line2D([], [], color=colour, marker="o", label=label) for _, colour, label in cells]
    handles.append(Line2D([], [], color="0.3", ls="", marker="o", alpha=0.6, label="one seed"))
    handles.append(Line2D([], [], color="0.3", label="seed mean (geometric for the basin share)"))
    if len(dims) > 1:
        handles += [Line2D([], [], color="0.3", ls=styles[d], label=f"{int(d)}-D") for d in dims]
    handles.append(Line2D([], [], color="0.3", ls="--", lw=1, label="1 % basin criterion"))
    fig.legend(
        handles=handles, loc="center left", bbox_to_anchor=(0.86, 0.5), fontsize=8, frameon=False
    )
    dims_text = "/".join(f"{int(d)}-D" for d in dims)
    fig.suptitle(
        f"Landscape extent study: shape descriptors vs extent "
        f"({len(table) // max(len(connectivities), 1)} landscapes × {len(connectivities)} "
        f"connectivities, {dims_text})",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 0.86, 0.95))
    return fig
