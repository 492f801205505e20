"""Command-line subcommands of the segmentation study: data, training, table and heat map."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from losstopo.cli import common
from losstopo.cli.common import (
    REQUIRED,
    log,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    seed,
)

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure


def _cmd_make_pets(args: argparse.Namespace) -> None:
    """Generate a SYNTHETIC pets-like dataset in the Oxford-IIIT Pet layout.

    Write synthetic animal-like images, trimaps and split files in exactly the Oxford-IIIT Pet
    on-disk layout (deterministic for a seed), so the segmentation study runs offline.
    Everything derived from it is labelled synthetic.
    """
    from losstopo.problems.segmentation.synthetic_pets import make_synthetic_pets

    out = Path(args.out)
    info = make_synthetic_pets(out, args.n_trainval, args.n_test, args.size, args.seed)
    log.info(
        "wrote a SYNTHETIC pets-like dataset to %s (%d trainval + %d test images, %d px, seed %d)",
        out,
        info.get("n_trainval", args.n_trainval),
        info.get("n_test", args.n_test),
        args.size,
        args.seed,
    )


def _cmd_train_unet(args: argparse.Namespace) -> None:
    """Train one UNet-CRF segmentation run (checkpoint every epoch).

    AdamW + StepLR on the trainval split, pixel cross-entropy on 3 classes; writes
    checkpoints/epoch_EEE.pt (epoch 0 = before training), metrics.csv and run.json into --out,
    and resumes from the last finished epoch if interrupted.
    """
    from losstopo.problems.segmentation.config import UNetConfig
    from losstopo.problems.segmentation.training import train_unet_run
    from losstopo.runtime import resolve_dtype

    config = common.config_from_args(UNetConfig, args, data_dir=str(args.data))
    out, device = common.prepare_run(args)
    table = train_unet_run(
        config,
        args.seed,
        out,
        device,
        resolve_dtype(args.dtype),
        threads=args.threads,
        stop_after=args.stop_after,
    )
    last = table.iloc[-1]
    log.info(
        "lr=%g seed=%d: epoch %d, test pixel accuracy %.4f (epoch 0: %.4f), mIoU %.4f",
        config.lr,
        args.seed,
        int(last["epoch"]),
        float(last["test_pixel_accuracy"]),
        float(table.iloc[0]["test_pixel_accuracy"]),
        float(last["test_miou"]),
    )


def _cmd_unet_table(args: argparse.Namespace) -> None:
    from losstopo.io.tables import unet_table, write_csv_atomic

    table = unet_table(args.metrics)
    write_csv_atomic(table, args.out)
    log.info("wrote %d rows (%d runs) to %s", len(table), table.run.nunique(), args.out)


def _draw_unet_heatmap(table: pd.DataFrame, args: argparse.Namespace) -> Figure:
    from losstopo.io.tables import mean_accuracy_grid
    from losstopo.plots.heatmap import accuracy_heatmap

    grid = mean_accuracy_grid(table, args.value)
    n_seeds = int(table.groupby(["lr", "epoch"]).size().max())
    synthetic = bool(table["synthetic_data"].any()) if "synthetic_data" in table else False
    return accuracy_heatmap(grid, n_seeds, synthetic, title=args.title)


def _draw_topology_vs_accuracy(table: pd.DataFrame, args: argparse.Namespace) -> Figure:
    from losstopo.plots.topology_vs_metric import topology_vs_accuracy

    return topology_vs_accuracy(table, connectivity=args.connectivity)


def register(sub: argparse._SubParsersAction, figsub: argparse._SubParsersAction) -> None:
    """Register ``make-pets``, ``train-unet``, ``unet-table`` and ``figure unet-heatmap``."""
    p = common.add_command(sub, _cmd_make_pets)
    p.add_argument("--out", required=True, help="dataset directory to create")
    common.add_options(
        p,
        ("--n-trainval", positive_int, 320, "training images"),
        ("--n-test", positive_int, 160, "test images"),
        ("--size", positive_int, 64, "nominal image side in px"),
        ("--seed", seed, 0, "generator seed"),
    )
    common.add_runtime(p, device=False)

    p = common.add_command(sub, _cmd_train_unet)
    p.add_argument("--data", required=True, help="Oxford-IIIT Pet directory (real or synthetic)")
    common.add_options(
        p,
        ("--lr", positive_float, REQUIRED, "learning rate (> 0)"),
        ("--seed", seed, REQUIRED, "initialisation and shuffling seed"),
        ("--epochs", positive_int, 30, "epochs"),
        ("--batch-size", positive_int, 32, "batch"),
        ("--image-size", positive_int, 224, "centre-crop side"),
        ("--width", positive_int, 16, "UNet width"),
        ("--depth", positive_int, 5, "UNet resolution levels"),
        ("--crf-iterations", non_negative_int, 5, "mean-field iterations, 0 = no CRF layer"),
        ("--crf-taps", positive_int, 11, "Gaussian filter taps"),
    )
    p.add_argument(
        "--crf-bilateral",
        action="store_true",
        help="add the local-window bilateral kernel (off in the paper)",
    )
    common.add_options(
        p,
        ("--weight-decay", non_negative_float, 0.01, "AdamW weight decay"),
        ("--step-size", positive_int, 20, "StepLR step"),
        ("--gamma", positive_float, 0.1, "StepLR factor"),
        ("--limit-trainval", non_negative_int, 0, "use only the first N training images, 0 = all"),
        ("--limit-test", non_negative_int, 0, "use only the first N test images, 0 = all"),
    )
    common.add_dtype(p, "float32", "training precision")
    p.add_argument(
        "--stop-after",
        type=positive_int,
        default=None,
        help=argparse.SUPPRESS,  # stop as an interruption would (tests of resuming)
    )
    common.add_run_output(p, "run directory")

    common.add_metrics_table(
        sub, "unet-table", "UNet", "metrics.csv of each run (run.json beside it)", _cmd_unet_table
    )

    p = common.add_table_figure(
        figsub,
        "topology-vs-accuracy",
        "UNet checkpoints: topology summaries against test accuracy",
        "unet_topology_summary.csv",
        _draw_topology_vs_accuracy,
    )
    common.add_connectivity_filter(p)
    common.add_figure_output(p)

    p = common.add_table_figure(
        figsub,
        "unet-heatmap",
        "Fig. 4 (left): mean test accuracy over epoch x learning rate",
        "unet_accuracy.csv",
        _draw_unet_heatmap,
    )
    p.add_argument(
        "--value",
        default="test_pixel_accuracy",
        help="table column to show (default: test_pixel_accuracy)",
    )
    common.add_figure_output(p, title=True)
