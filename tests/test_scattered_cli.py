"""Scattered landscapes through the stages and the command line: `losstopo landscape
--sampling`, the k-NN topology of its samples, the table and the profile panel,
each checked against direct evaluation or an independent computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from losstopo.cli import main
from losstopo.errors import LosstopoError


@pytest.fixture(scope="module")
def run(tmp_path_factory, small_pinn_with_hessian):
    return small_pinn_with_hessian(tmp_path_factory.mktemp("scattered"), 0, 30, top_k=5)


def _landscape(run, out, *extra):
    argv = ["landscape", str(run / "model.pt"), "--directions", str(run / "hessian.nc")]
    return main([*argv, "--dims", "5", "--distance", "0.1", *extra, "--out", str(out)])


def test_the_cli_samples_the_cube_and_every_loss_is_the_objective_there(run, tmp_path):
    from losstopo.io.hessian_file import read_hessian
    from losstopo.landscape.directions import hessian_directions
    from losstopo.landscape.scattered import scattered_points
    from losstopo.problems.loading import load_objective

    out = tmp_path / "landscape_5d.nc"
    extra = ["--sampling", "sobol", "--n-points", "65", "--seed", "3", "--center-points", "8"]
    assert _landscape(run, out, *extra) == 0
    data = xr.open_dataset(out).load()
    assert data.attrs["layout"] == "scattered" and data.attrs["sampling"] == "sobol"
    assert data.attrs["n_points"] == 73 and data.attrs["seed"] == 3 and data.attrs["dims"] == 5
    assert data.attrs["center_points"] == 8 and data.attrs["center_scale"] == 0.1
    text = "65 sobol points of [-0.1, 0.1]^5 and 8 of [-0.01, 0.01]^5"
    assert text in data.attrs["description"]
    coords = data["coords"].values
    expected = scattered_points(5, 65, 0.1, sampling="sobol", seed=3, center_points=8)
    np.testing.assert_array_equal(coords, expected)
    objective = load_objective(run / "model.pt", torch.device("cpu"), torch.float32)
    directions, _ = hessian_directions(read_hessian(run / "hessian.nc"), objective, 5, "layer")
    theta = objective.theta()
    for i in (0, 1, 17, 64, 70):  # direct per-point evaluation at θ + Σ αᵢ dᵢ
        point = theta + torch.as_tensor(coords[i], dtype=theta.dtype) @ directions
        with torch.no_grad():
            direct = float(objective.loss_fn(objective.unflatten(point)))
        assert data["loss"].values[i] == pytest.approx(direct, rel=1e-5)
    assert data["loss"].values[0] == pytest.approx(data.attrs["center_loss"], rel=1e-6)


def test_scattered_requests_are_checked_before_any_work(run, tmp_path, capsys):
    out = tmp_path / "x.nc"
    assert _landscape(run, out, "--sampling", "random") == 2
    assert "--n-points is required for --sampling random" in capsys.readouterr().err
    assert _landscape(run, out) == 2
    assert "--resolution is required for --sampling grid" in capsys.readouterr().err
    extra = ["--sampling", "sobol", "--n-points", "9", "--tiles", "2"]
    assert _landscape(run, out, *extra) == 2
    assert "tiles split a grid" in capsys.readouterr().err
    assert not out.exists()


def _gudhi_pairs(points, values, metric, k, symmetrize):
    """0-dim persistence pairs by gudhi on a k-NN graph built by brute force, with distances
    in the quadratic form ``metric`` (d² = (a − b)ᵀ M (a − b))."""
    import gudhi

    diff = points[:, None] - points[None]
    distance = np.einsum("ijk,kl,ijl->ij", diff, metric, diff)
    np.fill_diagonal(distance, np.inf)
    order = np.lexsort((np.broadcast_to(np.arange(len(points)), distance.shape), distance))
    near = [set(row[:k]) for row in order]
    simplices = gudhi.SimplexTree()
    for i, value in enumerate(values):
        simplices.insert([i], filtration=value)
    for i in range(len(points)):
        for j in near[i]:
            joined = i in near[j] if symmetrize == "mutual" else True
            if joined:
                simplices.insert([i, j], filtration=max(values[i], values[j]))
    pairs = simplices.persistence(persistence_dim_max=True)
    return sorted((b, d) for dim, (b, d) in pairs if dim == 0 and np.isfinite(d) and d > b)


def _tree_pairs(tree):
    birth, death = tree["birth"].values, tree["death"].values
    return sorted((b, d) for b, d in zip(birth, death, strict=True) if d > b)


def test_topology_table_and_profile_of_a_scattered_landscape(run, tmp_path, capsys):
    from losstopo.io.panels import Panel, read_panel
    from losstopo.plots.profile_grid import profile_grid

    landscape = tmp_path / "landscape_5d.nc"
    assert _landscape(run, landscape, "--sampling", "random", "--n-points", "200") == 0
    topology = tmp_path / "topology_5d.nc"
    assert main(["topology", str(landscape), "--out", str(topology)]) == 2
    assert "scattered landscape: it has no grid for --connectivity full" in capsys.readouterr().err
    paper = ["--knn-metric", "euclidean", "--symmetrize", "mutual"]
    argv = ["topology", str(landscape), "--connectivity", "knn", *paper, "--out", str(topology)]
    assert main(argv) == 0
    tree = xr.open_dataset(topology).load()
    assert tree.attrs["landscape_layout"] == "scattered" and tree.attrs["k"] == 20
    assert tree.attrs["knn_metric"] == "euclidean" and tree.attrs["symmetrize"] == "mutual"
    assert list(tree["segmentation"].dims) == ["point"]

    # oracle: gudhi's 0-dim persistence on the same mutual 20-NN graph, built by brute force
    data = xr.open_dataset(landscape).load()
    points, values = data["coords"].values, data["loss"].values
    expected = _gudhi_pairs(points, values, np.eye(5), 20, "mutual")
    np.testing.assert_allclose(_tree_pairs(tree), expected)

    # the default graph: union 20-NN in the metric of |K| (eigenvalues floored at 1 % of
    # the largest), K the landscape's own Taylor Hessian
    default = tmp_path / "topology_5d_default.nc"
    argv = ["topology", str(landscape), "--connectivity", "knn", "--out", str(default)]
    assert main(argv) == 0
    whitened = xr.open_dataset(default).load()
    assert whitened.attrs["knn_metric"] == "curvature" and whitened.attrs["symmetrize"] == "union"
    eigenvalues, vectors = np.linalg.eig(data["taylor_hessian"].values)
    magnitude = np.abs(eigenvalues.real)
    metric = (vectors.real * np.maximum(magnitude, 0.01 * magnitude.max())) @ vectors.real.T
    expected = _gudhi_pairs(points, values, metric, 20, "union")
    np.testing.assert_allclose(_tree_pairs(whitened), expected)

    csv = tmp_path / "t.csv"
    assert main(["topology-table", str(topology), "--out", str(csv)]) == 0
    row = pd.read_csv(csv).iloc[0]
    assert row.sampling == "random" and row.dims == 5 and row.n_vertices == 200
    assert row.connectivity == "knn"

    fig = profile_grid([read_panel(Panel.parse(str(topology)))], 1)
    (ax,) = [a for a in fig.axes if a.get_xlabel()]
    assert ax.get_xlabel() == "fraction of samples"
    assert "5-D, extent ±0.1, 200 random samples, knn" in ax.get_title()
    texts = [t.get_text() for t in ax.texts]
    assert any("of samples" in t for t in texts)


def test_topology_vs_metric_keeps_the_scattered_rows_beside_one_grid_connectivity():
    from losstopo.plots.topology_vs_metric import select_connectivity

    table = pd.DataFrame(
        {
            "connectivity": ["full", "knn", "knn"],
            "sampling": ["grid", "grid", "sobol"],
            "dims": [3, 3, 6],
        }
    )
    chosen, name = select_connectivity(table, "full")
    assert name == "full" and chosen.dims.tolist() == [3, 6]
    chosen, _ = select_connectivity(table, "knn")
    assert chosen.dims.tolist() == [3, 6]


def losstopo_whitening(hessian: np.ndarray) -> np.ndarray:
    """W with WᵀW = |K|, eigenvalues floored at 1 % of the largest (by scipy, independently)."""
    from scipy.linalg import eigh

    values, vectors = eigh(hessian)
    magnitude = np.abs(values)
    return (vectors * np.sqrt(np.maximum(magnitude, 0.01 * magnitude.max()))).T


def test_the_api_and_the_dataset_merge_tree_of_scattered_samples(run):
    import losstopo
    from losstopo.problems.loading import load_objective
    from losstopo.topology.mergetree import merge_tree_on_points

    objective = load_objective(run / "model.pt", torch.device("cpu"), torch.float32)
    directions = losstopo.random_directions(objective, 6, seed=1)
    data = losstopo.sample_scattered_landscape(
        objective, directions, n_points=129, distance=0.2, seed=4
    )
    assert data["loss"].shape == (129,) and data.attrs["dims"] == 6
    tree = losstopo.merge_tree(data, "knn", knn_metric="euclidean", symmetrize="mutual")
    direct = merge_tree_on_points(data["loss"].values, data["coords"].values)
    np.testing.assert_array_equal(tree.birth, direct.birth)
    np.testing.assert_array_equal(tree.death, direct.death)
    assert tree.center == 0
    # by default: the union graph of the samples whitened by the landscape's Taylor Hessian
    whitened = data["coords"].values @ losstopo_whitening(data["taylor_hessian"].values).T
    direct = merge_tree_on_points(data["loss"].values, whitened, symmetrize="union")
    tree = losstopo.merge_tree(data, "knn")
    np.testing.assert_array_equal(tree.birth, direct.birth)
    np.testing.assert_array_equal(tree.death, direct.death)
    with pytest.raises(LosstopoError, match="no grid for connectivity 'full'"):
        losstopo.merge_tree(data, "full")
