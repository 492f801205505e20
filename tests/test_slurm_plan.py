"""The cluster plan: each rule's request from the config (losstopo.workflow.resources) and
scripts/slurm-plan, which checks the paper's study against a node before anything runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from losstopo.workflow import resources
from losstopo.workflow.resources import Node, Request

REPO = Path(__file__).resolve().parents[1]
PLAN = [sys.executable, str(REPO / "scripts/slurm-plan")]
PAPER = str(REPO / "configs/paper.yaml")


def _plan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*PLAN, *args], capture_output=True, text=True, timeout=120)


def _rows(stdout: str) -> dict[tuple[str, str], list[str]]:
    """Table rows by (rule, jobs of): [jobs, CPUs, memory MB, GPUs, note...]."""
    rows = {}
    for line in stdout.splitlines()[2:]:
        if line.startswith("wrote "):
            continue
        if line.startswith("group "):
            rows["group", line.split()[1]] = line.split()[2:]
            continue
        rule, rest = line[:16].strip(), line[17:]
        label, values = rest[:22].strip(), rest[23:].split()
        rows[rule, label] = values
    return rows


def test_paper_plan_fits_a_64_cpu_256_gb_4_gpu_node():
    result = _plan("--configfile", PAPER, "--node", "cpus=64,mem=256G,gpus=4")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("node: 64 CPUs, 262144 MB, 4 GPUs\n")
    rows = _rows(result.stdout)
    # jobs, CPUs (config threads), memory from the configured scale, GPUs (gpu_stages)
    assert rows["train_pinn", "-"] == ["350", "1", "1000", "0"]
    assert rows["train_unet", "-"] == ["35", "4", "7307", "1"]
    assert rows["hessian", "pinn"] == ["15", "1", "1000", "0"]
    assert rows["hessian", "unet"] == ["1085", "4", "15637", "1"]
    assert rows["curvature", "unet"] == ["18", "4", "15637", "0"]
    assert rows["landscape", "pinn 4-D"] == ["15", "1", "1000", "1"]
    assert rows["landscape", "unet 2-D"] == ["1085", "4", "15637", "1"]
    assert rows["topology", "pinn 4-D knn"] == ["15", "1", "6520", "0"]
    assert rows["topology", "pinn 4-D full"] == ["15", "1", "2380", "0"]
    assert rows["topology", "unet 2-D full"] == ["1085", "1", "1001", "0"]
    # the largest merge-tree group: its 12 largest trees side by side on the node
    assert rows["group", "merge_trees"] == ["12", "topology", "jobs", "12", "78240", "0"]
    assert "ABOVE" not in result.stdout and result.stderr == ""


def test_paper_plan_flags_jobs_above_a_small_node_and_exits_1():
    result = _plan("--configfile", PAPER, "--node", "cpus=2,mem=8G,gpus=1")
    assert result.returncode == 1
    rows = _rows(result.stdout)
    assert rows["hessian", "unet"][-3:] == ["ABOVE", "THE", "NODE"]
    assert rows["train_unet", "-"][4:] == ["runs", "with", "2", "threads"]
    assert rows["train_pinn", "-"] == ["350", "1", "1000", "0"]
    # the 4-D k-NN trees (6,520 MB) one after another: two do not fit side by side
    assert rows["group", "merge_trees"][3:5] == ["1", "6520"]
    errors = result.stderr.splitlines()
    assert (
        "slurm-plan: rule hessian (unet): 1085 job(s) ask for 4 CPUs, 15637 MB, 1 GPUs; "
        "the largest node has 2 CPUs, 8192 MB, 1 GPUs"
    ) in errors
    assert {line.split(":")[1].strip() for line in errors} == {
        "rule hessian (unet)",
        "rule curvature (unet)",
        "rule landscape (unet 2-D)",
    }


def test_cpu_only_plan_asks_for_no_gpu_and_writes_the_site_profile(tmp_path):
    site = tmp_path / "site"
    result = _plan(
        "--configfile",
        PAPER,
        "--config",
        "gpu_stages=[]",
        "--node",
        "cpus=32,mem=128G,gpus=0",
        "--write-site",
        str(site),
        "--account",
        "proj1",
    )
    assert result.returncode == 0, result.stderr
    rows = _rows(result.stdout)
    assert len(rows) == 17 and rows["train_unet", "-"] == ["35", "4", "7307", "0"]
    assert all(values[-1] == "0" for key, values in rows.items() if key[0] != "group")
    written = yaml.safe_load((site / "config.yaml").read_text())
    assert written == {
        "cores": 32,
        "resources": ["mem_mb=131072", "gpu=0"],
        "default-resources": ["slurm_account=proj1"],
    }


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--node", "cpus=many"], "slurm-plan: --node cpus=many: node: cpus='many' is not a whole"),
        (["--node", "disk=1T"], "slurm-plan: --node disk=1T: node: 'disk=1T' is not cpus=N"),
        (["--node", "mem=lots"], "slurm-plan: --node mem=lots: not a memory size: 'lots'"),
        (["--node", "cpus=2", "--configfile", "missing.yaml"], "slurm-plan: missing.yaml: No such"),
        (["--node", "cpus=2", "--config", "pinn=nothing"], "slurm-plan: config.pinn: 'nothing' is"),
    ],
)
def test_bad_input_is_one_line_naming_it(args, needle):
    result = _plan(*args)
    assert result.returncode == 2
    assert result.stdout == "" and result.stderr.startswith(needle), result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_largest_node_from_sinfo_with_gres():
    listing = "cpu01 64 256000 (null)\ngpu01 32 512000 gpu:a100:4(S:0-1)\ngpu02 32 512000+ gpu:2\n"
    nodes = resources.nodes_from_sinfo(listing)
    assert nodes == [Node(64, 256000, 0), Node(32, 512000, 4), Node(32, 512000, 2)]
    assert resources.largest(nodes) == Node(32, 512000, 4)
    assert resources.gres_gpus("gpu:tesla:2,gpu:a100:1,fpga:1") == 3
    with pytest.raises(ValueError, match="sinfo lists no nodes"):
        resources.largest(resources.nodes_from_sinfo("PARTITION\n"))


def test_group_jobs_are_laid_out_to_fit_the_node():
    jobs = [Request(1, 2000)] * 9
    # unconstrained, nine components ask for their sum (what Snakemake does without a node)
    assert resources.group_request(jobs, Node()) == Request(9, 18000)
    assert resources.group_request(jobs, Node(cpus=2, mem_mb=21694)) == Request(2, 4000)
    assert resources.group_request(jobs, Node(cpus=64, mem_mb=5000)) == Request(2, 4000)
    mixed = [Request(1, 6000), Request(1, 1000), Request(1, 1000), Request(1, 1000)]
    assert resources.group_request(mixed, Node(cpus=4, mem_mb=7000)) == Request(2, 7000)


def test_landscape_points_and_merge_tree_memory():
    assert resources.points(["--resolution", "41"], 4) == 41**4
    assert resources.points(["--sampling", "sobol", "--n-points", "262145", "--seed", "0"], 6) == (
        262145
    )
    config = yaml.safe_load((REPO / "configs/paper.yaml").read_text())
    grid = {4: ["--resolution", "41"]}
    full = resources.analysis_memory_mb(config, "topology", "pinn", grid, 4, "full")
    knn = resources.analysis_memory_mb(config, "topology", "pinn", grid, 4, "knn")
    assert full == 1000 + -(-(41**4 * 512) // 2**20)
    assert knn == 1000 + -(-(41**4 * 2048) // 2**20)
