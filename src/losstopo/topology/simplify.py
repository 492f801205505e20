"""Persistence simplification of a merge tree.

Every branch (a minimum and the path it owns up to the saddle where it dies) with
persistence below the threshold is removed whole; its vertices join the arc that continues
above its death saddle. A saddle left with a single child becomes regular: its arc joins
the child that carries its elder branch. Nodes that keep their role keep their cumulative
size, since no vertex leaves the subtree it was in.
"""

from __future__ import annotations

import numpy as np

from losstopo.topology.tree import MINIMUM, SADDLE, MergeTree, subtree_sizes


def absolute_threshold(tree: MergeTree, threshold: float, relative: bool) -> float:
    """``threshold`` in loss units; relative thresholds scale the finite value range."""
    if not relative:
        return float(threshold)
    finite = tree.values[np.isfinite(tree.values)]
    span = float(finite.max() - finite.min()) if finite.size else 0.0
    return float(threshold) * span


def branch_minima(tree: MergeTree) -> np.ndarray:
    """For each node, the minimum vertex of the branch it lies on (elder rule)."""
    order_rank = np.empty(len(tree.values), dtype=np.int64)
    order_rank[np.argsort(tree.values, kind="stable")] = np.arange(len(tree.values))
    branch = np.full(len(tree.node_vertex), -1, dtype=np.int64)
    for node in range(len(tree.node_vertex)):  # children precede parents
        if tree.node_kind[node] == MINIMUM:
            branch[node] = tree.node_vertex[node]
        parent = tree.node_parent[node]
        if parent >= 0 and (
            branch[parent] < 0 or order_rank[branch[node]] < order_rank[branch[parent]]
        ):
            branch[parent] = branch[node]
    return branch


def simplify(tree: MergeTree, threshold: float) -> MergeTree:
    """Remove every branch whose persistence is < ``threshold`` (absolute, loss units)."""
    if threshold <= 0 or len(tree.pair_min) == 0:
        return tree
    return simplify_by(tree, tree.persistence >= threshold)


def simplify_by(tree: MergeTree, keep_pair: np.ndarray) -> MergeTree:
    """Remove the branch of every pair where ``keep_pair`` is false (e.g. persistence on a
    log scale below a threshold); essential branches always stay."""
    keep_pair = np.asarray(keep_pair, dtype=bool)
    if len(tree.pair_min) == 0 or keep_pair.all():
        return tree
    n_nodes = len(tree.node_vertex)
    kept_branch = np.ones(len(tree.values), dtype=bool)
    kept_branch[tree.pair_min] = keep_pair
    death_vertex = np.full(len(tree.values), -1, dtype=np.int64)
    death_vertex[tree.pair_min] = tree.pair_saddle
    saddle_node = {int(tree.node_vertex[n]): n for n in np.flatnonzero(tree.node_kind == SADDLE)}
    branch = branch_minima(tree)
    removed = ~kept_branch[branch]

    children = tree.children()
    regular = np.zeros(n_nodes, dtype=bool)
    elder_child = np.full(n_nodes, -1, dtype=np.int64)
    for node in np.flatnonzero((tree.node_kind == SADDLE) & ~removed):
        surviving = [c for c in children[node] if not removed[c]]
        elder_child[node] = next(c for c in children[node] if branch[c] == branch[node])
        regular[node] = len(surviving) < 2
    keep = ~removed & ~regular

    target = np.full(n_nodes, -1, dtype=np.int64)

    def resolve(node: int) -> int:
        path = []
        while target[node] < 0:
            path.append(node)
            if keep[node]:
                target[node] = node
                break
            if regular[node]:
                node = int(elder_child[node])
            else:
                node = saddle_node[int(death_vertex[branch[node]])]
        for visited in path:
            target[visited] = target[node]
        return int(target[node])

    for node in range(n_nodes):
        resolve(node)

    kept = np.flatnonzero(keep)
    new_id = np.full(n_nodes, -1, dtype=np.int64)
    new_id[kept] = np.arange(len(kept))
    new_parent = np.full(len(kept), -1, dtype=np.int64)
    for node in kept:
        parent = tree.node_parent[node]
        while parent >= 0 and not keep[parent]:
            parent = tree.node_parent[parent]
        new_parent[new_id[node]] = new_id[parent] if parent >= 0 else -1
    segmentation = new_id[target[tree.segmentation]]
    arc_size = np.bincount(segmentation, minlength=len(kept)).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        sums = np.bincount(segmentation, weights=tree.values, minlength=len(kept))
        arc_mean = np.where(arc_size > 0, sums / np.maximum(arc_size, 1), np.nan)
    surviving_pairs = keep_pair
    return MergeTree(
        shape=tree.shape,
        values=tree.values,
        node_vertex=tree.node_vertex[kept],
        node_kind=tree.node_kind[kept],
        node_parent=new_parent,
        node_size=subtree_sizes(new_parent, arc_size),
        arc_size=arc_size,
        arc_mean_loss=arc_mean,
        pair_min=tree.pair_min[surviving_pairs],
        pair_saddle=tree.pair_saddle[surviving_pairs],
        segmentation=segmentation,
        n_components=tree.n_components,
        connectivity=tree.connectivity,
        k=tree.k,
        symmetrize=tree.symmetrize,
        center=tree.center,
    )
