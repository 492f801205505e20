"""Scattered landscapes beyond four dimensions: sampling, evaluation at explicit points, exact
k-NN graphs and their merge trees, against independent oracles (gudhi persistence on the
same graph, brute-force all-pairs neighbours, direct evaluation of the objective)."""

from __future__ import annotations

import gudhi
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch.func import functional_call

from losstopo.errors import LosstopoError
from losstopo.landscape.directions import normalize_direction
from losstopo.landscape.evaluation import LandscapeEvaluator, evaluate_alphas
from losstopo.landscape.scattered import (
    ScatteredDesign,
    ScatteredResult,
    sample_scattered,
    scattered_points,
    sobol_balanced,
)
from losstopo.objective import Objective
from losstopo.topology.descriptors import shape_descriptors, trained_basin
from losstopo.topology.mergetree import merge_tree, merge_tree_on_graph, merge_tree_on_points
from losstopo.topology.neighbors import knn_graph
from losstopo.topology.profile import landscape_profile
from losstopo.topology.simplify import simplify
from losstopo.topology.summary import summarize

F64 = torch.float64


# ---------------------------------------------------------------------------- oracles


def brute_knn_edges(points: np.ndarray, k: int, symmetrize: str) -> set[tuple[int, int]]:
    """Undirected k-NN edges from all-pairs distances, ordered by (distance, index)."""
    points = np.asarray(points, dtype=np.float64)
    n = len(points)
    distances = np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=-1))
    np.fill_diagonal(distances, np.inf)
    nearest = [set(np.lexsort((np.arange(n), distances[i]))[:k].tolist()) for i in range(n)]
    edges = set()
    for i in range(n):
        for j in nearest[i]:
            if symmetrize == "union" or i in nearest[j]:
                edges.add((min(i, j), max(i, j)))
    return edges


def graph_edges(indptr: np.ndarray, indices: np.ndarray) -> set[tuple[int, int]]:
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    return {(int(u), int(v)) for u, v in zip(rows, indices, strict=True) if u < v}


def gudhi_diagram(values: np.ndarray, edges: set[tuple[int, int]]):
    """0-dim sub-level-set persistence of the graph: vertices at their value, edges at the
    larger end value. Returns the finite pairs with death > birth and the essential births."""
    simplices = gudhi.SimplexTree()
    for v, x in enumerate(values):
        simplices.insert([v], filtration=float(x))
    for u, v in edges:
        simplices.insert([u, v], filtration=float(max(values[u], values[v])))
    simplices.compute_persistence(min_persistence=-1.0, persistence_dim_max=True)
    intervals = simplices.persistence_intervals_in_dimension(0).reshape(-1, 2)
    finite = sorted((float(b), float(d)) for b, d in intervals if np.isfinite(d) and d > b)
    essential = sorted(float(b) for b, d in intervals if np.isinf(d))
    return finite, essential


def tree_diagram(tree):
    keep = tree.death > tree.birth
    finite = sorted(zip(tree.birth[keep].tolist(), tree.death[keep].tolist(), strict=True))
    roots_min = []
    # the essential minimum of each component: the lowest vertex of each root's subtree
    children = tree.children()
    for root in np.flatnonzero(tree.node_parent < 0):
        stack, lowest = [int(root)], np.inf
        while stack:
            node = stack.pop()
            lowest = min(lowest, float(tree.node_value[node]))
            stack.extend(children[node])
        roots_min.append(lowest)
    return finite, sorted(roots_min)


def check_against_gudhi(values: np.ndarray, points: np.ndarray, k: int, symmetrize: str):
    tree = merge_tree_on_points(values, points, k, symmetrize)
    edges = brute_knn_edges(points, k, symmetrize)
    assert graph_edges(*knn_graph(points, k, symmetrize)) == edges
    finite, essential = gudhi_diagram(values, edges)
    assert tree_diagram(tree) == (finite, essential)
    assert tree.n_components == len(essential)
    assert tree.shape == (len(values),) and tree.k == k and tree.symmetrize == symmetrize
    return tree


# ------------------------------------------------------------------ k-NN merge trees


