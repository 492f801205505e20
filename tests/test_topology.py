"""Simplification, summaries, topology.nc and the topology CLI / table."""

from __future__ import annotations

import json
import math

import gudhi
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from losstopo.cli import main
from losstopo.io.landscape_file import landscape_dataset, write_landscape
from losstopo.landscape.grid import LandscapeResult, grid_axes
from losstopo.topology.mergetree import MINIMUM, SADDLE, merge_tree
from losstopo.topology.neighbors import grid_offsets
from losstopo.topology.simplify import absolute_threshold, simplify
from losstopo.topology.summary import (
    bottleneck_distance,
    diagram,
    persistence_entropy,
    summarize,
    wasserstein_distance,
)


def grid_edges(shape, connectivity):
    index = np.arange(int(np.prod(shape))).reshape(shape)
    rows, cols = [], []
    for off in grid_offsets(len(shape), connectivity):
        a = tuple(slice(max(0, -o), s - max(0, o)) for o, s in zip(off, shape, strict=True))
        b = tuple(slice(max(0, o), s - max(0, -o)) for o, s in zip(off, shape, strict=True))
        rows.append(index[a].ravel())
        cols.append(index[b].ravel())
    return np.concatenate(rows), np.concatenate(cols)


def brute_force_sizes(tree, rows, cols):
    """Component size of each non-root node below its parent (incl. the parent's vertex when
    the parent is a root), by scipy connected components."""
    n = len(tree.values)
    order = np.argsort(tree.values, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    sizes = {}
    for node, parent in enumerate(tree.node_parent):
        if parent < 0:
            continue
        limit = rank[tree.node_vertex[parent]] + (1 if tree.node_kind[parent] == 2 else 0)
        below = rank < limit
        keep = below[rows] & below[cols]
        graph = coo_matrix((np.ones(keep.sum()), (rows[keep], cols[keep])), shape=(n, n))
        _, labels = connected_components(graph, directed=False)
        sizes[node] = int(np.sum((labels == labels[tree.node_vertex[node]]) & below))
    return sizes


@pytest.mark.parametrize("shape", [(40,), (12, 12), (7, 6, 5)])
@pytest.mark.parametrize("fraction", [0.02, 0.1, 0.3, 2.0])
def test_simplification_invariants(shape, fraction):
    rng = np.random.default_rng(sum(shape))
    values = rng.random(shape)
    tree = merge_tree(values, "full")
    threshold = absolute_threshold(tree, fraction, relative=True)
    simple = simplify(tree, threshold)
    # pairs: exactly those at or above the threshold, by vertex
    keep = tree.persistence >= threshold
    assert set(zip(simple.pair_min, simple.pair_saddle, strict=True)) == set(
        zip(tree.pair_min[keep], tree.pair_saddle[keep], strict=True)
    )
    assert simple.n_minima == keep.sum() + 1
    children = np.bincount(
        simple.node_parent[simple.node_parent >= 0], minlength=len(simple.node_kind)
    )
    assert np.all(children[simple.node_kind == SADDLE] >= 2)
    assert np.all(children[simple.node_kind == MINIMUM] == 0)
    assert simple.arc_size.sum() == values.size
    np.testing.assert_array_equal(
        np.bincount(simple.segmentation, minlength=len(simple.node_kind)), simple.arc_size
    )
    # surviving minima are the elder minima of surviving pairs plus the global minimum
    assert set(simple.node_vertex[simple.node_kind == MINIMUM]) == {
        *tree.pair_min[keep],
        int(np.argmin(values)),
    }
    # cumulative sizes mean the same thing as before: the component below the parent
    rows, cols = grid_edges(shape, "full")
    for node, size in brute_force_sizes(simple, rows, cols).items():
        assert simple.node_size[node] == size
    # saddles that keep their parent keep their cumulative size
    old = {int(tree.node_vertex[n]): n for n in np.flatnonzero(tree.node_kind == SADDLE)}
    for node in np.flatnonzero(simple.node_kind == SADDLE):
        before = old[int(simple.node_vertex[node])]
        new_parent, old_parent = simple.node_parent[node], tree.node_parent[before]
        same_parent = (simple.node_vertex[new_parent], simple.node_kind[new_parent]) == (
            tree.node_vertex[old_parent],
            tree.node_kind[old_parent],
        )
        if same_parent:
            assert simple.node_size[node] == tree.node_size[before]
    # simplifying twice changes nothing
    again = simplify(simple, threshold)
    np.testing.assert_array_equal(again.segmentation, simple.segmentation)
    np.testing.assert_array_equal(again.node_parent, simple.node_parent)


def test_removed_branch_vertices_join_the_arc_above_the_saddle():
    # 1-D: deep well at 1, shallow well at 4 (persistence 0.5), saddle at 3
    values = np.array([5.0, 0.0, 2.0, 3.0, 2.5, 4.0, 6.0])
    tree = merge_tree(values, "axis")
    assert tree.n_minima == 2
    simple = simplify(tree, 1.0)
    assert simple.n_minima == 1 and simple.n_saddles == 0
    # the shallow well's vertices and the former saddle now lie on the one remaining arc
    minimum = int(np.flatnonzero(simple.node_kind == MINIMUM)[0])
    assert np.all(simple.segmentation == minimum)
    assert simple.node_size[minimum] == values.size


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=2, max_size=30), st.floats(0.0, 7.0))
def test_simplification_counts_match_the_diagram(values, threshold):
    array = np.asarray(values, dtype=float)
    tree = merge_tree(array, "axis")
    simple = simplify(tree, threshold)
    kept = np.count_nonzero(tree.persistence >= threshold) if threshold > 0 else len(tree.pair_min)
    assert simple.n_minima == kept + 1
    assert simple.arc_size.sum() == array.size


