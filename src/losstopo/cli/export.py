"""Command-line subcommand ``export``: landscapes and merge trees as VTK files."""

from __future__ import annotations

import argparse

from losstopo.cli import common
from losstopo.cli.common import log, positive_int


def _cmd_export(args: argparse.Namespace) -> None:
    """Write a landscape (and its merge tree) as VTK files for ParaView and TTK.

    A grid of up to three axes becomes OUT.vti (image data: spacing the displacement step,
    origin -distance); a scattered landscape becomes OUT.vtu (its points joined by the k-NN
    graph its topology uses). Point arrays: loss, log10_loss, metric where present and, with
    --topology, the merge tree's segmentation; the tree's skeleton becomes OUT_tree.vtu
    (nodes with kind, value and persistence; arcs as lines).
    """
    from losstopo.export import GraphChoice, export_landscape

    choice = GraphChoice(args.k, args.symmetrize, args.knn_metric)
    export = export_landscape(args.landscape, args.out, args.topology, choice)
    for path, points, lines in zip(export.files, export.points, export.lines, strict=True):
        log.info("wrote %s (%d points, %d lines)", path, points, lines)


def register(sub: argparse._SubParsersAction, figsub: argparse._SubParsersAction) -> None:
    """Add the ``export`` subcommand to the parser."""
    p = common.add_command(sub, _cmd_export)
    p.add_argument("landscape", help="landscape.nc (a grid of 1-3 axes, or scattered)")
    p.add_argument("--topology", default=None, help="its topology.nc: segmentation and tree")
    p.add_argument(
        "--out", required=True, help="prefix of the output files (OUT.vti or OUT.vtu, OUT_tree.vtu)"
    )
    graph = p.add_argument_group("k-NN graph of scattered samples, without --topology")
    graph.add_argument("--k", type=positive_int, default=None, help="neighbours (default: 4n)")
    graph.add_argument(
        "--symmetrize", choices=("mutual", "union"), default=None, help="default: union"
    )
    graph.add_argument(
        "--knn-metric",
        choices=("curvature", "euclidean"),
        default=None,
        help="default: curvature when the landscape has its Taylor model, else euclidean",
    )
