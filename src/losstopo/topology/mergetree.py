"""Sub-level-set merge (join) trees by the union-find sweep (Carr, Snoeyink & Axen 2003).

Vertices are added in order of (value, flat index); non-finite values count as +∞. A vertex
with no lower neighbour starts a minimum; one that joins ≥ 2 components is a saddle, where
every component but the elder (lowest minimum) dies — one persistence pair each. The sweep
uses path-halving and union by rank, on implicit grid neighbourhoods or on a CSR graph: the
k-NN graph of grid indices or of scattered points (``merge_tree_on_points``, for landscapes
sampled beyond four dimensions). One source serves two kernels: small sweeps run it
interpreted, large ones compiled by numba (see ``COMPILE_ABOVE_VISITS``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from losstopo.errors import LosstopoError
from losstopo.topology.neighbors import (
    GRID_CONNECTIVITIES,
    SYMMETRIZATIONS,
    default_k,
    grid_offsets,
    knn_graph,
)
from losstopo.topology.simplify import simplify_by
from losstopo.topology.tree import MINIMUM, ROOT, SADDLE, MergeTree
from losstopo.topology.tree import subtree_sizes as _subtree_sizes

__all__ = [
    "MINIMUM",
    "ROOT",
    "SADDLE",
    "MergeTree",
    "merge_tree",
    "merge_tree_on_graph",
    "merge_tree_on_points",
]


# A sweep visits every neighbour of every vertex once. Below this many visits the interpreted
# kernel (about 0.8 µs a visit) is done before numba could be imported and its cached kernel
# loaded (about 0.4 s, once per process: benchmarks/startup.py), so the small landscapes of
# a study never import numba. The compiled kernel is loaded as soon as the visits of this
# sweep plus those already interpreted in the process would exceed it (so a process never
# spends more than about twice the load time interpreting), and then serves every sweep.
COMPILE_ABOVE_VISITS = 500_000
_interpreted_visits = 0


def _sweep(order, shape, offsets, indptr, indices, use_grid):
    n = order.shape[0]
    dims = shape.shape[0]
    strides = np.ones(dims, dtype=np.int64)
    for d in range(dims - 2, -1, -1):
        strides[d] = strides[d + 1] * shape[d + 1]
    rank = np.empty(n, dtype=np.int64)
    for i in range(n):
        rank[order[i]] = i
    parent = np.arange(n)
    uf_rank = np.zeros(n, dtype=np.int8)
    comp_min = np.full(n, -1, dtype=np.int64)  # elder minimum vertex of a component root
    comp_node = np.full(n, -1, dtype=np.int64)  # node at the top of the component
    comp_top = np.full(n, -1, dtype=np.int64)  # highest vertex added to the component
    node_vertex = np.empty(2 * n + 1, dtype=np.int64)
    node_kind = np.empty(2 * n + 1, dtype=np.int8)
    node_parent = np.full(2 * n + 1, -1, dtype=np.int64)
    pair_min = np.empty(n, dtype=np.int64)
    pair_saddle = np.empty(n, dtype=np.int64)
    segmentation = np.empty(n, dtype=np.int64)
    n_nodes = 0
    n_pairs = 0
    roots = np.empty(max(offsets.shape[0], 1) if use_grid else n, dtype=np.int64)
    coord = np.empty(dims, dtype=np.int64)
    flat_offsets = np.zeros(offsets.shape[0], dtype=np.int64)
    for k in range(offsets.shape[0]):
        for d in range(dims):
            flat_offsets[k] += offsets[k, d] * strides[d]
    added = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        v = order[i]
        added[v] = True
        n_roots = 0
        if use_grid:
            rem = v
            interior = True
            for d in range(dims):
                coord[d] = rem // strides[d]
                rem -= coord[d] * strides[d]
                if coord[d] == 0 or coord[d] == shape[d] - 1:
                    interior = False
            count = offsets.shape[0]
        else:
            interior = False
            neighbours = indices[indptr[v] : indptr[v + 1]]
            count = neighbours.shape[0]
        # both neighbourhoods share this loop and its root collection; k counts from 0 (the
        # CSR row is a slice) so that numba can drop negative-index checks, which keeps the
        # compiled sweep as fast as separate loops per neighbourhood
        for k in range(count):
            if interior:
                u = v + flat_offsets[k]
            elif not use_grid:
                u = neighbours[k]
            else:
                u = 0
                inside = True
                for d in range(dims):
                    c = coord[d] + offsets[k, d]
                    if c < 0 or c >= shape[d]:
                        inside = False
                        break
                    u += c * strides[d]
                if not inside:
                    continue
            if not added[u] or u == v:
                continue
            r = u  # find, with path halving
            while parent[r] != r:
                parent[r] = parent[parent[r]]
                r = parent[r]
            seen = False
            for j in range(n_roots):
                if roots[j] == r:
                    seen = True
                    break
            if not seen:
                roots[n_roots] = r
                n_roots += 1
        if n_roots == 0:
            node_vertex[n_nodes] = v
            node_kind[n_nodes] = 0
            comp_min[v] = v
            comp_node[v] = n_nodes
            comp_top[v] = v
            segmentation[v] = n_nodes
            n_nodes += 1
            continue
        if n_roots == 1:
            r = roots[0]
            segmentation[v] = comp_node[r]
            # union v (a singleton) under r
            parent[v] = r
            comp_top[r] = v
            continue
        # saddle: the elder component (lowest minimum) survives, the others die here
        elder = roots[0]
        for j in range(1, n_roots):
            if rank[comp_min[roots[j]]] < rank[comp_min[elder]]:
                elder = roots[j]
        saddle = n_nodes
        node_vertex[saddle] = v
        node_kind[saddle] = 1
        n_nodes += 1
        segmentation[v] = saddle
        elder_min = comp_min[elder]
        for j in range(n_roots):
            r = roots[j]
            node_parent[comp_node[r]] = saddle
            if r != elder:
                pair_min[n_pairs] = comp_min[r]
                pair_saddle[n_pairs] = v
                n_pairs += 1
        # union all roots and v, by rank
        top = roots[0]
        for j in range(1, n_roots):
            a = top
            b = roots[j]
            if uf_rank[a] < uf_rank[b]:
                a, b = b, a
            parent[b] = a
            if uf_rank[a] == uf_rank[b]:
                uf_rank[a] += 1
            top = a
        parent[v] = top
        comp_min[top] = elder_min
        comp_node[top] = saddle
        comp_top[top] = v
    # one root node per connected component, at its highest vertex
    n_components = 0
    for v in range(n):
        if parent[v] == v:
            root = n_nodes
            node_vertex[root] = comp_top[v]
            node_kind[root] = 2
            node_parent[comp_node[v]] = root
            n_nodes += 1
            n_components += 1
    return (
        node_vertex[:n_nodes].copy(),
        node_kind[:n_nodes].copy(),
        node_parent[:n_nodes].copy(),
        pair_min[:n_pairs].copy(),
        pair_saddle[:n_pairs].copy(),
        segmentation,
        n_components,
    )


Kernels = tuple[Callable[..., tuple], Callable[[np.ndarray, np.ndarray], np.ndarray]]


@functools.cache
def compiled_kernels() -> Kernels:
    """The sweep and subtree-size kernels compiled by numba (cached on disk), loaded once
    per process."""
    import numba

    return numba.njit(cache=True)(_sweep), numba.njit(cache=True)(_subtree_sizes)


def kernels(visits: int) -> Kernels:
    """The kernels for a sweep of ``visits`` neighbour visits: the same source interpreted
    while this process's interpreted visits stay within ``COMPILE_ABOVE_VISITS``, otherwise
    (and once loaded) compiled."""
    global _interpreted_visits
    loaded = compiled_kernels.cache_info().currsize > 0
    if loaded or _interpreted_visits + visits > COMPILE_ABOVE_VISITS:
        return compiled_kernels()
    _interpreted_visits += visits
    return _sweep, _subtree_sizes


def sweep_order(values: np.ndarray) -> np.ndarray:
    """Vertices sorted by (value, index), non-finite values as +∞."""
    return np.argsort(values, kind="stable").astype(np.int64)


def finite_or_inf(array: np.ndarray) -> np.ndarray:
    flat = np.asarray(array, dtype=np.float64).ravel()
    return np.where(np.isfinite(flat), flat, np.inf)


def merge_tree(
    array: np.ndarray,
    connectivity: str = "full",
    k: int | None = None,
    symmetrize: str = "mutual",
    points: np.ndarray | None = None,
) -> MergeTree:
    """The sub-level-set merge tree of an n-D array.

    ``connectivity`` is one of ``full``, ``freudenthal``, ``axis`` (implicit grid graphs) or
    ``knn`` (symmetric k-nearest-neighbour graph of ``points``, default: the grid
    coordinates; ``k`` defaults to 4n, n the dimension of the points).
    """
    array = np.asarray(array)
    if array.size == 0:
        raise LosstopoError("cannot compute the merge tree of an empty array")
    values = finite_or_inf(array)
    shape = tuple(int(s) for s in array.shape) or (1,)
    dims = len(shape)
    if connectivity in GRID_CONNECTIVITIES:
        offsets = grid_offsets(dims, connectivity)
        return _tree_of(values, shape, connectivity, offsets=offsets)
    if connectivity == "knn":
        coords = points if points is not None else np.indices(shape).reshape(dims, -1).T
        coords = np.asarray(coords)
        if coords.ndim != 2 or len(coords) != values.size:
            raise LosstopoError(
                f"points has {len(coords)} rows but the array has {values.size} values"
            )
        k_used = default_k(coords.shape[1]) if k is None else int(k)
        graph = knn_graph(coords, k_used, symmetrize)
        return _tree_of(values, shape, connectivity, graph=graph, k=k_used, symmetrize=symmetrize)
    raise LosstopoError(
        f"unknown connectivity {connectivity!r} (choose full, freudenthal, axis or knn)"
    )


def merge_tree_on_points(
    values: np.ndarray,
    points: np.ndarray,
    k: int | None = None,
    symmetrize: str = "mutual",
    *,
    center: int | None = 0,
    workers: int = 1,
) -> MergeTree:
    """The sub-level-set merge tree of ``values`` at scattered ``points`` (N × d) on their
    exact symmetric k-NN graph (``k`` defaults to 4·d; ties in distance go to the smaller
    index, so the tree depends on the points and their order only).

    The tree's ``shape`` is (N,). ``center`` is the vertex of the trained weights θ, which
    shape descriptors and profiles use by default: row 0, where ``scattered_points`` puts
    the centre (None: the middle row, as for a 1-D grid). ``workers`` parallelises the
    neighbour queries without changing the graph.
    """
    values = np.asarray(values)
    points = np.asarray(points)
    if values.ndim != 1 or values.size == 0:
        raise LosstopoError(f"values must be a non-empty 1-D array, got shape {values.shape}")
    if points.ndim != 2 or len(points) != len(values):
        raise LosstopoError(
            f"points must be an (N x d) array with N = {len(values)} values, "
            f"got shape {points.shape}"
        )
    if symmetrize not in SYMMETRIZATIONS:
        raise LosstopoError(f"unknown symmetrization {symmetrize!r} (choose mutual or union)")
    if center is not None and not 0 <= int(center) < len(values):
        raise LosstopoError(f"center must be a vertex in 0..{len(values) - 1}, got {center}")
    k_used = default_k(points.shape[1]) if k is None else int(k)
    # scattered points rarely tie in distance, so a short first query suffices
    graph = knn_graph(points, k_used, symmetrize, workers=workers, query_size=k_used + 2)
    return merge_tree_on_graph(
        values, graph, connectivity="knn", k=k_used, symmetrize=symmetrize, center=center
    )


def merge_tree_on_graph(
    values: np.ndarray,
    graph: tuple[np.ndarray, np.ndarray],
    *,
    connectivity: str = "graph",
    k: int = 0,
    symmetrize: str = "",
    center: int | None = None,
) -> MergeTree:
    """The sub-level-set merge tree of ``values`` (N,) on a symmetric graph in CSR form
    (``indptr``, ``indices``), e.g. from ``knn_graph``; the labels are recorded as given."""
    values = np.asarray(values)
    indptr = np.asarray(graph[0], dtype=np.int64)
    indices = np.asarray(graph[1], dtype=np.int64)
    if values.ndim != 1 or values.size == 0:
        raise LosstopoError(f"values must be a non-empty 1-D array, got shape {values.shape}")
    n = len(values)
    if indptr.shape != (n + 1,) or indptr[-1] != len(indices):
        raise LosstopoError(f"graph is not a CSR graph on {n} vertices")
    if len(indices) and not (0 <= indices.min() and indices.max() < n):
        raise LosstopoError(f"graph has neighbours outside 0..{n - 1}")
    return _tree_of(
        finite_or_inf(values),
        (n,),
        connectivity,
        graph=(indptr, indices),
        k=k,
        symmetrize=symmetrize,
        center=None if center is None else int(center),
    )


def _tree_of(
    values: np.ndarray,
    shape: tuple[int, ...],
    connectivity: str,
    *,
    offsets: np.ndarray | None = None,
    graph: tuple[np.ndarray, np.ndarray] | None = None,
    k: int = 0,
    symmetrize: str = "",
    center: int | None = None,
) -> MergeTree:
    """The sweep on an implicit grid (``offsets``) or a CSR ``graph``, assembled as a tree."""
    order = sweep_order(values)
    dims = len(shape)
    if graph is None:
        indptr = indices = np.zeros(1, dtype=np.int64)
        use_grid = True
        visits = len(values) * len(offsets)
    else:
        indptr, indices = graph
        offsets = np.zeros((0, dims), dtype=np.int64)
        use_grid = False
        visits = len(indices)
    sweep, subtree_sizes = kernels(visits)
    (node_vertex, node_kind, node_parent, pair_min, pair_saddle, segmentation, n_comp) = sweep(
        order, np.asarray(shape, dtype=np.int64), offsets, indptr, indices, use_grid
    )
    n_nodes = len(node_vertex)
    arc_size = np.bincount(segmentation, minlength=n_nodes).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        sums = np.bincount(segmentation, weights=values, minlength=n_nodes)
        arc_mean = np.where(arc_size > 0, sums / np.maximum(arc_size, 1), np.nan)
    tree = MergeTree(
        shape=shape,
        values=values,
        node_vertex=node_vertex,
        node_kind=node_kind,
        node_parent=node_parent,
        node_size=subtree_sizes(node_parent, arc_size),
        arc_size=arc_size,
        arc_mean_loss=arc_mean,
        pair_min=pair_min,
        pair_saddle=pair_saddle,
        segmentation=segmentation,
        n_components=int(n_comp),
        connectivity=connectivity,
        k=k,
        symmetrize=symmetrize,
        center=center,
    )
    nonfinite_birth = ~np.isfinite(values[pair_min])
    if nonfinite_birth.any():
        # A minimum at +inf is an artefact of the sweep reaching a non-finite region before
        # its finite neighbours: its persistence is 0 and its branch is removed whole.
        tree = simplify_by(tree, ~nonfinite_birth)
    return tree
