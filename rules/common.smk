# Shared helpers: run naming, package-source inputs, and how rules reach the CLI
# (every rule runs `python -m losstopo ...`).
import os
import sys
from itertools import product

SRC = os.path.join(workflow.basedir, "src")


envvars:
    "PATH",


# Rules run the CLI of the package in this repository with the interpreter that runs the
# workflow (a venv need not be activated); under --sdm conda the environment's python wins.
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")


# (shell.prefix is formatted again like a shell command, hence the quadrupled braces.)
shell.prefix(f'set -euo pipefail; export PYTHONPATH="{SRC}${{{{PYTHONPATH:+:$PYTHONPATH}}}}"; ')


def check_config_numbers(value, schema, key="config"):
    """What JSON-schema validation lets through but the CLI would reject: NaN or inf where a
    number is meant, and a float such as 10.0 where an integer is meant."""
    import math

    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{key}: {value} is not a finite number")
    if isinstance(value, float) and "integer" in types and "number" not in types:
        raise ValueError(f"{key}: {value!r} must be an integer")
    if isinstance(value, dict):
        for name, item in value.items():
            check_config_numbers(item, schema.get("properties", {}).get(name, {}), f"{key}.{name}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_config_numbers(item, schema.get("items", {}), f"{key}[{index}]")


def config_key(path):
    """A config location as written in YAML terms: config.pinn.betas[1]."""
    return "config" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def validate_config(config, schema_path):
    """Schema validation with one line naming the offending key (Snakemake's own message
    prints the whole schema), then Snakemake's validation, which fills in the defaults."""
    import jsonschema
    import yaml
    from snakemake.utils import validate

    with open(schema_path) as handle:
        schema = yaml.safe_load(handle)
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is not None:
        raise ValueError(f"{config_key(error.absolute_path)}: {error.message}")
    check_config_numbers(config, schema, "config")
    validate(config, schema_path)


validate_config(config, os.path.join(workflow.basedir, "config.schema.yaml"))


LANDSCAPE_GRIDS = {grid["dims"]: grid["resolution"] for grid in config["landscape"]["grids"]}
if len(LANDSCAPE_GRIDS) != len(config["landscape"]["grids"]):
    raise ValueError("config landscape.grids: each dimension may appear only once")


for _dims in [config["figures"]["profile_dims"], *config["figures"]["compare_dims"]]:
    if _dims not in LANDSCAPE_GRIDS:
        raise ValueError(
            f"config figures: a {_dims}-D profile needs a {_dims}-D entry in landscape.grids"
        )


def fmt_number(value):
    """Stable, lossless number formatting for paths: shortest round-trip repr, no '.0'.

    1 -> "1", 1.0 -> "1", 0.01 -> "0.01", 0.0001 -> "0.0001", 1e-05 -> "1e-05".
    """
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def pinn_runs():
    """(beta, lr, seed) strings of every configured PINN run."""
    cfg = config["pinn"]
    return [
        (fmt_number(beta), fmt_number(lr), str(seed))
        for beta, lr, seed in product(cfg["betas"], cfg["learning_rates"], cfg["seeds"])
    ]


def pinn_run_files(name):
    """Paths of ``name`` (e.g. metrics.json) in every configured PINN run directory."""
    return [
        f"results/pinn/beta{beta}_lr{lr}_seed{seed}/{name}" for beta, lr, seed in pinn_runs()
    ]


def pinn_analysis_files(name):
    """Paths of ``name`` in every run selected for Hessian and landscape analysis."""
    return [f"{run}/{name}" for run in analysis_run_dirs()]


def analysis_run_dirs():
    """Run directories of the analysed PINN runs, rows = cells, columns = seeds."""
    analysis = config["pinn"]["analysis"]
    return [
        f"results/pinn/beta{fmt_number(cell['beta'])}_lr{fmt_number(cell['lr'])}_seed{seed}"
        for cell in analysis["cells"]
        for seed in analysis["seeds"]
    ]


def landscape_resolution(dims):
    """Points per axis of the configured ``dims``-D landscape."""
    return LANDSCAPE_GRIDS[int(dims)]


DISTANCE = fmt_number(config["landscape"]["distance"])
EXTENT_DIMS = config["landscape"]["extent_dims"]
EXTENT_DISTANCES = [fmt_number(d) for d in config["landscape"]["extent_distances"]]
CONNECTIVITY = config["topology"]["connectivity"]
CONNECTIVITIES = [
    CONNECTIVITY,
    *(c for c in config["topology"]["compare_connectivities"] if c != CONNECTIVITY),
]
if EXTENT_DIMS not in LANDSCAPE_GRIDS:
    raise ValueError(
        f"config landscape.extent_dims: the {EXTENT_DIMS}-D extent study needs a "
        f"{EXTENT_DIMS}-D entry in landscape.grids"
    )


def landscape_file(run, dims, distance=DISTANCE):
    """A PINN run's ``dims``-D landscape at relative ``distance``."""
    return f"{run}/landscape_{dims}d_d{distance}.nc"


def topology_file(run, dims, distance=DISTANCE, connectivity=CONNECTIVITY):
    """The merge tree of :func:`landscape_file` with one connectivity."""
    return f"{run}/topology_{dims}d_d{distance}_{connectivity}.nc"


def pinn_topology_files():
    """Merge trees of every configured landscape of every analysed run, every connectivity."""
    return [
        topology_file(run, dims, DISTANCE, connectivity)
        for dims in LANDSCAPE_GRIDS
        for connectivity in CONNECTIVITIES
        for run in analysis_run_dirs()
    ]


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


def profile_landscape_files(topology_files):
    """The landscapes behind topology files (inputs of the profile figures)."""
    return [
        os.path.join(
            os.path.dirname(path),
            os.path.basename(path).replace("topology", "landscape", 1).rsplit("_", 1)[0] + ".nc",
        )
        for path in topology_files
    ]


def extent_profile_files():
    """Extent figure panels: rows = analysed cells (first seed), columns = distances."""
    seed = config["pinn"]["analysis"]["seeds"][0]
    runs = [
        f"results/pinn/beta{fmt_number(cell['beta'])}_lr{fmt_number(cell['lr'])}_seed{seed}"
        for cell in config["pinn"]["analysis"]["cells"]
    ]
    return [topology_file(run, EXTENT_DIMS, d) for run in runs for d in EXTENT_DISTANCES]


def job_device(resources):
    """``cuda`` for jobs that were given a GPU (``gpu`` resource), else the configured device."""
    return "cuda" if int(resources.get("gpu", 0) or 0) > 0 else config["device"]


def package_sources(*modules):
    """Package files a cheap rule depends on, so an edit to them re-runs the rule."""
    return [os.path.join(SRC, "losstopo", module) for module in modules]


# Segmentation study (rules/unet.smk).
UNET = config["unet"]
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


def epoch_label(epoch):
    """Zero-padded epoch of checkpoint file and analysis directory names."""
    return f"{int(epoch):03d}"


def unet_analysis_epochs():
    """Epochs whose checkpoints are analysed."""
    epochs = UNET["analysis"]["epochs"]
    return list(range(UNET["epochs"] + 1)) if epochs == "all" else sorted(epochs)


def unet_run_dir(lr, seed):
    return f"results/unet/lr{fmt_number(lr)}_seed{seed}"


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


def unet_analysis_files(name):
    """``name`` in the analysis directory of every analysed checkpoint."""
    dirs = unet_checkpoint_dirs(
        UNET["learning_rates"], UNET["analysis"]["seeds"], unet_analysis_epochs()
    )
    return [f"{d}/{name}" for d in dirs]


def unet_panels(dirs):
    """Files and ``DIR:2`` arguments of a profile grid over checkpoint directories."""
    files = [f"{d}/{name}" for d in dirs for name in ("topology_2d.nc", "landscape_2d.nc")]
    return files, " ".join(f"{d}:2" for d in dirs)


def _check_unet_config():
    """Figure choices must name analysed runs and checkpoints (checked before any job)."""
    analysed = set(unet_analysis_epochs())
    if any(epoch > UNET["epochs"] for epoch in analysed):
        raise ValueError(f"config unet.analysis.epochs: epochs go up to {UNET['epochs']}")
    if not set(UNET["analysis"]["seeds"]) <= set(UNET["seeds"]):
        raise ValueError("config unet.analysis.seeds must be a subset of unet.seeds")
    figures = UNET["figures"]
    if figures["profile_lr"] not in UNET["learning_rates"]:
        raise ValueError("config unet.figures.profile_lr must be one of unet.learning_rates")
    if not set(figures["profile_seeds"]) <= set(UNET["analysis"]["seeds"]):
        raise ValueError("config unet.figures.profile_seeds must be analysed seeds")
    if not set(figures["profile_epochs"]) <= analysed:
        raise ValueError("config unet.figures.profile_epochs must be analysed epochs")
    if not set(figures["compare_epochs"]) <= analysed:
        raise ValueError("config unet.figures.compare_epochs must be analysed epochs")
    if figures["compare_seed"] not in UNET["analysis"]["seeds"]:
        raise ValueError("config unet.figures.compare_seed must be an analysed seed")
    if UNET["landscape"]["resolution"] % 2 == 0:
        raise ValueError("config unet.landscape.resolution must be odd")
    # what train-unet would reject at job time, rejected before any job
    if UNET["crf_taps"] % 2 == 0:
        raise ValueError(f"config unet.crf_taps must be odd, got {UNET['crf_taps']}")
    if UNET["image_size"] < 2 ** (UNET["depth"] - 1):
        raise ValueError(
            f"config unet.image_size {UNET['image_size']} is too small for unet.depth "
            f"{UNET['depth']} (needs >= {2 ** (UNET['depth'] - 1)})"
        )
    if not 0 < UNET["gamma"] <= 1:
        raise ValueError(f"config unet.gamma must be in (0, 1], got {UNET['gamma']}")


_check_unet_config()
if UNET["enabled"] and not UNET_SYNTHETIC and not os.path.isfile(UNET_DATA_INPUT):
    raise ValueError(
        f"config unet.data_dir: {UNET_DATA} has no annotations/trainval.txt. Download "
        "images.tar.gz and annotations.tar.gz from https://www.robots.ox.ac.uk/~vgg/data/pets/ "
        "and extract both there, or set unet.dataset: synthetic"
    )


def unet_targets():
    """Everything the segmentation study adds to `all` (nothing when it is disabled)."""
    if not UNET["enabled"]:
        return []
    return [
        rules.unet_accuracy.output,
        rules.fig4_accuracy_heatmap.output,
        rules.fig4_profiles.output,
        rules.figB6_profiles_by_lr.output,
        rules.unet_topology_summary.output,
        rules.fig_unet_topology_vs_accuracy.output,
        *unet_analysis_files("topology_2d.nc"),
    ]
