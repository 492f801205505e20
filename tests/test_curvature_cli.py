"""`losstopo curvature` and what reads its file (tables, the spectral-density figure, the API),
against a dense Hessian of a small trained PINN."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from losstopo.cli import main


@pytest.fixture(scope="module")
def run(tmp_path_factory, small_pinn_with_hessian):
    return small_pinn_with_hessian(tmp_path_factory.mktemp("curvature"), 0, 40, top_k=3)


@pytest.fixture(scope="module")
def spectrum(run):
    """Oracle: eigenvalues of the dense float64 Hessian of the checkpoint's loss."""
    from losstopo.problems.loading import load_objective

    objective = load_objective(run / "model.pt", torch.device("cpu"), torch.float64)
    theta = objective.theta()
    dense = torch.autograd.functional.hessian(lambda v: objective(objective.unflatten(v)), theta)
    return np.linalg.eigvalsh(dense.numpy())


def _curvature(run, out, *extra):
    """``losstopo curvature`` with a small SLQ unless ``extra`` asks for more (last wins)."""
    argv = ["curvature", str(run / "model.pt"), "--directions", str(run / "hessian.nc")]
    small = ["--slq-runs", "1", "--slq-steps", "10", "--grid-points", "200"]
    return main([*argv, *small, *extra, "--device", "cpu", "--out", str(out)])


@pytest.mark.parametrize("deflation", [[], ["--no-deflate"]])
def test_the_trace_is_within_three_standard_errors_of_the_dense_trace(
    run, spectrum, tmp_path, deflation
):
    out = tmp_path / "curvature.nc"
    assert _curvature(run, out, "--rel-se", "0", "--trace-max-hvp", "60", *deflation) == 0
    data = xr.open_dataset(out).load()
    trace, se = data.attrs["hessian_trace"], data.attrs["hessian_trace_se"]
    assert abs(trace - spectrum.sum()) <= 3 * se
    assert data.attrs["trace_method"] == ("hutchinson" if deflation else "hutchinson-deflated")
    probes = 60 - (0 if deflation else 3)  # deflation spends one product per eigenvector
    assert data.attrs["trace_n_probes"] == probes == data["trace_samples"].size
    assert data.attrs["top_eigenvalue"] == pytest.approx(np.abs(spectrum).max(), rel=1e-6)
    if deflation:  # undeflated: the stored samples are what the estimate and its error are
        samples = data["trace_samples"].values
        assert trace == pytest.approx(samples.mean(), rel=1e-12)
        assert se == pytest.approx(samples.std(ddof=1) / np.sqrt(samples.size), rel=1e-9)


def test_a_full_krylov_space_gives_the_exact_spectrum_and_negative_mass(run, spectrum, tmp_path):
    out = tmp_path / "curvature.nc"
    n = spectrum.size
    extra = ["--slq-runs", "2", "--slq-steps", str(n + 5), "--trace-max-hvp", "30"]
    assert _curvature(run, out, *extra) == 0
    data = xr.open_dataset(out).load()
    for run_nodes, run_weights in zip(data.slq_nodes.values, data.slq_weights.values, strict=True):
        nodes, weights = run_nodes[~np.isnan(run_nodes)], run_weights[~np.isnan(run_weights)]
        assert weights.sum() == pytest.approx(1.0, abs=1e-10)
        # every node is an eigenvalue, and the eigenvalues the start vector sees are all there
        nearest = np.abs(nodes[:, None] - spectrum[None]).min(axis=1)
        assert nearest.max() <= 1e-6 * np.abs(spectrum).max()
        assert nodes.min() == pytest.approx(spectrum.min(), rel=1e-6, abs=1e-8)
        assert nodes.max() == pytest.approx(spectrum.max(), rel=1e-6)
    # negative mass: the mean over start vectors of their weight below zero (Rademacher
    # starts; 2 runs of a ~100-dim spectrum: within a few tenths of the exact fraction)
    tolerance = data.attrs["esd_negative_tolerance"]
    assert tolerance == pytest.approx(1e-6 * np.nanmax(np.abs(data.slq_nodes.values)))
    exact = float(np.mean(spectrum < -tolerance))
    assert abs(data.attrs["esd_negative_mass"] - exact) < 0.2
    assert data.attrs["n_parameters"] == n


