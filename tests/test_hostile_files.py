"""Hostile files: an output path naming a device or a named pipe is refused and left as it is,
an input that is a named pipe is refused before it is read (reading would block forever), and
a CF-packed landscape (``scale_factor``/``add_offset``, as other tools write) is read as
xarray decodes it in every stage."""

from __future__ import annotations

import contextlib
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


def _grid_file(path: Path, loss: np.ndarray, **attrs) -> Path:
    axis = np.linspace(-0.1, 0.1, loss.shape[0])
    data = xr.Dataset(
        {"loss": (("a0", "a1"), loss)},
        coords={"a0": axis, "a1": np.linspace(-0.1, 0.1, loss.shape[1])},
        attrs={"dims": 2, "resolution": loss.shape[1], "distance": 0.1, **attrs},
    )
    data.to_netcdf(path, engine="netcdf4")
    return path


def test_a_mostly_nan_landscape_has_nan_descriptors_and_its_finite_share(tmp_path, caplog):
    loss = np.full((11, 11), np.nan)
    loss[4:7, 4:7] = 1.0 + np.arange(9).reshape(3, 3)  # 9 of 121 finite, around the centre
    path = _grid_file(tmp_path / "nan.nc", loss)
    with caplog.at_level("WARNING", logger="losstopo"):
        attrs = compute_topology(path).dataset.attrs
    assert attrs["n_finite"] == 9 and attrs["finite_fraction"] == pytest.approx(9 / 121)
    assert np.isnan(attrs["basin_fraction"]) and np.isnan(attrs["basin_depth_decades"])
    assert "only 9 of 121 loss values are finite" in caplog.text
    whole = compute_topology(_grid_file(tmp_path / "ok.nc", np.nan_to_num(loss, nan=50.0)))
    assert whole.dataset.attrs["finite_fraction"] == 1.0
    assert whole.dataset.attrs["basin_fraction"] > 0


def test_an_all_nan_landscape_fails_with_one_line(tmp_path, capsys):
    path = _grid_file(tmp_path / "nan.nc", np.full((5, 5), np.nan))
    assert main(["topology", str(path), "--out", str(tmp_path / "t.nc")]) == 2
    assert "has no finite loss value" in _one_error_line(capsys)
    assert not (tmp_path / "t.nc").exists()


def _tile(index: int, rows: range, resolution: int = 9) -> xr.Dataset:
    axis = np.linspace(-0.1, 0.1, resolution)
    loss = np.add.outer(axis[rows] ** 2, axis**2)
    attrs = {"dims": 2, "resolution": resolution, "tile": index, "tiles": 3}
    attrs.update(first_index_start=rows.start, first_index_stop=rows.stop, seconds=1.0)
    attrs.update(created="now", n_points=loss.size, n_nonfinite=0, points_per_second=1.0)
    return xr.Dataset(
        {"loss": (("a0", "a1"), loss)}, coords={"a0": axis[rows], "a1": axis}, attrs=attrs
    )


def test_a_tile_is_never_analysed_as_a_whole_landscape(tmp_path, capsys):
    path = tmp_path / "tile0.nc"
    _tile(0, range(0, 3)).to_netcdf(path, engine="netcdf4")
    assert main(["topology", str(path), "--out", str(tmp_path / "t.nc")]) == 2
    assert "is tile 0 of 3 of a landscape, not a whole landscape" in _one_error_line(capsys)


def test_landscape_merge_checks_that_the_tiles_continue_each_other():
    from losstopo.errors import LosstopoError
    from losstopo.io.landscape_file import merge_tiles

    good = [_tile(0, range(0, 3)), _tile(1, range(3, 6)), _tile(2, range(6, 9))]
    assert merge_tiles(good)["loss"].shape == (9, 9)
    duplicated = [good[0], _tile(1, range(0, 3)), good[2]]  # tile 0's slab relabelled as 1
    with pytest.raises(LosstopoError, match="the tiles do not continue each other"):
        merge_tiles(duplicated)
    relabelled = good[1].assign_coords(a0=good[0]["a0"].values)  # rows right, axis wrong
    with pytest.raises(LosstopoError, match="coordinates do not increase"):
        merge_tiles([good[0], relabelled, good[2]])
    with pytest.raises(LosstopoError, match="not a landscape tile"):
        merge_tiles([good[0], xr.Dataset({"loss": (("a0", "a1"), np.zeros((3, 9)))})])


