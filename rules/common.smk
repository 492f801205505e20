# Shared helpers: run naming, package-source inputs, and how rules reach the CLI
# (every rule runs `python -m losstopo ...`).
import os
import re
import shlex
import sys
from itertools import product

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


# the checkout's own package: config checks, run names, plan checks
sys.path.insert(0, SRC)
from snakemake.utils import validate

from losstopo.workflow import figure_specs, paths
from losstopo.workflow.paths import ANALYSIS_DIR, LANDSCAPE_FILE, TILE_FILE, TOPOLOGY_FILE
from losstopo.workflow.paths import analysis_dir
from losstopo.workflow.analysis_settings import model_settings, pinn_settings, unet_settings
from losstopo.workflow.analysis_settings import unet_analysed_epochs
from losstopo.workflow.figure_specs import cli_options
from losstopo.workflow.config_file import check_schema

_SCHEMA = os.path.join(workflow.basedir, "config.schema.yaml")
# one line naming the offending key (Snakemake's own message prints the whole schema); then
# Snakemake's validation fills in the defaults
check_schema(config, _SCHEMA)
validate(config, _SCHEMA)
from losstopo.workflow.paths import PINN_RUN, UNET_RUN, epoch_label, fmt_number, pinn_run, unet_run
from losstopo.workflow.plan_checks import check_plan
from losstopo.workflow.sampling import sampling_options, tiled_dims, untiled_dims

check_plan(config)


LANDSCAPE_GRIDS = {grid["dims"]: grid["resolution"] for grid in config["landscape"]["grids"]}
# scattered landscapes by dimension: their merge trees are on the k-NN graph of the samples
LANDSCAPE_SCATTERED = {entry["dims"]: entry for entry in config["landscape"]["scattered"]}
# tiles split grids along their first axis; a scattered landscape is always one job
UNTILED_DIMS = untiled_dims(config["landscape"])
TILED_DIMS = tiled_dims(config)
# what `losstopo landscape` is told per dimension: a grid's resolution, or the samples
PINN_SAMPLING = sampling_options(config["landscape"])


def pinn_run_files(name):
    """Paths of ``name`` (e.g. metrics.json) in every configured PINN run directory."""
    cfg = config["pinn"]
    return [
        f"results/pinn/{pinn_run(beta, lr, seed)}/{name}"
        for beta, lr, seed in product(cfg["betas"], cfg["learning_rates"], cfg["seeds"])
    ]


def analysis_run_dirs():
    """Analysis directories of the analysed PINN runs (their checkpoint ``model``), rows =
    cells, columns = seeds."""
    analysis = config["pinn"]["analysis"]
    return [
        analysis_dir(
            "pinn", pinn_run(cell["beta"], cell["lr"], seed), "model"
        )
        for cell in analysis["cells"]
        for seed in analysis["seeds"]
    ]


DISTANCE = fmt_number(config["landscape"]["distance"])
EXTENT_DIMS = config["landscape"]["extent_dims"]
EXTENT_DISTANCES = [fmt_number(d) for d in config["landscape"]["extent_distances"]]
CONNECTIVITY = config["topology"]["connectivity"]
CONNECTIVITIES = [
    CONNECTIVITY,
    *(c for c in config["topology"]["compare_connectivities"] if c != CONNECTIVITY),
]


def topology_file(directory, dims, distance=DISTANCE, connectivity=CONNECTIVITY):
    """The merge tree of a checkpoint's landscape with one connectivity (k-NN for a
    scattered landscape, which has no grid)."""
    if dims in LANDSCAPE_SCATTERED:
        connectivity = "knn"
    return paths.topology_file(directory, dims, distance, connectivity)


def pinn_topology_files():
    """Merge trees of every configured landscape of every analysed run, every connectivity
    (a scattered landscape's one k-NN tree)."""
    files = [
        topology_file(run, dims, DISTANCE, connectivity)
        for dims in PINN_SAMPLING
        for connectivity in CONNECTIVITIES
        for run in analysis_run_dirs()
    ]
    return list(dict.fromkeys(files))


def extent_topology_files():
    """The extent study: merge trees at every distance of every analysed run."""
    return [
        topology_file(run, EXTENT_DIMS, distance, connectivity)
        for distance in EXTENT_DISTANCES
        for connectivity in CONNECTIVITIES
        for run in analysis_run_dirs()
    ]


