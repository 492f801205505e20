"""Topological landscape profile geometry, as plain data.

One polygon per merge-tree arc (the root has none). A node's width is its cumulative size;
children are laid side by side, widest first (or most persistent first), as a block
centred under their parent, recursively. An arc's polygon is symmetric about its centre:
at loss level y its width is the width of its children block plus the number of the arc's
vertices with loss ≤ y, from the lower node's value up to the upper node's value, where it
has the node's full width.

Markers: minima at the bottom of their basins; each saddle where its basins join, on the
boundary between the slot of its elder child (the branch that survives it) and that of a
neighbouring child, so saddles of nested basins do not pile up in one column. The basin of
the trained weights θ (``losstopo.topology.descriptors.trained_basin``) is recorded with
the polygons that form it and a marker for θ itself. Fill values are kept both as the
arc's mean loss and in decades above the loss at θ, so a figure can colour panels of very
different loss levels on one readable scale. Drawing is separate
(``losstopo.plots.profile``), so the geometry is tested without pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from losstopo.topology.descriptors import TrainedBasin, log_shift, trained_basin
from losstopo.topology.simplify import branch_minima
from losstopo.topology.tree import MINIMUM, ROOT, SADDLE, MergeTree


@dataclass
class ArcPolygon:
    node: int
    x: np.ndarray  # closed outline, counter-clockwise
    y: np.ndarray
    center: float
    slot: tuple[float, float]  # horizontal extent of the node's width
    lower: float  # value of the lower node (bottom)
    upper: float  # value of the upper node (top)
    fill: float  # mean loss of the arc's vertices
    fill_decades: float = float("nan")  # log10(fill) − log10(loss at θ), after the log shift
    in_basin: bool = False  # part of the trained basin


@dataclass
class Profile:
    polygons: list[ArcPolygon]
    minima: np.ndarray  # (m × 2) x, y of red markers
    saddles: np.ndarray  # (s × 2) x, y of orange markers
    width: float  # total width = number of vertices
    value_range: tuple[float, float]
    extra: dict[str, float] = field(default_factory=dict)
    basin: TrainedBasin | None = None  # the trained basin (centre vertex's)
    basin_nodes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    basin_slot: tuple[float, float] = (0.0, 0.0)  # slot of the basin's top node
    basin_range: tuple[float, float] = (0.0, 0.0)  # lowest loss in the basin, end loss
    theta: np.ndarray = field(default_factory=lambda: np.full(2, np.nan))  # x, y of θ
    center_loss: float = float("nan")  # loss at θ (reference of ``fill_decades``)
    log_shift: float = 0.0  # shift making every finite loss positive before log10
    saddle_nodes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    minimum_nodes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def relative_y(self, y: np.ndarray | float) -> np.ndarray:
        """Loss over the loss at θ (both shifted to positive), for a relative loss axis."""
        reference = self.center_loss + self.log_shift
        return (np.asarray(y, dtype=float) + self.log_shift) / reference


def _order_key(tree: MergeTree, order: str) -> np.ndarray:
    """Sort key per node: larger first."""
    if order == "width":
        return tree.node_size.astype(float)
    if order == "persistence":
        persistence = np.full(len(tree.values), np.inf)
        persistence[tree.pair_min] = tree.persistence
        return persistence[branch_minima(tree)]
    raise ValueError(f"unknown child order {order!r} (choose width or persistence)")


def arc_levels(tree: MergeTree, max_levels: int | None = None) -> list[np.ndarray]:
    """Sorted loss values of each arc's vertices (subsampled to ``max_levels`` quantiles,
    keeping the exact counts at the retained levels)."""
    order = np.argsort(tree.segmentation, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(tree.arc_size)])
    levels = []
    for node in range(len(tree.node_vertex)):
        values = np.sort(tree.values[order[bounds[node] : bounds[node + 1]]])
        levels.append(values)
    return levels


def saddle_marker_x(kids: list[int], slot_left: np.ndarray, sizes: np.ndarray, elder: int) -> float:
    """x where the elder child's slot meets its neighbour's (``kids`` in layout order):
    its right edge, or its left edge when it is the last child."""
    position = kids.index(elder)
    if position < len(kids) - 1:
        return float(slot_left[elder] + sizes[elder])
    return float(slot_left[elder])


def landscape_profile(
    tree: MergeTree,
    order: str = "width",
    max_points_per_arc: int = 400,
    center: int | None = None,
) -> Profile:
    """Polygons and markers of the profile of ``tree`` (widths in numbers of vertices).

    ``center`` is the vertex of the trained weights θ (default: the grid's centre vertex, or
    the one the tree records for scattered samples); its basin and its loss (the reference
    of ``ArcPolygon.fill_decades``) are recorded.
    """
    children = tree.children()
    key = _order_key(tree, order)
    n_nodes = len(tree.node_vertex)
    roots = [int(n) for n in np.flatnonzero(tree.node_parent < 0)]
    total = float(sum(tree.node_size[r] for r in roots))
    centre_x = np.zeros(n_nodes)
    slot_left = np.zeros(n_nodes)
    layout: list[list[int]] = [[] for _ in range(n_nodes)]  # children in layout order
    # roots side by side (one per connected component), widest first
    left = 0.0
    stack: list[int] = []
    for root in sorted(roots, key=lambda n: (-key[n], n)):
        slot_left[root] = left
        centre_x[root] = left + tree.node_size[root] / 2
        left += float(tree.node_size[root])
        stack.append(root)
    while stack:
        node = stack.pop()
        kids = sorted(children[node], key=lambda n: (-key[n], n))
        layout[node] = kids
        block = float(sum(tree.node_size[k] for k in kids))
        x = centre_x[node] - block / 2
        for kid in kids:
            slot_left[kid] = x
            centre_x[kid] = x + tree.node_size[kid] / 2
            x += float(tree.node_size[kid])
            stack.append(kid)

    basin = trained_basin(tree, center)
    in_basin = np.zeros(n_nodes, dtype=bool)
    in_basin[basin.nodes] = True
    shift = log_shift(tree.values)
    reference = basin.center_loss
    if not np.isfinite(reference):  # θ itself non-finite: fall back to the lowest loss
        finite = tree.values[np.isfinite(tree.values)]
        reference = float(finite.min()) if finite.size else 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        log_reference = np.log10(reference + shift)

    levels = arc_levels(tree)
    polygons = []
    for node in range(n_nodes):
        parent = tree.node_parent[node]
        if parent < 0:
            continue
        lower, upper = float(tree.node_value[node]), float(tree.node_value[parent])
        block = float(tree.node_size[node] - tree.arc_size[node])
        values = levels[node]
        counts = np.arange(1, len(values) + 1, dtype=float)
        if len(values) > max_points_per_arc:  # keep the exact count at retained levels
            keep = np.unique(np.linspace(0, len(values) - 1, max_points_per_arc).astype(int))
            values, counts = values[keep], counts[keep]
        ys = np.concatenate([[lower], np.minimum(values, upper), [upper]])
        half = np.concatenate([[block], block + counts, [tree.node_size[node]]]) / 2
        ys = np.clip(ys, lower, upper)
        cx = centre_x[node]
        x = np.concatenate([cx + half, (cx - half)[::-1]])
        y = np.concatenate([ys, ys[::-1]])
        fill = float(tree.arc_mean_loss[node])
        with np.errstate(divide="ignore", invalid="ignore"):
            decades = float(np.log10(fill + shift) - log_reference)
        polygons.append(
            ArcPolygon(
                node=node,
                x=x,
                y=y,
                center=cx,
                slot=(slot_left[node], slot_left[node] + float(tree.node_size[node])),
                lower=lower,
                upper=upper,
                fill=fill,
                fill_decades=decades if np.isfinite(decades) else float("nan"),
                in_basin=bool(in_basin[node]),
            )
        )
    kinds = tree.node_kind
    minimum_nodes = np.flatnonzero(kinds == MINIMUM)
    saddle_nodes = np.flatnonzero(kinds == SADDLE)
    branch = branch_minima(tree)
    saddle_x = np.empty(len(saddle_nodes))
    for i, node in enumerate(saddle_nodes):
        kids = layout[node]
        elder = next((k for k in kids if branch[k] == branch[node]), kids[0])
        saddle_x[i] = saddle_marker_x(kids, slot_left, tree.node_size, elder)
    minima = np.column_stack([centre_x[minimum_nodes], tree.node_value[minimum_nodes]])
    saddles = np.column_stack([saddle_x, tree.node_value[saddle_nodes]])
    finite = tree.values[np.isfinite(tree.values)]
    value_range = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)

    theta_node = int(tree.segmentation[basin.center_vertex])
    theta_y = basin.center_loss if np.isfinite(basin.center_loss) else value_range[1]
    basin_lowest = float(tree.node_value[basin.nodes].min())
    return Profile(
        polygons=polygons,
        minima=minima.reshape(-1, 2),
        saddles=saddles.reshape(-1, 2),
        width=total,
        value_range=value_range,
        extra={"n_roots": float(np.count_nonzero(kinds == ROOT))},
        basin=basin,
        basin_nodes=np.asarray([p.node for p in polygons if p.in_basin], dtype=np.int64),
        basin_slot=(
            float(slot_left[basin.top_node]),
            float(slot_left[basin.top_node] + tree.node_size[basin.top_node]),
        ),
        basin_range=(basin_lowest, float(basin.end_loss)),
        theta=np.array([centre_x[theta_node], theta_y], dtype=float),
        center_loss=float(reference),
        log_shift=shift,
        saddle_nodes=saddle_nodes.astype(np.int64),
        minimum_nodes=minimum_nodes.astype(np.int64),
    )
