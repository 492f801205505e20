"""``losstopo export``: a landscape (and its merge tree) as VTK files for ParaView and TTK.

A grid landscape of up to three axes becomes image data (``PREFIX.vti``: spacing the step
of its displacements, origin its first displacement, −distance for a whole landscape); a
scattered landscape becomes points joined by its k-NN graph as line cells
(``PREFIX.vtu``), the graph its topology was computed on. Both carry the point arrays
``loss``, ``log10_loss``, ``metric`` where the landscape has one and, given its
``topology.nc``, the merge tree's ``segmentation``; the tree itself becomes a skeleton
(``PREFIX_tree.vtu``) placed at its nodes' vertices. Nothing here imports torch.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from losstopo.errors import LosstopoError

if TYPE_CHECKING:
    import xarray as xr

MAX_IMAGE_AXES = 3
EXTENSIONS = (".vti", ".vtu")


@dataclass
class Export:
    """What was written: each file with its number of points and of line cells."""

    files: list[Path] = field(default_factory=list)
    points: list[int] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)

    def add(self, path: Path, points: int, lines: int) -> None:
        self.files.append(path)
        self.points.append(points)
        self.lines.append(lines)


@dataclass(frozen=True)
class GraphChoice:
    """The k-NN graph of scattered samples (None: the topology file's, else the topology
    stage's defaults: k = 4·dims, union, curvature where the landscape has its Taylor
    model and euclidean where it has none)."""

    k: int | None = None
    symmetrize: str | None = None
    knn_metric: str | None = None

    @property
    def given(self) -> bool:
        return any(value is not None for value in (self.k, self.symmetrize, self.knn_metric))


def export_landscape(
    landscape_path: str | Path,
    prefix: str | Path,
    topology_path: str | Path | None = None,
    graph: GraphChoice | None = None,
) -> Export:
    """Write the VTK files of a ``landscape.nc`` (and its ``topology.nc``) under ``prefix``;
    every file is complete or absent, and none replaces an input."""
    from losstopo.io.landscape_file import is_scattered, read_landscape

    graph = graph or GraphChoice()
    landscape_path = Path(landscape_path)
    landscape = read_landscape(landscape_path)
    topology = None if topology_path is None else _read_topology(topology_path, landscape_path)
    scattered = is_scattered(landscape)
    if not scattered and graph.given:
        raise LosstopoError(
            f"{landscape_path} is a grid landscape: --k, --symmetrize and --knn-metric choose "
            "the graph of scattered samples only"
        )
    base = _base(prefix)
    main = Path(f"{base}{'.vtu' if scattered else '.vti'}")
    outputs = [main] + ([Path(f"{base}_tree.vtu")] if topology is not None else [])
    inputs = [landscape_path] + ([Path(topology_path)] if topology_path is not None else [])
    _check_outputs(outputs, inputs)

    from losstopo.io.vtk_export import write_vti, write_vtu

    export = Export()
    arrays = _point_arrays(landscape, topology, topology_path)
    if scattered:
        positions, edges, coordinates = _scattered(landscape, landscape_path, topology, graph)
        write_vtu(main, positions, edges, {**arrays, **coordinates})
        export.add(main, len(positions), len(edges))
    else:
        origin, spacing, axes = _image_geometry(landscape, landscape_path)
        write_vti(main, origin, spacing, {name: _as_image(a) for name, a in arrays.items()})
        export.add(main, int(landscape["loss"].size), 0)
        positions = _grid_positions(axes) if topology is not None else np.zeros((0, 3))
    if topology is not None:
        nodes, arcs, node_arrays, arc_arrays = _tree(topology, positions)
        write_vtu(outputs[1], nodes, arcs, node_arrays, arc_arrays)
        export.add(outputs[1], len(nodes), len(arcs))
    return export


def _base(prefix: str | Path) -> str:
    """The prefix without a VTK extension that it may have been given with."""
    text = str(prefix)
    for extension in EXTENSIONS:
        text = text.removesuffix(extension)
    if not text or text.endswith(os.sep) or Path(text).is_dir():
        raise LosstopoError(f"--out {prefix} must name files (a prefix), not a directory")
    return text


def _check_outputs(outputs: list[Path], inputs: list[Path]) -> None:
    """An output never replaces an input (the same path, or another name for the file)."""
    for out in outputs:
        for source in inputs:
            same = out.resolve() == source.resolve()
            if not same and out.exists():
                with contextlib.suppress(OSError):
                    same = os.path.samefile(out, source)
            if same:
                raise LosstopoError(f"output {out} is the input {source}; choose another --out")


def _read_topology(path: str | Path, landscape_path: Path) -> xr.Dataset:
    """The topology file, checked against the landscape it must come from."""
    from losstopo.io.provenance import sha256_of
    from losstopo.io.topology_file import read_topology

    topology = read_topology(path)
    recorded = topology.attrs.get("source_sha256")
    if recorded is not None and recorded != sha256_of(landscape_path):
        raise LosstopoError(
            f"{path} was computed from a different landscape than {landscape_path} "
            f"(it records {topology.attrs.get('source', 'another file')})"
        )
    return topology


def _point_arrays(
    landscape: xr.Dataset, topology: xr.Dataset | None, topology_path: str | Path | None
) -> dict[str, np.ndarray]:
    """loss, log10_loss (NaN where the loss is not finite and > 0), metric, segmentation."""
    loss = np.asarray(landscape["loss"].values, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_loss = np.where(np.isfinite(loss) & (loss > 0), np.log10(loss), np.nan)
    arrays = {"loss": loss, "log10_loss": log_loss}
    if "metric" in landscape:
        arrays["metric"] = np.asarray(landscape["metric"].values, dtype=np.float64)
    if topology is not None:
        segmentation = np.asarray(topology["segmentation"].values, dtype=np.int64)
        if segmentation.shape != loss.shape:
            raise LosstopoError(
                f"{topology_path} does not match the landscape: segmentation shape "
                f"{segmentation.shape}, loss shape {loss.shape}"
            )
        arrays["segmentation"] = segmentation
    return arrays


def _image_geometry(
    landscape: xr.Dataset, path: Path
) -> tuple[tuple[float, ...], tuple[float, ...], list[np.ndarray]]:
    """Origin and spacing (three axes) of a grid, and its axes' displacements."""
    names = list(landscape["loss"].dims)
    if len(names) > MAX_IMAGE_AXES:
        raise LosstopoError(
            f"{path} is a {len(names)}-D grid; VTK image data holds at most {MAX_IMAGE_AXES} "
            "axes (sample it scattered to export the points and their graph)"
        )
    axes, origin, spacing = [], [], []
    for name in names:
        if name not in landscape.coords:
            raise LosstopoError(f"landscape file {path} lacks the axis coordinate {name}")
        axis = np.asarray(landscape[name].values, dtype=np.float64)
        if axis.size == 0 or not np.all(np.isfinite(axis)):
            raise LosstopoError(f"axis {name} of {path} is empty or not finite")
        step = float(axis[1] - axis[0]) if axis.size > 1 else 1.0
        uniform = np.allclose(np.diff(axis), step, rtol=1e-9, atol=0.0)
        if not (step > 0 and uniform):
            raise LosstopoError(
                f"axis {name} of {path} is not evenly increasing; image data needs a uniform grid"
            )
        axes.append(axis)
        origin.append(float(axis[0]))
        spacing.append(step)
    while len(origin) < MAX_IMAGE_AXES:  # the unused axes: one layer at 0
        origin.append(0.0)
        spacing.append(spacing[0])
    return tuple(origin), tuple(spacing), axes


