"""Shared pieces of the command line: the parser, argument types, runtime options."""

from __future__ import annotations

import argparse
import logging
import math
from typing import NoReturn

log = logging.getLogger("losstopo")


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


def seed(text: str) -> int:
    """A seed: an integer in [0, 2**63) (numpy and torch generators take 64 bits)."""
    value = int(text)
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"must be an integer in [0, 2**63), got {text}")
    return value


# argparse names the type in "invalid <type> value: 'x'"
positive_float.__name__ = non_negative_float.__name__ = "float"


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


def add_runtime(parser: argparse.ArgumentParser, device: bool = True) -> None:
    parser.add_argument(
        "--threads", type=positive_int, default=1, help="CPU threads for torch (default: 1)"
    )
    if device:
        parser.add_argument(
            "--device",
            choices=("auto", "cpu", "cuda"),
            default="auto",
            help="compute device; auto = CUDA when present (default: auto)",
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