def test_persistence_entropy_by_hand():
    assert persistence_entropy(np.array([1.0, 1.0])) == pytest.approx(math.log(2))
    assert persistence_entropy(np.array([3.0])) == 0.0
    assert persistence_entropy(np.array([])) == 0.0
    p = np.array([1.0, 2.0, 5.0])
    share = p / 8
    assert persistence_entropy(p) == pytest.approx(-(share * np.log(share)).sum())


def test_summary_counts_and_statistics():
    values = np.array([5.0, 0.0, 2.0, 3.0, 2.5, 4.0, 1.0, 6.0])
    tree = merge_tree(values, "axis")
    # minima at 1 (0.0), 4 (2.5), 6 (1.0); pairs: (2.5, 3.0)? no: 4 dies at 3 (value 3), 6 at 5
    pairs = sorted(zip(tree.birth, tree.death, strict=True))
    assert pairs == [(1.0, 4.0), (2.5, 3.0)]
    summary = summarize(tree, threshold=1.0)
    assert summary["n_minima"] == 3 and summary["n_saddles"] == 2
    assert summary["n_minima_above"] == 2  # the pair of persistence 3 and the global minimum
    assert summary["n_saddles_above"] == 1
    assert summary["total_persistence"] == pytest.approx(3.5)
    assert summary["mean_persistence"] == pytest.approx(1.75)
    assert summary["max_persistence"] == pytest.approx(3.0)
    assert summary["persistence_entropy"] == pytest.approx(
        persistence_entropy(np.array([3.0, 0.5]))
    )


def test_diagram_distances_match_gudhi():
    rng = np.random.default_rng(4)
    a = merge_tree(rng.random((9, 9)), "full")
    b = merge_tree(rng.random((9, 9)), "full")
    assert bottleneck_distance(a, a) == pytest.approx(0.0, abs=1e-300)
    assert bottleneck_distance(a, b) == pytest.approx(
        gudhi.bottleneck_distance(diagram(a), diagram(b))
    )
    assert wasserstein_distance(a, b) > 0
    assert wasserstein_distance(a, a) == 0.0


