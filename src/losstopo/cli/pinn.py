"""Subcommands of the PINN study: training, the error table and its heat map."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from losstopo.cli import common
from losstopo.cli.common import REQUIRED, int_list, log, positive_int, seed

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure


def _cmd_train_pinn(args: argparse.Namespace) -> None:
    """Train one convection PINN.

    Train a PINN on u_t + beta u_x = 0 and write model.pt and metrics.json into --out.
    """
    from losstopo.problems.convection.config import PINNConfig
    from losstopo.problems.convection.training import write_pinn_run

    config = common.config_from_args(PINNConfig, args, hidden=tuple(args.hidden))
    out, device = common.prepare_run(args)
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
    from losstopo.io.tables import pinn_table, write_csv_atomic

    table = pinn_table(args.metrics)
    write_csv_atomic(table, args.out)
    log.info("wrote %d runs to %s", len(table), args.out)


def beta_lr(text: str) -> tuple[float, float]:
    """A heat-map cell ``BETA:LR`` (e.g. ``30:0.01``)."""
    beta, sep, lr = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return float(beta), float(lr)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected BETA:LR, got {text!r}") from None


def _draw_pinn_heatmap(table: pd.DataFrame, args: argparse.Namespace) -> Figure:
    from losstopo.io.tables import mean_error_grid
    from losstopo.plots.heatmap import error_heatmap

    grid = mean_error_grid(table, args.value)
    n_seeds = int(table.groupby(["beta", "lr"]).size().max())
    return error_heatmap(grid, n_seeds, title=args.title, highlight=args.highlight)


def register(sub: argparse._SubParsersAction, figsub: argparse._SubParsersAction) -> None:
    """Add this module's subcommands (and figure kinds) to the parser."""
    p = common.add_command(sub, _cmd_train_pinn)
    common.add_options(
        p,
        ("--beta", float, REQUIRED, "convection coefficient (>= 0)"),
        ("--lr", float, REQUIRED, "learning rate (> 0)"),
        ("--seed", seed, REQUIRED, "initialisation seed"),
    )
    p.add_argument(
        "--optimizer",
        choices=("lbfgs", "adam"),
        default="lbfgs",
        help="optimiser (default: lbfgs, strong-Wolfe, history 50)",
    )
    common.add_options(
        p,
        ("--iterations", positive_int, 1000, "iteration budget"),
        ("--n-f", positive_int, 100, "number of collocation points"),
        (
            "--collocation-seed",
            int,
            0,
            "seed of the fixed collocation set, shared by all runs",
        ),
        ("--hidden", int_list, [50, 50, 50, 50], "hidden layer widths (default: 50,50,50,50)"),
    )
    common.add_choice(
        p, "--activation", ("tanh", "relu", "gelu"), default="tanh", help="activation"
    )
    common.add_dtype(p, "float32", "floating-point precision")
    common.add_run_output(p, "output directory")

    common.add_metrics_table(sub, "pinn-table", "PINN", "metrics.json files", _cmd_pinn_table)

    p = common.add_table_figure(
        figsub,
        "pinn-heatmap",
        "Fig. 3 (left): mean relative error over beta x lr",
        "pinn_errors.csv",
        _draw_pinn_heatmap,
    )
    p.add_argument(
        "--value",
        default="relative_l2_error",
        help="table column to show (default: relative_l2_error)",
    )
    p.add_argument(
        "--highlight",
        nargs="+",
        type=beta_lr,
        default=None,
        metavar="BETA:LR",
        help="outline these cells (e.g. the analysed runs: 1:1 6:0.01 70:0.01)",
    )
    common.add_figure_output(p, title=True)
