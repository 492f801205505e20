"""The SLURM profile without a cluster: stand-ins for the SLURM commands behave like a small
cluster without accounting or GPUs, and the site profile gives Snakemake its node."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "configs/smoke.yaml"

# Stand-ins: sbatch records its call and (with FAKE_SLURM_RUN=1) runs the job at once, as a
# node would; squeue reports the states; sacct fails as on a cluster without slurmdbd.
FAKE_SLURM = {
    "sbatch": """#!/bin/sh
echo "$*" >> "$FAKE_SLURM/sbatch.log"
id=$(( $(cat "$FAKE_SLURM/counter" 2>/dev/null || echo 100) + 1 )); echo $id > "$FAKE_SLURM/counter"
wrap=""
for arg in "$@"; do case "$arg" in --wrap=*) wrap="${arg#--wrap=}" ;; esac; done
if [ -n "$wrap" ]; then printf '%s\\n' "$wrap" > "$FAKE_SLURM/job$id.sh"
else cat > "$FAKE_SLURM/job$id.sh"; fi
state=FAILED
if [ "$FAKE_SLURM_RUN" = 1 ] && (sh "$FAKE_SLURM/job$id.sh" > "$FAKE_SLURM/job$id.out" 2>&1)
then state=COMPLETED; fi
echo $state > "$FAKE_SLURM/state$id"
echo $id
""",
    "srun": """#!/bin/sh
