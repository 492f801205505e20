"""``losstopo export`` of scattered landscapes: points, their k-NN graph as line cells and the
merge tree's skeleton, read back with meshio.

The graph's oracle is a brute-force k-NN (all pairwise distances, ties to the smaller index)
written here in numpy; the tree's persistence is checked against gudhi on the exported graph.
"""

from __future__ import annotations

from pathlib import Path

import gudhi
import meshio
import numpy as np
import pytest
import xarray as xr

from losstopo.cli import main
from losstopo.errors import LosstopoError
from losstopo.export import GraphChoice, export_landscape
from losstopo.io.landscape_file import scattered_landscape_dataset, with_taylor, write_landscape
from losstopo.landscape.scattered import ScatteredResult
from losstopo.landscape.taylor import TaylorTerms

DIMS = 5
HESSIAN = np.diag([40.0, 9.0, 1.0, 0.25, 0.04]) + 0.5 * (np.eye(DIMS, k=1) + np.eye(DIMS, k=-1))


def scattered_landscape(path: Path, n: int = 150, coords: np.ndarray | None = None) -> Path:
    """A 5-D loss with two wells at n uniform points of [−1, 1]⁵ (point 0 the centre), with
    its Taylor model."""
    rng = np.random.default_rng(8)
    points = rng.uniform(-1, 1, size=(n, DIMS)) if coords is None else coords
    points[0] = 0.0
    wells = np.exp(-np.sum((points - 0.5) ** 2, axis=1)) + 0.7 * np.exp(
        -np.sum((points + 0.4) ** 2, axis=1) / 0.5
    )
    loss = 1.5 + 0.5 * np.einsum("ni,ij,nj->n", points, HESSIAN, points) / 40 - wells
    result = ScatteredResult(
        loss=loss,
        points=points,
        chunk_size=1,
        seconds=0.0,
        sampling="uniform",
        seed=8,
        distance=1.0,
        metric=np.cos(loss),
        metric_name="accuracy",
    )
    dataset = scattered_landscape_dataset(result, np.ones(DIMS), np.eye(DIMS), {})
    terms = TaylorTerms(float(loss[0]), np.zeros(DIMS), HESSIAN, 0.0, DIMS, "test", "float64")
    write_landscape(with_taylor(dataset, terms), path)
    return path


def brute_force_edges(coordinates: np.ndarray, k: int, symmetrize: str) -> set[tuple[int, int]]:
    """Edges (i < j) of the k-NN graph: every distance, ties going to the smaller index."""
    n = len(coordinates)
    distances = np.linalg.norm(coordinates[:, None, :] - coordinates[None, :, :], axis=2)
    chosen = np.zeros((n, n), dtype=bool)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        ranked = sorted(others, key=lambda j: (distances[i, j], j))
        chosen[i, ranked[:k]] = True
    both = chosen & chosen.T if symmetrize == "mutual" else chosen | chosen.T
    return {(int(i), int(j)) for i, j in zip(*np.nonzero(both), strict=True) if i < j}


def whitened(points: np.ndarray, hessian: np.ndarray, floor: float = 1e-2) -> np.ndarray:
    """Coordinates in which ½ αᵀ|K|α = ½ |β|², eigenvalues raised to ``floor`` of the top."""
    values, vectors = np.linalg.eigh(hessian)
    scale = np.sqrt(np.maximum(np.abs(values), floor * np.abs(values).max()))
    return (points @ vectors) * scale


def line_edges(mesh: meshio.Mesh) -> set[tuple[int, int]]:
    (lines,) = [block.data for block in mesh.cells if block.type == "line"]
    return {(int(min(a, b)), int(max(a, b))) for a, b in lines}


def point_data(mesh: meshio.Mesh) -> dict[str, np.ndarray]:
    return {name: np.asarray(values).reshape(-1) for name, values in mesh.point_data.items()}


