"""Values of a configured study that a job would reject are reported before any job, each
by its config key: seeds, Hessian budgets, k-NN sizes, tiles, trace budgets."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from losstopo.workflow.plan_checks import check_plan, plan_errors

REPO = Path(__file__).resolve().parents[1]
DEFAULT = yaml.safe_load((REPO / "config.yaml").read_text())


def _config(**changes) -> dict:
    config = copy.deepcopy(DEFAULT)
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = config
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value
    return config


def test_the_default_and_smoke_studies_pass():
    assert plan_errors(DEFAULT) == []
    smoke = copy.deepcopy(DEFAULT)
    for section, values in yaml.safe_load((REPO / "configs/smoke.yaml").read_text()).items():
        if isinstance(values, dict):
            smoke[section].update(values)
        else:
            smoke[section] = values
    assert plan_errors(smoke) == []


SCATTERED = "landscape__scattered__0__"
CASES = [
    ({"pinn__seeds": [0, 2**63]}, "config.pinn.seeds[1]: 9223372036854775808 must be below"),
    ({"hessian__seed": 2**64}, "config.hessian.seed: 18446744073709551616 must be below"),
    ({f"{SCATTERED}seed": 2**63}, "config.landscape.scattered[0].seed"),
    ({"hessian__max_hvp": 5}, "max_hvp: 5 Hessian-vector products cannot give the top 6"),
    ({"landscape__tiles": 14}, "config.landscape.tiles: 14 tiles exceed the 13 rows"),
    ({"topology__k": 9261}, "config.topology.k: 9261 neighbours need more than the 9261"),
    (
        {f"{SCATTERED}n_points": 20, f"{SCATTERED}center_points": 0},
        "config.landscape.scattered[0].n_points: 20 samples cannot have 24 neighbours",
    ),
    (
        {"curvature__budgets__pinn__trace_max_hvps": 25},
        "pinn.trace_max_hvps: 25 must cover trace_min_probes (20) plus the 6 deflated",
    ),
]


@pytest.mark.parametrize(("changes", "needle"), CASES)
def test_each_value_a_job_would_reject_is_named_by_its_key(changes, needle):
    errors = plan_errors(_config(**changes))
    assert any(needle in error for error in errors), errors
    with pytest.raises(ValueError, match=r"config\."):
        check_plan(_config(**changes))


def test_budgets_that_cover_the_deflation_pass_and_a_disabled_stage_is_not_checked():
    budget = "curvature__budgets__pinn__trace_max_hvps"
    assert plan_errors(_config(**{budget: 26})) == []
    assert plan_errors(_config(**{budget: 20, "curvature__deflate": False})) == []
    assert plan_errors(_config(**{budget: 2, "curvature__enabled": False})) == []


def test_the_dry_run_stops_on_them_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("hessian:\n  max_hvp: 3\nlandscape:\n  tiles: 30\n")
    options = ["--directory", str(tmp_path), "-n", "--configfile", str(bad)]
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), *options],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "config.landscape.tiles: 30 tiles exceed the 21 rows" in output
    assert "config.hessian.max_hvp: 3 Hessian-vector products" in output
    assert not (tmp_path / "results").exists()
