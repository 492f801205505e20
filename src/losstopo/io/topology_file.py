"""``topology.nc``: a merge tree, its pairs and segmentation, with summaries."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from losstopo.io.netcdf import NetcdfContents, open_checked, write_dataset_atomic

if TYPE_CHECKING:  # the topology stage writes without xarray (a short, frequent job)
    import xarray as xr

    from losstopo.topology.tree import MergeTree

NODE_VARIABLES = [
    "node_vertex",
    "node_value",
    "node_kind",
    "node_parent",
    "node_size",
    "arc_size",
    "arc_mean_loss",
]
PAIR_VARIABLES = ["birth", "death", "min_vertex", "saddle_vertex"]


def topology_dataset(
    tree: MergeTree, axis_names: list[str], coords: dict[str, np.ndarray], attrs: dict[str, Any]
) -> NetcdfContents:
    """Nodes, pairs and the per-vertex segmentation on the landscape's grid."""
    node = {
        "node_vertex": tree.node_vertex,
        "node_value": tree.node_value,
        "node_kind": tree.node_kind.astype(np.int8),
        "node_parent": tree.node_parent,
        "node_size": tree.node_size,
        "arc_size": tree.arc_size,
        "arc_mean_loss": tree.arc_mean_loss,
    }
    pair = {
        "birth": tree.birth,
        "death": tree.death,
        "min_vertex": tree.pair_min,
        "saddle_vertex": tree.pair_saddle,
    }
    variables: dict[str, tuple[tuple[str, ...], np.ndarray, dict[str, Any]]] = {
        name: ((name,), np.asarray(values), {}) for name, values in coords.items()
    }
    variables.update({name: (("node",), values, {}) for name, values in node.items()})
    variables.update({name: (("pair",), values, {}) for name, values in pair.items()})
    variables["node_kind"][2].update(
        flag_values=np.array([0, 1, 2], dtype=np.int8), flag_meanings="minimum saddle root"
    )
    variables["segmentation"] = (
        tuple(axis_names),
        tree.segmentation.reshape(tree.shape),
        {"long_name": "node whose arc holds each vertex"},
    )
    return NetcdfContents(variables, dict(attrs))


def tree_dataset(
    tree: MergeTree, attrs: dict[str, Any] | None = None, coords: dict[str, Any] | None = None
) -> xr.Dataset:
    """The ``topology.nc`` dataset of a tree on its own (axes named a0, a1, …): its
    neighbourhood settings and counts as attributes, to which ``attrs`` adds."""
    names = [f"a{i}" for i in range(len(tree.shape))]
    base = {
        "connectivity": tree.connectivity,
        "k": tree.k,
        "symmetrize": tree.symmetrize,
        "n_minima": tree.n_minima,
        "n_saddles": tree.n_saddles,
        "n_components": tree.n_components,
    }
    return topology_dataset(tree, names, coords or {}, {**base, **(attrs or {})}).to_xarray()


def write_topology(dataset: xr.Dataset | NetcdfContents, path: str | Path) -> None:
    write_dataset_atomic(dataset, path)


def read_topology(path: str | Path) -> xr.Dataset:
    return open_checked(path, [*NODE_VARIABLES, *PAIR_VARIABLES, "segmentation"], "topology")


def tree_from_files(topology_path: str | Path, landscape_path: str | Path) -> MergeTree:
    """Rebuild a :class:`MergeTree` from ``topology.nc`` and the landscape it was computed on."""
    from losstopo.errors import LosstopoError
    from losstopo.io.landscape_file import is_scattered, read_landscape
    from losstopo.topology.mergetree import MergeTree, finite_or_inf

    topology = read_topology(topology_path)
    landscape = read_landscape(landscape_path)
    loss = landscape["loss"].values
    if topology["segmentation"].shape != loss.shape:
        raise LosstopoError(
            f"{topology_path} does not match {landscape_path}: segmentation shape "
            f"{topology['segmentation'].shape} vs landscape {loss.shape}"
        )
    return MergeTree(
        shape=tuple(loss.shape),
        values=finite_or_inf(loss),
        node_vertex=topology["node_vertex"].values.astype(np.int64),
        node_kind=topology["node_kind"].values.astype(np.int8),
        node_parent=topology["node_parent"].values.astype(np.int64),
        node_size=topology["node_size"].values.astype(np.int64),
        arc_size=topology["arc_size"].values.astype(np.int64),
        arc_mean_loss=topology["arc_mean_loss"].values,
        pair_min=topology["min_vertex"].values.astype(np.int64),
        pair_saddle=topology["saddle_vertex"].values.astype(np.int64),
        segmentation=topology["segmentation"].values.ravel().astype(np.int64),
        n_components=int(topology.attrs.get("n_components", 1)),
        connectivity=str(topology.attrs.get("connectivity", "")),
        k=int(topology.attrs.get("k", 0)),
        symmetrize=str(topology.attrs.get("symmetrize", "")),
        center=int(landscape.attrs.get("center_point", 0)) if is_scattered(landscape) else None,
    )
