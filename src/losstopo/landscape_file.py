"""``landscape.nc`` (DESIGN §4): a sampled n-D loss landscape that describes itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from losstopo.landscape import LandscapeResult
from losstopo.netcdf import open_checked, write_dataset_atomic


def axis_names(dims: int) -> list[str]:
    return [f"a{i}" for i in range(dims)]


def landscape_dataset(
    result: LandscapeResult,
    eigenvalues: np.ndarray,
    gram: np.ndarray,
    attrs: dict[str, Any],
) -> xr.Dataset:
    """The loss on the grid, its axes (relative displacements) and every parameter."""
    dims = len(result.axes)
    names = axis_names(dims)
    n_nonfinite = int(np.count_nonzero(~np.isfinite(result.loss)))
    coords = {
        name: (
            name,
            axis,
            {
                "long_name": f"relative displacement along direction {i}",
                "eigenvalue": float(eigenvalues[i]),
            },
        )
        for i, (name, axis) in enumerate(zip(names, result.axes, strict=True))
    }
    loss = xr.DataArray(
        result.loss.astype(np.float64),
        dims=names,
        attrs={"long_name": "loss at theta + sum_i a_i d_i (non-finite values kept as computed)"},
    )
    return xr.Dataset(
        {"loss": loss},
        coords=coords,
        attrs={
            "dims": dims,
            "resolution": int(result.loss.shape[0]),
            "eigenvalues": np.asarray(eigenvalues, dtype=np.float64),
            "direction_gram": json.dumps(np.round(gram, 12).tolist()),
            "n_points": int(result.loss.size),
            "n_nonfinite": n_nonfinite,
            "chunk_size": result.chunk_size,
            "seconds": result.seconds,
            "points_per_second": result.points_per_second,
            **attrs,
        },
    )


def write_landscape(dataset: xr.Dataset, path: str | Path) -> None:
    write_dataset_atomic(dataset, path)


def read_landscape(path: str | Path) -> xr.Dataset:
    """Open ``landscape.nc`` with its loss variable checked."""
    return open_checked(path, ["loss"], "landscape")
