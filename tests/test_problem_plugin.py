"""A problem is one plugin: a module that registers a problem with the analysis stages and
with the workflow brings its own config section, training rule, table and figures, and goes
through the same generic rules as the built-in problems (tests/plugins/toy_study)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
import yaml

from losstopo.workflow.study import Study, TopologyTable, check_section, fill_defaults, registered

REPO = Path(__file__).resolve().parents[1]
TOY = REPO / "tests/plugins/toy_study/toy.py"
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]


def _snakemake(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SNAKEMAKE, "--directory", str(cwd), *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
    )


def _config(tmp_path: Path, toy: dict, export: bool = False) -> Path:
    config = {
        "pinn": {"enabled": False},
        "unet": {"enabled": False},
        "problem_modules": [str(TOY)],
        "toy": toy,
        "export": {"vtk": export},
    }
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _planned(result: subprocess.CompletedProcess) -> list[str]:
    return sorted(re.findall(r"^\s*(?:local)?rule (\w+):", result.stdout, flags=re.M))


def test_the_built_in_problems_are_registered_plugins_of_the_same_protocol():
    names = [problem.name for problem in registered()][:3]
    assert names == ["pinn", "unet", "models"]
    default = yaml.safe_load((REPO / "config.yaml").read_text())
    # the rule files each built-in problem brings exist, and nothing else defines training
    for problem in registered()[:3]:
        for path in problem.rule_files:
            assert (REPO / path).is_file()
    assert [p.rule_files for p in registered()[:3]] == [
        ("rules/pinn.smk", "rules/claims.smk"),
        ("rules/unet.smk",),
        (),
    ]
    assert "toy" not in default


def test_a_section_schema_fills_defaults_and_names_the_key_of_a_bad_value():
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "seeds": {"type": "array", "items": {"type": "integer"}, "default": [0]},
            "inner": {
                "type": "object",
                "default": {},
                "properties": {"width": {"type": "integer", "minimum": 1, "default": 3}},
            },
        },
    }
    assert fill_defaults({}, schema) == {"seeds": [0], "inner": {"width": 3}}
    assert fill_defaults({"inner": {"width": 5}}, schema) == {"seeds": [0], "inner": {"width": 5}}
    with pytest.raises(ValueError, match=r"^config\.toy\.inner\.width: 0 is less than"):
        check_section({"inner": {"width": 0}}, schema, "toy")
    with pytest.raises(ValueError, match=r"^config\.toy: Additional properties"):
        check_section({"colour": 1}, schema, "toy")


@pytest.mark.workflow
def test_a_third_problem_trains_and_is_analysed_through_the_generic_rules(tmp_path):
    """The toy problem's own rule trains it; hessian, curvature, landscape, topology, its
    table and both its figures come from the rules every problem shares; its numbers are
    those of its objective evaluated directly (loss at θ; top eigenvalue of the dense
    Hessian of a hand-written loss)."""
    path = _config(tmp_path, {"seeds": [0, 1], "iterations": 30}, export=True)
    dry = _snakemake(["-n", "--configfile", str(REPO / "config.yaml"), str(path)], tmp_path)
    assert dry.returncode == 0, dry.stderr[-3000:]
    stages = ["train_toy", "hessian", "curvature", "landscape", "topology", "export", "figure"]
    assert _planned(dry) == sorted(["all", "topology_table", *stages * 2])

    run = _snakemake(
        ["--cores", "2", "--configfile", str(REPO / "config.yaml"), str(path)], tmp_path
    )
    assert run.returncode == 0, run.stderr[-3000:]
    table = pd.read_csv(tmp_path / "results/tables/toy_topology_summary.csv")
    assert list(table.problem) == ["toy", "toy"] and list(table.seed) == [0, 1]
    assert list(table.width) == [3, 3] and list(table.resolution) == [5, 5]
    x = np.linspace(-1, 1, 32).reshape(16, 2)
    y = np.sin(3 * x[:, :1]) * x[:, 1:]
    for row in table.itertuples():
        checkpoint = torch.load(
            tmp_path / f"results/toy/seed{row.seed}/model.pt", weights_only=True
        )
        w1, b1 = (checkpoint["state_dict"][k].numpy() for k in ("0.weight", "0.bias"))
        w2, b2 = (checkpoint["state_dict"][k].numpy() for k in ("2.weight", "2.bias"))
        loss = np.mean((np.tanh(x @ w1.T + b1) @ w2.T + b2 - y) ** 2)
        assert row.final_loss == pytest.approx(loss, rel=1e-8)  # the table keeps 10 digits
        assert row.center_loss == pytest.approx(loss, rel=1e-8)

        flat = torch.cat([torch.from_numpy(a).reshape(-1) for a in (w1, b1, w2, b2)])
        shapes = [w1.shape, b1.shape, w2.shape, b2.shape]

        def loss_of(theta: torch.Tensor, shapes=shapes) -> torch.Tensor:
            parts, start = [], 0
            for shape in shapes:
                size = int(np.prod(shape))
                parts.append(theta[start : start + size].reshape(shape))
                start += size
            a1, c1, a2, c2 = parts
            prediction = torch.tanh(torch.from_numpy(x) @ a1.T + c1) @ a2.T + c2
            return ((prediction - torch.from_numpy(y)) ** 2).mean()

        dense = torch.autograd.functional.hessian(loss_of, flat.double())
        top = float(np.linalg.eigvalsh(dense.numpy())[-1])
        assert row.top_eigenvalue == pytest.approx(top, rel=1e-6)
    landscape = xr.open_dataset(tmp_path / "results/toy/seed0/model/landscape_2d_d0.5.nc")
    assert landscape["loss"].shape == (5, 5)
    for name in ("toy_profiles", "toy_topology_vs_loss"):
        assert (tmp_path / f"results/figures/{name}.png").is_file()
    # the VTK export beside the merge tree: its skeleton holds the tree's nodes (meshio)
    import meshio

    vtk = tmp_path / "results/toy/seed0/model/vtk/landscape_2d_d0.5_full"
    assert (vtk / "landscape.vti").is_file()
    skeleton = meshio.read(vtk / "landscape_tree.vtu")
    with xr.open_dataset(tmp_path / "results/toy/seed0/model/topology_2d_d0.5_full.nc") as tree:
        values = np.sort(tree["node_value"].values)
    np.testing.assert_allclose(np.sort(skeleton.point_data["value"].ravel()), values)


@pytest.mark.workflow
def test_a_bad_value_in_a_plugin_section_fails_the_dry_run_naming_its_key(tmp_path):
    config = ["--configfile", str(REPO / "config.yaml")]
    odd = _snakemake(["-n", *config, str(_config(tmp_path, {"resolution": 4}))], tmp_path)
    assert odd.returncode != 0
    assert "config.toy.resolution: 4 must be odd" in odd.stdout + odd.stderr
    width = _snakemake(["-n", *config, str(_config(tmp_path, {"width": 0}))], tmp_path)
    assert width.returncode != 0
    assert "config.toy.width: 0 is less than the minimum of 1" in width.stdout + width.stderr


def test_the_default_study_plans_its_tables_through_the_problems():
    """Every table of the default study comes from one of the built-in problems' plans."""
    import jsonschema  # noqa: F401  (the schema's defaults are filled by Snakemake in a run)

    config = _default_config()
    tables = Study(config).tables()
    assert list(tables) == ["topology_summary", "extent_study", "unet_topology_summary"]
    assert all(isinstance(t, TopologyTable) for t in tables.values())
    cells, seeds = config["pinn"]["analysis"]["cells"], config["pinn"]["analysis"]["seeds"]
    extent = tables["extent_study"].files
    per_distance = len(cells) * len(seeds) * 2  # the configured and one compared connectivity
    assert len(extent) == per_distance * len(config["landscape"]["extent_distances"])
    assert tables["topology_summary"].options[0] == "--regime"
    assert tables["unet_topology_summary"].options == []


