"""Per-problem settings of the analysis rules, built without Snakemake and read back by the
real ``losstopo hessian`` parser."""

from __future__ import annotations

from pathlib import Path

import yaml

from losstopo.cli import build_parser
from losstopo.workflow.analysis_settings import model_settings, pinn_settings, unet_settings

REPO = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())


def test_the_pinn_analyses_its_model_checkpoint_with_the_largest_landscape_top_k():
    settings = pinn_settings(CONFIG)
    largest = max(
        s["dims"] for s in CONFIG["landscape"]["scattered"] + CONFIG["landscape"]["grids"]
    )
    assert settings.top_k == largest == 6
    assert (
        settings.checkpoint("beta1_lr1_seed0", "model") == "results/pinn/beta1_lr1_seed0/model.pt"
    )
    assert settings.hessian_dtype == CONFIG["hessian"]["dtype"] and settings.inputs == {}


def test_the_unet_objective_options_reach_the_cli_as_configured():
    settings = unet_settings(CONFIG, "data/SYNTHETIC.json")
    argv = ["hessian", settings.checkpoint("lr0.002_seed243", "epoch_003"), "--top-k", "2"]
    args = build_parser().parse_args([*argv, *settings.objective, "--out", "h.nc"])
    landscape = CONFIG["unet"]["landscape"]
    assert args.checkpoint == "results/unet/lr0.002_seed243/checkpoints/epoch_003.pt"
    assert args.bn_mode == landscape["bn_mode"]
    assert (args.objective_batch, args.objective_batch_seed) == (
        landscape["batch_size"],
        landscape["batch_seed"],
    )
    assert settings.inputs == {"data": "data/SYNTHETIC.json"} and settings.top_k == 2


def test_a_model_reads_its_own_files_and_the_code_of_its_objective():
    model = {
        "name": "m",
        "files": {"epoch_1": "runs/epoch_1.pt", "-lead": "./-lead.pt"},
        "objective": "examples/own_model/objective.py:make_objective",
        "dims": [2, 3],
        "resolution": 7,
        "dtype": "float64",
        "threads": 1,
        "normalization": "layer",
    }
    settings = model_settings(model, ["ignored.py"])
    assert settings.checkpoint("m", "-lead") == "./-lead.pt" and settings.top_k == 3
    assert settings.inputs == {"objective_code": ["examples/own_model/objective.py"]}
    assert settings.objective == ["--objective", model["objective"]]
    assert settings.sampling == {2: ["--resolution", "7"], 3: ["--resolution", "7"]}
    registered = model_settings({**model, "objective": None}, ["toy.py", "package.module"])
    assert registered.objective == [] and registered.inputs == {"objective_code": ["toy.py"]}
