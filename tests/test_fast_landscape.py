"""The convection PINN's subspace fast path for landscapes against the generic paths.

The fast path precomputes the first layer's pre-activations along the directions and builds
all later weights of a chunk with one GEMM; it must give the same losses as the plain
objective at every point θ + αD, to float tolerance.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch.func import vmap

from losstopo.landscape.evaluation import LandscapeEvaluator, evaluate_alphas, sample_landscape
from losstopo.landscape.grid import grid_alphas, grid_axes
from losstopo.objective import Objective
from losstopo.problems.convection.config import PINNConfig
from losstopo.problems.convection.mlp import MLP, SubspaceMLP, stacked_forward, tanh_
from losstopo.problems.convection.training import write_pinn_run
from losstopo.problems.loading import load_objective

F64 = torch.float64
TOLERANCE = {torch.float32: 2e-5, F64: 1e-12}


@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("pinn")
    config = PINNConfig(beta=3.0, lr=1.0, iterations=40, n_f=30, hidden=(12, 9, 12))
    write_pinn_run(config, 1, torch.device("cpu"), out)
    return out / "model.pt"


def directions(objective: Objective, n: int, seed: int) -> torch.Tensor:
    """Random directions scaled per tensor to θ's norms (as layer normalisation does)."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n):
        raw = torch.randn(objective.n_parameters, generator=g, dtype=F64)
        parts = objective.unflatten(raw.to(objective.theta().dtype))
        parts = {k: d * objective.params[k].norm() / d.norm() for k, d in parts.items()}
        rows.append(objective.flatten(parts))
    return torch.stack(rows)


def plain_losses(objective: Objective, dirs: torch.Tensor, alphas: np.ndarray) -> np.ndarray:
    """The objective's own ``loss_fn`` at each point θ + αD, one call per point."""
    theta = objective.theta()
    a = torch.as_tensor(alphas, dtype=theta.dtype)
    with torch.no_grad():
        return np.array(
            [float(objective.loss_fn(objective.unflatten(theta + row @ dirs))) for row in a]
        )


@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_fast_path_equals_plain_objective_at_random_points(trained_checkpoint, dtype, dims):
    objective = load_objective(trained_checkpoint, torch.device("cpu"), dtype)
    assert objective.subspace_loss_fn is not None
    dirs = directions(objective, dims, seed=dims)
    evaluator = LandscapeEvaluator(objective, dirs)
    assert evaluator._along is not None  # the fast path is the one under test
    rng = np.random.default_rng(dims)
    alphas = rng.uniform(-1.0, 1.0, size=(37, dims))
    alphas[0] = 0.0
    fast = evaluator.batched(alphas)
    rtol = TOLERANCE[dtype]
    np.testing.assert_allclose(fast, plain_losses(objective, dirs, alphas), rtol=rtol)
    np.testing.assert_allclose(fast, evaluator.generic(alphas), rtol=rtol)
    np.testing.assert_allclose(fast, evaluator.per_point(alphas), rtol=rtol)
    with torch.no_grad():
        generic = vmap(lambda p: objective.loss_fn(objective.unflatten(p)))(
            evaluator.points(alphas)
        )
    np.testing.assert_allclose(fast, generic.double().numpy(), rtol=rtol)
    assert fast[0] == pytest.approx(float(objective()), rel=rtol)


def test_fast_path_differs_when_a_direction_is_perturbed(trained_checkpoint):
    """The comparison above can fail: a wrong direction changes the values."""
    objective = load_objective(trained_checkpoint, torch.device("cpu"), F64)
    dirs = directions(objective, 2, seed=0)
    alphas = np.array([[0.5, -0.25], [1.0, 1.0]])
    fast = LandscapeEvaluator(objective, dirs).batched(alphas)
    bent = dirs.clone()
    bent[1, 0] += 0.1  # first weight of the first layer only
    other = LandscapeEvaluator(objective, bent).batched(alphas)
    assert np.all(np.abs(fast - other) > 1e-9 * np.abs(fast))
    np.testing.assert_allclose(other, plain_losses(objective, bent, alphas), rtol=1e-12)


@pytest.mark.parametrize("chunk", [1, 4, 25])
def test_fast_grid_matches_per_point_loop_and_tiles_bitwise(trained_checkpoint, chunk):
    objective = load_objective(trained_checkpoint, torch.device("cpu"), torch.float32)
    dirs = directions(objective, 2, seed=5)
    full = sample_landscape(objective, dirs, 7, 0.6, chunk_size=chunk, show_progress=False)
    evaluator = LandscapeEvaluator(objective, dirs)
    alphas = grid_alphas(grid_axes(2, 7, 0.6))
    np.testing.assert_allclose(
        full.loss.ravel(), evaluator.per_point(alphas), rtol=TOLERANCE[torch.float32]
    )
    tile = sample_landscape(
        objective, dirs, 7, 0.6, chunk_size=chunk, show_progress=False, slabs=range(2, 5)
    )
    np.testing.assert_array_equal(tile.loss, full.loss[2:5])


def test_evaluate_alphas_uses_the_fast_path_far_from_theta(trained_checkpoint):
    """Large displacements (saturated tanh units) stay exact too."""
    objective = load_objective(trained_checkpoint, torch.device("cpu"), F64)
    dirs = directions(objective, 2, seed=9)
    alphas = np.array([[3.0, -4.0], [-6.0, 2.5], [10.0, 10.0]])
    values, _, _, _ = evaluate_alphas(objective, dirs, alphas, show_progress=False)
    np.testing.assert_allclose(values, plain_losses(objective, dirs, alphas), rtol=1e-12)