def _default_config() -> dict:
    """config.yaml with the schema's defaults, as the workflow sees it."""
    from snakemake.utils import validate

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    validate(config, str(REPO / "config.schema.yaml"))
    return config


def test_the_default_target_is_every_problems_tables_and_figures():
    """The paper's figures and tables, and only those of enabled problems and stages."""
    config = _default_config()
    figures = {
        "fig3_error_heatmap",
        "fig3_profiles",
        "fig3_profiles_near",
        "figA5_profiles_by_dimension",
        "topology_vs_error",
        "null_calibration",
        "claims",
        "extent_profiles",
        "extent_study",
        "pinn_spectral_density",
        "curvature_vs_error",
        "fig4_accuracy_heatmap",
        "fig4_profiles",
        "figB6_profiles_by_lr",
        "unet_topology_vs_accuracy",
        "unet_spectral_density",
        "unet_curvature_vs_accuracy",
    }
    tables = {
        "pinn_errors",
        "claims",
        "topology_summary",
        "extent_study",
        "unet_accuracy",
        "unet_topology_summary",
    }
    expected = {f"results/figures/{f}.png" for f in figures}
    expected |= {f"results/tables/{t}.csv" for t in tables}
    assert set(Study(config).targets()) == expected

    config["curvature"]["enabled"] = False
    config["figures"]["near_distance"] = None
    config["unet"]["enabled"] = False
    without = {"pinn_spectral_density", "curvature_vs_error", "fig3_profiles_near"}
    pinn_only = {f for f in figures - without if not f.startswith(("fig4", "figB6", "unet"))}
    expected = {f"results/figures/{f}.png" for f in pinn_only}
    expected |= {f"results/tables/{t}.csv" for t in tables if "unet" not in t}
    assert set(Study(config).targets()) == expected
