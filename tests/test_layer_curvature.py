"""Per-layer curvature (``losstopo.layer_curvature``) against the diagonal blocks of a small
MLP's dense float64 Hessian: top eigenvalues to eigensolver precision, traces within their
standard errors, and the per-layer traces adding up to the whole-Hessian estimate."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losstopo
from losstopo.errors import LosstopoError
from losstopo.objective import Objective


@pytest.fixture(scope="module")
def mlp() -> tuple[Objective, np.ndarray, dict[str, np.ndarray]]:
    """A tanh MLP 5 → 10 → 1 (tensors of 50, 10, 10 and 1 parameters) on a regression
    batch, its dense Hessian (``torch.autograd.functional.hessian``) and each tensor's
    flat coordinates."""
    torch.manual_seed(3)
    model = torch.nn.Sequential(
        torch.nn.Linear(5, 10), torch.nn.Tanh(), torch.nn.Linear(10, 1)
    ).double()
    inputs = torch.randn(40, 5, dtype=torch.float64)
    targets = torch.sin(inputs.sum(dim=1, keepdim=True))
    objective = Objective.from_module(model, F.mse_loss, (inputs, targets))
    theta = objective.theta()
    dense = torch.autograd.functional.hessian(lambda v: objective(objective.unflatten(v)), theta)
    coordinates, start = {}, 0
    for name, p in objective.params.items():
        coordinates[name] = np.arange(start, start + p.numel())
        start += p.numel()
    return objective, dense.numpy(), coordinates


def _block(dense: np.ndarray, index: np.ndarray) -> np.ndarray:
    return dense[np.ix_(index, index)]


def _top(block: np.ndarray, which: str) -> float:
    values = np.linalg.eigvalsh(block)
    return float(values[np.argmax(np.abs(values))] if which == "LM" else values[-1])


def _negated(objective: Objective) -> Objective:
    """The objective of −L: its Hessian is −H, whose blocks' largest-magnitude eigenvalues
    are negative where H's are positive."""
    loss = objective.loss_fn
    return Objective(objective.model, objective.params, lambda p: -loss(p), "minus the loss")


@pytest.mark.parametrize("sign", [1, -1])
@pytest.mark.parametrize("which", ["LM", "LA"])
def test_top_eigenvalues_are_those_of_the_dense_diagonal_blocks(mlp, which, sign):
    objective, dense, coordinates = mlp
    if sign < 0:  # LM and LA then differ: the blocks are indefinite (first layer) or ≤ 0
        objective, dense = _negated(objective), -dense
    result = losstopo.layer_curvature(objective, which=which, tol=1e-10, max_hvps=400, probes=4)
    assert result.names == list(coordinates)
    np.testing.assert_array_equal(result.sizes, [50, 10, 10, 1])
    expected = [_top(_block(dense, index), which) for index in coordinates.values()]
    np.testing.assert_allclose(result.top_eigenvalues, expected, rtol=1e-6)
    assert result.top_converged.all() and (result.top_residuals <= 1e-10).all()
    assert result.top_n_hvps[-1] == 1  # a single coordinate: its entry, one product
    assert result.n_hvps == 4 + int(result.top_n_hvps.sum())


def test_the_oracle_cases_tell_lm_from_la(mlp):
    """On −H the blocks' largest-magnitude and largest eigenvalues differ (an indefinite
    first layer), so the test above checks that ``which`` is honoured."""
    _, dense, coordinates = mlp
    block = -_block(dense, coordinates["0.weight"])
    assert _top(block, "LM") < 0 < _top(block, "LA")


def test_traces_are_within_three_standard_errors_of_the_blocks_traces(mlp):
    objective, dense, coordinates = mlp
    probes = 400
    result = losstopo.layer_curvature(objective, seed=5, probes=probes, max_hvps=60)
    exact = np.array([np.trace(_block(dense, index)) for index in coordinates.values()])
    assert (np.abs(result.traces - exact) <= 3 * result.trace_standard_errors).all()
    # each sample's variance is Σ_{i<j in l} 4 H_ij² + Σ_{i in l, j not in l} H_ij²
    for column, index in enumerate(coordinates.values()):
        inside = _block(dense, index)
        outside = np.delete(dense[index], index, axis=1)
        variance = np.sum(np.triu(inside, 1) ** 2) * 4 + np.sum(outside**2)
        predicted = np.sqrt(variance / probes)
        assert result.trace_standard_errors[column] == pytest.approx(predicted, rel=0.2)
    np.testing.assert_allclose(result.trace_samples.mean(axis=0), result.traces, rtol=1e-12)


