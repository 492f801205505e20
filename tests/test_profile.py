"""Topological landscape profiles: geometry as data (no pixels) and rendering."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.image import imread

from losstopo.topology.mergetree import MINIMUM, SADDLE, merge_tree
from losstopo.topology.profile import landscape_profile


def check_geometry(tree, profile):
    n = len(tree.values)
    roots = np.flatnonzero(tree.node_parent < 0)
    assert profile.width == n == sum(tree.node_size[r] for r in roots)
    assert len(profile.polygons) == len(tree.node_vertex) - len(roots)  # one per arc
    assert len(profile.minima) == tree.n_minima
    assert len(profile.saddles) == tree.n_saddles
    by_node = {poly.node: poly for poly in profile.polygons}
    for poly in profile.polygons:
        node = poly.node
        top = poly.y == poly.upper
        # top width = the node's width = its slot
        assert poly.x[top].max() - poly.x[top].min() == pytest.approx(tree.node_size[node])
        assert poly.slot[1] - poly.slot[0] == pytest.approx(tree.node_size[node])
        assert poly.x.min() >= poly.slot[0] - 1e-9 and poly.x.max() <= poly.slot[1] + 1e-9
        # y-range = [lower node value, upper node value]
        assert poly.y.min() == poly.lower == tree.node_value[node]
        assert poly.y.max() == poly.upper == tree.node_value[tree.node_parent[node]]
        # symmetric about the centre, widths never decrease with y
        half = len(poly.x) // 2
        right_x, right_y = poly.x[:half], poly.y[:half]
        assert np.all(np.diff(right_y) >= 0) and np.all(np.diff(right_x) >= -1e-9)
        np.testing.assert_allclose(poly.x[half:][::-1] + right_x, 2 * poly.center)
    # siblings are disjoint and inside the parent's children block, centred under it
    for parent in range(len(tree.node_vertex)):
        kids = [k for k in np.flatnonzero(tree.node_parent == parent)]
        if not kids:
            continue
        slots = sorted(by_node[k].slot for k in kids)
        for left, right in pairwise(slots):
            assert left[1] <= right[0] + 1e-9
        block = sum(tree.node_size[k] for k in kids)
        if parent in by_node:
            centre = by_node[parent].center
        else:  # a root: its slot is the component's extent
            centre = np.mean([slots[0][0], slots[-1][1]])
        assert slots[0][0] == pytest.approx(centre - block / 2)
        assert slots[-1][1] == pytest.approx(centre + block / 2)
        # widest first, left to right
        widths = [tree.node_size[k] for k in sorted(kids, key=lambda k: by_node[k].slot[0])]
        assert widths == sorted(widths, reverse=True)


@pytest.mark.parametrize("shape", [(30,), (10, 10), (6, 5, 4)])
@pytest.mark.parametrize("connectivity", ["full", "axis"])
def test_profile_geometry_invariants(shape, connectivity):
    values = np.random.default_rng(sum(shape)).random(shape)
    tree = merge_tree(values, connectivity)
    check_geometry(tree, landscape_profile(tree))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 9), min_size=1, max_size=40))
def test_profile_geometry_on_generated_arrays(values):
    tree = merge_tree(np.asarray(values, dtype=float), "axis")
    check_geometry(tree, landscape_profile(tree))


def test_two_wells_give_two_basins_and_one_saddle():
    # wells at x = 1 (depth 0) and x = 5 (depth 1), saddle at x = 3 (value 3)
    values = np.array([4.0, 0.0, 1.0, 3.0, 2.0, 1.0, 2.0, 5.0])
    tree = merge_tree(values, "axis")
    profile = landscape_profile(tree)
    assert sorted(profile.minima[:, 1]) == [0.0, 1.0]
    assert profile.saddles[:, 1].tolist() == [3.0]
    basins = [p for p in profile.polygons if tree.node_kind[p.node] == MINIMUM]
    assert len(basins) == 2
    sizes = sorted(tree.node_size[p.node] for p in basins)
    assert sizes == [2, 3]  # {1, 2} and {4, 5, 6}
    saddle = next(p for p in profile.polygons if tree.node_kind[p.node] == SADDLE)
    assert saddle.lower == 3.0 and saddle.upper == 5.0
    # the bigger basin (the right well, 3 vertices) is placed first
    left, right = sorted(basins, key=lambda p: p.slot[0])
    assert tree.node_size[left.node] == 3 and left.lower == 1.0
    assert tree.node_size[right.node] == 2 and right.lower == 0.0
    # the saddle sits where the two basins' slots meet
    assert left.slot[1] == pytest.approx(right.slot[0])
    assert profile.saddles[0, 0] == pytest.approx(left.slot[1])


def test_persistence_order_puts_the_deepest_branch_first():
    values = np.array([4.0, 0.0, 1.0, 3.0, 2.0, 1.0, 2.0, 5.0])
    tree = merge_tree(values, "axis")
    profile = landscape_profile(tree, order="persistence")
    basins = sorted(
        (p for p in profile.polygons if tree.node_kind[p.node] == MINIMUM), key=lambda p: p.slot[0]
    )
    assert basins[0].lower == 0.0  # the essential (global) minimum first


def three_well_field(side: int = 31) -> np.ndarray:
    x, y = np.meshgrid(np.linspace(-1, 1, side), np.linspace(-1, 1, side), indexing="ij")
    wells = [(-0.5, -0.5, 1.0), (0.5, -0.4, 0.8), (0.0, 0.55, 0.6)]
    return 2.0 - sum(d * np.exp(-((x - a) ** 2 + (y - b) ** 2) / 0.08) for a, b, d in wells)


def test_profile_of_three_wells_has_three_filled_basins(tmp_path):
    import matplotlib.pyplot as plt

    from losstopo.plots.common import save_figure
    from losstopo.plots.profile import draw_profile, shared_norm

    tree = merge_tree(three_well_field(), "full")
    assert tree.n_minima == 3 and tree.n_saddles == 2
    profile = landscape_profile(tree)
    fig, ax = plt.subplots()
    collection = draw_profile(ax, profile, shared_norm([profile], log=False))
    paths = collection.get_paths()
    basins = [p for p in profile.polygons if tree.node_kind[p.node] == MINIMUM]
    assert len(paths) == len(profile.polygons) == 5 and len(basins) == 3  # 3 minima + 2 saddles
    # three separate basins: their slots do not overlap
    slots = sorted(p.slot for p in basins)
    assert all(a[1] <= b[0] for a, b in pairwise(slots))
    assert len(collection.get_array()) == 5  # every polygon is filled by its arc's mean loss
    out = tmp_path / "profile.png"
    save_figure(fig, [out])
    image = imread(out)
    assert image.shape[0] > 100 and np.std(image[..., :3]) > 0.05


def test_profile_figure_cli(tmp_path, capsys):
    """`losstopo figure profiles` from cached files, and its error for a bad panel."""
    import json

    from losstopo.cli import main
    from losstopo.io.landscape_file import landscape_dataset, write_landscape
    from losstopo.landscape.grid import LandscapeResult, grid_axes

    run = tmp_path / "run"
    run.mkdir()
    field = three_well_field(15)
    result = LandscapeResult(field, grid_axes(2, 15, 1.0), chunk_size=1, seconds=1.0)
    write_landscape(
        landscape_dataset(result, np.array([2.0, 1.0]), np.eye(2), {}), run / "landscape_2d.nc"
    )
    (run / "metrics.json").write_text(
        json.dumps({"beta": 1.0, "lr": 1.0, "seed": 0, "relative_l2_error": 0.01})
    )
    assert (
        main(["topology", str(run / "landscape_2d.nc"), "--out", str(run / "topology_2d.nc")]) == 0
    )
    out = tmp_path / "profiles.png"
    assert (
        main(["figure", "profiles", f"{run}:2", f"{run}:2", "--columns", "2", "--out", str(out)])
        == 0
    )
    assert imread(out).shape[1] > 400
    assert (
        main(["figure", "profiles", f"{run}:3", "--columns", "1", "--out", str(tmp_path / "x.png")])
        == 2
    )
    assert "topology_3d.nc does not exist" in capsys.readouterr().err
    assert (
        main(["figure", "profiles", str(run), "--columns", "1", "--out", str(tmp_path / "x.png")])
        == 2
    )
    assert "is not RUN_DIR:DIMS" in capsys.readouterr().err


def test_landscape_2d_figure(tmp_path, capsys):
    from losstopo.cli import main
    from losstopo.io.landscape_file import landscape_dataset, write_landscape
    from losstopo.landscape.grid import LandscapeResult, grid_axes

    field = three_well_field(21)
    path = tmp_path / "landscape_2d.nc"
    result = LandscapeResult(field, grid_axes(2, 21, 1.0), chunk_size=1, seconds=1.0)
    write_landscape(landscape_dataset(result, np.array([2.0, 1.0]), np.eye(2), {}), path)
    assert main(["topology", str(path), "--out", str(tmp_path / "topology_2d.nc")]) == 0
    out = tmp_path / "l2d.png"
    assert (
        main(
            [
                "figure",
                "landscape-2d",
                str(path),
                "--topology",
                str(tmp_path / "topology_2d.nc"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    image = imread(out)
    assert image.shape[0] > 200 and np.std(image[..., :3]) > 0.05
    three = tmp_path / "landscape_3d.nc"
    result3 = LandscapeResult(np.ones((3, 3, 3)), grid_axes(3, 3, 1.0), chunk_size=1, seconds=1.0)
    write_landscape(landscape_dataset(result3, np.ones(3), np.eye(3), {}), three)
    assert main(["figure", "landscape-2d", str(three), "--out", str(out)]) == 2
    assert "needs 2 axes" in capsys.readouterr().err


# --- saddle markers where basins join --------------------------------------------------


def child_polygons(tree, profile, node):
    by_node = {poly.node: poly for poly in profile.polygons}
    kids = [int(k) for k in np.flatnonzero(tree.node_parent == node)]
    return sorted((by_node[k] for k in kids), key=lambda p: p.slot[0])


def check_saddle_markers(tree, profile):
    """Every saddle marker lies on a boundary shared by two adjacent children's slots, one
    of them the elder child (the branch that survives the saddle)."""
    from losstopo.topology.simplify import branch_minima

    branch = branch_minima(tree)
    assert len(profile.saddle_nodes) == len(profile.saddles)
    for node, (x, y) in zip(profile.saddle_nodes, profile.saddles, strict=True):
        assert y == tree.node_value[node]
        kids = child_polygons(tree, profile, node)
        assert len(kids) >= 2
        shared = [a.slot[1] for a, b in pairwise(kids) if a.slot[1] == pytest.approx(b.slot[0])]
        assert any(x == pytest.approx(edge) for edge in shared)
        elder = next(k for k in kids if branch[k.node] == branch[node])
        assert x == pytest.approx(elder.slot[0]) or x == pytest.approx(elder.slot[1])


def test_saddle_marker_sits_where_two_wells_of_a_200_point_array_join():
    x = np.arange(200, dtype=float)
    values = np.minimum((x - 50) ** 2 / 50.0, (x - 160) ** 2 / 20.0 + 5.0)  # wide deep + narrow
    tree = merge_tree(values, "axis")
    assert tree.n_minima == 2 and tree.n_saddles == 1
    profile = landscape_profile(tree)
    saddle = int(profile.saddle_nodes[0])
    wide, narrow = child_polygons(tree, profile, saddle)
    assert wide.lower == 0.0 and narrow.lower == 5.0  # the elder (deeper) well is the wider
    marker = profile.saddles[0, 0]
    assert marker == pytest.approx(wide.slot[1]) == pytest.approx(narrow.slot[0])
    parent = next(p for p in profile.polygons if p.node == saddle)
    assert parent.slot[0] < marker < parent.slot[1]
    assert marker != pytest.approx(parent.center)  # not at the centre of the children block


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 9), min_size=2, max_size=60))
def test_saddle_markers_lie_on_child_slot_boundaries_of_generated_arrays(values):
    tree = merge_tree(np.asarray(values, dtype=float), "axis")
    check_saddle_markers(tree, landscape_profile(tree))


@pytest.mark.parametrize("order", ["width", "persistence"])
@pytest.mark.parametrize("shape", [(12, 12), (6, 6, 6)])
def test_saddle_markers_lie_on_child_slot_boundaries_of_random_grids(shape, order):
    tree = merge_tree(np.random.default_rng(3).random(shape), "full")
    check_saddle_markers(tree, landscape_profile(tree, order=order))


def test_minima_and_saddle_markers_do_not_pile_up_in_one_column():
    tree = merge_tree(np.random.default_rng(7).random((7, 7, 7)), "full")
    profile = landscape_profile(tree)
    assert tree.n_saddles >= 3
    assert len(np.unique(np.round(profile.saddles[:, 0], 9))) > 1
    markers = np.concatenate([profile.minima[:, 0], profile.saddles[:, 0]])
    assert len(np.unique(np.round(markers, 9))) > len(markers) // 2


# --- the trained basin ------------------------------------------------------------------


def sublevel_component(values: np.ndarray, start: tuple[int, ...], level: float) -> np.ndarray:
    """Brute force: the vertices below ``level`` connected to ``start`` (8-/26-neighbours)."""
    from itertools import product

    inside = values < level
    seen = np.zeros(values.shape, dtype=bool)
    seen[start] = True
    stack = [start]
    offsets = [o for o in product((-1, 0, 1), repeat=values.ndim) if any(o)]
    while stack:
        here = stack.pop()
        for offset in offsets:
            there = tuple(h + o for h, o in zip(here, offset, strict=True))
            if all(0 <= t < s for t, s in zip(there, values.shape, strict=True)):
                if inside[there] and not seen[there]:
                    seen[there] = True
                    stack.append(there)
    return seen


def test_trained_basin_of_a_funnel_covers_every_vertex():
    grid = np.linspace(-1, 1, 9)
    values = np.add.outer(grid**2, grid**2) + 0.01 * np.arange(81).reshape(9, 9) / 81
    values[4, 4] = -0.5  # θ at the bottom
    tree = merge_tree(values, "full")
    assert tree.n_minima == 1
    profile = landscape_profile(tree)
    assert profile.basin.fraction == 1.0 and profile.basin.size == values.size
    assert sorted(profile.basin_nodes) == sorted(p.node for p in profile.polygons)
    assert all(p.in_basin for p in profile.polygons)
    assert profile.theta[1] == values[4, 4] == profile.center_loss
    assert profile.theta[0] == pytest.approx(profile.width / 2)
    assert profile.basin_slot == pytest.approx((0.0, profile.width))


def two_wells(side: int = 21) -> np.ndarray:
    """A wide deep well off centre and a small shallow one at the centre (θ)."""
    x, y = np.meshgrid(np.linspace(-1, 1, side), np.linspace(-1, 1, side), indexing="ij")
    wide = 2.0 * np.exp(-((x + 0.55) ** 2 + (y + 0.4) ** 2) / 0.15)
    small = 1.0 * np.exp(-(x**2 + y**2) / 0.02)
    return 3.0 + 0.3 * (x**2 + y**2) - wide - small


def test_trained_basin_in_the_smaller_of_two_wells_matches_brute_force():
    values = two_wells()
    tree = merge_tree(values, "full")
    assert tree.n_minima == 2 and tree.n_saddles == 1
    profile = landscape_profile(tree)
    basin = profile.basin
    saddle_value = tree.node_value[profile.saddle_nodes[0]]
    component = sublevel_component(values, (10, 10), saddle_value)
    assert basin.size == component.sum()
    assert basin.fraction == pytest.approx(component.sum() / values.size)
    assert 0 < basin.fraction < 0.5
    # the basin's polygons are that well's arc; its vertices are the brute-force set
    assert list(profile.basin_nodes) == [basin.top_node]
    members = np.isin(tree.segmentation, basin.nodes).reshape(values.shape)
    np.testing.assert_array_equal(members, component)
    (polygon,) = [p for p in profile.polygons if p.in_basin]
    assert profile.basin_slot == pytest.approx(polygon.slot)
    assert profile.basin_range == pytest.approx((polygon.lower, basin.end_loss))
    assert basin.end_loss == polygon.upper == saddle_value
    # θ sits in its arc at its own loss, above the well's bottom
    assert profile.theta[0] == pytest.approx(polygon.center)
    assert profile.theta[1] == values[10, 10] >= polygon.lower
    # an explicit centre: θ in the wide well gives the whole grid
    wide = landscape_profile(tree, center=int(np.argmin(values)))
    assert wide.basin.fraction == 1.0


def test_fill_in_decades_above_the_loss_at_theta_handles_negative_losses():
    from losstopo.topology.descriptors import log_values

    values = two_wells() - 2.5  # losses down to about -1.5
    tree = merge_tree(values, "full")
    profile = landscape_profile(tree)
    assert profile.log_shift > 0
    centre = values[10, 10]
    for poly in profile.polygons:
        expected = np.log10(poly.fill + profile.log_shift) - np.log10(centre + profile.log_shift)
        assert poly.fill_decades == pytest.approx(expected)
    logs = log_values(tree.values)
    assert np.isfinite(logs).all() and profile.relative_y(centre) == pytest.approx(1.0)
