"""Merge trees: losstopo's compiled union-find sweep vs gudhi's cubical persistence.

Both compute the 0-dimensional sub-level-set persistence of the same array with full
(3ⁿ − 1) connectivity: gudhi as ``CubicalComplex(top_dimensional_cells=a)``. Arrays: a
smooth multi-well field and white noise on 41², 41³ and 41⁴ grids, one process; the pairs
are checked equal before the times are printed.

    python benchmarks/topology.py [--sizes 2 3 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import gudhi
import numpy as np

from losstopo.topology.mergetree import merge_tree


def smooth_field(dims: int, side: int = 41) -> np.ndarray:
    """A multi-well landscape: products of cosines on a bowl."""
    axes = np.meshgrid(*[np.linspace(-2, 2, side)] * dims, indexing="ij")
    field = sum(0.15 * x**2 for x in axes)
    for i in range(dims):
        field = field + np.cos(3.1 * axes[i] + 0.4 * i) * np.cos(2.3 * axes[(i + 1) % dims])
    return field


def gudhi_pairs(array: np.ndarray) -> list[tuple[float, float]]:
    complex_ = gudhi.CubicalComplex(top_dimensional_cells=array)
    complex_.compute_persistence(homology_coeff_field=2, min_persistence=-1)
    pairs = complex_.persistence_intervals_in_dimension(0)
    return sorted((b, d) for b, d in pairs if np.isfinite(d) and d > b)


def ours(array: np.ndarray) -> list[tuple[float, float]]:
    tree = merge_tree(array, "full")
    keep = tree.death > tree.birth
    return sorted(zip(tree.birth[keep].tolist(), tree.death[keep].tolist(), strict=True))


def median_seconds(fn, array: np.ndarray, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(array)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    merge_tree(np.random.default_rng(0).random((3, 3)))  # compile outside the timings
    header = f"{'field':<8} {'grid':<6} {'pairs':>7} {'losstopo s':>11} {'gudhi s':>9} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(0)
    for dims in args.sizes:
        for name, array in (("smooth", smooth_field(dims)), ("noise", rng.random((41,) * dims))):
            repeats = args.repeats if dims < 4 else 1
            ours_s, ours_pairs = median_seconds(ours, array, repeats)
            gudhi_s, reference = median_seconds(gudhi_pairs, array, repeats)
            if ours_pairs != reference:
                raise SystemExit(f"pairs differ from gudhi on {name} 41^{dims}")
            print(
                f"{name:<8} {f'41^{dims}':<6} {len(reference):>7} {ours_s:>11.3f} "
                f"{gudhi_s:>9.3f} {gudhi_s / ours_s:>6.1f}x"
            )
    print("ratio = gudhi seconds / losstopo seconds (medians; 41^4 timed once); pairs equal")


if __name__ == "__main__":
    main()