def test_layer_traces_add_up_to_the_whole_trace_of_the_same_probes(mlp):
    objective, dense, _ = mlp
    probes, seed = 60, 11
    result = losstopo.layer_curvature(objective, seed=seed, probes=probes, max_hvps=60)
    whole = losstopo.hessian_trace(objective, seed=seed, max_hvps=probes, rel_se_target=0.0)
    assert whole.n_probes == probes
    # the same probes: each probe's per-layer samples sum to its whole-Hessian sample
    np.testing.assert_allclose(result.trace_samples.sum(axis=1), whole.samples, rtol=1e-10)
    total = float(result.traces.sum())
    assert total == pytest.approx(whole.estimate, rel=1e-10)
    combined = float(np.sqrt(np.sum(result.trace_standard_errors**2) + whole.standard_error**2))
    assert abs(total - whole.estimate) <= 3 * combined
    assert abs(total - np.trace(dense)) <= 3 * whole.standard_error


def test_modules_and_named_groups_are_the_blocks_of_their_coordinates(mlp):
    objective, dense, coordinates = mlp
    by_module = losstopo.layer_curvature(objective, "module", tol=1e-10, max_hvps=400, probes=4)
    assert by_module.names == ["0", "2"]
    assert by_module.parameters == [("0.weight", "0.bias"), ("2.weight", "2.bias")]
    first = np.concatenate([coordinates["0.weight"], coordinates["0.bias"]])
    assert by_module.top_eigenvalues[0] == pytest.approx(_top(_block(dense, first), "LM"), 1e-6)
    # a group of tensors that are not neighbours in θ, listed out of θ's order
    groups = {"weights": ["2.weight", "0.weight"], "output bias": ["2.bias"]}
    named = losstopo.layer_curvature(objective, groups, tol=1e-10, max_hvps=400, probes=4)
    weights = np.concatenate([coordinates["0.weight"], coordinates["2.weight"]])
    assert named.parameters[0] == ("0.weight", "2.weight") and named.sizes[0] == 60
    assert named.top_eigenvalues[0] == pytest.approx(_top(_block(dense, weights), "LM"), 1e-6)
    bias = coordinates["2.bias"]
    assert named.top_eigenvalues[1] == pytest.approx(dense[bias[0], bias[0]], rel=1e-12)


def test_the_same_seed_gives_the_same_numbers(mlp):
    objective, _, _ = mlp
    first = losstopo.layer_curvature(objective, seed=2, probes=6, max_hvps=30)
    second = losstopo.layer_curvature(objective, seed=2, probes=6, max_hvps=30)
    np.testing.assert_array_equal(first.trace_samples, second.trace_samples)
    np.testing.assert_array_equal(first.top_eigenvalues, second.top_eigenvalues)


@pytest.mark.parametrize(
    ("groups", "options", "needle"),
    [
        ({"a": ["0.weight", "nope"]}, {}, "group 'a' names 'nope', which is not a parameter"),
        ({"a": ["0.weight"], "b": ["0.weight"]}, {}, "'0.weight' is in both group 'a' and 'b'"),
        ({"a": ["0.bias", "0.bias"]}, {}, "group 'a' lists parameter '0.bias' twice"),
        ({}, {}, "empty mapping"),
        ({"a": []}, {}, "group 'a' must list one or more parameter names"),
        ({"a": "0.weight"}, {}, "group 'a' must list one or more parameter names"),
        ("layer", {}, "groups must be one of tensor, module"),
        (None, {"probes": 1}, "probes must be >= 2"),
        (None, {"tol": float("nan")}, "tol must be a finite number > 0, got nan"),
        (None, {"which": "SA"}, "which must be one of LM, LA"),
        (None, {"max_hvps": 0}, "max_hvps must be >= 1"),
        (None, {"seed": -1}, "seed must be >= 0"),
    ],
)
def test_bad_requests_are_one_line(mlp, groups, options, needle):
    objective, _, _ = mlp
    with pytest.raises(LosstopoError) as raised:
        losstopo.layer_curvature(objective, groups, **options)
    assert needle in str(raised.value) and "\n" not in str(raised.value)
