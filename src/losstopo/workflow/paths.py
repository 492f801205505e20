"""How the workflow names runs and files: one definition per format.

A run directory's name carries its hyper-parameters (``beta1_lr0.01_seed0``); numbers are
written as the shortest decimal that reads back exactly, so a config value and a path always
agree. The patterns (``PINN_RUN``, ``UNET_RUN``) are also the rules' wildcard outputs.
"""

from __future__ import annotations

PINN_RUN = "beta{beta}_lr{lr}_seed{seed}"
UNET_RUN = "lr{lr}_seed{seed}"
# a training run's directory; the PINN's and the UNet's as rule outputs
RUN_DIR = "results/{problem}/{run}"
PINN_RUN_DIR = RUN_DIR.format(problem="pinn", run=PINN_RUN)
UNET_RUN_DIR = RUN_DIR.format(problem="unet", run=UNET_RUN)
# a UNet checkpoint of one epoch, in its run directory
UNET_CHECKPOINT = "checkpoints/{ckpt}.pt"
# one directory per analysed checkpoint, and the files of its analysis
ANALYSIS_DIR = RUN_DIR + "/{ckpt}"
LANDSCAPE_FILE = "landscape_{dims}d_d{distance}.nc"
TILE_FILE = "tiles/landscape_{dims}d_d{distance}_tile{tile}.nc"
TOPOLOGY_FILE = "topology_{dims}d_d{distance}_{connectivity}.nc"


def fmt_number(value: float) -> str:
    """Shortest round-trip decimal of ``value`` without a trailing '.0'.

    1 -> "1", 1.0 -> "1", 0.01 -> "0.01", 0.0001 -> "0.0001", 1e-05 -> "1e-05".
    """
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def pinn_run(beta: float, lr: float, seed: int) -> str:
    """Name of a PINN training run's directory under ``results/pinn``."""
    return PINN_RUN.format(beta=fmt_number(beta), lr=fmt_number(lr), seed=seed)


def unet_run(lr: float, seed: int) -> str:
    """Name of a UNet training run's directory under ``results/unet``."""
    return UNET_RUN.format(lr=fmt_number(lr), seed=seed)


def epoch_label(epoch: int) -> str:
    """Zero-padded epoch of checkpoint file and analysis directory names (``epoch_003``)."""
    return f"{int(epoch):03d}"


def epoch_name(epoch: int) -> str:
    """A UNet checkpoint's name: its file's stem and its analysis directory (``epoch_003``)."""
    return f"epoch_{epoch_label(epoch)}"


def run_dir(problem: str, run: str) -> str:
    """A training run's directory."""
    return RUN_DIR.format(problem=problem, run=run)


def analysis_dir(problem: str, run: str, ckpt: str) -> str:
    """Where the analysis of one checkpoint lives: hessian.nc, landscapes, merge trees."""
    return ANALYSIS_DIR.format(problem=problem, run=run, ckpt=ckpt)


def landscape_file(directory: str, dims: int, distance: str) -> str:
    """A checkpoint's ``dims``-D landscape at relative ``distance`` (as written in paths)."""
    return f"{directory}/{LANDSCAPE_FILE.format(dims=dims, distance=distance)}"


def export_dir(topology_path: str) -> str:
    """Where ``losstopo export`` writes a merge tree's landscape and skeleton as VTK files:
    ``vtk/landscape_<dims>d_d<distance>_<connectivity>`` beside the tree."""
    directory, name = topology_path.rsplit("/", 1)
    return f"{directory}/vtk/{name.removesuffix('.nc').replace('topology', 'landscape', 1)}"


def topology_file(directory: str, dims: int, distance: str, connectivity: str) -> str:
    """The merge tree of :func:`landscape_file` on one connectivity."""
    name = TOPOLOGY_FILE.format(dims=dims, distance=distance, connectivity=connectivity)
    return f"{directory}/{name}"
