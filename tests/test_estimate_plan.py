"""``losstopo estimate`` costs the jobs of the workflow's real plan: per rule, it counts the
jobs that an independent ``snakemake -n`` plans for the same configs (its "Job stats" table
is the oracle), and ``snakemake estimate`` runs it from inside a running workflow."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from losstopo.cli import main

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]


def _oracle(directory: Path, configs: list[Path]) -> dict[str, int]:
    """Jobs per rule from the "Job stats" table of a plain dry run in ``directory``."""
    command = [*SNAKEMAKE, "--directory", str(directory), "-n"]
    if configs:
        command += ["--configfile", *map(str, configs)]
    result = subprocess.run(
        command, cwd=directory, capture_output=True, text=True, timeout=600, check=False
    )
    text = result.stdout + result.stderr
    assert result.returncode == 0, text[-3000:]
    table = text.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M)
    counts = {rule: int(n) for rule, n in rows if rule != "total"}
    assert counts and sum(counts.values()) == int(dict(rows)["total"])
    return counts


def _estimated_counts(directory: Path, configs: list[Path], capsys) -> dict[str, int]:
    argv = ["estimate", "--counts-only", "--cores", "2", "--directory", str(directory)]
    argv += ["--snakefile", str(REPO / "Snakefile")]
    if configs:
        argv += ["--config", *map(str, configs)]
    assert main(argv) == 0, capsys.readouterr().err
    rows = re.findall(r"^(\w+)\s+(\d+)$", capsys.readouterr().out, flags=re.M)
    return {rule: int(n) for rule, n in rows if rule != "total"}


def _paper(directory: Path) -> list[Path]:
    """configs/paper.yaml with a stand-in for the real Oxford-IIIT Pet split it requires."""
    paper = yaml.safe_load((REPO / "configs/paper.yaml").read_text())
    split = directory / paper["unet"]["data_dir"] / "annotations/trainval.txt"
    split.parent.mkdir(parents=True)
    split.write_text("Abyssinian_1 1 1 1\n")
    return [REPO / "configs/paper.yaml"]


def _own_model(directory: Path) -> list[Path]:
    """The example's own-model config over three stand-in checkpoint files (a dry run only
    matches the glob; nothing reads them)."""
    config = yaml.safe_load((REPO / "examples/own_model/config.yaml").read_text())
    (directory / "ckpt").mkdir()
    for epoch in range(3):
        (directory / "ckpt" / f"epoch_{epoch:03d}.pt").write_bytes(b"")
    config["models"][0]["checkpoints"] = "ckpt/epoch_*.pt"
    config["models"][0]["objective"] = str(REPO / "examples/own_model/objective.py:make_objective")
    path = directory / "own.yaml"
    path.write_text(yaml.safe_dump(config))
    return [path]


SETUPS = {
    "default": lambda directory: [],
    "smoke": lambda directory: [REPO / "configs/smoke.yaml"],
    "paper": _paper,
    "own_model": _own_model,
}


@pytest.mark.parametrize("name", list(SETUPS))
def test_the_estimate_counts_the_jobs_snakemake_plans(name, tmp_path, capsys):
    # each config over config.yaml, as when Snakemake runs in the repository
    configs = [REPO / "config.yaml", *SETUPS[name](tmp_path)]
    expected = _oracle(tmp_path, configs)
    assert _estimated_counts(tmp_path, configs, capsys) == expected
    if name == "default":  # the stages the old hand-made list lacked are planned and counted
        assert expected["curvature"] > 0 and expected["figure"] > 1
    if name == "own_model":
        assert expected["hessian"] == 3 and "train_pinn" not in expected


def test_a_config_the_workflow_rejects_fails_the_estimate_with_snakemakes_reason(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "models:\n  - name: m\n    checkpoints: nowhere/*.pt\n    objective: f.py:make\n"
    )
    argv = ["estimate", "--counts-only", "--directory", str(tmp_path)]
    argv += ["--snakefile", str(REPO / "Snakefile"), "--config", str(REPO / "config.yaml")]
    assert main([*argv, str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("losstopo: error: snakemake's dry run failed:")
    assert "config.models[0].checkpoints: nowhere/*.pt matches no file" in err
    assert len(err.splitlines()) == 1


@pytest.mark.workflow
def test_snakemake_estimate_runs_inside_a_running_workflow(tmp_path):
    """The rule's own dry run plans the study while the outer Snakemake holds the directory
    and runs a training beside it (whose outputs are incomplete meanwhile); every rule of the
    plan is in the estimate, with the plan's job count."""
    configs = [REPO / "config.yaml", REPO / "configs/smoke.yaml"]
    expected = _oracle(tmp_path, configs)  # the whole study, planned before anything ran
    result = subprocess.run(
        [
            *SNAKEMAKE,
            "--directory",
            str(tmp_path),
            "--cores",
            "2",
            "estimate",
            "results/pinn/beta30_lr1_seed0/metrics.json",
            "--configfile",
            *map(str, configs),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    log = tmp_path / "results/logs/estimate.log"
    assert result.returncode == 0, (log.read_text() if log.exists() else "") + result.stderr
    text = (tmp_path / "results/estimate.txt").read_text()
    rows = dict(re.findall(r"^(\w+)\s+(\d+)\s+[\d.]+\s+\d+", text, flags=re.M))
    assert {rule: int(n) for rule, n in rows.items() if rule != "total"} == expected
    wall = re.search(r"predicted wall time on \d+ cores: ([\d.]+) min", text)
    assert wall is not None and float(wall[1]) > 0
    assert "generic cost" not in text  # every stage of the study has a cost model
    assert (tmp_path / "results/pinn/beta30_lr1_seed0/metrics.json").is_file()
    shutil.rmtree(tmp_path / ".snakemake", ignore_errors=True)


@pytest.mark.workflow
def test_an_own_model_is_costed_by_probing_its_own_objective(tmp_path, capsys):
    example = REPO / "examples/own_model"
    train = subprocess.run(
        [sys.executable, str(example / "train.py"), "--epochs", "1", "--out", "ckpt"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert train.returncode == 0, train.stderr
    config = yaml.safe_load((example / "config.yaml").read_text())
    config["models"][0].update(
        checkpoints="ckpt/epoch_*.pt", objective=f"{example / 'objective.py'}:make_objective"
    )
    path = tmp_path / "own.yaml"
    path.write_text(yaml.safe_dump(config))
    argv = ["estimate", "--cores", "2", "--directory", str(tmp_path)]
    argv += ["--snakefile", str(REPO / "Snakefile"), "--config", str(REPO / "config.yaml")]
    assert main([*argv, str(path)]) == 0
    text = capsys.readouterr().out
    assert re.search(r"^hessian\s+2\s", text, flags=re.M)
    assert "Hessian-vector product, file models/spirals" in text
    assert "landscape (file 21^2): 2 x" in text and "generic cost" not in text