def _as_image(values: np.ndarray) -> np.ndarray:
    """An array of a grid with one to three axes, as three axes (x first)."""
    values = np.asarray(values)
    return values.reshape(values.shape + (1,) * (MAX_IMAGE_AXES - values.ndim))


def _grid_positions(axes: list[np.ndarray]) -> np.ndarray:
    """The 3-D position of every grid vertex, in C order (the landscape's flat indices)."""
    from losstopo.topology.neighbors import grid_points

    return _in_3d(grid_points(tuple(len(axis) for axis in axes), axes))


def _in_3d(coordinates: np.ndarray) -> np.ndarray:
    """The first three coordinates, padded with zeros below three dimensions."""
    out = np.zeros((len(coordinates), 3))
    used = min(3, coordinates.shape[1])
    out[:, :used] = coordinates[:, :used]
    return out


def _scattered(
    landscape: xr.Dataset, path: Path, topology: xr.Dataset | None, choice: GraphChoice
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Positions (the first three displacements), the k-NN graph's edges (each once) and
    every displacement as its own point array ``a0…``."""
    from losstopo.io.landscape_file import landscape_points, landscape_taylor
    from losstopo.topology.neighbors import default_k, knn_graph
    from losstopo.topology.null_model import knn_coordinates

    points = landscape_points(landscape)
    if not np.all(np.isfinite(points)):
        raise LosstopoError(f"scattered landscape file {path} has non-finite coordinates")
    taylor = landscape_taylor(landscape, path)
    k, symmetrize, metric = _graph_of(topology, choice, taylor is not None, path)
    k = default_k(points.shape[1]) if k is None else k
    coordinates = knn_coordinates(points, taylor, metric, str(path))
    # the topology stage's call: the same query gives the same graph
    indptr, indices = knn_graph(coordinates, k, symmetrize, query_size=k + 2)
    sources = np.repeat(np.arange(len(points)), np.diff(indptr))
    once = sources < indices
    edges = np.stack([sources[once], indices[once]], axis=1)
    extra = {f"a{i}": np.ascontiguousarray(points[:, i]) for i in range(points.shape[1])}
    return _in_3d(points), edges, extra


def _graph_of(
    topology: xr.Dataset | None, choice: GraphChoice, has_taylor: bool, path: Path
) -> tuple[int | None, str, str]:
    """k, symmetrisation and metric: the topology's recorded graph, or the choice."""
    if topology is None:
        metric = choice.knn_metric or ("curvature" if has_taylor else "euclidean")
        return choice.k, choice.symmetrize or "union", metric
    if choice.given:
        raise LosstopoError(
            "--k, --symmetrize and --knn-metric choose a graph only without --topology; "
            "the topology file's own graph is exported with it"
        )
    attrs = topology.attrs
    if str(attrs.get("connectivity")) != "knn":
        raise LosstopoError(
            f"the topology of scattered landscape {path} records connectivity "
            f"{attrs.get('connectivity')!r}, not knn"
        )
    try:
        return int(attrs["k"]), str(attrs["symmetrize"]), str(attrs["knn_metric"])
    except (KeyError, TypeError, ValueError):
        raise LosstopoError(
            f"the topology of {path} does not record its k-NN graph (k, symmetrize, knn_metric)"
        ) from None


def _tree(
    topology: xr.Dataset, vertex_positions: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The merge tree's skeleton: node positions, arcs, node arrays and arc arrays."""
    from losstopo.io.topology_file import NODE_VARIABLES
    from losstopo.io.topology_file import PAIR_VARIABLES as PAIRS
    from losstopo.topology.skeleton import node_persistence, tree_arcs

    node = {name: np.asarray(topology[name].values) for name in (*NODE_VARIABLES, *PAIRS)}
    vertex = node["node_vertex"].astype(np.int64)
    if vertex.size and not (vertex.min() >= 0 and vertex.max() < len(vertex_positions)):
        raise LosstopoError("the topology file's nodes lie outside the landscape's vertices")
    value = node["node_value"].astype(np.float64)
    parent = node["node_parent"].astype(np.int64)
    persistence = node_persistence(
        vertex,
        node["node_kind"],
        parent,
        value,
        node["min_vertex"].astype(np.int64),
        node["saddle_vertex"].astype(np.int64),
        node["birth"].astype(np.float64),
        node["death"].astype(np.float64),
    )
    arcs = tree_arcs(parent)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_value = np.where(np.isfinite(value) & (value > 0), np.log10(value), np.nan)
    arrays = {
        "node": np.arange(len(vertex), dtype=np.int64),
        "kind": node["node_kind"].astype(np.int8),
        "value": value,
        "log10_value": log_value,
        "persistence": persistence,
        "parent": parent,
        "vertex": vertex,
        "node_size": node["node_size"].astype(np.int64),
    }
    children = arcs[:, 0]
    arc_arrays = {
        "arc_size": node["arc_size"].astype(np.int64)[children],
        "arc_mean_loss": node["arc_mean_loss"].astype(np.float64)[children],
    }
    return vertex_positions[vertex], arcs, arrays, arc_arrays