@pytest.fixture
def landscape_file(tmp_path):
    rng = np.random.default_rng(7)
    axes = grid_axes(2, 9, 0.5)
    x, y = np.meshgrid(axes[0], axes[1], indexing="ij")
    loss = np.cos(6 * x) * np.cos(5 * y) + x**2 + 0.01 * rng.random(x.shape)
    result = LandscapeResult(loss, axes, chunk_size=1, seconds=1.0)
    ds = landscape_dataset(
        result, np.array([2.0, 1.0]), np.eye(2), {"distance": 0.5, "problem_hparams": {"beta": 1.0}}
    )
    path = tmp_path / "run" / "landscape_2d.nc"
    path.parent.mkdir()
    write_landscape(ds, path)
    return path, loss


@pytest.mark.parametrize("connectivity", ["full", "freudenthal", "axis", "knn"])
def test_topology_cli_writes_the_tree(landscape_file, connectivity):
    path, loss = landscape_file
    out = path.parent / f"topology_{connectivity}.nc"
    assert main(["topology", str(path), "--connectivity", connectivity, "--out", str(out)]) == 0
    ds = xr.open_dataset(out)
    tree = merge_tree(loss, connectivity)
    np.testing.assert_array_equal(ds.node_vertex.values, tree.node_vertex)
    np.testing.assert_array_equal(ds.node_parent.values, tree.node_parent)
    np.testing.assert_array_equal(ds.birth.values, tree.birth)
    np.testing.assert_array_equal(ds.segmentation.values, tree.segmentation.reshape(loss.shape))
    assert ds.segmentation.dims == ("a0", "a1")
    assert ds.attrs["connectivity"] == connectivity
    assert ds.attrs["n_minima"] == tree.n_minima and ds.attrs["n_saddles"] == tree.n_saddles
    assert ds.attrs["k"] == (8 if connectivity == "knn" else 0)
    assert json.loads(ds.attrs["landscape_problem_hparams"]) == {"beta": 1.0}
    assert ds.attrs["source_sha256"]


