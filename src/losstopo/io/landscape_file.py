"""``landscape.nc``: a sampled n-D loss landscape that describes itself.

Two layouts share the file name and the attributes. A **grid** has ``loss(a0, …, a{n-1})``
with the relative displacements as the coordinates ``a0…``. A **scattered** landscape
(beyond four dimensions) has ``loss(point)`` and the displacements ``coords(point, dim)``,
point 0 being θ itself, with the attributes ``layout = "scattered"``, ``sampling``,
``n_points``, ``seed``, ``distance``, ``dims`` and ``center_point = 0``.

Both layouts carry the landscape's null model, the second-order Taylor model of the loss at θ
in the landscape's coordinates: ``taylor_gradient(dim)`` (gᵢ = ∇L·dᵢ) and
``taylor_hessian(dim, dim_j)`` (Kᵢⱼ = dᵢᵀHdⱼ), with q(α) = ``center_loss`` + gᵀα + ½ αᵀKα.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from losstopo.io.netcdf import NetcdfContents, open_checked, read_contents, write_dataset_atomic

if TYPE_CHECKING:  # torch is imported only by the stages that evaluate losses
    import xarray as xr

    from losstopo.landscape.grid import LandscapeResult
    from losstopo.landscape.scattered import ScatteredResult
    from losstopo.landscape.taylor import TaylorTerms
    from losstopo.topology.null_model import TaylorModel

SCATTERED = "scattered"  # value of the ``layout`` attribute of a scattered landscape
TAYLOR_VARIABLES = ("taylor_gradient", "taylor_hessian")


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


def scattered_landscape_dataset(
    result: ScatteredResult,
    eigenvalues: np.ndarray,
    gram: np.ndarray,
    attrs: dict[str, Any],
) -> xr.Dataset:
    """The loss at scattered displacements, the displacements and every parameter."""
    import xarray as xr

    from losstopo.errors import LosstopoError

    points = np.asarray(result.points, dtype=np.float64)
    loss_values = np.asarray(result.loss, dtype=np.float64)
    if points.ndim != 2 or loss_values.shape != (len(points),):
        raise LosstopoError(
            f"scattered landscape needs loss (N,) and points (N, dims), got "
            f"{loss_values.shape} and {points.shape}"
        )
    if not np.all(points[0] == 0.0):
        raise LosstopoError("point 0 of a scattered landscape must be the centre (all zeros)")
    dims = points.shape[1]
    variables = {
        "loss": xr.DataArray(
            loss_values,
            dims=["point"],
            attrs={
                "long_name": "loss at theta + sum_i coords[point, i] d_i "
                "(non-finite values kept as computed)"
            },
        ),
        "coords": xr.DataArray(
            points,
            dims=["point", "dim"],
            attrs={"long_name": "relative displacement along each direction; point 0 is theta"},
        ),
    }
    if result.metric is not None:
        variables["metric"] = xr.DataArray(
            np.asarray(result.metric, dtype=np.float64),
            dims=["point"],
            attrs={"long_name": result.metric_name or "metric", "metric_name": result.metric_name},
        )
    return xr.Dataset(
        variables,
        attrs={
            "eigenvalues": np.asarray(eigenvalues, dtype=np.float64),
            "direction_gram": json.dumps(np.round(gram, 12).tolist()),
            "n_nonfinite": int(np.count_nonzero(~np.isfinite(loss_values))),
            "chunk_size": result.chunk_size,
            "seconds": result.seconds,
            "points_per_second": result.points_per_second,
            **attrs,
            # the layout's own fields last: they describe the arrays above
            "layout": SCATTERED,
            "dims": dims,
            "n_points": len(points),
            "sampling": result.sampling,
            "seed": int(result.seed),
            "distance": float(result.distance),
            "center_point": 0,
            "cube_points": len(points) - int(result.center_points),
            "center_points": int(result.center_points),
            "center_scale": float(result.center_scale),
        },
    )


def with_taylor(dataset: xr.Dataset, terms: TaylorTerms) -> xr.Dataset:
    """``dataset`` with its null model: g and K as variables, how they were computed as
    attributes."""
    import xarray as xr

    dataset = dataset.copy()
    dataset["taylor_gradient"] = xr.DataArray(
        terms.gradient,
        dims=["dim"],
        attrs={"long_name": "gradient of the loss at theta along each direction, grad L . d_i"},
    )
    dataset["taylor_hessian"] = xr.DataArray(
        terms.hessian,
        dims=["dim", "dim_j"],
        attrs={"long_name": "Hessian of the loss at theta in the directions, d_i^T H d_j"},
    )
    dataset.attrs.update(
        {
            "taylor_model": "q(a) = center_loss + taylor_gradient . a "
            "+ 1/2 a^T taylor_hessian a (second-order Taylor model at theta)",
            "taylor_center_loss": float(terms.center_loss),
            "taylor_asymmetry": float(terms.asymmetry),
            "taylor_n_hvp": int(terms.n_hvp),
            "taylor_hvp_mode": terms.hvp_mode,
            "taylor_dtype": terms.dtype,
        }
    )
    return dataset


def landscape_taylor(
    landscape: xr.Dataset | NetcdfContents, path: str | Path = ""
) -> TaylorModel | None:
    """The landscape's null model q, or None when the file has none (written without it)."""
    from losstopo.errors import LosstopoError
    from losstopo.topology.null_model import TaylorModel

    present = [name in landscape for name in TAYLOR_VARIABLES]
    if not any(present):
        return None
    if not all(present):
        raise LosstopoError(f"landscape file {path} has only part of its Taylor model")
    gradient, hessian = (
        np.asarray(getattr(landscape[name], "values", landscape[name]), dtype=np.float64)
        for name in TAYLOR_VARIABLES
    )
    dims = int(landscape.attrs.get("dims", gradient.size))
    if gradient.shape != (dims,) or hessian.shape != (dims, dims):
        raise LosstopoError(
            f"landscape file {path}: Taylor model of shapes {gradient.shape} and {hessian.shape} "
            f"for a {dims}-D landscape"
        )
    center = landscape.attrs.get("taylor_center_loss", landscape.attrs.get("center_loss"))
    try:
        return TaylorModel(float(center), gradient, hessian)
    except (TypeError, ValueError):
        raise LosstopoError(f"landscape file {path}: Taylor model lacks its centre loss") from None
    except LosstopoError as exc:
        raise LosstopoError(f"landscape file {path}: {exc}") from None


