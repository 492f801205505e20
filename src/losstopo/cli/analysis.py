"""Analysis subcommands: Hessian eigenpairs, landscapes, merge trees, tables, estimate."""

from __future__ import annotations

import argparse

from losstopo.cli import common
from losstopo.cli.common import (
    REQUIRED,
    log,
    non_negative_float,
    non_negative_int,
    open_unit_interval,
    positive_float,
    positive_int,
    seed,
)
from losstopo.errors import LosstopoError
from losstopo.landscape import DEFAULT_MEMORY_BUDGET_MB

# log-loss persistence (decades) of a significant minimum: a factor of 2
LOG_THRESHOLD = 0.3


def _analysed_checkpoint(args: argparse.Namespace):
    """The checkpoint and its objective (through its problem or the --objective factory)."""
    from losstopo.runtime import resolve_device, resolve_dtype, set_threads
    from losstopo.stages import load_analysed_checkpoint

    set_threads(args.threads)
    return load_analysed_checkpoint(
        args.checkpoint,
        device=resolve_device(args.device),
        dtype=resolve_dtype(args.dtype),
        factory=args.objective,
        options=common.objective_options(args),
    )


def _cmd_hessian(args: argparse.Namespace) -> None:
    """Top-k Hessian eigenpairs of a checkpoint's loss.

    Exact Hessian-vector products (forward-over-reverse) and the k largest eigenpairs, written
    to hessian.nc.
    """
    from losstopo.io.hessian_file import write_hessian
    from losstopo.stages import compute_hessian

    common.ensure_output_dir(args)
    checkpoint = _analysed_checkpoint(args)
    solver = common.pick(args, "method", "which", "tol", "max_hvp", "max_iter", "seed", "threads")
    dataset = compute_hessian(checkpoint, args.top_k, **solver, show_progress=True)
    write_hessian(dataset, args.out)
    log.info(
        "%s: top-%d eigenvalues %s, max residual %.2e, %d HVPs, %.1f s",
        args.checkpoint,
        args.top_k,
        ", ".join(f"{v:.6g}" for v in dataset["eigenvalues"].values),
        float(dataset["residual"].values.max()),
        dataset.attrs["n_hvp"],
        dataset.attrs["seconds"],
    )


def _cmd_curvature(args: argparse.Namespace) -> None:
    """Hessian trace and eigenvalue spectral density of a checkpoint's loss.

    Hutchinson's trace estimate (seeded Rademacher probes on exact Hessian-vector products,
    stopped at a relative standard error or an HVP budget; with --directions the span of the
    top eigenvectors is traced exactly) and stochastic Lanczos quadrature of the spectrum
    (raw nodes and weights per run, and the density smoothed on a symmetric-log grid),
    written to curvature.nc.
    """
    from losstopo.io.curvature_file import write_curvature
    from losstopo.stages import compute_curvature

    common.ensure_output_dir(args)
    checkpoint = _analysed_checkpoint(args)
    options = common.pick(
        args, "directions", "seed", "trace_min_probes", "slq_runs", "slq_steps", "width"
    )
    dataset = compute_curvature(
        checkpoint,
        **options,
        deflate=not args.no_deflate,
        trace_max_hvps=args.trace_max_hvp,
        rel_se_target=args.rel_se,
        n_grid=args.grid_points,
        threads=args.threads,
    )
    write_curvature(dataset, args.out)
    info = dataset.attrs
    log.info(
        "%s: trace %.6g ± %.2g (%d probes, %s), ESD from %d SLQ runs, negative mass %.3g "
        "(bounds %.3g to %.3g), %d HVPs",
        args.checkpoint,
        info["hessian_trace"],
        info["hessian_trace_se"],
        info["trace_n_probes"],
        info["trace_stopped"],
        info["slq_runs"],
        info["esd_negative_mass"],
        info["esd_negative_mass_lower"],
        info["esd_negative_mass_upper"],
        info["trace_n_hvps"] + info["slq_n_hvps"],
    )


