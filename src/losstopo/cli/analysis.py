"""Analysis subcommands: Hessian eigenpairs, landscapes, merge trees, tables, estimate."""

from __future__ import annotations

import argparse

from losstopo.cli import common
from losstopo.cli.common import log
from losstopo.settings import (
    CurvatureSettings,
    HessianSettings,
    LandscapeSettings,
    TopologySettings,
)
from losstopo.settings.cli import add_settings, settings_from_args


def _analysed_checkpoint(args: argparse.Namespace):
    """The checkpoint and its objective (through its problem or the --objective factory)."""
    from losstopo.runtime import keep_freed_memory, resolve_device, resolve_dtype, set_threads
    from losstopo.stages import load_analysed_checkpoint

    set_threads(args.threads)
    keep_freed_memory()
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

    settings = settings_from_args(HessianSettings, args)
    common.ensure_output_dir(args)
    checkpoint = _analysed_checkpoint(args)
    dataset = compute_hessian(checkpoint, settings, threads=args.threads, show_progress=True)
    write_hessian(dataset, args.out)
    log.info(
        "%s: top-%d eigenvalues %s, max residual %.2e, %d HVPs, %.1f s",
        args.checkpoint,
        settings.top_k,
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

    settings = settings_from_args(CurvatureSettings, args)
    common.ensure_output_dir(args)
    checkpoint = _analysed_checkpoint(args)
    dataset = compute_curvature(
        checkpoint, settings, directions=args.directions, threads=args.threads
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

    settings = settings_from_args(LandscapeSettings, args)
    common.ensure_output_dir(args)
    checkpoint = _analysed_checkpoint(args)
    dataset = compute_landscape(checkpoint, args.directions, settings=settings, show_progress=True)
    write_landscape(dataset, args.out)
    info = dataset.attrs
    if info["n_nonfinite"]:
        log.warning(
            "%d of %d landscape values are not finite (kept as computed)",
            info["n_nonfinite"],
            info["n_points"],
        )
    loss = dataset["loss"].values
    points = loss.size if settings.scattered else f"{settings.resolution}^{settings.dims}"
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


def _cmd_topology(args: argparse.Namespace) -> None:
    """Merge tree of a landscape (persistence, segmentation).

    Sub-level-set merge tree of landscape.nc by the union-find sweep, with persistence pairs,
    segmentation and summaries.
    """
    from losstopo.io.topology_file import write_topology
    from losstopo.stages import compute_topology

    settings = settings_from_args(TopologySettings, args)
    common.ensure_output_dir(args)
    result = compute_topology(args.landscape, settings, workers=args.threads)
    write_topology(result.dataset, args.out)
    descriptors = result.descriptors
    log.info(
        "%s: %d minima, %d saddles (%s; %d minima with persistence >= %.3g, %d with log "
        "persistence >= %g decades), %d components; trained basin %.3g %% of the grid, "
        "%.3g decades deep",
        args.out,
        result.n_minima,
        result.n_saddles,
        settings.connectivity,
        result.summary["n_minima_above"],
        result.summary_threshold,
        descriptors["n_minima_above_log"],
        settings.log_threshold,
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

    List the jobs the workflow plans for the configs (a snakemake dry run), cost each from
    small probes of its own command on this machine, and schedule them on the cores.
    """
    from losstopo.estimate.command import run

    print(run(args))


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
    add_settings(p, HessianSettings)
    _add_checkpoint_options(p, "float64", "precision of the Hessian products", "output hessian.nc")

    p = common.add_command(sub, _cmd_curvature)
    p.add_argument("checkpoint", help="model checkpoint (.pt)")
    p.add_argument(
        "--directions",
        default=None,
        help="the checkpoint's hessian.nc: records its top eigenvalue and deflates the trace",
    )
    add_settings(p, CurvatureSettings)
    _add_checkpoint_options(
        p, "float64", "precision of the Hessian products", "output curvature.nc"
    )

    p = common.add_command(sub, _cmd_landscape)
    p.add_argument("checkpoint", help="model checkpoint (.pt)")
    p.add_argument("--directions", required=True, help="hessian.nc of the checkpoint")
    add_settings(p, LandscapeSettings)
    _add_checkpoint_options(
        p, "float32", "precision of the loss evaluations", "output landscape.nc"
    )

    p = sub.add_parser("landscape-merge", help="merge landscape tiles into one landscape.nc")
    p.add_argument("tiles", nargs="+", help="tile files written with --tile/--tiles")
    p.add_argument("--out", required=True, help="output landscape.nc")
    p.set_defaults(func=_cmd_landscape_merge)

    p = common.add_command(sub, _cmd_topology)
    p.add_argument("landscape", help="landscape.nc")
    add_settings(p, TopologySettings)
    p.add_argument("--out", required=True, help="output topology.nc")
    common.add_runtime(p, device=False)

    p = common.add_command(sub, _cmd_estimate)
    from losstopo.estimate.command import add_arguments as add_estimate_arguments

    add_estimate_arguments(p)

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
