"""A merge tree as a drawable skeleton: its arcs as node pairs and the persistence of each
node, so that a viewer can draw the tree next to its landscape and filter it by persistence.

numpy only: it works on the arrays a ``topology.nc`` holds (``node_*`` and the pairs).
"""

from __future__ import annotations

import numpy as np

from losstopo.errors import LosstopoError
from losstopo.topology.tree import MINIMUM, ROOT, SADDLE


def node_persistence(
    node_vertex: np.ndarray,
    node_kind: np.ndarray,
    node_parent: np.ndarray,
    node_value: np.ndarray,
    pair_min: np.ndarray,
    pair_saddle: np.ndarray,
    pair_birth: np.ndarray,
    pair_death: np.ndarray,
) -> np.ndarray:
    """The persistence each node takes part in: a minimum's pair (death − birth); a
    saddle's largest pair (the branch that ends there); and, as TTK pairs the global minimum
    with the global maximum, the essential minimum of a component and its root share that
    component's range (root value − minimum value). 0 where a birth is not finite."""
    n = len(node_vertex)
    persistence = np.zeros(n, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        pairs = np.where(np.isfinite(pair_birth), pair_death - pair_birth, 0.0)
    by_min = dict(zip(pair_min.tolist(), pairs.tolist(), strict=True))
    by_saddle: dict[int, float] = {}
    for vertex, value in zip(pair_saddle.tolist(), pairs.tolist(), strict=True):
        by_saddle[vertex] = max(value, by_saddle.get(vertex, -np.inf))
    for node in range(n):
        vertex, kind = int(node_vertex[node]), int(node_kind[node])
        if kind == SADDLE:
            persistence[node] = by_saddle.get(vertex, 0.0)
        elif kind == MINIMUM and vertex in by_min:
            persistence[node] = by_min[vertex]
        elif kind == MINIMUM:  # the elder minimum of its component: up to the root
            root = _root_of(node, node_parent)
            span = node_value[root] - node_value[node]
            persistence[node] = span if np.isfinite(node_value[node]) else 0.0
            persistence[root] = persistence[node]
        elif kind != ROOT:
            raise LosstopoError(f"node {node} has unknown kind {kind}")
    return persistence


def tree_arcs(node_parent: np.ndarray) -> np.ndarray:
    """The arcs (E × 2 node indices): each node with a parent, then that parent."""
    node_parent = np.asarray(node_parent, dtype=np.int64)
    children = np.flatnonzero(node_parent >= 0)
    return np.stack([children, node_parent[children]], axis=1).reshape(-1, 2)


def _root_of(node: int, node_parent: np.ndarray) -> int:
    seen = 0
    while node_parent[node] >= 0:
        node = int(node_parent[node])
        seen += 1
        if seen > len(node_parent):
            raise LosstopoError("the merge tree's parents form a cycle")
    return node
