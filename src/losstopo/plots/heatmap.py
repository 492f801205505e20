"""Fig. 3 (left): mean relative error of the PINN over β × learning rate, log colour scale."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure


def _label(value: float) -> str:
    return f"{value:g}"


def error_heatmap(grid: pd.DataFrame, n_seeds: int, title: str | None = None) -> Figure:
    """Annotated heat map of ``grid`` (rows = lr, columns = β) on a log colour scale.

    NaN cells (a diverged run) are drawn grey and annotated "div".
    """
    values = grid.to_numpy(dtype=float)
    finite = values[np.isfinite(values) & (values > 0)]
    vmin = float(finite.min()) if finite.size else 1e-3
    vmax = float(finite.max()) if finite.size else 1.0
    if vmin == vmax:
        vmin, vmax = vmin / 10.0, vmax * 10.0
    annotations = np.vectorize(lambda v: "div" if not math.isfinite(v) else f"{v:.2g}")(values)
    width = max(6.0, 0.75 * values.shape[1] + 2.5)
    height = max(3.0, 0.6 * values.shape[0] + 1.8)
    fig, ax = plt.subplots(figsize=(width, height))
    ax.set_facecolor("0.8")
    sns.heatmap(
        grid,
        ax=ax,
        norm=LogNorm(vmin=vmin, vmax=vmax),
        cmap="viridis",
        annot=annotations,
        fmt="",
        annot_kws={"fontsize": 8},
        cbar_kws={"label": "relative L2 error (mean over seeds)"},
        linewidths=0.5,
        linecolor="white",
        xticklabels=[_label(b) for b in grid.columns],
        yticklabels=[_label(lr) for lr in grid.index],
    )
    ax.set_xlabel("β (convection coefficient)")
    ax.set_ylabel("learning rate")
    seeds = f"{n_seeds} seed" + ("s" if n_seeds != 1 else "")
    ax.set_title(title or f"PINN convection: mean relative error ({seeds} per cell)")
    plt.setp(ax.get_yticklabels(), rotation=0)
    fig.tight_layout()
    return fig


def accuracy_heatmap(
    grid: pd.DataFrame, n_seeds: int, synthetic: bool, title: str | None = None
) -> Figure:
    """Fig. 4 (left): mean test pixel accuracy over learning rate × epoch (linear scale,
    annotated in percent)."""
    values = grid.to_numpy(dtype=float)
    annotations = np.vectorize(lambda v: "" if not math.isfinite(v) else f"{100 * v:.0f}")(values)
    width = max(6.0, 0.42 * values.shape[1] + 2.8)
    height = max(3.0, 0.5 * values.shape[0] + 1.8)
    fig, ax = plt.subplots(figsize=(width, height))
    sns.heatmap(
        grid,
        ax=ax,
        cmap="viridis",
        annot=annotations,
        fmt="",
        annot_kws={"fontsize": 7},
        cbar_kws={"label": "test pixel accuracy (mean over seeds)"},
        linewidths=0.5,
        linecolor="white",
        xticklabels=[str(int(e)) for e in grid.columns],
        yticklabels=[_label(lr) for lr in grid.index],
    )
    ax.set_xlabel("epoch (0 = before training)")
    ax.set_ylabel("learning rate")
    seeds = f"{n_seeds} seed" + ("s" if n_seeds != 1 else "")
    data = "SYNTHETIC pets-like data" if synthetic else "Oxford-IIIT Pet"
    ax.set_title(title or f"UNet-CRF on {data}: mean test pixel accuracy in % ({seeds})")
    plt.setp(ax.get_yticklabels(), rotation=0)
    fig.tight_layout()
    return fig
