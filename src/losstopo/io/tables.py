"""Tidy tables aggregated from per-run outputs (one row per run)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from losstopo.errors import LosstopoError
from losstopo.io.atomic import check_input_file, write_atomic
from losstopo.topology.null_model import CALIBRATED_COUNTS

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
    path = check_input_file(path, kind)
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LosstopoError(f"{kind} {path} is not a readable CSV table: {reason}") from None
    return table


def read_metrics(path: str | Path) -> dict:
    """Read one ``metrics.json``; every column of the PINN table must be present."""
    path = check_input_file(path, "metrics file")
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

    # a diverged run's error can be finite (a huge number): its flag decides
    if "diverged" in table.columns:
        flagged = table["diverged"].astype(str).str.lower().isin(["true", "1", "1.0"])
        table = table.assign(**{value: table[value].where(~flagged, float("nan"))})
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


# The null model (the Taylor quadratic at theta on the same vertices and graph): its counts,
# the real counts' excess over them and the loss's departure from it; older topology files
# lack them (-1 / NaN).
NULL_COLUMNS = [
    "null_model",
    *[f"null_{name}" for name in CALIBRATED_COUNTS],
    *[f"excess_{name}" for name in CALIBRATED_COUNTS],
    "anharmonic_fraction",
    "taylor_log_error_median",
    "null_min_curvature",
    "null_max_curvature",
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


def _json_attr(attrs: dict, key: str, path: Path, kind: type = dict) -> Any:
    """A JSON-encoded attribute of a topology file, checked to be a ``kind`` (object or list)."""
    try:
        value = json.loads(attrs[key])
    except KeyError:
        raise LosstopoError(f"topology file {path} lacks attribute {key}") from None
    except (TypeError, ValueError):
        raise LosstopoError(f"topology file {path}: attribute {key} is not JSON") from None
    if not isinstance(value, kind):
        what = "object" if kind is dict else kind.__name__
        raise LosstopoError(f"topology file {path}: attribute {key} is not a JSON {what}")
    return value


def _curvature_columns(path: Path) -> dict[str, float]:
    """Trace, its standard error and the ESD's negative mass from the ``curvature.nc`` of
    the same checkpoint directory (NaN when the checkpoint has none), and the per-layer
    traces, their standard errors and top eigenvalues where the file has them."""
    import xarray as xr

    from losstopo.io.curvature_file import curvature_summary, empty_summary, layer_columns

    if not path.is_file():
        return empty_summary()
    try:
        with xr.open_dataset(path) as dataset:
            return {**curvature_summary(dict(dataset.attrs)), **layer_columns(dataset)}
    except (OSError, ValueError, KeyError) as exc:
        raise LosstopoError(f"{path} is not a readable curvature file: {exc}") from None


def topology_row(path: Path, regimes: dict[tuple[float, float], str]) -> tuple[dict, list[str]]:
    """One table row from a ``topology.nc``: what identifies its checkpoint (the problem's
    fields, e.g. beta, lr, seed), the checkpoint's metrics, the landscape and the topology;
    with the names of those fields."""
    import xarray as xr

    check_input_file(path, "topology file")
    try:
        with xr.open_dataset(path) as dataset:
            attrs = dict(dataset.attrs)
    except (OSError, ValueError) as exc:
        raise LosstopoError(f"{path} is not a readable netCDF topology file: {exc}") from None
    missing = [c for c in TOPOLOGY_COLUMNS if c not in attrs]
    if missing:
        raise LosstopoError(f"topology file {path} lacks attribute(s) {', '.join(missing)}")
    fields = _json_attr(attrs, "landscape_run_fields", path)
    metrics = _json_attr(attrs, "landscape_checkpoint_metrics", path)
    names = _json_attr(attrs, "landscape_table_metrics", path, list)
    absent = [name for name in names if name not in metrics]
    if absent:
        raise LosstopoError(f"topology file {path}: checkpoint metrics lack {', '.join(absent)}")
    eigenvalues = np.atleast_1d(attrs.get("landscape_eigenvalues", [np.nan]))
    regime = ""
    if "beta" in fields and "lr" in fields:
        regime = regimes.get((float(fields["beta"]), float(fields["lr"])), "")
    # results/<problem>/<run>/<checkpoint>/topology_*.nc
    row = {
        "problem": str(attrs.get("landscape_problem", "")),
        "run": path.parent.parent.name,
        "checkpoint": path.parent.name,
        "regime": regime,
        **fields,
        **{name: float(metrics[name]) for name in names},
        "top_eigenvalue": float(eigenvalues[0]),
        **_curvature_columns(path.parent / "curvature.nc"),
        "synthetic_data": bool(attrs.get("landscape_objective_synthetic_data", 0)),
        "dims": attrs.get("landscape_dims"),
        "resolution": attrs.get("landscape_resolution"),
        "sampling": str(attrs.get("landscape_sampling", "grid")),
        "distance": attrs.get("landscape_distance"),
        "connectivity": attrs["connectivity"],
        "k": attrs.get("k", 0),
        **{column: attrs[column] for column in TOPOLOGY_COLUMNS},
        **{column: attrs.get(column, np.nan) for column in DESCRIPTOR_COLUMNS},
        **{column: attrs.get(column, np.nan) for column in NULL_COLUMNS},
        "summary_threshold_relative": attrs.get("summary_threshold_relative", np.nan),
        "finite_fraction": attrs.get("finite_fraction", np.nan),
        "knn_metric": str(attrs.get("knn_metric", "")),
        "symmetrize": str(attrs.get("symmetrize", "")),
        "file": str(path),
    }
    return row, list(fields)


def topology_table(
    topology_files: list[str | Path],
    regimes: dict[tuple[float, float], str] | None = None,
) -> pd.DataFrame:
    """One row per topology file of any problem, sorted by landscape (dims, distance,
    connectivity), then by the checkpoint's fields in the problem's order (learning rates
    descending, like the heat maps' rows), then by the order of the files given."""
    if not topology_files:
        raise LosstopoError("no topology files given")
    read = [topology_row(Path(path), regimes or {}) for path in topology_files]
    table = pd.DataFrame([row for row, _ in read])
    fields = read[0][1]
    if table["problem"].nunique() > 1:
        raise LosstopoError(
            "topology files of different problems "
            f"({', '.join(sorted(table['problem'].unique()))}) belong in separate tables"
        )
    keys = ["dims", "distance", "connectivity", *[f for f in fields if f in table]]
    table["_order"] = range(len(table))
    table = table.sort_values(
        [*keys, "_order"], ascending=[key != "lr" for key in keys] + [True], kind="stable"
    )
    return table.drop(columns="_order").reset_index(drop=True)


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
