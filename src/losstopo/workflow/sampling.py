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
    grids = {grid["dims"] for grid in config["landscape"]["grids"]}
    if config["unet"]["enabled"]:
        grids.add(2)
    grids.update(dims for model in config.get("models") or [] for dims in model["dims"])
    grids -= {entry["dims"] for entry in config["landscape"]["scattered"]}
    return "|".join(str(dims) for dims in sorted(grids)) or "^$"
