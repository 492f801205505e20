"""Eigenvalue spectral densities: one panel per group of checkpoints (e.g. an analysed cell),
one curve per checkpoint (e.g. its seeds or epochs), on a symmetric-log eigenvalue axis."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from losstopo.errors import LosstopoError
from losstopo.io.curvature_file import DensityCurve


def _curve_label(curve: DensityCurve) -> str:
    return (
        f"{curve.label}: tr {curve.trace:.3g} ± {curve.trace_se:.1g}, "
        f"{100 * curve.negative_mass:.0f} % < 0 "
        f"({100 * curve.negative_mass_lower:.0f}–{100 * curve.negative_mass_upper:.0f} %)"
    )


def density_panels(
    panels: list[tuple[str, list[DensityCurve]]], columns: int = 3, title: str | None = None
) -> Figure:
    """A grid of ESD panels sharing one x range; densities on a log axis (floored at 1e-9 of
    the largest, where the smoothed tails vanish), eigenvalues on a symmetric-log axis that
    is linear within four decades below the largest |eigenvalue|."""
    if not panels:
        raise LosstopoError("no spectral densities given")
    if columns < 1:
        raise LosstopoError(f"columns must be >= 1, got {columns}")
    curves = [curve for _, group in panels for curve in group]
    top = max(float(np.max(np.abs(c.grid))) for c in curves)
    peak = max(float(np.max(c.density)) for c in curves)
    floor = peak * 1e-9
    # linear within four decades of the largest |eigenvalue| (a power of ten: clean ticks)
    linthresh = 10.0 ** (math.floor(math.log10(top)) - 4) if top > 0 else 1.0
    columns = min(columns, len(panels))
    rows = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(4.6 * columns, 3.2 * rows + 0.6), squeeze=False, sharey=True
    )
    colours = plt.cm.viridis(np.linspace(0, 0.85, max(len(g) for _, g in panels)))
    for ax, (name, group) in zip(axes.ravel(), panels, strict=False):
        for colour, curve in zip(colours, group, strict=False):
            ax.plot(
                curve.grid,
                np.maximum(curve.density, floor),
                color=colour,
                linewidth=1.2,
                label=_curve_label(curve),
            )
        ax.set_xscale("symlog", linthresh=linthresh, linscale=0.5)
        ax.set_yscale("log")
        ax.set_ylim(floor, peak * 3)
        ax.axvline(0.0, color="0.6", linewidth=0.6, zorder=0)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("Hessian eigenvalue")
        ax.legend(fontsize=7, loc="upper left", frameon=False)
    for ax in axes[:, 0]:
        ax.set_ylabel("spectral density")
    for ax in axes.ravel()[len(panels) :]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
