"""Figure assembly from cached artifacts: profile grids and topology against performance."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullLocator

from losstopo.errors import LosstopoError
from losstopo.plots.profile import CMAP, draw_profile, shared_norm
from losstopo.topology.profile import Profile, landscape_profile
from losstopo.topology.simplify import absolute_threshold, simplify
from losstopo.topology.topology_file import tree_from_files


@dataclass
class Panel:
    """One profile panel: a run directory and a landscape dimension."""

    run: Path
    dims: int

    @classmethod
    def parse(cls, text: str) -> Panel:
        run, _, dims = text.rpartition(":")
        if not run or not dims.isdigit():
            raise LosstopoError(f"panel {text!r} is not RUN_DIR:DIMS")
        return cls(Path(run), int(dims))

    def files(self) -> tuple[Path, Path, Path | None]:
        """Topology and landscape files, plus the run's ``metrics.json`` where one exists
        (PINN runs); a checkpoint's landscape carries its own metrics otherwise."""
        metrics = self.run / "metrics.json"
        return (
            self.run / f"topology_{self.dims}d.nc",
            self.run / f"landscape_{self.dims}d.nc",
            metrics if metrics.is_file() or (self.run / "model.pt").exists() else None,
        )


def panel_title(panel: Panel, metrics: dict) -> str:
    """PINN: β, lr, seed and error; segmentation: lr, seed, epoch and test accuracy."""
    if "relative_l2_error" in metrics:
        return (
            f"β={metrics['beta']:g}, lr={metrics['lr']:g}, seed {metrics['seed']} "
            f"({panel.dims}-D)\nrel. error {metrics['relative_l2_error']:.2g}"
        )
    return (
        f"lr={metrics['lr']:g}, seed {metrics['seed']}, epoch {metrics['epoch']} "
        f"({panel.dims}-D)\ntest pixel acc. {metrics['test_pixel_accuracy']:.3f}"
    )


def landscape_metrics(landscape_path: Path) -> dict:
    """Run metrics recorded in a checkpoint's landscape (segmentation checkpoints)."""
    from losstopo.landscape_file import read_landscape

    attrs = read_landscape(landscape_path).attrs
    try:
        hparams = json.loads(attrs["problem_hparams"])
        metrics = json.loads(attrs["checkpoint_metrics"])
        return {
            "lr": float(hparams["lr"]),
            "seed": int(attrs["checkpoint_seed"]),
            "epoch": int(attrs["checkpoint_epoch"]),
            "test_pixel_accuracy": float(metrics["test_pixel_accuracy"]),
        }
    except (KeyError, ValueError, TypeError) as exc:
        raise LosstopoError(
            f"{landscape_path} lacks the run metrics of its checkpoint ({exc}); "
            "pass a run directory with metrics.json"
        ) from None


def profile_grid(
    panels: list[Panel],
    columns: int,
    log_y: bool = True,
    threshold: float = 0.0,
    order: str = "width",
    title: str | None = None,
) -> Figure:
    """Panels in row-major order, one shared colour scale, titles with each run's error."""
    profiles: list[Profile] = []
    titles = []
    counts = []
    for panel in panels:
        topology, landscape, metrics_path = panel.files()
        for path in (topology, landscape, metrics_path):
            if path is not None and not path.is_file():
                raise LosstopoError(f"{path} does not exist")
        tree = tree_from_files(topology, landscape)
        if threshold > 0:
            tree = simplify(tree, absolute_threshold(tree, threshold, relative=True))
        profiles.append(landscape_profile(tree, order=order))
        if metrics_path is None:
            metrics = landscape_metrics(landscape)
        else:
            metrics = json.loads(metrics_path.read_text())
        titles.append(panel_title(panel, metrics))
        counts.append((tree.n_minima, tree.n_saddles, tree.connectivity))
    rows = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(3.4 * columns, 2.9 * rows),
        squeeze=False,
        gridspec_kw={"wspace": 0.45, "hspace": 0.6},
    )
    norm = shared_norm(profiles, log=log_y)
    for index, ax in enumerate(axes.ravel()):
        if index >= len(profiles):
            ax.set_visible(False)
            continue
        draw_profile(ax, profiles[index], norm, log_y=log_y, show_x=index // columns == rows - 1)
        minima, saddles, connectivity = counts[index]
        ax.set_title(titles[index], fontsize=8)
        ax.text(
            0.02,
            0.97,
            f"{minima} min, {saddles} sad ({connectivity})",
            transform=ax.transAxes,
            fontsize=6.5,
            va="top",
        )
        if index % columns == 0:
            ax.set_ylabel("loss")
    mappable = plt.cm.ScalarMappable(norm=norm, cmap=CMAP)
    bar = fig.colorbar(mappable, ax=axes.ravel().tolist(), shrink=0.8, label="mean loss of arc")
    if norm.vmin > 0 and norm.vmax / norm.vmin < 10:  # less than a decade: plain labels
        bar.ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
        bar.ax.yaxis.set_minor_locator(NullLocator())
        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.4g}"))
    if title:  # above the panel titles, whatever the number of rows
        fig.suptitle(title, fontsize=10, y=1.0 + 0.1 / rows)
    return fig


