"""Shape descriptors of a landscape around the trained model, from its merge tree.

The profile's story is the basin of the trained weights θ (the grid's centre vertex, or
the tree's recorded centre for scattered samples): a
narrow, deep funnel or a wide, shallow bowl. Two numbers capture it:

* the **trained basin** grows from the centre vertex's arc up the tree; at each saddle it
  absorbs the other children as long as they are smaller (by cumulative vertex count) and
  ends at the first saddle where another child is at least as large — it *merges into a
  larger basin* there — or at the root (the grid maximum) when that never happens. Its
  **share** is its vertex count over the grid's, its **depth** the number of decades
  between the loss at θ and the loss where it ends;
* the **share within a decade**: the fraction of grid vertices whose loss is at most ten
  times the loss at θ — small for a narrow funnel, large for a flat bowl;
* **log-loss persistence**: persistence measured on log10 of the loss (shifted to positive
  when the loss is not), so that one decade counts the same at 1e-4 and at 1e4 and a high
  rim does not swamp the basin. The merge tree itself is unchanged (log is monotone); only
  the persistence of each pair and the thresholds for "significant" branches change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from losstopo.topology.tree import MINIMUM, ROOT, MergeTree


def log_shift(values: np.ndarray) -> float:
    """Shift that makes every finite value positive before taking log10 (0 when they are)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0 or finite.min() > 0:
        return 0.0
    return float(-finite.min() + 1e-12 * max(1.0, float(np.abs(finite).max())))


def log_values(values: np.ndarray) -> np.ndarray:
    """log10 of the (shifted) values; +∞ stays +∞."""
    values = np.asarray(values, dtype=np.float64)
    shift = log_shift(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isfinite(values), np.log10(values + shift), np.inf)


def log_persistence(tree: MergeTree) -> np.ndarray:
    """Persistence of every pair on log10 loss (0 where birth and death are both non-finite)."""
    logs = log_values(tree.values)
    birth, death = logs[tree.pair_min], logs[tree.pair_saddle]
    with np.errstate(invalid="ignore"):
        out = death - birth
    return np.where(np.isfinite(birth), out, 0.0)


@dataclass
class TrainedBasin:
    """The basin of the centre vertex: its nodes, where it ends, its share and depth."""

    center_vertex: int
    top_node: int  # highest node of the basin: its subtree is the basin
    end_node: int  # the saddle where it merges into a larger basin, or the root
    nodes: np.ndarray  # every node in the subtree of ``top_node``
    size: int  # vertices in the basin
    fraction: float  # size / number of vertices
    center_loss: float
    end_loss: float  # loss where the basin ends (finite: capped at the largest finite loss)
    depth_decades: float  # log10 of end_loss over the loss at θ (after the log shift)


def center_vertex(shape: tuple[int, ...]) -> int:
    """Flat C-order index of the grid's centre (θ itself for odd resolutions)."""
    return int(np.ravel_multi_index(tuple(s // 2 for s in shape), shape))


def tree_center(tree: MergeTree) -> int:
    """The vertex of θ in ``tree``: the one it records (scattered points: row 0), else the
    grid's centre vertex."""
    return center_vertex(tree.shape) if tree.center is None else int(tree.center)


def trained_basin(tree: MergeTree, center: int | None = None) -> TrainedBasin:
    """The basin of ``center`` (default: θ's vertex, ``tree_center``); see the module
    docstring."""
    center = tree_center(tree) if center is None else int(center)
    children = tree.children()
    node = int(tree.segmentation[center])
    parent = int(tree.node_parent[node])
    if tree.node_kind[node] == ROOT or parent < 0:
        top, end = node, node
    else:
        top = node
        end = parent
        while True:
            others = [c for c in children[end] if c != top]
            if any(tree.node_size[c] >= tree.node_size[top] for c in others):
                break
            if tree.node_kind[end] == ROOT or tree.node_parent[end] < 0:
                top = end
                break
            top, end = end, int(tree.node_parent[end])
    stack, nodes = [top], []
    while stack:
        current = stack.pop()
        nodes.append(current)
        stack.extend(children[current])
    size = int(tree.node_size[top])
    finite = tree.values[np.isfinite(tree.values)]
    end_loss = float(tree.node_value[end])
    if not np.isfinite(end_loss):
        end_loss = float(finite.max()) if finite.size else np.inf
    center_loss = float(tree.values[center])
    shift = log_shift(tree.values)
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = float(np.log10(end_loss + shift) - np.log10(center_loss + shift))
    return TrainedBasin(
        center_vertex=center,
        top_node=top,
        end_node=end,
        nodes=np.sort(np.asarray(nodes, dtype=np.int64)),
        size=size,
        fraction=size / len(tree.values),
        center_loss=center_loss,
        end_loss=end_loss,
        depth_decades=depth if np.isfinite(depth) else float("nan"),
    )


def shape_descriptors(
    tree: MergeTree, log_threshold: float, center: int | None = None
) -> dict[str, float | int]:
    """The trained basin's share and depth, and counts and statistics of log-loss persistence
    (minima and saddles whose log10 persistence is ≥ ``log_threshold`` decades)."""
    from losstopo.topology.simplify import simplify_by

    basin = trained_basin(tree, center)
    persistence = log_persistence(tree)
    significant = persistence >= log_threshold
    simplified = simplify_by(tree, significant)
    positive = persistence[np.isfinite(persistence) & (persistence > 0)]
    logs = log_values(tree.values)
    within = np.count_nonzero(logs <= logs[basin.center_vertex] + 1.0) / len(tree.values)
    finite = tree.values[np.isfinite(tree.values)]
    quantiles = np.quantile(finite, [0.05, 0.5, 0.95]) if finite.size else [np.nan] * 3
    return {
        "center_loss": basin.center_loss,
        "basin_depth_decades": basin.depth_decades,
        "basin_fraction": basin.fraction,
        "basin_size": basin.size,
        "basin_end_loss": basin.end_loss,
        "center_is_minimum": int(_is_minimum_vertex(tree, basin.center_vertex)),
        "fraction_within_decade": float(within),
        "log_threshold_decades": float(log_threshold),
        "n_minima_above_log": int(np.count_nonzero(significant)) + tree.n_components,
        "n_saddles_above_log": simplified.n_saddles,
        "total_log_persistence": float(positive.sum()),
        "max_log_persistence": float(positive.max()) if positive.size else 0.0,
        "loss_q05": float(quantiles[0]),
        "loss_median": float(quantiles[1]),
        "loss_q95": float(quantiles[2]),
        "loss_max": float(finite.max()) if finite.size else float("nan"),
        "loss_range_decades": float(
            np.log10(finite.max() + log_shift(tree.values))
            - np.log10(finite.min() + log_shift(tree.values))
        )
        if finite.size
        else float("nan"),
    }


def _is_minimum_vertex(tree: MergeTree, vertex: int) -> bool:
    minima = tree.node_vertex[tree.node_kind == MINIMUM]
    return bool(np.any(minima == vertex))
