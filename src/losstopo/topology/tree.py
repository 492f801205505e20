"""The merge tree as data: node kinds, the tree's arrays and the cumulative arc sizes.

Its own module so that the sweep that builds trees (:mod:`~losstopo.topology.mergetree`) and
the simplification that prunes them (:mod:`~losstopo.topology.simplify`) both depend on it and
not on each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MINIMUM, SADDLE, ROOT = 0, 1, 2


def subtree_sizes(node_parent: np.ndarray, arc_size: np.ndarray) -> np.ndarray:
    """Cumulative sizes; children are always created before their parents."""
    size = arc_size.astype(np.int64).copy()
    for node in range(node_parent.shape[0]):
        p = node_parent[node]
        if p >= 0:
            size[p] += size[node]
    return size


@dataclass
class MergeTree:
    """A merge tree with its pairs and segmentation; arrays indexed by node / pair / vertex."""

    shape: tuple[int, ...]
    values: np.ndarray  # flat, non-finite mapped to +inf
    node_vertex: np.ndarray
    node_kind: np.ndarray
    node_parent: np.ndarray
    node_size: np.ndarray
    arc_size: np.ndarray
    arc_mean_loss: np.ndarray
    pair_min: np.ndarray
    pair_saddle: np.ndarray
    segmentation: np.ndarray  # flat: node whose arc holds each vertex
    n_components: int
    connectivity: str
    k: int = 0
    symmetrize: str = ""
    # vertex of the trained weights θ where it is not the grid's centre (scattered points:
    # row 0); None means the centre vertex of ``shape``
    center: int | None = None

    @property
    def node_value(self) -> np.ndarray:
        return self.values[self.node_vertex]

    @property
    def birth(self) -> np.ndarray:
        return self.values[self.pair_min]

    @property
    def death(self) -> np.ndarray:
        return self.values[self.pair_saddle]

    @property
    def persistence(self) -> np.ndarray:
        """death − birth; 0 between two non-finite values (a non-finite blob is no basin)."""
        birth, death = self.birth, self.death
        with np.errstate(invalid="ignore"):
            return np.where(np.isfinite(birth), death - birth, 0.0)

    @property
    def pairs(self):
        """Persistence pairs as a table: birth, death, persistence, min and saddle vertex."""
        import pandas as pd

        return pd.DataFrame(
            {
                "birth": self.birth,
                "death": self.death,
                "persistence": self.persistence,
                "min_vertex": self.pair_min,
                "saddle_vertex": self.pair_saddle,
            }
        )

    def children(self) -> list[list[int]]:
        """Child nodes of every node (children are created before their parents)."""
        children: list[list[int]] = [[] for _ in range(len(self.node_vertex))]
        for node, parent in enumerate(self.node_parent):
            if parent >= 0:
                children[int(parent)].append(node)
        return children

    @property
    def n_minima(self) -> int:
        return int(np.count_nonzero(self.node_kind == MINIMUM))

    @property
    def n_saddles(self) -> int:
        return int(np.count_nonzero(self.node_kind == SADDLE))