def is_scattered(landscape: xr.Dataset | NetcdfContents) -> bool:
    """Whether a landscape (dataset or plain arrays) has the scattered layout."""
    return str(landscape.attrs.get("layout", "grid")) == SCATTERED


def landscape_points(landscape: xr.Dataset | NetcdfContents) -> np.ndarray | None:
    """The (n_points × dims) displacements of a scattered landscape; None for a grid."""
    if not is_scattered(landscape):
        return None
    coords = landscape["coords"]
    return np.asarray(getattr(coords, "values", coords), dtype=np.float64)


def write_landscape(dataset: xr.Dataset, path: str | Path) -> None:
    write_dataset_atomic(dataset, path)


def read_landscape(path: str | Path) -> xr.Dataset:
    """Open ``landscape.nc`` (either layout) with its loss variable checked."""
    dataset = open_checked(path, ["loss"], "landscape")
    _check_scattered(path, dataset)
    return dataset


def read_scattered_landscape(path: str | Path) -> xr.Dataset:
    """Open a scattered ``landscape.nc``, failing clearly if it is a grid."""
    from losstopo.errors import LosstopoError

    dataset = read_landscape(path)
    if not is_scattered(dataset):
        raise LosstopoError(f"landscape file {path} is a grid, not a scattered landscape")
    return dataset


