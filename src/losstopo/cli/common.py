"""Shared pieces of the command line: the parser, argument types, the options and the
command bodies that several subcommands have in common."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

if TYPE_CHECKING:  # only for the annotations: the CLI starts without these libraries
    import pandas as pd
    import torch
    from matplotlib.figure import Figure

log = logging.getLogger("losstopo")

Command = Callable[[argparse.Namespace], None]
Draw = Callable[["pd.DataFrame", argparse.Namespace], "Figure"]
Config = TypeVar("Config")


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line, naming the flag and value at fault."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (NaN and inf are rejected)."""
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0 (NaN and inf are rejected)."""
    value = float(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def open_unit_interval(text: str) -> float:
    """A number in (0, 1)."""
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1), got {text}")
    return value


def seed(text: str) -> int:
    """A seed: an integer in [0, 2**63) (numpy and torch generators take 64 bits)."""
    value = int(text)
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"must be an integer in [0, 2**63), got {text}")
    return value


# argparse names the type in "invalid <type> value: 'x'"
positive_float.__name__ = non_negative_float.__name__ = open_unit_interval.__name__ = "float"


def int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def add_command(
    sub: argparse._SubParsersAction, func: Command, name: str | None = None
) -> argparse.ArgumentParser:
    """The subcommand that runs ``func``, named after it (``_cmd_train_pinn`` → ``train-pinn``)
    and documented by its docstring: the first paragraph is the one-line help, the rest the
    description of ``--help``."""
    import inspect

    name = name or func.__name__.removeprefix("_cmd_").replace("_", "-")
    first, _, rest = inspect.cleandoc(func.__doc__ or "").partition("\n\n")
    help = " ".join(first.split()).rstrip(".")
    description = " ".join(rest.split()) or None
    parser = sub.add_parser(name, help=help[:1].lower() + help[1:], description=description)
    parser.set_defaults(func=func)
    return parser


REQUIRED = object()  # the default of an option that must be given

Option = tuple[str, Callable[[str], Any], Any, str]


def add_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, *options: Option
) -> None:
    """Typed options, each ``(flag, type, default, help)``: ``REQUIRED`` as the default makes
    the option required; otherwise the help ends with the default (unless it says it)."""
    for flag, kind, default, text in options:
        if default is REQUIRED:
            parser.add_argument(flag, type=kind, required=True, help=text)
            continue
        if default is not None and "default" not in text:
            shown = f"{default:g}" if isinstance(default, float) else default
            text = f"{text} (default: {shown})"
        parser.add_argument(flag, type=kind, default=default, help=text)


def add_runtime(parser: argparse.ArgumentParser, device: bool = True) -> None:
    parser.add_argument(
        "--threads", type=positive_int, default=1, help="CPU threads for torch (default: 1)"
    )
    if device:
        add_choice(
            parser,
            "--device",
            ("auto", "cpu", "cuda"),
            default="auto",
            help="compute device; auto = CUDA when present",
        )


def add_objective_options(parser: argparse.ArgumentParser) -> None:
    """Where the objective comes from: the checkpoint's problem (with the choices of its
    data), or the user's own factory."""
    parser.add_argument(
        "--objective",
        default=None,
        metavar="FILE.py:FUNCTION",
        help="build the objective of a checkpoint of your own model with this factory "
        "(path/to/file.py:function or module:function, called as function(checkpoint, "
        "device=..., dtype=...) and returning a losstopo.Objective); this imports and runs "
        "that file (default: the losstopo checkpoint's own problem)",
    )
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
        type=positive_int,
        default=None,
        help="training images in the fixed loss batch (default: 32)",
    )
    group.add_argument(
        "--objective-batch-seed",
        type=seed,
        default=None,
        help="seed choosing the images of the fixed batch (default: 0)",
    )
    group.add_argument(
        "--data",
        default=None,
        help="dataset directory (default: the one the checkpoint was trained on)",
    )


def objective_options(args: argparse.Namespace) -> dict[str, object]:
    return {
        "bn_mode": args.bn_mode,
        "batch_size": args.objective_batch,
        "batch_seed": args.objective_batch_seed,
        "data_dir": args.data,
    }


