"""k-NN graph on grid indices: batched queries with tie widening vs one query per point.

On a grid most points have ties at their k-th distance; a point-by-point loop that widens a
tied query to all N points is O(N²). Prints both times and their ratio in one run, after
checking that the two graphs are equal.

    python benchmarks/knn_graph.py
"""

from __future__ import annotations

import time

import numpy as np
from scipy.sparse import coo_matrix
from scipy.spatial import cKDTree

from losstopo.topology.neighbors import knn_graph


def knn_graph_per_point(points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The naive way: one (distance, index)-ordered query per point, widened to all points
    when the k-th distance ties with the farthest candidate (mutual symmetrisation)."""
    n = len(points)
    tree = cKDTree(points)
    extra = min(n, k + 1 + max(8, k))
    distances, indices = tree.query(points, k=extra)
    rows, cols = [], []
    for i in range(n):
        keep = indices[i] != i
        d, j = distances[i][keep], indices[i][keep]
        order = np.lexsort((j, d))
        chosen = j[order][:k]
        if extra < n and d[order][k - 1] == d.max():
            dd, jj = tree.query(points[i], k=n)
            keep2 = jj != i
            chosen = jj[keep2][np.lexsort((jj[keep2], dd[keep2]))][:k]
        rows.extend([i] * len(chosen))
        cols.extend(chosen.tolist())
    directed = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n))
    directed = directed.tocsr()
    both = directed.multiply(directed.T).tocsr()
    both.sort_indices()
    return both.indptr.astype(np.int64), both.indices.astype(np.int64)


def main() -> None:
    print(f"{'grid':<12} {'k':>3} {'batched s':>10} {'per point s':>12} {'ratio':>7}")
    for shape in [(21, 21, 21), (9, 9, 9, 9), (11, 11, 11, 11)]:
        points = np.indices(shape).reshape(len(shape), -1).T.astype(np.float64)
        k = 4 * len(shape)
        start = time.perf_counter()
        fast = knn_graph(points, k, "mutual")
        batched = time.perf_counter() - start
        start = time.perf_counter()
        slow = knn_graph_per_point(points, k)
        naive = time.perf_counter() - start
        assert all(np.array_equal(a, b) for a, b in zip(fast, slow, strict=True))
        name = "x".join(map(str, shape))
        print(f"{name:<12} {k:>3} {batched:10.3f} {naive:12.3f} {naive / batched:7.0f}x")


if __name__ == "__main__":
    main()
