"""``losstopo curvature --per-layer``: the layer variables of ``curvature.nc`` against the
dense Hessian's diagonal blocks, a file without them unchanged, the table columns and the
per-layer figure."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from losstopo.cli import main

SMALL = ["--slq-runs", "1", "--slq-steps", "8", "--grid-points", "100", "--trace-max-hvps", "25"]


@pytest.fixture(scope="module")
def run(tmp_path_factory, small_pinn_with_hessian):
    return small_pinn_with_hessian(tmp_path_factory.mktemp("layers"), 0, 40, top_k=2)


@pytest.fixture(scope="module")
def blocks(run) -> dict[str, np.ndarray]:
    """Oracle: the diagonal block of each parameter tensor of the dense float64 Hessian."""
    from losstopo.problems.loading import load_objective

    objective = load_objective(run / "model.pt", torch.device("cpu"), torch.float64)
    theta = objective.theta()
    dense = torch.autograd.functional.hessian(
        lambda v: objective(objective.unflatten(v)), theta
    ).numpy()
    found, start = {}, 0
    for name, p in objective.params.items():
        index = np.arange(start, start + p.numel())
        found[name] = dense[np.ix_(index, index)]
        start += p.numel()
    return found


def _curvature(run, out, *extra) -> int:
    argv = ["curvature", str(run / "model.pt"), "--directions", str(run / "hessian.nc")]
    return main([*argv, *SMALL, *extra, "--device", "cpu", "--out", str(out)])


@pytest.fixture(scope="module")
def files(run, tmp_path_factory):
    """The same checkpoint's curvature.nc without and with per-layer curvature."""
    where = tmp_path_factory.mktemp("files")
    plain, layered = where / "plain" / "curvature.nc", where / "layered" / "curvature.nc"
    assert _curvature(run, plain) == 0
    per_layer = ["--per-layer", "--layer-probes", "200", "--layer-tol", "1e-10"]
    assert _curvature(run, layered, *per_layer, "--layer-max-hvps", "300") == 0
    return plain, layered


def test_the_layer_variables_are_the_dense_blocks_curvature(files, blocks):
    data = xr.open_dataset(files[1]).load()
    assert list(data["layer"].values) == list(blocks)
    assert list(data["layer_parameters"].values) == list(blocks)  # one tensor per layer
    np.testing.assert_array_equal(data["layer_size"].values, [b.shape[0] for b in blocks.values()])
    for name, block in blocks.items():
        values = np.linalg.eigvalsh(block)
        top = values[np.argmax(np.abs(values))]
        assert data["layer_top_eigenvalue"].sel(layer=name).item() == pytest.approx(top, rel=1e-6)
        trace, se = (
            data["layer_trace"].sel(layer=name).item(),
            data["layer_trace_se"].sel(layer=name).item(),
        )
        assert abs(trace - np.trace(block)) <= 3 * se
    samples = data["layer_trace_samples"].values
    assert samples.shape == (200, len(blocks))
    np.testing.assert_allclose(samples.mean(axis=0), data["layer_trace"].values, rtol=1e-12)
    assert data["layer_top_converged"].values.all()
    attrs = data.attrs
    assert attrs["per_layer"] == 1 and attrs["layer_groups"] == "tensor"
    assert attrs["layer_trace_probes"] == 200 and attrs["layer_tol"] == 1e-10
    assert attrs["layer_which"] == "LM" and attrs["layer_max_hvps"] == 300
    assert attrs["layer_n_hvps"] == 200 + int(data["layer_top_n_hvps"].values.sum())


def test_without_per_layer_the_file_is_what_it_was(files):
    """The whole-Hessian numbers do not depend on --per-layer, and a file without it has no
    layer dimension, variable or attribute."""
    plain, layered = (xr.open_dataset(path).load() for path in files)
    assert "layer" not in plain.dims
    assert not [name for name in plain.attrs if name.startswith(("layer_", "per_layer"))]
    for name in plain.data_vars:
        np.testing.assert_array_equal(plain[name].values, layered[name].values)
    timing = {"trace_seconds", "slq_seconds", "created", "created_utc", "timestamp"}
    for name, value in plain.attrs.items():
        if name not in timing and not name.endswith("seconds"):
            assert np.array_equal(np.asarray(value), np.asarray(layered.attrs[name])), name