def test_a_hessian_of_another_checkpoint_is_refused(run, tmp_path, capsys, small_pinn_with_hessian):
    other = small_pinn_with_hessian(tmp_path / "other", 1, 5, top_k=2)
    out = tmp_path / "c.nc"
    argv = ["curvature", str(run / "model.pt"), "--directions", str(other / "hessian.nc")]
    assert main([*argv, "--out", str(out)]) == 2
    assert "was computed from a different checkpoint" in capsys.readouterr().err
    assert not out.exists()


def test_tables_carry_the_curvature_of_each_checkpoint(run, tmp_path):
    from losstopo.io.tables import topology_table

    argv = ["landscape", str(run / "model.pt"), "--directions", str(run / "hessian.nc")]
    directory = tmp_path / "model"
    directory.mkdir()
    landscape = directory / "landscape_2d.nc"
    assert (
        main(
            [
                *argv,
                "--dims",
                "2",
                "--resolution",
                "5",
                "--distance",
                "0.1",
                "--out",
                str(landscape),
            ]
        )
        == 0
    )
    topology = directory / "topology_2d.nc"
    assert main(["topology", str(landscape), "--out", str(topology)]) == 0
    table = topology_table([topology])
    assert np.isnan(table.hessian_trace.item()) and np.isnan(table.esd_negative_mass.item())
    assert _curvature(run, directory / "curvature.nc", "--trace-max-hvp", "25") == 0
    attrs = xr.open_dataset(directory / "curvature.nc").attrs
    row = topology_table([topology]).iloc[0]
    assert row.hessian_trace == attrs["hessian_trace"]
    assert row.hessian_trace_se == attrs["hessian_trace_se"]
    assert row.esd_negative_mass == attrs["esd_negative_mass"]
    assert row.esd_negative_mass_lower == attrs["esd_negative_mass_lower"]
    assert row.esd_negative_mass_upper == attrs["esd_negative_mass_upper"]
    assert row.esd_negative_mass_lower <= row.esd_negative_mass <= row.esd_negative_mass_upper


def test_the_spectral_density_figure_draws_each_file_in_its_panel(run, tmp_path):
    from losstopo.io.curvature_file import read_density_curve
    from losstopo.plots.curvature import density_panels

    first, second = tmp_path / "a.nc", tmp_path / "b.nc"
    assert _curvature(run, first, "--seed", "0", "--trace-max-hvp", "25") == 0
    assert _curvature(run, second, "--seed", "1", "--trace-max-hvp", "25") == 0
    out = tmp_path / "esd.png"
    argv = ["figure", "spectral-density", str(first), str(second), str(first)]
    labels = ["--panel", "cell A", "cell A", "cell B", "--curve", "seed 0", "seed 1", "seed 0"]
    assert main([*argv, *labels, "--out", str(out)]) == 0
    fig = density_panels(
        [
            ("cell A", [read_density_curve(first, "seed 0"), read_density_curve(second, "seed 1")]),
            ("cell B", [read_density_curve(first, "seed 0")]),
        ]
    )
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["cell A", "cell B"]
    assert [len(ax.lines) - 1 for ax in panels] == [2, 1]  # curves, besides the zero line
    assert all(ax.get_xscale() == "symlog" and ax.get_yscale() == "log" for ax in panels)
    data = xr.open_dataset(first)
    line = panels[1].lines[0]
    np.testing.assert_array_equal(line.get_xdata(), data.esd_grid.values)
    floor = panels[1].get_ylim()[0]
    np.testing.assert_allclose(line.get_ydata(), np.maximum(data.esd_density.values, floor))
    legend = [t.get_text() for t in panels[0].get_legend().get_texts()]
    assert legend[0].startswith("seed 0: tr ") and "% < 0" in legend[0]
    assert main([*argv, "--panel", "only one", "--out", str(out)]) == 2


def test_the_api_estimates_the_trace_and_density_of_an_objective(run, spectrum):
    import losstopo
    from losstopo.hessian.curvature import quadrature
    from losstopo.problems.loading import load_objective

    objective = load_objective(run / "model.pt", torch.device("cpu"), torch.float64)
    trace = losstopo.hessian_trace(objective, seed=3, rel_se_target=0.0, max_hvps=80)
    assert abs(trace.estimate - spectrum.sum()) <= 3 * trace.standard_error
    nodes, density = losstopo.spectral_density(objective, n_runs=4, steps=20, seed=0)
    # mean quadrature of x: an unbiased estimate of tr(H)/n from 4 start vectors
    mean = quadrature(nodes.nodes, nodes.weights, lambda x: x)
    assert mean * spectrum.size == pytest.approx(spectrum.sum(), rel=0.5)
    assert density.density.shape == density.grid.shape
