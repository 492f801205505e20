"""Tidy tables aggregated from per-run outputs (one row per run)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from losstopo.atomic import write_atomic
from losstopo.errors import LosstopoError

PINN_COLUMNS = [
    "beta",
    "lr",
    "seed",
    "optimizer",
    "relative_l2_error",
    "abs_error",
    "linf_relative_error",
    "final_loss",
    "loss_ic",
    "loss_bc",
    "loss_residual",
    "iterations",
    "iteration_budget",
    "seconds",
    "diverged",
    "run",
]


def read_table(path: str | Path, kind: str = "table") -> pd.DataFrame:
    """Read a CSV table, failing with one line that names the file."""
    path = Path(path)
    if not path.is_file():
        raise LosstopoError(f"{kind} {path} does not exist")
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LosstopoError(f"{kind} {path} is not a readable CSV table: {reason}") from None
    return table


def read_metrics(path: str | Path) -> dict:
    """Read one ``metrics.json``; every column of the PINN table must be present."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise LosstopoError(f"metrics file {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8 text"
        raise LosstopoError(f"metrics file {path} is not valid JSON: {reason}") from None
    if not isinstance(data, dict):
        raise LosstopoError(f"metrics file {path} is not a JSON object")
    missing = [c for c in PINN_COLUMNS if c != "run" and c not in data]
    if missing:
        raise LosstopoError(f"metrics file {path} lacks {', '.join(missing)}")
    return data


def pinn_table(metric_files: list[str | Path]) -> pd.DataFrame:
    """One row per PINN run, sorted by β, learning rate (descending) and seed."""
    if not metric_files:
        raise LosstopoError("no metrics files given")
    rows = []
    for path in metric_files:
        data = read_metrics(path)
        row = {column: data.get(column) for column in PINN_COLUMNS}
        row["run"] = Path(path).parent.name
        rows.append(row)
    table = pd.DataFrame(rows, columns=PINN_COLUMNS)
    table = table.sort_values(["beta", "lr", "seed"], ascending=[True, False, True])
    return table.reset_index(drop=True)


def write_csv_atomic(table: pd.DataFrame, path: str | Path) -> None:
    write_atomic(path, lambda tmp: table.to_csv(tmp, index=False, float_format="%.10g"))


def mean_error_grid(table: pd.DataFrame, value: str = "relative_l2_error") -> pd.DataFrame:
    """Mean over seeds per (lr, β) cell; rows = learning rate (descending), columns = β.

    A cell with any diverged or non-finite run is NaN (shown as such, never hidden).
    """
    for column in ("beta", "lr", value):
        if column not in table.columns:
            raise LosstopoError(f"table lacks column {column!r}")

    def cell_mean(values: pd.Series) -> float:
        finite = values.map(lambda v: v is not None and math.isfinite(float(v)))
        return float(values.mean()) if bool(finite.all()) else float("nan")

    grid = table.groupby(["lr", "beta"])[value].agg(cell_mean).unstack("beta")
    return grid.sort_index(ascending=False).sort_index(axis=1)


TOPOLOGY_COLUMNS = [
    "n_vertices",
    "n_minima_raw",
    "n_saddles_raw",
    "n_minima_above",
    "n_saddles_above",
    "n_components",
    "n_minima",
    "n_saddles",
    "total_persistence",
    "mean_persistence",
    "max_persistence",
    "persistence_entropy",
    "largest_basin_fraction",
    "summary_threshold",
    "persistence_threshold",
]
# Shape descriptors (losstopo.topology.descriptors); older topology files lack them.
DESCRIPTOR_COLUMNS = [
    "center_loss",
    "center_is_minimum",
    "basin_depth_decades",
    "basin_fraction",
    "basin_size",
    "basin_end_loss",
    "fraction_within_decade",
    "log_threshold_decades",
    "n_minima_above_log",
    "n_saddles_above_log",
    "total_log_persistence",
    "max_log_persistence",
    "loss_q05",
    "loss_median",
    "loss_q95",
    "loss_max",
    "loss_range_decades",
]


def parse_regimes(specs: list[str] | None) -> dict[tuple[float, float], str]:
    """``BETA:LR:LABEL`` strings → {(beta, lr): label}."""
    regimes = {}
    for spec in specs or []:
        parts = spec.split(":", 2)
        try:
            beta, lr, label = float(parts[0]), float(parts[1]), parts[2]
        except (IndexError, ValueError):
            raise LosstopoError(f"--regime {spec!r} is not BETA:LR:LABEL") from None
        regimes[(beta, lr)] = label
    return regimes


def _json_attr(attrs: dict, key: str, path: Path) -> dict:
    try:
        value = json.loads(attrs[key])
    except KeyError:
        raise LosstopoError(f"topology file {path} lacks attribute {key}") from None
    except (TypeError, ValueError):
        raise LosstopoError(f"topology file {path}: attribute {key} is not JSON") from None
    if not isinstance(value, dict):
        raise LosstopoError(f"topology file {path}: attribute {key} is not a JSON object")
    return value


def topology_table(
    topology_files: list[str | Path],
    metric_files: list[str | Path] | None = None,
    regimes: dict[tuple[float, float], str] | None = None,
) -> pd.DataFrame:
    """One row per PINN landscape topology: its summaries and shape descriptors with the
    run's β, lr, seed and error — from the checkpoint metrics the landscape carries, or from
    a ``metrics.json`` given for the run directory."""
    import xarray as xr

    metrics = {Path(path).parent.resolve(): read_metrics(path) for path in metric_files or []}
    rows = []
    for path in map(Path, topology_files):
        if not path.is_file():
            raise LosstopoError(f"topology file {path} does not exist")
        with xr.open_dataset(path) as dataset:
            attrs = dict(dataset.attrs)
        missing = [c for c in TOPOLOGY_COLUMNS if c not in attrs]
        if missing:
            raise LosstopoError(f"topology file {path} lacks attribute(s) {', '.join(missing)}")
        run = metrics.get(path.parent.resolve())
        if run is None:
            hparams = _json_attr(attrs, "landscape_problem_hparams", path)
            checkpoint = _json_attr(attrs, "landscape_checkpoint_metrics", path)
            try:
                run = {
                    "beta": float(hparams["beta"]),
                    "lr": float(hparams["lr"]),
                    "seed": int(attrs["landscape_checkpoint_seed"]),
                    "relative_l2_error": float(checkpoint["relative_l2_error"]),
                }
            except KeyError as exc:
                raise LosstopoError(
                    f"topology file {path}: its landscape lacks the run's {exc.args[0]} "
                    "(pass --metrics with the run's metrics.json)"
                ) from None
        rows.append(
            {
                "run": path.parent.name,
                "regime": (regimes or {}).get((float(run["beta"]), float(run["lr"])), ""),
                "beta": run["beta"],
                "lr": run["lr"],
                "seed": run["seed"],
                "relative_l2_error": run["relative_l2_error"],
                "dims": attrs.get("landscape_dims"),
                "resolution": attrs.get("landscape_resolution"),
                "distance": attrs.get("landscape_distance"),
                "connectivity": attrs["connectivity"],
                "k": attrs.get("k", 0),
                **{column: attrs[column] for column in TOPOLOGY_COLUMNS},
                **{column: attrs.get(column, np.nan) for column in DESCRIPTOR_COLUMNS},
                "file": str(path),
            }
        )
    if not rows:
        raise LosstopoError("no topology files given")
    table = pd.DataFrame(rows)
    return table.sort_values(
        ["dims", "distance", "connectivity", "beta", "lr", "seed"],
        ascending=[True, True, True, True, False, True],
    ).reset_index(drop=True)


UNET_COLUMNS = [
    "lr",
    "seed",
    "epoch",
    "train_loss",
    "test_loss",
    "test_pixel_accuracy",
    "test_miou",
    "diverged",
    "synthetic_data",
    "run",
]


def unet_table(metric_files: list[str | Path]) -> pd.DataFrame:
    """One row per UNet run and epoch, from each run's ``metrics.csv`` and ``run.json``."""
    if not metric_files:
        raise LosstopoError("no metrics files given")
    frames = []
    for path in map(Path, metric_files):
        run_file = path.parent / "run.json"
        if not path.is_file():
            raise LosstopoError(f"metrics file {path} does not exist")
        if not run_file.is_file():
            raise LosstopoError(f"run description {run_file} does not exist")
        frame = read_table(path, "metrics file")
        missing = [c for c in UNET_COLUMNS[2:7] if c not in frame.columns]
        if missing:
            raise LosstopoError(f"metrics file {path} lacks column(s) {', '.join(missing)}")
        run = json.loads(run_file.read_text())
        if "diverged" not in frame.columns:  # metrics written before divergence was recorded
            losses = frame[["train_loss", "test_loss"]].to_numpy(dtype=float)
            frame["diverged"] = np.logical_or.accumulate(~np.isfinite(losses).all(axis=1))
        frame["diverged"] = frame["diverged"].astype(str).str.lower().isin(["true", "1", "1.0"])
        frame = frame.assign(
            lr=float(run["lr"]),
            seed=int(run["seed"]),
            synthetic_data=bool(run.get("synthetic_data", False)),
            run=path.parent.name,
        )
        frames.append(frame[UNET_COLUMNS])
    table = pd.concat(frames, ignore_index=True)
    return table.sort_values(["lr", "seed", "epoch"], ascending=[False, True, True]).reset_index(
        drop=True
    )


def mean_accuracy_grid(table: pd.DataFrame, value: str = "test_pixel_accuracy") -> pd.DataFrame:
    """Mean of ``value`` over seeds: rows = learning rate (descending), columns = epoch."""
    if value not in table.columns:
        raise LosstopoError(f"UNet table has no column {value!r}")
    # a cell with a diverged run (NaN accuracy) stays NaN: shown, never averaged away
    grid = table.groupby(["lr", "epoch"])[value].agg(lambda v: v.mean(skipna=False))
    grid = grid.unstack("epoch")
    return grid.sort_index(ascending=False)


def unet_topology_table(topology_files: list[str | Path]) -> pd.DataFrame:
    """One row per analysed UNet checkpoint: its merge-tree summaries, the top Hessian
    eigenvalues and the checkpoint's test metrics (carried in each ``topology.nc``)."""
    import xarray as xr

    rows = []
    for path in map(Path, topology_files):
        if not path.is_file():
            raise LosstopoError(f"topology file {path} does not exist")
        with xr.open_dataset(path) as dataset:
            attrs = dict(dataset.attrs)
        needed = [*TOPOLOGY_COLUMNS, "landscape_checkpoint_metrics", "landscape_problem_hparams"]
        missing = [c for c in needed if c not in attrs]
        if missing:
            raise LosstopoError(f"topology file {path} lacks attribute(s) {', '.join(missing)}")
        metrics = _json_attr(attrs, "landscape_checkpoint_metrics", path)
        hparams = _json_attr(attrs, "landscape_problem_hparams", path)
        eigenvalues = np.atleast_1d(attrs.get("landscape_eigenvalues", [np.nan]))
        rows.append(
            {
                "run": path.parent.parent.name,
                "lr": float(hparams["lr"]),
                "seed": int(attrs["landscape_checkpoint_seed"]),
                "epoch": int(attrs["landscape_checkpoint_epoch"]),
                "test_pixel_accuracy": float(metrics["test_pixel_accuracy"]),
                "test_miou": float(metrics["test_miou"]),
                "test_loss": float(metrics["test_loss"]),
                "center_loss": float(attrs.get("landscape_center_loss", np.nan)),
                "top_eigenvalue": float(eigenvalues[0]),
                "synthetic_data": bool(attrs.get("landscape_objective_synthetic_data", 0)),
                "dims": attrs.get("landscape_dims"),
                "resolution": attrs.get("landscape_resolution"),
                "distance": attrs.get("landscape_distance"),
                "connectivity": attrs["connectivity"],
                **{column: attrs[column] for column in TOPOLOGY_COLUMNS},
                **{column: attrs.get(column, np.nan) for column in DESCRIPTOR_COLUMNS},
            }
        )
    if not rows:
        raise LosstopoError("no topology files given")
    table = pd.DataFrame(rows)
    return table.sort_values(["lr", "seed", "epoch"], ascending=[False, True, True]).reset_index(
        drop=True
    )
