"""The analysis stages as library functions: checkpoint → ``hessian.nc`` → ``landscape.nc`` →
``topology.nc``.

Each stage loads and hashes its inputs once, checks them, computes, and returns the
self-describing dataset (attributes: provenance, every parameter, what the checkpoint was).
The command line only parses arguments, calls a stage and writes the result; the same
stages serve the built-in problems and the user's own models (an objective factory).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from losstopo.errors import LosstopoError
from losstopo.settings import (
    CurvatureSettings,
    HessianSettings,
    LandscapeSettings,
    TopologySettings,
)

if TYPE_CHECKING:  # torch and xarray load only in the stages that use them
    import torch
    import xarray as xr

    from losstopo.hessian.layers import LayerCurvature
    from losstopo.hessian.operator import HVPOperator
    from losstopo.io.netcdf import NetcdfContents
    from losstopo.objective import Objective

log = logging.getLogger("losstopo")

# objective metadata carried into the outputs (the data the objective is evaluated on)
# what an objective's metadata says about its data, recorded in every output's attributes
OBJECTIVE_METADATA = (
    "bn_mode",
    "objective_batch_size",
    "objective_batch_seed",
    "objective_examples",
    "objective_batches",
    "synthetic_data",
)


@dataclass
class AnalysedCheckpoint:
    """A checkpoint file and its objective, read and hashed once.

    ``record`` is what every output derived from it records about the checkpoint: its
    problem, hyperparameters, seed, epoch and metrics (or the factory that built it).
    """

    path: Path
    sha256: str
    objective: Objective
    record: dict[str, Any] = field(default_factory=dict)


def load_analysed_checkpoint(
    path: str | Path,
    *,
    device: torch.device,
    dtype: torch.dtype,
    factory: str | None = None,
    options: dict[str, Any] | None = None,
) -> AnalysedCheckpoint:
    """A losstopo checkpoint through its problem, or any file through ``factory``
    (``FILE.py:function`` or ``module:function``; this executes the user's code)."""
    from losstopo.io.provenance import sha256_of

    path = Path(path)
    if factory is not None:
        from losstopo.objective_factory import objective_from_factory

        given = {key: value for key, value in (options or {}).items() if value is not None}
        if given:
            raise LosstopoError(
                f"options {', '.join(given)} choose a built-in problem's data; an objective "
                f"factory ({factory}) chooses its own"
            )
        objective = objective_from_factory(factory, path, device, dtype)
        record = {
            "problem": "model",
            "objective_factory": factory,
            "problem_hparams": {},
            "checkpoint_seed": -1,
            "checkpoint_epoch": -1,
            "checkpoint_metrics": dict(objective.metadata.get("metrics", {})),
            "run_fields": dict(objective.metadata.get("fields", {})),
            "table_metrics": list(objective.metadata.get("metrics", {})),
        }
    else:
        from losstopo.io.checkpoint import load_checkpoint
        from losstopo.problems import get_problem
        from losstopo.problems.loading import load_objective

        checkpoint = load_checkpoint(path)
        problem = get_problem(str(checkpoint["problem"]))
        objective = load_objective(path, device, dtype, loaded=checkpoint, **(options or {}))
        record = {
            "problem": str(checkpoint["problem"]),
            "problem_hparams": checkpoint["hparams"],
            "checkpoint_seed": int(checkpoint["seed"]),
            "checkpoint_epoch": int(checkpoint.get("epoch", checkpoint.get("iteration", -1))),
            "checkpoint_metrics": checkpoint.get("metrics", {}),
            "run_fields": problem.table_fields(checkpoint),
            "table_metrics": list(problem.table_metrics),
        }
    record.update(
        {
            f"objective_{key.removeprefix('objective_')}": objective.metadata[key]
            for key in OBJECTIVE_METADATA
            if key in objective.metadata
        }
    )
    return AnalysedCheckpoint(path, sha256_of(path), objective, record)


def compute_hessian(
    checkpoint: AnalysedCheckpoint,
    settings: HessianSettings | None = None,
    *,
    threads: int | None = None,
    show_progress: bool = False,
    **options: Any,
) -> xr.Dataset:
    """Top-k eigenpairs of the checkpoint's objective as the ``hessian.nc`` dataset, by
    ``settings`` (or its fields as keywords: top_k and the keyword arguments of
    :func:`losstopo.hessian_eigenpairs`), recorded in the attributes."""
    from losstopo.api import hessian_eigenpairs
    from losstopo.io.hessian_file import hessian_dataset
    from losstopo.io.provenance import base_provenance
    from losstopo.runtime import device_name

    settings = HessianSettings.of(settings, options)
    solver = settings.values()
    top_k = solver.pop("top_k")
    objective = checkpoint.objective
    if top_k > objective.n_parameters:
        raise LosstopoError(
            f"--top-k {top_k} must be between 1 and the parameter count "
            f"{objective.n_parameters} of {checkpoint.path}"
        )
    result = hessian_eigenpairs(objective, top_k, **solver, show_progress=show_progress)
    for index in range(top_k):
        if not result.converged[index]:
            log.warning(
                "eigenpair %d (lambda=%.6g) did not converge: residual %.3g > tol %.3g",
                index,
                result.eigenvalues[index],
                result.residuals[index],
                settings.tol,
            )
    theta = objective.theta()
    attrs = {
        **base_provenance(),
        "source": str(checkpoint.path),
        "source_sha256": checkpoint.sha256,
        **checkpoint.record,
        **settings.attrs(max_iter=settings.max_iter if settings.method == "power" else 0),
        "dtype": str(theta.dtype).removeprefix("torch."),
        "device": device_name(theta.device),
        "threads": threads if threads is not None else _torch_threads(),
    }
    return hessian_dataset(result, objective, attrs)


# the ESD's negative mass counts weight below -1e-6 * max|eigenvalue|
NEGATIVE_MASS_TOLERANCE = 1e-6


def compute_curvature(
    checkpoint: AnalysedCheckpoint,
    settings: CurvatureSettings | None = None,
    *,
    directions: str | Path | None = None,
    threads: int | None = None,
    **options: Any,
) -> xr.Dataset:
    """The Hessian trace (Hutchinson) and eigenvalue spectral density (SLQ) of the
    checkpoint's objective as the ``curvature.nc`` dataset, by ``settings`` (or its fields as
    keywords). With ``directions`` (its ``hessian.nc``) the top eigenvalue is recorded and,
    with ``deflate``, the trace inside the span of its eigenvectors is computed exactly and
    only the rest estimated. With ``per_layer``, each layer's diagonal Hessian block gets its
    top eigenvalue and trace too (after the whole-Hessian estimates, which it leaves as
    they are)."""
    import numpy as np
    import torch

    from losstopo.hessian.curvature import hutchinson_trace, negative_mass_bounds, slq
    from losstopo.hessian.curvature import spectral_density as smoothed_density
    from losstopo.hessian.operator import HVPOperator
    from losstopo.io.curvature_file import curvature_dataset
    from losstopo.io.hessian_file import read_hessian
    from losstopo.io.provenance import base_provenance, sha256_of
    from losstopo.landscape.directions import check_direction
    from losstopo.runtime import device_name

    settings = CurvatureSettings.of(settings, options)
    objective = checkpoint.objective
    theta = objective.theta()
    extra: dict[str, Any] = {}
    basis = None
    if directions is not None:
        hessian = read_hessian(directions)
        if hessian.attrs.get("source_sha256") not in (None, checkpoint.sha256):
            raise LosstopoError(
                f"{directions} was computed from a different checkpoint than {checkpoint.path}"
            )
        vectors = hessian["eigenvectors"].values
        for index, row in enumerate(vectors):  # a NaN direction would poison every probe
            what = f"eigenvector {index} of {directions}"
            check_direction(np.asarray(row, dtype=np.float64), what)
        if vectors.shape[1] != objective.n_parameters:
            raise LosstopoError(
                f"{directions} has {vectors.shape[1]} parameters, {checkpoint.path} has "
                f"{objective.n_parameters}"
            )
        if settings.deflate:
            basis = torch.as_tensor(vectors, dtype=theta.dtype, device=theta.device)
        extra = {
            "directions": str(directions),
            "directions_sha256": sha256_of(directions),
            "top_eigenvalue": float(hessian["eigenvalues"].values[0]),
        }
    operator = HVPOperator(objective)
    trace = hutchinson_trace(
        operator,
        seed=settings.seed,
        max_hvps=settings.trace_max_hvps,
        rel_se_target=settings.rel_se_target,
        min_probes=settings.trace_min_probes,
        deflate=basis,
    )
    quadrature = slq(
        operator, n_runs=settings.slq_runs, steps=settings.slq_steps, seed=settings.seed
    )
    smoothing = {"width": settings.width, "n_grid": settings.grid_points}
    density = smoothed_density(quadrature.nodes, quadrature.weights, **smoothing)
    if not np.isfinite(trace.estimate):
        log.warning("the trace estimate of %s is not finite", checkpoint.path)
    attrs = {
        **base_provenance(),
        "source": str(checkpoint.path),
        "source_sha256": checkpoint.sha256,
        **checkpoint.record,
        **extra,
        **settings.attrs(),
        "hvp_mode": operator.mode,
        "objective": objective.description,
        "dtype": str(theta.dtype).removeprefix("torch."),
        "device": device_name(theta.device),
        "threads": threads if threads is not None else _torch_threads(),
    }
    # weight clearly below zero: trained networks put much of their spectrum within
    # rounding of zero, where a Ritz node's sign is arbitrary
    tolerance = NEGATIVE_MASS_TOLERANCE * float(np.nanmax(np.abs(quadrature.nodes)))
    mass = negative_mass_bounds(quadrature.nodes, quadrature.weights, tolerance=tolerance)
    layers = _layer_curvature(checkpoint, operator, settings) if settings.per_layer else None
    return curvature_dataset(trace, quadrature, density, mass, attrs, layers)


def _layer_curvature(
    checkpoint: AnalysedCheckpoint, operator: HVPOperator, settings: CurvatureSettings
) -> LayerCurvature:
    """The per-layer curvature of the curvature stage, with a warning per layer whose top
    eigenpair did not converge within its budget."""
    from losstopo.hessian.layers import LayerSearch, layer_curvature, parameter_groups

    objective = checkpoint.objective
    shapes = {name: tuple(p.shape) for name, p in objective.params.items()}
    search = LayerSearch(
        settings.seed,
        settings.layer_probes,
        settings.layer_which,
        settings.layer_tol,
        settings.layer_max_hvps,
    )
    layers = layer_curvature(operator, parameter_groups(shapes, settings.layer_groups), search)
    for name, value, residual, converged in zip(
        layers.names,
        layers.top_eigenvalues,
        layers.top_residuals,
        layers.top_converged,
        strict=True,
    ):
        if not converged:
            log.warning(
                "%s: top eigenpair of layer %s (lambda=%.6g) did not converge: residual %.3g "
                "> tol %.3g",
                checkpoint.path,
                name,
                value,
                residual,
                settings.layer_tol,
            )
    return layers


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def compute_landscape(
    checkpoint: AnalysedCheckpoint,
    directions: str | Path,
    dims: int | None = None,
    resolution: int | None = None,
    distance: float | None = None,
    *,
    settings: LandscapeSettings | None = None,
    show_progress: bool = False,
    **options: Any,
) -> xr.Dataset:
    """The loss along the first ``dims`` eigenvectors of ``directions`` (a ``hessian.nc``),
    normalised against θ, as the ``landscape.nc`` dataset: on a ``resolution``^``dims`` grid,
    or (``sampling`` ``sobol`` or ``random``) at ``n_points`` scattered points; by
    ``settings`` (or its fields as keywords, the first three also by position)."""
    import numpy as np

    from losstopo.api import sample_landscape, sample_scattered_landscape
    from losstopo.io.hessian_file import read_hessian
    from losstopo.io.provenance import sha256_of
    from losstopo.landscape.directions import hessian_directions
    from losstopo.landscape.grid import grid_axes
    from losstopo.landscape.scattered import scattered_points

    positional = {"dims": dims, "resolution": resolution, "distance": distance}
    given = {name: value for name, value in positional.items() if value is not None}
    settings = LandscapeSettings.of(settings, {**given, **options})
    dims, distance, sampling = settings.dims, settings.distance, settings.sampling
    # validate before any work
    if settings.scattered:
        scattered_points(
            dims,
            min(settings.n_points, 2),
            distance,
            sampling=sampling,
            seed=settings.seed,
            center_points=min(settings.center_points, 1),
            center_scale=settings.center_scale,
        )
        where = f"{settings.n_points} {sampling} points of [-{distance:g}, {distance:g}]^{dims}"
        if settings.center_points:
            inner = distance * settings.center_scale
            where += f" and {settings.center_points} of [-{inner:g}, {inner:g}]^{dims}"
    else:
        grid_axes(dims, settings.resolution, distance)
        where = f"a {settings.resolution}^{dims} grid"
    normalization = settings.normalization
    hessian = read_hessian(directions)
    objective = checkpoint.objective
    vectors, eigenvalues = hessian_directions(
        hessian, objective, dims, normalization, str(directions)
    )
    if hessian.attrs.get("source_sha256") not in (None, checkpoint.sha256):
        log.warning(
            "%s was computed from a different checkpoint than %s", directions, checkpoint.path
        )
    attrs = {
        "source": str(checkpoint.path),
        "source_sha256": checkpoint.sha256,
        "directions": str(directions),
        "directions_sha256": sha256_of(directions),
        "directions_kind": f"hessian eigenvectors ({hessian.attrs.get('method', '?')}, "
        f"which={hessian.attrs.get('which', '?')})",
        "direction_residuals": np.asarray(hessian.residual.values[:dims], dtype=float),
        **checkpoint.record,
        "description": (
            f"loss at theta + sum_i a_i d_i on {where}; d_i = "
            f"Hessian eigenvector i of {directions}, normalised ({normalization}) "
            f"against theta of {checkpoint.path}; a_i = relative displacement in "
            f"[-{distance:g}, {distance:g}]"
        ),
        **settings.attrs(),
    }
    # what both samplers take: the extent, the directions' record, the batching, the output
    evaluation = dict(distance=distance, eigenvalues=eigenvalues, normalization=normalization)
    evaluation.update(chunk_size=settings.chunk_size, memory_budget_mb=settings.memory_budget_mb)
    evaluation.update(attrs=attrs, show_progress=show_progress, null_model=settings.null_model)
    sample = sample_scattered_landscape if settings.scattered else sample_landscape
    return sample(objective, vectors, **settings.layout(), **evaluation)


# landscape attributes a topology file carries (prefixed landscape_), for tables and figures
CARRIED_LANDSCAPE_ATTRS = (
    "layout",
    "sampling",
    "n_points",
    "seed",
    "dims",
    "resolution",
    "distance",
    "normalization",
    "problem",
    "problem_hparams",
    "objective_factory",
    "checkpoint_seed",
    "checkpoint_epoch",
    "checkpoint_metrics",
    "run_fields",
    "table_metrics",
    "objective_synthetic_data",
    "eigenvalues",
    "center_loss",
    "center_points",
    "center_scale",
    "n_nonfinite",
    "source",
)


# Below this share of finite loss values the trained basin, its depth and the loss quantiles
# describe the finite remnant, not the landscape: those descriptors are NaN (with a warning).
MIN_FINITE_FRACTION = 0.5
# descriptors that stay meaningful on a mostly non-finite landscape: counts and settings
UNBLANKED_DESCRIPTORS = ("log_threshold_decades", "n_minima_above_log", "n_saddles_above_log")


@dataclass
class TopologyResult:
    """The ``topology.nc`` contents and the numbers a log line reports."""

    dataset: NetcdfContents
    n_minima: int
    n_saddles: int
    n_components: int
    summary: dict[str, Any]
    descriptors: dict[str, Any]
    summary_threshold: float
    null: dict[str, Any] = field(default_factory=dict)


def compute_topology(
    landscape_path: str | Path,
    settings: TopologySettings | None = None,
    *,
    workers: int = 1,
    **options: Any,
) -> TopologyResult:
    """Merge tree of a ``landscape.nc`` with its summaries and shape descriptors, by
    ``settings`` (or its fields as keywords); the stored tree is simplified at
    ``persistence_threshold`` (absolute, or relative to the range).

    A scattered landscape's tree is built on the exact k-NN graph of its sample points
    (``workers`` threads query the neighbours; the graph does not depend on them), by default
    in coordinates whitened by the landscape's Taylor Hessian (``knn_metric`` curvature) and
    with the union of the neighbourhoods (``symmetrize``; grids default to mutual).

    When the landscape carries its null model (the Taylor quadratic at θ), the same tree is
    built for the quadratic on the same vertices and graph, and the counts are recorded real,
    null and in excess of the null, with the loss's anharmonicity."""
    import numpy as np

    from losstopo.io.landscape_file import (
        landscape_points,
        landscape_taylor,
        read_landscape_arrays,
    )
    from losstopo.io.provenance import base_provenance, sha256_of
    from losstopo.io.topology_file import topology_dataset
    from losstopo.topology.descriptors import shape_descriptors
    from losstopo.topology.null_model import (
        ANHARMONIC_DECADES,
        CALIBRATED_COUNTS,
        WHITENING_FLOOR,
        anharmonicity,
        knn_coordinates,
    )
    from losstopo.topology.simplify import absolute_threshold, simplify
    from losstopo.topology.summary import summarize

    settings = TopologySettings.of(settings, options)
    connectivity, k, symmetrize = settings.connectivity, settings.k, settings.symmetrize
    landscape = read_landscape_arrays(landscape_path)
    if "tile" in landscape.attrs:
        tile, tiles = int(landscape.attrs["tile"]), int(landscape.attrs.get("tiles", 1))
        raise LosstopoError(
            f"{landscape_path} is tile {tile} of {tiles} of a landscape, not a whole landscape "
            "(its centre is not theta); merge the tiles with losstopo landscape-merge"
        )
    loss = landscape["loss"]
    finite_count = int(np.count_nonzero(np.isfinite(loss)))
    if finite_count == 0:
        raise LosstopoError(f"{landscape_path} has no finite loss value")
    names = list(landscape.dims("loss"))
    points = landscape_points(landscape)
    null_model = landscape_taylor(landscape, landscape_path)
    if points is not None:
        if connectivity != "knn":
            raise LosstopoError(
                f"{landscape_path} is a scattered landscape: it has no grid for "
                f"--connectivity {connectivity}; use knn"
            )
        symmetrize = symmetrize or "union"
        graph_metric = settings.knn_metric
        coordinates = knn_coordinates(points, null_model, graph_metric, str(landscape_path))
        trees = _scattered_trees(
            landscape_path, loss, points, coordinates, null_model, k, symmetrize, workers
        )
    else:
        symmetrize = symmetrize or "mutual"
        graph_metric = "grid index" if connectivity == "knn" else ""
        trees = _grid_trees(
            landscape_path, loss, landscape, names, null_model, connectivity, k, symmetrize
        )
    tree, null_values, null_tree = trees
    threshold = absolute_threshold(tree, settings.persistence_threshold, settings.relative)
    summary_absolute = absolute_threshold(tree, settings.summary_threshold, True)
    summary = summarize(tree, summary_absolute)
    stored = simplify(tree, threshold)
    stored_summary = summarize(stored, 0.0)
    descriptors = shape_descriptors(tree, settings.log_threshold)
    counts = _counts(summary, descriptors)
    finite_fraction = finite_count / loss.size
    if finite_fraction < MIN_FINITE_FRACTION:
        log.warning(
            "%s: only %d of %d loss values are finite (%.1f %%, below %.0f %%): its shape "
            "descriptors are NaN",
            landscape_path,
            finite_count,
            loss.size,
            100 * finite_fraction,
            100 * MIN_FINITE_FRACTION,
        )
        descriptors = {
            key: value if key in UNBLANKED_DESCRIPTORS else float("nan")
            for key, value in descriptors.items()
        }
    null: dict[str, Any] = {"null_model": 0}
    for key in CALIBRATED_COUNTS:
        null[f"null_{key}"] = -1
        null[f"excess_{key}"] = -1
    null.update(anharmonic_fraction=float("nan"), taylor_log_error_median=float("nan"))
    null.update(null_min_curvature=float("nan"), null_max_curvature=float("nan"))
    if null_tree is not None:
        # the same absolute persistence threshold as the loss's: counts in the same units
        null_summary = summarize(null_tree, summary_absolute)
        null_counts = _counts(null_summary, shape_descriptors(null_tree, settings.log_threshold))
        curvatures = null_model.curvatures
        null = {
            "null_model": 1,
            **{f"null_{key}": value for key, value in null_counts.items()},
            **{f"excess_{key}": counts[key] - null_counts[key] for key in CALIBRATED_COUNTS},
            **anharmonicity(loss, null_values),
            "anharmonic_decades": ANHARMONIC_DECADES,
            "null_min_curvature": float(curvatures[0]),
            "null_max_curvature": float(curvatures[-1]),
        }
    carried = {
        key: landscape.attrs[key] for key in CARRIED_LANDSCAPE_ATTRS if key in landscape.attrs
    }
    attrs = {
        **base_provenance(),
        "source": str(landscape_path),
        "source_sha256": sha256_of(landscape_path),
        **{f"landscape_{key}": value for key, value in carried.items()},
        **settings.attrs(k=tree.k, symmetrize=tree.symmetrize, knn_metric=graph_metric),
        "knn_whitening_floor": WHITENING_FLOOR if graph_metric == "curvature" else 0.0,
        "persistence_threshold": threshold,
        "summary_threshold": summary_absolute,
        "n_vertices": int(loss.size),
        "n_finite": finite_count,
        "finite_fraction": finite_fraction,
        "min_finite_fraction": MIN_FINITE_FRACTION,
        "n_minima": stored.n_minima,
        "n_saddles": stored.n_saddles,
        "n_components": tree.n_components,
        "n_minima_raw": summary["n_minima"],
        "n_saddles_raw": summary["n_saddles"],
        "n_minima_above": summary["n_minima_above"],
        "n_saddles_above": summary["n_saddles_above"],
        "total_persistence": stored_summary["total_persistence"],
        "mean_persistence": stored_summary["mean_persistence"],
        "max_persistence": stored_summary["max_persistence"],
        "persistence_entropy": stored_summary["persistence_entropy"],
        "largest_basin_fraction": summary["largest_basin_fraction"],
        **descriptors,
        **null,
    }
    coords = {name: landscape[name] for name in names if name in landscape}
    return TopologyResult(
        dataset=topology_dataset(stored, names, coords, attrs),
        n_minima=tree.n_minima,
        n_saddles=tree.n_saddles,
        n_components=tree.n_components,
        summary=summary,
        descriptors=descriptors,
        summary_threshold=summary_absolute,
        null=null,
    )


def _counts(summary: dict[str, Any], descriptors: dict[str, Any]) -> dict[str, int]:
    """The calibrated counts of one tree: raw, above the relative threshold, above the log one."""
    return {
        "n_minima_raw": int(summary["n_minima"]),
        "n_saddles_raw": int(summary["n_saddles"]),
        "n_minima_above": int(summary["n_minima_above"]),
        "n_saddles_above": int(summary["n_saddles_above"]),
        "n_minima_above_log": int(descriptors["n_minima_above_log"]),
        "n_saddles_above_log": int(descriptors["n_saddles_above_log"]),
    }


def _scattered_trees(path, loss, points, coordinates, null_model, k, symmetrize, workers):
    """Merge trees of the loss and (with a null model) of its Taylor quadratic at scattered
    samples, on one k-NN graph of ``coordinates`` (``knn_coordinates``); with the quadratic's
    values."""
    from losstopo.topology.mergetree import merge_tree_on_graph
    from losstopo.topology.neighbors import default_k, knn_graph
    from losstopo.topology.null_model import null_tree_values

    if loss.ndim != 1 or len(loss) != len(points):
        raise LosstopoError(f"scattered landscape file {path}: loss and coords differ in length")
    k_used = default_k(points.shape[1]) if k is None else int(k)
    # scattered points rarely tie in distance, so a short first query suffices
    graph = knn_graph(coordinates, k_used, symmetrize, workers=workers, query_size=k_used + 2)
    labels = dict(connectivity="knn", k=k_used, symmetrize=symmetrize, center=0)
    tree = merge_tree_on_graph(loss, graph, **labels)
    if null_model is None:
        return tree, None, None
    null = null_model(points)
    return tree, null, merge_tree_on_graph(null_tree_values(loss, null), graph, **labels)


def _grid_trees(path, loss, landscape, names, null_model, connectivity, k, symmetrize):
    """Merge trees of the loss and (with a null model) of its Taylor quadratic on the grid;
    with the quadratic's values."""
    import numpy as np

    from losstopo.topology.mergetree import merge_tree
    from losstopo.topology.neighbors import grid_points
    from losstopo.topology.null_model import null_tree_values

    # k-NN on a grid is built on integer indices: float coordinates would break distance
    # ties by rounding, not by the documented (distance, index) order.
    tree = merge_tree(loss, connectivity, k, symmetrize)
    if null_model is None:
        return tree, None, None
    missing = [name for name in names if name not in landscape]
    if missing:
        raise LosstopoError(
            f"landscape file {path} lacks the axis coordinate(s) {', '.join(missing)}"
        )
    alphas = grid_points(loss.shape, [np.asarray(landscape[name]) for name in names])
    null = null_model(alphas).reshape(loss.shape)
    null_tree = merge_tree(null_tree_values(loss, null), connectivity, k, symmetrize)
    return tree, null, null_tree
