"""Study cost estimate: config merging and the arithmetic of the prediction."""

from __future__ import annotations

import pytest

from losstopo.errors import LosstopoError
from losstopo.estimate import Probes, load_config, predict


def test_configs_merge_like_snakemake(repo):
    merged = load_config([repo / "config.yaml", repo / "configs/smoke.yaml"])
    assert merged["pinn"]["betas"] == [1, 30]  # lists replaced
    assert merged["pinn"]["iterations"] == 60
    assert merged["figures"]["profile_dims"] == 3
    with pytest.raises(LosstopoError, match="does not exist"):
        load_config([repo / "missing.yaml"])


def test_prediction_counts_jobs_and_schedules_them():
    config = {
        "pinn": {
            "betas": [1, 2],
            "learning_rates": [1.0],
            "seeds": [0, 1],
            "iterations": 100,
            "analysis": {"cells": [{"beta": 1, "lr": 1.0}, {"beta": 6, "lr": 1.0}], "seeds": [0]},
        },
        "hessian": {},
        "landscape": {"grids": [{"dims": 2, "resolution": 11}]},
    }
    probes = Probes(
        startup=1.0, per_iteration=0.01, per_hvp=0.1, per_point={2: 0.001}, per_vertex={2: 0.0001}
    )
    result = predict(config, probes, cores=1)
    # 4 grid runs + (6, 1.0, 0) analysed but not in the grid
    assert result["trainings"] == 5 and result["analysed_runs"] == 2
    stages = result["by_stage_cpu_seconds"]
    assert stages["train_pinn"] == pytest.approx(5 * (1.0 + 100 * 0.01))
    assert stages["hessian"] == pytest.approx(2 * (1.0 + 5 * 2 * 0.1))
    assert stages["landscape"] == pytest.approx(2 * (1.0 + 121 * 0.001))
    assert stages["topology"] == pytest.approx(2 * (1.0 + 121 * 0.0001))
    total = sum(stages.values())
    assert result["wall_seconds"] == pytest.approx(total)  # one core: everything in series
    two = predict(config, probes, cores=2)
    assert total / 2 <= two["wall_seconds"] < total
    half = predict(config, probes, cores=1, budget_fraction=0.5)
    assert half["by_stage_cpu_seconds"]["train_pinn"] == pytest.approx(5 * (1.0 + 50 * 0.01))
