"""Drawing topological landscape profiles (geometry from ``losstopo.topology.profile``)."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.colors import LogNorm, Normalize
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullLocator

from losstopo.topology.profile import Profile

CMAP = "Blues_r"  # sequential blue, darker = lower loss
MINIMUM_COLOR = "red"
SADDLE_COLOR = "orange"


def shared_norm(profiles: list[Profile], log: bool) -> Normalize:
    """One colour scale for all panels of a figure, from the arcs' mean losses."""
    fills = np.concatenate([[p.fill for p in prof.polygons] for prof in profiles] or [[1.0]])
    fills = fills[np.isfinite(fills)]
    if log:
        fills = fills[fills > 0]
    low, high = (float(fills.min()), float(fills.max())) if fills.size else (1e-3, 1.0)
    if high <= low:
        high = low * 10 if log and low > 0 else low + 1.0
    return LogNorm(low, high) if log else Normalize(low, high)


def draw_profile(
    ax: Axes,
    profile: Profile,
    norm: Normalize,
    log_y: bool = False,
    show_x: bool = True,
    marker_size: float = 12.0,
) -> PolyCollection:
    """Fill every arc polygon by its mean loss and mark minima (red) and saddles (orange)."""
    shift = 0.0
    if log_y:  # shift to positive so a log axis can show every level
        low, high = profile.value_range
        shift = max(0.0, -low) + 1e-12 * max(1.0, abs(high))
    verts = [np.column_stack([poly.x, poly.y + shift]) for poly in profile.polygons]
    fills = np.array([poly.fill for poly in profile.polygons])
    fills = np.where(np.isfinite(fills), fills, norm.vmax)
    collection = PolyCollection(
        verts, array=fills, cmap=CMAP, norm=norm, edgecolors="0.25", linewidths=0.3
    )
    ax.add_collection(collection)
    if len(profile.minima):
        ax.scatter(
            profile.minima[:, 0],
            profile.minima[:, 1] + shift,
            s=marker_size,
            color=MINIMUM_COLOR,
            zorder=3,
            linewidths=0,
            label="minimum",
        )
    if len(profile.saddles):
        ax.scatter(
            profile.saddles[:, 0],
            profile.saddles[:, 1] + shift,
            s=marker_size,
            color=SADDLE_COLOR,
            zorder=3,
            linewidths=0,
            label="saddle",
        )
    ax.set_xlim(0, profile.width)
    finite_y = np.concatenate([poly.y for poly in profile.polygons]) + shift
    finite_y = finite_y[np.isfinite(finite_y)]
    if finite_y.size:
        low, high = float(finite_y.min()), float(finite_y.max())
        if log_y:
            ax.set_yscale("log")
            if low > 0 and high / low < 10:  # less than a decade: plain ticks, tight limits
                pad = max(high / low, 1.0 + 1e-9) ** 0.05
                ax.set_ylim(low / pad, high * pad)
                ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
                ax.yaxis.set_minor_locator(NullLocator())
                ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.4g}"))
            else:
                ax.set_ylim(low * 0.8 if low > 0 else 1e-12, high * 1.25)
        else:
            pad = 0.03 * (high - low or 1.0)
            ax.set_ylim(low - pad, high + pad)
    if show_x:
        ax.set_xlabel("number of points")
    else:
        ax.set_xticks([])
    return collection
