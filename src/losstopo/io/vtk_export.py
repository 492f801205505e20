"""VTK XML files for ParaView and TTK, written atomically with pyevtk.

Two kinds: image data (``.vti``: values on a uniform grid of up to three axes) and
unstructured grids (``.vtu``: points in 3-D joined by line cells, for scattered samples with
their neighbourhood graph and for merge-tree skeletons). pyevtk names its output itself
(``path`` + extension), so each file is written under a temporary name next to its target
and renamed onto it only when complete.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from losstopo.errors import LosstopoError

VTK_LINE = 3  # the VTK cell type of a two-point line segment


def write_vti(
    target: Path,
    origin: tuple[float, float, float],
    spacing: tuple[float, float, float],
    point_data: dict[str, np.ndarray],
) -> None:
    """Image data: each array of ``point_data`` has the grid's shape (three axes; the first
    runs along x), at the points ``origin + index · spacing``."""
    from pyevtk.hl import imageToVTK

    shapes = {name: np.shape(values) for name, values in point_data.items()}
    if not point_data or len(set(shapes.values())) != 1 or len(next(iter(shapes.values()))) != 3:
        raise LosstopoError(f"image arrays must share one three-axis shape, got {shapes}")
    arrays = {name: np.ascontiguousarray(values) for name, values in point_data.items()}
    _write(
        target,
        ".vti",
        lambda base: imageToVTK(base, origin=origin, spacing=spacing, pointData=arrays),
    )


def write_vtu(
    target: Path,
    points: np.ndarray,
    lines: np.ndarray,
    point_data: dict[str, np.ndarray],
    cell_data: dict[str, np.ndarray] | None = None,
) -> None:
    """An unstructured grid of ``points`` (N × 3) and line cells ``lines`` (E × 2, point
    indices), with one value per point in ``point_data`` and per line in ``cell_data``."""
    from pyevtk.hl import unstructuredGridToVTK

    points = np.asarray(points, dtype=np.float64)
    lines = np.asarray(lines, dtype=np.int64).reshape(-1, 2)
    if points.ndim != 2 or points.shape[1] != 3:
        raise LosstopoError(f"points must be an (N x 3) array, got shape {points.shape}")
    if lines.size and not (lines.min() >= 0 and lines.max() < len(points)):
        raise LosstopoError(f"line cells refer to points outside 0..{len(points) - 1}")
    for name, values in point_data.items():
        if np.shape(values) != (len(points),):
            raise LosstopoError(f"point array {name} has shape {np.shape(values)}")
    for name, values in (cell_data or {}).items():
        if np.shape(values) != (len(lines),):
            raise LosstopoError(f"cell array {name} has shape {np.shape(values)}")
    x, y, z = (np.ascontiguousarray(points[:, axis]) for axis in range(3))
    connectivity = np.ascontiguousarray(lines.reshape(-1))
    offsets = 2 * np.arange(1, len(lines) + 1, dtype=np.int64)
    types = np.full(len(lines), VTK_LINE, dtype=np.uint8)
    pointwise = {name: np.ascontiguousarray(values) for name, values in point_data.items()}
    cellwise = {name: np.ascontiguousarray(values) for name, values in (cell_data or {}).items()}
    _write(
        target,
        ".vtu",
        lambda base: unstructuredGridToVTK(
            base,
            x,
            y,
            z,
            connectivity=connectivity,
            offsets=offsets,
            cell_types=types,
            pointData=pointwise or None,
            cellData=cellwise or None,
        ),
    )


def _write(target: Path, extension: str, writer) -> None:
    """Run ``writer(base)`` (it creates ``base + extension``) and move its file atomically
    onto ``target``."""
    from losstopo.io.atomic import atomic_path

    if target.suffix != extension:
        raise LosstopoError(f"output {target} must end in {extension}")
    with atomic_path(target) as tmp:
        written = Path(f"{tmp}{extension}")
        try:
            writer(str(tmp))
            os.replace(written, tmp)
        finally:
            written.unlink(missing_ok=True)
