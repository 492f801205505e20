"""The public API: identical numbers to the CLI, seeded and filter-normalised directions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import xarray as xr

import losstopo
from losstopo.cli import main
from losstopo.errors import LosstopoError
from losstopo.io.topology_file import tree_dataset
from losstopo.landscape.directions import hessian_directions
from losstopo.problems.loading import load_objective

PUBLIC = [
    "Objective",
    "hessian_eigenpairs",
    "normalized_directions",
    "random_directions",
    "direction_between",
    "sample_landscape",
    "merge_tree",
    "landscape_profile",
    "plot_profile",
]


def test_public_api_is_exported_and_documented():
    for name in PUBLIC:
        assert name in losstopo.__all__
        assert getattr(losstopo, name).__doc__
        assert name in losstopo.__doc__


@pytest.fixture(scope="module")
def pinn_run(tmp_path_factory, small_pinn_with_hessian):
    out = tmp_path_factory.mktemp("run")
    small_pinn_with_hessian(out, seed=1, iterations=25)
    assert (
        main(
            [
                "landscape",
                str(out / "model.pt"),
                "--directions",
                str(out / "hessian.nc"),
                "--dims",
                "2",
                "--resolution",
                "9",
                "--distance",
                "0.3",
                "--device",
                "cpu",
                "--out",
                str(out / "landscape_2d.nc"),
            ]
        )
        == 0
    )
    assert (
        main(["topology", str(out / "landscape_2d.nc"), "--out", str(out / "topology_2d.nc")]) == 0
    )
    return out


def test_api_and_cli_give_identical_numbers(pinn_run):
    cpu = torch.device("cpu")
    objective64 = load_objective(pinn_run / "model.pt", cpu, torch.float64)
    eigen = losstopo.hessian_eigenpairs(objective64, 3)
    hessian = xr.open_dataset(pinn_run / "hessian.nc")
    np.testing.assert_array_equal(eigen.eigenvalues, hessian.eigenvalues.values)
    np.testing.assert_array_equal(eigen.eigenvectors.numpy(), hessian.eigenvectors.values)

    objective = load_objective(pinn_run / "model.pt", cpu, torch.float32)
    directions, eigenvalues = hessian_directions(hessian, objective, 2, "layer")
    api = losstopo.sample_landscape(
        objective,
        directions,
        resolution=9,
        distance=0.3,
        eigenvalues=eigenvalues,
        normalization="layer",
    )
    cli = xr.open_dataset(pinn_run / "landscape_2d.nc")
    np.testing.assert_array_equal(api["loss"].values, cli["loss"].values)
    np.testing.assert_array_equal(api["a0"].values, cli["a0"].values)
    for key in ("center_loss", "theta_norm", "direction_gram", "n_nonfinite", "dims"):
        assert np.all(api.attrs[key] == cli.attrs[key]), key

    tree = losstopo.merge_tree(cli)
    topology = xr.open_dataset(pinn_run / "topology_2d.nc")
    np.testing.assert_array_equal(tree.node_vertex, topology.node_vertex.values)
    np.testing.assert_array_equal(tree.node_parent, topology.node_parent.values)
    np.testing.assert_array_equal(tree.segmentation.reshape(9, 9), topology.segmentation.values)
    np.testing.assert_array_equal(tree.pairs.birth.values, topology.birth.values)
    converted = tree_dataset(tree)
    np.testing.assert_array_equal(converted.node_size.values, topology.node_size.values)


def classifier_objective(seed: int = 0) -> losstopo.Objective:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 4 * 4, 3),
    ).double()
    inputs = torch.randn(8, 1, 6, 6, dtype=torch.float64)
    targets = torch.randint(0, 3, (8,))
    return losstopo.Objective.from_module(model, F.cross_entropy, (inputs, targets))


def test_objective_from_module_is_the_module_loss_in_eval_mode():
    torch.manual_seed(1)
    model = torch.nn.Sequential(
        torch.nn.Linear(3, 5), torch.nn.BatchNorm1d(5), torch.nn.Tanh(), torch.nn.Linear(5, 2)
    ).double()
    inputs, targets = torch.randn(7, 3, dtype=torch.float64), torch.tensor([0, 1] * 3 + [0])
    model.train()
    model(inputs * 3)  # non-trivial running statistics
    objective = losstopo.Objective.from_module(model, F.cross_entropy, (inputs, targets))
    assert not model.training
    running = model[1].running_mean.clone()
    with torch.no_grad():
        expected = F.cross_entropy(model(inputs), targets)
    assert float(objective()) == float(expected)
    assert torch.equal(model[1].running_mean, running)
    assert objective.n_parameters == sum(p.numel() for p in model.parameters())
    shifted = objective.unflatten(objective.theta() + 0.1)
    assert float(objective(shifted)) != float(expected)


def test_random_directions_are_seeded_and_filter_normalised():
    objective = classifier_objective()
    a = losstopo.random_directions(objective, 2, seed=3)
    b = losstopo.random_directions(objective, 2, seed=3)
    c = losstopo.random_directions(objective, 2, seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c)
    for row in a:
        direction = objective.unflatten(row)
        for name, theta in objective.params.items():
            d = direction[name]
            if theta.dim() <= 1:
                assert torch.all(d == 0), name  # biases and BatchNorm stay at θ
            else:
                for i in range(theta.shape[0]):  # per filter: ‖d_i‖ = ‖θ_i‖
                    assert float(d[i].norm()) == pytest.approx(float(theta[i].norm()))
    kept = losstopo.random_directions(objective, 1, seed=3, bias_bn="keep")
    bias = objective.unflatten(kept[0])["0.bias"]
    assert float(bias.norm()) == pytest.approx(float(objective.params["0.bias"].norm()))
    with pytest.raises(LosstopoError, match="bias_bn"):
        losstopo.random_directions(objective, 1, bias_bn="drop")


def test_direction_between_two_parameter_sets():
    objective = classifier_objective()
    other = {name: p + 0.5 for name, p in objective.params.items()}
    direction = losstopo.direction_between(objective, other)
    np.testing.assert_allclose(direction.numpy(), 0.5)
    scaled = losstopo.normalized_directions(objective, direction[None], normalization="none")
    assert float(scaled[0].norm()) == pytest.approx(float(objective.theta().norm()))
    ds = losstopo.sample_landscape(objective, scaled, resolution=5, distance=0.1)
    assert ds["loss"].shape == (5,) and ds["loss"].values[2] == pytest.approx(float(objective()))


def test_profile_and_plot_from_the_api(tmp_path):
    import matplotlib.pyplot as plt

    field = np.add.outer(np.cos(np.linspace(0, 4 * np.pi, 30)), np.linspace(0, 1, 30) ** 2)
    tree = losstopo.merge_tree(field, connectivity="axis")
    profile = losstopo.landscape_profile(tree)
    assert len(profile.minima) == tree.n_minima
    ax = losstopo.plot_profile(tree)
    ax.figure.savefig(tmp_path / "p.png")
    plt.close(ax.figure)
    assert (tmp_path / "p.png").stat().st_size > 5000
    simplified = losstopo.merge_tree(
        field, connectivity="axis", persistence_threshold=0.8, relative=True
    )
    assert simplified.n_minima < tree.n_minima
