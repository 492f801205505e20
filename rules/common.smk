# Shared helpers: how rules reach the CLI (every rule runs `python -m losstopo ...`), their
# logs, and the input functions of the generic rules. What the study is (its problems, their
# runs, analysis settings, tables and figures) is decided by losstopo.workflow.
import os
import re
import shlex
import sys

SRC = os.path.join(workflow.basedir, "src")


envvars:
    "PATH",


# Rules run the CLI of the package in this repository with the interpreter that runs the
# workflow (a venv need not be activated); under --sdm conda the environment's python wins.
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")


# The source path is quoted for the shell (a checkout path may hold spaces, quotes, `$(...)`
# or backticks); shell.prefix is formatted again like a shell command, hence the doubled
# braces of the path and the quadrupled ones of the f-string.
_SRC_QUOTED = shlex.quote(SRC).replace("{", "{{").replace("}", "}}")
shell.prefix(f"set -euo pipefail; export PYTHONPATH={_SRC_QUOTED}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; ")


ANALYSIS_NAME = "{problem}/{run}/{ckpt}"


def logs(stage, name=ANALYSIS_NAME):
    """Log file of a job of ``stage`` (default: one per analysed checkpoint)."""
    return f"results/logs/{stage}/{name}.log"


def benchmarks(stage, name=ANALYSIS_NAME):
    """Benchmark record of a job of ``stage``."""
    return f"results/benchmarks/{stage}/{name}.tsv"


# the checkout's own package: config checks, the study's problems, run and file names
sys.path.insert(0, SRC)
from snakemake.utils import validate

from losstopo.workflow.config_file import check_schema
from losstopo.workflow.figure_specs import cli_options, package_sources
from losstopo.workflow.paths import ANALYSIS_DIR, LANDSCAPE_FILE, TILE_FILE, TOPOLOGY_FILE
from losstopo.workflow.paths import export_dir
from losstopo.workflow.plan_checks import check_plan
from losstopo.workflow.sampling import tiled_dims, untiled_dims
from losstopo.workflow.study import Study

_SCHEMA = os.path.join(workflow.basedir, "config.schema.yaml")
# the problems of config problem_modules (the jobs import them too) validate their sections
_PROBLEM_SECTIONS = Study.own_sections(config)
# one line naming the offending key (Snakemake's own message prints the whole schema); then
# Snakemake's validation fills in the defaults
check_schema(config, _SCHEMA)
validate(config, _SCHEMA)
config.update(_PROBLEM_SECTIONS)
STUDY = Study(config)
os.environ.update(LOSSTOPO_PROBLEMS=os.pathsep.join(config["problem_modules"]))
check_plan(config)

# tiles split grids along their first axis; a scattered landscape is always one job
UNTILED_DIMS = untiled_dims(config["landscape"])
TILED_DIMS = tiled_dims(config)
CURVATURE = config["curvature"]
TOPOLOGY_TABLES = STUDY.tables()
FIGURES = STUDY.figures()


def job_device(resources):
    """``cuda`` for jobs that were given a GPU (``gpu`` resource), else the configured device."""
    return "cuda" if int(resources.get("gpu", 0) or 0) > 0 else config["device"]


def stage_gpus(stage):
    """``gpu`` resource of an analysis job: 1 when config gpu_stages lists problem:stage."""
    return lambda wildcards: int(f"{wildcards.problem}:{stage}" in config["gpu_stages"])


def setting(name):
    """A rule parameter (or thread count) taken from the analysed problem's settings."""
    return lambda wildcards: getattr(STUDY.settings(wildcards.problem, wildcards.run), name)


def analysis_inputs(wildcards):
    """The checkpoint of the analysed problem, and what else its objective reads."""
    settings = STUDY.settings(wildcards.problem, wildcards.run)
    path = settings.checkpoint(wildcards.run, wildcards.ckpt)
    return {"checkpoint": path, **settings.inputs}


def landscape_inputs(wildcards):
    """The analysis inputs and the checkpoint's Hessian directions."""
    directions = f"{ANALYSIS_DIR}/hessian.nc".format(**wildcards)
    return {**analysis_inputs(wildcards), "directions": directions}


def sampling(wildcards):
    """How the requested landscape dimension of the analysed problem is sampled: a grid's
    ``--resolution`` or scattered ``--sampling``/``--n-points``/``--seed``."""
    options = STUDY.settings(wildcards.problem, wildcards.run).sampling
    if int(wildcards.dims) not in options:
        raise ValueError(f"no {wildcards.dims}-D landscape is configured for {wildcards.problem}")
    return options[int(wildcards.dims)]


def topology_options(wildcards):
    """``losstopo topology`` options: the shared ones, and the k-NN graph of a grid
    (``symmetrize``) or of scattered samples (``topology.scattered``)."""
    names = ["k", "persistence_threshold", "relative", "summary_threshold", "log_threshold"]
    options = cli_options(config["topology"], names)
    if "--sampling" in sampling(wildcards):
        scattered = config["topology"]["scattered"]
        return [*options, "--knn-metric", scattered["metric"], "--symmetrize", scattered["symmetrize"]]
    return [*options, "--symmetrize", config["topology"]["symmetrize"]]


def curvature_options(wildcards):
    """``losstopo curvature`` options of the analysed problem: its HVP budgets (a problem of
    yours takes those of your models) and the shared estimator settings."""
    budget = CURVATURE["budgets"].get(wildcards.problem, CURVATURE["budgets"]["models"])
    options = cli_options(budget, ["trace_max_hvps", "trace_min_probes", "slq_runs", "slq_steps"])
    options += cli_options(CURVATURE, ["rel_se_target", "width", "grid_points", "seed"])
    options += [] if CURVATURE["deflate"] else ["--no-deflate"]
    return options + (["--per-layer"] if CURVATURE["per_layer"] else [])


def curvature_files(files):
    """The ``curvature.nc`` of each checkpoint directory holding one of ``files`` that its
    problem gives a curvature analysis (none when curvature is off)."""
    if not CURVATURE["enabled"]:
        return []
    dirs = dict.fromkeys(os.path.dirname(path) for path in files)
    return [f"{d}/curvature.nc" for d in dirs if STUDY.with_curvature(d)]


def figure_setting(name):
    """A setting of the figure being drawn (rules/figures.smk)."""
    return lambda wildcards: FIGURES[wildcards.figure][name]
