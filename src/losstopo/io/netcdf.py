"""netCDF I/O shared by the stages: atomic writes and checked reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from losstopo.errors import LosstopoError
from losstopo.io.atomic import write_atomic


def attr_value(value: Any) -> Any:
    """A netCDF-storable attribute: numbers and strings as they are, the rest as JSON."""
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, int | float | str | np.integer | np.floating):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "if":
        return value
    return json.dumps(value)


def write_dataset_atomic(dataset: xr.Dataset, path: str | Path) -> None:
    """Write ``dataset`` with the netCDF4 engine to a temporary file, then rename it."""
    dataset = dataset.copy()
    dataset.attrs = {key: attr_value(value) for key, value in dataset.attrs.items()}
    write_atomic(path, lambda tmp: dataset.to_netcdf(tmp, engine="netcdf4"))


def open_checked(path: str | Path, variables: list[str], kind: str) -> xr.Dataset:
    """Load a netCDF file into memory, failing clearly if it or a variable is missing."""
    path = Path(path)
    if not path.is_file():
        raise LosstopoError(f"{kind} file {path} does not exist")
    try:
        with xr.open_dataset(path, engine="netcdf4") as handle:
            dataset = handle.load()
    except (OSError, ValueError) as exc:
        raise LosstopoError(f"{path} is not a readable netCDF {kind} file: {exc}") from None
    missing = [name for name in variables if name not in dataset.variables]
    if missing:
        raise LosstopoError(f"{kind} file {path} lacks variable(s) {', '.join(missing)}")
    return dataset
