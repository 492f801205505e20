"""``hessian.nc``: eigenpairs of a checkpoint's objective, with provenance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from losstopo.hessian.solvers import EigenResult
from losstopo.io.netcdf import open_checked, write_dataset_atomic
from losstopo.objective import Objective

VARIABLES = ["eigenvalues", "eigenvectors", "residual"]


def hessian_dataset(result: EigenResult, objective: Objective, attrs: dict[str, Any]) -> xr.Dataset:
    """Eigenvalues, eigenvectors (flattened in ``named_parameters()`` order) and residuals."""
    k = len(result.eigenvalues)
    return xr.Dataset(
        {
            "eigenvalues": ("direction", np.asarray(result.eigenvalues, dtype=np.float64)),
            "eigenvectors": (
                ("direction", "parameter"),
                result.eigenvectors.detach().cpu().double().numpy(),
            ),
            "residual": ("direction", np.asarray(result.residuals, dtype=np.float64)),
            "converged": ("direction", np.asarray(result.converged, dtype=np.int8)),
        },
        coords={"direction": np.arange(k)},
        attrs={
            "method": result.method,
            "which": result.which,
            "tolerance": result.tol,
            "n_hvp": result.n_hvp,
            "seconds": result.seconds,
            "top_k": k,
            "all_converged": bool(np.all(result.converged)),
            "parameter_names": json.dumps(objective.parameter_names),
            "parameter_shapes": json.dumps(objective.parameter_shapes),
            "n_parameters": objective.n_parameters,
            "objective": objective.description,
            **{f"solver_{key}": value for key, value in result.extra.items()},
            **attrs,
        },
    )


# hessian.nc needs no more than every netCDF file: an atomic write of its dataset
write_hessian = write_dataset_atomic


def read_hessian(path: str | Path) -> xr.Dataset:
    """Open ``hessian.nc`` with its required variables checked."""
    return open_checked(path, VARIABLES, "hessian")
