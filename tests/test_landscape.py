"""Landscapes: grid exactness, batched vs per-point oracles, normalisation, netCDF contract."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.func import functional_call

from losstopo.cli import main
from losstopo.errors import LosstopoError
from losstopo.landscape.directions import cosine_gram, normalize_direction
from losstopo.landscape.evaluation import LandscapeEvaluator, sample_landscape
from losstopo.landscape.grid import grid_alphas, grid_axes
from losstopo.objective import Objective
from losstopo.problems.convection.mlp import MLP
from losstopo.problems.convection.physics import loss_terms, make_data

F64 = torch.float64


def pinn_objective(dtype=F64, beta=2.0) -> Objective:
    torch.manual_seed(0)
    model = MLP(2, [10, 10], 1).to(dtype)
    data = make_data(beta, n_f=40, dtype=dtype)
    params = {k: v.detach().clone() for k, v in model.named_parameters()}

    def loss_fn(p):
        return loss_terms(lambda xt: functional_call(model, p, (xt,)), data)["loss"]

    return Objective(model, params, loss_fn, "small PINN")


def random_directions(objective: Objective, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    dtype = objective.theta().dtype
    rows = []
    for _ in range(n):
        raw = torch.randn(objective.n_parameters, generator=g, dtype=F64).to(dtype)
        rows.append(
            objective.flatten(
                normalize_direction(objective.unflatten(raw), objective.params, "layer")
            )
        )
    return torch.stack(rows)


@settings(max_examples=30, deadline=None)
@given(
    dims=st.integers(1, 4),
    half=st.integers(1, 20),
    distance=st.floats(1e-6, 1e3, allow_nan=False),
)
def test_grid_is_symmetric_with_exact_zero_centre(dims, half, distance):
    axes = grid_axes(dims, 2 * half + 1, distance)
    assert len(axes) == dims
    for axis in axes:
        assert axis[half] == 0.0
        np.testing.assert_array_equal(axis, -axis[::-1])
        assert axis[0] == -distance and axis[-1] == distance
    alphas = grid_alphas(axes)
    assert alphas.shape == ((2 * half + 1) ** dims, dims)
    assert np.all(alphas[len(alphas) // 2] == 0.0)


@pytest.mark.parametrize(
    ("dims", "resolution", "distance", "needle"),
    [
        (2, 10, 1.0, "odd"),
        (2, 1, 1.0, "odd"),
        (2, 5, 0.0, "distance"),
        (2, 5, -1.0, "distance"),
        (0, 5, 1.0, "dims"),
        (2, 5, float("inf"), "distance"),
    ],
)
def test_bad_grids_are_rejected(dims, resolution, distance, needle):
    with pytest.raises(LosstopoError, match=needle):
        grid_axes(dims, resolution, distance)


def test_centre_is_theta_exactly():
    """The centre point's parameters are θ bit for bit; its loss is the objective at θ up to
    the summation order of batched matrix products (≤ 1e-15 relative in float64)."""
    objective = pinn_objective()
    directions = random_directions(objective, 2)
    evaluator = LandscapeEvaluator(objective, directions)
    assert torch.equal(evaluator.points(np.zeros((1, 2)))[0], objective.theta())
    result = sample_landscape(objective, directions, 7, 0.3, show_progress=False)
    assert result.loss[3, 3] == pytest.approx(float(objective()), rel=1e-15)


@pytest.mark.parametrize(("dtype", "rtol"), [(torch.float32, 1e-6), (F64, 1e-14)])
def test_batched_equals_per_point(dtype, rtol):
    objective = pinn_objective(dtype)
    evaluator = LandscapeEvaluator(objective, random_directions(objective, 3))
    alphas = grid_alphas(grid_axes(3, 5, 0.5))
    np.testing.assert_allclose(
        evaluator.batched(alphas), evaluator.per_point(alphas), rtol=rtol, atol=0
    )


def test_chunking_does_not_change_values():
    objective = pinn_objective()
    d = random_directions(objective, 2)
    a = sample_landscape(objective, d, 9, 0.4, chunk_size=1, show_progress=False)
    b = sample_landscape(objective, d, 9, 0.4, chunk_size=81, show_progress=False)
    c = sample_landscape(objective, d, 9, 0.4, chunk_size=10, show_progress=False)
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-13)
    np.testing.assert_array_equal(
        b.loss, sample_landscape(objective, d, 9, 0.4, chunk_size=81, show_progress=False).loss
    )
    np.testing.assert_allclose(c.loss, b.loss, rtol=1e-13)


def test_axis_slice_equals_a_one_dimensional_landscape():
    objective = pinn_objective()
    d = random_directions(objective, 2)
    two = sample_landscape(objective, d, 9, 0.4, show_progress=False).loss
    one = sample_landscape(objective, d[1:2], 9, 0.4, show_progress=False).loss
    np.testing.assert_allclose(two[4, :], one, rtol=1e-13)


def test_landscape_of_a_quadratic_is_the_quadratic():
    """Oracle: for L(θ) = ½ θᵀAθ the landscape is a closed-form quadratic in α."""
    n = 6
    rng = np.random.default_rng(1)
    a = rng.standard_normal((n, n))
    a = torch.as_tensor(a @ a.T)
    model = torch.nn.Linear(n, 1, bias=False).double()
    theta = torch.as_tensor(rng.standard_normal(n))
    objective = Objective(
        model,
        {"weight": theta[None, :].clone()},
        lambda p: 0.5 * p["weight"][0] @ a @ p["weight"][0],
        "quadratic",
    )
    d = torch.as_tensor(rng.standard_normal((2, n)))
    result = sample_landscape(objective, d, 5, 1.0, show_progress=False)
    for i, a0 in enumerate(result.axes[0]):
        for j, a1 in enumerate(result.axes[1]):
            p = theta + a0 * d[0] + a1 * d[1]
            assert result.loss[i, j] == pytest.approx(float(0.5 * p @ a @ p), rel=1e-12)


def test_layer_and_filter_normalisation():
    torch.manual_seed(3)
    theta = {"w": torch.randn(4, 3, dtype=F64), "b": torch.randn(4, dtype=F64)}
    d = {"w": torch.randn(4, 3, dtype=F64), "b": torch.randn(4, dtype=F64)}
    layer = normalize_direction(d, theta, "layer")
    for name in theta:
        assert float(layer[name].norm()) == pytest.approx(float(theta[name].norm()))
        # direction within each tensor is kept
        assert float(torch.dot(layer[name].ravel(), d[name].ravel())) > 0
    filt = normalize_direction(d, theta, "filter")
    for i in range(4):
        assert float(filt["w"][i].norm()) == pytest.approx(float(theta["w"][i].norm()))
    assert float(filt["b"].norm()) == pytest.approx(float(theta["b"].norm()))
    none = normalize_direction(d, theta, "none")
    total = torch.sqrt(sum((v**2).sum() for v in none.values()))
    theta_norm = torch.sqrt(sum((v**2).sum() for v in theta.values()))
    assert float(total) == pytest.approx(float(theta_norm))
    zero = normalize_direction({"w": torch.zeros(4, 3, dtype=F64), "b": d["b"]}, theta, "layer")
    assert torch.all(zero["w"] == 0) and torch.isfinite(zero["b"]).all()


def test_cosine_gram():
    d = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]], dtype=F64)
    np.testing.assert_allclose(
        cosine_gram(d), [[1, 2**-0.5, 0], [2**-0.5, 1, 2**-0.5], [0, 2**-0.5, 1]], atol=1e-15
    )


def test_non_finite_values_are_kept():
    model = torch.nn.Linear(1, 1, bias=False).double()
    objective = Objective(
        model,
        {"weight": torch.ones(1, 1, dtype=F64)},
        lambda p: torch.log(p["weight"][0, 0]),
        "log",
    )
    result = sample_landscape(objective, torch.ones(1, 1, dtype=F64), 5, 2.0, show_progress=False)
    # θ + α = -1, 0, 1, 2, 3 → log gives nan, -inf, 0, log 2, log 3
    assert np.isnan(result.loss[0]) and result.loss[1] == -np.inf
    assert result.loss[2] == 0.0


@pytest.fixture(scope="module")
def run_with_directions(tmp_path_factory, small_pinn_with_hessian):
    out = tmp_path_factory.mktemp("run")
    small_pinn_with_hessian(out, seed=0, iterations=20)
    return out


def test_landscape_cli_writes_a_self_describing_file(run_with_directions, tmp_path):
    run = run_with_directions
    out = tmp_path / "landscape.nc"
    assert (
        main(
            [
                "landscape",
                str(run / "model.pt"),
                "--directions",
                str(run / "hessian.nc"),
                "--dims",
                "2",
                "--resolution",
                "7",
                "--distance",
                "0.2",
                "--dtype",
                "float64",
                "--device",
                "cpu",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    ds = xr.open_dataset(out)
    assert ds.loss.dims == ("a0", "a1") and ds.loss.dtype == np.float64
    np.testing.assert_array_equal(ds.a0.values, grid_axes(1, 7, 0.2)[0])
    assert ds.loss.values[3, 3] == pytest.approx(ds.attrs["center_loss"], rel=1e-15)
    hessian = xr.open_dataset(run / "hessian.nc")
    np.testing.assert_allclose(ds.attrs["eigenvalues"], hessian.eigenvalues.values[:2])
    for key in (
        "dims",
        "resolution",
        "distance",
        "normalization",
        "theta_norm",
        "bn_mode",
        "source",
        "source_sha256",
        "directions",
        "directions_sha256",
        "objective",
        "losstopo_version",
        "created",
        "description",
        "n_nonfinite",
    ):
        assert key in ds.attrs, key
    assert ds.attrs["normalization"] == "layer" and ds.attrs["n_nonfinite"] == 0
    gram = np.array(json.loads(ds.attrs["direction_gram"]))
    assert gram.shape == (2, 2) and gram[0, 0] == pytest.approx(1.0)
    # the theta-norm-scaled directions have ‖d‖ = ‖θ‖ under layer normalisation
    np.testing.assert_allclose(ds.attrs["direction_norms"], ds.attrs["theta_norm"], rtol=1e-10)


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--dims", "5", "--resolution", "5", "--distance", "0.1"], "--dims 5 needs 5 directions"),
        (["--dims", "2", "--resolution", "6", "--distance", "0.1"], "resolution must be odd"),
        (["--dims", "2", "--resolution", "5", "--distance", "0"], "argument --distance"),
    ],
)
def test_landscape_cli_bad_input(run_with_directions, tmp_path, capsys, extra, needle):
    run = run_with_directions
    out = tmp_path / "landscape.nc"
    args = [
        "landscape",
        str(run / "model.pt"),
        "--directions",
        str(run / "hessian.nc"),
        *extra,
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    try:
        code = main(args)
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    assert needle in capsys.readouterr().err
    assert not out.exists()


def test_landscape_cli_missing_directions_file(run_with_directions, tmp_path, capsys):
    code = main(
        [
            "landscape",
            str(run_with_directions / "model.pt"),
            "--directions",
            str(tmp_path / "none.nc"),
            "--dims",
            "2",
            "--resolution",
            "5",
            "--distance",
            "0.1",
            "--out",
            str(tmp_path / "l.nc"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "hessian file" in err and "none.nc does not exist" in err


def test_constant_unit_of_the_stacked_forward_is_exactly_one():
    for dtype in (torch.float32, F64):
        assert torch.tanh(torch.tensor(20.0, dtype=dtype)).item() == 1.0


@pytest.mark.parametrize(("dtype", "rtol"), [(torch.float32, 1e-6), (F64, 1e-13)])
def test_stacked_pinn_loss_equals_vmap_and_per_point(run_with_directions, dtype, rtol):
    """The convection problem's fast batched loss against the generic vmap path and the
    per-point loop, on a trained checkpoint."""
    from torch.func import vmap

    from losstopo.problems.loading import load_objective

    objective = load_objective(run_with_directions / "model.pt", torch.device("cpu"), dtype)
    assert objective.batched_loss_fn is not None
    directions = random_directions(objective, 3, seed=4)
    evaluator = LandscapeEvaluator(objective, directions)
    alphas = grid_alphas(grid_axes(3, 5, 0.7))
    points = evaluator.points(alphas)
    with torch.no_grad():
        fast = objective.batched_loss_fn(points).double().numpy()
        generic = vmap(lambda p: objective.loss_fn(objective.unflatten(p)))(points)
    np.testing.assert_allclose(fast, generic.double().numpy(), rtol=rtol)
    np.testing.assert_allclose(fast, evaluator.per_point(alphas), rtol=rtol)
    assert fast[len(fast) // 2] == pytest.approx(float(objective()), rel=rtol)


def test_chunk_size_respects_budget_and_bounds():
    from losstopo.landscape.evaluation import choose_chunk_size

    objective = pinn_objective()
    assert choose_chunk_size(objective, 1e-6, 100) == 1
    assert choose_chunk_size(objective, 1e6, 7, cache_mb=1e6) == 7
    small = choose_chunk_size(objective, 1e6, 10_000, cache_mb=1.0)
    large = choose_chunk_size(objective, 1e6, 10_000, cache_mb=64.0)
    assert 1 <= small < large <= 10_000


def test_landscape_of_a_batchnorm_network_in_eval_mode():
    """vmap over a BatchNorm network in eval mode: batched equals per-point, running
    statistics untouched."""
    torch.manual_seed(5)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 6 * 6, 3),
    ).double()
    images = torch.randn(5, 1, 6, 6, dtype=F64)
    labels = torch.tensor([0, 1, 2, 1, 0])
    model.train()
    model(images * 2 + 0.5)
    model.eval()
    running_var = model[1].running_var.clone()
    params = {k: v.detach().clone() for k, v in model.named_parameters()}
    objective = Objective(
        model,
        params,
        lambda p: torch.nn.functional.cross_entropy(functional_call(model, p, (images,)), labels),
        "batchnorm classifier",
    )
    evaluator = LandscapeEvaluator(objective, random_directions(objective, 2, seed=1))
    alphas = grid_alphas(grid_axes(2, 5, 0.5))
    np.testing.assert_allclose(evaluator.batched(alphas), evaluator.per_point(alphas), rtol=1e-13)
    assert torch.equal(model[1].running_var, running_var)


def test_netcdf_round_trip_keeps_nan_coordinates_and_attributes(tmp_path):
    from losstopo.io.landscape_file import landscape_dataset, read_landscape, write_landscape
    from losstopo.landscape.grid import LandscapeResult

    axes = grid_axes(2, 5, 0.25)
    loss = np.arange(25, dtype=float).reshape(5, 5)
    loss[0, 1], loss[4, 4], loss[2, 0] = np.nan, np.inf, -np.inf
    result = LandscapeResult(loss, axes, chunk_size=7, seconds=0.5)
    gram = np.array([[1.0, 0.25], [0.25, 1.0]])
    ds = landscape_dataset(
        result,
        np.array([3.0, 2.0]),
        gram,
        {
            "distance": 0.25,
            "normalization": "filter",
            "bn_mode": "eval",
            "problem_hparams": {"beta": 1.0},
        },
    )
    write_landscape(ds, tmp_path / "l.nc")
    back = read_landscape(tmp_path / "l.nc")
    np.testing.assert_array_equal(back.loss.values, loss)  # NaN and ±inf survive as they are
    assert back.attrs["n_nonfinite"] == 3
    np.testing.assert_array_equal(back.a0.values, axes[0])
    np.testing.assert_array_equal(back.a1.values, axes[1])
    np.testing.assert_array_equal(back.attrs["eigenvalues"], [3.0, 2.0])
    assert json.loads(back.attrs["direction_gram"]) == gram.tolist()
    assert back.attrs["normalization"] == "filter" and back.attrs["distance"] == 0.25
    assert json.loads(back.attrs["problem_hparams"]) == {"beta": 1.0}
    assert back.a1.attrs["eigenvalue"] == 2.0


@pytest.mark.parametrize("tiles", [2, 3, 7])
def test_tiled_landscape_equals_the_untiled_one_exactly(run_with_directions, tmp_path, tiles):
    run = run_with_directions
    common = [
        "landscape",
        str(run / "model.pt"),
        "--directions",
        str(run / "hessian.nc"),
        "--dims",
        "3",
        "--resolution",
        "7",
        "--distance",
        "0.3",
        "--device",
        "cpu",
        "--chunk-size",
        "4",
    ]
    whole = tmp_path / "whole.nc"
    assert main([*common, "--out", str(whole)]) == 0
    parts = []
    for tile in range(tiles):
        part = tmp_path / f"tile{tile}.nc"
        assert main([*common, "--tiles", str(tiles), "--tile", str(tile), "--out", str(part)]) == 0
        parts.append(str(part))
    merged = tmp_path / "merged.nc"
    assert main(["landscape-merge", *parts[::-1], "--out", str(merged)]) == 0
    a, b = xr.open_dataset(whole), xr.open_dataset(merged)
    np.testing.assert_array_equal(a.loss.values, b.loss.values)  # bit for bit
    np.testing.assert_array_equal(a.a0.values, b.a0.values)
    assert b.attrs["n_points"] == 343 and b.attrs["merged_from_tiles"] == tiles
    assert b.attrs["center_loss"] == a.attrs["center_loss"]
    for name in ("taylor_gradient", "taylor_hessian"):  # every tile's null model, kept once
        np.testing.assert_array_equal(a[name].values, b[name].values)


def test_incomplete_tiles_are_rejected(run_with_directions, tmp_path, capsys):
    run = run_with_directions
    common = [
        "landscape",
        str(run / "model.pt"),
        "--directions",
        str(run / "hessian.nc"),
        "--dims",
        "2",
        "--resolution",
        "5",
        "--distance",
        "0.3",
        "--device",
        "cpu",
        "--tiles",
        "2",
    ]
    assert main([*common, "--tile", "0", "--out", str(tmp_path / "t0.nc")]) == 0
    assert main(["landscape-merge", str(tmp_path / "t0.nc"), "--out", str(tmp_path / "m.nc")]) == 2
    assert "expected tiles 0..1" in capsys.readouterr().err
    assert main([*common, "--tile", "2", "--out", str(tmp_path / "t2.nc")]) == 2
    assert "tile must be between 0 and 1" in capsys.readouterr().err
