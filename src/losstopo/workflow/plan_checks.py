"""Checks of a configured study that the schema cannot express: values each job would reject
later, reported before any job starts and named by their config key.

The Snakefile validates the config against its schema (types, ranges, defaults) and then calls
:func:`check_plan`; each message names the key as written in YAML (``config.hessian.max_hvp``)
and what it must satisfy. No Snakemake, torch or xarray here: a dry run stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from losstopo.workflow.analysis_settings import UNET_TOP_K, unet_analysed_epochs

SEED_LIMIT = 2**63  # numpy and torch generators take 64-bit seeds


def _seeds(value: Any, key: str) -> Iterator[tuple[str, Any]]:
    """Every seed in the config: keys named ``seed``, ``*_seed`` or ``seeds``."""
    if isinstance(value, dict):
        for name, item in value.items():
            where = f"{key}.{name}"
            if name == "seed" or name.endswith("_seed"):
                yield where, item
            elif name == "seeds" and isinstance(item, list):
                yield from ((f"{where}[{i}]", seed) for i, seed in enumerate(item))
            else:
                yield from _seeds(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _seeds(item, f"{key}[{index}]")


def _grids(config: dict[str, Any]) -> Iterator[tuple[str, int, int]]:
    """(config key, dims, resolution) of every grid landscape of every enabled problem."""
    if config["pinn"]["enabled"]:
        for index, grid in enumerate(config["landscape"]["grids"]):
            yield f"config.landscape.grids[{index}]", grid["dims"], grid["resolution"]
    if config["unet"]["enabled"]:
        yield "config.unet.landscape.resolution", 2, config["unet"]["landscape"]["resolution"]
    for index, model in enumerate(config.get("models") or []):
        for dims in model["dims"]:
            yield f"config.models[{index}].resolution", dims, model["resolution"]


def _top_ks(config: dict[str, Any]) -> Iterator[tuple[str, str, int]]:
    """(problem, what decides it, k) for the top-k Hessian pairs each problem computes."""
    landscape = config["landscape"]
    if config["pinn"]["enabled"]:
        dims = [g["dims"] for g in landscape["grids"]] + [s["dims"] for s in landscape["scattered"]]
        if dims:
            yield "pinn", "the largest PINN landscape dimension", max(dims)
    if config["unet"]["enabled"]:
        yield "unet", "the 2-D segmentation landscapes", UNET_TOP_K
    for index, model in enumerate(config.get("models") or []):
        yield "models", f"config.models[{index}].dims", max(model["dims"])


def _sweep_errors(config: dict[str, Any]) -> list[str]:
    """Analysed PINN cells outside the training sweep: the heat map has no such cell to
    mark. (Analysed seeds need not be swept: their runs are trained on demand.)"""
    pinn = config["pinn"]
    if not pinn["enabled"]:
        return []
    errors = []
    near = config["figures"].get("near_distance")
    if near is not None and near not in config["landscape"]["extent_distances"]:
        errors.append(
            f"config.figures.near_distance: {near:g} is not one of "
            "config.landscape.extent_distances (its landscapes come from the extent study)"
        )
    return errors + [
        f"config.pinn.analysis.cells[{index}]: beta {cell['beta']:g}, lr {cell['lr']:g} is "
        "not in the sweep (config.pinn.betas x config.pinn.learning_rates)"
        for index, cell in enumerate(pinn["analysis"]["cells"])
        if cell["beta"] not in pinn["betas"] or cell["lr"] not in pinn["learning_rates"]
    ]


def _unet_errors(config: dict[str, Any]) -> list[str]:
    """The segmentation study's cross-field rules: figures name analysed runs and
    checkpoints, and what ``train-unet`` would reject (even taps, a crop too small for the
    depth, a decay outside (0, 1])."""
    unet = config["unet"]
    if not unet["enabled"]:
        return []
    analysed = set(unet_analysed_epochs(unet))
    figures, seeds = unet["figures"], set(unet["analysis"]["seeds"])
    rules = [
        (max(analysed) > unet["epochs"], "analysis.epochs", f"epochs go up to {unet['epochs']}"),
        (
            not seeds <= set(unet["seeds"]),
            "analysis.seeds",
            "must be a subset of config.unet.seeds",
        ),
        (
            figures["profile_lr"] not in unet["learning_rates"],
            "figures.profile_lr",
            "must be one of config.unet.learning_rates",
        ),
        (
            not set(figures["profile_seeds"]) <= seeds,
            "figures.profile_seeds",
            "must be analysed seeds",
        ),
        (
            not set(figures["profile_epochs"]) <= analysed,
            "figures.profile_epochs",
            "must be analysed epochs",
        ),
        (
            not set(figures["compare_epochs"]) <= analysed,
            "figures.compare_epochs",
            "must be analysed epochs",
        ),
        (figures["compare_seed"] not in seeds, "figures.compare_seed", "must be an analysed seed"),
        (unet["landscape"]["resolution"] % 2 == 0, "landscape.resolution", "must be odd"),
        (unet["crf_taps"] % 2 == 0, "crf_taps", f"must be odd, got {unet['crf_taps']}"),
        (
            unet["image_size"] < 2 ** (unet["depth"] - 1),
            "image_size",
            f"{unet['image_size']} is too small for config.unet.depth {unet['depth']} "
            f"(needs >= {2 ** (unet['depth'] - 1)})",
        ),
        (not 0 < unet["gamma"] <= 1, "gamma", f"must be in (0, 1], got {unet['gamma']}"),
    ]
    return [f"config.unet.{key}: {message}" for failed, key, message in rules if failed]


def _landscape_errors(config: dict[str, Any]) -> list[str]:
    """One landscape per dimension, and the dimensions the figures and the extent study name
    configured; your models' names unique and grids odd."""
    landscape, errors = config["landscape"], []
    grids = [grid["dims"] for grid in landscape["grids"]]
    scattered = [entry["dims"] for entry in landscape["scattered"]]
    for key, dims in (("grids", grids), ("scattered", scattered)):
        if len(set(dims)) != len(dims):
            errors.append(f"config.landscape.{key}: each dimension may appear only once")
    if config["pinn"]["enabled"]:
        figures = config["figures"]
        for key, dims in [("profile_dims", figures["profile_dims"])] + [
            (f"compare_dims[{i}]", d) for i, d in enumerate(figures["compare_dims"])
        ]:
            if dims not in grids + scattered:
                errors.append(
                    f"config.figures.{key}: a {dims}-D profile needs a {dims}-D entry in "
                    "config.landscape.grids or config.landscape.scattered"
                )
        if landscape["extent_dims"] not in grids:
            dims = landscape["extent_dims"]
            errors.append(
                f"config.landscape.extent_dims: the {dims}-D extent study needs a {dims}-D "
                "entry in config.landscape.grids"
            )
    names: set[str] = set()
    for index, model in enumerate(config.get("models") or []):
        if model["name"] in names:
            errors.append(f"config.models[{index}].name: {model['name']} is used twice")
        names.add(model["name"])
        if model["resolution"] % 2 == 0:
            errors.append(f"config.models[{index}].resolution: {model['resolution']} must be odd")
    return errors


