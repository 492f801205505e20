"""Hessian-vector products and eigen-solvers against dense-Hessian oracles."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from small_models import batchnorm_classifier
from torch.func import functional_call

from losstopo.errors import LosstopoError
from losstopo.hessian.operator import HVPOperator
from losstopo.hessian.solvers import lanczos, power_iteration, start_vector
from losstopo.objective import Objective
from losstopo.problems.convection.mlp import MLP
from losstopo.problems.convection.physics import loss_terms, make_data

F64 = torch.float64


def regression_objective(seed: int = 0, hidden=(12, 12), dtype=F64) -> Objective:
    """A small tanh MLP with squared loss on fixed random data (a few hundred parameters)."""
    torch.manual_seed(seed)
    model = MLP(3, list(hidden), 2).to(dtype)
    x = torch.randn(40, 3, dtype=F64).to(dtype)
    y = torch.randn(40, 2, dtype=F64).to(dtype)
    params = {k: v.detach().clone() for k, v in model.named_parameters()}

    def loss_fn(p):
        return torch.mean((functional_call(model, p, (x,)) - y) ** 2)

    return Objective(model, params, loss_fn, "test regression")


def tiny_pinn_objective(beta: float = 3.0, dtype=F64) -> Objective:
    torch.manual_seed(1)
    model = MLP(2, [6, 6], 1).to(dtype)
    data = make_data(beta, n_f=30, dtype=dtype)
    params = {k: v.detach().clone() for k, v in model.named_parameters()}

    def loss_fn(p):
        return loss_terms(lambda xt: functional_call(model, p, (xt,)), data)["loss"]

    return Objective(model, params, loss_fn, "tiny PINN")


def mse_loss_objective(seed: int = 2) -> Objective:
    """``F.mse_loss``: torch 2.13 has no forward-mode derivative of its backward."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(2, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1))
    model = model.double()
    x = torch.randn(16, 2, dtype=F64)
    return Objective.from_module(model, torch.nn.functional.mse_loss, (x, torch.sin(x[:, :1])))


def dense_hessian(objective: Objective) -> torch.Tensor:
    """Oracle: reverse-over-reverse dense Hessian of the flat objective."""
    theta = objective.theta()
    return torch.autograd.functional.hessian(lambda v: objective(objective.unflatten(v)), theta)


@pytest.mark.parametrize("make", [regression_objective, tiny_pinn_objective, mse_loss_objective])
def test_hvp_equals_dense_hessian_times_v(make):
    objective = make()
    dense = dense_hessian(objective)
    hvp = HVPOperator(objective)
    for seed in range(3):
        v = start_vector(objective.n_parameters, seed, F64, torch.device("cpu"))
        torch.testing.assert_close(hvp(v), dense @ v, rtol=1e-6, atol=1e-10)
    assert hvp.count == 3
    assert hvp.mode.startswith("reverse-over-reverse")


