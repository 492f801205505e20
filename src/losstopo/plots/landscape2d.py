"""2-D loss landscapes as filled contours, on the profile figures' colour scale."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm, Normalize

from losstopo.errors import LosstopoError
from losstopo.plots.profile import CMAP


def landscape_norm(loss: np.ndarray, log: bool) -> Normalize:
    finite = loss[np.isfinite(loss)]
    if log:
        finite = finite[finite > 0]
    if finite.size == 0:
        return Normalize(0.0, 1.0)
    low, high = float(finite.min()), float(finite.max())
    if high <= low:
        high = low * 10 if log else low + 1.0
    return LogNorm(low, high) if log else Normalize(low, high)


def draw_landscape_2d(
    ax: Axes, landscape: xr.Dataset, norm: Normalize, levels: int = 30, mark_minima=None
):
    """Filled contours of ``loss(a0, a1)`` with the trained weights (centre) marked.

    Non-finite values are left blank; ``mark_minima`` optionally takes (a0, a1) points.
    """
    loss = landscape["loss"]
    if loss.ndim != 2:
        raise LosstopoError(f"a 2-D landscape plot needs 2 axes, the landscape has {loss.ndim}")
    a0, a1 = (landscape[name].values for name in loss.dims)
    values = np.where(np.isfinite(loss.values), loss.values, np.nan)
    if isinstance(norm, LogNorm):
        edges = np.geomspace(norm.vmin, norm.vmax, levels)
    else:
        edges = np.linspace(norm.vmin, norm.vmax, levels)
    contours = ax.contourf(a0, a1, values.T, levels=edges, cmap=CMAP, norm=norm, extend="both")
    ax.plot([0.0], [0.0], marker="*", color="white", markeredgecolor="black", markersize=9)
    if mark_minima is not None and len(mark_minima):
        points = np.asarray(mark_minima)
        ax.scatter(points[:, 0], points[:, 1], s=10, color="red", zorder=3)
    ax.set_xlabel(f"{loss.dims[0]} (direction 1)")
    ax.set_ylabel(f"{loss.dims[1]} (direction 2)")
    ax.set_aspect("equal")
    return contours
