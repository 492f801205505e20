"""``losstopo export`` of grid landscapes: ``.vti`` image data and the merge tree's skeleton.

The files are read back by readers independent of the writer: ``meshio`` for ``.vtu``, and
for ``.vti`` (which meshio does not read; VTK's own reader is a 140 MB wheel) a parser of
the VTK XML format below, with ``xml.etree`` and ``numpy`` only. The values are checked
against the netCDF files (read with xarray) and the persistence against gudhi.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import gudhi
import meshio
import numpy as np
import pytest
import xarray as xr

from losstopo.cli import main
from losstopo.io.landscape_file import landscape_dataset, write_landscape
from losstopo.landscape.grid import LandscapeResult, grid_axes

VTK_TYPES = {"Float64": "<f8", "Float32": "<f4", "Int64": "<i8", "Int32": "<i4", "Int8": "<i1"}
HEADERS = {"UInt64": "<u8", "UInt32": "<u4"}


def read_vti(path: Path) -> dict:
    """A little-endian ``.vti`` with raw appended data: its extent, origin, spacing and
    point arrays (reshaped with x varying fastest, as VTK orders points)."""
    raw = path.read_bytes()
    start = raw.index(b"<AppendedData")
    root = ET.fromstring(raw[:start].decode() + "</VTKFile>")
    assert root.get("type") == "ImageData"
    assert root.get("byte_order") == "LittleEndian"
    header = np.dtype(HEADERS[root.get("header_type", "UInt32")])
    image = root.find("ImageData")
    extent = [int(value) for value in image.get("WholeExtent").split()]
    shape = tuple(extent[2 * i + 1] - extent[2 * i] + 1 for i in range(3))
    appended = ET.fromstring(raw[start : raw.index(b">", start) + 1].decode() + "</AppendedData>")
    assert appended.get("encoding") == "raw"
    blob = raw[raw.index(b"_", start) + 1 :]
    arrays = {}
    for array in image.iter("DataArray"):
        assert array.get("format") == "appended"
        dtype = np.dtype(VTK_TYPES[array.get("type")])
        offset = int(array.get("offset"))
        nbytes = int(np.frombuffer(blob, header, 1, offset)[0])
        values = np.frombuffer(blob, dtype, nbytes // dtype.itemsize, offset + header.itemsize)
        arrays[array.get("Name")] = values.reshape(shape, order="F")
    return {
        "shape": shape,
        "origin": [float(value) for value in image.get("Origin").split()],
        "spacing": [float(value) for value in image.get("Spacing").split()],
        "arrays": arrays,
    }


def grid_landscape(path: Path, loss: np.ndarray, distance: float, metric=None) -> Path:
    resolution = loss.shape[0]
    axes = grid_axes(loss.ndim, resolution, distance)
    result = LandscapeResult(
        loss, axes, 1, 0.0, metric=metric, metric_name=None if metric is None else "accuracy"
    )
    dims = loss.ndim
    dataset = landscape_dataset(result, np.ones(dims), np.eye(dims), {"distance": distance})
    write_landscape(dataset, path)
    return path


def two_wells(resolution: int = 11) -> np.ndarray:
    """A 2-D loss with two basins of different depth, a ripple and a non-finite corner."""
    axis = np.linspace(-1, 1, resolution)
    a, b = np.meshgrid(axis, axis, indexing="ij")
    loss = (
        1.0
        + 0.3 * np.sin(7 * a + 1) * np.cos(5 * b)
        - 0.9 * np.exp(-((a - 0.5) ** 2 + b**2) / 0.1)
        - 0.6 * np.exp(-((a + 0.5) ** 2 + (b - 0.3) ** 2) / 0.1)
    )
    loss = np.exp(loss)
    loss[0, 0] = np.inf
    return loss


def test_a_2d_grid_becomes_image_data_with_its_values_spacing_and_origin(tmp_path):
    loss = two_wells()
    metric = np.linspace(0, 1, loss.size).reshape(loss.shape)
    landscape = grid_landscape(tmp_path / "landscape.nc", loss, 0.5, metric)
    assert main(["topology", str(landscape), "--out", str(tmp_path / "topology.nc")]) == 0
    out = tmp_path / "vtk" / "view"
    args = [str(landscape), "--topology", str(tmp_path / "topology.nc"), "--out", str(out)]
    assert main(["export", *args]) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["view.vti", "view_tree.vtu"]

    image = read_vti(out.with_suffix(".vti"))
    with xr.open_dataset(landscape) as ds, xr.open_dataset(tmp_path / "topology.nc") as topo:
        expected_loss = ds["loss"].values
        step = float(ds["a0"].values[1] - ds["a0"].values[0])
        segmentation = topo["segmentation"].values
    assert image["shape"] == (11, 11, 1)
    assert image["origin"][:2] == [-0.5, -0.5]
    assert image["spacing"][:2] == pytest.approx([0.1, 0.1], rel=1e-12)
    assert image["spacing"][0] == pytest.approx(step, rel=1e-12)
    arrays = {name: values[:, :, 0] for name, values in image["arrays"].items()}
    assert sorted(arrays) == ["log10_loss", "loss", "metric", "segmentation"]
    np.testing.assert_array_equal(arrays["loss"], expected_loss)
    finite = np.isfinite(loss)
    np.testing.assert_allclose(arrays["log10_loss"][finite], np.log10(loss[finite]), rtol=1e-15)
    assert np.isnan(arrays["log10_loss"][0, 0]) and np.isinf(arrays["loss"][0, 0])
    np.testing.assert_array_equal(arrays["metric"], metric)
    np.testing.assert_array_equal(arrays["segmentation"], segmentation)


def test_the_tree_skeleton_places_nodes_at_their_vertices_with_gudhi_persistence(tmp_path):
    loss = two_wells()
    loss[0, 0] = 50.0  # finite everywhere, so gudhi's intervals are the reference
    landscape = grid_landscape(tmp_path / "landscape.nc", loss, 0.5)
    topology = tmp_path / "topology.nc"
    assert main(["topology", str(landscape), "--out", str(topology)]) == 0
    out = tmp_path / "view"
    assert main(["export", str(landscape), "--topology", str(topology), "--out", str(out)]) == 0

    tree = meshio.read(tmp_path / "view_tree.vtu")
    with xr.open_dataset(topology) as topo:
        vertex = topo["node_vertex"].values
        kind = topo["node_kind"].values
        parent = topo["node_parent"].values
        value = topo["node_value"].values
    axis = np.linspace(-0.5, 0.5, 11)
    rows, cols = np.unravel_index(vertex, loss.shape)
    np.testing.assert_allclose(tree.points[:, 0], axis[rows], atol=1e-15)
    np.testing.assert_allclose(tree.points[:, 1], axis[cols], atol=1e-15)
    np.testing.assert_array_equal(tree.points[:, 2], 0.0)
    data = {name: np.asarray(values).reshape(-1) for name, values in tree.point_data.items()}
    np.testing.assert_array_equal(data["kind"], kind)
    np.testing.assert_array_equal(data["value"], loss.ravel()[vertex])
    np.testing.assert_array_equal(data["value"], value)
    (lines,) = [block.data for block in tree.cells if block.type == "line"]
    expected_arcs = {(int(c), int(p)) for c, p in enumerate(parent) if p >= 0}
    assert {tuple(map(int, line)) for line in lines} == expected_arcs

    # minima: one finite interval of gudhi each, and the essential one spans the range
    cubical = gudhi.CubicalComplex(top_dimensional_cells=loss)
    cubical.compute_persistence()
    intervals = cubical.persistence_intervals_in_dimension(0)
    finite = sorted(float(d - b) for b, d in intervals if np.isfinite(d) and d > b)
    minima = data["kind"] == 0
    persistence = data["persistence"][minima]
    essential = np.isclose(persistence, loss.max() - loss.min(), rtol=1e-12)
    assert np.count_nonzero(essential) == 1
    np.testing.assert_allclose(sorted(persistence[~essential]), finite, rtol=1e-12)
    root = data["kind"] == 2
    np.testing.assert_allclose(data["persistence"][root], loss.max() - loss.min(), rtol=1e-12)
    assert data["value"][root][0] == loss.max()


def test_a_3d_grid_keeps_every_axis_in_vtk_order(tmp_path):
    rng = np.random.default_rng(4)
    loss = rng.random((5, 5, 5)) + 0.1
    landscape = grid_landscape(tmp_path / "landscape.nc", loss, 2.0)
    assert main(["export", str(landscape), "--out", str(tmp_path / "cube.vti")]) == 0
    image = read_vti(tmp_path / "cube.vti")
    assert image["shape"] == (5, 5, 5)
    assert image["origin"] == [-2.0, -2.0, -2.0]
    assert image["spacing"] == [1.0, 1.0, 1.0]
    # point (i, j, k) of the image is loss[i, j, k]: x runs along the first axis a0
    np.testing.assert_array_equal(image["arrays"]["loss"], loss)
    assert image["arrays"]["loss"][1, 2, 3] == loss[1, 2, 3]
    assert sorted(image["arrays"]) == ["log10_loss", "loss"]


# --- the command line: errors and atomic outputs ------------------------------------------


def assert_one_line_failure(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_bad_inputs_fail_in_one_line_naming_the_file(tmp_path, subprocess_env):
    loss = two_wells()
    grid_landscape(tmp_path / "landscape.nc", loss, 0.5)
    other = grid_landscape(tmp_path / "other.nc", loss * 2, 0.5)
    assert main(["topology", str(other), "--out", str(tmp_path / "other_topology.nc")]) == 0
    grid_landscape(tmp_path / "four.nc", np.ones((3, 3, 3, 3)), 1.0)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "losstopo", "export", *args],
            cwd=tmp_path,
            env=subprocess_env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert_one_line_failure(run("missing.nc", "--out", "x"), "missing.nc", "does not exist")
    assert_one_line_failure(
        run("landscape.nc", "--topology", "other_topology.nc", "--out", "x"),
        "other_topology.nc",
        "landscape.nc",
        "different landscape",
    )
    assert_one_line_failure(run("four.nc", "--out", "x"), "four.nc", "4-D")
    assert_one_line_failure(run("landscape.nc", "--k", "3", "--out", "x"), "landscape.nc", "--k")
    (tmp_path / "not_netcdf.nc").write_text("hello")
    assert_one_line_failure(run("not_netcdf.nc", "--out", "x"), "not_netcdf.nc")
    assert not list(tmp_path.glob("x*"))


def test_an_output_never_replaces_an_input(tmp_path):
    landscape = grid_landscape(tmp_path / "scene.vti", two_wells(), 0.5)  # a netCDF file
    before = landscape.read_bytes()
    from losstopo.errors import LosstopoError
    from losstopo.export import export_landscape

    with pytest.raises(LosstopoError, match="is the input"):
        export_landscape(landscape, tmp_path / "scene")
    assert landscape.read_bytes() == before


def test_a_failed_write_leaves_no_file(tmp_path, monkeypatch):
    import pyevtk.hl

    landscape = grid_landscape(tmp_path / "landscape.nc", two_wells(), 0.5)
    (tmp_path / "view.vti").write_text("an older export")

    def failing(path, **_):
        Path(f"{path}.vti").write_text("partial")
        raise OSError("disk trouble")

    monkeypatch.setattr(pyevtk.hl, "imageToVTK", failing)
    from losstopo.export import export_landscape

    with pytest.raises(OSError, match="disk trouble"):
        export_landscape(landscape, tmp_path / "view")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["landscape.nc", "view.vti"]
    assert (tmp_path / "view.vti").read_text() == "an older export"


def test_the_command_line_imports_neither_torch_nor_the_writer_until_it_exports(tmp_path):
    landscape = grid_landscape(tmp_path / "landscape.nc", two_wells(), 0.5)

    def imported(argv: list[str]) -> set[str]:
        code = (
            "import atexit, sys\n"
            "atexit.register(lambda: print(sorted(m for m in ('torch', 'pyevtk', 'xarray')"
            " if m in sys.modules)))\n"
            "from losstopo.cli import main\n"
            f"sys.exit(main({argv!r}))\n"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert result.returncode in (0, 2), result.stderr
        return set(eval(result.stdout.strip().splitlines()[-1]))

    assert imported(["export", "--help"]) == set()
    assert imported(["export", str(landscape), "--out", str(tmp_path / "v")]) == {
        "pyevtk",
        "xarray",
    }