def cell_label(cell):
    """Row label of an analysed cell: its regime (when named), beta and lr."""
    text = f"β={cell['beta']:g}, lr={cell['lr']:g}"
    return f"{cell['label']}: {text}" if cell.get("label") else text


def regime_arguments():
    """``BETA:LR:LABEL`` of every analysed cell that names its regime."""
    return [
        f"{cell['beta']:g}:{cell['lr']:g}:{cell['label']}"
        for cell in config["pinn"]["analysis"]["cells"]
        if cell.get("label")
    ]


def profile_topology_files(dims_list, by_dimension_rows=False):
    """Topology files of a profile grid: rows = cells and columns = seeds, or (with
    ``by_dimension_rows``) rows = dimensions and columns = every analysed run."""
    if by_dimension_rows:
        return [topology_file(run, dims) for dims in dims_list for run in analysis_run_dirs()]
    return [topology_file(run, dims) for run in analysis_run_dirs() for dims in dims_list]


NEAR_DISTANCE = (
    fmt_number(config["figures"]["near_distance"])
    if config["figures"]["near_distance"] is not None
    else None
)


def near_profile_files():
    """The second Fig. 3 grid: rows = cells, columns = seeds, at the near extent."""
    return [topology_file(run, EXTENT_DIMS, NEAR_DISTANCE) for run in analysis_run_dirs()]


def extent_profile_files():
    """Extent figure panels: rows = analysed cells (first seed), columns = distances."""
    seed = config["pinn"]["analysis"]["seeds"][0]
    runs = [
        analysis_dir(
            "pinn", pinn_run(cell["beta"], cell["lr"], seed), "model"
        )
        for cell in config["pinn"]["analysis"]["cells"]
    ]
    return [topology_file(run, EXTENT_DIMS, d) for run in runs for d in EXTENT_DISTANCES]


def table_figure(kind, table, sources, category, subcategory, label, options=()):
    """A figure drawn from one table by ``losstopo figure <kind>`` (rules/figures.smk)."""
    code = package_sources(*sources, "plots/common.py")
    return figure_specs.table_figure(kind, table, code, (category, subcategory, label), options)


def profile_figure(topology, columns, rows, columns_text, category, subcategory, label, title=""):
    """A grid of profiles from merge trees, drawn as config ``figures`` says."""
    place = (category, subcategory, label)
    drawing = config["figures"]
    return figure_specs.profile_figure(
        topology, columns, rows, columns_text, drawing, PROFILE_SOURCES, place, title
    )


def density_figure(groups, category, subcategory, label, title):
    """Spectral densities of ``curvature.nc`` files (panel label → (curve, directory) pairs)."""
    code = package_sources("plots/curvature.py", "io/curvature_file.py", "plots/common.py")
    return figure_specs.density_figure(groups, code, (category, subcategory, label), title)


def figure_setting(name):
    """A setting of the figure being drawn (rules/figures.smk)."""
    return lambda wildcards: FIGURES[wildcards.figure][name]


def job_device(resources):
    """``cuda`` for jobs that were given a GPU (``gpu`` resource), else the configured device."""
    return "cuda" if int(resources.get("gpu", 0) or 0) > 0 else config["device"]


def package_sources(*modules):
    """Package files a cheap rule depends on, so an edit to them re-runs the rule."""
    return [os.path.join(SRC, "losstopo", module) for module in modules]


# Segmentation study (rules/unet.smk).
UNET = config["unet"]
# the config keys of ``unet`` that ``losstopo train-unet`` takes as options of the same name
UNET_TRAINING_OPTIONS = [
    "epochs",
    "batch_size",
    "image_size",
    "width",
    "depth",
    "crf_iterations",
    "crf_taps",
    "crf_bilateral",
    "weight_decay",
    "step_size",
    "gamma",
    "limit_trainval",
    "limit_test",
    "dtype",
]
UNET_DATA = UNET["data_dir"].rstrip("/")
UNET_SYNTHETIC = UNET["dataset"] == "synthetic"
# What the training and analysis jobs read: the generator's marker file for the synthetic
# data (so the data is made first), the real split file otherwise (a missing dataset is then
# reported by Snakemake before any job runs).
UNET_DATA_INPUT = (
    f"{UNET_DATA}/SYNTHETIC.json"
    if UNET_SYNTHETIC
    else f"{UNET_DATA}/annotations/trainval.txt"
)


def unet_data_dir(data_input):
    """The dataset directory, from the path of the data file a job reads."""
    directory = os.path.dirname(data_input)
    return directory if UNET_SYNTHETIC else os.path.dirname(directory)