def plan_errors(config: dict[str, Any]) -> list[str]:
    """Every reason a job of this study would fail on its configured values, one line each."""
    from losstopo.workflow.models import user_code_errors
    from losstopo.workflow.study import Study

    errors = _landscape_errors(config) + _sweep_errors(config) + _unet_errors(config)
    errors += user_code_errors(config) + Study(config).errors()
    errors += [
        f"{key}: {seed} must be below 2**63 (a 64-bit seed)"
        for key, seed in _seeds(config, "config")
        if isinstance(seed, int) and not isinstance(seed, bool) and seed >= SEED_LIMIT
    ]
    topology_k = config["topology"]["k"]
    tiles = config["landscape"]["tiles"]
    for key, dims, resolution in _grids(config):
        if tiles > resolution:
            errors.append(
                f"config.landscape.tiles: {tiles} tiles exceed the {resolution} rows of the "
                f"{dims}-D grid of {key}"
            )
        if topology_k is not None and topology_k >= resolution**dims:
            errors.append(
                f"config.topology.k: {topology_k} neighbours need more than the "
                f"{resolution**dims} vertices of the {dims}-D grid of {key}"
            )
    if config["pinn"]["enabled"]:
        for index, entry in enumerate(config["landscape"]["scattered"]):
            points = entry["n_points"] + entry.get("center_points", 0)
            k = topology_k if topology_k is not None else 4 * entry["dims"]
            if k >= points:
                errors.append(
                    f"config.landscape.scattered[{index}].n_points: {points} samples cannot "
                    f"have {k} neighbours each (config.topology.k, default 4 x dims)"
                )
    max_hvp = config["hessian"]["max_hvp"]
    curvature = config["curvature"]
    for problem, reason, k in _top_ks(config):
        if max_hvp < k:
            errors.append(
                f"config.hessian.max_hvp: {max_hvp} Hessian-vector products cannot give the "
                f"top {k} pairs of {problem} ({reason})"
            )
        budget = curvature["budgets"][problem]
        needed = budget["trace_min_probes"] + (k if curvature["deflate"] else 0)
        if curvature["enabled"] and budget["trace_max_hvps"] < needed:
            deflation = f" plus the {k} deflated directions" if curvature["deflate"] else ""
            errors.append(
                f"config.curvature.budgets.{problem}.trace_max_hvps: "
                f"{budget['trace_max_hvps']} must cover trace_min_probes "
                f"({budget['trace_min_probes']}){deflation}"
            )
    return errors


def check_plan(config: dict[str, Any]) -> None:
    """Raise ``ValueError`` with every plan error, one per line (none: return)."""
    errors = plan_errors(config)
    if errors:
        raise ValueError("\n".join(errors))
