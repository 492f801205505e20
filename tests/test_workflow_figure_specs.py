"""Figure specifications of the workflow, built without Snakemake: each figure's command, as
the real ``losstopo`` parser reads it, says what the specification means."""

from __future__ import annotations

import os

import losstopo
from losstopo.cli import build_parser
from losstopo.workflow.figure_specs import (
    cli_options,
    density_figure,
    landscape_of,
    profile_figure,
    table_figure,
)

DRAWING = {"log_loss": True, "profile_threshold": 0.0, "child_order": "width"}
PLACE = ("PINN convection", "Fig. 3", "profiles")
SOURCES = os.path.dirname(losstopo.__file__)


def _parse(spec: dict) -> object:
    return build_parser().parse_args(["figure", spec["kind"], *spec["arguments"], "--out", "f.png"])


def test_config_keys_become_options():
    section = {"n_f": 100, "hidden": [50, 50], "flag": True, "off": False, "none": None}
    options = cli_options(section, ["n_f", "hidden", "flag", "off", "none"])
    assert options == ["--n-f", "100", "--hidden", "50,50", "--flag"]


def test_a_merge_tree_names_its_landscape():
    path = "results/pinn/beta1_lr1_seed0/model/topology_3d_d0.1_full.nc"
    assert landscape_of(path) == "results/pinn/beta1_lr1_seed0/model/landscape_3d_d0.1.nc"
    assert landscape_of("a/topology_6d_d0.003_knn.nc") == "a/landscape_6d_d0.003.nc"


def test_a_profile_grid_reads_its_trees_and_landscapes_and_labels_every_row_and_column():
    trees = [f"r{i}/topology_3d_d0.1_full.nc" for i in range(4)]
    spec = profile_figure(trees, 2, ["-a", "b"], ["seed 0", "-1"], DRAWING, ["x.py"], PLACE, "-t")
    assert spec["inputs"] == trees + [landscape_of(t) for t in trees]
    args = _parse(spec)
    assert args.panels == trees and args.columns == 2
    assert args.row_labels == ["-a", "b"] and args.column_labels == ["seed 0", "-1"]
    assert args.title == "-t" and args.order == "width" and not args.linear
    linear = profile_figure(
        trees, 2, ["a", "b"], ["c", "d"], {**DRAWING, "log_loss": False}, [], PLACE
    )
    assert _parse(linear).linear and _parse(linear).title is None


def test_a_density_figure_pairs_each_file_with_its_panel_and_curve():
    groups = {"success": [("seed 0", "d/s0"), ("seed 1", "d/s1")], "failure": [("seed 0", "d/f0")]}
    spec = density_figure(groups, [], PLACE, "densities")
    args = _parse(spec)
    assert args.curvature == ["d/s0/curvature.nc", "d/s1/curvature.nc", "d/f0/curvature.nc"]
    assert args.panel == ["success", "success", "failure"]
    assert args.curve == ["seed 0", "seed 1", "seed 0"]
    assert spec["inputs"] == args.curvature


def test_a_table_figure_reads_its_table():
    spec = table_figure("claims", "claims", ["plots/claims.py"], PLACE)
    assert spec["inputs"] == ["results/tables/claims.csv"]
    assert _parse(spec).table == "results/tables/claims.csv"
    assert (spec["category"], spec["subcategory"], spec["label"]) == PLACE
    assert [os.path.relpath(path, SOURCES) for path in spec["code"]] == [
        "plots/claims.py",
        "plots/common.py",
    ]
