"""netCDF I/O shared by the stages: atomic writes and checked reads.

Most stages read and write through xarray. The topology stage, a study's most frequent and
shortest job, reads and writes plain arrays through netCDF4 instead (:class:`NetcdfContents`):
importing xarray and pandas would cost it more than its own work. Both paths write the same
files: xarray reads a :class:`NetcdfContents` file back as the dataset ``to_xarray`` gives.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from losstopo.errors import LosstopoError
from losstopo.io.atomic import check_input_file, write_atomic

if TYPE_CHECKING:
    import xarray as xr


def attr_value(value: Any) -> Any:
    """A netCDF-storable attribute: numbers and strings as they are, the rest as JSON."""
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, int | float | str | np.integer | np.floating):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "if":
        return value
    return json.dumps(value)


@dataclass
class NetcdfContents:
    """A netCDF file as plain arrays: ``variables`` maps a name to its dimension names, values
    and attributes; a variable named like its only dimension is that dimension's coordinate."""

    variables: dict[str, tuple[tuple[str, ...], np.ndarray, dict[str, Any]]]
    attrs: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.variables[name][1]

    def __contains__(self, name: object) -> bool:
        return name in self.variables

    def dims(self, name: str) -> tuple[str, ...]:
        return self.variables[name][0]

    def to_xarray(self) -> xr.Dataset:
        import xarray as xr

        coords = {
            name: (dims, values, attrs)
            for name, (dims, values, attrs) in self.variables.items()
            if dims == (name,)
        }
        data = {
            name: (dims, values, attrs)
            for name, (dims, values, attrs) in self.variables.items()
            if name not in coords
        }
        return xr.Dataset(data, coords=coords, attrs=dict(self.attrs))


def write_dataset_atomic(dataset: xr.Dataset | NetcdfContents, path: str | Path) -> None:
    """Write ``dataset`` with the netCDF4 engine to a temporary file, then rename it."""
    if isinstance(dataset, NetcdfContents):
        write_atomic(path, lambda tmp: _write_contents(dataset, tmp))
        return
    dataset = dataset.copy()
    dataset.attrs = {key: attr_value(value) for key, value in dataset.attrs.items()}
    write_atomic(path, lambda tmp: dataset.to_netcdf(tmp, engine="netcdf4"))


def _write_contents(contents: NetcdfContents, path: Path) -> None:
    import netCDF4

    with netCDF4.Dataset(path, "w", format="NETCDF4") as handle:
        for dims, values, _ in contents.variables.values():
            for dim, size in zip(dims, np.shape(values), strict=True):
                if dim not in handle.dimensions:
                    handle.createDimension(dim, size)
                elif len(handle.dimensions[dim]) != size:
                    raise LosstopoError(
                        f"dimension {dim} has sizes {size} and {len(handle.dimensions[dim])}"
                    )
        for name, (dims, values, attrs) in contents.variables.items():
            values = np.asarray(values)
            # float variables carry NaN as their fill value, as xarray writes them
            fill = np.nan if values.dtype.kind == "f" else None
            variable = handle.createVariable(name, values.dtype, dims, fill_value=fill)
            variable[...] = values
            variable.setncatts({key: attr_value(value) for key, value in attrs.items()})
        handle.setncatts({key: attr_value(value) for key, value in contents.attrs.items()})


def _check_file(path: Path, kind: str) -> None:
    check_input_file(path, f"{kind} file")


def _check_variables(path: Path, present: Any, variables: list[str], kind: str) -> None:
    missing = [name for name in variables if name not in present]
    if missing:
        raise LosstopoError(f"{kind} file {path} lacks variable(s) {', '.join(missing)}")


def open_checked(path: str | Path, variables: list[str], kind: str) -> xr.Dataset:
    """Load a netCDF file into memory, failing clearly if it or a variable is missing."""
    import xarray as xr

    path = Path(path)
    _check_file(path, kind)
    try:
        with xr.open_dataset(path, engine="netcdf4") as handle:
            dataset = handle.load()
    except (OSError, ValueError) as exc:
        raise LosstopoError(f"{path} is not a readable netCDF {kind} file: {exc}") from None
    _check_variables(path, dataset.variables, variables, kind)
    return dataset


def cf_decode(values: np.ndarray, attrs: dict[str, Any]) -> np.ndarray:
    """A variable's stored values as CF conventions mean them, as xarray reads them: values
    equal to ``_FillValue`` or ``missing_value`` become NaN (float results only), and packed
    values are unpacked (``value * scale_factor + add_offset``, in float64). The packing and
    fill attributes are removed from ``attrs``, since the values no longer carry them."""
    scale = attrs.pop("scale_factor", None)
    offset = attrs.pop("add_offset", None)
    missing = [attrs.pop(key) for key in ("_FillValue", "missing_value") if key in attrs]
    packed = scale is not None or offset is not None
    if not packed and values.dtype.kind != "f":
        return values  # integer variables of our own files: no fill value, stored as is
    out = values.astype(np.float64) if packed else values.copy()
    for fill in missing:
        fill = np.asarray(fill, dtype=values.dtype)
        if values.dtype.kind == "f" and np.isnan(fill).any():
            continue  # NaN marks missing values already
        out[np.isin(values, fill)] = np.nan
    if packed:
        out = out * (1.0 if scale is None else float(np.asarray(scale).ravel()[0]))
        out = out + (0.0 if offset is None else float(np.asarray(offset).ravel()[0]))
    return out


def read_contents(
    path: str | Path, variables: list[str], kind: str, optional: list[str] | None = None
) -> NetcdfContents:
    """``open_checked`` without xarray: the named variables (and those of ``optional`` that
    the file has), the coordinates of their dimensions and the file's attributes, as plain
    arrays decoded as xarray decodes them (``cf_decode``)."""
    import netCDF4

    path = Path(path)
    _check_file(path, kind)
    try:
        with netCDF4.Dataset(path, "r") as handle:
            handle.set_auto_maskandscale(False)
            _check_variables(path, handle.variables, variables, kind)
            names = list(variables)
            names += [name for name in optional or [] if name in handle.variables]
            for name in list(names):
                names += [d for d in handle.variables[name].dimensions if d in handle.variables]
            contents = {}
            for name in dict.fromkeys(names):
                variable = handle.variables[name]
                attrs = {key: variable.getncattr(key) for key in variable.ncattrs()}
                values = cf_decode(np.asarray(variable[...]), attrs)
                contents[name] = (tuple(variable.dimensions), values, attrs)
            attrs = {key: handle.getncattr(key) for key in handle.ncattrs()}
    except (OSError, ValueError) as exc:
        raise LosstopoError(f"{path} is not a readable netCDF {kind} file: {exc}") from None
    return NetcdfContents(contents, attrs)
