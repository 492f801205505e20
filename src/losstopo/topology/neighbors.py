"""Neighbourhoods of grid vertices (implicit, never stored) and of scattered points (k-NN).

Only the 1-skeleton matters for a merge tree (0-dimensional persistence), so each
connectivity is a graph on the vertices:
``full`` — all 3ⁿ − 1 offsets in {−1, 0, 1}ⁿ (the paper's pixel connectivity; the graph of
gudhi's ``CubicalComplex(top_dimensional_cells=…)`` on the dual grid);
``freudenthal`` — the 2(2ⁿ − 1) offsets whose non-zero entries share one sign (Kuhn /
Freudenthal triangulation of the grid along the all-positive diagonal; TTK also triangulates
images, but its choice of diagonal is not reproduced here);
``axis`` — the 2n unit offsets (gudhi's ``CubicalComplex(vertices=…)``).
"""

from __future__ import annotations

import itertools

import numpy as np

from losstopo.errors import LosstopoError

GRID_CONNECTIVITIES = ("full", "freudenthal", "axis")
CONNECTIVITIES = (*GRID_CONNECTIVITIES, "knn")
SYMMETRIZATIONS = ("mutual", "union")


def grid_offsets(dims: int, connectivity: str) -> np.ndarray:
    """Neighbour offsets (K × dims, int64) of a grid connectivity."""
    if connectivity not in GRID_CONNECTIVITIES:
        raise LosstopoError(
            f"unknown grid connectivity {connectivity!r} (choose {', '.join(GRID_CONNECTIVITIES)})"
        )
    offsets = []
    for delta in itertools.product((-1, 0, 1), repeat=dims):
        nonzero = [d for d in delta if d != 0]
        if not nonzero:
            continue
        if connectivity == "axis" and len(nonzero) != 1:
            continue
        if connectivity == "freudenthal" and len(set(nonzero)) != 1:
            continue
        offsets.append(delta)
    return np.asarray(offsets, dtype=np.int64).reshape(-1, dims)


def default_k(dims: int) -> int:
    """The paper's neighbourhood size for a k-NN graph in ``dims`` dimensions: k = 4·dims."""
    return 4 * int(dims)


def knn_graph(
    points: np.ndarray,
    k: int | None = None,
    symmetrize: str = "mutual",
    *,
    workers: int = 1,
    query_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric k-nearest-neighbour graph of ``points`` (N × d) in CSR form (indptr, indices).

    Neighbours are exact (cKDTree); ties in distance are broken by the smaller index, so the
    graph does not depend on the order the tree returns equidistant points. ``mutual`` keeps
    an edge when each end is among the other's k nearest, ``union`` when either is. ``k``
    defaults to 4·d. ``workers`` is passed to the tree queries (-1: all cores); the graph does
    not depend on it. ``query_size`` is the number of candidates of the first query (default
    k + 1 + max(8, k), generous for grids, where equidistant shells are the rule; k + 2 suits
    scattered points, where ties are rare); the graph does not depend on it either.
    """
    from scipy.sparse import coo_matrix  # scipy only where a k-NN graph is built
    from scipy.spatial import cKDTree

    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2:
        raise LosstopoError(f"points must be an (N x d) array, got shape {points.shape}")
    n = len(points)
    k = default_k(points.shape[1]) if k is None else int(k)
    if symmetrize not in SYMMETRIZATIONS:
        raise LosstopoError(f"unknown symmetrization {symmetrize!r} (choose mutual or union)")
    if not 1 <= k < n:
        raise LosstopoError(f"k must be between 1 and the number of points - 1 ({n - 1}), got {k}")
    tree = cKDTree(points)
    first = k + 1 + max(8, k) if query_size is None else max(k + 2, int(query_size))
    first = min(n, first)
    chosen = np.empty((n, k), dtype=np.int64)
    # rows in batches, so the candidate arrays stay small at 10^6 points
    batch = max(1, 2**22 // first)
    for begin in range(0, n, batch):
        rows = np.arange(begin, min(n, begin + batch))
        chosen[rows] = _nearest(tree, points, rows, k, first, workers)
    rows = np.repeat(np.arange(n), k)
    cols = chosen.ravel()
    directed = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n)).tocsr()
    both = directed.multiply(directed.T) if symmetrize == "mutual" else directed.maximum(directed.T)
    both = both.tocsr()
    both.sort_indices()
    return both.indptr.astype(np.int64), both.indices.astype(np.int64)


def _nearest(tree, points: np.ndarray, rows: np.ndarray, k: int, count: int, workers: int):
    """The k nearest other points of each of ``rows``, ordered by (distance, index)."""
    n = len(points)
    chosen = np.empty((len(rows), k), dtype=np.int64)
    pending = np.arange(len(rows))
    # Query, order the candidates by (distance, index) and keep k of them. Where the k-th
    # distance ties with the farthest candidate returned, equidistant points may lie beyond
    # the query: those points are queried again with twice as many candidates.
    while pending.size:
        distances, indices = tree.query(points[rows[pending]], k=count, workers=workers)
        distances = distances.reshape(len(pending), -1)
        indices = indices.reshape(len(pending), -1)
        own = indices == rows[pending][:, None]
        distances = np.where(own, np.inf, distances)
        indices = np.where(own, n, indices)
        order = np.lexsort((indices, distances), axis=-1)
        distances = np.take_along_axis(distances, order, axis=-1)
        indices = np.take_along_axis(indices, order, axis=-1)
        farthest = np.max(np.where(np.isfinite(distances), distances, -np.inf), axis=-1)
        resolved = (distances[:, k - 1] < farthest) | (count >= n)
        chosen[pending[resolved]] = indices[resolved, :k]
        pending = pending[~resolved]
        count = min(n, 2 * count)
    return chosen


def grid_points(shape: tuple[int, ...], axes: list[np.ndarray] | None = None) -> np.ndarray:
    """Coordinates of all grid vertices in C order (for k-NN on a grid)."""
    if axes is None:
        axes = [np.arange(s, dtype=np.float64) for s in shape]
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)
