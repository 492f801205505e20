"""Workflow: config schema, lint, and the smoke study end to end."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

REPO = Path(__file__).resolve().parents[1]
SCHEMA = str(REPO / "config.schema.yaml")
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
# (rule, problem) of the jobs that take a GPU in the GPU and SLURM profiles
GPU_JOBS = {("landscape", "pinn"), ("landscape", "unet"), ("hessian", "unet"), ("train_unet", "")}


def _load(name: str) -> dict:
    return yaml.safe_load((REPO / name).read_text())


@pytest.mark.parametrize("name", ["config.yaml", "configs/smoke.yaml", "configs/paper.yaml"])
def test_shipped_configs_are_valid(name):
    validate(_load(name), SCHEMA)


def test_schema_defaults_are_the_default_study():
    config: dict = {}
    validate(config, SCHEMA, set_default=True)
    assert config == _load("config.yaml")


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ({"pinn": {"betaz": [1]}}, "betaz"),
        ({"extra": 1}, "extra"),
        ({"pinn": {"iterations": "many"}}, "many"),
        ({"pinn": {"betas": [-1]}}, "-1"),
        ({"pinn": {"optimizer": "sgd"}}, "sgd"),
        ({"device": "tpu"}, "tpu"),
    ],
)
def test_schema_rejects_unknown_keys_and_wrong_types(config, needle):
    with pytest.raises(WorkflowError, match=re.escape(needle)):
        validate(config, SCHEMA)


def _snakemake(args: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(cwd), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


def test_bad_config_fails_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("pinn:\n  iterations: -5\n")
    result = _snakemake(["--cores", "1", "--configfile", str(bad)], tmp_path)
    assert result.returncode != 0
    assert "iterations" in result.stderr + result.stdout
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("pinn:\n  iterations: 10.0\n", "config.pinn.iterations: 10.0 must be an integer"),
        ("landscape:\n  distance: .nan\n", "config.landscape.distance: nan is not a finite"),
        ("pinn:\n  learning_rates: [1.0, .inf]\n", "config.pinn.learning_rates[1]: inf"),
        ("unet:\n  crf_taps: 10\n", "config.unet.crf_taps: must be odd"),
        ("unet:\n  image_size: 8\n  depth: 6\n", "config.unet.image_size: 8 is too small"),
        ("pinn: 3\n", "config.pinn: 3 is not of type 'object'"),
        ("pinn:\n  optimizer: sgd\n", "config.pinn.optimizer: 'sgd' is not one of"),
        ("landscape:\n  grids: [{dims: 2}]\n", "config.landscape.grids[0]: 'resolution' is"),
        ('unet:\n  data_dir: "pets\\nrm -rf x"\n', "config.unet.data_dir: 'pets\\nrm -rf x' does"),
    ],
)
def test_config_values_the_cli_would_reject_fail_the_dry_run_naming_the_key(tmp_path, text, needle):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    result = _snakemake(["-n", "--configfile", str(bad)], tmp_path)
    assert result.returncode != 0
    assert needle in result.stdout + result.stderr


@pytest.mark.parametrize("text", ["", "- a list\n", "just a string\n"])
def test_a_config_file_without_top_level_keys_fails_before_any_job(tmp_path, text):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    result = _snakemake(["--cores", "1", "--configfile", str(bad)], tmp_path)
    assert result.returncode != 0
    assert "Config file must be given as JSON or YAML with keys at top level" in result.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"pinn:\n  seeds: [0]  # caf\xe9\n", "config.yaml line 2: byte 0xe9 is not UTF-8 text"),
        (b"pinn:\n  seeds: [0\n", "config file config.yaml line 3: not valid YAML"),
        (b"- a list\n", "config file config.yaml: must be YAML with keys at the top level"),
    ],
)
def test_a_config_yaml_that_is_not_utf8_yaml_is_named_in_one_line(tmp_path, data, needle):
    """The workflow's own config.yaml (the file users edit) is read by the checkout's reader
    first: one line naming the file and line, instead of a traceback from the YAML loader."""
    (tmp_path / "config.yaml").write_bytes(data)
    result = _snakemake(["-n"], tmp_path)
    text = result.stdout + result.stderr
    assert result.returncode != 0
    assert needle in text and "Traceback" not in text and "yaml/reader.py" not in text
    assert not (tmp_path / "results").exists()


def test_tiled_grids_of_every_problem_plan_tiles_and_merges(tmp_path):
    """With tiles > 1 every grid landscape (the UNet's 2-D ones too) is split into tiles and
    merged; the scattered 6-D ones stay one job each."""
    tiled = tmp_path / "tiled.yaml"
    tiled.write_text("landscape:\n  tiles: 3\n")
    result = _snakemake(["-n", "--forceall", "--configfile", str(tiled)], tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    counts = dict(re.findall(r"^(landscape\w*)\s+(\d+)$", result.stdout, flags=re.M))
    config = _load("config.yaml")
    runs = len(config["pinn"]["analysis"]["cells"]) * len(config["pinn"]["analysis"]["seeds"])
    grids = len(config["landscape"]["extent_distances"]) + 1  # 3-D extents and the 4-D grid
    unet = (
        len(config["unet"]["learning_rates"])
        * len(config["unet"]["analysis"]["seeds"])
        * len(config["unet"]["analysis"]["epochs"])
    )
    assert int(counts["landscape_merge"]) == runs * grids + unet
    assert int(counts["landscape_tile"]) == 3 * int(counts["landscape_merge"])
    assert int(counts["landscape"]) == runs  # one scattered 6-D landscape per run


def test_missing_real_pets_data_fails_before_any_job_with_the_url(tmp_path):
    config = tmp_path / "real.yaml"
    config.write_text("unet:\n  dataset: oxford_pet\n  data_dir: nowhere/pets\n")
    result = _snakemake(["-n", "--configfile", str(config)], tmp_path)
    text = result.stdout + result.stderr
    assert result.returncode != 0
    assert "nowhere/pets" in text and "https://www.robots.ox.ac.uk/~vgg/data/pets/" in text


def test_lint_is_clean():
    result = subprocess.run(
        [*SNAKEMAKE, "--lint"], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_env_files_pin_the_constraint_versions():
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower()] = version
    for env in (REPO / "envs").glob("*.yaml"):
        pip = next(
            d["pip"] for d in yaml.safe_load(env.read_text())["dependencies"] if isinstance(d, dict)
        )
        for spec in pip:
            name, version = spec.split("==")
            assert pins[name.lower()] == version, f"{env.name}: {spec}"


@pytest.mark.workflow
def test_smoke_workflow_produces_every_declared_output(tmp_path):
    smoke = yaml.safe_load((REPO / "configs/smoke.yaml").read_text())
    result = _snakemake(
        ["--cores", "2", "--configfile", str(REPO / "configs/smoke.yaml")], tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]

    runs = [
        (b, lr, s)
        for b in smoke["pinn"]["betas"]
        for lr in smoke["pinn"]["learning_rates"]
        for s in smoke["pinn"]["seeds"]
    ]
    table = pd.read_csv(tmp_path / "results/tables/pinn_errors.csv")
    assert len(table) == len(runs)
    for beta, lr, seed in runs:
        name = f"beta{float(beta):g}_lr{float(lr):g}_seed{seed}"
        run_dir = tmp_path / "results/pinn" / name
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert (run_dir / "model.pt").stat().st_size > 10_000
        assert (tmp_path / f"results/logs/train_pinn/{name}.log").exists()
        assert (tmp_path / f"results/benchmarks/train_pinn/{name}.tsv").exists()
        row = table[(table.beta == beta) & (table.lr == lr) & (table.seed == seed)]
        assert row.relative_l2_error.item() == pytest.approx(metrics["relative_l2_error"])
        assert metrics["iteration_budget"] == smoke["pinn"]["iterations"]
    for cell in smoke["pinn"]["analysis"]["cells"]:
        for seed in smoke["pinn"]["analysis"]["seeds"]:
            name = f"beta{float(cell['beta']):g}_lr{float(cell['lr']):g}_seed{seed}"
            analysis = tmp_path / "results/pinn" / name / "model"
            hessian = xr.open_dataset(analysis / "hessian.nc")
            landscapes = smoke["landscape"]["grids"] + smoke["landscape"]["scattered"]
            top_k = max(entry["dims"] for entry in landscapes)
            assert hessian.eigenvalues.size == top_k
            assert hessian.eigenvectors.shape[1] == 7851
            assert hessian.attrs["method"] == smoke["hessian"]["method"]
            assert (tmp_path / f"results/benchmarks/hessian/pinn/{name}/model.tsv").exists()
            distance = f"{smoke['landscape']['distance']:g}"
            for grid in smoke["landscape"]["grids"]:
                dims, resolution = grid["dims"], grid["resolution"]
                stem = f"{dims}d_d{distance}"
                path = analysis / f"landscape_{stem}.nc"
                landscape = xr.open_dataset(path)
                assert landscape.loss.shape == (resolution,) * dims
                assert landscape.attrs["distance"] == smoke["landscape"]["distance"]
                centre = landscape.loss.values[(resolution // 2,) * dims]
                assert centre == pytest.approx(landscape.attrs["center_loss"], rel=1e-6)
                benchmark = f"results/benchmarks/landscape/pinn/{name}/model_{stem}.tsv"
                assert (tmp_path / benchmark).exists()
                for connectivity in ("full", "knn"):
                    topology = xr.open_dataset(analysis / f"topology_{stem}_{connectivity}.nc")
                    assert topology.segmentation.shape == (resolution,) * dims
                    assert topology.attrs["connectivity"] == connectivity
                    assert int(topology.arc_size.sum()) == resolution**dims
                    assert topology.attrs["center_loss"] == pytest.approx(centre)
                    # the null model: the Taylor quadratic's tree on the same grid and graph
                    assert topology.attrs["null_model"] == 1
                    assert topology.attrs["null_n_minima_raw"] >= 1
            for entry in smoke["landscape"]["scattered"]:  # its samples' k-NN tree only
                stem = f"{entry['dims']}d_d{distance}"
                landscape = xr.open_dataset(analysis / f"landscape_{stem}.nc")
                total = entry["n_points"] + entry["center_points"]
                assert landscape.loss.shape == (total,)
                assert landscape["coords"].shape == (total, entry["dims"])
                inner = entry["center_scale"] * smoke["landscape"]["distance"]
                assert np.abs(landscape["coords"].values[entry["n_points"] :]).max() <= inner
                assert landscape.attrs["sampling"] == entry["sampling"]
                assert landscape.loss.values[0] == pytest.approx(landscape.attrs["center_loss"])
                assert landscape["taylor_hessian"].shape == (entry["dims"], entry["dims"])
                topology = xr.open_dataset(analysis / f"topology_{stem}_knn.nc")
                assert int(topology.arc_size.sum()) == total
                assert topology.attrs["knn_metric"] == "curvature"
                assert topology.attrs["null_model"] == 1
                assert not (analysis / f"topology_{stem}_full.nc").exists()
    summary = pd.read_csv(tmp_path / "results/tables/topology_summary.csv")
    n_analysed = len(smoke["pinn"]["analysis"]["cells"]) * len(smoke["pinn"]["analysis"]["seeds"])
    n_scattered = len(smoke["landscape"]["scattered"])
    assert len(summary) == n_analysed * (2 * len(smoke["landscape"]["grids"]) + n_scattered)
    assert set(summary.dims) == {
        entry["dims"] for entry in smoke["landscape"]["grids"] + smoke["landscape"]["scattered"]
    }
    assert set(summary.connectivity) == {"full", "knn"}
    scattered = summary[summary.sampling != "grid"]
    assert len(scattered) == n_analysed * n_scattered and set(scattered.connectivity) == {"knn"}
    assert set(summary.regime) == {"success"}
    assert set(summary.problem) == {"convection"} and set(summary.checkpoint) == {"model"}
    assert ((summary.basin_fraction > 0) & (summary.basin_fraction <= 1)).all()
    extent = pd.read_csv(tmp_path / "results/tables/extent_study.csv")
    distances = smoke["landscape"]["extent_distances"]
    assert sorted(extent.distance.unique()) == sorted(distances)
    assert len(extent) == 2 * n_analysed * len(distances)
    # the extent study reuses the configured landscape where the distances coincide
    shared = extent[
        (extent.distance == smoke["landscape"]["distance"]) & (extent.connectivity == "full")
    ]
    same = summary[(summary.dims == 3) & (summary.connectivity == "full")]
    assert shared.n_minima_raw.tolist() == same.n_minima_raw.tolist()
    # every landscape is calibrated: real, null and excess counts in the table
    assert (summary.null_model == 1).all()
    excess = summary.n_minima_raw - summary.null_n_minima_raw
    assert summary.excess_n_minima_raw.tolist() == excess.tolist()
    for figure in (
        "fig3_error_heatmap",
        "fig3_profiles",
        "figA5_profiles_by_dimension",
        "extent_profiles",
        "extent_study",
        "topology_vs_error",
        "null_calibration",
        "fig3_profiles_near",
        "claims",
        "fig4_accuracy_heatmap",
        "fig4_profiles",
        "figB6_profiles_by_lr",
        "unet_topology_vs_accuracy",
    ):
        for suffix in ("png", "pdf"):
            assert (tmp_path / f"results/figures/{figure}.{suffix}").stat().st_size > 5_000

    # the claims: one success cell and seed decide nothing, and say so
    claims = pd.read_csv(tmp_path / "results/tables/claims.csv")
    assert set(claims.claim) == {
        "funnel vs bowl",
        "more saddles near failure",
        "more variation at the transition",
    }  # no 4-D grid in the smoke study
    assert set(claims.verdict) == {"undetermined"}
    markdown = (tmp_path / "results/tables/claims.md").read_text()
    assert markdown.count("| undetermined |") == len(claims)

    _check_segmentation_outputs(tmp_path, smoke["unet"], smoke["topology"])

    # nothing declared is missing or out of date
    dry = _snakemake(["-n", "--configfile", str(REPO / "configs/smoke.yaml")], tmp_path)
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr

    report = tmp_path / "report.html"
    rep = _snakemake(
        ["--report", str(report), "--configfile", str(REPO / "configs/smoke.yaml")], tmp_path
    )
    assert rep.returncode == 0, rep.stderr[-2000:]
    assert report.stat().st_size > 10_000
    shutil.rmtree(tmp_path / ".snakemake", ignore_errors=True)


def _check_segmentation_outputs(root: Path, unet: dict, topology_config: dict) -> None:
    """Every UNet run, checkpoint analysis and table of the smoke study, with its values."""
    table = pd.read_csv(root / "results/tables/unet_accuracy.csv")
    assert len(table) == len(unet["learning_rates"]) * len(unet["seeds"]) * (unet["epochs"] + 1)
    assert table.synthetic_data.all()
    assert ((table.test_pixel_accuracy >= 0) & (table.test_pixel_accuracy <= 1)).all()
    assert json.loads((root / unet["data_dir"] / "SYNTHETIC.json").read_text())
    resolution = unet["landscape"]["resolution"]
    summary = pd.read_csv(root / "results/tables/unet_topology_summary.csv")
    n_checkpoints = len(unet["learning_rates"]) * len(unet["analysis"]["seeds"])
    assert len(summary) == n_checkpoints * len(unet["analysis"]["epochs"])
    assert summary.synthetic_data.all()
    for lr in unet["learning_rates"]:
        for seed in unet["analysis"]["seeds"]:
            run = root / f"results/unet/lr{float(lr):g}_seed{seed}"
            assert (root / f"results/benchmarks/train_unet/{run.name}.tsv").exists()
            for epoch in unet["analysis"]["epochs"]:
                checkpoint = run / f"epoch_{epoch:03d}"
                hessian = xr.open_dataset(checkpoint / "hessian.nc")
                assert hessian.eigenvalues.size == 2
                assert hessian.attrs["objective_bn_mode"] == unet["landscape"]["bn_mode"]
                stem = f"2d_d{unet['landscape']['distance']:g}"
                landscape = xr.open_dataset(checkpoint / f"landscape_{stem}.nc")
                assert landscape.loss.shape == (resolution, resolution)
                assert landscape.metric.shape == (resolution, resolution)
                assert landscape.attrs["checkpoint_epoch"] == epoch
                assert landscape.attrs["objective_synthetic_data"] == 1
                assert landscape.attrs["distance"] == unet["landscape"]["distance"]
                row = table[(table.lr == lr) & (table.seed == seed) & (table.epoch == epoch)]
                assert json.loads(landscape.attrs["checkpoint_metrics"])[
                    "test_pixel_accuracy"
                ] == pytest.approx(row.test_pixel_accuracy.item())
                centre = landscape.loss.values[resolution // 2, resolution // 2]
                assert centre == pytest.approx(landscape.attrs["center_loss"], rel=1e-6)
                tree = xr.open_dataset(
                    checkpoint / f"topology_{stem}_{topology_config['connectivity']}.nc"
                )
                assert tree.attrs["connectivity"] == topology_config["connectivity"]
                assert int(tree.arc_size.sum()) == resolution**2
                summary_row = summary[
                    (summary.lr == lr) & (summary.seed == seed) & (summary.epoch == epoch)
                ]
                assert summary_row.n_minima_raw.item() == tree.attrs["n_minima_raw"]
                assert summary_row.test_pixel_accuracy.item() == pytest.approx(
                    row.test_pixel_accuracy.item()
                )
                assert summary_row.top_eigenvalue.item() == pytest.approx(
                    float(hessian.eigenvalues[0])
                )


def _paper_data_stand_in(root: Path) -> None:
    """The real dataset's split file, so a dry run of the paper study finds its input."""
    paper = _load("configs/paper.yaml")
    split = root / paper["unet"]["data_dir"] / "annotations/trainval.txt"
    split.parent.mkdir(parents=True)
    split.write_text("Abyssinian_1 1 1 1\n")


def test_slurm_profile_requests_gpus_for_the_heavy_rules(tmp_path):
    """Dry run of the paper configuration through the SLURM profile (no cluster needed)."""
    _paper_data_stand_in(tmp_path)
    result = _snakemake(
        [
            "-n",
            "--workflow-profile",
            str(REPO / "profiles/slurm"),
            "--configfile",
            str(REPO / "configs/paper.yaml"),
        ],
        tmp_path,
    )
    text = result.stdout + result.stderr
    assert result.returncode == 0, text[-3000:]
    assert "Group job merge_trees" in text  # merge trees are grouped into fewer cluster jobs
    jobs = re.split(r"\n\s*\[[^\]]+\][^\n]*\n", text)
    seen = set()
    for job in jobs:
        match = re.search(r"^\s*(?:local)?rule (\w+):", job, flags=re.M)
        if not match:
            continue
        rule = match.group(1)
        problem = re.search(r"wildcards: problem=(\w+)", job)
        key = (rule, problem.group(1) if problem else "")
        seen.add(key)
        resources = re.search(r"resources: (.*)", job)
        if key in GPU_JOBS:
            assert resources and "gpu=1" in resources.group(1), job
            assert "--device cuda" in job
            assert re.search(r"mem_mb=\d+", resources.group(1))
        else:  # merge trees, tables and figures run on CPUs
            assert "gpu=1" not in (resources.group(1) if resources else ""), job
    assert {*GPU_JOBS, ("train_pinn", ""), ("hessian", "pinn"), ("figure", "")} <= seen
    assert ("topology", "pinn") in seen and ("topology", "unet") in seen


def test_gpu_workstation_profile_runs_heavy_rules_on_cuda(tmp_path):
    result = _snakemake(
        [
            "-n",
            "--workflow-profile",
            str(REPO / "profiles/gpu"),
            "--configfile",
            str(REPO / "configs/smoke.yaml"),
        ],
        tmp_path,
    )
    text = result.stdout + result.stderr
    assert result.returncode == 0, text[-3000:]
    for rule, problem in GPU_JOBS:
        jobs = [
            j
            for j in re.split(r"\n\s*\[[^\]]+\][^\n]*\n", text)
            if re.search(rf"^\s*rule {rule}:", j, flags=re.M)
            and (not problem or f"problem={problem}," in j)
        ]
        assert jobs and all("gpu=1" in j and "--device cuda" in j for j in jobs), rule
    pinn_hessians = [
        j
        for j in re.split(r"\n\s*\[[^\]]+\][^\n]*\n", text)
        if re.search(r"^\s*rule hessian:", j, flags=re.M) and "problem=pinn," in j
    ]
    assert pinn_hessians and all("--device cuda" not in j for j in pinn_hessians)


@pytest.mark.workflow
def test_tiled_landscapes_match_and_rerun_only_a_missing_tile(tmp_path):
    smoke = yaml.safe_load((REPO / "configs/smoke.yaml").read_text())
    smoke["landscape"]["tiles"] = 2
    smoke["landscape"]["grids"] = [{"dims": 3, "resolution": 5}]
    smoke["figures"]["compare_dims"] = [3]
    smoke["unet"]["enabled"] = False
    config = tmp_path / "tiled.yaml"
    config.write_text(yaml.safe_dump(smoke))
    result = _snakemake(["--cores", "2", "--configfile", str(config)], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "results/pinn/beta1_lr1_seed0"
    analysis = run / "model"
    stem = f"landscape_3d_d{smoke['landscape']['distance']:g}"
    tiles = sorted((analysis / "tiles").glob(f"{stem}_tile*.nc"))
    assert [t.name for t in tiles] == [f"{stem}_tile0.nc", f"{stem}_tile1.nc"]
    # a scattered landscape is one job whatever the tiles of the grids
    (scattered,) = smoke["landscape"]["scattered"]
    assert (analysis / f"landscape_{scattered['dims']}d_d0.1.nc").is_file()
    assert not list((analysis / "tiles").glob(f"landscape_{scattered['dims']}d_*"))
    untiled = tmp_path / "untiled.nc"
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "losstopo",
            "landscape",
            str(run / "model.pt"),
            "--directions",
            str(analysis / "hessian.nc"),
            "--dims",
            "3",
            "--resolution",
            "5",
            "--distance",
            str(smoke["landscape"]["distance"]),
            "--device",
            "cpu",
            "--out",
            str(untiled),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    merged = xr.open_dataset(analysis / f"{stem}.nc")
    np.testing.assert_array_equal(merged.loss.values, xr.open_dataset(untiled).loss.values)

    # a failed tile: its fragment and the merged file are missing; only that tile reruns
    tiles[1].unlink()
    (analysis / f"{stem}.nc").unlink()
    target = f"results/pinn/beta1_lr1_seed0/model/{stem}.nc"
    dry = _snakemake(["-n", target, "--configfile", str(config)], tmp_path)
    text = dry.stdout + dry.stderr
    planned = re.findall(r"^\s*(?:local)?rule (\w+):", text, flags=re.M)
    assert planned.count("landscape_tile") == 1
    assert (
        f"{stem}_tile1.nc" in text
        and f"{stem}_tile0.nc" not in text.split("rule landscape_tile:")[1].split("\n\n")[0]
    )
    assert "train_pinn" not in planned and "hessian" not in planned


FAKE_SLURM = {
    # sbatch: record the call, run the job script at once (as a node would), print the job id
    "sbatch": """#!/bin/sh
echo "$*" >> "$FAKE_SLURM/sbatch.log"
id=$(( $(cat "$FAKE_SLURM/counter" 2>/dev/null || echo 100) + 1 )); echo $id > "$FAKE_SLURM/counter"
wrap=""
for arg in "$@"; do case "$arg" in --wrap=*) wrap="${arg#--wrap=}" ;; esac; done
if [ -n "$wrap" ]; then printf '%s\n' "$wrap" > "$FAKE_SLURM/job$id.sh"
else cat > "$FAKE_SLURM/job$id.sh"; fi
(cd "$PWD" && sh "$FAKE_SLURM/job$id.sh" > "$FAKE_SLURM/job$id.out" 2>&1)
if [ $? -eq 0 ]; then state=COMPLETED; else state=FAILED; fi
echo $state > "$FAKE_SLURM/state$id"
echo $id
""",
    # srun: drop its options, run the command (or the script on stdin)
    "srun": """#!/bin/sh
while [ $# -gt 0 ]; do case "$1" in -*) shift ;; *) break ;; esac; done
if [ $# -gt 0 ]; then exec "$@"; else exec sh /dev/stdin; fi
""",
    "sacct": """#!/bin/sh
echo "$*" >> "$FAKE_SLURM/sacct.log"
for f in "$FAKE_SLURM"/state*; do [ -e "$f" ] && echo "${f##*state}|$(cat "$f")"; done
exit 0
""",
    # squeue (the profile's status command): the same states as sacct
    "squeue": """#!/bin/sh
for f in "$FAKE_SLURM"/state*; do [ -e "$f" ] && echo "${f##*state}|$(cat "$f")"; done
exit 0
""",
    "sacctmgr": "#!/bin/sh\necho testaccount\n",
    "sshare": "#!/bin/sh\necho testaccount\n",
    "scontrol": "#!/bin/sh\necho 'MinJobAge = 300 sec'\n",
    "sinfo": "#!/bin/sh\necho PARTITION; echo gpu*\n",
    "scancel": "#!/bin/sh\nexit 0\n",
}


def test_slurm_executor_submits_training_with_a_gpu(tmp_path):
    """A short run through the SLURM executor with stand-ins for the SLURM commands: the UNet
    training job's sbatch line asks for a GPU and the job runs the CLI with --device cuda."""
    fake = tmp_path / "fake-slurm"
    fake.mkdir()
    for name, script in FAKE_SLURM.items():
        path = fake / name
        path.write_text(script)
        path.chmod(0o755)
    config = REPO / "configs/smoke.yaml"
    env = {
        **os.environ,
        "FAKE_SLURM": str(fake),
        "PATH": f"{fake}{os.pathsep}{os.environ['PATH']}",
    }
    target = "results/unet/lr0.002_seed243/metrics.csv"
    args = [
        *SNAKEMAKE,
        *("--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path)),
        *("--workflow-profile", str(REPO / "profiles/slurm"), "--configfile", str(config)),
        *("--retries", "0", "--slurm-init-seconds-before-status-checks", "1", target),
        *("--latency-wait", "5"),
        *("--default-resources", "slurm_account=testaccount", "slurm_partition=gpu"),
    ]
    result = subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )
    text = result.stdout + result.stderr
    submitted = (fake / "sbatch.log").read_text().splitlines()
    data = [line for line in submitted if "rule_make_pets" in line]
    assert len(data) == 1 and "--gpus" not in data[0], text[-3000:]  # data on a CPU node
    training = [line for line in submitted if "rule_train_unet" in line]
    assert len(training) == 1, text[-3000:]
    assert "--gpus=1" in training[0]
    assert "--account=testaccount" in training[0] or "-A testaccount" in training[0]
    assert re.search(r"--mem[= ]\d+", training[0])
    log = (tmp_path / "results/logs/train_unet/lr0.002_seed243.log").read_text()
    if "no CUDA device is available" in log:  # a CPU-only test machine: one clear line
        assert result.returncode != 0 and not (tmp_path / target).exists()
    else:  # a machine with a GPU trains on it
        assert result.returncode == 0, text[-3000:]


@pytest.mark.parametrize("data_dir", ["results/x$(touch INJECTED)", "results/pets with space"])
def test_hostile_paths_in_the_config_reach_the_shell_quoted(tmp_path, data_dir):
    """A config string that reaches ``shell:`` is quoted: no command runs, spaces survive."""
    config = tmp_path / "hostile.yaml"
    unet = {"data_dir": data_dir, "synthetic": {"n_trainval": 4, "n_test": 2, "size": 32}}
    config.write_text(yaml.safe_dump({"unet": unet}))
    dry = _snakemake(["-n", "-p", "--configfile", str(config)], tmp_path)
    assert dry.returncode == 0, dry.stderr[-2000:]
    marker = f"{data_dir}/SYNTHETIC.json"
    result = _snakemake([marker, "--cores", "1", "--configfile", str(config)], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / marker).is_file()
    assert not (tmp_path / "INJECTED").exists()
    assert not list(tmp_path.rglob("INJECTED"))


@pytest.mark.workflow
def test_resume_after_sigkill_with_the_documented_commands(tmp_path):
    """SIGKILL leaves Snakemake's lock behind: the README's `--unlock`, then the same command,
    finishes the study without redoing finished jobs."""
    import signal
    import time

    target = "results/tables/pinn_errors.csv"
    args = [*SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path)]
    args += [target, "--cores", "1", "--configfile", str(REPO / "configs/smoke.yaml")]
    log = tmp_path / "run.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            args, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 240
        # one core: when a training job is reported finished, the next has only just started
        while "Finished jobid" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, "no job finished"
            time.sleep(0.2)
        finished = {p: p.stat().st_mtime_ns for p in tmp_path.glob("results/pinn/*/metrics.json")}
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert finished
    assert not (tmp_path / target).exists()
    unlock = _snakemake(["--unlock", "--configfile", str(REPO / "configs/smoke.yaml")], tmp_path)
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    rerun = _snakemake(
        [target, "--cores", "2", "--configfile", str(REPO / "configs/smoke.yaml")], tmp_path
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert (tmp_path / target).is_file()
    # the runs that had finished before the kill were kept, not redone
    assert all(p.stat().st_mtime_ns == t for p, t in finished.items())


@pytest.mark.workflow
def test_own_model_example_runs_through_the_generic_rules(tmp_path):
    """examples/own_model: checkpoints of the user's format, an objective factory, and the
    same hessian/landscape/topology rules, table and profile figure as the built-in problems."""
    example = tmp_path / "example"  # a copy, so that editing its factory can be tested
    shutil.copytree(REPO / "examples/own_model", example)
    train = subprocess.run(
        [sys.executable, str(example / "train.py"), "--epochs", "2", "--out", "ckpt"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert train.returncode == 0, train.stderr
    config = yaml.safe_load((example / "config.yaml").read_text())
    entry = config["models"][0]
    entry.update(
        checkpoints="ckpt/epoch_*.pt",
        objective=f"{example / 'objective.py'}:make_objective",
        resolution=7,
    )
    path = tmp_path / "own.yaml"
    path.write_text(yaml.safe_dump(config))
    dry = _snakemake(["-n", "--configfile", str(path)], tmp_path)
    planned = re.findall(r"^\s*(?:local)?rule (\w+):", dry.stdout + dry.stderr, flags=re.M)
    assert sorted(set(planned)) == sorted(
        {"all", "hessian", "curvature", "landscape", "topology", "topology_table", "figure"}
    )  # no PINN or UNet job: only the user's models
    result = _snakemake(["--cores", "2", "--configfile", str(path)], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    table = pd.read_csv(tmp_path / "results/tables/models/spirals_topology_summary.csv")
    assert list(table.checkpoint) == ["epoch_000", "epoch_001", "epoch_002"]
    assert list(table.epoch) == [0, 1, 2] and set(table.problem) == {"model"}
    assert ((table.test_accuracy >= 0) & (table.test_accuracy <= 1)).all()
    assert table.hessian_trace.notna().all() and (table.hessian_trace_se > 0).all()
    assert table.train_accuracy.iloc[-1] > table.train_accuracy.iloc[0]
    for ckpt in table.checkpoint:
        analysis = tmp_path / "results/models/spirals" / ckpt
        landscape = xr.open_dataset(analysis / f"landscape_2d_d{entry['distance']:g}.nc")
        assert landscape.loss.shape == (7, 7)
        assert landscape.attrs["objective_factory"] == entry["objective"]
        assert landscape.attrs["dtype"] == "float64"
        row = table[table.checkpoint == ckpt]
        assert row.center_loss.item() == pytest.approx(landscape.attrs["center_loss"])
    for suffix in ("png", "pdf"):
        figure = tmp_path / f"results/figures/models/spirals_profiles.{suffix}"
        assert figure.stat().st_size > 5_000
    # complete; editing the factory re-runs the analysis of every checkpoint
    done = _snakemake(["-n", "--configfile", str(path)], tmp_path)
    assert "Nothing to be done" in done.stdout + done.stderr
    factory = example / "objective.py"
    factory.write_text(factory.read_text() + "\n")
    again = _snakemake(["-n", "--configfile", str(path)], tmp_path)
    planned = re.findall(r"^\s*rule (\w+):", again.stdout + again.stderr, flags=re.M)
    assert planned.count("hessian") == 3 and planned.count("landscape") == 3
    shutil.rmtree(tmp_path / ".snakemake", ignore_errors=True)


def test_a_model_whose_checkpoints_match_nothing_fails_the_dry_run_naming_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "models:\n  - name: m\n    checkpoints: nowhere/*.pt\n    objective: f.py:make\n"
    )
    result = _snakemake(["-n", "--configfile", str(bad)], tmp_path)
    assert result.returncode != 0
    message = "config.models[0].checkpoints: nowhere/*.pt matches no file"
    assert message in result.stdout + result.stderr


TOY_PROBLEM = '''
"""A toy problem: least squares of a 2 -> 3 -> 1 tanh network on 16 fixed points."""
import torch
from torch import nn
import torch.nn.functional as F

from losstopo import Objective
from losstopo.problems import register


class Toy:
    name = "toy"
    table_metrics = ("final_loss",)

    def table_fields(self, checkpoint):
        return {"width": checkpoint["hparams"]["width"], "seed": checkpoint["seed"]}

    def build_model(self, hparams):
        width = hparams["width"]
        return nn.Sequential(nn.Linear(2, width), nn.Tanh(), nn.Linear(width, 1))

    def objective(self, checkpoint, device, dtype):
        model = self.build_model(checkpoint["hparams"])
        model.load_state_dict(checkpoint["state_dict"])
        model = model.to(device=device, dtype=dtype)
        x = torch.linspace(-1, 1, 32, dtype=dtype, device=device).reshape(16, 2)
        y = torch.sin(3 * x[:, :1]) * x[:, 1:]
        return Objective.from_module(model, F.mse_loss, (x, y))


register(Toy())
'''

TOY_TRAINING = """
import sys
import torch
sys.path.insert(0, ".")
from losstopo.io.checkpoint import save_checkpoint
from losstopo.problems import get_problem

problem = get_problem("toy")
# the second checkpoint's name starts with "-": no command line may read it as an option
for width, seed, path in [(3, 0, "toy/w3_s0.pt"), (4, 1, "-w4_s1.pt")]:
    torch.manual_seed(seed)
    hparams = {"width": width}
    model = problem.build_model(hparams).double()
    checkpoint = {"problem": "toy", "hparams": hparams, "state_dict": model.state_dict(),
                  "metrics": {}, "seed": seed, "device": "cpu"}
    objective = problem.objective(checkpoint, torch.device("cpu"), torch.float64)
    optimizer = torch.optim.LBFGS(model.parameters(), max_iter=50, line_search_fn="strong_wolfe")
    x, y = torch.linspace(-1, 1, 32, dtype=torch.float64).reshape(16, 2), None
    def closure():
        optimizer.zero_grad()
        loss = objective.loss_fn(dict(model.named_parameters()))
        loss.backward()
        return loss
    optimizer.step(closure)
    checkpoint["state_dict"] = model.state_dict()
    checkpoint["metrics"] = {"final_loss": float(closure())}
    save_checkpoint(path, checkpoint)
"""


@pytest.mark.workflow
def test_a_new_problem_is_one_module_through_the_generic_rules(tmp_path):
    """A problem registered by a module outside the package (a few lines above) goes through
    the same hessian, landscape, topology, table and profile rules: a dry run plans exactly
    them, and a tiny real run gives its table with the problem's own fields and metrics."""
    (tmp_path / "toy_problem.py").write_text(TOY_PROBLEM)
    (tmp_path / "train_toy.py").write_text(TOY_TRAINING)
    env = {**os.environ, "LOSSTOPO_PROBLEMS": str(tmp_path / "toy_problem.py")}
    train = subprocess.run(
        [sys.executable, "train_toy.py"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert train.returncode == 0, train.stderr
    config = {
        "pinn": {"enabled": False},
        "unet": {"enabled": False},
        "problem_modules": ["toy_problem.py"],
        "models": [
            {"name": "toy", "checkpoints": ["toy/*.pt", "-w4_s1.pt"], "dims": [2], "resolution": 5}
        ],
    }
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(config))
    dry = _snakemake(["-n", "--configfile", str(path)], tmp_path)
    planned = re.findall(r"^\s*(?:local)?rule (\w+):", dry.stdout + dry.stderr, flags=re.M)
    assert sorted(planned) == sorted(
        ["all", "figure", "topology_table"] + ["hessian", "curvature", "landscape", "topology"] * 2
    )
    result = _snakemake(["--cores", "2", "--configfile", str(path)], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    table = pd.read_csv(tmp_path / "results/tables/models/toy_topology_summary.csv")
    table = table.sort_values("width")
    assert set(table.problem) == {"toy"} and list(table.checkpoint) == ["w3_s0", "-w4_s1"]
    assert list(table.width) == [3, 4] and list(table.seed) == [0, 1]
    for ckpt, loss in zip(table.checkpoint, table.final_loss, strict=True):
        saved_path = tmp_path / ("toy" if ckpt == "w3_s0" else "") / f"{ckpt}.pt"
        saved = torch.load(saved_path, weights_only=True)
        assert loss == pytest.approx(saved["metrics"]["final_loss"])
        landscape = xr.open_dataset(tmp_path / f"results/models/toy/{ckpt}/landscape_2d_d0.1.nc")
        assert landscape.attrs["center_loss"] == pytest.approx(loss, rel=1e-5)
    assert (tmp_path / "results/figures/models/toy_profiles.png").stat().st_size > 5_000
    shutil.rmtree(tmp_path / ".snakemake", ignore_errors=True)


@pytest.mark.workflow
def test_a_checkout_path_with_shell_syntax_runs_jobs_without_executing_it(tmp_path):
    """The source path reaches every job's shell quoted: a checkout under a directory named
    with a space, a double quote, `$(...)` and backticks runs its jobs and runs nothing else."""
    marker = tmp_path / "EXECUTED"
    checkout = tmp_path / f'check out "q" $(touch {marker}) `touch {marker}`'
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for name in filter(None, tracked):
        if name.startswith(
            ("Snakefile", "rules/", "src/", "config", "configs/", "report/", "envs/")
        ):
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, checkout / name)
    work = tmp_path / "work"
    work.mkdir()
    target = "results/pinn/beta1_lr1_seed0/metrics.json"
    options = ["--snakefile", str(checkout / "Snakefile"), "--directory", str(work)]
    options += ["--cores", "1", target, "--configfile", str(checkout / "configs/smoke.yaml")]
    result = subprocess.run(
        [*SNAKEMAKE, *options],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=work,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((work / target).read_text())["iterations"] > 0
    assert not marker.exists()
    # the job imported the package from that checkout, through the quoted PYTHONPATH
    log = (work / "results/logs/train_pinn/beta1_lr1_seed0.log").read_text()
    assert "Traceback" not in log