def read_landscape_arrays(path: str | Path) -> NetcdfContents:
    """``read_landscape`` as plain arrays, for the topology stage (no xarray import): the
    loss with its grid axes, or the loss with its ``coords`` for a scattered landscape."""
    optional = ["coords", *TAYLOR_VARIABLES]
    contents = read_contents(path, ["loss"], "landscape", optional=optional)
    _check_scattered(path, contents)
    return contents


def _check_scattered(path: str | Path, landscape: xr.Dataset | NetcdfContents) -> None:
    """A scattered landscape needs ``coords(point, dim)`` matching ``loss(point)``."""
    from losstopo.errors import LosstopoError

    if not is_scattered(landscape):
        return
    if "coords" not in landscape:
        raise LosstopoError(f"scattered landscape file {path} lacks variable coords")
    loss_shape = np.shape(landscape["loss"])
    coords_shape = np.shape(landscape["coords"])
    if len(loss_shape) != 1 or len(coords_shape) != 2 or coords_shape[0] != loss_shape[0]:
        raise LosstopoError(
            f"scattered landscape file {path} has loss {loss_shape} and coords {coords_shape}; "
            "expected loss (point,) and coords (point, dim)"
        )


def merge_tiles(fragments: list[xr.Dataset]) -> xr.Dataset:
    """Concatenate landscape tiles along the first axis into the untiled landscape.

    The tiles must come from one landscape (same attributes apart from the tile fields and
    timings) and cover the first axis exactly once.
    """
    import xarray as xr

    from losstopo.errors import LosstopoError

    if not fragments:
        raise LosstopoError("no landscape tiles given")
    if any("tile" not in ds.attrs for ds in fragments):
        raise LosstopoError("a file given to merge is not a landscape tile (no tile attribute)")
    fragments = sorted(fragments, key=lambda ds: int(ds.attrs.get("tile", 0)))
    tiles = int(fragments[0].attrs.get("tiles", 1))
    if [int(ds.attrs.get("tile", -1)) for ds in fragments] != list(range(tiles)):
        raise LosstopoError(
            f"expected tiles 0..{tiles - 1}, got {[ds.attrs.get('tile') for ds in fragments]}"
        )
    # each tile's rows follow the previous tile's, and it holds as many rows as it says
    stop = 0
    for ds in fragments:
        start, end = int(ds.attrs["first_index_start"]), int(ds.attrs["first_index_stop"])
        rows = ds["loss"].shape[0]
        if start != stop or end - start != rows:
            raise LosstopoError(
                f"tile {ds.attrs['tile']} holds rows {start}..{end - 1} ({rows} stored) but "
                f"should start at row {stop}: the tiles do not continue each other"
            )
        stop = end
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
    first_tile = fragments[0]
    first = first_tile["loss"].dims[0]
    merged = xr.concat([ds["loss"] for ds in fragments], dim=first)
    has_metric = ["metric" in ds for ds in fragments]
    if any(has_metric) and not all(has_metric):
        raise LosstopoError("some landscape tiles have a metric variable and some do not")
    if merged.sizes[first] != int(reference["resolution"]):
        raise LosstopoError(
            f"tiles cover {merged.sizes[first]} of {reference['resolution']} rows of {first}"
        )
    axis = np.asarray(merged[first].values, dtype=np.float64)
    if axis.size > 1 and not np.all(np.diff(axis) > 0):
        raise LosstopoError(f"the tiles' {first} coordinates do not increase: a tile is relabelled")
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
    for name in TAYLOR_VARIABLES:  # the same null model in every tile
        held = [name in ds for ds in fragments]
        if any(held) and not all(held):
            raise LosstopoError(f"some landscape tiles have a {name} variable and some do not")
        if all(held):
            reference_values = first_tile[name].values
            if any(not np.array_equal(ds[name].values, reference_values) for ds in fragments):
                raise LosstopoError(f"landscape tiles disagree on {name}")
            dataset[name] = first_tile[name]
    for name in fragments[0].coords:
        if name != first:
            dataset = dataset.assign_coords({name: fragments[0][name]})
    dataset.attrs = attrs
    return dataset