def test_topology_cli_threshold_simplifies(landscape_file):
    path, loss = landscape_file
    out = path.parent / "topology.nc"
    assert (
        main(
            [
                "topology",
                str(path),
                "--persistence-threshold",
                "0.2",
                "--relative",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    ds = xr.open_dataset(out)
    tree = merge_tree(loss, "full")
    threshold = 0.2 * (loss.max() - loss.min())
    assert ds.attrs["persistence_threshold"] == pytest.approx(threshold)
    assert ds.attrs["n_minima"] == np.count_nonzero(tree.persistence >= threshold) + 1
    assert ds.attrs["n_minima_raw"] == tree.n_minima


def test_topology_cli_bad_input(tmp_path, landscape_file, capsys):
    path, _ = landscape_file
    bad = tmp_path / "bad.nc"
    xr.Dataset({"other": ("x", np.zeros(3))}).to_netcdf(bad)
    out = tmp_path / "t.nc"
    assert main(["topology", str(bad), "--out", str(out)]) == 2
    assert "lacks variable(s) loss" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["topology", str(path), "--persistence-threshold", "-1", "--out", str(out)])
    assert exit_info.value.code == 2
    assert "--persistence-threshold: must be a finite number >= 0" in capsys.readouterr().err
    assert not out.exists()


def test_topology_table_reads_run_metrics_from_the_landscape(tmp_path):
    """β, lr, seed and error come from the checkpoint's fields and metrics that the landscape
    carries into topology.nc; regimes label the cells; descriptors are columns; the run and
    checkpoint are the folders above the file."""
    axes = grid_axes(2, 9, 0.1)
    x, y = np.meshgrid(axes[0], axes[1], indexing="ij")
    loss = 1e-3 + x**2 + 4 * y**2
    attrs = {
        "distance": 0.1,
        "problem_hparams": {"beta": 6.0, "lr": 0.01},
        "checkpoint_seed": 1,
        "checkpoint_metrics": {"relative_l2_error": 0.3, "iterations": 40},
        "run_fields": {"beta": 6.0, "lr": 0.01, "seed": 1},
        "table_metrics": ["relative_l2_error"],
        "problem": "convection",
    }
    ds = landscape_dataset(LandscapeResult(loss, axes, 1, 1.0), np.ones(2), np.eye(2), attrs)
    path = tmp_path / "beta6_lr0.01_seed1" / "model" / "landscape.nc"
    path.parent.mkdir(parents=True)
    write_landscape(ds, path)
    out = path.parent / "topology.nc"
    assert main(["topology", str(path), "--connectivity", "knn", "--out", str(out)]) == 0
    csv = tmp_path / "table.csv"
    args = ["topology-table", str(out), "--regime", "6:0.01:transition", "--out", str(csv)]
    assert main(args) == 0
    table = pd.read_csv(csv)
    row = table.iloc[0]
    assert (row.beta, row.lr, row.seed, row.relative_l2_error) == (6.0, 0.01, 1, 0.3)
    assert (row.problem, row.run, row.checkpoint) == ("convection", "beta6_lr0.01_seed1", "model")
    assert "iterations" not in table  # only the problem's table metrics are columns
    assert row.regime == "transition" and row.connectivity == "knn" and row.distance == 0.1
    # a single bowl: the trained basin is the whole grid, as deep as the loss range
    assert row.basin_fraction == 1.0 and row.n_minima_above_log == 1
    assert row.basin_depth_decades == pytest.approx(np.log10(loss.max() / loss[4, 4]))
    assert row.center_loss == pytest.approx(loss[4, 4])
    assert main(["topology-table", str(out), "--regime", "6:x", "--out", str(csv)]) == 2


def _topology_of(tmp_path, name, problem, fields, metrics):
    """A topology file of a tiny bowl landscape whose checkpoint has ``fields``."""
    axes = grid_axes(2, 5, 0.1)
    x, y = np.meshgrid(axes[0], axes[1], indexing="ij")
    attrs = {
        "distance": 0.1,
        "problem": problem,
        "problem_hparams": {},
        "checkpoint_seed": -1,
        "checkpoint_metrics": metrics,
        "run_fields": fields,
        "table_metrics": list(metrics),
    }
    result = LandscapeResult(1 + x**2 + y**2, axes, 1, 1.0)
    path = tmp_path / "run" / name / "landscape.nc"
    path.parent.mkdir(parents=True)
    write_landscape(landscape_dataset(result, np.ones(2), np.eye(2), attrs), path)
    out = path.parent / "topology.nc"
    assert main(["topology", str(path), "--out", str(out)]) == 0
    return out


def test_topology_table_orders_rows_by_fields_with_learning_rates_descending(tmp_path):
    files = [
        _topology_of(tmp_path, f"c{i}", "segmentation", {"lr": lr, "seed": 0, "epoch": e}, {})
        for i, (lr, e) in enumerate([(0.001, 2), (0.01, 3), (0.001, 1), (0.01, 0)])
    ]
    csv = tmp_path / "table.csv"
    assert main(["topology-table", *map(str, files), "--out", str(csv)]) == 0
    table = pd.read_csv(csv)
    assert list(zip(table.lr, table.epoch, strict=True)) == [
        (0.01, 0),
        (0.01, 3),
        (0.001, 1),
        (0.001, 2),
    ]
    assert list(table.checkpoint) == ["c3", "c1", "c2", "c0"]


def test_topology_table_refuses_mixed_problems_and_missing_metrics(tmp_path, capsys):
    a = _topology_of(tmp_path, "a", "convection", {"beta": 1.0}, {"relative_l2_error": 0.1})
    b = _topology_of(tmp_path, "b", "model", {}, {"accuracy": 0.9})
    csv = tmp_path / "table.csv"
    assert main(["topology-table", str(a), str(b), "--out", str(csv)]) == 2
    assert "different problems (convection, model)" in capsys.readouterr().err
    assert not csv.exists()