def _cmd_landscape(args: argparse.Namespace) -> None:
    """Sample an n-D loss landscape along Hessian directions.

    Loss at theta + sum_i a_i d_i (a_i relative displacements) on a grid, or at scattered
    points (--sampling sobol or random, --n-points N: landscapes beyond four dimensions),
    evaluated in batches, written to landscape.nc.
    """
    import numpy as np

    from losstopo.io.landscape_file import write_landscape
    from losstopo.stages import compute_landscape

    if args.sampling == "grid" and args.resolution is None:
        raise LosstopoError("--resolution is required for --sampling grid")
    if args.sampling != "grid" and args.n_points is None:
        raise LosstopoError(f"--n-points is required for --sampling {args.sampling}")
    common.ensure_output_dir(args)
    dataset = compute_landscape(
        _analysed_checkpoint(args),
        args.directions,
        args.dims,
        args.resolution,
        args.distance,
        **common.pick(args, "normalization", "sampling", "n_points", "seed", "chunk_size"),
        **common.pick(args, "center_points", "center_scale", "null_model"),
        **common.pick(args, "tile", "tiles"),
        memory_budget_mb=args.memory_budget,
        show_progress=True,
    )
    write_landscape(dataset, args.out)
    info = dataset.attrs
    if info["n_nonfinite"]:
        log.warning(
            "%d of %d landscape values are not finite (kept as computed)",
            info["n_nonfinite"],
            info["n_points"],
        )
    loss = dataset["loss"].values
    points = f"{args.resolution}^{args.dims}" if args.sampling == "grid" else loss.size
    log.info(
        "%s: %s points in %.1f s (%.0f points/s, chunk %d), loss %.4g..%.4g, centre %.6g",
        args.out,
        points,
        info["seconds"],
        info["points_per_second"],
        info["chunk_size"],
        float(np.nanmin(loss)),
        float(np.nanmax(loss)),
        info["center_loss"],
    )


def _cmd_landscape_merge(args: argparse.Namespace) -> None:
    from losstopo.io.landscape_file import merge_tiles, read_landscape, write_landscape

    merged = merge_tiles([read_landscape(path) for path in args.tiles])
    write_landscape(merged, args.out)
    log.info("merged %d tiles into %s", len(args.tiles), args.out)


# the flags of ``topology`` that compute_topology takes under the same names
_TOPOLOGY_OPTIONS = (
    "connectivity",
    "k",
    "symmetrize",
    "knn_metric",
    "persistence_threshold",
    "relative",
    "summary_threshold",
    "log_threshold",
)


def _cmd_topology(args: argparse.Namespace) -> None:
    """Merge tree of a landscape (persistence, segmentation).

    Sub-level-set merge tree of landscape.nc by the union-find sweep, with persistence pairs,
    segmentation and summaries.
    """
    from losstopo.io.topology_file import write_topology
    from losstopo.stages import compute_topology

    common.ensure_output_dir(args)
    options = common.pick(args, *_TOPOLOGY_OPTIONS)
    result = compute_topology(args.landscape, **options, workers=args.threads)
    write_topology(result.dataset, args.out)
    descriptors = result.descriptors
    log.info(
        "%s: %d minima, %d saddles (%s; %d minima with persistence >= %.3g, %d with log "
        "persistence >= %g decades), %d components; trained basin %.3g %% of the grid, "
        "%.3g decades deep",
        args.out,
        result.n_minima,
        result.n_saddles,
        args.connectivity,
        result.summary["n_minima_above"],
        result.summary_threshold,
        descriptors["n_minima_above_log"],
        args.log_threshold,
        result.n_components,
        100 * descriptors["basin_fraction"],
        descriptors["basin_depth_decades"],
    )


def _cmd_topology_table(args: argparse.Namespace) -> None:
    """One table of topology summaries with each checkpoint's fields and metrics.

    One row per topology.nc (all of one problem): what identifies the checkpoint (e.g. beta,
    lr, seed or epoch), its metrics, the landscape, the merge-tree summaries and the shape
    descriptors.
    """
    from losstopo.io.tables import parse_regimes, topology_table, write_csv_atomic

    table = topology_table(args.topology, parse_regimes(args.regime))
    write_csv_atomic(table, args.out)
    log.info("wrote %d topologies to %s", len(table), args.out)


def _cmd_estimate(args: argparse.Namespace) -> None:
    """Predict the wall time of a configured study.

    Time small probes of every stage on this machine and predict the configured study's wall
    time and each landscape's cost.
    """
    import os

    from losstopo.estimate import TYPICAL_BUDGET_FRACTION, load_config, predict, probe, report

    if args.config_json:
        import json

        config = json.loads(args.config_json)
    else:
        config = load_config(args.config)
    cores = args.cores or os.cpu_count() or 1
    dims = [grid["dims"] for grid in config["landscape"]["grids"]]
    scattered = [entry["dims"] for entry in config["landscape"].get("scattered", [])]
    unet = config.get("unet", {})
    probes = probe(
        dims,
        config["landscape"].get("dtype", "float32"),
        unet if unet and unet.get("enabled", True) else None,
        scattered,
    )
    central = predict(config, probes, cores, TYPICAL_BUDGET_FRACTION)
    text = report(central, predict(config, probes, cores), probes)
    print(text)
    if args.out:
        from losstopo.io.atomic import write_atomic

        write_atomic(args.out, lambda tmp: tmp.write_text(text + "\n"))


