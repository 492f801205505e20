"""Counts of critical points against their null model: which minima are the loss's own.

One panel per count (raw minima, minima whose persistence is at least the relative
threshold, minima at least the log threshold deep); along x, one slot per landscape kind
(dimension and graph), inside it one column per group of runs (e.g. the regime). Each run is
a filled marker for the real loss and an open grey one for its null model, the Taylor
quadratic at θ on the same vertices and graph; a real count the null also reaches is what the
sampling and the graph make on their own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from losstopo.errors import LosstopoError

# (table column without prefix, panel title)
CALIBRATION_PANELS = (
    ("n_minima_raw", "minima (raw)"),
    ("n_minima_above", "minima, persistence ≥ relative threshold"),
    ("n_minima_above_log", "minima, log persistence ≥ threshold"),
)
# how a k-NN graph's metric is named under its landscape
METRIC_LABELS = {"grid index": "grid", "curvature": "whitened", "euclidean": "euclidean"}


def landscape_kind(row: pd.Series) -> str:
    """The landscape and graph a count belongs to, e.g. ``6-D knn`` over ``whitened, union``."""
    text = f"{int(row['dims'])}-D {row['connectivity']}"
    metric = str(row.get("knn_metric", "") or "")
    if row["connectivity"] == "knn" and metric and metric != "nan":
        text += f"\n{METRIC_LABELS.get(metric, metric)}, {row.get('symmetrize', '')}"
    return text


def panel_titles(table: pd.DataFrame) -> list[str]:
    """The panels' titles with the thresholds the table records (where it has one value)."""
    titles = [title for _, title in CALIBRATION_PANELS]
    relative = table.get("summary_threshold_relative", pd.Series(dtype=float)).dropna().unique()
    if len(relative) == 1:
        titles[1] = f"minima, persistence ≥ {relative[0]:.0%} of range"
    decades = table.get("log_threshold_decades", pd.Series(dtype=float)).dropna().unique()
    if len(decades) == 1:
        titles[2] = f"minima ≥ {decades[0]:g} decades deep (log persistence)"
    return titles


def null_calibration(table: pd.DataFrame, group_by: str = "regime") -> Figure:
    """Real and null counts of every landscape in a topology table (rows with a null model)."""
    import matplotlib.pyplot as plt

    required = ["dims", "connectivity", "null_model"]
    required += [f"{prefix}{name}" for name, _ in CALIBRATION_PANELS for prefix in ("", "null_")]
    missing = [column for column in required if column not in table.columns]
    if missing:
        raise LosstopoError(f"topology table lacks column(s) {', '.join(missing)}")
    rows = table[table["null_model"] == 1].copy()
    if rows.empty:
        raise LosstopoError("no landscape in the table has a null model (landscapes too old)")
    labels = rows[group_by].fillna("").astype(str) if group_by in rows.columns else None
    if labels is None or labels.str.strip().eq("").all():
        group_by = "run"
    rows["_kind"] = rows.apply(landscape_kind, axis=1)
    kinds = list(dict.fromkeys(rows.sort_values(["dims", "connectivity"])["_kind"]))
    groups = list(dict.fromkeys(rows[group_by].astype(str)))
    colours = plt.get_cmap("tab10")
    width = 0.8 / max(len(groups), 1)
    figure, axes = plt.subplots(
        1,
        len(CALIBRATION_PANELS),
        figsize=(max(4.2, 1.1 * len(kinds)) * len(CALIBRATION_PANELS), 4.4),
        squeeze=False,
    )
    names = [name for name, _ in CALIBRATION_PANELS]
    for ax, name, title in zip(axes[0], names, panel_titles(rows), strict=True):
        for g, group in enumerate(groups):
            for k, kind in enumerate(kinds):
                mask = (rows["_kind"] == kind) & (rows[group_by].astype(str) == group)
                real = rows.loc[mask, name].to_numpy(dtype=float)
                null = rows.loc[mask, f"null_{name}"].to_numpy(dtype=float)
                if real.size == 0:
                    continue
                centre = k - 0.4 + width * (g + 0.5)
                spread = np.linspace(-0.25, 0.25, real.size) * width if real.size > 1 else [0.0]
                x = centre + np.asarray(spread)
                label = group if k == 0 else None
                ax.scatter(x, real, color=colours(g % 10), s=28, zorder=3, label=label)
                null_label = "null model (Taylor quadratic)" if (g, k) == (0, 0) else None
                # drawn over the loss's markers, a ring around each where the counts agree
                ax.scatter(
                    x,
                    null,
                    facecolors="none",
                    edgecolors="0.35",
                    s=70,
                    lw=1.0,
                    zorder=4,
                    label=null_label,
                )
        ax.set_yscale("log")
        ax.set_xticks(range(len(kinds)))
        ax.set_xticklabels(kinds, fontsize=7)
        ax.set_xlim(-0.6, len(kinds) - 0.4)
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("count")
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    # the groups in their order, then the null model
    legend = sorted(zip(handles, labels, strict=True), key=lambda item: item[1].startswith("null"))
    handles, labels = [h for h, _ in legend], [text for _, text in legend]
    figure.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    figure.suptitle("minima of the loss (filled, one per run) and of its null model (open rings)")
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    return figure
