"""Figure subcommands over cached artifacts: profile grids, 2-D landscapes, topology vs error."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from losstopo.cli import common
from losstopo.cli.common import non_negative_float
from losstopo.errors import LosstopoError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure


def _labels(texts: list[str] | None) -> list[str] | None:
    """Labels from the command line; a literal ``\\n`` breaks the line."""
    return None if texts is None else [text.replace("\\n", "\n") for text in texts]


def _cmd_figure_profiles(args: argparse.Namespace) -> None:
    from losstopo.io.panels import Panel, read_panel
    from losstopo.plots.profile_grid import profile_grid

    if args.columns < 1:
        raise LosstopoError(f"--columns must be >= 1, got {args.columns}")
    if args.linear and args.y not in (None, "linear"):
        raise LosstopoError(f"--linear contradicts --y {args.y}")
    panels = [read_panel(Panel.parse(text)) for text in args.panels]
    figure = profile_grid(
        panels,
        args.columns,
        log_y=not args.linear,
        threshold=args.threshold,
        order=args.order,
        title=args.title,
        colour=args.colour,
        y=args.y,
        row_labels=_labels(args.row_labels),
        column_labels=_labels(args.column_labels),
    )
    common.write_figure(figure, args.out)


def _draw_topology_vs_error(table: pd.DataFrame, args: argparse.Namespace) -> Figure:
    from losstopo.plots.topology_vs_metric import topology_vs_error

    return topology_vs_error(table, connectivity=args.connectivity)


def _draw_topology_vs_metric(table: pd.DataFrame, args: argparse.Namespace) -> Figure:
    from losstopo.plots.topology_vs_metric import topology_vs_metric

    panels = {"panels": tuple(args.panels)} if args.panels else {}
    return topology_vs_metric(
        table,
        args.metric,
        colour_by=tuple(args.colour_by.split(",")),
        marker_by=args.marker_by,
        connectivity=args.connectivity,
        dims=args.dims,
        **panels,
    )


def _draw_extent_study(table: pd.DataFrame, args: argparse.Namespace) -> Figure:
    from losstopo.plots.extent import extent_study

    return extent_study(table)


def _draw_null_calibration(table: pd.DataFrame, args: argparse.Namespace) -> Figure:
    from losstopo.plots.calibration import null_calibration

    return null_calibration(table, group_by=args.group_by)


def _cmd_figure_spectral_density(args: argparse.Namespace) -> None:
    from losstopo.io.curvature_file import read_density_curve
    from losstopo.plots.curvature import density_panels

    n = len(args.curvature)
    for flag, labels in (("--panel", args.panel), ("--curve", args.curve)):
        if labels is not None and len(labels) != n:
            raise LosstopoError(f"{flag} gives {len(labels)} label(s) for {n} file(s)")
    panels: dict[str, list] = {}
    for i, path in enumerate(args.curvature):
        panel = args.panel[i] if args.panel else "spectral density"
        curve = args.curve[i] if args.curve else str(path)
        panels.setdefault(panel, []).append(read_density_curve(path, curve))
    figure = density_panels(list(panels.items()), args.columns, title=args.title)
    common.write_figure(figure, args.out)


def _cmd_figure_layer_curvature(args: argparse.Namespace) -> None:
    from losstopo.io.curvature_file import read_layer_bars
    from losstopo.plots.layer_curvature import layer_curvature_figure

    n = len(args.curvature)
    if args.label is not None and len(args.label) != n:
        raise LosstopoError(f"--label gives {len(args.label)} label(s) for {n} file(s)")
    labels = args.label or [str(path) for path in args.curvature]
    files = [
        read_layer_bars(path, label) for path, label in zip(args.curvature, labels, strict=True)
    ]
    common.write_figure(layer_curvature_figure(files, title=args.title), args.out)


def _cmd_figure_landscape_2d(args: argparse.Namespace) -> None:
    import matplotlib.pyplot as plt
    import numpy as np

    from losstopo.io.landscape_file import read_landscape
    from losstopo.plots.landscape2d import draw_landscape_2d, landscape_norm

    landscape = read_landscape(args.landscape)
    minima = None
    if args.topology:
        from losstopo.io.topology_file import read_topology
        from losstopo.topology.tree import MINIMUM

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
    common.write_figure(fig, args.out)


def _curvature_figure(
    figsub: argparse._SubParsersAction, name: str, help: str, labels: dict[str, str]
) -> argparse.ArgumentParser:
    """A figure of curvature.nc files, with a label list per file for each of ``labels``."""
    p = figsub.add_parser(name, help=help)
    p.add_argument("curvature", nargs="+", help="curvature.nc files")
    for flag, text in labels.items():
        _add_label_list(p, flag, text, metavar=None)
    common.add_figure_output(p, title=True)
    return p


def _add_label_list(
    parser: argparse.ArgumentParser, flag: str, help: str, metavar: str | None = "TEXT"
) -> None:
    """A list of labels that every use of ``flag`` extends, so that each label can also come
    attached as its own ``flag=TEXT``, as the workflow passes them (a label may start with -)."""
    parser.add_argument(flag, nargs="+", action="extend", default=None, metavar=metavar, help=help)


def register(sub: argparse._SubParsersAction, figsub: argparse._SubParsersAction) -> None:
    """Add this module's subcommands (and figure kinds) to the parser."""
    p = figsub.add_parser("profiles", help="grid of topological landscape profiles")
    p.add_argument(
        "panels",
        nargs="+",
        help="per panel (row-major): RUN_DIR:DIMS (the directory holds topology_<n>d.nc, "
        "landscape_<n>d.nc and metrics.json) or a topology .nc file (its landscape is the "
        "file named by its source attribute)",
    )
    p.add_argument("--columns", type=int, required=True, help="panels per row")
    p.add_argument(
        "--linear", action="store_true", help="linear loss axis (the same as --y linear)"
    )
    p.add_argument(
        "--y",
        choices=("log", "linear", "relative"),
        default=None,
        help="loss axis: log loss, rows sharing limits (default); linear; or relative = "
        "loss / loss at theta on a log axis shared by the whole figure",
    )
    p.add_argument(
        "--colour",
        choices=("relative", "absolute"),
        default="relative",
        help="fill: arc mean loss in decades above the loss at theta, one scale clipped at "
        "the 2nd-98th percentile of all arcs (relative, default), or the absolute mean loss "
        "on a log scale (absolute)",
    )
    _add_label_list(
        p, "--row-labels", "one label per row, drawn left of it (a literal \\n breaks the line)"
    )
    _add_label_list(p, "--column-labels", "one label per column, drawn above the first row")
    p.add_argument(
        "--threshold",
        type=non_negative_float,
        default=0.0,
        help="simplify each tree first: relative persistence threshold (default: 0)",
    )
    common.add_choice(
        p, "--order", ("width", "persistence"), default="width", help="order of sibling basins"
    )
    common.add_figure_output(p, title=True)
    p.set_defaults(func=_cmd_figure_profiles)

    p = _curvature_figure(
        figsub,
        "spectral-density",
        "eigenvalue spectral densities of curvature.nc files, grouped into panels",
        {"--panel": "panel of each file (a label)", "--curve": "legend label of each file"},
    )
    common.add_options(p, ("--columns", int, 3, "panels per row"))
    p.set_defaults(func=_cmd_figure_spectral_density)

    p = _curvature_figure(
        figsub,
        "layer-curvature",
        "trace and top eigenvalue of each layer's Hessian block (curvature --per-layer)",
        {"--label": "legend label of each file"},
    )
    p.set_defaults(func=_cmd_figure_layer_curvature)

    p = figsub.add_parser("landscape-2d", help="filled contours of a 2-D landscape")
    p.add_argument("landscape", help="a 2-D landscape.nc")
    p.add_argument("--topology", default=None, help="its topology.nc, to mark the minima")
    p.add_argument("--linear", action="store_true", help="linear colour scale (default: log)")
    common.add_figure_output(p, title=True)
    p.set_defaults(func=_cmd_figure_landscape_2d)

    p = common.add_table_figure(
        figsub,
        "topology-vs-error",
        "topology summaries against relative error",
        "topology_summary.csv",
        _draw_topology_vs_error,
    )
    common.add_connectivity_filter(p)
    common.add_figure_output(p)

    p = common.add_table_figure(
        figsub,
        "topology-vs-metric",
        "topology summaries of any problem against one of its checkpoints' metrics",
        "a topology table (losstopo topology-table)",
        _draw_topology_vs_metric,
    )
    p.add_argument("--metric", required=True, help="metric column for the x axis")
    p.add_argument(
        "--colour-by",
        default="run",
        help="comma-separated columns: one colour per combination (default: run)",
    )
    p.add_argument("--marker-by", default="dims", help="one marker per value (default: dims)")
    p.add_argument("--dims", type=int, default=None, help="rows of this landscape dimension only")
    p.add_argument(
        "--panels",
        nargs=4,
        default=None,
        metavar="COLUMN",
        help="the four descriptor columns, e.g. top_eigenvalue (default: basin_depth_decades "
        "basin_fraction n_minima_above_log n_saddles_above_log)",
    )
    common.add_connectivity_filter(p)
    common.add_figure_output(p)

    p = common.add_table_figure(
        figsub,
        "extent-study",
        "shape descriptors of the trained basin against landscape extent",
        "extent_study.csv (one row per landscape)",
        _draw_extent_study,
    )
    common.add_figure_output(p)

    p = common.add_table_figure(
        figsub,
        "null-calibration",
        "counts of minima of every landscape beside those of its null model (Taylor quadratic)",
        "a topology table (losstopo topology-table)",
        _draw_null_calibration,
    )
    p.add_argument(
        "--group-by",
        default="regime",
        help="table column whose values get one colour each (default: regime; run if empty)",
    )
    common.add_figure_output(p)
