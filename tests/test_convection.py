"""Convection PINN science against closed-form oracles."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from losstopo.problems.convection.config import PINNConfig, build_model
from losstopo.problems.convection.mlp import MLP
from losstopo.problems.convection.physics import (
    NT,
    NX,
    collocation_points,
    exact_solution,
    grid_axes,
    loss_terms,
    make_data,
    solution_errors,
)

F64 = torch.float64


def exact_u(beta: float):
    """The exact solution as a network-free function of (x, t) rows."""
    return lambda xt: torch.sin(xt[:, 0:1] - beta * xt[:, 1:2])


@settings(max_examples=25, deadline=None)
@given(beta=st.floats(min_value=0.0, max_value=100.0))
def test_exact_solution_has_zero_loss(beta):
    data = make_data(beta, n_f=100, dtype=F64)
    terms = loss_terms(exact_u(beta), data)
    assert float(terms["loss_ic"]) < 1e-28
    # sin(-βt) and sin(2π - βt) agree to rounding of 2π
    assert float(terms["loss_bc"]) < 1e-26
    # u_t + β u_x = -β cos(x - βt) + β cos(x - βt) = 0 exactly up to rounding
    assert float(terms["loss_residual"]) < 1e-24 * max(1.0, beta**2)
    assert float(terms["loss"]) == pytest.approx(
        float(terms["loss_ic"] + terms["loss_bc"] + terms["loss_residual"]), abs=1e-30
    )


@settings(max_examples=20, deadline=None)
@given(
    beta=st.floats(min_value=0.0, max_value=50.0),
    c=st.floats(min_value=-3.0, max_value=3.0),
)
def test_residual_term_of_perturbed_solution(beta, c):
    """u = sin(x − βt) + c t satisfies IC and BC, and u_t + β u_x = c everywhere."""
    data = make_data(beta, dtype=F64)

    def u(xt):
        return torch.sin(xt[:, 0:1] - beta * xt[:, 1:2]) + c * xt[:, 1:2]

    terms = loss_terms(u, data)
    assert float(terms["loss_ic"]) < 1e-28
    assert float(terms["loss_bc"]) < 1e-26
    assert float(terms["loss_residual"]) == pytest.approx(c * c, rel=1e-12, abs=1e-24)


def test_each_loss_term_of_a_linear_function():
    """u = x: IC = mean((x − sin x)²), BC = (0 − 2π)², residual = β² (u_x = 1, u_t = 0)."""
    beta = 7.0
    data = make_data(beta, dtype=F64)
    terms = loss_terms(lambda xt: xt[:, 0:1], data)
    x, _ = grid_axes()
    assert float(terms["loss_ic"]) == pytest.approx(np.mean((x - np.sin(x)) ** 2), rel=1e-12)
    assert float(terms["loss_bc"]) == pytest.approx((2 * math.pi) ** 2, rel=1e-12)
    assert float(terms["loss_residual"]) == pytest.approx(beta**2, rel=1e-12)


def test_exact_solution_formula():
    x = np.array([0.0, 1.0, 2.0])
    t = np.array([0.0, 0.5, 1.0])
    np.testing.assert_allclose(exact_solution(x, t, 3.0), np.sin(x - 3.0 * t))
    np.testing.assert_allclose(
        exact_solution(torch.tensor(x), torch.tensor(t), 3.0).numpy(), np.sin(x - 3.0 * t)
    )


def test_grids_match_the_paper():
    data = make_data(5.0, n_f=100)
    x, t = grid_axes()
    assert x.shape == (NX,) and t.shape == (NT,)
    assert x[0] == 0.0 and x[-1] < 2 * math.pi  # endpoint excluded
    assert t[0] == 0.0 and t[-1] == 1.0
    assert data.x_test.shape == (NX * NT, 2) == (25_600, 2)
    assert data.x_ic.shape == (256, 2) and torch.all(data.x_ic[:, 1] == 0)
    assert data.x_lb.shape == data.x_ub.shape == (100, 2)
    assert torch.all(data.x_lb[:, 0] == 0)
    assert torch.allclose(data.x_ub[:, 0], torch.tensor(2 * math.pi, dtype=torch.float32))
    np.testing.assert_allclose(
        data.u_test.numpy().ravel(),
        np.sin(data.x_test[:, 0].numpy() - 5.0 * data.x_test[:, 1].numpy()),
        atol=1e-6,
    )


def test_collocation_set_is_fixed_interior_and_distinct():
    x, t = grid_axes()
    a = collocation_points(100, seed=0)
    assert a.shape == (100, 2)
    assert len({tuple(p) for p in a}) == 100
    assert np.all(a[:, 0] > 0) and np.all(a[:, 1] > 0)
    assert np.all(np.isin(a[:, 0], x)) and np.all(np.isin(a[:, 1], t))
    np.testing.assert_array_equal(a, collocation_points(100, seed=0))
    assert not np.array_equal(a, collocation_points(100, seed=1))
    # the same collocation set serves every beta
    np.testing.assert_array_equal(make_data(1.0).x_f.numpy(), make_data(70.0).x_f.numpy())


def test_network_has_7851_parameters():
    model = build_model(PINNConfig(beta=1.0, lr=1.0))
    assert sum(p.numel() for p in model.parameters()) == 7851
    names = [name for name, _ in model.named_parameters()]
    assert names[0] == "layers.layer_0.weight" and names[-1] == "layers.layer_4.bias"
    assert isinstance(model, MLP)


def test_network_residual_matches_autograd():
    """The jvp residual equals u_t + β u_x from reverse-mode autograd."""
    torch.manual_seed(0)
    beta = 4.0
    model = MLP(2, [20, 20], 1).double()
    data = make_data(beta, dtype=F64)
    xf = data.x_f.clone().requires_grad_(True)
    u = model(xf)
    (grad,) = torch.autograd.grad(u.sum(), xf)
    expected = torch.mean((grad[:, 1] + beta * grad[:, 0]) ** 2)
    assert float(loss_terms(model, data)["loss_residual"].detach()) == pytest.approx(
        float(expected), rel=1e-12
    )


def test_error_metrics_by_hand():
    u_true = np.array([1.0, -2.0, 2.0])
    u_pred = np.array([1.0, -1.0, 2.0])
    errors = solution_errors(u_pred, u_true)
    assert errors["relative_l2_error"] == pytest.approx(1.0 / 3.0)
    assert errors["abs_error"] == pytest.approx(1.0 / 3.0)
    assert errors["linf_relative_error"] == pytest.approx(0.5)
    zero = solution_errors(np.zeros(3), u_true)
    assert zero["relative_l2_error"] == pytest.approx(1.0)
    assert zero["linf_relative_error"] == pytest.approx(1.0)


@settings(max_examples=30, deadline=None)
@given(eps=st.floats(min_value=-0.9, max_value=0.9))
def test_relative_errors_of_a_scaled_solution(eps):
    x, t = np.meshgrid(*grid_axes())
    u = exact_solution(x, t, 3.0)
    errors = solution_errors((1 + eps) * u, u)
    assert errors["relative_l2_error"] == pytest.approx(abs(eps), abs=1e-12)
    assert errors["linf_relative_error"] == pytest.approx(abs(eps), abs=1e-12)
    assert errors["abs_error"] == pytest.approx(abs(eps) * np.mean(np.abs(u)), abs=1e-12)
