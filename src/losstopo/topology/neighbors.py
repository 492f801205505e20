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


def knn_graph(
    points: np.ndarray, k: int, symmetrize: str = "mutual"
) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric k-nearest-neighbour graph of ``points`` (N × d) in CSR form (indptr, indices).

    Neighbours are exact (cKDTree); ties in distance are broken by the smaller index, so the
    graph does not depend on the order the tree returns equidistant points. ``mutual`` keeps
    an edge when each end is among the other's k nearest, ``union`` when either is.
    """
    from scipy.sparse import coo_matrix  # scipy only where a k-NN graph is built
    from scipy.spatial import cKDTree

    points = np.asarray(points, dtype=np.float64)
    n = len(points)
    if symmetrize not in SYMMETRIZATIONS:
        raise LosstopoError(f"unknown symmetrization {symmetrize!r} (choose mutual or union)")
    if not 1 <= k < n:
        raise LosstopoError(f"k must be between 1 and the number of points - 1 ({n - 1}), got {k}")
    tree = cKDTree(points)
    # Query generously, then order candidates by (distance, index) and keep k of them.
    extra = min(n, k + 1 + max(8, k))
    distances, indices = tree.query(points, k=extra)
    rows, cols = [], []
    for i in range(n):
        keep = indices[i] != i
        d, j = distances[i][keep], indices[i][keep]
        order = np.lexsort((j, d))
        chosen = j[order][:k]
        # a tie at the k-th distance continuing past the queried candidates is resolved
        # by index among those seen; widen the query if the boundary is a tie
        if len(d) and len(chosen) == k and extra < n and d[order][k - 1] == d.max():
            dd, jj = tree.query(points[i], k=n)
            keep2 = jj != i
            order2 = np.lexsort((jj[keep2], dd[keep2]))
            chosen = jj[keep2][order2][:k]
        rows.extend([i] * len(chosen))
        cols.extend(chosen.tolist())
    directed = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n)).tocsr()
    both = directed.multiply(directed.T) if symmetrize == "mutual" else directed.maximum(directed.T)
    both = both.tocsr()
    both.sort_indices()
    return both.indptr.astype(np.int64), both.indices.astype(np.int64)


def grid_points(shape: tuple[int, ...], axes: list[np.ndarray] | None = None) -> np.ndarray:
    """Coordinates of all grid vertices in C order (for k-NN on a grid)."""
    if axes is None:
        axes = [np.arange(s, dtype=np.float64) for s in shape]
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)
