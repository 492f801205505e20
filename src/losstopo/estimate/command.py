"""``losstopo estimate``: its options and what it does with them."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from losstopo.errors import LosstopoError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``losstopo estimate``."""
    from losstopo.cli.common import positive_int

    parser.add_argument(
        "--config",
        nargs="+",
        default=[],
        metavar="FILE",
        help="config files given to snakemake as --configfile, merged in order over the "
        "Snakefile's own config.yaml (default: none besides it)",
    )
    parser.add_argument(
        "--cores",
        type=positive_int,
        default=None,
        help="cores the study will use (default: all of this machine)",
    )
    parser.add_argument(
        "--directory",
        default=".",
        help="the directory snakemake runs the study in (default: the current one)",
    )
    parser.add_argument(
        "--snakefile",
        default=None,
        help="the workflow's Snakefile (default: Snakefile in --directory)",
    )
    parser.add_argument(
        "--snakemake",
        default=None,
        metavar="EXECUTABLE",
        help="the snakemake program (default: the one beside this Python, else on PATH)",
    )
    parser.add_argument(
        "--plan",
        default=None,
        metavar="FILE",
        help="read this saved output of 'snakemake --dry-run --printshellcmds' instead of "
        "running the dry run",
    )
    parser.add_argument(
        "--remaining",
        action="store_true",
        help="cost only the jobs still to run (default: the whole study, as if from scratch)",
    )
    parser.add_argument(
        "--counts-only",
        action="store_true",
        help="list the planned jobs per rule and stop (no probes)",
    )
    parser.add_argument(
        "--config-json",
        default=None,
        help="the configuration as one JSON object (used by the workflow)",
    )
    parser.add_argument("--out", default=None, help="also write the estimate to this file")


def plan_text(args: argparse.Namespace, cores: int, scratch: Path) -> str:
    """The dry run's output for the options (or the saved plan given with ``--plan``)."""
    from losstopo.estimate.config import config_from_json, read_config
    from losstopo.estimate.plan import dry_run, dry_run_command, find_snakemake

    if args.plan:
        path = Path(args.plan)
        if not path.is_file():
            raise LosstopoError(f"--plan {path} does not exist")
        return path.read_text()
    directory = Path(args.directory)
    if not directory.is_dir():
        raise LosstopoError(f"--directory {directory} is not a directory")
    snakefile = Path(args.snakefile) if args.snakefile else directory / "Snakefile"
    if not snakefile.is_file():
        raise LosstopoError(f"Snakefile {snakefile} does not exist (pass --snakefile)")
    configs = [Path(path).resolve() for path in args.config]
    for path in configs:
        read_config(path)  # a missing file or broken YAML, named in one line
    if args.config_json:
        configs.append(config_from_json(args.config_json, scratch / "config.yaml"))
    command = dry_run_command(
        find_snakemake(args.snakemake),
        snakefile.resolve(),
        directory.resolve(),
        configs,
        cores,
        remaining=args.remaining,
    )
    return dry_run(command, directory)


def run(args: argparse.Namespace) -> str:
    """The estimate's text for the parsed options (also written to ``--out``)."""
    from losstopo.estimate.plan import checked_jobs
    from losstopo.estimate.prediction import predict, rule_counts
    from losstopo.estimate.report import counts_table, report
    from losstopo.estimate.study import Study

    cores = args.cores or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="losstopo-estimate-") as scratch:
        text = plan_text(args, cores, Path(scratch))
    study = Study(checked_jobs(text), args.directory)
    if args.counts_only:
        result = counts_table(rule_counts(study))
    else:
        from losstopo.estimate.probes import MeasuredProbes

        probes = MeasuredProbes(study)
        try:
            central = predict(study, probes, cores)
            upper = predict(study, probes, cores, budget_fraction=1.0)
        finally:
            probes.close()
        result = report(central, upper, probes.summary())
    if args.out:
        from losstopo.io.atomic import write_atomic

        write_atomic(args.out, lambda tmp: tmp.write_text(result + "\n"))
    return result
