"""Shape descriptors, non-finite landscapes and k-NN on grids, against independent oracles
(brute-force components with scipy.ndimage, gudhi persistence, brute-force neighbours)."""

from __future__ import annotations

import itertools

import gudhi
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import ndimage

from losstopo.topology.descriptors import (
    center_vertex,
    log_persistence,
    shape_descriptors,
    trained_basin,
)
from losstopo.topology.mergetree import MINIMUM, ROOT, SADDLE, merge_tree
from losstopo.topology.neighbors import knn_graph
from losstopo.topology.simplify import simplify
from losstopo.topology.summary import summarize

FULL_2D = np.ones((3, 3), dtype=bool)  # ndimage structure of the `full` connectivity


def _grid(n: int = 41) -> tuple[np.ndarray, np.ndarray]:
    x = np.linspace(-1.0, 1.0, n)
    return np.meshgrid(x, x, indexing="ij")


def gudhi_pairs(values: np.ndarray) -> list[tuple[float, float]]:
    """Finite 0-dim pairs with death > birth of the `full` connectivity, from gudhi."""
    cubical = gudhi.CubicalComplex(top_dimensional_cells=values)
    cubical.compute_persistence()
    pairs = cubical.persistence_intervals_in_dimension(0)
    return sorted((b, d) for b, d in pairs if np.isfinite(d) and d > b)


# ----------------------------------------------------------------- non-finite values


def test_nonfinite_corner_makes_no_fake_basin():
    x, y = np.meshgrid(np.arange(9) - 4, np.arange(9) - 4, indexing="ij")
    bowl = (x**2 + y**2).astype(float)
    bowl[:3, :3] = np.nan
    tree = merge_tree(bowl)
    assert sorted(tree.node_kind.tolist()) == [MINIMUM, ROOT]
    assert tree.n_minima == 1 and tree.n_saddles == 0
    assert not np.isnan(tree.persistence).any()
    summary = summarize(tree, 0.01 * 32)
    assert summary["n_minima_above"] == 1 and summary["n_saddles_above"] == 0
    assert int(tree.arc_size.sum()) == 81
    # the same tree as the bowl's, with the NaN vertices in the one basin's arc
    assert tree.node_vertex[tree.node_kind == MINIMUM].tolist() == [40]
    assert simplify(tree, 1.0).n_minima == 1


@settings(max_examples=60, deadline=None)
@given(
    values=hnp.arrays(np.float64, (7, 8), elements=st.integers(0, 6).map(float)),
    mask=hnp.arrays(np.bool_, (7, 8)),
)
def test_nonfinite_regions_match_gudhi_and_keep_counts_consistent(values, mask):
    values = values.copy()
    values[mask] = np.nan
    if np.isnan(values).all():
        return
    tree = merge_tree(values)
    persistence = tree.persistence
    assert not np.isnan(persistence).any()
    assert np.isfinite(tree.birth).all()
    # every minimum but one per component is paired; no minimum sits at +inf
    assert tree.n_minima == len(tree.pair_min) + tree.n_components - _all_inf_components(values)
    ours = sorted(
        (b, d) for b, d in zip(tree.birth, tree.death, strict=True) if np.isfinite(d) and d > b
    )
    assert ours == gudhi_pairs(np.where(np.isnan(values), np.inf, values))
    # summaries agree with the pairs
    summary = summarize(tree, 1.0)
    above = int(np.count_nonzero(persistence >= 1.0)) + tree.n_components
    assert summary["n_minima_above"] == above


def _all_inf_components(values: np.ndarray) -> int:
    """Components (full connectivity) made only of non-finite vertices: each keeps one
    essential minimum at +inf, which is not a pair."""
    labels, count = ndimage.label(np.ones_like(values, dtype=bool), structure=FULL_2D)
    return sum(1 for label in range(1, count + 1) if np.isnan(values[labels == label]).all())


# ------------------------------------------------------------------- descriptors


def test_funnel_is_one_basin_as_deep_as_the_range():
    x, y = _grid()
    funnel = 1e-4 + 50.0 * np.sqrt(x**2 + y**2)
    tree = merge_tree(funnel)
    basin = trained_basin(tree)
    assert basin.center_vertex == center_vertex(funnel.shape) == 20 * 41 + 20
    assert basin.fraction == 1.0 and basin.size == funnel.size
    assert basin.depth_decades == pytest.approx(np.log10(funnel.max() / 1e-4))
    d = shape_descriptors(tree, 0.1)
    assert d["n_minima_above_log"] == 1 and d["n_saddles_above_log"] == 0
    # a funnel has few points within a decade of its bottom: |r| <= 9e-4/50 holds the centre
    assert d["fraction_within_decade"] == pytest.approx(1 / funnel.size)


def test_flat_bowl_has_most_points_near_its_bottom():
    x, y = _grid()
    bowl = 1.0 + 20.0 * (x**2 + y**2) ** 4
    d = shape_descriptors(merge_tree(bowl), 0.1)
    brute = np.count_nonzero(bowl <= 10.0 * bowl[20, 20]) / bowl.size
    assert d["fraction_within_decade"] == pytest.approx(brute)
    assert d["fraction_within_decade"] > 0.5
    assert d["basin_fraction"] == 1.0
    assert d["basin_depth_decades"] == pytest.approx(np.log10(bowl.max()))


