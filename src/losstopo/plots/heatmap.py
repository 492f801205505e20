"""Heat maps: Fig. 3 (left), the PINN's mean relative error over β × learning rate (log
colour scale), and Fig. 4 (left), the UNet's mean test accuracy over learning rate × epoch.

Cell annotations are drawn here rather than by seaborn, so their colour follows each
fill's luminance (white on dark, black on light, also on the grey of missing cells) and
their unit is the colour bar's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from losstopo.errors import LosstopoError
from losstopo.plots.common import text_colour_on

MISSING_COLOUR = "0.8"  # cells without a value (a diverged run)
HIGHLIGHT_COLOUR = "red"


def _label(value: float) -> str:
    return f"{value:g}"


def annotate_cells(
    ax: Axes, values: np.ndarray, texts: np.ndarray, norm: Normalize, cmap: str, fontsize: float
) -> None:
    """One text per cell at its centre, coloured for contrast with the cell's fill."""
    colormap = plt.get_cmap(cmap)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            value = values[i, j]
            fill = colormap(norm(value)) if math.isfinite(value) else MISSING_COLOUR
            ax.text(
                j + 0.5,
                i + 0.5,
                texts[i, j],
                ha="center",
                va="center",
                fontsize=fontsize,
                color=text_colour_on(fill),
                gid="cell-annotation",
            )


def _cell_index(labels: pd.Index, value: float, name: str) -> int:
    matches = np.flatnonzero(np.isclose(labels.to_numpy(dtype=float), value, rtol=1e-9))
    if len(matches) == 0:
        raise LosstopoError(
            f"highlighted {name}={value:g} is not in the grid "
            f"(it has {', '.join(_label(v) for v in labels)})"
        )
    return int(matches[0])


@dataclass(frozen=True)
class GridStyle:
    """What differs between the heat maps: the colour bar's label, the x axis, inches per
    column and row plus margin, and the cell text size (rows are always learning rates)."""

    colour_label: str
    xlabel: str
    cell_size: tuple[float, float, float]
    font_size: int


ERROR_GRID = GridStyle(
    "relative L2 error (mean over seeds)", "β (convection coefficient)", (0.75, 0.6, 2.5), 8
)
ACCURACY_GRID = GridStyle(
    "test pixel accuracy (%)", "epoch (0 = before training)", (0.42, 0.5, 2.8), 7
)


def _seeds(n_seeds: int) -> str:
    return f"{n_seeds} seed" + ("s" if n_seeds != 1 else "")


def error_heatmap(
    grid: pd.DataFrame,
    n_seeds: int,
    title: str | None = None,
    highlight: list[tuple[float, float]] | None = None,
) -> Figure:
    """Annotated heat map of ``grid`` (rows = lr, columns = β) on a log colour scale.

    NaN cells (a diverged run) are drawn grey and annotated "div". ``highlight`` lists the
    (β, lr) cells to outline (the analysed runs).
    """
    values = grid.to_numpy(dtype=float)
    finite = values[np.isfinite(values) & (values > 0)]
    vmin = float(finite.min()) if finite.size else 1e-3
    vmax = float(finite.max()) if finite.size else 1.0
    if vmin == vmax:
        vmin, vmax = vmin / 10.0, vmax * 10.0
    norm = LogNorm(vmin=vmin, vmax=vmax)
    annotations = np.vectorize(lambda v: "div" if not math.isfinite(v) else f"{v:.2g}")(values)
    outlined = "\nred outline: analysed cells" if highlight else ""
    title = title or (
        f"PINN convection: mean relative error ({_seeds(n_seeds)} per cell){outlined}"
    )
    xticks = [_label(b) for b in grid.columns]
    fig, ax = _draw_grid(grid, values, annotations, norm, xticks, ERROR_GRID, title)
    for beta, lr in highlight or []:
        column = _cell_index(grid.columns, beta, "β")
        row = _cell_index(grid.index, lr, "lr")
        ax.add_patch(
            Rectangle(
                (column, row),
                1,
                1,
                fill=False,
                edgecolor=HIGHLIGHT_COLOUR,
                linewidth=2.5,
                clip_on=False,
                zorder=5,
                gid="highlight",
            )
        )
    fig.tight_layout()
    return fig


def _draw_grid(
    shown: pd.DataFrame,
    values: np.ndarray,
    annotations: np.ndarray,
    norm: Normalize,
    xticklabels: list[str],
    style: GridStyle,
    title: str,
) -> tuple[Figure, Axes]:
    """A viridis heat map over learning rate (rows) with a text per cell (grey where a cell
    is not finite), its axes labelled and titled."""
    per_column, per_row, margin = style.cell_size
    width = max(6.0, per_column * values.shape[1] + margin)
    height = max(3.0, per_row * values.shape[0] + 1.8)
    fig, ax = plt.subplots(figsize=(width, height))
    ax.set_facecolor(MISSING_COLOUR)
    sns.heatmap(
        shown,
        ax=ax,
        norm=norm,
        cmap="viridis",
        annot=False,
        cbar_kws={"label": style.colour_label},
        linewidths=0.5,
        linecolor="white",
        xticklabels=xticklabels,
        yticklabels=[_label(lr) for lr in shown.index],
    )
    annotate_cells(ax, values, annotations, norm, "viridis", style.font_size)
    ax.set_xlabel(style.xlabel)
    ax.set_ylabel("learning rate")
    ax.set_title(title, fontsize=10)
    plt.setp(ax.get_yticklabels(), rotation=0)
    fig.tight_layout()
    return fig, ax


def accuracy_heatmap(
    grid: pd.DataFrame, n_seeds: int, synthetic: bool, title: str | None = None
) -> Figure:
    """Fig. 4 (left): mean test pixel accuracy over learning rate × epoch, in percent in
    both the cells and the colour bar (linear scale)."""
    percent = grid * 100.0
    values = percent.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    vmin = float(finite.min()) if finite.size else 0.0
    vmax = float(finite.max()) if finite.size else 100.0
    if vmin == vmax:
        vmin, vmax = vmin - 1.0, vmax + 1.0
    norm = Normalize(vmin=vmin, vmax=vmax)
    # NaN: a diverged run in the cell (its accuracy is undefined), shown grey as "div"
    annotations = np.vectorize(lambda v: "div" if not math.isfinite(v) else f"{v:.0f}")(values)
    data = "SYNTHETIC pets-like data" if synthetic else "Oxford-IIIT Pet"
    title = title or f"UNet-CRF on {data}:\nmean test pixel accuracy in % ({_seeds(n_seeds)})"
    xticks = [str(int(e)) for e in grid.columns]
    fig, _ = _draw_grid(percent, values, annotations, norm, xticks, ACCURACY_GRID, title)
    return fig
