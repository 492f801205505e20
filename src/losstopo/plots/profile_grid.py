"""Grids of topological landscape profiles: panel titles and annotations, the layout that
keeps every panel the same size, and one colour scale for all panels."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
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
