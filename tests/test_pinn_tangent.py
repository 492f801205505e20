"""The PINN's written-out input tangent equals forward-mode autodiff, and the loss built on
it equals the ``torch.func.jvp`` loss with its gradient and Hessian-vector products."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch.func import functional_call, grad, jvp, vmap

from losstopo.hessian.operator import HVPOperator
from losstopo.objective import Objective
from losstopo.problems.convection.mlp import MLP
from losstopo.problems.convection.physics import loss_terms, make_data


@pytest.mark.parametrize("activation", ["tanh", "relu", "gelu"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_tangent_equals_jvp_bit_for_bit(activation, dtype):
    torch.manual_seed(0)
    model = MLP(2, [20, 20, 20], 1, activation).to(dtype)
    x = torch.randn(64, 2, dtype=dtype)
    dx = torch.randn(64, 2, dtype=dtype)
    expected_u, expected_du = jvp(model, (x,), (dx,))
    u, du = model(x, dx)
    assert torch.equal(u, expected_u)
    assert torch.equal(du, expected_du)
    assert torch.equal(model(x), expected_u)


def _objectives(
    beta: float, dtype: torch.dtype, activation: str = "tanh"
) -> tuple[Objective, Objective]:
    torch.manual_seed(1)
    model = MLP(2, [16, 16, 16], 1, activation).to(dtype)
    data = make_data(beta, 50, 0, dtype, torch.device("cpu"))
    params = {name: p.detach().clone() for name, p in model.named_parameters()}

    def with_jvp(p):
        return loss_terms(lambda xt: functional_call(model, p, (xt,)), data)["loss"]

    def written_out(p):
        return loss_terms(
            lambda xt: functional_call(model, p, (xt,)),
            data,
            lambda xt, tangent: functional_call(model, p, (xt, tangent)),
        )["loss"]

    return (
        Objective(model, params, with_jvp, "jvp"),
        Objective(model, params, written_out, "tangent"),
    )


@pytest.mark.parametrize("activation", ["tanh", "relu", "gelu"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_loss_gradient_and_hvps_equal_the_jvp_formulation(dtype, activation):
    reference, ours = _objectives(30.0, dtype, activation)
    assert torch.equal(ours(), reference())
    g_ref = grad(reference.loss_fn)(reference.params)
    g = grad(ours.loss_fn)(ours.params)
    for name in g_ref:
        torch.testing.assert_close(
            g[name], g_ref[name], rtol=1e-12 if dtype == torch.float64 else 1e-5, atol=0
        )
    v = torch.randn(ours.n_parameters, generator=torch.Generator().manual_seed(2), dtype=dtype)
    for mode in ("autograd", "forward", "func-reverse"):
        expected = HVPOperator(reference, mode)(v)
        got = HVPOperator(ours, mode)(v)
        tol = 1e-11 if dtype == torch.float64 else 1e-4
        assert float((got - expected).norm() / expected.norm()) < tol
    points = ours.theta() + 1e-3 * torch.randn(3, ours.n_parameters, dtype=dtype)
    batched = vmap(lambda point: ours.loss_fn(ours.unflatten(point)))(points)
    single = torch.stack([reference.loss_fn(reference.unflatten(p)) for p in points])
    torch.testing.assert_close(
        batched, single, rtol=1e-12 if dtype == torch.float64 else 1e-5, atol=0
    )


def test_pinn_loss_does_not_import_the_compiler_stack():
    code = (
        "import sys, torch\n"
        "from losstopo.problems.convection.config import PINNConfig, build_model\n"
        "from losstopo.problems.convection.problem import ConvectionProblem\n"
        "config = PINNConfig(beta=1.0, lr=1.0)\n"
        "model = build_model(config)\n"
        "checkpoint = {'hparams': config.hparams(), 'state_dict': model.state_dict()}\n"
        "cpu = torch.device('cpu')\n"
        "objective = ConvectionProblem().objective(checkpoint, cpu, torch.float32)\n"
        "from losstopo.hessian.operator import HVPOperator\n"
        "operator = HVPOperator(objective)\n"
        "operator(torch.ones(objective.n_parameters)); operator.gradient()\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
