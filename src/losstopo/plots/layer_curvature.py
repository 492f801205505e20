"""Per-layer curvature: the trace (with its standard error) and the top eigenvalue of each
layer's diagonal Hessian block, as grouped bars, one colour per file (e.g. per epoch)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from losstopo.errors import LosstopoError
from losstopo.io.curvature_file import LayerBars


def layer_order(files: list[LayerBars]) -> list[str]:
    """Every layer of the files, in the order the first file that has it lists it."""
    return list(dict.fromkeys(name for bars in files for name in bars.names))


def _linthresh(values: np.ndarray) -> float:
    """Linear within four decades below the largest |value| (a power of ten: clean ticks)."""
    top = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 0.0
    return 10.0 ** (math.floor(math.log10(top)) - 4) if top > 0 else 1.0


def _bars(
    ax: Axes,
    files: list[LayerBars],
    layers: list[str],
    values: str,
    errors: str | None = None,
) -> None:
    """One group of bars per layer, one bar per file; a layer a file lacks has no bar."""
    width = 0.8 / len(files)
    colours = plt.cm.viridis(np.linspace(0, 0.85, len(files)))
    for offset, (bars, colour) in enumerate(zip(files, colours, strict=True)):
        where = {name: i for i, name in enumerate(bars.names)}
        present = [j for j, name in enumerate(layers) if name in where]
        rows = [where[layers[j]] for j in present]
        x = np.asarray(present, dtype=float) - 0.4 + width * (offset + 0.5)
        heights = getattr(bars, values)[rows]
        yerr = getattr(bars, errors)[rows] if errors else None
        ax.bar(x, heights, width, yerr=yerr, color=colour, label=bars.label, capsize=2)
    everything = np.concatenate([getattr(bars, values) for bars in files])
    ax.set_yscale("symlog", linthresh=_linthresh(everything), linscale=0.5)
    ax.axhline(0.0, color="0.6", linewidth=0.6, zorder=0)


def layer_curvature_figure(files: list[LayerBars], title: str | None = None) -> Figure:
    """Two panels over the layers: the trace of each layer's Hessian block with ±1 standard
    error bars, and its top eigenvalue; both on a symmetric-log axis (layers' curvatures
    span decades, and an indefinite block can have a negative trace)."""
    if not files:
        raise LosstopoError("no per-layer curvature given")
    layers = layer_order(files)
    width = max(6.0, 2.0 + 0.3 * len(layers) * (1 + 0.25 * len(files)))
    fig, (trace_ax, top_ax) = plt.subplots(2, 1, figsize=(width, 6.4), sharex=True)
    _bars(trace_ax, files, layers, "traces", "trace_se")
    trace_ax.set_ylabel("trace of H_ll (± 1 s.e.)")
    _bars(top_ax, files, layers, "top_eigenvalues")
    top_ax.set_ylabel("top eigenvalue of H_ll")
    top_ax.set_xticks(range(len(layers)))
    top_ax.set_xticklabels(layers, rotation=60, ha="right", fontsize=7)
    top_ax.set_xlim(-0.6, len(layers) - 0.4)
    if len(files) > 1 or files[0].label:
        trace_ax.legend(fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
