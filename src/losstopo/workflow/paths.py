"""How the workflow names runs and files: one definition per format.

A run directory's name carries its hyper-parameters (``beta1_lr0.01_seed0``); numbers are
written as the shortest decimal that reads back exactly, so a config value and a path always
agree. The patterns (``PINN_RUN``, ``UNET_RUN``) are also the rules' wildcard outputs.
"""

from __future__ import annotations

PINN_RUN = "beta{beta}_lr{lr}_seed{seed}"
UNET_RUN = "lr{lr}_seed{seed}"


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
