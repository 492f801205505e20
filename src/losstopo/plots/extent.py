"""The extent study: shape descriptors of every analysed run against the landscape's
relative distance, one row per connectivity."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from losstopo.errors import LosstopoError
from losstopo.plots.topology_vs_metric import groups_by_colour

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
    cells = groups_by_colour(table, ("beta", "lr"))
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
