"""Each stage records its settings in its output under the names its settings record gives,
with the values it was given (or, where a default is resolved by the stage, the value used);
the keyword and the record forms of a stage, and the old and new spellings of an option,
give the same output."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from losstopo.cli import main
from losstopo.io.curvature_file import write_curvature
from losstopo.io.hessian_file import write_hessian
from losstopo.io.landscape_file import write_landscape
from losstopo.io.topology_file import write_topology
from losstopo.settings import (
    CurvatureSettings,
    HessianSettings,
    LandscapeSettings,
    StageSettings,
    TopologySettings,
)
from losstopo.stages import (
    compute_curvature,
    compute_hessian,
    compute_landscape,
    compute_topology,
    load_analysed_checkpoint,
)


@pytest.fixture(scope="module")
def run(tmp_path_factory, small_pinn_with_hessian):
    return small_pinn_with_hessian(tmp_path_factory.mktemp("settings"), 0, 30, top_k=3)


@pytest.fixture(scope="module")
def checkpoint(run):
    cpu = torch.device("cpu")
    return load_analysed_checkpoint(run / "model.pt", device=cpu, dtype=torch.float64)


def _read_back(dataset, write, path) -> dict:
    write(dataset, path)
    with xr.open_dataset(path) as written:
        return dict(written.attrs)


def _assert_recorded(attrs: dict, settings: StageSettings, **resolved) -> None:
    """Every setting the stage records is in ``attrs`` under its record's name."""
    assert settings.recorded()
    for name in settings.recorded():
        attr = settings.setting(name).attr
        expected = resolved.get(name, getattr(settings, name))
        assert attr in attrs, attr
        assert attrs[attr] == expected, (attr, attrs[attr], expected)


@pytest.mark.parametrize("method", ["power", "lanczos"])
def test_the_hessian_records_its_settings(checkpoint, tmp_path, method):
    settings = HessianSettings(top_k=2, method=method, tol=1e-3, seed=5, max_hvp=60, max_iter=30)
    attrs = _read_back(compute_hessian(checkpoint, settings), write_hessian, tmp_path / "h.nc")
    max_iter = 30 if method == "power" else 0  # Lanczos takes no iteration count
    _assert_recorded(attrs, settings, max_iter=max_iter)
    assert attrs["tolerance"] == 1e-3 and attrs["max_iter"] == max_iter


def test_the_curvature_records_its_settings(checkpoint, run, tmp_path):
    trace = {"trace_max_hvps": 12, "trace_min_probes": 4, "rel_se_target": 0.2}
    density = {"slq_runs": 2, "slq_steps": 6, "width": 2.5, "grid_points": 50}
    settings = CurvatureSettings(deflate=False, seed=3, **trace, **density)
    dataset = compute_curvature(checkpoint, settings, directions=run / "hessian.nc")
    attrs = _read_back(dataset, write_curvature, tmp_path / "c.nc")
    _assert_recorded(attrs, settings)
    assert "trace_deflation_rank" not in attrs  # not deflated
    assert dataset.sizes["grid"] == 50 and dataset.sizes["run"] == 2


def test_a_tiled_grid_landscape_records_its_settings(checkpoint, run, tmp_path):
    evaluation = {"null_model": False, "chunk_size": 7, "memory_budget_mb": 64}
    grid = {"dims": 2, "resolution": 5, "distance": 0.2, "normalization": "filter"}
    settings = LandscapeSettings(**grid, **evaluation, tiles=2, tile=1)
    dataset = compute_landscape(checkpoint, run / "hessian.nc", settings=settings)
    attrs = _read_back(dataset, write_landscape, tmp_path / "l.nc")
    _assert_recorded(attrs, settings)
    assert attrs["chunk_size"] == 7 and "taylor_gradient" not in dataset
    assert not {"sampling", "cube_points", "center_points"} & set(attrs)  # a grid's


def test_a_scattered_landscape_records_its_settings(checkpoint, run, tmp_path):
    cube = {"dims": 3, "distance": 0.1, "sampling": "random", "n_points": 20, "seed": 4}
    settings = LandscapeSettings(**cube, center_points=3, center_scale=0.2)
    dataset = compute_landscape(checkpoint, run / "hessian.nc", settings=settings)
    attrs = _read_back(dataset, write_landscape, tmp_path / "l.nc")
    _assert_recorded(attrs, settings)
    assert attrs["cube_points"] == 20 and attrs["n_points"] == 23
    assert "tile" not in attrs and "resolution" not in attrs


@pytest.fixture(scope="module")
def grid_landscape(checkpoint, run, tmp_path_factory):
    path = tmp_path_factory.mktemp("grid") / "landscape.nc"
    dataset = compute_landscape(checkpoint, run / "hessian.nc", 2, 7, 0.1)
    write_landscape(dataset, path)
    return path


def test_the_topology_records_its_settings_and_the_graph_it_built(grid_landscape, tmp_path):
    settings = TopologySettings(
        connectivity="knn",
        persistence_threshold=0.01,
        relative=True,
        summary_threshold=0.05,
        log_threshold=0.2,
    )
    result = compute_topology(grid_landscape, settings)
    attrs = _read_back(result.dataset, write_topology, tmp_path / "t.nc")
    # k, symmetrize and the metric as built: 4n neighbours, mutual on a grid, its indices
    graph = {"k": 8, "symmetrize": "mutual", "knn_metric": "grid index"}
    _assert_recorded(attrs, settings, **graph)
    with xr.open_dataset(grid_landscape) as landscape:  # the absolute threshold beside it
        extent = float(np.ptp(landscape["loss"].values))
    assert attrs["persistence_threshold"] == pytest.approx(0.01 * extent)


def test_keywords_and_the_record_give_the_same_stage(grid_landscape):
    by_keywords = compute_topology(grid_landscape, connectivity="axis", log_threshold=0.1)
    settings = TopologySettings(connectivity="axis", log_threshold=0.1)
    by_record = compute_topology(grid_landscape, settings)
    for name in ("node_vertex", "node_value", "segmentation"):
        np.testing.assert_array_equal(
            by_keywords.dataset.to_xarray()[name], by_record.dataset.to_xarray()[name]
        )
    for name in settings.recorded():
        attr = settings.setting(name).attr
        assert by_keywords.dataset.attrs[attr] == by_record.dataset.attrs[attr]
    assert by_keywords.descriptors == by_record.descriptors


def test_old_and_new_spellings_write_the_same_curvature(run, tmp_path):
    base = ["curvature", str(run / "model.pt"), "--directions", str(run / "hessian.nc")]
    base += ["--slq-runs", "1", "--slq-steps", "5", "--grid-points", "40", "--device", "cpu"]
    old = ["--trace-max-hvp", "30", "--rel-se", "0.3"]
    new = ["--trace-max-hvps", "30", "--rel-se-target", "0.3"]
    assert main([*base, *old, "--out", str(tmp_path / "old.nc")]) == 0
    assert main([*base, *new, "--out", str(tmp_path / "new.nc")]) == 0
    with xr.open_dataset(tmp_path / "old.nc") as a, xr.open_dataset(tmp_path / "new.nc") as b:
        for name in a.data_vars:
            np.testing.assert_array_equal(a[name].values, b[name].values)
        assert a.attrs["trace_max_hvps"] == b.attrs["trace_max_hvps"] == 30
        assert a.attrs["trace_rel_se_target"] == b.attrs["trace_rel_se_target"] == 0.3