def test_a_diverged_run_makes_its_heat_map_cell_nan_even_with_a_finite_error():
    import pandas as pd

    from losstopo.io.tables import mean_error_grid

    table = pd.DataFrame(
        {
            "beta": [1.0, 1.0, 5.0, 5.0],
            "lr": [0.1] * 4,
            "relative_l2_error": [0.01, 0.03, 6e30, 0.5],
            "diverged": [False, False, True, False],
        }
    )
    grid = mean_error_grid(table)
    assert grid.loc[0.1, 1.0] == pytest.approx(0.02)
    assert np.isnan(grid.loc[0.1, 5.0])


def test_a_full_disk_is_named_as_such_and_leaves_nothing_behind(tmp_path):
    import errno

    from losstopo.errors import LosstopoError
    from losstopo.io.atomic import write_atomic

    target = tmp_path / "out.nc"
    target.write_text("kept")

    def fill_the_disk(tmp: Path) -> None:
        tmp.write_text("partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(LosstopoError, match=f"no space left on device: {target}"):
        write_atomic(target, fill_the_disk)
    assert target.read_text() == "kept" and sorted(p.name for p in tmp_path.iterdir()) == ["out.nc"]


def test_curvature_refuses_a_nan_direction(tmp_path, small_pinn_with_hessian, capsys):
    run = small_pinn_with_hessian(tmp_path / "run", 0, 10, top_k=2)
    hessian = xr.open_dataset(run / "hessian.nc").load()
    vectors = hessian["eigenvectors"].values.copy()
    vectors[1, 5] = np.nan
    hessian["eigenvectors"] = (hessian["eigenvectors"].dims, vectors)
    bad = tmp_path / "hessian_nan.nc"
    hessian.to_netcdf(bad, engine="netcdf4")
    out = tmp_path / "curvature.nc"
    argv = ["curvature", str(run / "model.pt"), "--directions", str(bad), "--out", str(out)]
    assert main(argv) == 2
    assert f"eigenvector 1 of {bad} has 1 non-finite entries" in _one_error_line(capsys)
    assert not out.exists()


@pytest.fixture
def full_disk(tmp_path) -> Path:
    """A real, full file system: a 256 KiB tmpfs filled by one file (needs root and mount)."""
    mount = tmp_path / "full"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True
    )
    if result.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root and mount permission")
    try:
        with open(mount / "filler", "wb") as handle, contextlib.suppress(OSError):
            handle.write(b"\0" * (1 << 20))
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=True)


def test_a_really_full_disk_is_named_by_every_writer(full_disk, landscape, tmp_path, capsys):
    """netCDF (HDF5 says "HDF error") and torch (its zip writer says "unexpected pos") on a
    full file system: one line naming the full disk, and no partial file left behind."""
    import torch

    from losstopo.errors import LosstopoError
    from losstopo.io.atomic import write_atomic

    (full_disk / "filler").write_bytes(b"\0" * (1 << 17))  # 128 KiB free for small files
    target = full_disk / "state.pt"
    with pytest.raises(LosstopoError, match=f"^no space left on device: {target}$"):
        write_atomic(target, lambda tmp: torch.save({"w": torch.zeros(1 << 17)}, tmp))
    with contextlib.suppress(OSError):
        with open(full_disk / "filler", "ab") as handle:
            handle.write(b"\0" * (1 << 20))  # now completely full
    out = full_disk / "topology.nc"
    assert main(["topology", str(landscape), "--out", str(out)]) == 2
    assert f"no space left on device: {out}" in _one_error_line(capsys)
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]
