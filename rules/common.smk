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
    analysis = config["pinn"]["analysis"]
    return [
        f"results/pinn/beta{fmt_number(cell['beta'])}_lr{fmt_number(cell['lr'])}"
        f"_seed{seed}/{name}"
        for cell in analysis["cells"]
        for seed in analysis["seeds"]
    ]


def landscape_resolution(dims):
    """Points per axis of the configured ``dims``-D landscape."""
    return LANDSCAPE_GRIDS[int(dims)]


def pinn_landscape_files():
    """Every configured landscape of every analysed PINN run."""
    return [
        path
        for dims in LANDSCAPE_GRIDS
        for path in pinn_analysis_files(f"landscape_{dims}d.nc")
    ]


def pinn_topology_files():
    """The merge tree of every configured landscape of every analysed PINN run."""
    return [path.replace("landscape_", "topology_") for path in pinn_landscape_files()]


def analysis_run_dirs():
    """Run directories of the analysed PINN runs, rows = cells, columns = seeds."""
    return [os.path.dirname(path) for path in pinn_analysis_files("metrics.json")]


def profile_panel_files(dims_list):
    """Topology, landscape and metrics files behind a profile grid."""
    return [
        f"{run}/{name}"
        for run in analysis_run_dirs()
        for dims in dims_list
        for name in (f"topology_{dims}d.nc", f"landscape_{dims}d.nc", "metrics.json")
    ]


def profile_panels(dims_list):
    """``RUN_DIR:DIMS`` arguments of ``losstopo figure profiles`` in row-major order."""
    return " ".join(f"{run}:{dims}" for run in analysis_run_dirs() for dims in dims_list)


def job_device(resources):
    """``cuda`` for jobs that were given a GPU (``gpu`` resource), else the configured device."""
    return "cuda" if int(resources.get("gpu", 0) or 0) > 0 else config["device"]


def package_sources(*modules):
    """Package files a cheap rule depends on, so an edit to them re-runs the rule."""
    return [os.path.join(SRC, "losstopo", module) for module in modules]