def spearman_text(table: pd.DataFrame, x: str, y: str) -> str:
    """Spearman's ρ of two table columns, for figure titles ("n/a" when undefined)."""
    rho = table[[x, y]].corr(method="spearman").iloc[0, 1]
    return f"{rho:.2f}" if np.isfinite(rho) else "n/a"


def topology_vs_error(table: pd.DataFrame) -> Figure:
    """#minima, #saddles, #minima above the summary threshold and mean persistence vs error."""
    panels = {
        "n_minima_raw": "minima (all)",
        "n_saddles_raw": "saddles (all)",
        "n_minima_above": "minima above the summary threshold",
        "mean_persistence": "mean persistence",
    }
    needed = ["relative_l2_error", "dims", "beta", "lr", *panels]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise LosstopoError(f"topology table lacks column(s) {', '.join(missing)}")
    fig, axes = plt.subplots(1, len(panels), figsize=(3.5 * len(panels), 3.4))
    cells = sorted({(b, lr) for b, lr in zip(table.beta, table.lr, strict=True)})
    markers = dict(zip(sorted(table.dims.unique()), "os^Dv", strict=False))
    colours = plt.cm.viridis(np.linspace(0, 0.9, max(len(cells), 1)))
    for ax, (column, label) in zip(axes, panels.items(), strict=True):
        for colour, (beta, lr) in zip(colours, cells, strict=True):
            for dims, marker in markers.items():
                rows = table[(table.beta == beta) & (table.lr == lr) & (table.dims == dims)]
                if rows.empty:
                    continue
                ax.scatter(
                    rows.relative_l2_error,
                    rows[column],
                    color=colour,
                    marker=marker,
                    label=f"β={beta:g}, lr={lr:g}, {dims}-D",
                    s=28,
                )
        ax.set_xscale("log")
        ax.set_xlabel("relative L2 error")
        ax.set_ylabel(label)
        if column == "mean_persistence" and (table[column] > 0).all():
            ax.set_yscale("log")

    def spearman(column: str) -> str:
        return spearman_text(table, "relative_l2_error", column)

    fig.suptitle(
        f"Topology vs error ({len(table)} landscapes; Spearman ρ with error: minima "
        f"{spearman('n_minima_raw')}, saddles {spearman('n_saddles_raw')}, minima above "
        f"threshold {spearman('n_minima_above')})",
        fontsize=10,
    )
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0, 0.87, 0.95))
    return fig


def topology_vs_accuracy(table: pd.DataFrame) -> Figure:
    """UNet checkpoints: #minima, #saddles, mean persistence and the top Hessian eigenvalue
    against test pixel accuracy (colour = learning rate, marker = epoch)."""
    panels = {
        "n_minima_raw": "minima (all)",
        "n_saddles_raw": "saddles (all)",
        "mean_persistence": "mean persistence",
        "top_eigenvalue": "top Hessian eigenvalue",
    }
    needed = ["test_pixel_accuracy", "lr", "epoch", *panels]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise LosstopoError(f"UNet topology table lacks column(s) {', '.join(missing)}")
    fig, axes = plt.subplots(1, len(panels), figsize=(3.5 * len(panels), 3.4))
    rates = sorted(table.lr.unique(), reverse=True)
    epochs = sorted(table.epoch.unique())
    markers = dict(zip(epochs, "os^Dv<>ph*", strict=False))
    colours = dict(zip(rates, plt.cm.viridis(np.linspace(0, 0.9, len(rates))), strict=True))
    for ax, (column, label) in zip(axes, panels.items(), strict=True):
        for lr in rates:
            for epoch in epochs:
                rows = table[(table.lr == lr) & (table.epoch == epoch)]
                if rows.empty:
                    continue
                ax.scatter(
                    rows.test_pixel_accuracy,
                    rows[column],
                    color=colours[lr],
                    marker=markers.get(epoch, "o"),
                    label=f"lr={lr:g}, epoch {epoch}",
                    s=28,
                )
        ax.set_xlabel("test pixel accuracy")
        ax.set_ylabel(label)
        if column in ("mean_persistence", "top_eigenvalue") and (table[column] > 0).all():
            ax.set_yscale("log")

    def spearman(column: str) -> str:
        return spearman_text(table, "test_pixel_accuracy", column)

    data = " (SYNTHETIC data)" if table.get("synthetic_data", pd.Series([False])).any() else ""
    fig.suptitle(
        f"UNet-CRF topology vs test accuracy{data}: {len(table)} checkpoints; Spearman ρ with "
        f"accuracy: minima {spearman('n_minima_raw')}, saddles {spearman('n_saddles_raw')}, "
        f"top eigenvalue {spearman('top_eigenvalue')}",
        fontsize=10,
    )
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0, 0.85, 0.95))
    return fig
