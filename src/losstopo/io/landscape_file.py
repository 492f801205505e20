"""``landscape.nc``: a sampled n-D loss landscape that describes itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from losstopo.io.netcdf import NetcdfContents, open_checked, read_contents, write_dataset_atomic

if TYPE_CHECKING:  # torch is imported only by the stages that evaluate losses
    import xarray as xr

    from losstopo.landscape.grid import LandscapeResult


def axis_names(dims: int) -> list[str]:
    return [f"a{i}" for i in range(dims)]


def landscape_dataset(
    result: LandscapeResult,
    eigenvalues: np.ndarray,
    gram: np.ndarray,
    attrs: dict[str, Any],
) -> xr.Dataset:
    """The loss on the grid, its axes (relative displacements) and every parameter."""
    import xarray as xr

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
    variables = {"loss": loss}
    if result.metric is not None:
        variables["metric"] = xr.DataArray(
            result.metric.astype(np.float64),
            dims=names,
            attrs={"long_name": result.metric_name or "metric", "metric_name": result.metric_name},
        )
    return xr.Dataset(
        variables,
        coords=coords,
        attrs={
            "dims": dims,
            "resolution": int(result.resolution or result.loss.shape[0]),
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


def read_landscape_arrays(path: str | Path) -> NetcdfContents:
    """``read_landscape`` as plain arrays, for the topology stage (no xarray import)."""
    return read_contents(path, ["loss"], "landscape")


def merge_tiles(fragments: list[xr.Dataset]) -> xr.Dataset:
    """Concatenate landscape tiles along the first axis into the untiled landscape.

    The tiles must come from one landscape (same attributes apart from the tile fields and
    timings) and cover the first axis exactly once.
    """
    import xarray as xr

    from losstopo.errors import LosstopoError

    if not fragments:
        raise LosstopoError("no landscape tiles given")
    fragments = sorted(fragments, key=lambda ds: int(ds.attrs.get("tile", 0)))
    tiles = int(fragments[0].attrs.get("tiles", 1))
    if [int(ds.attrs.get("tile", -1)) for ds in fragments] != list(range(tiles)):
        raise LosstopoError(
            f"expected tiles 0..{tiles - 1}, got {[ds.attrs.get('tile') for ds in fragments]}"
        )
    varying = {
        "tile",
        "tiles",
        "seconds",
        "points_per_second",
        "created",
        "n_points",
        "n_nonfinite",
        "first_index_start",
        "first_index_stop",
    }
    reference = {k: v for k, v in fragments[0].attrs.items() if k not in varying}
    for ds in fragments[1:]:
        other = {k: v for k, v in ds.attrs.items() if k not in varying}
        if set(other) != set(reference) or any(
            not np.array_equal(np.asarray(other[k]), np.asarray(reference[k])) for k in reference
        ):
            raise LosstopoError(
                "landscape tiles come from different landscapes (attributes differ)"
            )
    first = fragments[0]["loss"].dims[0]
    merged = xr.concat([ds["loss"] for ds in fragments], dim=first)
    has_metric = ["metric" in ds for ds in fragments]
    if any(has_metric) and not all(has_metric):
        raise LosstopoError("some landscape tiles have a metric variable and some do not")
    if merged.sizes[first] != int(reference["resolution"]):
        raise LosstopoError(
            f"tiles cover {merged.sizes[first]} of {reference['resolution']} rows of {first}"
        )
    seconds = float(sum(float(ds.attrs["seconds"]) for ds in fragments))
    attrs = {
        **reference,
        "n_points": int(merged.size),
        "n_nonfinite": int(np.count_nonzero(~np.isfinite(merged.values))),
        "seconds": seconds,
        "points_per_second": merged.size / seconds if seconds > 0 else float("inf"),
        "created": fragments[-1].attrs.get("created", ""),
        "merged_from_tiles": tiles,
    }
    dataset = merged.to_dataset(name="loss")
    if all(has_metric):
        dataset["metric"] = xr.concat([ds["metric"] for ds in fragments], dim=first)
    for name in fragments[0].coords:
        if name != first:
            dataset = dataset.assign_coords({name: fragments[0][name]})
    dataset.attrs = attrs
    return dataset
