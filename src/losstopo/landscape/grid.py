"""The grid of a landscape and the values on it: θ + Σ αᵢ dᵢ for αᵢ on symmetric axes.

The axes are ``distance · k/m`` for ``k = −m…m``, so the centre is θ exactly and the grid
is symmetric to the last bit. A grid can be split into tiles along its first axis. Nothing
here needs torch: the evaluation of the objective on the grid is in ``evaluation``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from losstopo.errors import LosstopoError


def grid_axes(dims: int, resolution: int, distance: float) -> list[np.ndarray]:
    """``dims`` copies of the relative displacements ``distance · k/m``, ``k = −m…m``."""
    if dims < 1:
        raise LosstopoError(f"dims must be >= 1, got {dims}")
    if resolution < 3 or resolution % 2 == 0:
        raise LosstopoError(
            f"resolution must be odd and >= 3 (so θ is the centre point), got {resolution}"
        )
    if not (math.isfinite(distance) and distance > 0):
        raise LosstopoError(f"distance must be a finite number > 0, got {distance}")
    half = resolution // 2
    axis = distance * (np.arange(-half, half + 1, dtype=np.float64) / half)
    return [axis.copy() for _ in range(dims)]


def grid_alphas(axes: list[np.ndarray]) -> np.ndarray:
    """All grid points as an (M × n) array in C order (the last axis varies fastest)."""
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


@dataclass
class LandscapeResult:
    loss: np.ndarray  # shape (resolution,) * dims
    axes: list[np.ndarray]
    chunk_size: int
    seconds: float
    resolution: int | None = None  # points per axis of the full grid (a tile has fewer rows)
    metric: np.ndarray | None = None  # the objective's metric on the same grid, when it has one
    metric_name: str | None = None

    @property
    def points_per_second(self) -> float:
        return self.loss.size / self.seconds if self.seconds > 0 else math.inf


def tile_slabs(resolution: int, tile: int, tiles: int) -> range:
    """First-axis indices of ``tile`` (0-based) when the grid is split into ``tiles`` parts."""
    if not 1 <= tiles <= resolution:
        raise LosstopoError(f"tiles must be between 1 and the resolution {resolution}, got {tiles}")
    if not 0 <= tile < tiles:
        raise LosstopoError(f"tile must be between 0 and {tiles - 1}, got {tile}")
    bounds = np.linspace(0, resolution, tiles + 1).round().astype(int)
    return range(int(bounds[tile]), int(bounds[tile + 1]))
