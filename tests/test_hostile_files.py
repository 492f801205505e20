"""Hostile files: an output path naming a device or a named pipe is refused and left as it is,
an input that is a named pipe is refused before it is read (reading would block forever), and
a CF-packed landscape (``scale_factor``/``add_offset``, as other tools write) is read as
xarray decodes it in every stage."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from losstopo.cli import main
from losstopo.stages import compute_topology


@pytest.fixture(scope="module")
def landscape(tmp_path_factory) -> Path:
    """A small grid landscape file with a single bowl (values as a landscape stores them)."""
    axis = np.linspace(-0.1, 0.1, 9)
    a0, a1 = np.meshgrid(axis, axis, indexing="ij")
    loss = 1e-4 + 50.0 * a0**2 + 3.0 * a1**2 + 0.01 * np.sin(40 * a0) ** 2
    data = xr.Dataset(
        {"loss": (("a0", "a1"), loss)},
        coords={"a0": axis, "a1": axis},
        attrs={"dims": 2, "resolution": 9, "distance": 0.1, "center_loss": 1e-4},
    )
    path = tmp_path_factory.mktemp("hostile") / "landscape.nc"
    data.to_netcdf(path, engine="netcdf4")
    return path


def _one_error_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.strip().splitlines() if line]
    assert len(err) == 1 and err[0].startswith("losstopo: error:"), err
    return err[0]


def test_an_output_that_is_a_named_pipe_is_refused_and_kept(landscape, tmp_path, capsys):
    fifo = tmp_path / "out.nc"
    os.mkfifo(fifo)
    assert main(["topology", str(landscape), "--out", str(fifo)]) == 2
    assert "is a named pipe (FIFO); give a regular file name" in _one_error_line(capsys)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a device node needs root")
def test_an_output_that_is_a_device_is_refused_and_kept(landscape, tmp_path, capsys):
    device = tmp_path / "null"
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a copy of /dev/null
    assert main(["topology", str(landscape), "--out", str(device)]) == 2
    assert "is a device; give a regular file name" in _one_error_line(capsys)
    assert stat.S_ISCHR(os.stat(device).st_mode)


def test_an_output_through_a_symlink_to_a_regular_file_is_written(landscape, tmp_path):
    target = tmp_path / "real.nc"
    target.write_text("old")
    link = tmp_path / "link.nc"
    link.symlink_to(target)
    assert main(["topology", str(landscape), "--out", str(link)]) == 0
    assert xr.open_dataset(link).attrs["n_vertices"] == 81


@pytest.mark.parametrize(
    "argv",
    [
        ["topology", "{fifo}", "--out", "{out}"],
        ["hessian", "{fifo}", "--top-k", "1", "--out", "{out}"],
        ["pinn-table", "{fifo}", "--out", "{out}"],
    ],
)
def test_an_input_that_is_a_named_pipe_is_refused_before_reading(tmp_path, argv):
    fifo = tmp_path / "input"
    os.mkfifo(fifo)
    argv = [part.format(fifo=fifo, out=tmp_path / "out") for part in argv]
    # a child process: if the pipe were opened, the read would block and the timeout fire
    done = subprocess.run(
        [sys.executable, "-m", "losstopo", *argv], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("losstopo: error:")]
    assert len(errors) == 1 and "is a named pipe (FIFO), not a regular file" in errors[0]
    assert not (tmp_path / "out").exists()


def test_a_cf_packed_landscape_is_read_as_xarray_decodes_it(landscape, tmp_path):
    packed = tmp_path / "packed.nc"
    data = xr.open_dataset(landscape).load()
    loss = data["loss"].values
    scale = (loss.max() - loss.min()) / 60000.0
    encoding = {
        "loss": {
            "dtype": "int32",
            "scale_factor": scale,
            "add_offset": loss.min(),
            "_FillValue": -1,
        }
    }
    data["loss"].values[0, 0] = np.nan  # stored as the fill value, read back as NaN
    data.to_netcdf(packed, engine="netcdf4", encoding=encoding)
    decoded = xr.open_dataset(packed)["loss"].values
    assert np.isnan(decoded[0, 0]) and np.nanmax(np.abs(decoded - loss)) <= scale
    attrs = compute_topology(packed).dataset.attrs
    reference = compute_topology(landscape).dataset.attrs
    # the centre vertex as xarray decodes it, not the stored integer
    assert attrs["center_loss"] == pytest.approx(float(decoded[4, 4]), abs=1e-12)
    assert attrs["center_loss"] == pytest.approx(reference["center_loss"], abs=scale)
    assert attrs["n_minima_raw"] == reference["n_minima_raw"]
