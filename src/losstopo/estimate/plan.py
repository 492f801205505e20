"""The workflow's own plan: the jobs of a Snakemake dry run, read from its printed output.

The job list is whatever the Snakefile plans for the given configs, so new rules and the
users' models are part of the estimate without being listed here. Snakemake runs as a
separate program (its executable, never an import), the same one that will run the study.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from losstopo.errors import LosstopoError

_HEADER = re.compile(r"^\s*(local)?(rule|checkpoint) (?P<rule>\w+):\s*$")
_FIELD = re.compile(r"^\s+(?P<key>[a-z_]+): (?P<value>.*)$")
_STAMP = re.compile(r"^\s*\[[^\]]+\]\s*$")
_SHELL = "Shell command:"
_STATS_ROW = re.compile(r"^\s*(?P<rule>\w+)\s+(?P<count>\d+)\s*$")


@dataclass
class PlannedJob:
    """One job of the plan as the dry run prints it."""

    rule: str
    jobid: int = -1
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    wildcards: dict[str, str] = field(default_factory=dict)
    threads: int = 1
    shell: str | None = None


def find_snakemake(given: str | None = None) -> str:
    """The snakemake executable: ``given``, else the one beside this Python, else on PATH."""
    if given:
        found = shutil.which(given)
        if found is None:
            raise LosstopoError(f"--snakemake {given}: no such executable")
        return found
    beside = shutil.which("snakemake", path=str(Path(sys.executable).parent))
    found = beside or shutil.which("snakemake")
    if found is None:
        raise LosstopoError(
            "snakemake is not installed beside this Python nor on PATH; pass --snakemake PATH"
        )
    return found


def dry_run_command(
    snakemake: str,
    snakefile: str | Path,
    directory: str | Path,
    configfiles: list[str | Path],
    cores: int,
    *,
    remaining: bool = False,
    targets: list[str] | None = None,
) -> list[str]:
    """The dry run that lists every job (every job still to run with ``remaining``) with its
    shell command, threads scaled to ``cores`` as in the real run, without taking the lock
    (a running workflow may hold it)."""
    command = [
        snakemake,
        "--snakefile",
        str(snakefile),
        "--directory",
        str(directory),
        "--dry-run",
        "--printshellcmds",
        "--nolock",
        "--cores",
        str(cores),
    ]
    if not remaining:
        command.append("--forceall")
    command += list(targets or [])
    if configfiles:
        command += ["--configfile", *map(str, configfiles)]
    return command


def dry_run(command: list[str], directory: str | Path) -> str:
    """The printed plan; a failed dry run is one line: Snakemake's own reason."""
    try:
        result = subprocess.run(
            command, cwd=directory, capture_output=True, text=True, timeout=1800, check=False
        )
    except OSError as exc:
        raise LosstopoError(f"cannot run {command[0]}: {exc}") from None
    text = result.stdout + "\n" + result.stderr
    if result.returncode != 0:
        raise LosstopoError(f"snakemake's dry run failed: {_reason(text)}")
    return text


def _reason(text: str) -> str:
    """The line of a failed run's output that says why (the error, else the last line)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    noise = ("Using workflow specific profile", "Assuming unrestricted", "Building DAG")
    lines = [line for line in lines if not line.startswith(noise)]
    for index, line in enumerate(lines):
        if re.match(r"^\w*(Error|Exception)\b", line):
            detail = lines[index + 1] if index + 1 < len(lines) else ""
            return f"{line} {detail}".strip()
    return lines[-1] if lines else "no output"


def parse_plan(text: str) -> list[PlannedJob]:
    """Every job block of a dry run's output (``--printshellcmds``)."""
    jobs: list[PlannedJob] = []
    job: PlannedJob | None = None
    for line in text.splitlines():
        header = _HEADER.match(line)
        if header:
            job = PlannedJob(rule=header["rule"])
            jobs.append(job)
            continue
        if job is None:
            continue
        if line.startswith(_SHELL):
            shell = line[len(_SHELL) :].strip()
            job.shell = None if shell in ("", "None") else shell
            job = None
            continue
        if _STAMP.match(line):
            job = None
            continue
        found = _FIELD.match(line)
        if found:
            _set_field(job, found["key"], found["value"].strip())
    return jobs


def _set_field(job: PlannedJob, key: str, value: str) -> None:
    if key == "jobid":
        job.jobid = int(value)
    elif key == "threads":
        job.threads = int(value)
    elif key == "input":
        job.inputs = _paths(value)
    elif key == "output":
        job.outputs = _paths(value)
    elif key == "wildcards":
        pairs = (item.partition("=") for item in value.split(", "))
        job.wildcards = {name: v for name, _, v in pairs if name}


def _paths(value: str) -> list[str]:
    return [part.strip() for part in value.split(", ") if part.strip()]


def job_stats(text: str) -> Counter[str]:
    """Jobs per rule from the dry run's "Job stats" table (the first one printed)."""
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Job stats:")
    except StopIteration:
        return Counter()
    counts: Counter[str] = Counter()
    for line in lines[start + 1 :]:
        row = _STATS_ROW.match(line)
        if row is None:
            if line.strip().startswith(("job", "---")):
                continue
            break
        if row["rule"] == "total":
            break
        counts[row["rule"]] = int(row["count"])
    return counts


def checked_jobs(text: str) -> list[PlannedJob]:
    """The parsed jobs, checked against the dry run's own count of them per rule (a block
    this reader missed would silently cheapen the estimate)."""
    jobs = parse_plan(text)
    stats = job_stats(text)
    counted = Counter(job.rule for job in jobs)
    if stats and counted != stats:
        missing = sorted(set(stats.items()) ^ set(counted.items()))
        raise LosstopoError(
            f"the dry run's jobs per rule {dict(stats)} differ from the job blocks read "
            f"({missing}); this Snakemake version prints its plan differently"
        )
    if not stats and jobs:
        raise LosstopoError("the dry run printed no 'Job stats' table")
    return jobs
