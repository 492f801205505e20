"""Every HVP mode against a dense Hessian, and the rule that picks one."""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call

from losstopo.hessian.operator import AUTOGRAD, FORWARD, FUNC_REVERSE, HVPOperator
from losstopo.hessian.solvers import lanczos, start_vector
from losstopo.objective import Objective
from losstopo.problems.convection.mlp import MLP
from losstopo.problems.convection.physics import loss_terms, make_data

F64 = torch.float64


def pinn_objective() -> Objective:
    torch.manual_seed(1)
    model = MLP(2, [6, 6], 1).double()
    data = make_data(2.0, n_f=20, dtype=F64)
    params = {k: v.detach().clone() for k, v in model.named_parameters()}

    def loss_fn(p):
        return loss_terms(lambda xt: functional_call(model, p, (xt,)), data)["loss"]

    return Objective(model, params, loss_fn, "tiny PINN")


def mse_objective() -> Objective:
    torch.manual_seed(2)
    model = torch.nn.Sequential(torch.nn.Linear(2, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1))
    x = torch.randn(16, 2, dtype=F64)
    return Objective.from_module(model.double(), torch.nn.functional.mse_loss, (x, x[:, :1]))


def dense(objective: Objective) -> torch.Tensor:
    theta = objective.theta()
    return torch.autograd.functional.hessian(lambda v: objective(objective.unflatten(v)), theta)


def assert_products_equal_dense(hvp: HVPOperator, h: torch.Tensor) -> None:
    """Three products with seeded start vectors against the dense Hessian."""
    for seed in range(3):
        v = start_vector(hvp.n, seed, F64, torch.device("cpu"))
        torch.testing.assert_close(hvp(v), h @ v, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("make", [pinn_objective, mse_objective])
@pytest.mark.parametrize("mode", ["auto", "autograd", "forward", "func-reverse"])
def test_each_mode_equals_dense_hessian(make, mode):
    objective = make()
    h = dense(objective)
    hvp = HVPOperator(objective, mode=mode)
    if mode == "forward" and make is mse_objective:
        # torch 2.13 has no forward-mode derivative of mse_loss's backward: an explicitly
        # requested mode raises instead of silently switching
        with pytest.raises(RuntimeError):
            hvp(start_vector(objective.n_parameters, 0, F64, torch.device("cpu")))
        return
    assert_products_equal_dense(hvp, h)
    assert hvp.count == 3
    if mode in ("auto", "autograd"):
        assert hvp.mode == AUTOGRAD
    if mode == "forward" and make is pinn_objective:
        assert hvp.mode == FORWARD


def test_retained_graph_does_not_leak_between_vectors():
    """Products are linear in v: the retained graph gives H(a u + b w) = a Hu + b Hw."""
    objective = pinn_objective()
    hvp = HVPOperator(objective)
    u = start_vector(objective.n_parameters, 0, F64, torch.device("cpu"))
    w = start_vector(objective.n_parameters, 1, F64, torch.device("cpu"))
    torch.testing.assert_close(hvp(2 * u - 3 * w), 2 * hvp(u) - 3 * hvp(w))


def test_lanczos_records_the_mode_and_converges():
    objective = pinn_objective()
    result = lanczos(HVPOperator(objective), 3, tol=1e-6, show_progress=False)
    assert result.extra["hvp_mode"] == AUTOGRAD
    assert result.residuals.max() <= 1e-6
    exact = torch.linalg.eigvalsh(dense(objective))
    top = exact[exact.abs().argsort(descending=True)][:3].numpy()
    assert result.eigenvalues == pytest.approx(top, rel=1e-8)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (pinn_objective, f"{FORWARD} (reverse-over-reverse failed: the derivative"),
        (mse_objective, f"{FUNC_REVERSE} (forward mode failed: "),
    ],
)
def test_auto_falls_back_in_order_and_records_why(monkeypatch, make, expected):
    """Where the retained-graph product raises (a loss autograd cannot differentiate twice,
    simulated here), ``auto`` takes forward-over-reverse; where that has no formula either
    (``mse_loss``'s backward, for real), ``torch.func``'s reverse-over-reverse. The products
    still equal the dense Hessian, and the mode names each failure."""

    def no_double_backward(self, tangent):
        raise RuntimeError("the derivative of this backward is not implemented")

    monkeypatch.setattr(HVPOperator, "_autograd_hvp", no_double_backward)
    objective = make()
    h = dense(objective)
    hvp = HVPOperator(objective)
    assert_products_equal_dense(hvp, h)
    assert hvp.mode.startswith(expected)
    assert hvp.count == 3


def test_a_later_failure_is_an_error_not_a_fallback(monkeypatch):
    """Once a mode has worked, a failure is a real error (raised), never a silent switch."""
    objective = pinn_objective()
    hvp = HVPOperator(objective)
    v = start_vector(objective.n_parameters, 0, F64, torch.device("cpu"))
    hvp(v)

    def broken(self, tangent):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(HVPOperator, "_autograd_hvp", broken)
    with pytest.raises(RuntimeError, match="out of memory"):
        hvp(v)
    assert hvp.mode == AUTOGRAD and hvp.count == 1
