"""Command line: the workflow's only entry into the library.

One module per group of subcommands; each registers its parsers with ``register``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from losstopo import __version__
from losstopo.cli import analysis, figures, pinn, segmentation
from losstopo.cli.common import Parser
from losstopo.errors import LosstopoError


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="losstopo", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"losstopo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fig = sub.add_parser("figure", help="draw a figure from cached artifacts")
    figsub = fig.add_subparsers(dest="figure", required=True, metavar="FIGURE")
    for module in (pinn, analysis, figures, segmentation):
        module.register(sub, figsub)
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
