"""Subcommands of the PINN study: training, the error table and its heat map."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from losstopo.cli.common import (
    add_runtime,
    int_list,
    positive_int,
    seed,
)

log = logging.getLogger("losstopo")


def _cmd_train_pinn(args: argparse.Namespace) -> None:
    from losstopo.io.atomic import ensure_writable_dir
    from losstopo.problems.convection.config import PINNConfig
    from losstopo.problems.convection.training import write_pinn_run
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


def _cmd_figure_pinn_heatmap(args: argparse.Namespace) -> None:

    from losstopo.io.tables import mean_error_grid, read_table
    from losstopo.plots.common import save_figure
    from losstopo.plots.heatmap import error_heatmap

    table = read_table(args.table)
    grid = mean_error_grid(table, args.value)
    n_seeds = int(table.groupby(["beta", "lr"]).size().max())
    figure = error_heatmap(grid, n_seeds, title=args.title, highlight=args.highlight)
    save_figure(figure, args.out)
    log.info("wrote %s", ", ".join(args.out))


def register(sub: argparse._SubParsersAction, figsub: argparse._SubParsersAction) -> None:
    """Add this module's subcommands (and figure kinds) to the parser."""
    p = sub.add_parser(
        "train-pinn",
        help="train one convection PINN",
        description=(
            "Train a PINN on u_t + beta u_x = 0 and write model.pt and metrics.json into --out."
        ),
    )
    p.add_argument("--beta", type=float, required=True, help="convection coefficient (>= 0)")
    p.add_argument("--lr", type=float, required=True, help="learning rate (> 0)")
    p.add_argument("--seed", type=seed, required=True, help="initialisation seed")
    p.add_argument(
        "--optimizer",
        choices=("lbfgs", "adam"),
        default="lbfgs",
        help="optimiser (default: lbfgs, strong-Wolfe, history 50)",
    )
    p.add_argument(
        "--iterations", type=positive_int, default=1000, help="iteration budget (default: 1000)"
    )
    p.add_argument(
        "--n-f", type=positive_int, default=100, help="number of collocation points (default: 100)"
    )
    p.add_argument(
        "--collocation-seed",
        type=int,
        default=0,
        help="seed of the fixed collocation set, shared by all runs (default: 0)",
    )
    p.add_argument(
        "--hidden",
        type=int_list,
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
    add_runtime(p)
    p.set_defaults(func=_cmd_train_pinn)

    p = sub.add_parser("pinn-table", help="collect PINN metrics into one tidy CSV")
    p.add_argument("metrics", nargs="+", help="metrics.json files")
    p.add_argument("--out", required=True, help="output CSV")
    add_runtime(p, device=False)
    p.set_defaults(func=_cmd_pinn_table)

    p = figsub.add_parser("pinn-heatmap", help="Fig. 3 (left): mean relative error over beta x lr")
    p.add_argument("table", help="pinn_errors.csv")
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
    p.add_argument("--title", default=None, help="figure title")
    p.add_argument("--out", nargs="+", required=True, help="output files (.png, .pdf, .svg)")
    add_runtime(p, device=False)
    p.set_defaults(func=_cmd_figure_pinn_heatmap)