def test_points_arrays_and_the_topology_graph_are_exported(tmp_path):
    landscape = scattered_landscape(tmp_path / "landscape.nc")
    topology = tmp_path / "topology.nc"
    graph = ["--connectivity", "knn", "--k", "6", "--symmetrize", "mutual"]
    args = [str(landscape), *graph, "--knn-metric", "euclidean", "--out", str(topology)]
    assert main(["topology", *args]) == 0
    out = tmp_path / "samples"
    assert main(["export", str(landscape), "--topology", str(topology), "--out", str(out)]) == 0

    mesh = meshio.read(tmp_path / "samples.vtu")
    with xr.open_dataset(landscape) as ds, xr.open_dataset(topology) as topo:
        coords, loss = ds["coords"].values, ds["loss"].values
        metric = ds["metric"].values
        segmentation = topo["segmentation"].values
    np.testing.assert_array_equal(mesh.points, coords[:, :3])
    data = point_data(mesh)
    for i in range(DIMS):
        np.testing.assert_array_equal(data[f"a{i}"], coords[:, i])
    np.testing.assert_array_equal(data["loss"], loss)
    np.testing.assert_allclose(data["log10_loss"], np.log10(loss), rtol=1e-15)
    np.testing.assert_array_equal(data["metric"], metric)
    np.testing.assert_array_equal(data["segmentation"], segmentation)
    assert line_edges(mesh) == brute_force_edges(coords, 6, "mutual")
    assert len(mesh.cells[0].data) == len(line_edges(mesh))  # each edge once


def test_without_topology_the_graph_is_the_stage_default_or_the_one_asked_for(tmp_path):
    landscape = scattered_landscape(tmp_path / "landscape.nc", n=80)
    with xr.open_dataset(landscape) as ds:
        coords = ds["coords"].values
    export_landscape(landscape, tmp_path / "default")
    mesh = meshio.read(tmp_path / "default.vtu")
    # k = 4·5, union, in coordinates whitened by the Taylor Hessian
    assert line_edges(mesh) == brute_force_edges(whitened(coords, HESSIAN), 20, "union")
    assert sorted(point_data(mesh)) == [
        "a0",
        "a1",
        "a2",
        "a3",
        "a4",
        "log10_loss",
        "loss",
        "metric",
    ]

    export_landscape(landscape, tmp_path / "asked", graph=GraphChoice(4, "mutual", "euclidean"))
    mesh = meshio.read(tmp_path / "asked.vtu")
    assert line_edges(mesh) == brute_force_edges(coords, 4, "mutual")


def test_the_tree_skeleton_of_samples_has_gudhi_persistence_on_the_exported_graph(tmp_path):
    landscape = scattered_landscape(tmp_path / "landscape.nc")
    topology = tmp_path / "topology.nc"
    assert main(["topology", str(landscape), "--connectivity", "knn", "--out", str(topology)]) == 0
    export_landscape(landscape, tmp_path / "samples", topology)
    samples = meshio.read(tmp_path / "samples.vtu")
    tree = meshio.read(tmp_path / "samples_tree.vtu")
    with xr.open_dataset(landscape) as ds, xr.open_dataset(topology) as topo:
        coords, loss = ds["coords"].values, ds["loss"].values
        vertex = topo["node_vertex"].values
        assert topo.attrs["knn_metric"] == "curvature" and topo.attrs["symmetrize"] == "union"
    np.testing.assert_array_equal(tree.points, coords[vertex, :3])
    nodes = point_data(tree)
    np.testing.assert_array_equal(nodes["vertex"], vertex)
    np.testing.assert_array_equal(nodes["value"], loss[vertex])

    complex_ = gudhi.SimplexTree()
    for index, value in enumerate(loss):
        complex_.insert([index], filtration=float(value))
    for a, b in line_edges(samples):
        complex_.insert([a, b], filtration=float(max(loss[a], loss[b])))
    complex_.compute_persistence(persistence_dim_max=True)
    intervals = complex_.persistence_intervals_in_dimension(0)
    finite = sorted(float(d - b) for b, d in intervals if np.isfinite(d) and d > b)
    persistence = nodes["persistence"][nodes["kind"] == 0]
    essential = np.isclose(persistence, loss.max() - loss.min(), rtol=1e-12)
    assert np.count_nonzero(essential) == 1
    np.testing.assert_allclose(sorted(persistence[~essential]), finite, rtol=1e-12)


def test_graph_options_with_a_topology_and_non_finite_coordinates_are_refused(tmp_path):
    landscape = scattered_landscape(tmp_path / "landscape.nc", n=40)
    topology = tmp_path / "topology.nc"
    assert main(["topology", str(landscape), "--connectivity", "knn", "--out", str(topology)]) == 0
    with pytest.raises(LosstopoError, match="only without --topology"):
        export_landscape(landscape, tmp_path / "x", topology, GraphChoice(k=3))
    coords = np.random.default_rng(1).uniform(-1, 1, size=(40, DIMS))
    coords[5, 2] = np.nan
    broken = scattered_landscape(tmp_path / "broken.nc", coords=coords)
    with pytest.raises(LosstopoError, match=r"broken\.nc has non-finite coordinates"):
        export_landscape(broken, tmp_path / "x")
    assert not list(tmp_path.glob("x*"))
