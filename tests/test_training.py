"""Training: determinism, optimiser behaviour and divergence handling."""

from __future__ import annotations

import math

import pytest
import torch

from losstopo.optim import run_adam, run_lbfgs
from losstopo.problems.convection.config import PINNConfig
from losstopo.problems.convection.physics import make_data
from losstopo.problems.convection.training import train

CPU = torch.device("cpu")


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_same_seed_gives_identical_weights():
    config = PINNConfig(beta=1.0, lr=1.0, iterations=15)
    a, b = train(config, seed=3, device=CPU), train(config, seed=3, device=CPU)
    wa, wb = _weights(a.model), _weights(b.model)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert a.metrics["relative_l2_error"] == b.metrics["relative_l2_error"]
    assert a.outcome.loss_history == b.outcome.loss_history


def test_different_seeds_give_different_weights():
    config = PINNConfig(beta=1.0, lr=1.0, iterations=5)
    wa = _weights(train(config, seed=0, device=CPU).model)
    wb = _weights(train(config, seed=1, device=CPU).model)
    assert not torch.equal(wa["layers.layer_0.weight"], wb["layers.layer_0.weight"])


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_training_lowers_the_loss_and_reports_it(optimizer):
    config = PINNConfig(
        beta=1.0, lr=1.0 if optimizer == "lbfgs" else 1e-3, optimizer=optimizer, iterations=30
    )
    run = train(config, seed=0, device=CPU)
    history = run.outcome.loss_history
    assert not run.metrics["diverged"]
    assert run.outcome.final_loss < history[0]
    assert run.metrics["final_loss"] == pytest.approx(
        run.metrics["loss_ic"] + run.metrics["loss_bc"] + run.metrics["loss_residual"], rel=1e-5
    )
    assert 1 <= run.metrics["iterations"] <= 30


def test_lbfgs_minimises_a_quadratic_exactly():
    """Oracle: a convex quadratic, whose minimiser is known, within a few iterations."""
    target = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    outcome = run_lbfgs([p], lambda: ((p - target) ** 2).sum(), lr=1.0, iterations=50)
    torch.testing.assert_close(p.detach(), target, atol=1e-8, rtol=0)
    assert not outcome.diverged and outcome.iterations <= 5


@pytest.mark.parametrize("runner", [run_lbfgs, run_adam])
def test_non_finite_loss_is_recorded_as_divergence(runner):
    p = torch.nn.Parameter(torch.tensor([1e20], dtype=torch.float32))
    outcome = runner([p], lambda: (p**2).sum(), lr=1.0, iterations=10)
    assert outcome.diverged
    assert outcome.evaluations == 1 and math.isinf(outcome.loss_history[0])


def test_divergent_pinn_run_does_not_crash():
    """β = 1e30 overflows the float32 residual at once: diverged, not an exception."""
    run = train(PINNConfig(beta=1e30, lr=1.0, iterations=5), seed=0, device=CPU)
    assert run.metrics["diverged"] is True
    assert not math.isfinite(run.metrics["final_loss"])


def test_float64_training_runs_in_float64():
    run = train(PINNConfig(beta=1.0, lr=1.0, iterations=3, dtype="float64"), seed=0, device=CPU)
    assert all(p.dtype == torch.float64 for p in run.model.parameters())
    data = make_data(1.0, dtype=torch.float64)
    assert data.x_f.dtype == torch.float64