@pytest.mark.parametrize("symmetrize", ["mutual", "union"])
@pytest.mark.parametrize(("n", "dims"), [(800, 5), (500, 8), (400, 10)])
@pytest.mark.parametrize("field", ["smooth", "noise"])
def test_knn_merge_tree_equals_gudhi_on_random_points(symmetrize, n, dims, field):
    rng = np.random.default_rng(n + dims)
    points = rng.uniform(-1, 1, size=(n, dims))
    if field == "smooth":
        values = np.sin(4 * points).sum(axis=1) + 0.05 * rng.standard_normal(n)
    else:
        values = rng.random(n)
    tree = check_against_gudhi(values, points, 4 * dims, symmetrize)
    assert tree.n_minima >= 2 and len(tree.pair_min) >= 1  # a non-trivial tree


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    dims=st.integers(2, 6),
    n=st.integers(6, 40),
    symmetrize=st.sampled_from(["mutual", "union"]),
)
def test_knn_merge_tree_equals_gudhi_with_ties(data, dims, n, symmetrize):
    # small integer coordinates: many equidistant neighbours and duplicate points;
    # few distinct values: many equal losses
    points = data.draw(hnp.arrays(np.int64, (n, dims), elements=st.integers(0, 2)))
    values = data.draw(hnp.arrays(np.int64, n, elements=st.integers(0, 3))).astype(float)
    k = data.draw(st.integers(1, min(n - 1, 4 * dims)))
    check_against_gudhi(values, points.astype(float), k, symmetrize)


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    dims=st.integers(1, 7),
    n=st.integers(3, 50),
    symmetrize=st.sampled_from(["mutual", "union"]),
)
def test_knn_graph_equals_brute_force(data, dims, n, symmetrize):
    integer = data.draw(st.booleans())
    if integer:
        points = data.draw(hnp.arrays(np.int64, (n, dims), elements=st.integers(-2, 2)))
    else:
        points = data.draw(
            hnp.arrays(np.float64, (n, dims), elements=st.floats(-1, 1, allow_nan=False))
        )
    points = points.astype(float)
    k = data.draw(st.integers(1, n - 1))
    expected = brute_knn_edges(points, k, symmetrize)
    assert graph_edges(*knn_graph(points, k, symmetrize)) == expected
    # neither the first query's size nor the number of workers changes the graph
    short = knn_graph(points, k, symmetrize, query_size=k + 2, workers=2)
    assert graph_edges(*short) == expected


def test_knn_default_k_is_four_times_the_dimension():
    rng = np.random.default_rng(3)
    points = rng.uniform(-1, 1, size=(200, 6))
    values = rng.random(200)
    tree = merge_tree_on_points(values, points)
    assert tree.k == 24
    assert graph_edges(*knn_graph(points)) == brute_knn_edges(points, 24, "mutual")
    # the grid entry point builds the same tree from the same points
    same = merge_tree(values, connectivity="knn", points=points)
    assert same.k == 24
    for field in ("node_vertex", "node_kind", "node_parent", "pair_min", "pair_saddle"):
        assert np.array_equal(getattr(tree, field), getattr(same, field)), field


def test_nonfinite_values_make_no_basin():
    rng = np.random.default_rng(8)
    points = rng.uniform(-1, 1, size=(300, 5))
    values = (points**2).sum(axis=1)
    values[values > 2.0] = np.nan
    values[:3] = [0.0, np.inf, -np.inf]
    tree = merge_tree_on_points(values, points)
    assert np.all(np.isfinite(tree.birth))
    edges = brute_knn_edges(points, 20, "mutual")
    finite, _ = gudhi_diagram(np.where(np.isfinite(values), values, np.inf), edges)
    # pairs that die at a finite saddle (gudhi reports those dying at +inf as essential)
    assert [p for p in tree_diagram(tree)[0] if np.isfinite(p[1])] == finite


def test_merge_tree_on_points_errors():
    points = np.zeros((5, 3))
    with pytest.raises(LosstopoError, match="values"):
        merge_tree_on_points(np.zeros((5, 1)), points)
    with pytest.raises(LosstopoError, match="points"):
        merge_tree_on_points(np.zeros(4), points)
    with pytest.raises(LosstopoError, match="k must"):
        merge_tree_on_points(np.zeros(5), points, k=5)
    with pytest.raises(LosstopoError, match="symmetrization"):
        merge_tree_on_points(np.zeros(5), points, k=2, symmetrize="both")
    with pytest.raises(LosstopoError, match="center"):
        merge_tree_on_points(np.zeros(5), points, k=2, center=5)
    with pytest.raises(LosstopoError, match="CSR"):
        merge_tree_on_graph(np.zeros(3), (np.array([0, 1]), np.array([1])))
    with pytest.raises(LosstopoError, match="outside"):
        merge_tree_on_graph(np.zeros(2), (np.array([0, 1, 2]), np.array([1, 2])))


# ------------------------------------------- summaries, descriptors and profile on points