while [ $# -gt 0 ]; do case "$1" in -*) shift ;; *) break ;; esac; done
if [ $# -gt 0 ]; then exec "$@"; else exec sh /dev/stdin; fi
""",
    "squeue": """#!/bin/sh
echo "$*" >> "$FAKE_SLURM/squeue.log"
for f in "$FAKE_SLURM"/state*; do [ -e "$f" ] && echo "${f##*state}|$(cat "$f")"; done
exit 0
""",
    "sacct": """#!/bin/sh
echo "$*" >> "$FAKE_SLURM/sacct.log"
echo "Slurm accounting storage is disabled" >&2
exit 1
""",
    "sacctmgr": "#!/bin/sh\necho 'Slurm accounting storage is disabled' >&2\nexit 1\n",
    "sshare": "#!/bin/sh\necho 'Slurm accounting storage is disabled' >&2\nexit 1\n",
    "scontrol": "#!/bin/sh\necho 'MinJobAge               = 300 sec'\n",
    "sinfo": "#!/bin/sh\necho 'local*'\n",
    "scancel": "#!/bin/sh\nexit 0\n",
}


def _fake_slurm(tmp_path: Path) -> dict[str, str]:
    fake = tmp_path / "fake-slurm"
    fake.mkdir()
    for name, script in FAKE_SLURM.items():
        (fake / name).write_text(script)
        (fake / name).chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    return {**env, "FAKE_SLURM": str(fake), "PATH": f"{fake}{os.pathsep}{env['PATH']}"}


def _site(tmp_path: Path, cores: int = 2, mem_mb: int = 21000, gpus: int = 0) -> Path:
    """A site profile as the README has one written: the node, the partition."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "config.yaml").write_text(
        f"cores: {cores}\nresources: [mem_mb={mem_mb}, gpu={gpus}]\n"
        "default-resources: [slurm_partition=local]\n"
    )
    return site


def _run(tmp_path: Path, args: list[str], env: dict[str, str], timeout: int = 300):
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
    command += ["--directory", str(tmp_path), "--workflow-profile", str(REPO / "profiles/slurm")]
    command += ["--configfile", str(SMOKE), *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, cwd=tmp_path, env=env
    )


FAST = ["--slurm-init-seconds-before-status-checks", "1", "--latency-wait", "5", "--retries", "0"]


@pytest.mark.workflow
def test_job_states_come_from_squeue_on_a_cluster_without_accounting(tmp_path):
    """sacct fails without slurmdbd; the profile's squeue status checks still see the job
    finish (with sacct as the status command the run never ends)."""
    env = {**_fake_slurm(tmp_path), "FAKE_SLURM_RUN": "1"}
    target = "results/pinn/beta1_lr1_seed0/metrics.json"
    site = _site(tmp_path)
    start = time.monotonic()
    args = ["--profile", str(site), "--config", "gpu_stages=[]", *FAST, target]
    result = _run(tmp_path, args, env, timeout=240)
    text = result.stdout + result.stderr
    assert result.returncode == 0, text[-3000:]
    assert (tmp_path / target).is_file()
    assert time.monotonic() - start < 120
    fake = Path(env["FAKE_SLURM"])
    assert "--states=all" in (fake / "squeue.log").read_text()
    asked = (fake / "sacct.log").read_text() if (fake / "sacct.log").exists() else ""
    assert "State" not in asked  # sacct only guessed the account (and failed)


@pytest.mark.workflow
def test_cpu_only_route_submits_no_gpu_request_and_trains_on_cpus(tmp_path):
    """`--config gpu_stages=[]`: the UNet's data and training jobs ask for no GPU, so a
    cluster without GPUs takes them, and the training runs on CPUs."""
    env = {**_fake_slurm(tmp_path), "FAKE_SLURM_RUN": "1"}
    target = "results/unet/lr0.002_seed243/metrics.csv"
    site = _site(tmp_path)
    args = ["--profile", str(site), "--config", "gpu_stages=[]", *FAST, target]
    result = _run(tmp_path, args, env)
    text = result.stdout + result.stderr
    assert result.returncode == 0, text[-3000:]
    submitted = (Path(env["FAKE_SLURM"]) / "sbatch.log").read_text().splitlines()
    assert [("rule_train_unet" in line) for line in submitted] == [False, True], submitted
    for line in submitted:
        assert "--gpus" not in line and "--gres" not in line, line
        assert re.search(r"--mem \d+ ", line) and "--cpus-per-task=1" in line, line
    log = (tmp_path / "results/logs/train_unet/lr0.002_seed243.log").read_text()
    assert "cuda" not in log.lower()
    assert (tmp_path / target).is_file()


def test_gpu_stages_on_a_node_without_gpus_fail_before_anything_runs(tmp_path):
    """A site profile whose node has no GPUs (gpu=0) with the profile's GPU stages: the run
    stops as the workflow is read, naming the rule, its request, the node and the setting
    that turns the GPU stages off."""
    env = _fake_slurm(tmp_path)
    site = _site(tmp_path, gpus=0)
    result = _run(tmp_path, ["--profile", str(site), *FAST], env, timeout=120)
    assert result.returncode != 0
    line = next(line for line in result.stderr.splitlines() if line.startswith("rule "))
    assert line.startswith("rule train_unet: 1 job(s) ask for 1 CPUs, ")
    assert "1 GPUs; the largest node has 2 CPUs, 21000 MB, 0 GPUs" in line
    assert "--config gpu_stages=[]" in line
    assert not (Path(env["FAKE_SLURM"]) / "sbatch.log").exists()


def test_a_job_larger_than_the_node_fails_before_anything_is_submitted(tmp_path):
    """A node with less memory than a job needs: one line naming the rule, its request and
    the node, and nothing reaches sbatch (it would pend, or be refused, forever)."""
    env = _fake_slurm(tmp_path)
    site = _site(tmp_path, cores=1, mem_mb=900)
    args = ["--profile", str(site), "--config", "gpu_stages=[]", *FAST]
    start = time.monotonic()
    result = _run(tmp_path, args, env, timeout=120)
    assert result.returncode != 0
    assert time.monotonic() - start < 60
    lines = [line for line in result.stderr.splitlines() if line.startswith("rule ")]
    assert lines == [
        "rule train_pinn: 4 job(s) ask for 1 CPUs, 1000 MB, 0 GPUs; "
        "the largest node has 1 CPUs, 900 MB, 0 GPUs"
    ]
    assert not (Path(env["FAKE_SLURM"]) / "sbatch.log").exists()


def test_requests_follow_the_configured_scale_not_fixed_maxima(tmp_path):
    """Dry run through the profile and a 2-CPU site node: every job asks for its threads
    (1 in the smoke config) and memory sized from the config, never the old fixed 4-8 CPUs
    and 16-32 GB."""
    env = _fake_slurm(tmp_path)
    site = _site(tmp_path)
    result = _run(tmp_path, ["-n", "--profile", str(site), "--config", "gpu_stages=[]"], env)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = re.findall(
        r"^\s*rule (\w+):\n(?:\s+\w+:.*\n)*?\s+resources: (.*)$", result.stdout, flags=re.M
    )
    cluster = {
        rule: resources
        for rule, resources in jobs
        if rule not in {"all", "figure", "claims", "pinn_errors", "topology_table", "unet_accuracy"}
    }
    assert set(cluster) == {
        "make_pets",
        "train_pinn",
        "train_unet",
        "hessian",
        "curvature",
        "landscape",
        "topology",
    }
    for rule, resources in jobs:
        if rule in cluster:
            mem = int(re.search(r"mem_mb=(\d+)", resources).group(1))
            assert 1000 <= mem <= 1100, (rule, resources)
            assert "cpus_per_task" not in resources and "gpu=1" not in resources
    assert "threads:" not in result.stdout  # one thread each: Snakemake prints none


def test_slurm_local_names_its_commands_on_bad_input():
    result = subprocess.run(
        [str(REPO / "scripts/slurm-local"), "restart"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1
    assert result.stderr == "slurm-local: usage: scripts/slurm-local start|stop|status\n"


@pytest.mark.parametrize(("require", "outcome"), [("", "5 skipped"), ("1", "5 errors")])
def test_cluster_tests_skip_without_a_cluster_unless_required(tmp_path, require, outcome):
    """Without a cluster the cluster tests skip, naming how to start one; with
    LOSSTOPO_REQUIRE_SLURM=1 (CI, which starts it) that is an error instead."""
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "sinfo").write_text(
        "#!/bin/sh\necho 'sinfo: error: Unable to contact slurm controller' >&2\nexit 1\n"
    )
    (stub / "sinfo").chmod(0o755)
    env = {**os.environ, "PATH": f"{stub}{os.pathsep}{os.environ['PATH']}"}
    env["LOSSTOPO_REQUIRE_SLURM"] = require
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rs",
            str(REPO / "tests/test_slurm_cluster.py"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert outcome in result.stdout, result.stdout[-2000:]
    reason = "no SLURM cluster answers sinfo (start one: scripts/slurm-local start)"
    assert reason in result.stdout
    assert (result.returncode == 0) == (require == "")
