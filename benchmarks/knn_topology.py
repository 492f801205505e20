"""k-NN merge trees of scattered samples: losstopo's exact k-NN graph and compiled sweep vs
gudhi's SimplexTree persistence on the same graph.

Points are the landscape sampler's (centre + scrambled Sobol in [−1, 1]ⁿ), values a smooth
multi-well test function or white noise, the graph the mutual k-NN graph with k = 4n. The
k-NN build is needed by both ways; the merge tree (union-find sweep on the CSR graph) is
timed against gudhi's ``insert_batch`` of the same vertices and edges (vertex at its value,
edge at the larger end value) plus ``compute_persistence``. The 0-dimensional pairs are
checked equal before the times are printed; times are medians over ``--repeats`` runs (one
run above 10⁵ points). gudhi is skipped, with a note, where its simplex tree would not fit
in the memory budget.

    python benchmarks/knn_topology.py [--quick] [--sizes N ...] [--dims 6 10] [--workers W]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import gudhi
import numpy as np

from losstopo.landscape.scattered import scattered_points
from losstopo.topology.mergetree import MergeTree, merge_tree_on_graph
from losstopo.topology.neighbors import default_k, knn_graph

GUDHI_BYTES_PER_SIMPLEX = 160  # measured ≈ 65 B per simplex for the tree, ×2.5 for persistence


def smooth_field(points: np.ndarray) -> np.ndarray:
    """A multi-well landscape on [−1, 1]ⁿ: products of cosines on a bowl."""
    x = 2.0 * points
    dims = x.shape[1]
    field = 0.15 * (x**2).sum(axis=1)
    for i in range(dims):
        field += np.cos(3.1 * x[:, i] + 0.4 * i) * np.cos(2.3 * x[:, (i + 1) % dims])
    return field


def available_memory_bytes() -> int:
    """MemAvailable from /proc/meminfo (Linux), else 8 GiB."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 * 2**30


def undirected_edges(graph: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    indptr, indices = graph
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    keep = rows < indices
    return rows[keep], indices[keep]


def gudhi_persistence(values: np.ndarray, edges: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """0-dim intervals of the graph's sub-level-set filtration, from a gudhi SimplexTree."""
    u, v = edges
    simplices = gudhi.SimplexTree()
    simplices.insert_batch(np.arange(len(values))[None, :], values)
    simplices.insert_batch(np.stack([u, v]), np.maximum(values[u], values[v]))
    simplices.compute_persistence(min_persistence=-1.0, persistence_dim_max=False)
    return simplices.persistence_intervals_in_dimension(0).reshape(-1, 2)


def finite_pairs(birth: np.ndarray, death: np.ndarray) -> list[tuple[float, float]]:
    keep = np.isfinite(death) & (death > birth)
    return sorted(zip(birth[keep].tolist(), death[keep].tolist(), strict=True))


def median_seconds(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10^4 and 10^5 points only")
    parser.add_argument("--sizes", type=int, nargs="+", help="numbers of points")
    parser.add_argument("--dims", type=int, nargs="+", default=[6, 10])
    parser.add_argument("--field", choices=["smooth", "noise"], default="smooth")
    parser.add_argument("--symmetrize", choices=["mutual", "union"], default="mutual")
    parser.add_argument("--repeats", type=int, default=3, help="runs per size up to 10^5")
    parser.add_argument("--workers", type=int, default=1, help="cKDTree query workers")
    parser.add_argument(
        "--gudhi-memory-gb",
        type=float,
        default=None,
        help="memory gudhi may use (default: half of the available memory)",
    )
    args = parser.parse_args()
    sizes = args.sizes or ([10**4, 10**5] if args.quick else [10**5, 10**6])
    budget = (
        args.gudhi_memory_gb * 2**30
        if args.gudhi_memory_gb is not None
        else available_memory_bytes() / 2
    )
    rng = np.random.default_rng(0)
    warm = rng.random(20)
    merge_tree_on_graph(warm, knn_graph(rng.random((20, 2)), 3))  # compile/load the sweep

    header = (
        f"{'points':>8} {'dims':>4} {'k':>3} {'edges':>9} {'pairs':>7} {'knn s':>8} "
        f"{'tree s':>8} {'gudhi s':>8} {'ratio':>7} {'total ratio':>11}"
    )
    print(f"field={args.field}, symmetrize={args.symmetrize}, workers={args.workers}")
    print(header)
    print("-" * len(header))
    notes = []
    for n in sizes:
        for dims in args.dims:
            repeats = args.repeats if n <= 10**5 else 1
            k = default_k(dims)
            points = scattered_points(dims, n, 1.0, sampling="sobol", seed=0)
            values = smooth_field(points) if args.field == "smooth" else rng.random(n)
            knn_s, graph = median_seconds(
                lambda p=points, k=k: knn_graph(
                    p, k, args.symmetrize, workers=args.workers, query_size=k + 2
                ),
                repeats,
            )
            tree_s, tree = median_seconds(
                lambda v=values, g=graph: merge_tree_on_graph(v, g), repeats
            )
            assert isinstance(tree, MergeTree)
            edges = undirected_edges(graph)
            n_edges = len(edges[0])
            ours = finite_pairs(tree.birth, tree.death)
            needed = GUDHI_BYTES_PER_SIMPLEX * (n + n_edges)
            if needed > budget:
                gudhi_text, ratio_text, total_text = "skipped", "-", "-"
                notes.append(
                    f"gudhi skipped at {n} points in {dims}-D: ~{needed / 2**30:.1f} GiB "
                    f"estimated > budget {budget / 2**30:.1f} GiB"
                )
            else:
                gudhi_s, intervals = median_seconds(
                    lambda v=values, e=edges: gudhi_persistence(v, e), repeats
                )
                reference = finite_pairs(intervals[:, 0], intervals[:, 1])
                essential = int(np.count_nonzero(np.isinf(intervals[:, 1])))
                if reference != ours or essential != tree.n_components:
                    raise SystemExit(f"pairs differ from gudhi at {n} points in {dims}-D")
                gudhi_text = f"{gudhi_s:8.3f}"
                ratio_text = f"{gudhi_s / tree_s:6.1f}x"
                total_text = f"{(knn_s + gudhi_s) / (knn_s + tree_s):10.2f}x"
            print(
                f"{n:>8} {dims:>4} {k:>3} {n_edges:>9} {len(ours):>7} {knn_s:>8.3f} "
                f"{tree_s:>8.3f} {gudhi_text:>8} {ratio_text:>7} {total_text:>11}",
                flush=True,
            )
    print(
        "ratio = gudhi s / tree s (persistence on the given graph); total ratio = "
        "(knn + gudhi) / (knn + tree); medians of the repeats; pairs equal where gudhi ran"
    )
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
