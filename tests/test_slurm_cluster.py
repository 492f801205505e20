"""The smoke study on a running SLURM cluster (``scripts/slurm-local start`` gives one on this
machine), through the SLURM profile and a site profile written from sinfo as the README says:
it finishes after being interrupted and after one of its jobs is cancelled, every job fits the
node, and its tables and netCDF variables equal a local run's.

Skipped when no cluster answers ``sinfo``; with ``LOSSTOPO_REQUIRE_SLURM=1`` (set by .ci/run,
which starts the cluster) that is a failure instead. ``LOSSTOPO_SMOKE_RESULTS`` names the
``results`` directory of a local smoke run to compare with (otherwise one is run here).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "configs/smoke.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
CPU_ONLY = ["--config", "gpu_stages=[]"]
# table columns that time the run itself
TIMING = re.compile(r"(^|_)seconds?$|per_second")

pytestmark = pytest.mark.workflow


def _sinfo() -> str:
    try:
        result = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%N %c %m %T"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout if result.returncode == 0 else ""


@pytest.fixture(scope="module")
def cluster() -> str:
    """sinfo's node list, once a node is up."""
    listing = _sinfo()
    if not re.search(r"\b(idle|mixed|allocated|completing)\b", listing):
        reason = "no SLURM cluster answers sinfo (start one: scripts/slurm-local start)"
        if os.environ.get("LOSSTOPO_REQUIRE_SLURM") == "1":
            pytest.fail(f"LOSSTOPO_REQUIRE_SLURM=1 but {reason}")
        pytest.skip(reason)
    return listing