def unet_analysis_epochs():
    """Epochs whose checkpoints are analysed."""
    return unet_analysed_epochs(UNET)


def unet_run_dir(lr, seed):
    return f"results/unet/{unet_run(lr, seed)}"


def unet_runs():
    """Run directories of every (learning rate, seed) training run."""
    return [unet_run_dir(lr, seed) for lr in UNET["learning_rates"] for seed in UNET["seeds"]]


def unet_checkpoint_dirs(learning_rates, seeds, epochs):
    """Analysis directories (one per checkpoint) in row-major (lr, seed, epoch) order."""
    return [
        f"{unet_run_dir(lr, seed)}/epoch_{epoch_label(epoch)}"
        for lr in learning_rates
        for seed in seeds
        for epoch in epochs
    ]


UNET_DISTANCE = fmt_number(UNET["landscape"]["distance"])


# the checkpoints of the Fig. 4 profiles (rows = seeds, columns = epochs)
FIG4_DIRS = [
    f"{unet_run_dir(UNET['figures']['profile_lr'], seed)}/epoch_{epoch_label(epoch)}"
    for seed in UNET["figures"]["profile_seeds"]
    for epoch in UNET["figures"]["profile_epochs"]
]


def unet_topology_files(dirs=None):
    """The 2-D merge trees of UNet checkpoint directories (default: every analysed one)."""
    if dirs is None:
        dirs = unet_checkpoint_dirs(
            UNET["learning_rates"], UNET["analysis"]["seeds"], unet_analysis_epochs()
        )
    return [topology_file(d, 2, UNET_DISTANCE, CONNECTIVITY) for d in dirs]


if UNET["enabled"] and not UNET_SYNTHETIC and not os.path.isfile(UNET_DATA_INPUT):
    raise ValueError(
        f"config unet.data_dir: {UNET_DATA} has no annotations/trainval.txt. Download "
        "images.tar.gz and annotations.tar.gz from https://www.robots.ox.ac.uk/~vgg/data/pets/ "
        "and extract both there, or set unet.dataset: synthetic"
    )


def pinn_targets():
    """Everything the PINN study adds to `all` (nothing when it is disabled)."""
    if not config["pinn"]["enabled"]:
        return []
    return [
        rules.pinn_errors.output,
        "results/figures/fig3_error_heatmap.png",
        "results/tables/topology_summary.csv",
        "results/figures/fig3_profiles.png",
        "results/figures/figA5_profiles_by_dimension.png",
        "results/figures/topology_vs_error.png",
        "results/figures/null_calibration.png",
        *(["results/figures/fig3_profiles_near.png"] if NEAR_DISTANCE else []),
        "results/tables/claims.csv",
        "results/figures/claims.png",
        "results/tables/extent_study.csv",
        "results/figures/extent_profiles.png",
        "results/figures/extent_study.png",
        *(
            ["results/figures/pinn_spectral_density.png", "results/figures/curvature_vs_error.png"]
            if CURVATURE["enabled"]
            else []
        ),
    ]


def unet_targets():
    """Everything the segmentation study adds to `all` (nothing when it is disabled)."""
    if not UNET["enabled"]:
        return []
    return [
        rules.unet_accuracy.output,
        "results/figures/fig4_accuracy_heatmap.png",
        "results/figures/fig4_profiles.png",
        "results/figures/figB6_profiles_by_lr.png",
        "results/tables/unet_topology_summary.csv",
        "results/figures/unet_topology_vs_accuracy.png",
        *unet_topology_files(),
        *(
            [
                "results/figures/unet_spectral_density.png",
                "results/figures/unet_curvature_vs_accuracy.png",
            ]
            if CURVATURE["enabled"]
            else []
        ),
    ]


# Your own models (config `models`): checkpoint files by model name and file stem.
from losstopo.workflow.models import model_checkpoints


MODELS = {
    entry["name"]: {**entry, "files": model_checkpoints(index, entry)}
    for index, entry in enumerate(config["models"])
}


# Problems registered by modules of the user's (the jobs import them).
os.environ.update(LOSSTOPO_PROBLEMS=os.pathsep.join(config["problem_modules"]))


def model_dirs(name):
    """Analysis directories of every checkpoint of one of your models."""
    return [analysis_dir("models", name, stem) for stem in MODELS[name]["files"]]


