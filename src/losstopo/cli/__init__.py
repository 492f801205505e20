"""Command line: the workflow's only entry into the library.

One module per group of subcommands; each registers its parsers with ``register``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Sequence

from losstopo._version import __version__
from losstopo.cli import analysis, claims, export, figures, pinn, segmentation
from losstopo.cli.common import Parser
from losstopo.errors import LosstopoError


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="losstopo", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"losstopo {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback of an unexpected error"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fig = sub.add_parser("figure", help="draw a figure from cached artifacts")
    figsub = fig.add_subparsers(dest="figure", required=True, metavar="FIGURE")
    for module in (pinn, analysis, claims, figures, segmentation, export):
        module.register(sub, figsub)
    return parser


def _paths(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []


def overwritten_input(args: argparse.Namespace) -> str | None:
    """The first input that an ``--out`` path resolves to (an output never replaces an input)."""
    outputs = [p for p in _paths(getattr(args, "out", None)) if os.path.exists(p)]
    if not outputs:
        return None
    for name, value in vars(args).items():
        if name == "out":
            continue
        for path in _paths(value):
            for out in outputs:
                with contextlib.suppress(OSError):
                    if os.path.exists(path) and os.path.samefile(path, out):
                        return f"--out {out} is the input {path} (--{name.replace('_', '-')})"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand; user errors become one line on stderr and exit status 2."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("MPLBACKEND", "Agg")  # figures are files; never open a window
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], None] = args.func
    clash = overwritten_input(args)
    if clash:
        print(f"losstopo: error: {clash}; choose another output path", file=sys.stderr)
        return 2
    try:
        func(args)
    except LosstopoError as exc:
        print(f"losstopo: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("losstopo: interrupted; no partial output was kept", file=sys.stderr)
        return 130
    except Exception as exc:  # last resort: one line, the traceback only with --debug
        if args.debug:
            raise
        print(
            f"losstopo: error: {args.command}: {type(exc).__name__}: {exc} "
            "(run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 2
    return 0