def test_two_wells_basin_of_the_smaller_well_ends_at_their_saddle():
    x, y = _grid()
    wide = 1.0 + 3.0 * ((x - 0.5) ** 2 + y**2)  # large, lower well on the right
    narrow = 0.01 + 40.0 * (x**2 + y**2)  # narrow well at the centre (theta)
    landscape = np.minimum(wide, narrow)
    tree = merge_tree(landscape)
    basin = trained_basin(tree)
    saddle = tree.node_value[tree.node_kind == SADDLE]
    assert len(saddle) == 1
    assert basin.end_loss == pytest.approx(saddle[0])
    # brute force: the component of the centre in the sub-level set strictly below the saddle
    labels, _ = ndimage.label(landscape < saddle[0], structure=FULL_2D)
    expected = np.count_nonzero(labels == labels[20, 20])
    assert basin.size == expected
    assert basin.fraction == pytest.approx(expected / landscape.size)
    assert basin.depth_decades == pytest.approx(np.log10(saddle[0] / landscape[20, 20]))


def test_small_side_basins_are_absorbed_by_the_trained_basin():
    x, y = _grid()
    landscape = 1e-3 + (x**2 + y**2)
    landscape[2, 2] -= 0.2  # a one-vertex dent near the rim: a smaller basin
    tree = merge_tree(landscape)
    assert tree.n_minima == 2
    basin = trained_basin(tree)
    assert basin.fraction == 1.0


@settings(max_examples=40, deadline=None)
@given(values=hnp.arrays(np.float64, (9, 9), elements=st.floats(0.01, 100.0)))
def test_log_persistence_matches_gudhi_on_log_values(values):
    tree = merge_tree(values)
    ours = np.sort(log_persistence(tree)[log_persistence(tree) > 0])
    theirs = np.sort([d - b for b, d in gudhi_pairs(np.log10(values))])
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(values=hnp.arrays(np.float64, (7, 7), elements=st.floats(0.01, 100.0)))
def test_trained_basin_is_a_brute_force_component(values):
    tree = merge_tree(values)
    basin = trained_basin(tree)
    centre = values[3, 3]
    assert basin.fraction * values.size == pytest.approx(basin.size)
    if basin.end_node == basin.top_node:  # never merged into a larger basin
        assert basin.size == values.size
        return
    # the basin is the component of the centre just below its end saddle's value (ties
    # at that value resolved by index like the sweep, so compare against both bounds)
    level = basin.end_loss
    below = ndimage.label(values < level, structure=FULL_2D)[0]
    at_or_below = ndimage.label(values <= level, structure=FULL_2D)[0]
    low = np.count_nonzero(below == below[3, 3]) if values[3, 3] < level else 0
    high = np.count_nonzero(at_or_below == at_or_below[3, 3])
    assert low <= basin.size <= high
    assert centre <= level


# ------------------------------------------------------------------ k-NN on a grid


def brute_knn(points: np.ndarray, k: int, mutual: bool) -> set[tuple[int, int]]:
    """Every vertex's k nearest by (distance, index), then mutual or union edges."""
    n = len(points)
    chosen = []
    for i in range(n):
        d = np.sum((points - points[i]) ** 2, axis=1)
        order = sorted((d[j], j) for j in range(n) if j != i)
        chosen.append({j for _, j in order[:k]})
    edges = set()
    for i, j in itertools.product(range(n), repeat=2):
        if i < j and (
            (j in chosen[i] and i in chosen[j]) if mutual else (j in chosen[i] or i in chosen[j])
        ):
            edges.add((i, j))
    return edges


@pytest.mark.parametrize("shape", [(7, 6), (4, 5, 3)])
@pytest.mark.parametrize("symmetrize", ["mutual", "union"])
def test_knn_on_grid_indices_equals_brute_force(shape, symmetrize):
    points = np.indices(shape).reshape(len(shape), -1).T.astype(float)
    k = 4 * len(shape)
    indptr, indices = knn_graph(points, k, symmetrize)
    rows = np.repeat(np.arange(len(points)), np.diff(indptr))
    ours = {(int(a), int(b)) for a, b in zip(rows, indices, strict=True) if a < b}
    assert ours == brute_knn(points, k, symmetrize == "mutual")


def test_topology_cli_builds_knn_on_integer_indices(tmp_path):
    """Float axis coordinates (a landscape's α) would break distance ties by rounding; the
    CLI's k-NN tree is the one on integer grid indices."""
    from losstopo.cli import main
    from losstopo.io.landscape_file import landscape_dataset, read_landscape, write_landscape
    from losstopo.io.topology_file import read_topology
    from losstopo.landscape.grid import LandscapeResult, grid_axes

    axes = grid_axes(3, 9, 0.7)
    loss = np.random.default_rng(3).random((9, 9, 9))
    result = LandscapeResult(loss, axes, chunk_size=1, seconds=1.0)
    path = tmp_path / "landscape_3d.nc"
    write_landscape(landscape_dataset(result, np.ones(3), np.eye(3), {"distance": 0.7}), path)
    out = tmp_path / "topology_knn.nc"
    assert main(["topology", str(path), "--connectivity", "knn", "--out", str(out)]) == 0
    loss = read_landscape(path)["loss"].values
    expected = merge_tree(loss, "knn", points=np.indices(loss.shape).reshape(3, -1).T)
    stored = read_topology(out)
    assert stored.attrs["n_minima_raw"] == expected.n_minima
    np.testing.assert_array_equal(stored["min_vertex"].values, expected.pair_min)
    np.testing.assert_array_equal(stored["saddle_vertex"].values, expected.pair_saddle)