def _add_checkpoint_options(
    parser: argparse.ArgumentParser, dtype: str, precision: str, out: str
) -> None:
    """What :func:`_analysed_checkpoint` reads (precision, objective, threads, device), and
    the output file, in the order ``--help`` has always listed them."""
    common.add_dtype(parser, dtype, precision)
    parser.add_argument("--out", required=True, help=out)
    common.add_objective_options(parser)
    common.add_runtime(parser)


def register(sub: argparse._SubParsersAction, figsub: argparse._SubParsersAction) -> None:
    """Add this module's subcommands (and figure kinds) to the parser."""
    p = common.add_command(sub, _cmd_hessian)
    p.add_argument("checkpoint", help="model checkpoint (.pt)")
    p.add_argument("--top-k", type=positive_int, required=True, help="number of eigenpairs")
    common.add_choice(
        p,
        "--method",
        ("lanczos", "power"),
        default="lanczos",
        help="lanczos (thick restart, full re-orthogonalisation) or power "
        "(PyHessian's power iteration with deflation)",
    )
    common.add_choice(
        p,
        "--which",
        ("LM", "LA"),
        default="LM",
        help="largest magnitude (as PyHessian) or largest algebraic",
    )
    common.add_options(
        p,
        ("--tol", positive_float, 1e-4, "target relative residual ||Hv - lv||/|l|"),
        ("--max-hvp", positive_int, 1000, "Hessian-vector product budget of Lanczos"),
        ("--max-iter", positive_int, 100, "power iterations per pair"),
        ("--seed", seed, 0, "start-vector seed"),
    )
    _add_checkpoint_options(p, "float64", "precision of the Hessian products", "output hessian.nc")

    p = common.add_command(sub, _cmd_curvature)
    p.add_argument("checkpoint", help="model checkpoint (.pt)")
    p.add_argument(
        "--directions",
        default=None,
        help="the checkpoint's hessian.nc: records its top eigenvalue and deflates the trace",
    )
    p.add_argument(
        "--no-deflate",
        action="store_true",
        help="estimate the whole trace by probes even with --directions",
    )
    trace = p.add_argument_group("trace (Hutchinson)")
    common.add_options(
        trace,
        ("--trace-max-hvp", positive_int, 200, "Hessian-vector product budget of the trace"),
        ("--trace-min-probes", positive_int, 20, "probes before the stopping rule applies"),
        ("--rel-se", non_negative_float, 0.05, "target relative standard error of the trace"),
    )
    density = p.add_argument_group("spectral density (stochastic Lanczos quadrature)")
    common.add_options(
        density,
        ("--slq-runs", positive_int, 3, "SLQ runs (start vectors)"),
        ("--slq-steps", positive_int, 40, "Lanczos steps per SLQ run"),
        ("--width", positive_float, 4.0, "density kernel standard deviation in grid steps"),
        ("--grid-points", positive_int, 1000, "points of the density's symmetric-log grid"),
        ("--seed", seed, 0, "seed of the probes and start vectors"),
    )
    _add_checkpoint_options(
        p, "float64", "precision of the Hessian products", "output curvature.nc"
    )

    p = common.add_command(sub, _cmd_landscape)
    p.add_argument("checkpoint", help="model checkpoint (.pt)")
    p.add_argument("--directions", required=True, help="hessian.nc of the checkpoint")
    common.add_options(
        p,
        ("--dims", positive_int, REQUIRED, "landscape dimension n"),
        (
            "--resolution",
            positive_int,
            None,
            "points per axis of a grid (odd: theta is the centre)",
        ),
        (
            "--distance",
            positive_float,
            REQUIRED,
            "largest relative displacement along each direction",
        ),
    )
    common.add_choice(
        p,
        "--sampling",
        ("grid", "sobol", "random"),
        default="grid",
        help="a grid of --resolution points per axis, or --n-points scattered points "
        "(scrambled Sobol or seeded uniform, point 0 = theta)",
    )
    common.add_options(
        p,
        ("--n-points", positive_int, None, "scattered points, theta included"),
        ("--seed", seed, 0, "seed of the scattered points"),
        (
            "--center-points",
            non_negative_int,
            0,
            "further scattered points in the inner cube around theta, so that theta's basin "
            "is resolved (its neighbours in the cube are decades higher)",
        ),
        (
            "--center-scale",
            open_unit_interval,
            0.1,
            "half-width of that inner cube as a fraction of --distance",
        ),
    )
    common.add_choice(
        p,
        "--normalization",
        ("layer", "filter", "none"),
        default="layer",
        help="direction scaling against theta",
    )
    p.add_argument(
        "--null-model",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="store the landscape's null model, the second-order Taylor model of the loss at "
        "theta in its coordinates (one gradient and n Hessian-vector products; default: on)",
    )
    common.add_options(
        p,
        (
            "--chunk-size",
            positive_int,
            None,
            "grid points per batched call (default: from --memory-budget)",
        ),
        (
            "--memory-budget",
            positive_float,
            DEFAULT_MEMORY_BUDGET_MB,
            "memory for one batched call in MiB",
        ),
    )
    _add_checkpoint_options(
        p, "float32", "precision of the loss evaluations", "output landscape.nc"
    )
    common.add_options(
        p,
        ("--tiles", positive_int, 1, "split the grid into this many tiles along its first axis"),
        ("--tile", int, 0, "which tile to compute, 0-based"),
    )

    p = sub.add_parser("landscape-merge", help="merge landscape tiles into one landscape.nc")
    p.add_argument("tiles", nargs="+", help="tile files written with --tile/--tiles")
    p.add_argument("--out", required=True, help="output landscape.nc")
    p.set_defaults(func=_cmd_landscape_merge)

    p = common.add_command(sub, _cmd_topology)
    p.add_argument("landscape", help="landscape.nc")
    common.add_choice(
        p,
        "--connectivity",
        ("full", "freudenthal", "axis", "knn"),
        default="full",
        help="neighbourhood of a grid vertex: full (3^n-1), "
        "freudenthal (2(2^n-1)), axis (2n) or knn",
    )
    p.add_argument(
        "--k",
        type=positive_int,
        default=None,
        help="neighbours for --connectivity knn (default: 4n)",
    )
    common.add_choice(
        p,
        "--symmetrize",
        ("mutual", "union"),
        default=None,
        help="k-NN graph symmetrisation (default: mutual on a grid, as the paper; union for "
        "scattered samples)",
    )
    common.add_choice(
        p,
        "--knn-metric",
        ("curvature", "euclidean"),
        default="curvature",
        help="distance of the k-NN graph of scattered samples: curvature (coordinates "
        "whitened by the landscape's Taylor Hessian |K|, where its null model is isotropic) "
        "or euclidean (the paper's plain k-NN); grids use their integer indices",
    )
    p.add_argument(
        "--persistence-threshold",
        type=non_negative_float,
        default=0.0,
        help="remove branches with smaller persistence from the stored tree (default: 0, keep all)",
    )
    p.add_argument(
        "--relative",
        action="store_true",
        help="read --persistence-threshold as a fraction of the value range",
    )
    common.add_options(
        p,
        (
            "--summary-threshold",
            non_negative_float,
            0.01,
            "relative persistence above which minima and saddles are counted in the summaries",
        ),
        (
            "--log-threshold",
            non_negative_float,
            LOG_THRESHOLD,
            "persistence on log10 loss, in decades, above which minima and saddles are "
            "counted as significant in the shape descriptors",
        ),
    )
    p.add_argument("--out", required=True, help="output topology.nc")
    common.add_runtime(p, device=False)

    p = common.add_command(sub, _cmd_estimate)
    p.add_argument(
        "--config",
        nargs="+",
        default=["config.yaml"],
        help="config files, merged in order like snakemake's (default: config.yaml)",
    )
    p.add_argument(
        "--cores",
        type=positive_int,
        default=None,
        help="cores the study will use (default: all of this machine)",
    )
    p.add_argument(
        "--config-json",
        default=None,
        help="the configuration as one JSON object (used by the workflow)",
    )
    p.add_argument("--out", default=None, help="also write the estimate to this file")

    p = common.add_command(sub, _cmd_topology_table)
    p.add_argument("topology", nargs="+", help="topology.nc files")
    p.add_argument(
        "--regime",
        nargs="*",
        default=None,
        metavar="BETA:LR:LABEL",
        help="name the regime of an analysed PINN cell (e.g. 1:1:success), for the table's "
        "regime column",
    )
    common.add_csv_output(p)
