"""Aggregated tables and the error heat map, from metrics written by real runs."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from losstopo.cli import main
from losstopo.errors import LosstopoError
from losstopo.io.atomic import write_atomic, write_json_atomic
from losstopo.io.tables import PINN_COLUMNS, mean_error_grid, pinn_table


def _metrics(path, beta, lr, seed, error, diverged=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {c: 0 for c in PINN_COLUMNS if c != "run"}
    data.update(
        beta=beta, lr=lr, seed=seed, optimizer="lbfgs", relative_l2_error=error, diverged=diverged
    )
    write_json_atomic(path, data)
    return path


@pytest.fixture
def metric_files(tmp_path):
    files = []
    for beta, lr, seed, err in [
        (30, 1.0, 0, 0.9),
        (1, 1.0, 1, 0.02),
        (1, 1.0, 0, 0.01),
        (1, 0.01, 0, 0.3),
        (30, 0.01, 0, 0.8),
        (1, 0.01, 1, 0.5),
        (30, 1.0, 1, 1.1),
        (30, 0.01, 1, float("nan")),
    ]:
        files.append(
            _metrics(
                tmp_path / f"b{beta}_lr{lr}_s{seed}" / "metrics.json",
                beta,
                lr,
                seed,
                err,
                diverged=math.isnan(err),
            )
        )
    return files


def test_pinn_table_is_tidy_and_sorted(metric_files):
    table = pinn_table(metric_files)
    assert list(table.columns) == PINN_COLUMNS
    assert len(table) == 8
    assert list(zip(table.beta, table.lr, table.seed, strict=True))[:4] == [
        (1, 1.0, 0),
        (1, 1.0, 1),
        (1, 0.01, 0),
        (1, 0.01, 1),
    ]
    assert table.loc[0, "run"] == "b1_lr1.0_s0"


def test_mean_error_grid_averages_seeds_and_keeps_divergence_visible(metric_files):
    grid = mean_error_grid(pinn_table(metric_files))
    assert list(grid.index) == [1.0, 0.01] and list(grid.columns) == [1, 30]
    assert grid.loc[1.0, 1] == pytest.approx(0.015)
    assert grid.loc[0.01, 1] == pytest.approx(0.4)
    assert grid.loc[1.0, 30] == pytest.approx(1.0)
    assert math.isnan(grid.loc[0.01, 30])


def test_table_and_heatmap_cli(metric_files, tmp_path):
    csv = tmp_path / "tables" / "pinn_errors.csv"
    assert main(["pinn-table", *map(str, metric_files), "--out", str(csv)]) == 0
    table = pd.read_csv(csv)
    assert len(table) == 8 and table.diverged.sum() == 1
    png, pdf = tmp_path / "fig.png", tmp_path / "fig.pdf"
    assert main(["figure", "pinn-heatmap", str(csv), "--out", str(png), str(pdf)]) == 0
    image = imread(png)
    assert image.shape[0] > 200 and image.shape[1] > 300
    assert np.std(image[..., :3]) > 0.05  # not a blank canvas
    assert pdf.read_bytes().startswith(b"%PDF")


def test_bad_metrics_file_leaves_existing_table_untouched(metric_files, tmp_path):
    csv = tmp_path / "pinn_errors.csv"
    csv.write_text("previous\n")
    broken = tmp_path / "broken" / "metrics.json"
    broken.parent.mkdir()
    broken.write_text("{not json")
    assert main(["pinn-table", *map(str, metric_files), str(broken), "--out", str(csv)]) == 2
    assert csv.read_text() == "previous\n"
    with pytest.raises(
        LosstopoError, match=r"incomplete\.json lacks lr, seed, optimizer, relative_l2_error"
    ):
        incomplete = tmp_path / "incomplete.json"
        incomplete.write_text(json.dumps({"beta": 1}))
        pinn_table([incomplete])


def test_atomic_write_failure_keeps_target_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")

    def failing(tmp):
        tmp.write_text("partial")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_atomic(target, failing)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
