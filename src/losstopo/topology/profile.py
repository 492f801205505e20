"""Topological landscape profile geometry (DESIGN §6.5), as plain data.

One polygon per merge-tree arc (the root has none). A node's width is its cumulative size;
children are laid side by side, widest first (or most persistent first), as a block
centred under their parent, recursively. An arc's polygon is symmetric about its centre:
at loss level y its width is the width of its children block plus the number of the arc's
vertices with loss ≤ y, from the lower node's value up to the upper node's value, where it
has the node's full width. Minima and saddles are marked. Drawing is separate
(``losstopo.plots.profile``), so the geometry is tested without pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from losstopo.topology.mergetree import MINIMUM, ROOT, SADDLE, MergeTree
from losstopo.topology.simplify import branch_minima


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


@dataclass
class Profile:
    polygons: list[ArcPolygon]
    minima: np.ndarray  # (m × 2) x, y of red markers
    saddles: np.ndarray  # (s × 2) x, y of orange markers
    width: float  # total width = number of vertices
    value_range: tuple[float, float]
    extra: dict[str, float] = field(default_factory=dict)


def _children(tree: MergeTree) -> list[list[int]]:
    children: list[list[int]] = [[] for _ in range(len(tree.node_vertex))]
    for node, parent in enumerate(tree.node_parent):
        if parent >= 0:
            children[parent].append(node)
    return children


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


def landscape_profile(
    tree: MergeTree, order: str = "width", max_points_per_arc: int = 400
) -> Profile:
    """Polygons and markers of the profile of ``tree`` (widths in numbers of vertices)."""
    children = _children(tree)
    key = _order_key(tree, order)
    roots = [int(n) for n in np.flatnonzero(tree.node_parent < 0)]
    total = float(sum(tree.node_size[r] for r in roots))
    center = np.zeros(len(tree.node_vertex))
    slot_left = np.zeros(len(tree.node_vertex))
    # roots side by side (one per connected component), widest first
    left = 0.0
    stack: list[int] = []
    for root in sorted(roots, key=lambda n: (-key[n], n)):
        slot_left[root] = left
        center[root] = left + tree.node_size[root] / 2
        left += float(tree.node_size[root])
        stack.append(root)
    while stack:
        node = stack.pop()
        kids = sorted(children[node], key=lambda n: (-key[n], n))
        block = float(sum(tree.node_size[k] for k in kids))
        x = center[node] - block / 2
        for kid in kids:
            slot_left[kid] = x
            center[kid] = x + tree.node_size[kid] / 2
            x += float(tree.node_size[kid])
            stack.append(kid)

    levels = arc_levels(tree)
    polygons = []
    for node in range(len(tree.node_vertex)):
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
        cx = center[node]
        x = np.concatenate([cx + half, (cx - half)[::-1]])
        y = np.concatenate([ys, ys[::-1]])
        polygons.append(
            ArcPolygon(
                node=node,
                x=x,
                y=y,
                center=cx,
                slot=(slot_left[node], slot_left[node] + float(tree.node_size[node])),
                lower=lower,
                upper=upper,
                fill=float(tree.arc_mean_loss[node]),
            )
        )
    kinds = tree.node_kind
    minima = np.column_stack([center[kinds == MINIMUM], tree.node_value[kinds == MINIMUM]])
    saddles = np.column_stack([center[kinds == SADDLE], tree.node_value[kinds == SADDLE]])
    finite = tree.values[np.isfinite(tree.values)]
    value_range = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    return Profile(
        polygons=polygons,
        minima=minima.reshape(-1, 2),
        saddles=saddles.reshape(-1, 2),
        width=total,
        value_range=value_range,
        extra={"n_roots": float(np.count_nonzero(kinds == ROOT))},
    )
