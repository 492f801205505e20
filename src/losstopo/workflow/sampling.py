"""How each configured landscape dimension is sampled, as ``losstopo landscape`` options: a
grid's ``--resolution``, or scattered samples (``--sampling``, ``--n-points``, ``--seed``,
and the inner cube around θ)."""

from __future__ import annotations

from typing import Any


def sampling_options(landscape: dict[str, Any]) -> dict[int, list[str]]:
    """Options per dimension of the ``landscape`` config section (grids, then scattered)."""
    options = {
        grid["dims"]: ["--resolution", str(grid["resolution"])] for grid in landscape["grids"]
    }
    for entry in landscape["scattered"]:
        options[entry["dims"]] = [
            "--sampling",
            entry.get("sampling", "sobol"),
            "--n-points",
            str(entry["n_points"]),
            "--seed",
            str(entry.get("seed", 0)),
            "--center-points",
            str(entry.get("center_points", 0)),
            "--center-scale",
            str(entry.get("center_scale", 0.1)),
        ]
    return options


def untiled_dims(landscape: dict[str, Any]) -> str:
    """Regex of the landscape dimensions that are one job each: all when there is one tile,
    otherwise the scattered ones (tiles split grids along their first axis; see
    :func:`tiled_dims`)."""
    if landscape["tiles"] == 1:
        return r"\d+"
    return "|".join(str(entry["dims"]) for entry in landscape["scattered"]) or "^$"


def tiled_dims(config: dict[str, Any]) -> str:
    """Regex of the landscape dimensions split into tiles when ``tiles`` > 1: every grid (the
    PINN's, the UNet's 2-D ones, your models'), none of the scattered dimensions."""
    from losstopo.workflow.study import Study

    grids = Study(config).grid_dims()
    grids -= {entry["dims"] for entry in config["landscape"]["scattered"]}
    return "|".join(str(dims) for dims in sorted(grids)) or "^$"


def merge_tree_file(
    config: dict[str, Any], directory: str, dims: int, distance: str, connectivity: str
) -> str:
    """The merge tree of a checkpoint's landscape with one connectivity (k-NN for a
    scattered landscape, which has no grid)."""
    from losstopo.workflow.paths import topology_file

    if any(entry["dims"] == dims for entry in config["landscape"]["scattered"]):
        connectivity = "knn"
    return topology_file(directory, dims, distance, connectivity)


def connectivities(config: dict[str, Any]) -> list[str]:
    """The configured connectivity first, then those the tables compare it with."""
    chosen = config["topology"]["connectivity"]
    return [chosen, *(c for c in config["topology"]["compare_connectivities"] if c != chosen)]