def add_choice(
    parser: argparse.ArgumentParser,
    flag: str,
    choices: tuple[str, ...],
    *,
    default: str,
    help: str,
) -> None:
    """An option with a fixed set of values; its help ends with the default, stated once."""
    parser.add_argument(flag, choices=choices, default=default, help=f"{help} (default: {default})")


def add_dtype(parser: argparse.ArgumentParser, default: str, help: str) -> None:
    """``--dtype``: the floating-point precision of what the command computes."""
    add_choice(parser, "--dtype", ("float32", "float64"), default=default, help=help)


def add_csv_output(parser: argparse.ArgumentParser) -> None:
    """``--out`` and ``--threads`` of a command that writes one CSV table."""
    parser.add_argument("--out", required=True, help="output CSV")
    add_runtime(parser, device=False)


def add_run_output(parser: argparse.ArgumentParser, help: str) -> None:
    """What :func:`prepare_run` reads: the run directory ``--out``, threads and device."""
    parser.add_argument("--out", required=True, help=help)
    add_runtime(parser)


def add_metrics_table(
    sub: argparse._SubParsersAction, name: str, study: str, metrics: str, func: Command
) -> None:
    """A command that collects the metrics files of a study's runs into one CSV table."""
    parser = sub.add_parser(name, help=f"collect {study} metrics into one tidy CSV")
    parser.add_argument("metrics", nargs="+", help=metrics)
    add_csv_output(parser)
    parser.set_defaults(func=func)


def add_figure_output(parser: argparse.ArgumentParser, title: bool = False) -> None:
    """The options every figure kind ends with: ``--title`` (where it has one), the output
    files and ``--threads``."""
    if title:
        parser.add_argument("--title", default=None, help="figure title")
    parser.add_argument("--out", nargs="+", required=True, help="output files (.png, .pdf, .svg)")
    add_runtime(parser, device=False)


def add_connectivity_filter(parser: argparse.ArgumentParser) -> None:
    """``--connectivity`` of a figure over a topology table (one connectivity per figure)."""
    parser.add_argument(
        "--connectivity",
        default=None,
        help="rows of this connectivity only (default: full when present, else the first)",
    )


def add_table_figure(
    figsub: argparse._SubParsersAction, name: str, help: str, table: str, draw: Draw
) -> argparse.ArgumentParser:
    """A figure kind drawn from one CSV table: its parser, with the table argument and the
    command; the caller adds its own options, then :func:`add_figure_output`."""
    parser = figsub.add_parser(name, help=help)
    parser.add_argument("table", help=table)
    parser.set_defaults(func=table_figure(draw))
    return parser


def config_from_args(cls: type[Config], args: argparse.Namespace, **values: Any) -> Config:
    """A run's config dataclass: each field from the flag of the same name (the training
    commands name their flags after the fields), unless given in ``values``; a field without
    a flag keeps its default."""
    fields = (field.name for field in dataclasses.fields(cls))
    given = {name: getattr(args, name) for name in fields if hasattr(args, name)}
    return cls(**{**given, **values})


def prepare_run(args: argparse.Namespace) -> tuple[Path, torch.device]:
    """Before a training run: the (writable) run directory ``--out``, the thread count set,
    and the device resolved."""
    from losstopo.io.atomic import ensure_writable_dir
    from losstopo.runtime import keep_freed_memory, resolve_device, set_threads

    out = Path(args.out)
    ensure_writable_dir(out)
    set_threads(args.threads)
    keep_freed_memory()
    return out, resolve_device(args.device)


def ensure_output_dir(args: argparse.Namespace) -> None:
    """Fail before any work when the directory of the ``--out`` file cannot be written."""
    from losstopo.io.atomic import ensure_writable_dir

    ensure_writable_dir(Path(args.out).parent)


def write_figure(figure: Figure, out: list[str]) -> None:
    """Save the figure to every output file and say so."""
    from losstopo.plots.common import save_figure

    save_figure(figure, out)
    log.info("wrote %s", ", ".join(out))


def table_figure(draw: Draw) -> Command:
    """The command of a table figure: read ``args.table``, draw it, write ``--out``."""

    def command(args: argparse.Namespace) -> None:
        from losstopo.io.tables import read_table

        write_figure(draw(read_table(args.table), args), args.out)

    return command