def test_summaries_descriptors_and_profile_use_the_centre_point():
    rng = np.random.default_rng(11)
    points = scattered_points(5, 513, 1.0, seed=4)
    # θ's basin around the origin, a deeper one elsewhere, noise
    values = (
        np.log1p(((points - 0.0) ** 2).sum(axis=1))
        - 1.5 * np.exp(-8 * ((points - 0.6) ** 2).sum(axis=1))
        + 0.02 * rng.random(len(points))
        + 1.0
    )
    tree = merge_tree_on_points(values, points)
    assert tree.center == 0
    basin = trained_basin(tree)
    assert basin.center_vertex == 0 and basin.center_loss == values[0]
    assert 0 < basin.fraction <= 1
    descriptors = shape_descriptors(tree, 0.1)
    assert descriptors["center_loss"] == values[0]
    summary = summarize(tree, 0.01 * float(np.ptp(values)))
    assert summary["n_minima"] == tree.n_minima >= summary["n_minima_above"] >= 1
    simplified = simplify(tree, 0.05)
    assert simplified.center == 0 and simplified.shape == (513,)
    assert int(simplified.arc_size.sum()) == 513
    profile = landscape_profile(tree)
    assert profile.basin is not None and profile.basin.center_vertex == 0
    assert profile.width == 513
    assert profile.center_loss == values[0]


# --------------------------------------------------------------------------- sampling