def test_module_groups_join_each_weight_and_bias(run, blocks, tmp_path):
    out = tmp_path / "curvature.nc"
    assert (
        _curvature(run, out, "--per-layer", "--layer-groups", "module", "--layer-probes", "4") == 0
    )
    data = xr.open_dataset(out).load()
    modules = list(dict.fromkeys(name.rpartition(".")[0] for name in blocks))
    assert list(data["layer"].values) == modules
    assert data.attrs["layer_groups"] == "module"
    sizes = {
        m: sum(b.shape[0] for n, b in blocks.items() if n.startswith(m + ".")) for m in modules
    }
    np.testing.assert_array_equal(data["layer_size"].values, list(sizes.values()))


@pytest.mark.parametrize(
    ("option", "needle"),
    [
        (["--layer-probes", "1"], "--layer-probes: must be >= 2, got 1"),
        (["--layer-tol", "nan"], "--layer-tol: must be a finite number > 0, got nan"),
        (["--layer-groups", "neuron"], "--layer-groups: invalid choice: 'neuron'"),
        (["--layer-which", "SA"], "--layer-which: invalid choice: 'SA'"),
        (["--layer-max-hvps", "0"], "--layer-max-hvps: must be >= 1, got 0"),
    ],
)
def test_bad_per_layer_options_are_one_line_naming_the_option(
    run, tmp_path, capsys, option, needle
):
    out = tmp_path / "c.nc"
    with pytest.raises(SystemExit) as raised:
        _curvature(run, out, "--per-layer", *option)
    assert raised.value.code == 2
    assert needle in capsys.readouterr().err
    assert not out.exists()


def test_tables_carry_per_layer_columns_only_where_the_file_has_them(run, files, tmp_path):
    from losstopo.io.tables import topology_table

    layered = files[1]
    argv = ["landscape", str(run / "model.pt"), "--directions", str(run / "hessian.nc")]
    grid = ["--dims", "2", "--resolution", "5", "--distance", "0.1"]
    tables = []
    for curvature in files:
        landscape = curvature.parent / "landscape_2d.nc"
        assert main([*argv, *grid, "--out", str(landscape)]) == 0
        topology = curvature.parent / "topology_2d.nc"
        assert main(["topology", str(landscape), "--out", str(topology)]) == 0
        tables.append(topology_table([topology]))
    without, with_layers = tables
    assert not [c for c in without.columns if c.startswith("layer_")]
    extra = [c for c in with_layers.columns if c not in without.columns]
    data = xr.open_dataset(layered).load()
    names = [str(name) for name in data["layer"].values]
    expected = [
        f"{v}:{n}" for v in ("layer_trace", "layer_trace_se", "layer_top_eigenvalue") for n in names
    ]
    assert extra == expected
    row = with_layers.iloc[0]
    for name in names:
        assert row[f"layer_trace:{name}"] == data["layer_trace"].sel(layer=name).item()
        assert row[f"layer_trace_se:{name}"] == data["layer_trace_se"].sel(layer=name).item()
        top = data["layer_top_eigenvalue"].sel(layer=name).item()
        assert row[f"layer_top_eigenvalue:{name}"] == top
    # the rest of the row is the same (but the paths: each file is in its own directory)
    shared = [c for c in without.columns if c not in ("file", "run", "checkpoint")]
    assert with_layers[shared].equals(without[shared])


def test_the_figure_draws_each_layers_trace_and_top_eigenvalue(files, tmp_path, capsys):
    from losstopo.io.curvature_file import read_layer_bars
    from losstopo.plots.layer_curvature import layer_curvature_figure

    plain, layered = files
    out = tmp_path / "layers.png"
    argv = ["figure", "layer-curvature", str(layered), "--label", "trained"]
    assert main([*argv, "--out", str(out)]) == 0
    assert out.stat().st_size > 5_000
    bars = read_layer_bars(layered, "trained")
    figure = layer_curvature_figure([bars, bars])
    trace_ax, top_ax = figure.axes
    # two files: two bars per layer, each file's bars in the layers' order
    heights = [patch.get_height() for patch in trace_ax.patches]
    np.testing.assert_allclose(heights, np.concatenate([bars.traces, bars.traces]))
    tops = [patch.get_height() for patch in top_ax.patches]
    np.testing.assert_allclose(tops, np.concatenate([bars.top_eigenvalues] * 2))
    labels = [label.get_text() for label in top_ax.get_xticklabels()]
    assert labels == bars.names
    assert trace_ax.get_yscale() == "symlog"
    # a file without per-layer curvature, and a label count that does not match
    assert main(["figure", "layer-curvature", str(plain), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"curvature file {plain} has no per-layer curvature" in err and err.count("\n") == 1
    assert main([*argv, "second", "--out", str(out)]) == 2
    assert "--label gives 2 label(s) for 1 file(s)" in capsys.readouterr().err