def model_topology_files(name, dims=None):
    """Merge trees of one of your models' checkpoints (every configured dimension)."""
    entry = MODELS[name]
    distance = fmt_number(entry["distance"])
    return [
        topology_file(d, n, distance, CONNECTIVITY)
        for n in ([dims] if dims else entry["dims"])
        for d in model_dirs(name)
    ]


# Per-problem choices of the generic analysis rules (rules/analysis.smk), by the {problem}
# path segment (losstopo.workflow.analysis_settings); your models' by their run name.
ANALYSIS = {"pinn": pinn_settings(config), "unet": unet_settings(config, UNET_DATA_INPUT)}


def problem_settings(wildcards):
    """The analysis settings of the analysed problem (of the model, for your own models)."""
    if wildcards.problem == "models":
        return model_settings(MODELS[wildcards.run], config["problem_modules"])
    return ANALYSIS[wildcards.problem]


def setting(name):
    """A rule parameter (or thread count) taken from the analysed problem's settings."""
    return lambda wildcards: getattr(problem_settings(wildcards), name)


def analysis_inputs(wildcards):
    """The checkpoint of the analysed problem, and what else its objective reads."""
    settings = problem_settings(wildcards)
    path = settings.checkpoint(wildcards.run, wildcards.ckpt)
    return {"checkpoint": path, **settings.inputs}


def landscape_inputs(wildcards):
    """The analysis inputs and the checkpoint's Hessian directions."""
    directions = f"{ANALYSIS_DIR}/hessian.nc".format(**wildcards)
    return {**analysis_inputs(wildcards), "directions": directions}


def sampling(wildcards):
    """How the requested landscape dimension of the analysed problem is sampled: a grid's
    ``--resolution`` or scattered ``--sampling``/``--n-points``/``--seed``."""
    options = problem_settings(wildcards).sampling
    if int(wildcards.dims) not in options:
        raise ValueError(f"no {wildcards.dims}-D landscape is configured for {wildcards.problem}")
    return options[int(wildcards.dims)]


def topology_options(wildcards):
    """``losstopo topology`` options: the shared ones, and the k-NN graph of a grid
    (``symmetrize``) or of scattered samples (``topology.scattered``)."""
    options = cli_options(config["topology"], TOPOLOGY_OPTIONS)
    if "--sampling" in sampling(wildcards):
        scattered = config["topology"]["scattered"]
        return [*options, "--knn-metric", scattered["metric"], "--symmetrize", scattered["symmetrize"]]
    return [*options, "--symmetrize", config["topology"]["symmetrize"]]


CURVATURE = config["curvature"]


def curvature_options(wildcards):
    """``losstopo curvature`` options of the analysed problem: its HVP budgets and the
    shared estimator settings."""
    budget = CURVATURE["budgets"][wildcards.problem]
    options = cli_options(
        {**budget, "trace_max_hvp": budget["trace_max_hvps"], "rel_se": CURVATURE["rel_se_target"]},
        ["trace_max_hvp", "trace_min_probes", "slq_runs", "slq_steps", "rel_se"],
    )
    options += cli_options(CURVATURE, ["width", "grid_points", "seed"])
    return options + ([] if CURVATURE["deflate"] else ["--no-deflate"])


def curvature_files(files):
    """The ``curvature.nc`` of each checkpoint directory holding one of ``files`` (none when
    curvature is off; of the UNet, only the Fig. 4 checkpoints unless
    ``curvature.unet_checkpoints`` is all)."""
    if not CURVATURE["enabled"]:
        return []
    dirs = dict.fromkeys(os.path.dirname(path) for path in files)
    if CURVATURE["unet_checkpoints"] == "figures":
        dirs = [d for d in dirs if not d.startswith("results/unet/") or d in FIG4_DIRS]
    return [f"{directory}/curvature.nc" for directory in dirs]


def stage_gpus(stage):
    """``gpu`` resource of an analysis job: 1 when config gpu_stages lists problem:stage."""
    return lambda wildcards: int(f"{wildcards.problem}:{stage}" in config["gpu_stages"])


def model_targets():
    """Everything your own models add to `all`: a table and a profile figure per model, and
    the topology-vs-metric figure of each model that names a metric."""
    return [
        out
        for name, entry in MODELS.items()
        for out in (
            f"results/tables/models/{name}_topology_summary.csv",
            f"results/figures/models/{name}_profiles.png",
            *([f"results/figures/models/{name}_topology_vs_metric.png"] if entry["metric"] else []),
        )
    ]
