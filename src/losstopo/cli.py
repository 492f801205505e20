"""Command line: the workflow's only entry into the library (DESIGN §5)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from losstopo import __version__
from losstopo.errors import LosstopoError

log = logging.getLogger("losstopo")


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line, naming the flag and value at fault."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def _add_runtime(parser: argparse.ArgumentParser, device: bool = True) -> None:
    parser.add_argument(
        "--threads", type=_positive_int, default=1, help="CPU threads for torch (default: 1)"
    )
    if device:
        parser.add_argument(
            "--device",
            choices=("auto", "cpu", "cuda"),
            default="auto",
            help="compute device; auto = CUDA when present (default: auto)",
        )


def _add_objective_options(parser: argparse.ArgumentParser) -> None:
    """Choices of the data an objective is evaluated on (problems that have such data)."""
    group = parser.add_argument_group("objective data (segmentation checkpoints)")
    group.add_argument(
        "--bn-mode",
        choices=("eval", "batch"),
        default=None,
        help="BatchNorm uses its running statistics (eval) or the fixed batch's own "
        "statistics (batch) (default: eval)",
    )
    group.add_argument(
        "--objective-batch",
        type=_positive_int,
        default=None,
        help="training images in the fixed loss batch (default: 32)",
    )
    group.add_argument(
        "--objective-batch-seed",
        type=int,
        default=None,
        help="seed choosing the images of the fixed batch (default: 0)",
    )
    group.add_argument(
        "--data",
        default=None,
        help="dataset directory (default: the one the checkpoint was trained on)",
    )


def _objective_options(args: argparse.Namespace) -> dict[str, object]:
    return {
        "bn_mode": args.bn_mode,
        "batch_size": args.objective_batch,
        "batch_seed": args.objective_batch_seed,
        "data_dir": args.data,
    }


def _cmd_train_pinn(args: argparse.Namespace) -> None:
    from losstopo.atomic import ensure_writable_dir
    from losstopo.pinn_run import write_pinn_run
    from losstopo.problems.convection import PINNConfig
    from losstopo.runtime import resolve_device, set_threads

    config = PINNConfig(
        beta=args.beta,
        lr=args.lr,
        optimizer=args.optimizer,
        iterations=args.iterations,
        n_f=args.n_f,
        collocation_seed=args.collocation_seed,
        hidden=tuple(args.hidden),
        activation=args.activation,
        dtype=args.dtype,
    )
    out = Path(args.out)
    ensure_writable_dir(out)
    set_threads(args.threads)
    device = resolve_device(args.device)
    metrics = write_pinn_run(config, args.seed, device, out, threads=args.threads)
    status = "DIVERGED" if metrics["diverged"] else "ok"
    log.info(
        "beta=%g lr=%g seed=%d: relative L2 error %.4e, loss %.4e, %d iterations, %.1f s [%s]",
        config.beta,
        config.lr,
        args.seed,
        metrics["relative_l2_error"],
        metrics["final_loss"],
        metrics["iterations"],
        metrics["seconds"],
        status,
    )


def _cmd_pinn_table(args: argparse.Namespace) -> None:
    from losstopo.tables import pinn_table, write_csv_atomic

    table = pinn_table(args.metrics)
    write_csv_atomic(table, args.out)
    log.info("wrote %d runs to %s", len(table), args.out)


def _cmd_topology_table(args: argparse.Namespace) -> None:
    from losstopo.tables import topology_table, write_csv_atomic

    table = topology_table(args.topology, args.metrics)
    write_csv_atomic(table, args.out)
    log.info("wrote %d topologies to %s", len(table), args.out)


def _cmd_figure_pinn_heatmap(args: argparse.Namespace) -> None:
    import pandas as pd

    from losstopo.plots.common import save_figure
    from losstopo.plots.heatmap import error_heatmap
    from losstopo.tables import mean_error_grid

    path = Path(args.table)
    if not path.is_file():
        raise LosstopoError(f"table {path} does not exist")
    table = pd.read_csv(path)
    grid = mean_error_grid(table, args.value)
    n_seeds = int(table.groupby(["beta", "lr"]).size().max())
    save_figure(error_heatmap(grid, n_seeds, title=args.title), args.out)
    log.info("wrote %s", ", ".join(args.out))


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _cmd_hessian(args: argparse.Namespace) -> None:
    from losstopo.api import hessian_eigenpairs
    from losstopo.atomic import ensure_writable_dir
    from losstopo.checkpoint import load_checkpoint, load_objective
    from losstopo.hessian_file import hessian_dataset, write_hessian
    from losstopo.provenance import base_provenance, source_provenance
    from losstopo.runtime import resolve_device, resolve_dtype, set_threads

    set_threads(args.threads)
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype)
    checkpoint = load_checkpoint(args.checkpoint)
    objective = load_objective(args.checkpoint, device, dtype, **_objective_options(args))
    if not 1 <= args.top_k <= objective.n_parameters:
        raise LosstopoError(
            f"--top-k {args.top_k} must be between 1 and the parameter count "
            f"{objective.n_parameters} of {args.checkpoint}"
        )
    out = Path(args.out)
    ensure_writable_dir(out.parent)
    result = hessian_eigenpairs(
        objective,
        args.top_k,
        args.method,
        args.which,
        args.tol,
        args.max_hvp,
        args.max_iter,
        args.seed,
        show_progress=True,
    )
    for index in range(args.top_k):
        if not result.converged[index]:
            log.warning(
                "eigenpair %d (lambda=%.6g) did not converge: residual %.3g > tol %.3g",
                index,
                result.eigenvalues[index],
                result.residuals[index],
                args.tol,
            )
    attrs = {
        **base_provenance(),
        **source_provenance(args.checkpoint),
        "problem": str(checkpoint["problem"]),
        "problem_hparams": checkpoint["hparams"],
        "checkpoint_seed": int(checkpoint["seed"]),
        "seed": args.seed,
        "max_hvp": args.max_hvp,
        "max_iter": args.max_iter if args.method == "power" else 0,
        "dtype": args.dtype,
        "device": str(device),
        "threads": args.threads,
        "checkpoint_epoch": int(checkpoint.get("epoch", checkpoint.get("iteration", -1))),
        **{
            key: objective.metadata[key]
            for key in ("bn_mode", "objective_batch_size", "objective_batch_seed")
            if key in objective.metadata
        },
    }
    write_hessian(hessian_dataset(result, objective, attrs), out)
    log.info(
        "%s: top-%d eigenvalues %s, max residual %.2e, %d HVPs, %.1f s",
        args.checkpoint,
        args.top_k,
        ", ".join(f"{v:.6g}" for v in result.eigenvalues),
        float(result.residuals.max()),
        result.n_hvp,
        result.seconds,
    )


def _cmd_landscape(args: argparse.Namespace) -> None:
    import numpy as np

    from losstopo.api import sample_landscape
    from losstopo.atomic import ensure_writable_dir
    from losstopo.checkpoint import load_checkpoint, load_objective
    from losstopo.directions import hessian_directions
    from losstopo.hessian_file import read_hessian
    from losstopo.landscape import grid_axes
    from losstopo.landscape_file import write_landscape
    from losstopo.provenance import sha256_of, source_provenance
    from losstopo.runtime import resolve_device, resolve_dtype, set_threads

    grid_axes(args.dims, args.resolution, args.distance)  # validate before any work
    set_threads(args.threads)
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype)
    checkpoint = load_checkpoint(args.checkpoint)
    hessian = read_hessian(args.directions)
    objective = load_objective(args.checkpoint, device, dtype, **_objective_options(args))
    directions, eigenvalues = hessian_directions(
        hessian, objective, args.dims, args.normalization, str(args.directions)
    )
    checkpoint_sha = sha256_of(args.checkpoint)
    if hessian.attrs.get("source_sha256") not in (None, checkpoint_sha):
        log.warning(
            "%s was computed from a different checkpoint than %s", args.directions, args.checkpoint
        )
    out = Path(args.out)
    ensure_writable_dir(out.parent)
    attrs = {
        **source_provenance(args.checkpoint),
        "directions": str(args.directions),
        "directions_sha256": sha256_of(args.directions),
        "directions_kind": f"hessian eigenvectors ({hessian.attrs.get('method', '?')}, "
        f"which={hessian.attrs.get('which', '?')})",
        "direction_residuals": np.asarray(hessian.residual.values[: args.dims], dtype=float),
        "problem": str(checkpoint["problem"]),
        "problem_hparams": checkpoint["hparams"],
        "checkpoint_seed": int(checkpoint["seed"]),
        "checkpoint_epoch": int(checkpoint.get("epoch", checkpoint.get("iteration", -1))),
        "checkpoint_metrics": checkpoint.get("metrics", {}),
        **{
            f"objective_{key}": value
            for key, value in objective.metadata.items()
            if key in ("objective_batch_size", "objective_batch_seed", "synthetic_data")
        },
        "description": (
            f"loss at theta + sum_i a_i d_i on a {args.resolution}^{args.dims} grid; d_i = "
            f"Hessian eigenvector i of {args.directions}, normalised ({args.normalization}) "
            f"against theta of {args.checkpoint}; a_i = relative displacement in "
            f"[-{args.distance:g}, {args.distance:g}]"
        ),
    }
    dataset = sample_landscape(
        objective,
        directions,
        args.resolution,
        args.distance,
        eigenvalues=eigenvalues,
        normalization=args.normalization,
        chunk_size=args.chunk_size,
        memory_budget_mb=args.memory_budget,
        attrs=attrs,
        show_progress=True,
        tile=args.tile,
        tiles=args.tiles,
    )
    write_landscape(dataset, out)
    info = dataset.attrs
    if info["n_nonfinite"]:
        log.warning(
            "%d of %d landscape values are not finite (kept as computed)",
            info["n_nonfinite"],
            info["n_points"],
        )
    loss = dataset["loss"].values
    log.info(
        "%s: %d^%d points in %.1f s (%.0f points/s, chunk %d), loss %.4g..%.4g, centre %.6g",
        out,
        args.resolution,
        args.dims,
        info["seconds"],
        info["points_per_second"],
        info["chunk_size"],
        float(np.nanmin(loss)),
        float(np.nanmax(loss)),
        info["center_loss"],
    )


def _cmd_landscape_merge(args: argparse.Namespace) -> None:
    from losstopo.landscape_file import merge_tiles, read_landscape, write_landscape

    merged = merge_tiles([read_landscape(path) for path in args.tiles])
    write_landscape(merged, args.out)
    log.info("merged %d tiles into %s", len(args.tiles), args.out)


def _cmd_topology(args: argparse.Namespace) -> None:
    from losstopo.atomic import ensure_writable_dir
    from losstopo.landscape_file import read_landscape
    from losstopo.provenance import base_provenance, source_provenance
    from losstopo.topology.mergetree import merge_tree
    from losstopo.topology.neighbors import grid_points
    from losstopo.topology.simplify import absolute_threshold, simplify
    from losstopo.topology.summary import summarize
    from losstopo.topology.topology_file import topology_dataset, write_topology

    if args.persistence_threshold < 0:
        raise LosstopoError(
            f"--persistence-threshold must be >= 0, got {args.persistence_threshold}"
        )
    if not 0 <= args.summary_threshold < 1:
        raise LosstopoError(f"--summary-threshold must be in [0, 1), got {args.summary_threshold}")
    landscape = read_landscape(args.landscape)
    loss = landscape["loss"]
    names = list(loss.dims)
    points = None
    if args.connectivity == "knn":
        points = grid_points(loss.shape, [landscape[name].values for name in names])
    out = Path(args.out)
    ensure_writable_dir(out.parent)
    tree = merge_tree(loss.values, args.connectivity, args.k, args.symmetrize, points)
    threshold = absolute_threshold(tree, args.persistence_threshold, args.relative)
    summary_threshold = absolute_threshold(tree, args.summary_threshold, True)
    summary = summarize(tree, summary_threshold)
    stored = simplify(tree, threshold)
    stored_summary = summarize(stored, 0.0)
    carried = {
        key: landscape.attrs[key]
        for key in (
            "dims",
            "resolution",
            "distance",
            "normalization",
            "problem",
            "problem_hparams",
            "checkpoint_seed",
            "eigenvalues",
            "center_loss",
            "n_nonfinite",
            "source",
        )
        if key in landscape.attrs
    }
    attrs = {
        **base_provenance(),
        **source_provenance(args.landscape),
        **{f"landscape_{key}": value for key, value in carried.items()},
        "connectivity": args.connectivity,
        "k": tree.k,
        "symmetrize": tree.symmetrize,
        "persistence_threshold": threshold,
        "persistence_threshold_given": args.persistence_threshold,
        "persistence_threshold_relative": bool(args.relative),
        "summary_threshold_relative": args.summary_threshold,
        "summary_threshold": summary_threshold,
        "n_vertices": int(loss.size),
        "n_minima": stored.n_minima,
        "n_saddles": stored.n_saddles,
        "n_components": tree.n_components,
        "n_minima_raw": summary["n_minima"],
        "n_saddles_raw": summary["n_saddles"],
        "n_minima_above": summary["n_minima_above"],
        "n_saddles_above": summary["n_saddles_above"],
        "total_persistence": stored_summary["total_persistence"],
        "mean_persistence": stored_summary["mean_persistence"],
        "max_persistence": stored_summary["max_persistence"],
        "persistence_entropy": stored_summary["persistence_entropy"],
        "largest_basin_fraction": summary["largest_basin_fraction"],
    }
    coords = {name: landscape[name].values for name in names}
    write_topology(topology_dataset(stored, names, coords, attrs), out)
    log.info(
        "%s: %d minima, %d saddles (%s; %d minima with persistence >= %.3g), %d components",
        out,
        tree.n_minima,
        tree.n_saddles,
        args.connectivity,
        summary["n_minima_above"],
        summary_threshold,
        tree.n_components,
    )


def _cmd_figure_profiles(args: argparse.Namespace) -> None:
    from losstopo.plots.common import save_figure
    from losstopo.plots.figures import Panel, profile_grid

    if args.columns < 1:
        raise LosstopoError(f"--columns must be >= 1, got {args.columns}")
    panels = [Panel.parse(text) for text in args.panels]
    figure = profile_grid(
        panels,
        args.columns,
        log_y=not args.linear,
        threshold=args.threshold,
        order=args.order,
        title=args.title,
    )
    save_figure(figure, args.out)
    log.info("wrote %s", ", ".join(args.out))


def _cmd_figure_topology_vs_error(args: argparse.Namespace) -> None:
    import pandas as pd

    from losstopo.plots.common import save_figure
    from losstopo.plots.figures import topology_vs_error

    path = Path(args.table)
    if not path.is_file():
        raise LosstopoError(f"table {path} does not exist")
    save_figure(topology_vs_error(pd.read_csv(path)), args.out)
    log.info("wrote %s", ", ".join(args.out))


def _cmd_figure_landscape_2d(args: argparse.Namespace) -> None:
    import matplotlib.pyplot as plt
    import numpy as np

    from losstopo.landscape_file import read_landscape
    from losstopo.plots.common import save_figure
    from losstopo.plots.landscape2d import draw_landscape_2d, landscape_norm

    landscape = read_landscape(args.landscape)
    minima = None
    if args.topology:
        from losstopo.topology.mergetree import MINIMUM
        from losstopo.topology.topology_file import read_topology

        topology = read_topology(args.topology)
        vertices = topology.node_vertex.values[topology.node_kind.values == MINIMUM]
        shape = landscape["loss"].shape
        i, j = np.unravel_index(vertices, shape)
        names = list(landscape["loss"].dims)
        minima = np.column_stack([landscape[names[0]].values[i], landscape[names[1]].values[j]])
    fig, ax = plt.subplots(figsize=(4.6, 4))
    norm = landscape_norm(landscape["loss"].values, log=not args.linear)
    contours = draw_landscape_2d(ax, landscape, norm, mark_minima=minima)
    fig.colorbar(contours, ax=ax, label="loss")
    if args.title:
        ax.set_title(args.title, fontsize=9)
    save_figure(fig, args.out)
    log.info("wrote %s", ", ".join(args.out))


def _cmd_estimate(args: argparse.Namespace) -> None:
    import os

    from losstopo.estimate import TYPICAL_BUDGET_FRACTION, load_config, predict, probe, report

    if args.config_json:
        import json

        config = json.loads(args.config_json)
    else:
        config = load_config(args.config)
    cores = args.cores or os.cpu_count() or 1
    dims = [grid["dims"] for grid in config["landscape"]["grids"]]
    unet = config.get("unet", {})
    probes = probe(
        dims,
        config["landscape"].get("dtype", "float32"),
        unet if unet and unet.get("enabled", True) else None,
    )
    central = predict(config, probes, cores, TYPICAL_BUDGET_FRACTION)
    text = report(central, predict(config, probes, cores), probes)
    print(text)
    if args.out:
        from losstopo.atomic import write_atomic

        write_atomic(args.out, lambda tmp: tmp.write_text(text + "\n"))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="losstopo", description=__doc__)
    parser.add_argument("--version", action="version", version=f"losstopo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "train-pinn",
        help="train one convection PINN",
        description=(
            "Train a PINN on u_t + beta u_x = 0 and write model.pt and metrics.json into --out."
        ),
    )
    p.add_argument("--beta", type=float, required=True, help="convection coefficient (>= 0)")
    p.add_argument("--lr", type=float, required=True, help="learning rate (> 0)")
    p.add_argument("--seed", type=int, required=True, help="initialisation seed")
    p.add_argument(
        "--optimizer",
        choices=("lbfgs", "adam"),
        default="lbfgs",
        help="optimiser (default: lbfgs, strong-Wolfe, history 50)",
    )
    p.add_argument(
        "--iterations", type=_positive_int, default=1000, help="iteration budget (default: 1000)"
    )
    p.add_argument(
        "--n-f", type=_positive_int, default=100, help="number of collocation points (default: 100)"
    )
    p.add_argument(
        "--collocation-seed",
        type=int,
        default=0,
        help="seed of the fixed collocation set, shared by all runs (default: 0)",
    )
    p.add_argument(
        "--hidden",
        type=_int_list,
        default=[50, 50, 50, 50],
        help="hidden layer widths (default: 50,50,50,50)",
    )
    p.add_argument(
        "--activation",
        choices=("tanh", "relu", "gelu"),
        default="tanh",
        help="activation (default: tanh)",
    )
    p.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default="float32",
        help="floating-point precision (default: float32)",
    )
    p.add_argument("--out", required=True, help="output directory")
    _add_runtime(p)
    p.set_defaults(func=_cmd_train_pinn)

    p = sub.add_parser(
        "hessian",
        help="top-k Hessian eigenpairs of a checkpoint's loss",
        description="Exact Hessian-vector products (forward-over-reverse) and "
        "the k largest eigenpairs, written to hessian.nc.",
    )
    p.add_argument("checkpoint", help="model checkpoint (.pt)")
    p.add_argument("--top-k", type=_positive_int, required=True, help="number of eigenpairs")
    p.add_argument(
        "--method",
        choices=("lanczos", "power"),
        default="lanczos",
        help="lanczos (thick restart, full re-orthogonalisation) or power "
        "(PyHessian's power iteration with deflation) (default: lanczos)",
    )
    p.add_argument(
        "--which",
        choices=("LM", "LA"),
        default="LM",
        help="largest magnitude (as PyHessian) or largest algebraic (default: LM)",
    )
    p.add_argument(
        "--tol",
        type=_positive_float,
        default=1e-4,
        help="target relative residual ||Hv - lv||/|l| (default: 1e-4)",
    )
    p.add_argument(
        "--max-hvp",
        type=_positive_int,
        default=1000,
        help="Hessian-vector product budget of Lanczos (default: 1000)",
    )
    p.add_argument(
        "--max-iter",
        type=_positive_int,
        default=100,
        help="power iterations per pair (default: 100)",
    )
    p.add_argument("--seed", type=int, default=0, help="start-vector seed (default: 0)")
    p.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default="float64",
        help="precision of the Hessian products (default: float64)",
    )
    p.add_argument("--out", required=True, help="output hessian.nc")
    _add_objective_options(p)
    _add_runtime(p)
    p.set_defaults(func=_cmd_hessian)

    p = sub.add_parser(
        "landscape",
        help="sample an n-D loss landscape along Hessian directions",
        description="Loss at theta + sum_i a_i d_i on a grid (a_i relative "
        "displacements), evaluated in batches, written to landscape.nc.",
    )
    p.add_argument("checkpoint", help="model checkpoint (.pt)")
    p.add_argument("--directions", required=True, help="hessian.nc of the checkpoint")
    p.add_argument("--dims", type=_positive_int, required=True, help="landscape dimension n")
    p.add_argument(
        "--resolution",
        type=_positive_int,
        required=True,
        help="points per axis (odd, so theta is the centre)",
    )
    p.add_argument(
        "--distance",
        type=_positive_float,
        required=True,
        help="largest relative displacement along each direction",
    )
    p.add_argument(
        "--normalization",
        choices=("layer", "filter", "none"),
        default="layer",
        help="direction scaling against theta (default: layer)",
    )
    p.add_argument(
        "--chunk-size",
        type=_positive_int,
        default=None,
        help="grid points per batched call (default: from --memory-budget)",
    )
    p.add_argument(
        "--memory-budget",
        type=_positive_float,
        default=512.0,
        help="memory for one batched call in MiB (default: 512)",
    )
    p.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default="float32",
        help="precision of the loss evaluations (default: float32)",
    )
    p.add_argument("--out", required=True, help="output landscape.nc")
    _add_objective_options(p)
    _add_runtime(p)
    p.add_argument(
        "--tiles",
        type=_positive_int,
        default=1,
        help="split the grid into this many tiles along its first axis (default: 1)",
    )
    p.add_argument(
        "--tile", type=int, default=0, help="which tile to compute, 0-based (default: 0)"
    )
    p.set_defaults(func=_cmd_landscape)

    p = sub.add_parser("landscape-merge", help="merge landscape tiles into one landscape.nc")
    p.add_argument("tiles", nargs="+", help="tile files written with --tile/--tiles")
    p.add_argument("--out", required=True, help="output landscape.nc")
    p.set_defaults(func=_cmd_landscape_merge)

    p = sub.add_parser(
        "topology",
        help="merge tree of a landscape (persistence, segmentation)",
        description="Sub-level-set merge tree of landscape.nc by the union-find "
        "sweep, with persistence pairs, segmentation and summaries.",
    )
    p.add_argument("landscape", help="landscape.nc")
    p.add_argument(
        "--connectivity",
        choices=("full", "freudenthal", "axis", "knn"),
        default="full",
        help="neighbourhood of a grid vertex: full (3^n-1), "
        "freudenthal (2(2^n-1)), axis (2n) or knn (default: full)",
    )
    p.add_argument(
        "--k",
        type=_positive_int,
        default=None,
        help="neighbours for --connectivity knn (default: 4n)",
    )
    p.add_argument(
        "--symmetrize",
        choices=("mutual", "union"),
        default="mutual",
        help="k-NN graph symmetrisation (default: mutual)",
    )
    p.add_argument(
        "--persistence-threshold",
        type=float,
        default=0.0,
        help="remove branches with smaller persistence from the stored tree (default: 0, keep all)",
    )
    p.add_argument(
        "--relative",
        action="store_true",
        help="read --persistence-threshold as a fraction of the value range",
    )
    p.add_argument(
        "--summary-threshold",
        type=float,
        default=0.01,
        help="relative persistence above which minima and saddles are counted "
        "in the summaries (default: 0.01)",
    )
    p.add_argument("--out", required=True, help="output topology.nc")
    _add_runtime(p, device=False)
    p.set_defaults(func=_cmd_topology)

    p = sub.add_parser(
        "estimate",
        help="predict the wall time of a configured study",
        description="Time small probes of every stage on this machine and "
        "predict the configured study's wall time and each landscape's cost.",
    )
    p.add_argument(
        "--config",
        nargs="+",
        default=["config.yaml"],
        help="config files, merged in order like snakemake's (default: config.yaml)",
    )
    p.add_argument(
        "--cores",
        type=_positive_int,
        default=None,
        help="cores the study will use (default: all of this machine)",
    )
    p.add_argument(
        "--config-json",
        default=None,
        help="the configuration as one JSON object (used by the workflow)",
    )
    p.add_argument("--out", default=None, help="also write the estimate to this file")
    p.set_defaults(func=_cmd_estimate)

    p = sub.add_parser("pinn-table", help="collect PINN metrics into one tidy CSV")
    p.add_argument("metrics", nargs="+", help="metrics.json files")
    p.add_argument("--out", required=True, help="output CSV")
    _add_runtime(p, device=False)
    p.set_defaults(func=_cmd_pinn_table)

    p = sub.add_parser("topology-table", help="collect topology summaries with run metrics")
    p.add_argument("topology", nargs="+", help="topology.nc files")
    p.add_argument(
        "--metrics",
        nargs="+",
        required=True,
        help="metrics.json of the runs (joined by run directory)",
    )
    p.add_argument("--out", required=True, help="output CSV")
    _add_runtime(p, device=False)
    p.set_defaults(func=_cmd_topology_table)

    fig = sub.add_parser("figure", help="draw a figure from cached artifacts")
    figsub = fig.add_subparsers(dest="figure", required=True, metavar="FIGURE")
    p = figsub.add_parser("pinn-heatmap", help="Fig. 3 (left): mean relative error over beta x lr")
    p.add_argument("table", help="pinn_errors.csv")
    p.add_argument(
        "--value",
        default="relative_l2_error",
        help="table column to show (default: relative_l2_error)",
    )
    p.add_argument("--title", default=None, help="figure title")
    p.add_argument("--out", nargs="+", required=True, help="output files (.png, .pdf, .svg)")
    _add_runtime(p, device=False)
    p.set_defaults(func=_cmd_figure_pinn_heatmap)

    p = figsub.add_parser("profiles", help="grid of topological landscape profiles")
    p.add_argument(
        "panels",
        nargs="+",
        help="RUN_DIR:DIMS per panel (row-major); each run directory holds "
        "topology_<n>d.nc, landscape_<n>d.nc and metrics.json",
    )
    p.add_argument("--columns", type=int, required=True, help="panels per row")
    p.add_argument("--linear", action="store_true", help="linear loss axis (default: log)")
    p.add_argument(
        "--threshold",
        type=float,
        default=0.0,
        help="simplify each tree first: relative persistence threshold (default: 0)",
    )
    p.add_argument(
        "--order",
        choices=("width", "persistence"),
        default="width",
        help="order of sibling basins (default: width)",
    )
    p.add_argument("--title", default=None, help="figure title")
    p.add_argument("--out", nargs="+", required=True, help="output files (.png, .pdf, .svg)")
    _add_runtime(p, device=False)
    p.set_defaults(func=_cmd_figure_profiles)

    p = figsub.add_parser("landscape-2d", help="filled contours of a 2-D landscape")
    p.add_argument("landscape", help="a 2-D landscape.nc")
    p.add_argument("--topology", default=None, help="its topology.nc, to mark the minima")
    p.add_argument("--linear", action="store_true", help="linear colour scale (default: log)")
    p.add_argument("--title", default=None, help="figure title")
    p.add_argument("--out", nargs="+", required=True, help="output files (.png, .pdf, .svg)")
    _add_runtime(p, device=False)
    p.set_defaults(func=_cmd_figure_landscape_2d)

    p = figsub.add_parser("topology-vs-error", help="topology summaries against relative error")
    p.add_argument("table", help="topology_summary.csv")
    p.add_argument("--out", nargs="+", required=True, help="output files (.png, .pdf, .svg)")
    _add_runtime(p, device=False)
    p.set_defaults(func=_cmd_figure_topology_vs_error)

    from losstopo.cli_segmentation import add_segmentation_commands

    add_segmentation_commands(sub, figsub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand; user errors become one line on stderr and exit status 2."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    import matplotlib

    matplotlib.use("Agg")  # figures are files; never open a window
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], None] = args.func
    try:
        func(args)
    except LosstopoError as exc:
        print(f"losstopo: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("losstopo: interrupted; no partial output was kept", file=sys.stderr)
        return 130
    return 0
