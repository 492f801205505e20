"""The public Python API: the paper's analysis for any model, without Snakemake.

The command line and the workflow use these same functions, so the API and the CLI give
identical numbers for the same inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import xarray as xr

from losstopo.errors import LosstopoError
from losstopo.hessian.curvature import SpectralDensity, SpectralQuadrature, TraceEstimate
from losstopo.hessian.curvature import hutchinson_trace as _hutchinson_trace
from losstopo.hessian.curvature import slq as _slq
from losstopo.hessian.curvature import spectral_density as _smoothed_density
from losstopo.hessian.layers import LayerCurvature, LayerSearch, parameter_groups
from losstopo.hessian.layers import layer_curvature as _layer_curvature
from losstopo.hessian.operator import HVPOperator
from losstopo.hessian.solvers import EigenResult, lanczos, power_iteration
from losstopo.io.landscape_file import landscape_dataset, landscape_points
from losstopo.io.provenance import base_provenance
from losstopo.landscape import DEFAULT_MEMORY_BUDGET_MB
from losstopo.landscape.directions import cosine_gram, normalize_direction
from losstopo.landscape.directions import normalized_directions as normalized_directions
from losstopo.landscape.evaluation import sample_landscape as _sample_grid
from losstopo.objective import Objective, Params
from losstopo.runtime import device_name
from losstopo.topology.mergetree import MergeTree, merge_tree_on_points
from losstopo.topology.mergetree import merge_tree as _merge_tree_array
from losstopo.topology.neighbors import grid_points
from losstopo.topology.profile import Profile
from losstopo.topology.profile import landscape_profile as _profile_of_tree
from losstopo.topology.simplify import absolute_threshold, simplify

if TYPE_CHECKING:  # plotting is imported only when a profile is drawn
    from matplotlib.axes import Axes

BIAS_BN_POLICIES = ("zero", "keep")


def hessian_eigenpairs(
    objective: Objective,
    k: int,
    *,
    method: str = "lanczos",
    which: str = "LM",
    tol: float = 1e-4,
    max_hvp: int = 1000,
    max_iter: int = 100,
    seed: int = 0,
    show_progress: bool = False,
) -> EigenResult:
    """Top-k Hessian eigenpairs of ``objective`` at θ by exact Hessian-vector products."""
    hvp = HVPOperator(objective)
    if method == "lanczos":
        return lanczos(hvp, k, which, tol, max_hvp, seed, show_progress=show_progress)
    if method == "power":
        if which != "LM":
            raise LosstopoError("power iteration finds largest-magnitude pairs only (which='LM')")
        return power_iteration(hvp, k, tol, max_iter, seed=seed, show_progress=show_progress)
    raise LosstopoError(f"unknown method {method!r} (choose lanczos or power)")


def hessian_trace(
    objective: Objective,
    *,
    seed: int = 0,
    max_hvps: int = 200,
    rel_se_target: float = 0.05,
    min_probes: int = 20,
    deflate: EigenResult | torch.Tensor | np.ndarray | None = None,
) -> TraceEstimate:
    """Hutchinson's estimate of ``tr(H)`` with its standard error, from seeded Rademacher
    probes on exact HVPs; stops at ``rel_se_target`` or after ``max_hvps`` products.
    ``deflate``: known top eigenvectors whose span is traced exactly."""
    return _hutchinson_trace(
        HVPOperator(objective),
        seed=seed,
        max_hvps=max_hvps,
        rel_se_target=rel_se_target,
        min_probes=min_probes,
        deflate=deflate,
    )


def spectral_density(
    objective: Objective,
    *,
    n_runs: int = 3,
    steps: int = 40,
    seed: int = 0,
    width: float = 4.0,
    n_grid: int = 1000,
) -> tuple[SpectralQuadrature, SpectralDensity]:
    """The Hessian's eigenvalue spectral density by stochastic Lanczos quadrature: the raw
    nodes and weights of ``n_runs`` seeded runs of ``steps`` Lanczos steps, and the density
    smoothed by a Gaussian of ``width`` grid steps on a symmetric-log grid."""
    quadrature = _slq(HVPOperator(objective), n_runs=n_runs, steps=steps, seed=seed)
    density = _smoothed_density(quadrature.nodes, quadrature.weights, width=width, n_grid=n_grid)
    return quadrature, density


def layer_curvature(
    objective: Objective,
    groups: str | Mapping[str, Sequence[str]] | None = None,
    *,
    seed: int = 0,
    probes: int = 30,
    which: str = "LM",
    tol: float = 1e-4,
    max_hvps: int = 200,
) -> LayerCurvature:
    """Top eigenvalue and trace of each layer's diagonal Hessian block ``H_ll`` (the Hessian
    of the loss in that layer's parameters alone): which layers the curvature comes from.

    ``groups``: one per parameter tensor (``None``, ``"tensor"``), one per module
    (``"module"``: ``0.weight`` and ``0.bias`` form ``0``), or a mapping of group names to
    parameter names. The eigenvalue is found by Lanczos on ``v ↦ H_ll v`` (``which``, true
    relative residual ``tol``, at most ``max_hvps`` products per group); the traces by
    Hutchinson's estimator from ``probes`` full Rademacher probes shared by all groups, the
    probes :func:`hessian_trace` draws with the same ``seed``: over groups covering every
    parameter the traces sum to its undeflated estimate."""
    shapes = {name: tuple(p.shape) for name, p in objective.params.items()}
    search = LayerSearch(seed, probes, which, tol, max_hvps)
    return _layer_curvature(HVPOperator(objective), parameter_groups(shapes, groups), search)


def random_directions(
    objective: Objective,
    n: int,
    *,
    seed: int = 0,
    normalization: str = "filter",
    bias_bn: str = "zero",
) -> torch.Tensor:
    """``n`` seeded Gaussian directions, filter-normalised as in Li et al. (2018).

    ``bias_bn='zero'`` (Li et al.'s default) sets the direction to zero on every 1-D
    parameter (biases, BatchNorm weights and biases), so those stay at θ;
    ``'keep'`` normalises them per tensor like the rest.
    """
    if bias_bn not in BIAS_BN_POLICIES:
        raise LosstopoError(f"unknown bias_bn policy {bias_bn!r} (choose zero or keep)")
    if n < 1:
        raise LosstopoError(f"n must be >= 1, got {n}")
    generator = torch.Generator().manual_seed(seed)
    reference = objective.theta()
    rows = []
    for _ in range(n):
        raw = torch.randn(objective.n_parameters, generator=generator, dtype=torch.float64)
        direction = objective.unflatten(raw.to(dtype=reference.dtype, device=reference.device))
        direction = normalize_direction(direction, objective.params, normalization)
        if bias_bn == "zero":
            direction = {
                name: torch.zeros_like(d) if d.dim() <= 1 else d for name, d in direction.items()
            }
        rows.append(objective.flatten(direction))
    return torch.stack(rows)


def direction_between(objective: Objective, other: Params) -> torch.Tensor:
    """The direction from θ to another parameter set (e.g. a second checkpoint), unscaled."""
    missing = [name for name in objective.params if name not in other]
    if missing:
        raise LosstopoError(f"other parameters lack {', '.join(missing[:3])}")
    return (objective.flatten(other) - objective.theta()).detach()


def sample_landscape(
    objective: Objective,
    directions: torch.Tensor,
    *,
    resolution: int,
    distance: float,
    eigenvalues: np.ndarray | None = None,
    normalization: str = "given",
    chunk_size: int | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    attrs: dict[str, Any] | None = None,
    show_progress: bool = False,
    tile: int = 0,
    tiles: int = 1,
    null_model: bool = True,
) -> xr.Dataset:
    """The loss on the grid θ + Σ aᵢ dᵢ (rows of ``directions``, already scaled), as the
    self-describing dataset that ``losstopo landscape`` writes to ``landscape.nc``.

    With ``tiles > 1`` only tile ``tile`` of the first axis is computed; merging all tiles
    (``losstopo.io.landscape_file.merge_tiles``) gives the untiled dataset's values exactly.
    With ``null_model`` the dataset carries the Taylor model of the loss at θ in the
    landscape's coordinates (one gradient and n Hessian-vector products), against which the
    topology stage calibrates its counts.
    """
    from losstopo.landscape.evaluation import choose_chunk_size
    from losstopo.landscape.grid import tile_slabs

    slabs = tile_slabs(resolution, tile, tiles) if tiles > 1 else None
    if chunk_size is None:  # from the full grid, so every tile chunks like the whole
        chunk_size = choose_chunk_size(
            objective, memory_budget_mb, resolution ** int(directions.shape[0])
        )
    dims = int(directions.shape[0])
    result = _sample_grid(
        objective,
        directions,
        resolution,
        distance,
        chunk_size=chunk_size,
        memory_budget_mb=memory_budget_mb,
        show_progress=show_progress,
        slabs=slabs,
    )
    tile_attrs = (
        {
            "tile": tile,
            "tiles": tiles,
            "first_index_start": slabs.start,
            "first_index_stop": slabs.stop,
        }
        if slabs is not None
        else {}
    )
    info = _landscape_info(objective, directions, distance, normalization, memory_budget_mb)
    values = np.full(dims, np.nan) if eigenvalues is None else np.asarray(eigenvalues, float)
    info = {**info, **tile_attrs, **(attrs or {})}
    dataset = landscape_dataset(result, values, cosine_gram(directions), info)
    return _with_null_model(dataset, objective, directions) if null_model else dataset


def sample_scattered_landscape(
    objective: Objective,
    directions: torch.Tensor,
    *,
    n_points: int,
    distance: float,
    sampling: str = "sobol",
    seed: int = 0,
    center_points: int = 0,
    center_scale: float = 0.1,
    eigenvalues: np.ndarray | None = None,
    normalization: str = "given",
    chunk_size: int | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    attrs: dict[str, Any] | None = None,
    show_progress: bool = False,
    null_model: bool = True,
) -> xr.Dataset:
    """The loss at ``n_points`` scattered displacements in [−distance, distance]ⁿ (scrambled
    Sobol or seeded uniform; point 0 is θ), and at ``center_points`` more in the inner cube of
    half-width ``center_scale``·distance, along the rows of ``directions``, as the
    scattered ``landscape.nc`` dataset: for landscapes beyond four dimensions. With
    ``null_model``, the Taylor model at θ as for grids (``sample_landscape``)."""
    from losstopo.io.landscape_file import scattered_landscape_dataset
    from losstopo.landscape.scattered import ScatteredDesign, sample_scattered

    design = ScatteredDesign(n_points, distance, sampling, seed, center_points, center_scale)
    result = sample_scattered(
        objective,
        directions,
        design,
        chunk_size=chunk_size,
        memory_budget_mb=memory_budget_mb,
        show_progress=show_progress,
    )
    dims = int(directions.shape[0])
    values = np.full(dims, np.nan) if eigenvalues is None else np.asarray(eigenvalues, float)
    info = _landscape_info(objective, directions, distance, normalization, memory_budget_mb)
    gram = cosine_gram(directions)
    dataset = scattered_landscape_dataset(result, values, gram, {**info, **(attrs or {})})
    return _with_null_model(dataset, objective, directions) if null_model else dataset


def _with_null_model(dataset: xr.Dataset, objective: Objective, directions: torch.Tensor):
    from losstopo.io.landscape_file import with_taylor
    from losstopo.landscape.taylor import taylor_terms

    return with_taylor(dataset, taylor_terms(objective, directions))


def _landscape_info(
    objective: Objective,
    directions: torch.Tensor,
    distance: float,
    normalization: str,
    memory_budget_mb: float,
) -> dict[str, Any]:
    """What every ``landscape.nc`` records about θ, the directions and the evaluation."""
    with torch.no_grad():
        center_loss = float(objective())
    return {
        **base_provenance(),
        "distance": float(distance),
        "normalization": normalization,
        "center_loss": center_loss,
        "theta_norm": float(objective.theta().double().norm()),
        "direction_norms": directions.double().norm(dim=1).cpu().numpy(),
        "bn_mode": str(objective.metadata.get("bn_mode", "eval")),
        "objective": objective.description,
        "dtype": str(objective.theta().dtype).removeprefix("torch."),
        "device": device_name(objective.theta().device),
        "threads": torch.get_num_threads(),
        "memory_budget_mb": float(memory_budget_mb),
    }


def merge_tree(
    landscape: np.ndarray | xr.Dataset | xr.DataArray,
    connectivity: str = "full",
    *,
    k: int | None = None,
    symmetrize: str | None = None,
    knn_metric: str = "curvature",
    persistence_threshold: float = 0.0,
    relative: bool = False,
) -> MergeTree:
    """Sub-level-set merge tree of an array or a landscape (``loss`` variable).

    For ``knn`` on a landscape the points are its grid coordinates (relative displacements;
    ``symmetrize`` defaults to mutual). A scattered landscape (``sample_scattered_landscape``)
    takes the k-NN graph of its sample points, the only neighbourhood it has, as
    ``losstopo topology`` does: by default the union graph in coordinates whitened by its
    Taylor Hessian (``knn_metric`` curvature; euclidean with mutual is the paper's graph).
    """
    from losstopo.io.landscape_file import landscape_taylor
    from losstopo.topology.null_model import knn_coordinates

    points = None
    if isinstance(landscape, xr.Dataset):
        if "loss" not in landscape:
            raise LosstopoError("landscape dataset lacks variable loss")
        scattered = landscape_points(landscape)
        if scattered is not None:
            if connectivity != "knn":
                raise LosstopoError(
                    f"a scattered landscape has no grid for connectivity {connectivity!r}; use knn"
                )
            taylor = landscape_taylor(landscape, "the landscape")
            scattered = knn_coordinates(scattered, taylor, knn_metric, "the landscape")
            values = landscape["loss"].values
            tree = merge_tree_on_points(values, scattered, k, symmetrize or "union")
            return _simplified(tree, persistence_threshold, relative)
        landscape = landscape["loss"]
    symmetrize = symmetrize or "mutual"
    if isinstance(landscape, xr.DataArray):
        if connectivity == "knn":
            points = grid_points(
                landscape.shape, [landscape[name].values for name in landscape.dims]
            )
        landscape = landscape.values
    tree = _merge_tree_array(np.asarray(landscape), connectivity, k, symmetrize, points)
    return _simplified(tree, persistence_threshold, relative)


def _simplified(tree: MergeTree, persistence_threshold: float, relative: bool) -> MergeTree:
    if persistence_threshold > 0:
        tree = simplify(tree, absolute_threshold(tree, persistence_threshold, relative))
    return tree


def landscape_profile(tree: MergeTree, order: str = "width") -> Profile:
    """Topological landscape profile of a merge tree, as polygons and markers (data)."""
    return _profile_of_tree(tree, order=order)


def plot_profile(
    profile: Profile | MergeTree, ax: Axes | None = None, *, log_y: bool = True, norm=None
) -> Axes:
    """Draw a profile (or the profile of a tree) on ``ax`` with a colour bar."""
    if isinstance(profile, MergeTree):
        profile = landscape_profile(profile)
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(4.5, 3.5))
    from losstopo.plots.profile import draw_profile, shared_norm

    norm = norm or shared_norm([profile], log=log_y)
    collection = draw_profile(ax, profile, norm, log_y=log_y)
    ax.figure.colorbar(collection, ax=ax, label="mean loss of arc")
    ax.set_ylabel("loss")
    return ax
