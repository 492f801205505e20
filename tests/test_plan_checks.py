"""Values of a configured study that a job would reject are reported before any job, each
by its config key: seeds, Hessian budgets, k-NN sizes, tiles, trace budgets, analysed cells
outside the sweep, and users' checkpoints, objective factories and problem modules."""

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
    assert plan_errors(_config(pinn__analysis__seeds=[0, 7])) == []  # trained on demand
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
    ({"topology__k": 2197}, "config.topology.k: 2197 neighbours need more than the 2197"),
    (
        {f"{SCATTERED}n_points": 20, f"{SCATTERED}center_points": 0},
        "config.landscape.scattered[0].n_points: 20 samples cannot have 24 neighbours",
    ),
    (
        {"curvature__budgets__pinn__trace_max_hvps": 25},
        "pinn.trace_max_hvps: 25 must cover trace_min_probes (20) plus the 6 deflated",
    ),
    (
        {"pinn__analysis__cells__1": {"beta": 8.0, "lr": 1.0}},
        "config.pinn.analysis.cells[1]: beta 8, lr 1 is not in the sweep",
    ),
    ({"unet__crf_taps": 10}, "config.unet.crf_taps: must be odd, got 10"),
    ({"figures__compare_dims": [3, 5]}, "config.figures.compare_dims[1]: a 5-D profile needs"),
    (
        {"landscape__extent_dims": 4, "landscape__grids": [{"dims": 3, "resolution": 13}]},
        "config.landscape.extent_dims: the 4-D extent study needs",
    ),
    (
        {"landscape__grids": [{"dims": 3, "resolution": 13}] * 2},
        "config.landscape.grids: each dimension may appear only once",
    ),
    ({"unet__figures__profile_lr": 0.5}, "config.unet.figures.profile_lr: must be one of"),
    ({"unet__analysis__epochs": [0, 11]}, "config.unet.analysis.epochs: epochs go up to 10"),
    ({"unet__analysis__seeds": [243, 7]}, "config.unet.analysis.seeds: must be a subset"),
    ({"unet__gamma": 1.5}, "config.unet.gamma: must be in (0, 1], got 1.5"),
    ({"unet__image_size": 4}, "config.unet.image_size: 4 is too small for config.unet.depth 4"),
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
    assert "config.landscape.tiles: 30 tiles exceed the 13 rows" in output
    assert "config.hessian.max_hvp: 3 Hessian-vector products" in output
    assert not (tmp_path / "results").exists()


def _models_config(tmp_path: Path, **entry) -> dict:
    """The default study with one model of the user's (schema defaults filled in)."""
    from snakemake.utils import validate

    config = _config(
        pinn__enabled=False,
        unet__enabled=False,
        models=[{"name": "m", "checkpoints": str(tmp_path / "ck/*.pt"), **entry}],
    )
    validate(config, str(REPO / "config.schema.yaml"))
    return config


@pytest.fixture
def user_files(tmp_path, monkeypatch) -> Path:
    """Two checkpoints, a valid factory, a broken one and a package, in the working dir."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ck").mkdir()
    for name in ("a.pt", "b.pt"):
        (tmp_path / "ck" / name).write_bytes(b"")
    (tmp_path / "factory.py").write_text(
        "import math\n\nif True:\n    def make(checkpoint, device, dtype):\n        return 1\n"
    )
    (tmp_path / "broken.py").write_text("def make(:\n")
    (tmp_path / "latin1.py").write_bytes(b"# caf\xe9\n")
    (tmp_path / "userpkg").mkdir()
    (tmp_path / "userpkg" / "__init__.py").write_text("raise RuntimeError('not run')\n")
    return tmp_path


USER_CODE_CASES = [
    ({"objective": "factory.py:make"}, None),
    ({"objective": "userpkg.objectives:make"}, None),  # found, not run
    ({"objective": "missing.py:make"}, "config.models[0].objective: missing.py does not exist"),
    ({"objective": "factory.py:build"}, "factory.py defines no function 'build'"),
    ({"objective": "broken.py:make"}, "config.models[0].objective: broken.py line 1:"),
    ({"objective": "latin1.py:make"}, "config.models[0].objective: latin1.py"),
    ({"objective": "nopkg.mod:make"}, "module 'nopkg.mod' is not importable"),
]


@pytest.mark.parametrize(("entry", "needle"), USER_CODE_CASES)
def test_users_objective_factories_are_checked_without_running_them(user_files, entry, needle):
    errors = plan_errors(_models_config(user_files, **entry))
    if needle is None:
        assert errors == []
    else:
        assert len(errors) == 1 and needle in errors[0], errors


def test_problem_modules_that_a_job_could_not_import_are_named(user_files):
    config = _models_config(user_files)
    config["problem_modules"] = ["broken.py", "absent.py", str(user_files / "ck"), "factory.py"]
    errors = plan_errors(config)
    assert [e.split(":")[0] for e in errors] == [f"config.problem_modules[{i}]" for i in range(3)]
    assert "broken.py line 1: invalid syntax" in errors[0]
    assert errors[1].endswith("absent.py does not exist")
    assert errors[2].endswith("is neither a .py file nor a module name (package.module)")


def test_checkpoint_globs_resolve_to_regular_files_with_safe_names(user_files):
    from losstopo.workflow.models import model_checkpoints

    entry = {"checkpoints": ["ck/*.pt"]}
    assert model_checkpoints(0, entry) == {"a": "ck/a.pt", "b": "ck/b.pt"}
    (user_files / "-lead.pt").write_bytes(b"")  # would be read as an option
    assert model_checkpoints(0, {"checkpoints": "-lead.pt"}) == {"-lead": "./-lead.pt"}
    (user_files / "ck" / "dir.pt").mkdir()
    with pytest.raises(ValueError, match=r"^config.models\[0\].checkpoints: ck/\*.pt matches "):
        model_checkpoints(0, entry)
    (user_files / "ck" / "dir.pt").rmdir()
    (user_files / "ck" / "c{1}.pt").write_bytes(b"")  # Snakemake would read a wildcard
    with pytest.raises(ValueError, match=r"ck/c\{1\}.pt has \{ or \} in its name"):
        model_checkpoints(0, entry)
    missing = r"^config.models\[3\].checkpoints: nothing/\*.pt matches no file"
    with pytest.raises(ValueError, match=missing):
        model_checkpoints(3, {"checkpoints": "nothing/*.pt"})


def test_names_that_start_with_a_dash_reach_the_cli_as_values():
    """Checkpoint stems and labels are attached to their option (``--column-labels=-lead``):
    the figure command reads them as labels, never as options."""
    from losstopo.cli import build_parser
    from losstopo.workflow.arguments import attached

    labels = ["-lead", "b", "--out"]
    argv = ["figure", "profiles", "t.nc", "--columns", "3", *attached("--column-labels", labels)]
    argv += [*attached("--row-labels", ["-x"]), "--out", "f.png"]
    args = build_parser().parse_args(argv)
    assert args.column_labels == labels and args.row_labels == ["-x"]
    assert args.out == ["f.png"]
    argv = ["figure", "spectral-density", "c.nc", *attached("--panel", ["-p"]), "--out", "f.png"]
    args = build_parser().parse_args([*argv, *attached("--curve", ["-c"])])
    assert args.panel == ["-p"] and args.curve == ["-c"]