def test_subspace_mlp_equals_stacked_forward_on_random_network():
    """Output and input tangent of the subspace forward against the stacked forward."""
    torch.manual_seed(3)
    model = MLP(2, [6, 5, 7], 1).double()
    theta = {k: v.detach().clone() for k, v in model.named_parameters()}
    dirs = {k: torch.randn(3, *v.shape, dtype=F64) for k, v in theta.items()}
    x = torch.rand(11, 2, dtype=F64)
    tangent = torch.randn(4, 2, dtype=F64)
    alphas = torch.randn(5, 3, dtype=F64)
    values, tangents = SubspaceMLP(model, theta, dirs, x, 4, tangent)(alphas)
    stacked = {k: theta[k] + torch.einsum("mn,n...->m...", alphas, d) for k, d in dirs.items()}
    u, du = stacked_forward(model, stacked, x, 4, tangent)
    torch.testing.assert_close(values[:, 0], u[..., 0], rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(tangents[:, 0], du[..., 0], rtol=1e-12, atol=1e-13)


@given(
    st.lists(st.integers(1, 6), min_size=1, max_size=3),
    st.lists(st.integers(1, 7), min_size=1, max_size=4),
    st.integers(0, 4),
)
def test_subspace_mlp_reuses_its_buffers_across_stack_sizes(widths, stacks, tangent_rows):
    """Calls with changing stack sizes on one instance (its buffers are reused between
    calls and between layers of different widths) each equal the stacked forward, and the
    results of earlier calls are not overwritten by later ones."""
    generator = torch.Generator().manual_seed(len(widths) * 10 + tangent_rows)
    model = MLP(2, widths, 1).double()
    theta = {
        k: torch.randn(v.shape, generator=generator, dtype=F64) for k, v in model.named_parameters()
    }
    dirs = {k: torch.randn(2, *v.shape, generator=generator, dtype=F64) for k, v in theta.items()}
    x = torch.rand(5, 2, generator=generator, dtype=F64)
    tangent = torch.randn(tangent_rows, 2, generator=generator, dtype=F64)
    forward = SubspaceMLP(model, theta, dirs, x, tangent_rows, tangent)
    results = []
    for stack in stacks:
        alphas = torch.randn(stack, 2, generator=generator, dtype=F64)
        values, tangents = forward(alphas)
        results.append((alphas, values, tangents, values.clone(), tangents.clone()))
    for alphas, values, tangents, values_copy, tangents_copy in results:
        stacked = {k: theta[k] + torch.einsum("mn,n...->m...", alphas, d) for k, d in dirs.items()}
        u, du = stacked_forward(model, stacked, x, tangent_rows, tangent if tangent_rows else None)
        torch.testing.assert_close(values[:, 0], u[..., 0], rtol=1e-12, atol=1e-13)
        torch.testing.assert_close(values, values_copy, rtol=0, atol=0)
        torch.testing.assert_close(tangents, tangents_copy, rtol=0, atol=0)
        if tangent_rows:
            torch.testing.assert_close(tangents[:, 0], du[..., 0], rtol=1e-12, atol=1e-13)
        else:
            assert tangents.shape == (len(alphas), 1, 0)


def test_subspace_mlp_refuses_other_activations():
    model = MLP(2, [4, 4], 1, activation="relu").double()
    theta = {k: v.detach() for k, v in model.named_parameters()}
    dirs = {k: v[None] for k, v in theta.items()}
    x = torch.zeros(3, 2, dtype=F64)
    with pytest.raises(ValueError, match="tanh"):
        SubspaceMLP(model, theta, dirs, x, 1, torch.ones(1, 2, dtype=F64))


@given(
    hnp.arrays(
        st.sampled_from([np.float32, np.float64]),
        hnp.array_shapes(min_dims=2, max_dims=3, max_side=7),
        elements=st.floats(-25.0, 25.0, width=32),
    ),
    st.integers(0, 7),
)
def test_tanh_in_place_matches_math_tanh_on_strided_views(values, columns):
    """The in-place tanh of the landscape kernel (numpy's on CPU) against ``math.tanh``,
    within 2 ulp of the dtype, on a strided view; the rest of the memory is untouched."""
    tensor = torch.from_numpy(values.copy())
    view = tensor[..., :columns]
    expected = np.vectorize(math.tanh, otypes=[np.float64])(
        values[..., :columns].astype(np.float64)
    )
    assert tanh_(view) is view
    ulp = np.finfo(values.dtype).eps
    np.testing.assert_allclose(view.numpy(), expected, rtol=2 * ulp, atol=ulp * 1e-3)
    np.testing.assert_array_equal(tensor[..., columns:].numpy(), values[..., columns:])


def test_tanh_in_place_keeps_every_derivative():
    """Under autograd, forward-mode tangents and torch.func transforms torch's tanh runs, so
    each derivative is 1 − tanh² (and vmap maps it)."""
    grid = np.linspace(-3.0, 3.0, 13)
    expected = 1 - np.tanh(grid) ** 2
    x = torch.tensor(grid, requires_grad=True)
    tanh_(x * 1.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-14)
    x = torch.tensor(grid)
    _, tangent = torch.func.jvp(lambda v: tanh_(v * 1.0), (x,), (torch.ones_like(x),))
    np.testing.assert_allclose(tangent.numpy(), expected, rtol=1e-14)
    with torch.autograd.forward_ad.dual_level():
        dual = torch.autograd.forward_ad.make_dual(x.clone(), torch.ones_like(x))
        tangent = torch.autograd.forward_ad.unpack_dual(tanh_(dual * 1.0)).tangent
    np.testing.assert_allclose(tangent.numpy(), expected, rtol=1e-14)
    mapped = torch.func.vmap(lambda v: tanh_(v * 1.0))(x.reshape(13, 1))
    np.testing.assert_allclose(mapped.numpy().ravel(), np.tanh(grid), rtol=1e-15)
