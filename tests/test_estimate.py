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


def test_prediction_of_the_segmentation_study():
    from losstopo.estimate import UNET_HVPS, UNetProbes

    config = {
        "pinn": {"betas": [1], "learning_rates": [1.0], "seeds": [0], "iterations": 10},
        "hessian": {},
        "landscape": {"grids": [{"dims": 2, "resolution": 3}]},
        "unet": {
            "enabled": True,
            "dataset": "synthetic",
            "synthetic": {"n_trainval": 100, "n_test": 50},
            "epochs": 4,
            "learning_rates": [0.01, 0.001],
            "seeds": [1, 2, 3],
            "analysis": {"epochs": [0, 4], "seeds": [1]},
            "landscape": {"batch_size": 8, "resolution": 5},
        },
    }
    unet = UNetProbes(
        per_train_image=0.01,
        per_eval_image=0.002,
        per_hvp_image=0.03,
        per_point_image=0.004,
        per_generated_image=0.005,
    )
    probes = Probes(1.0, 0.01, 0.1, {2: 0.001}, {2: 0.0001}, unet)
    stages = predict(config, probes, cores=1)["by_stage_cpu_seconds"]
    assert stages["make_pets"] == pytest.approx(1.0 + 150 * 0.005)
    per_run = 1.0 + 4 * 100 * 0.01 + (100 + 5 * 50) * 0.002
    assert stages["train_unet"] == pytest.approx(6 * per_run)
    checkpoints = 2 * 1 * 2  # learning rates x analysed seeds x analysed epochs
    assert stages["unet_hessian"] == pytest.approx(checkpoints * (1.0 + UNET_HVPS * 8 * 0.03))
    assert stages["unet_landscape"] == pytest.approx(checkpoints * (1.0 + 25 * 8 * 0.004))
    assert stages["unet_topology"] == pytest.approx(checkpoints * (1.0 + 25 * 0.0001))
    config["unet"]["enabled"] = False
    assert "train_unet" not in predict(config, probes, cores=1)["by_stage_cpu_seconds"]