@settings(max_examples=40, deadline=None)
@given(
    dims=st.integers(1, 10),
    n_points=st.integers(2, 300),
    distance=st.floats(1e-4, 1e3, allow_nan=False),
    sampling=st.sampled_from(["sobol", "random"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_points_lie_in_the_cube_with_the_centre_first(dims, n_points, distance, sampling, seed):
    points = scattered_points(dims, n_points, distance, sampling=sampling, seed=seed)
    assert points.shape == (n_points, dims) and points.dtype == np.float64
    assert np.all(points[0] == 0.0)
    assert np.all(np.abs(points) <= distance)
    np.testing.assert_array_equal(
        points, scattered_points(dims, n_points, distance, sampling=sampling, seed=seed)
    )


@pytest.mark.parametrize("sampling", ["sobol", "random"])
def test_sampling_is_reproducible_and_depends_on_the_seed(sampling):
    a = scattered_points(7, 1025, 0.1, sampling=sampling, seed=1)
    b = scattered_points(7, 1025, 0.1, sampling=sampling, seed=1)
    c = scattered_points(7, 1025, 0.1, sampling=sampling, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.any(np.all(a[1:] == c[1:], axis=1))  # no sample shared
    assert np.all(c[0] == 0.0)
    # every coordinate spreads over the whole side of the cube
    assert np.all(a[1:].min(axis=0) < -0.09) and np.all(a[1:].max(axis=0) > 0.09)


def test_sobol_and_random_samples_differ():
    sobol = scattered_points(6, 257, 1.0, sampling="sobol", seed=0)
    uniform = scattered_points(6, 257, 1.0, sampling="random", seed=0)
    assert not np.array_equal(sobol[1:], uniform[1:])


@pytest.mark.parametrize("dims", [5, 10])
def test_sobol_samples_after_the_centre_are_a_balanced_net(dims):
    # the first 2^m scrambled Sobol points put exactly one point in each of the 2^m equal
    # intervals of every coordinate (a (t, m, s)-net property); uniform samples do not
    m = 64
    assert sobol_balanced(m + 1) and not sobol_balanced(m) and not sobol_balanced(1)
    points = scattered_points(dims, m + 1, 1.0, sampling="sobol", seed=5)
    cells = np.floor((points[1:] + 1.0) / 2.0 * m).astype(int)
    for d in range(dims):
        assert sorted(cells[:, d].tolist()) == list(range(m))
    uniform = scattered_points(dims, m + 1, 1.0, sampling="random", seed=5)
    cells = np.floor((uniform[1:] + 1.0) / 2.0 * m).astype(int)
    assert any(len(set(cells[:, d].tolist())) < m for d in range(dims))


@pytest.mark.parametrize(
    ("args", "kwargs", "needle"),
    [
        ((0, 10, 1.0), {}, "dims"),
        ((5, 1, 1.0), {}, "n_points"),
        ((5, 10, 0.0), {}, "distance"),
        ((5, 10, float("nan")), {}, "distance"),
        ((5, 10, 1.0), {"sampling": "grid"}, "sampling"),
        ((5, 10, 1.0), {"seed": -1}, "seed"),
    ],
)
def test_bad_sampling_arguments_are_rejected(args, kwargs, needle):
    with pytest.raises(LosstopoError, match=needle):
        scattered_points(*args, **{"seed": 0, **kwargs})


# ------------------------------------------------------------------------- evaluation


def small_pinn() -> Objective:
    from losstopo.problems.convection.mlp import MLP
    from losstopo.problems.convection.physics import loss_terms, make_data

    torch.manual_seed(0)
    model = MLP(2, [8, 8], 1).to(F64)
    data = make_data(2.0, n_f=30, dtype=F64)
    params = {k: v.detach().clone() for k, v in model.named_parameters()}

    def loss_fn(p):
        return loss_terms(lambda xt: functional_call(model, p, (xt,)), data)["loss"]

    return Objective(model, params, loss_fn, "small PINN")


def layer_directions(objective: Objective, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n):
        raw = torch.randn(objective.n_parameters, generator=g, dtype=F64)
        scaled = normalize_direction(objective.unflatten(raw), objective.params, "layer")
        rows.append(objective.flatten(scaled))
    return torch.stack(rows)


def test_centre_point_is_the_loss_at_theta_and_points_match_direct_evaluation():
    objective = small_pinn()
    directions = layer_directions(objective, 6)
    design = ScatteredDesign(40, 0.05, seed=3)
    result = sample_scattered(objective, directions, design, chunk_size=7, show_progress=False)
    assert isinstance(result, ScatteredResult)
    assert result.loss.shape == (40,) and result.points.shape == (40, 6)
    assert result.dims == 6 and result.n_points == 40 and result.chunk_size == 7
    np.testing.assert_array_equal(
        result.points, scattered_points(6, 40, 0.05, sampling="sobol", seed=3)
    )
    with torch.no_grad():
        at_theta = float(objective())
    assert result.loss[0] == pytest.approx(at_theta, rel=1e-15)
    # every point against one direct objective call at θ + Σ αᵢ dᵢ
    with torch.no_grad():
        for alpha, loss in zip(result.points[:12], result.loss[:12], strict=True):
            point = objective.theta() + torch.as_tensor(alpha) @ directions
            assert loss == pytest.approx(float(objective(objective.unflatten(point))), rel=1e-13)
    evaluator = LandscapeEvaluator(objective, directions)
    np.testing.assert_allclose(result.loss, evaluator.per_point(result.points), rtol=1e-13)
    assert result.loss[1:].std() > 0  # the points are distinct parameters


def test_explicit_alphas_on_a_quadratic_are_the_quadratic():
    n = 7
    rng = np.random.default_rng(2)
    a = rng.standard_normal((n, n))
    a = torch.as_tensor(a @ a.T)
    theta = torch.as_tensor(rng.standard_normal(n))
    objective = Objective(
        torch.nn.Linear(n, 1, bias=False).double(),
        {"weight": theta[None, :].clone()},
        lambda p: 0.5 * p["weight"][0] @ a @ p["weight"][0],
        "quadratic",
    )
    d = torch.as_tensor(rng.standard_normal((5, n)))
    alphas = scattered_points(5, 33, 0.5, sampling="random", seed=9)
    values, metric, chunk, _ = evaluate_alphas(objective, d, alphas, chunk_size=4)
    assert metric is None and chunk == 4
    p = theta + torch.as_tensor(alphas) @ d
    expected = 0.5 * torch.einsum("mi,ij,mj->m", p, a, p)
    np.testing.assert_allclose(values, expected.numpy(), rtol=1e-12)
    with pytest.raises(LosstopoError, match="shape"):
        evaluate_alphas(objective, d, alphas[:, :4])


def test_scattered_metric_is_evaluated_and_written(tmp_path):
    from losstopo.io.landscape_file import (
        read_landscape_arrays,
        scattered_landscape_dataset,
        write_landscape,
    )

    def loss(p):
        return (p["weight"] ** 2).sum()

    objective = Objective(
        torch.nn.Linear(3, 1, bias=False).double(),
        {"weight": torch.tensor([[1.0, -2.0, 0.5]], dtype=F64)},
        loss,
        "squares",
        evaluate_fn=lambda p: (loss(p), p["weight"].abs().max()),
        metric_name="max_abs_weight",
    )
    d = torch.eye(3, dtype=F64)
    design = ScatteredDesign(17, 0.5, sampling="random", seed=1)
    result = sample_scattered(objective, d, design, chunk_size=5, show_progress=False)
    theta = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(result.loss, ((theta + result.points) ** 2).sum(axis=1))
    np.testing.assert_allclose(result.metric, np.abs(theta + result.points).max(axis=1))
    assert result.metric_name == "max_abs_weight"
    ds = scattered_landscape_dataset(result, np.ones(3), np.eye(3), {})
    write_landscape(ds, tmp_path / "l.nc")
    assert ds["metric"].dims == ("point",)
    assert "metric" not in read_landscape_arrays(tmp_path / "l.nc")  # the topology stage's read


# ----------------------------------------------------------------- landscape.nc layout


def test_scattered_landscape_file_round_trip(tmp_path):
    from losstopo.io.landscape_file import (
        is_scattered,
        landscape_dataset,
        landscape_points,
        read_landscape_arrays,
        read_scattered_landscape,
        scattered_landscape_dataset,
        write_landscape,
    )
    from losstopo.io.topology_file import topology_dataset, tree_from_files, write_topology
    from losstopo.landscape.grid import LandscapeResult, grid_axes

    points = scattered_points(6, 65, 0.2, sampling="sobol", seed=7)
    loss = np.cos(5 * points).sum(axis=1)
    loss[5], loss[9] = np.nan, np.inf
    result = ScatteredResult(loss, points, 16, 0.25, "sobol", 7, 0.2)
    gram = np.eye(6)
    ds = scattered_landscape_dataset(result, np.arange(6.0), gram, {"center_loss": loss[0]})
    path = tmp_path / "landscape.nc"
    write_landscape(ds, path)

    back = read_scattered_landscape(path)
    assert back["loss"].dims == ("point",) and back["coords"].dims == ("point", "dim")
    np.testing.assert_array_equal(back["loss"].values, loss)
    np.testing.assert_array_equal(back["coords"].values, points)
    for key, value in {
        "layout": "scattered",
        "sampling": "sobol",
        "n_points": 65,
        "seed": 7,
        "distance": 0.2,
        "dims": 6,
        "center_point": 0,
        "n_nonfinite": 2,
    }.items():
        assert back.attrs[key] == value, key

    arrays = read_landscape_arrays(path)  # netCDF4 only
    assert is_scattered(arrays) and arrays.dims("loss") == ("point",)
    np.testing.assert_array_equal(arrays["loss"], loss)
    np.testing.assert_array_equal(landscape_points(arrays), points)
    assert arrays.attrs["sampling"] == "sobol" and int(arrays.attrs["seed"]) == 7

    # the merge tree from the file, its topology.nc and the tree rebuilt from both files
    tree = merge_tree_on_points(arrays["loss"], landscape_points(arrays))
    out = tmp_path / "topology.nc"
    write_topology(topology_dataset(tree, ["point"], {}, {"n_components": 1}), out)
    rebuilt = tree_from_files(out, path)
    assert rebuilt.center == 0 and rebuilt.shape == (65,)
    assert np.array_equal(rebuilt.segmentation, tree.segmentation)

    # a grid file keeps its layout and reads as before
    axes = grid_axes(2, 5, 0.2)
    grid = landscape_dataset(
        LandscapeResult(np.arange(25.0).reshape(5, 5), axes, 5, 0.1), np.ones(2), np.eye(2), {}
    )
    write_landscape(grid, tmp_path / "grid.nc")
    grid_arrays = read_landscape_arrays(tmp_path / "grid.nc")
    assert not is_scattered(grid_arrays) and landscape_points(grid_arrays) is None
    assert grid_arrays.dims("loss") == ("a0", "a1") and "coords" not in grid_arrays
    np.testing.assert_array_equal(grid_arrays["a1"], axes[1])
    with pytest.raises(LosstopoError, match="grid"):
        read_scattered_landscape(tmp_path / "grid.nc")


def test_scattered_landscape_contract_is_checked(tmp_path):
    from losstopo.io.landscape_file import (
        read_landscape,
        read_landscape_arrays,
        scattered_landscape_dataset,
        write_landscape,
    )

    points = scattered_points(5, 9, 1.0, seed=0)
    shifted = ScatteredResult(np.zeros(9), points + 0.5, 9, 0.1, "sobol", 0, 1.0)
    with pytest.raises(LosstopoError, match="centre"):
        scattered_landscape_dataset(shifted, np.ones(5), np.eye(5), {})
    ds = scattered_landscape_dataset(
        ScatteredResult(np.zeros(9), points, 9, 0.1, "sobol", 0, 1.0), np.ones(5), np.eye(5), {}
    )
    write_landscape(ds.drop_vars("coords"), tmp_path / "broken.nc")
    with pytest.raises(LosstopoError, match="coords"):
        read_landscape_arrays(tmp_path / "broken.nc")
    with pytest.raises(LosstopoError, match="coords"):
        read_landscape(tmp_path / "broken.nc")
