"""Drawing topological landscape profiles (geometry from ``losstopo.topology.profile``).

x is always the fraction of grid points (a node's width over the number of vertices), so
3-D and 4-D panels compare directly. Fill is either the arc's mean loss in decades above
the loss at θ (``colour="relative"``, one clipped linear scale shared by the panels of a
figure) or the absolute mean loss (``colour="absolute"``, log scale). The loss axis is
linear, log, or relative to the loss at θ (``y="relative"``: loss/loss(θ) on a log axis).
The trained basin gets a dark-red outline and θ a star.
"""

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
BASIN_COLOR = "#7f0000"  # dark red outline of the trained basin
THETA_COLOR = "magenta"
THETA_LABEL = "θ (trained)"
BASIN_LABEL = "trained basin"
COLOURS = ("relative", "absolute")
Y_MODES = ("log", "linear", "relative")
CLIP_PERCENTILES = (2.0, 98.0)
RELATIVE_COLOUR_LABEL = "arc mean loss: decades above loss at θ\n(2–98 % clipped)"
ABSOLUTE_COLOUR_LABEL = "mean loss of arc"
X_LABEL = "fraction of grid points"
HEADROOM = 0.22  # top share of a panel kept free of polygons for its annotation


def shared_norm(profiles: list[Profile], log: bool) -> Normalize:
    """One absolute colour scale for all panels of a figure, from the arcs' mean losses."""
    fills = np.concatenate([[p.fill for p in prof.polygons] for prof in profiles] or [[1.0]])
    fills = fills[np.isfinite(fills)]
    if log:
        fills = fills[fills > 0]
    low, high = (float(fills.min()), float(fills.max())) if fills.size else (1e-3, 1.0)
    if high <= low:
        high = low * 10 if log and low > 0 else low + 1.0
    return LogNorm(low, high) if log else Normalize(low, high)


def relative_norm(
    profiles: list[Profile], percentiles: tuple[float, float] = CLIP_PERCENTILES
) -> Normalize:
    """One linear scale in decades above the loss at θ for all panels of a figure, clipped
    at ``percentiles`` of every arc's value so one extreme arc does not wash out the rest."""
    values = np.concatenate(
        [[p.fill_decades for p in prof.polygons] for prof in profiles] or [[0.0]]
    )
    values = values[np.isfinite(values)]
    if values.size == 0:
        return Normalize(0.0, 1.0)
    low, high = (float(v) for v in np.percentile(values, percentiles))
    if high <= low:
        low, high = low - 0.5, low + 0.5
    return Normalize(low, high, clip=False)


def fill_values(profile: Profile, colour: str) -> np.ndarray:
    """The values the polygons are coloured by (``relative``: decades above loss at θ)."""
    if colour == "relative":
        return np.array([poly.fill_decades for poly in profile.polygons], dtype=float)
    if colour == "absolute":
        return np.array([poly.fill for poly in profile.polygons], dtype=float)
    raise ValueError(f"unknown colour {colour!r} (choose {' or '.join(COLOURS)})")


def y_values(profile: Profile, values: np.ndarray | float, y: str, shift: float) -> np.ndarray:
    """Loss values as drawn: as they are (linear), shifted (log), or over the loss at θ."""
    values = np.asarray(values, dtype=float)
    if y == "linear":
        return values
    if y == "log":
        return values + shift
    if y == "relative":
        return profile.relative_y(values)
    raise ValueError(f"unknown y axis {y!r} (choose {', '.join(Y_MODES)})")


def y_range(profile: Profile, y: str, shift: float) -> tuple[float, float]:
    """Finite range of the polygons on the drawn loss axis."""
    ys = np.concatenate([poly.y for poly in profile.polygons] or [np.asarray(profile.value_range)])
    ys = y_values(profile, ys, y, shift)
    ys = ys[np.isfinite(ys)]
    if y != "linear":
        ys = ys[ys > 0]
    if ys.size == 0:
        return (1e-3, 1.0) if y != "linear" else (0.0, 1.0)
    return float(ys.min()), float(ys.max())