def test_hvp_in_float32_is_close_to_float64():
    obj64, obj32 = regression_objective(), regression_objective(dtype=torch.float32)
    v = start_vector(obj64.n_parameters, 0, F64, torch.device("cpu"))
    hv64 = HVPOperator(obj64)(v)
    hv32 = HVPOperator(obj32)(v.float())
    assert hv32.dtype == torch.float32
    torch.testing.assert_close(hv32.double(), hv64, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("which", ["LM", "LA"])
@pytest.mark.parametrize("make", [regression_objective, tiny_pinn_objective])
def test_lanczos_matches_numpy_eigh(make, which):
    objective = make()
    dense = dense_hessian(objective).numpy()
    values, vectors = np.linalg.eigh(dense)
    order = np.argsort(-np.abs(values) if which == "LM" else -values, kind="stable")[:4]
    result = lanczos(
        HVPOperator(objective),
        k=4,
        which=which,
        tol=1e-8,
        max_hvp=2000,
        seed=0,
        show_progress=False,
    )
    np.testing.assert_allclose(result.eigenvalues, values[order], rtol=1e-8)
    got = result.eigenvectors.numpy()
    for i, j in enumerate(order):
        assert abs(abs(got[i] @ vectors[:, j]) - 1.0) < 1e-6  # equal up to sign
    np.testing.assert_allclose(got @ got.T, np.eye(4), atol=1e-10)
    assert result.converged.all()
    # residuals are reported truthfully: recompute them against the dense matrix
    for value, vector, reported in zip(result.eigenvalues, got, result.residuals, strict=True):
        true = np.linalg.norm(dense @ vector - value * vector) / abs(value)
        assert reported == pytest.approx(true, rel=1e-3, abs=1e-14)
    # no HVP beyond one per Lanczos step (the residuals come from the steps' own products)
    assert result.extra["restarts"] == 0 and result.n_hvp == result.extra["basis_size"]


def test_lanczos_with_thick_restarts_still_converges():
    objective = regression_objective(hidden=(16, 16))
    values = np.linalg.eigvalsh(dense_hessian(objective).numpy())
    top = values[np.argsort(-np.abs(values))[:3]]
    result = lanczos(
        HVPOperator(objective), k=3, tol=1e-9, max_hvp=3000, max_basis=12, show_progress=False
    )
    assert result.extra["restarts"] >= 1
    np.testing.assert_allclose(result.eigenvalues, top, rtol=1e-8)
    # the residuals come from the basis' own products, recombined at every restart
    dense = dense_hessian(objective).numpy()
    got = result.eigenvectors.numpy()
    for value, vector, reported in zip(result.eigenvalues, got, result.residuals, strict=True):
        true = np.linalg.norm(dense @ vector - value * vector) / abs(value)
        assert reported == pytest.approx(true, rel=1e-3, abs=1e-14)


@pytest.mark.parametrize("max_hvp", [20, 29])
def test_lanczos_budget_ending_at_a_thick_restart(max_hvp):
    """A budget spent on the step that restarts the basis (max_basis=20, k=2: restarts keep
    11 vectors, so they fall at 20, 29, …) returns the kept Ritz pairs with their dense
    residuals."""
    objective = regression_objective(hidden=(16, 16))
    dense = dense_hessian(objective).numpy()
    result = lanczos(
        HVPOperator(objective), k=2, tol=1e-300, max_hvp=max_hvp, max_basis=20, show_progress=False
    )
    assert result.n_hvp == max_hvp and result.extra["restarts"] >= 1
    assert result.eigenvalues.shape == (2,) and result.eigenvectors.shape[0] == 2
    got = result.eigenvectors.numpy()
    for value, vector, reported in zip(result.eigenvalues, got, result.residuals, strict=True):
        assert value == pytest.approx(vector @ dense @ vector, rel=1e-10)
        true = np.linalg.norm(dense @ vector - value * vector) / abs(value)
        assert reported == pytest.approx(true, rel=1e-3, abs=1e-14)


def test_lanczos_needs_at_least_k_products():
    with pytest.raises(LosstopoError, match="at least k"):
        lanczos(HVPOperator(regression_objective()), k=4, max_hvp=3, show_progress=False)


def test_lanczos_reports_non_convergence_honestly():
    objective = regression_objective()
    result = lanczos(HVPOperator(objective), k=4, tol=1e-12, max_hvp=8, show_progress=False)
    assert result.n_hvp == 8
    assert not result.converged.all()
    assert np.all(result.residuals[~result.converged] > 1e-12)


def test_power_iteration_agrees_with_lanczos_on_a_separated_spectrum():
    """Oracle: a Hessian with known, well-separated eigenvalues (quadratic form)."""
    n = 60
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    spectrum = np.concatenate([[50.0, -30.0, 15.0, 6.0], rng.uniform(-1, 1, n - 4)])
    matrix = torch.as_tensor(q @ np.diag(spectrum) @ q.T)
    model = torch.nn.Linear(n, 1, bias=False).double()
    params = {"weight": torch.zeros(1, n, dtype=F64)}
    objective = Objective(
        model, params, lambda p: 0.5 * p["weight"][0] @ matrix @ p["weight"][0], "quadratic"
    )
    power = power_iteration(HVPOperator(objective), k=4, max_iter=100, show_progress=False)
    lanc = lanczos(HVPOperator(objective), k=4, tol=1e-10, show_progress=False)
    np.testing.assert_allclose(lanc.eigenvalues, [50.0, -30.0, 15.0, 6.0], rtol=1e-10)
    np.testing.assert_allclose(power.eigenvalues, lanc.eigenvalues, rtol=2e-3)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**31 - 1))
def test_start_vectors_are_seeded_unit_vectors(seed):
    a = start_vector(100, seed, F64, torch.device("cpu"))
    b = start_vector(100, seed, F64, torch.device("cpu"))
    assert torch.equal(a, b)
    assert float(a.norm()) == pytest.approx(1.0)


def test_same_seed_same_eigenvectors():
    objective = regression_objective()
    a = lanczos(HVPOperator(objective), k=2, seed=5, show_progress=False)
    b = lanczos(HVPOperator(objective), k=2, seed=5, show_progress=False)
    assert torch.equal(a.eigenvectors, b.eigenvectors)
    assert a.n_hvp == b.n_hvp


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"k": 0}, "top-k"),
        ({"k": 10_000}, "top-k"),
        ({"k": 2, "tol": 0.0}, "tolerance"),
        ({"k": 2, "which": "SM"}, "which"),
    ],
)
def test_bad_requests_are_rejected(kwargs, needle):
    with pytest.raises(LosstopoError, match=needle):
        lanczos(HVPOperator(regression_objective()), show_progress=False, **kwargs)


def test_hvp_of_a_batchnorm_network_in_eval_mode():
    """BatchNorm in eval mode uses its running statistics (buffers), which stay fixed."""
    model, images, labels = batchnorm_classifier()
    running_mean = model[1].running_mean.clone()
    params = {k: v.detach().clone() for k, v in model.named_parameters()}

    def loss_fn(p):
        return torch.nn.functional.cross_entropy(functional_call(model, p, (images,)), labels)

    objective = Objective(model, params, loss_fn, "batchnorm classifier")
    dense = dense_hessian(objective)
    v = start_vector(objective.n_parameters, 3, F64, torch.device("cpu"))
    torch.testing.assert_close(HVPOperator(objective)(v), dense @ v, rtol=1e-6, atol=1e-10)
    assert torch.equal(model[1].running_mean, running_mean)
