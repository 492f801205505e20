"""Scalar summaries of a merge tree and distances between persistence diagrams."""

from __future__ import annotations

import numpy as np

from losstopo.topology.simplify import simplify
from losstopo.topology.tree import MINIMUM, MergeTree


def finite_positive_persistence(tree: MergeTree) -> np.ndarray:
    p = tree.persistence
    return p[np.isfinite(p) & (p > 0)]


def persistence_entropy(persistence: np.ndarray) -> float:
    """Shannon entropy of the normalised persistences (0 for ≤ 1 pair)."""
    if persistence.size == 0:
        return 0.0
    share = persistence / persistence.sum()
    return float(-(share * np.log(share)).sum())


def summarize(tree: MergeTree, threshold: float) -> dict[str, float | int]:
    """Counts (all and with persistence ≥ ``threshold``, absolute), persistence statistics
    and the fraction of vertices in the largest basin at that threshold.

    Essential minima (one per connected component) count as above any threshold.
    """
    p = finite_positive_persistence(tree)
    above = int(np.count_nonzero((tree.persistence >= threshold) & (tree.persistence > 0)))
    minima_sizes = tree.node_size[tree.node_kind == MINIMUM]
    simplified = simplify(tree, threshold) if threshold > 0 else tree
    basin = simplified.node_size[simplified.node_kind == MINIMUM]
    n_total = len(tree.values)
    return {
        "n_minima": tree.n_minima,
        "n_saddles": tree.n_saddles,
        "n_components": tree.n_components,
        "n_pairs": len(tree.pair_min),
        "n_minima_above": above + tree.n_components,
        "n_saddles_above": simplified.n_saddles,
        "total_persistence": float(p.sum()),
        "mean_persistence": float(p.mean()) if p.size else 0.0,
        "max_persistence": float(p.max()) if p.size else 0.0,
        "persistence_entropy": persistence_entropy(p),
        "largest_basin_fraction": float(basin.max() / n_total) if basin.size else 1.0,
        "smallest_minimum_size": int(minima_sizes.min()) if minima_sizes.size else 0,
    }


def diagram(tree: MergeTree) -> np.ndarray:
    """Finite (birth, death) points with death > birth, as an (m × 2) array."""
    keep = tree.death > tree.birth
    return np.stack([tree.birth[keep], tree.death[keep]], axis=1).reshape(-1, 2)


def bottleneck_distance(a: MergeTree, b: MergeTree) -> float:
    import gudhi

    return float(gudhi.bottleneck_distance(diagram(a), diagram(b)))


def wasserstein_distance(a: MergeTree, b: MergeTree, order: float = 1.0) -> float:
    from gudhi.hera import wasserstein_distance as hera_wasserstein

    return float(hera_wasserstein(diagram(a), diagram(b), order=order, internal_p=np.inf))