def set_loss_limits(ax: Axes, low: float, high: float, y: str, headroom: float = HEADROOM):
    """Scale and limits of a loss axis (shared axes take them all at once); the top
    ``headroom`` of the axis stays free for the panel's annotation."""
    if y == "linear":
        span = high - low or 1.0
        bottom = low - 0.03 * span
        ax.set_ylim(bottom, bottom + (high - bottom) / (1.0 - headroom))
        return
    ax.set_yscale("log")
    low = max(low, 1e-300)
    high = max(high, low * (1.0 + 1e-9))
    log_low, log_high = np.log10(low), np.log10(high)
    span = log_high - log_low
    bottom = log_low - 0.03 * max(span, 1e-3)
    top = bottom + (log_high - bottom) / (1.0 - headroom)
    ax.set_ylim(10**bottom, 10**top)
    if high / low < 10:  # less than a decade: plain tick labels
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.4g}"))


def draw_profile(
    ax: Axes,
    profile: Profile,
    norm: Normalize,
    log_y: bool = False,
    show_x: bool = True,
    marker_size: float = 12.0,
    colour: str = "absolute",
    y: str | None = None,
    shift: float | None = None,
    set_limits: bool = True,
    x_label: str = X_LABEL,
) -> PolyCollection:
    """Fill every arc polygon (by ``colour``), outline the trained basin, mark minima (red),
    saddles (orange) and θ (star). ``y`` defaults to ``log`` when ``log_y`` else ``linear``;
    ``shift`` (log axis) defaults to the profile's own shift to positive losses.

    Artists carry gids (``trained-basin``, ``theta``, ``minima``, ``saddles``) so tests and
    callers find them without pixels.
    """
    y = y or ("log" if log_y else "linear")
    shift = profile.log_shift if shift is None else shift
    scale = 1.0 / profile.width if profile.width else 1.0
    verts = [
        np.column_stack([poly.x * scale, y_values(profile, poly.y, y, shift)])
        for poly in profile.polygons
    ]
    fills = fill_values(profile, colour)
    fills = np.where(np.isfinite(fills), fills, norm.vmax)
    collection = PolyCollection(
        verts, array=fills, cmap=CMAP, norm=norm, edgecolors="0.25", linewidths=0.3
    )
    ax.add_collection(collection)
    basin = [v for v, poly in zip(verts, profile.polygons, strict=True) if poly.in_basin]
    if basin:
        outline = PolyCollection(
            basin,
            facecolors="none",
            edgecolors=BASIN_COLOR,
            linewidths=1.3,
            zorder=2.5,
            label=BASIN_LABEL,
        )
        outline.set_gid("trained-basin")
        ax.add_collection(outline)
    # minima above saddles: a shallow minimum sits just below the saddle where it dies
    for points, color, gid, label, order in (
        (profile.minima, MINIMUM_COLOR, "minima", "minimum", 3.5),
        (profile.saddles, SADDLE_COLOR, "saddles", "saddle", 3),
    ):
        if len(points):
            markers = ax.scatter(
                points[:, 0] * scale,
                y_values(profile, points[:, 1], y, shift),
                s=marker_size,
                color=color,
                zorder=order,
                linewidths=0,
                label=label,
            )
            markers.set_gid(gid)
    if np.all(np.isfinite(profile.theta)):
        theta = ax.scatter(
            [profile.theta[0] * scale],
            y_values(profile, [profile.theta[1]], y, shift),
            s=marker_size * 7,
            marker="*",
            facecolor=THETA_COLOR,
            edgecolor="black",
            linewidths=0.6,
            zorder=4,
            label=THETA_LABEL,
        )
        theta.set_gid("theta")
    ax.set_xlim(0, 1)
    if set_limits:
        set_loss_limits(ax, *y_range(profile, y, shift), y)
    if show_x:
        ax.set_xlabel(x_label)
    else:
        ax.tick_params(axis="x", labelbottom=False)
    return collection