def _our_jobs(workdir: Path) -> list[dict[str, str]]:
    """This run's jobs in squeue (finished ones stay listed for MinJobAge)."""
    fields = ["id", "state", "elapsed", "comment", "cpus", "mem", "workdir"]
    result = subprocess.run(
        ["squeue", "-h", "--states=all", "-o", "%i|%T|%M|%k|%C|%m|%Z"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    jobs = [dict(zip(fields, line.split("|"), strict=False)) for line in result.stdout.splitlines()]
    return [job for job in jobs if job.get("workdir") == str(workdir)]


def _memory_mb(text: str) -> int:
    value, unit = re.fullmatch(r"(\d+)([KMGT]?)", text).groups()
    return int(value) * {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024**2}[unit]


def _write_site(site: Path) -> Path:
    """The README's site profile, written from sinfo's largest node by scripts/slurm-plan."""
    plan = [sys.executable, str(REPO / "scripts/slurm-plan"), "--configfile", str(SMOKE)]
    plan += [*CPU_ONLY, "--node", "sinfo", "--write-site", str(site)]
    result = subprocess.run(plan, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return site


def _finished_outputs(log: str) -> set[str]:
    """Outputs of the jobs that a Snakemake log reports finished."""
    finished = set(re.findall(r"Finished jobid: (\d+) ", log))
    outputs = set()
    for block in re.split(r"\n(?=\[)", log):
        jobid = re.search(r"^\s*jobid: (\d+)$", block, flags=re.M)
        output = re.search(r"^\s*output: (.*)$", block, flags=re.M)
        if jobid and output and jobid.group(1) in finished:
            outputs.update(output.group(1).split(", "))
    return outputs


@dataclass
class ClusterRun:
    workdir: Path
    site: dict
    interrupted_rc: int = 0
    interrupted_log: str = ""
    left_running: list[dict[str, str]] = field(default_factory=list)
    done_before: dict[Path, int] = field(default_factory=dict)
    cancelled: dict[str, str] = field(default_factory=dict)
    rc: int = 0
    log: str = ""
    jobs: dict[str, dict[str, str]] = field(default_factory=dict)
    seconds: float = 0.0


def _watch(proc: subprocess.Popen, workdir: Path, jobs: dict, until, timeout: float) -> None:
    """Record this run's jobs every half second until ``until(jobs)`` or the run ends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for job in _our_jobs(workdir):
            jobs[job["id"]] = job
        if until(jobs) or proc.poll() is not None:
            return
        time.sleep(0.5)
    proc.kill()
    raise AssertionError(f"no progress within {timeout:.0f} s: {list(jobs.values())[-3:]}")


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory) -> ClusterRun:
    """The README's route: a site profile from sinfo, then the study through the SLURM
    profile. The first run is interrupted (Ctrl-C) once a job has finished and another is
    running; the same command then resumes it, and one of its jobs is cancelled with
    scancel as soon as it starts (the profile's retries resubmit it)."""
    workdir = tmp_path_factory.mktemp("slurm")
    site = _write_site(workdir / "site")
    run = ClusterRun(workdir, yaml.safe_load((site / "config.yaml").read_text()))
    command = [*SNAKEMAKE, "--directory", str(workdir), "--configfile", str(SMOKE)]
    command += ["--workflow-profile", str(REPO / "profiles/slurm"), "--profile", str(site)]
    command += [*CPU_ONLY, "--slurm-init-seconds-before-status-checks", "2"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    start = time.monotonic()

    def running(jobs: dict) -> list[dict[str, str]]:
        return [job for job in jobs.values() if job["state"] == "RUNNING"]

    with open(workdir / "interrupted.log", "w") as log:
        proc = subprocess.Popen(command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, env=env)
        jobs: dict[str, dict[str, str]] = {}
        _watch(
            proc,
            workdir,
            jobs,
            lambda jobs: (
                "Finished jobid" in (workdir / "interrupted.log").read_text() and running(jobs)
            ),
            timeout=300,
        )
        proc.send_signal(signal.SIGINT)
        run.interrupted_rc = proc.wait(timeout=180)
    time.sleep(2)
    run.left_running = [j for j in _our_jobs(workdir) if j["state"] in ("PENDING", "RUNNING")]
    run.interrupted_log = (workdir / "interrupted.log").read_text()
    done = _finished_outputs(run.interrupted_log)
    run.done_before = {workdir / f: (workdir / f).stat().st_mtime_ns for f in done}

    with open(workdir / "resumed.log", "w") as log:
        proc = subprocess.Popen(command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, env=env)
        seen = set(jobs)
        _watch(
            proc,
            workdir,
            run.jobs,
            lambda jobs: any(
                j["id"] not in seen and j["state"] == "RUNNING" and j["elapsed"] in ("0:00", "0:01")
                for j in jobs.values()
            ),
            timeout=300,
        )
        fresh = [j for j in run.jobs.values() if j["id"] not in seen and j["state"] == "RUNNING"]
        if fresh and proc.poll() is None:
            run.cancelled = fresh[0]
            subprocess.run(["scancel", fresh[0]["id"]], check=True, timeout=30)
        _watch(proc, workdir, run.jobs, lambda jobs: False, timeout=900)
        run.rc = proc.wait()
    run.jobs.update({job["id"]: job for job in _our_jobs(workdir)})
    run.seconds = time.monotonic() - start
    run.log = (workdir / "resumed.log").read_text()
    print(f"SLURM smoke study (interrupted, resumed, one job cancelled): {run.seconds:.0f} s")
    return run


@pytest.fixture(scope="module")
def local_results(tmp_path_factory) -> Path:
    """A local smoke run's results: LOSSTOPO_SMOKE_RESULTS, or one made here."""
    given = os.environ.get("LOSSTOPO_SMOKE_RESULTS")
    if given:
        assert (Path(given) / "tables").is_dir(), f"LOSSTOPO_SMOKE_RESULTS={given}: no tables"
        return Path(given)
    workdir = tmp_path_factory.mktemp("local")
    start = time.monotonic()
    result = subprocess.run(
        [*SNAKEMAKE, "--directory", str(workdir), "--cores", "2", "--configfile", str(SMOKE)],
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    print(f"local smoke study: {time.monotonic() - start:.0f} s")
    return workdir / "results"


def _files(root: Path, pattern: str) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob(pattern) if "benchmarks" not in p.parts}


def test_smoke_study_on_the_cluster_equals_the_local_run(slurm_run, local_results):
    assert slurm_run.rc == 0, slurm_run.log[-3000:]
    results = slurm_run.workdir / "results"
    tables = _files(local_results, "*.csv")
    assert tables and _files(results, "*.csv") == tables
    for name in sorted(tables):
        ours, local = pd.read_csv(results / name), pd.read_csv(local_results / name)
        assert list(ours.columns) == list(local.columns), name
        kept = [c for c in local.columns if not TIMING.search(str(c))]
        pd.testing.assert_frame_equal(ours[kept], local[kept], check_exact=True, obj=str(name))
    netcdf = _files(local_results, "*.nc")
    assert len(netcdf) > 10 and _files(results, "*.nc") == netcdf
    for name in sorted(netcdf):
        with (
            xr.open_dataset(results / name) as ours,
            xr.open_dataset(local_results / name) as local,
        ):
            assert set(ours.variables) == set(local.variables), name
            for variable in local.variables:
                a, b = ours[variable].values, local[variable].values
                nan = a.dtype.kind in "fc"
                assert np.array_equal(a, b, equal_nan=nan), f"{name}: {variable}"
    assert (results / "figures").is_dir()
    assert {p.name for p in (results / "figures").glob("*.png")} == {
        p.name for p in (local_results / "figures").glob("*.png")
    }


def test_an_interrupted_run_cancels_its_jobs_and_the_same_command_resumes(slurm_run):
    assert slurm_run.interrupted_rc != 0
    assert "Terminating processes on user request" in slurm_run.interrupted_log
    assert slurm_run.left_running == []  # Ctrl-C cancelled what it had submitted
    assert slurm_run.done_before  # at least one training had finished before the interrupt
    for path, mtime in slurm_run.done_before.items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was redone"
    assert slurm_run.rc == 0, slurm_run.log[-3000:]


def test_a_cancelled_job_is_resubmitted_and_the_run_finishes(slurm_run):
    assert slurm_run.cancelled, "no job of the resumed run was seen starting"
    assert f"SLURM-job '{slurm_run.cancelled['id']}' failed" in slurm_run.log
    assert "'CANCELLED'" in slurm_run.log
    rule = slurm_run.cancelled["comment"]
    retried = [
        j
        for j in slurm_run.jobs.values()
        if j["comment"] == rule and int(j["id"]) > int(slurm_run.cancelled["id"])
    ]
    assert retried and retried[-1]["state"] == "COMPLETED", (rule, retried)
    assert slurm_run.rc == 0, slurm_run.log[-3000:]


def test_every_job_fits_the_node_and_merge_trees_run_side_by_side(slurm_run, cluster):
    cpus, mem = slurm_run.site["cores"], int(slurm_run.site["resources"][0].split("=")[1])
    _, node_cpus, node_mem, _ = cluster.split("\n")[0].split()
    assert (cpus, mem) == (int(node_cpus), int(node_mem))
    assert len(slurm_run.jobs) >= 20
    for job in slurm_run.jobs.values():
        assert int(job["cpus"]) <= cpus and _memory_mb(job["mem"]) <= mem, job
    groups = [j for j in slurm_run.jobs.values() if "merge_trees" in j["comment"]]
    assert groups, "no merge-tree group job"
    assert all(int(j["cpus"]) == min(cpus, 9) for j in groups), groups


def test_a_job_larger_than_the_largest_node_fails_before_submitting(cluster, tmp_path):
    """A 701³ grid's merge tree needs more memory than this cluster's largest node: the run
    stops as the workflow is read, naming the rule, its request and the node."""
    site = _write_site(tmp_path / "site")
    config = yaml.safe_load(SMOKE.read_text())
    config["landscape"]["grids"] = [{"dims": 2, "resolution": 7}, {"dims": 3, "resolution": 701}]
    (tmp_path / "big.yaml").write_text(yaml.safe_dump(config))
    command = [*SNAKEMAKE, "--directory", str(tmp_path), "--configfile", str(tmp_path / "big.yaml")]
    command += ["--workflow-profile", str(REPO / "profiles/slurm"), "--profile", str(site)]
    start = time.monotonic()
    result = subprocess.run(
        [*command, *CPU_ONLY], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert result.returncode != 0
    assert time.monotonic() - start < 60
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("rule ")]
    node = _sinfo().split("\n")[0].split()
    assert line.startswith("rule topology (pinn 3-D full): 2 job(s) ask for 1 CPUs, ")
    assert line.endswith(f"the largest node has {node[1]} CPUs, {node[2]} MB, 0 GPUs")
    assert not _our_jobs(tmp_path)
