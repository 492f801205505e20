"""The landscape options the workflow derives from the config, read back by the real
``losstopo landscape`` parser."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from losstopo.cli import build_parser
from losstopo.workflow.sampling import sampling_options, tiled_dims, untiled_dims

REPO = Path(__file__).resolve().parents[1]
LANDSCAPE = yaml.safe_load((REPO / "config.yaml").read_text())["landscape"]


def _parsed(options: list[str]):
    argv = ["landscape", "model.pt", "--directions", "h.nc", "--dims", "3", "--distance", "0.1"]
    argv += ["--out", "l.nc"]
    return build_parser().parse_args([*argv, *options])


def test_each_configured_dimension_is_sampled_as_configured():
    options = sampling_options(LANDSCAPE)
    assert sorted(options) == sorted(
        [g["dims"] for g in LANDSCAPE["grids"]] + [s["dims"] for s in LANDSCAPE["scattered"]]
    )
    for grid in LANDSCAPE["grids"]:
        assert _parsed(options[grid["dims"]]).resolution == grid["resolution"]
    for entry in LANDSCAPE["scattered"]:
        args = _parsed(options[entry["dims"]])
        assert (args.sampling, args.n_points, args.seed) == (
            entry["sampling"],
            entry["n_points"],
            entry["seed"],
        )
        assert (args.center_points, args.center_scale) == (
            entry["center_points"],
            entry["center_scale"],
        )


def test_only_scattered_landscapes_stay_one_job_when_grids_are_tiled():
    assert re.fullmatch(untiled_dims(LANDSCAPE), "4")  # one tile: every dimension
    tiled = {**LANDSCAPE, "tiles": 3}
    pattern = untiled_dims(tiled)
    assert re.fullmatch(pattern, "6") and not re.fullmatch(pattern, "3")
    assert untiled_dims({**tiled, "scattered": []}) == "^$"


def test_every_grid_but_no_scattered_landscape_is_tiled():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    assert tiled_dims(config) == "2|3|4"  # the UNet's 2-D grids too; 6-D is scattered
    config["models"] = [{"dims": [2, 5]}, {"dims": [6]}]
    assert tiled_dims(config) == "2|3|4|5"
    config["unet"]["enabled"] = False
    config["landscape"]["grids"], config["models"] = [], []
    assert tiled_dims(config) == "^$"
