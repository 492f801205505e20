"""Hessian trace (Hutchinson) and spectral density (SLQ) against dense-Hessian oracles.

Oracles: the dense Hessian of a small PINN and of a BatchNorm network in eval mode
(``torch.func.hessian`` of the flat objective, independent of the HVP code), explicit
symmetric matrices with known spectra, and ``numpy.linalg.eigh``. Statistical checks use fixed
seeds, so they are deterministic; their tolerances are derived in the comments.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.stats import wasserstein_distance
from small_models import batchnorm_classifier, trained_unet_crf
from torch.func import functional_call

from losstopo.errors import LosstopoError
from losstopo.hessian.curvature import (
    hutchinson_trace,
    lanczos_quadrature,
    negative_mass,
    negative_mass_bounds,
    quadrature,
    rademacher,
    slq,
    slq_start_vector,
    spectral_density,
    symlog_grid,
    wasserstein1,
)
from losstopo.hessian.operator import HVPOperator
from losstopo.hessian.solvers import lanczos
from losstopo.objective import Objective
from losstopo.problems.convection.mlp import MLP
from losstopo.problems.convection.physics import loss_terms, make_data

F64 = torch.float64
CPU = torch.device("cpu")


class MatrixOperator:
    """An explicit symmetric matrix with the HVP operator's interface (no model involved)."""

    def __init__(self, matrix: np.ndarray):
        self.matrix = torch.as_tensor(np.asarray(matrix, dtype=np.float64))
        self.n = self.matrix.shape[0]
        self.dtype = F64
        self.device = CPU
        self.count = 0

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        self.count += 1
        return self.matrix @ v


def with_spectrum(eigenvalues, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A symmetric matrix ``U diag(λ) Uᵀ`` with a random orthogonal U, and U."""
    eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
    u, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((len(eigenvalues),) * 2))
    return (u * eigenvalues) @ u.T, u


def spiky_matrix(n: int = 100, seed: int = 0) -> np.ndarray:
    """Trained-network-like spectrum: four outliers decades above a bulk around zero."""
    bulk = 0.5 * np.random.default_rng(seed + 1).standard_normal(n - 4)
    return with_spectrum(np.concatenate([[1e3, 300.0, 100.0, 30.0], bulk]), seed)[0]


def pinn_objective() -> Objective:
    """A small convection PINN (2→6→6→1, 67 parameters) at its initialisation (indefinite)."""
    torch.manual_seed(1)
    model = MLP(2, [6, 6], 1).to(F64)
    data = make_data(3.0, n_f=30, dtype=F64)
    params = {k: v.detach().clone() for k, v in model.named_parameters()}

    def loss_fn(p):
        return loss_terms(lambda xt: functional_call(model, p, (xt,)), data)["loss"]

    return Objective(model, params, loss_fn, "small PINN")


def batchnorm_objective() -> Objective:
    """Conv → BatchNorm → ReLU → Linear with cross-entropy, BatchNorm in eval mode."""
    model, images, labels = batchnorm_classifier()
    return Objective.from_module(model, torch.nn.functional.cross_entropy, (images, labels))


MODELS = {"pinn": pinn_objective, "batchnorm": batchnorm_objective}


@pytest.fixture(scope="module")
def models():
    """name → (objective, dense Hessian as numpy), the Hessian by torch.func.hessian."""
    out = {}
    for name, make in MODELS.items():
        objective = make()
        dense = torch.func.hessian(lambda v, o=objective: o(o.unflatten(v)))(objective.theta())
        out[name] = (objective, dense.numpy())
    return out


@pytest.fixture(scope="module")
def trained_unet():
    """(objective factory by dtype, dense float64 Hessian) of a small trained UNet-CRF."""
    objective_of = trained_unet_crf()
    objective = objective_of(F64)
    dense = torch.func.hessian(lambda v: objective(objective.unflatten(v)))(objective.theta())
    dense = dense.numpy()
    return objective_of, (dense + dense.T) / 2


def hutchinson_sigma(matrix: np.ndarray) -> float:
    """Exact standard deviation of one Rademacher probe zᵀHz: √(2(‖H‖²_F − Σ H²ᵢᵢ))."""
    return math.sqrt(2.0 * (np.sum(matrix**2) - np.sum(np.diag(matrix) ** 2)))


def exact_density_inputs(eigenvalues: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(eigenvalues)
    return eigenvalues[None, :], np.full((1, n), 1.0 / n)


# ------------------------------------------------------------------------------- Hutchinson


@pytest.mark.parametrize("name", list(MODELS))
def test_hutchinson_probes_are_quadratic_forms_of_the_dense_hessian(models, name):
    """Through the real HVP operator, each sample is zᵀHz of the dense Hessian, with the
    documented seeded ±1 probes; so the statistics below, run on the dense matrix for speed,
    hold for the model's operator too."""
    objective, dense = models[name]
    operator = HVPOperator(objective)
    result = hutchinson_trace(operator, seed=7, max_hvps=12, rel_se_target=0.0, min_probes=12)
    generator = torch.Generator().manual_seed(7)
    probes = [rademacher(dense.shape[0], generator, F64, CPU).numpy() for _ in range(12)]
    np.testing.assert_allclose(
        result.samples, [z @ dense @ z for z in probes], rtol=1e-8, atol=1e-10
    )
    assert result.n_hvps == operator.count == 12
    assert result.n_probes == 12 and result.stopped == "budget"
    assert result.estimate == pytest.approx(float(np.mean(result.samples)), rel=1e-12)
    on_matrix = hutchinson_trace(
        MatrixOperator(dense), seed=7, max_hvps=12, rel_se_target=0.0, min_probes=12
    )
    np.testing.assert_allclose(result.samples, on_matrix.samples, rtol=1e-8, atol=1e-10)


def check_within_three_se(results: list, truth: float) -> None:
    """At most 2 of 40 misses (|estimate − truth| > 3 SE), and the mean of the estimates
    within 3 pooled SE (√ΣSE²/40) of the truth."""
    assert sum(abs(r.estimate - truth) > 3 * r.standard_error for r in results) <= 2
    pooled_se = math.sqrt(sum(r.standard_error**2 for r in results)) / len(results)
    assert abs(np.mean([r.estimate for r in results]) - truth) <= 3 * pooled_se


@pytest.mark.parametrize("name", list(MODELS))
def test_hutchinson_is_within_three_standard_errors_of_the_trace(models, name):
    """40 fixed seeds, 60 probes each, against tr H of the dense Hessian.

    With 60 probes the studentised error is close to a t(59) variable, P(|t| > 3) ≈ 0.004;
    allowing up to 2 misses of 40 fails a correct estimator with probability
    P(Binomial(40, 0.004) ≥ 3) ≈ 5e-4, while a bias of one SE already makes ≈ 2.3 % misses per
    seed, and the pooled check (40 × 60 probes) catches a bias of ≈ 0.5 SE.
    """
    _, dense = models[name]
    operator = MatrixOperator(dense)
    results = [
        hutchinson_trace(operator, seed=seed, max_hvps=60, rel_se_target=0.0, min_probes=60)
        for seed in range(40)
    ]
    assert all(r.n_probes == r.n_hvps == 60 and r.stopped == "budget" for r in results)
    check_within_three_se(results, float(np.trace(dense)))


@pytest.mark.parametrize(("case", "target"), [("spiky", 0.05), ("pinn", 0.1)])
def test_stopping_rule_reaches_its_target_and_stays_within_three_standard_errors(
    models, case, target
):
    """The same 40-seed check with the relative-SE stopping rule. Stopping on a relative error
    biases towards large running means; over 400 seeds that bias is 0.04 SE (spiky matrix, 5 %)
    and 0.19 SE (PINN, 10 %), inside the pooled bound 3/√40 ≈ 0.47 SE (at 20 % it is ≈ 0.5 SE
    and the pooled check rightly fails)."""
    dense = spiky_matrix() if case == "spiky" else models["pinn"][1]
    operator = MatrixOperator(dense)
    results = [
        hutchinson_trace(operator, seed=seed, max_hvps=3000, rel_se_target=target, min_probes=60)
        for seed in range(40)
    ]
    for r in results:
        assert r.stopped == "target" and r.standard_error <= target * abs(r.estimate)
        assert r.n_probes >= 60 and r.n_hvps == r.n_probes
    check_within_three_se(results, float(np.trace(dense)))


@pytest.mark.parametrize("name", list(MODELS))
def test_standard_error_shrinks_like_one_over_root_probes(models, name):
    """SE·√m estimates the exact per-probe σ = √(2(‖H‖²_F − ΣH²ᵢᵢ)) at m = 100 and 400.

    The sample standard deviation of m probes has relative spread ≈ √((κ−1)/(4m)), κ the
    kurtosis of zᵀHz (measured ≈ 3–4 on these Hessians): ≤ 0.087 at m = 100. Averaged over
    20 seeds it is ≤ 0.02, so 8 % is a 4σ tolerance; the ratio SE(400)/SE(100) must then be
    0.5 within 10 % (a 1/m or constant SE would give 0.25 or 1).
    """
    _, dense = models[name]
    sigma = hutchinson_sigma(dense)
    operator = MatrixOperator(dense)
    mean_se = {}
    for m in (100, 400):
        ses = [
            hutchinson_trace(
                operator, seed=s, max_hvps=m, rel_se_target=0.0, min_probes=m
            ).standard_error
            for s in range(20)
        ]
        mean_se[m] = float(np.mean(ses))
        assert mean_se[m] * math.sqrt(m) == pytest.approx(sigma, rel=0.08)
    assert mean_se[400] / mean_se[100] == pytest.approx(0.5, rel=0.1)


def test_hutchinson_stops_at_the_target_or_the_budget():
    matrix = spiky_matrix(40)
    trace = float(np.trace(matrix))
    loose = hutchinson_trace(MatrixOperator(matrix), seed=0, max_hvps=5000, rel_se_target=0.3)
    assert loose.stopped == "target" and loose.standard_error <= 0.3 * abs(loose.estimate)
    tight = hutchinson_trace(MatrixOperator(matrix), seed=0, max_hvps=50, rel_se_target=1e-6)
    assert tight.stopped == "budget" and tight.n_hvps == 50 and tight.n_probes == 50
    # Rademacher probes of a diagonal matrix give the trace exactly: SE 0 stops at min_probes
    diagonal = np.diag(np.arange(1.0, 11.0))
    exact = hutchinson_trace(MatrixOperator(diagonal), seed=3, max_hvps=500, rel_se_target=1e-3)
    assert exact.estimate == pytest.approx(55.0, rel=1e-14)
    assert exact.standard_error == 0.0 and exact.n_probes == 20
    assert abs(loose.estimate - trace) < 4 * loose.standard_error


def exact_top(matrix: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    values, vectors = np.linalg.eigh(matrix)
    order = np.argsort(-np.abs(values))[:k]
    return values[order], vectors[:, order].T


@pytest.mark.parametrize("case", ["spiky", "pinn"])
def test_deflated_hutchinson_is_unbiased_with_the_predicted_variance(models, case):
    """Deflating by the exact top-4 eigenvectors (numpy eigh): tr(QᵀHQ) = Σλᵢ exactly, the
    estimate stays within 3 SE (same 40-seed rule as above), and SE·√m matches the exact σ of
    the deflated operator PHP, which on the spiky spectrum is ≥ 50× below the plain σ, so the
    variance per HVP (k = 4 extra HVPs) is far lower."""
    dense = spiky_matrix() if case == "spiky" else models["pinn"][1]
    truth = float(np.trace(dense))
    values, vectors = exact_top(dense, 4)
    projector = np.eye(len(dense)) - vectors.T @ vectors
    sigma_plain, sigma_deflated = (
        hutchinson_sigma(dense),
        hutchinson_sigma(projector @ dense @ projector),
    )
    operator = MatrixOperator(dense)
    results = [
        hutchinson_trace(
            operator, seed=s, max_hvps=64, rel_se_target=0.0, min_probes=60, deflate=vectors
        )
        for s in range(40)
    ]
    for r in results:
        assert r.method == "hutchinson-deflated" and r.n_hvps == 64 and r.n_probes == 60
        assert r.extra["deflated_trace"] == pytest.approx(values.sum(), rel=1e-10, abs=1e-10)
    check_within_three_se(results, truth)
    mean_se = np.mean([r.standard_error for r in results])
    assert mean_se * math.sqrt(60) == pytest.approx(sigma_deflated, rel=0.1)
    assert sigma_deflated < sigma_plain
    if case == "spiky":
        assert sigma_plain / sigma_deflated > 50
        plain = hutchinson_trace(operator, seed=0, max_hvps=64, rel_se_target=0.0, min_probes=64)
        assert results[0].standard_error < plain.standard_error / 20  # same 64 HVPs


def test_deflation_with_lanczos_pairs_of_the_model_operator(models):
    """Approximate eigenvectors from Lanczos on the PINN's HVP operator: the deflated trace
    part equals Σ of the exact top eigenvalues and the estimate stays near the trace."""
    objective, dense = models["pinn"]
    pairs = lanczos(HVPOperator(objective), k=3, tol=1e-6, show_progress=False)
    values, _ = exact_top(dense, 3)
    operator = HVPOperator(objective)
    result = hutchinson_trace(
        operator, seed=1, max_hvps=43, rel_se_target=0.0, min_probes=40, deflate=pairs
    )
    assert result.extra["deflated_trace"] == pytest.approx(values.sum(), rel=1e-8)
    assert operator.count == result.n_hvps == 43
    assert abs(result.estimate - np.trace(dense)) <= 4 * result.standard_error


# ------------------------------------------------------------------------------- SLQ


def spectra(max_size: int) -> st.SearchStrategy[list[float]]:
    """Eigenvalues in [−10, 10] rounded to 0.1, so repeated values and zeros are likely."""
    return st.lists(
        st.floats(-10, 10, allow_subnormal=False).map(lambda x: round(x, 1)),
        min_size=2,
        max_size=max_size,
    )


def check_quadrature_exact(matrix: np.ndarray, result, seed: int, start: str) -> None:
    """Σⱼ wⱼ θⱼᵖ = vᵀHᵖv/‖v‖² for p < 2·steps, relative to the magnitude moment vᵀ|H|ᵖv."""
    values, vectors = np.linalg.eigh(matrix)
    v = slq_start_vector(len(matrix), seed, 0, start, F64, CPU).numpy()
    c2 = (vectors.T @ v) ** 2 / (v @ v)
    steps = int(result.steps[0])
    degree = 2 * steps - 1 if steps < len(matrix) else 2 * len(matrix) + 3
    for p in range(degree + 1):
        exact = float(np.sum(c2 * values**p))
        scale = float(np.sum(c2 * np.abs(values) ** p))
        got = quadrature(result.nodes, result.weights, lambda x, p=p: x**p)
        assert abs(got - exact) <= 1e-8 * scale + 1e-300, (p, got, exact)


@settings(max_examples=40, deadline=None)
@example(eigenvalues=[1.6, 7.0, 0.0, 0.0, 7.0, 1.0, 1.5, 0.5], steps=7, seed=0, start="rademacher")
@example(eigenvalues=[5.0, 0.2, 0.1] + [0.0] * 10 + [5.0, 1.0], steps=7, seed=538, start="gaussian")
@given(
    eigenvalues=spectra(24),
    steps=st.integers(1, 30),
    seed=st.integers(0, 2**31 - 1),
    start=st.sampled_from(["rademacher", "gaussian"]),
)
def test_slq_quadrature_is_exact_for_polynomials_below_twice_the_steps(
    eigenvalues, steps, seed, start
):
    """Random symmetric matrices (rounding to 0.1 makes repeated eigenvalues and zeros
    likely): exactness, weights ≥ 0 summing to 1, nodes inside [λmin, λmax], NaN padding."""
    matrix, _ = with_spectrum(eigenvalues, seed % 1000)
    n = len(eigenvalues)
    result = slq(MatrixOperator(matrix), n_runs=1, steps=steps, seed=seed, start=start)
    assert result.nodes.shape == result.weights.shape == (1, min(steps, n))
    taken = int(result.steps[0])
    assert result.n_hvps == taken <= min(steps, n)
    # Krylov dimension ≤ number of distinct eigenvalues. In floating point a run may step past
    # the invariant subspace when a small eigenspace weight keeps β just above the breakdown
    # threshold; the next vector is then rounding noise (orthogonal to the basis) and the extra
    # Ritz nodes repeat converged eigenvalues, splitting that eigenspace's weight between
    # copies. So the distinct node values, not the node count, are bounded
    norm = max(abs(e) for e in eigenvalues)
    weighted = np.sort(result.nodes[0, :taken][result.weights[0, :taken] > 1e-10])
    distinct_nodes = 1 + int(np.sum(np.diff(weighted) > 1e-8 * max(norm, 1e-300)))
    assert distinct_nodes <= len(set(eigenvalues))
    assert np.all(np.isnan(result.nodes[0, taken:])) and not np.any(
        np.isnan(result.nodes[0, :taken])
    )
    w, x = result.weights[0, :taken], result.nodes[0, :taken]
    assert w.ndim == 1 and np.all(w >= 0) and w.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(x >= min(eigenvalues) - 1e-10 * norm) and np.all(
        x <= max(eigenvalues) + 1e-10 * norm
    )
    check_quadrature_exact(matrix, result, seed, start)


def test_full_krylov_space_gives_the_distinct_eigenvalues_and_eigenspace_weights():
    """Repeated eigenvalues: the run stops after the 4 distinct ones (NaN-padded), with the
    weights of v's projections on each eigenspace."""
    spectrum = np.repeat([3.0, 1.0, -2.0, 0.5], 5)
    matrix, u = with_spectrum(spectrum, 4)
    result = slq(MatrixOperator(matrix), n_runs=3, steps=20, seed=11)
    assert result.steps.tolist() == [4, 4, 4] and result.n_hvps == 12
    for run in range(3):
        np.testing.assert_allclose(result.nodes[run, :4], [-2.0, 0.5, 1.0, 3.0], atol=1e-12)
        v = slq_start_vector(20, 11, run, "rademacher", F64, CPU).numpy()
        expected = [np.sum((u[:, spectrum == lam].T @ v) ** 2) for lam in (-2.0, 0.5, 1.0, 3.0)]
        np.testing.assert_allclose(result.weights[run, :4], expected, rtol=1e-10)
        assert np.all(np.isnan(result.weights[run, 4:]))


def test_full_krylov_space_on_the_pinn_operator_gives_eighs_eigenvalues(models):
    objective, dense = models["pinn"]
    values = np.linalg.eigvalsh(dense)
    operator = HVPOperator(objective)
    result = slq(operator, n_runs=1, steps=200, seed=0)
    assert result.nodes.shape == (1, objective.n_parameters) and operator.count == result.n_hvps
    np.testing.assert_allclose(result.nodes[0], values, atol=1e-9 * np.max(np.abs(values)))


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("start", ["rademacher", "gaussian"])
def test_slq_on_model_operators_is_exact_against_the_dense_hessian(models, name, start):
    objective, dense = models[name]
    operator = HVPOperator(objective)
    result = slq(operator, n_runs=1, steps=8, seed=5, start=start)
    assert result.n_hvps == operator.count == int(result.steps[0]) == 8
    check_quadrature_exact(dense, result, 5, start)


@pytest.mark.parametrize("name", list(MODELS))
def test_slq_moments_estimate_the_normalised_traces_of_powers(models, name):
    """Averaged over 40 runs, Σ wθᵖ estimates tr(Hᵖ)/n (p = 0…4): each run's moment is
    exact for v (p < 2·steps), so the mean is a Hutchinson-type estimate; within 3 SE of the
    run-to-run spread, and n·mean of p = 1 is the trace."""
    _, dense = models[name]
    n = len(dense)
    result = slq(MatrixOperator(dense), n_runs=40, steps=6, seed=2)
    values = np.linalg.eigvalsh(dense)
    for p in range(5):
        per_run = [
            quadrature(result.nodes[r], result.weights[r], lambda x, p=p: x**p) for r in range(40)
        ]
        truth = float(np.sum(values**p)) / n
        se = np.std(per_run, ddof=1) / math.sqrt(40)
        assert abs(np.mean(per_run) - truth) <= 3 * se + 1e-12 * abs(truth)
        assert quadrature(result.nodes, result.weights, lambda x, p=p: x**p) == pytest.approx(
            np.mean(per_run), rel=1e-12, abs=1e-15
        )


# ------------------------------------------------------------------------------- density


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("grid_kind", ["linear", "symlog"])
def test_smoothed_density_is_close_to_the_smoothed_exact_spectrum_in_w1(models, name, grid_kind):
    """W1 (eigenvalue units) between SLQ's smoothed ESD and eigh's, both smoothed alike.

    Bound 0.05 × (λmax − λmin): with m = 20 steps the Gauss rule's error for a 1-Lipschitz f
    is ≤ 2 E₂ₘ₋₁(f) ≤ 2 (π/2)(L/2)/(2m) = πL/(4m) ≈ 0.039 L (Jackson's theorem), plus a
    Monte-Carlo part from 10 start vectors (measured ≈ 0.01 L). A Ritz-value density with
    uniform instead of Gauss weights (the classic mistake) lands at 0.1–0.2 L and must fail.
    """
    _, dense = models[name]
    values = np.linalg.eigvalsh(dense)
    span = values[-1] - values[0]
    result = slq(MatrixOperator(dense), n_runs=10, steps=20, seed=0)
    if grid_kind == "linear":
        grid = np.linspace(values[0] - 0.1 * span, values[-1] + 0.1 * span, 1000)
    else:
        grid = symlog_grid(np.concatenate([values, result.nodes.ravel()]))
    ours = spectral_density(result.nodes, result.weights, grid=grid, width=4.0)
    exact = spectral_density(*exact_density_inputs(values), grid=grid, width=4.0)
    uniform = np.where(np.isnan(result.weights), np.nan, 1.0 / result.steps[:, None])
    wrong = spectral_density(result.nodes, uniform, grid=grid, width=4.0)
    for density in (ours, exact, wrong):
        assert density.mass.sum() == pytest.approx(1.0, abs=1e-6)
        assert np.trapezoid(density.density, grid) == pytest.approx(1.0, abs=1e-3)
    distance = wasserstein1(ours, exact)
    assert distance == pytest.approx(
        wasserstein_distance(grid, grid, ours.mass, exact.mass), rel=1e-9
    )
    assert distance <= 0.05 * span
    assert wasserstein1(wrong, exact) > 0.05 * span


def test_density_of_one_node_is_a_gaussian_of_width_times_the_local_spacing():
    grid = symlog_grid(np.array([-3.0, 1e4]), n_grid=2001)
    for node in (-2.0, 5.0, 5e3):
        d = spectral_density(np.array([[node]]), np.array([[1.0]]), grid=grid, width=3.0)
        peak = int(np.argmax(d.mass))
        spacing = np.gradient(grid)[peak]
        mean = np.sum(d.mass * grid)
        std = math.sqrt(np.sum(d.mass * (grid - mean) ** 2))
        assert mean == pytest.approx(node, rel=1e-3)
        assert std == pytest.approx(3.0 * spacing, rel=0.05)  # spacing varies across the kernel


def test_symlog_grid_is_linear_near_zero_and_logarithmic_beyond():
    values = np.array([-5.0, 0.0, 1e-3, 8.8e3])
    grid = symlog_grid(values, n_grid=1000, linthresh=1.0, margin=0.05)
    assert np.all(np.diff(grid) > 0) and grid[0] < -5.0 and grid[-1] > 8.8e3
    spacing = np.gradient(grid)
    near_zero = spacing[np.abs(grid) < 0.1]
    assert near_zero.max() / near_zero.min() < 1.25
    big = (grid > 100) & (grid < 8e3)
    ratio = spacing[big] / (np.abs(grid[big]) + 1.0)
    assert ratio.max() / ratio.min() == pytest.approx(1.0, abs=1e-3)  # spacing ∝ |λ| + linthresh
    default = symlog_grid(values)
    assert default[0] < -5.0 and default[-1] > 8.8e3 and len(default) == 1000


# ------------------------------------------------------------------------------- negative mass


def test_negative_mass_of_an_explicit_matrix():
    """3 of 12 eigenvalues negative. One full run: exactly Σ_{λ<0}(uᵀv)²/‖v‖²; averaged over
    200 runs (any steps), within 3 SE of 3/12, where SE is the run-to-run spread / √200."""
    spectrum = np.array([-4.0, -1.5, -0.2, 0.3, 0.7, 1.0, 1.2, 2.0, 3.0, 5.0, 8.0, 9.0])
    matrix, u = with_spectrum(spectrum, 8)
    full = slq(MatrixOperator(matrix), n_runs=1, steps=12, seed=9)
    v = slq_start_vector(12, 9, 0, "rademacher", F64, CPU).numpy()
    assert negative_mass(full.nodes, full.weights) == pytest.approx(
        np.sum((u[:, :3].T @ v) ** 2), rel=1e-10
    )
    many = slq(MatrixOperator(matrix), n_runs=200, steps=12, seed=0)
    per_run = [negative_mass(many.nodes[r], many.weights[r]) for r in range(200)]
    se = np.std(per_run, ddof=1) / math.sqrt(200)
    assert abs(negative_mass(many.nodes, many.weights) - 0.25) <= 3 * se
    positive = slq(MatrixOperator(matrix + 5 * np.eye(12)), n_runs=5, steps=6, seed=0)
    assert negative_mass(positive.nodes, positive.weights) == 0.0


def test_negative_mass_with_a_tolerance_ignores_the_cluster_at_zero():
    """Eigenvalues ±1e-9 (a numerically-zero bulk) and two at −1: below −1e-6 only the −1s
    count, exactly their eigenspace weight for a full run."""
    spectrum = np.array([-1.0, -1.0, -1e-9, 1e-9, -2e-9, 2e-9, 0.0, 3.0])
    matrix, u = with_spectrum(spectrum, 5)
    result = slq(MatrixOperator(matrix), n_runs=1, steps=8, seed=2)
    v = slq_start_vector(8, 2, 0, "rademacher", F64, CPU).numpy()
    expected = np.sum((u[:, :2].T @ v) ** 2)
    assert negative_mass(result.nodes, result.weights, tolerance=1e-6) == pytest.approx(
        expected, rel=1e-10
    )
    assert negative_mass(result.nodes, result.weights) > expected  # the zero cluster's sign
    with pytest.raises(LosstopoError, match="tolerance"):
        negative_mass(result.nodes, result.weights, tolerance=-1.0)


def test_negative_mass_of_the_pinn_hessian(models):
    """41 of the PINN's 67 eigenvalues are negative (the smallest |λ| is 1e-8 of the largest,
    far above eigh's rounding, so every sign is determined); full Krylov runs."""
    _, dense = models["pinn"]
    values = np.linalg.eigvalsh(dense)
    fraction = float(np.mean(values < 0))
    assert np.min(np.abs(values)) > 1e-10 * np.max(np.abs(values)) and 0.3 < fraction < 0.9
    result = slq(MatrixOperator(dense), n_runs=25, steps=len(dense), seed=1)
    per_run = [negative_mass(result.nodes[r], result.weights[r]) for r in range(25)]
    se = np.std(per_run, ddof=1) / math.sqrt(25)
    assert abs(negative_mass(result.nodes, result.weights) - fraction) <= 3 * se


def exact_mass_below(matrix: np.ndarray, v: np.ndarray, cut: float) -> float:
    """The start vector's spectral measure below ``cut``: Σ_{λᵢ<cut} (uᵢᵀv)²/‖v‖² by eigh."""
    values, vectors = np.linalg.eigh(matrix)
    return float(np.sum((vectors[:, values < cut].T @ v) ** 2) / (v @ v))


@settings(max_examples=60, deadline=None)
@given(
    eigenvalues=spectra(30),
    steps=st.integers(1, 12),
    seed=st.integers(0, 2**31 - 1),
    tolerance=st.sampled_from([0.0, 1e-6, 0.05, 0.5, 2.0]),
)
def test_negative_mass_bounds_hold_for_every_run(eigenvalues, steps, seed, tolerance):
    """Chebyshev–Markov–Stieltjes: per run, the exact weight of the start vector's spectral
    measure below −tolerance (eigh) lies within the bounds, for any number of steps; the
    estimate lies within them too."""
    matrix, _ = with_spectrum(eigenvalues, seed % 1000)
    n = len(eigenvalues)
    result = slq(MatrixOperator(matrix), n_runs=2, steps=steps, seed=seed)
    for run in range(2):
        v = slq_start_vector(n, seed, run, "rademacher", F64, CPU).numpy()
        exact = exact_mass_below(matrix, v, -tolerance)
        bounds = negative_mass_bounds(result.nodes[run], result.weights[run], tolerance=tolerance)
        assert bounds.lower - 1e-9 <= exact <= bounds.upper + 1e-9
        assert bounds.lower - 1e-12 <= bounds.estimate <= bounds.upper + 1e-12
        assert bounds.estimate == negative_mass(
            result.nodes[run], result.weights[run], tolerance=tolerance
        )


def test_negative_mass_bounds_narrow_with_steps_and_reject_bad_tolerances():
    """A continuum of eigenvalues through zero (as trained networks have): the interval of
    a 4-step run is wide, a full run's holds just one eigenvalue's weight on each side."""
    spectrum = np.linspace(-1.0, 3.0, 40)
    matrix, _ = with_spectrum(spectrum, 3)
    short = negative_mass_bounds(*_run(matrix, 4), tolerance=0.0)
    full = negative_mass_bounds(*_run(matrix, 40), tolerance=0.0)
    assert short.upper - short.lower > 0.2 > full.upper - full.lower
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(LosstopoError, match="tolerance"):
            negative_mass_bounds(*_run(matrix, 4), tolerance=bad)


def _run(matrix: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    result = slq(MatrixOperator(matrix), n_runs=1, steps=steps, seed=0)
    return result.nodes, result.weights


def test_negative_mass_of_a_trained_unet_crf_against_its_dense_hessian(trained_unet):
    """A small trained UNet-CRF (509 parameters, BatchNorm in eval mode): its spectrum has a
    continuum of small eigenvalues of both signs, the case where an SLQ point estimate of the
    negative mass is fragile. float32 HVPs deviate from the dense float64 Hessian by far less
    than the 1e-6·λmax tolerance; the bounds of float32 runs bracket each start vector's exact
    mass below the tolerance, and a full-length run in float32 gives float64's estimate."""
    from losstopo.stages import NEGATIVE_MASS_TOLERANCE

    objective_of, dense = trained_unet
    values = np.linalg.eigvalsh(dense)
    top = float(np.max(np.abs(values)))
    assert np.mean(values < 0) > 0.1 and np.mean(np.abs(values) < 1e-3 * top) > 0.3
    n = len(dense)
    operator32 = HVPOperator(objective_of(torch.float32))
    probe = torch.randn(n, generator=torch.Generator().manual_seed(0), dtype=F64)
    error = (operator32(probe.float()).double() - torch.as_tensor(dense) @ probe).norm()
    assert float(error / (top * probe.norm())) < 0.2 * NEGATIVE_MASS_TOLERANCE
    tolerance = NEGATIVE_MASS_TOLERANCE * top
    for steps in (10, 30):
        result = slq(operator32, n_runs=3, steps=steps, seed=4)
        for run in range(3):
            v = slq_start_vector(n, 4, run, "rademacher", F64, CPU).numpy()
            exact = exact_mass_below(dense, v, -tolerance)
            bounds = negative_mass_bounds(
                result.nodes[run], result.weights[run], tolerance=tolerance
            )
            assert bounds.lower - 1e-6 <= exact <= bounds.upper + 1e-6
    full32 = slq(operator32, n_runs=1, steps=n, seed=5)
    full64 = slq(HVPOperator(objective_of(F64)), n_runs=1, steps=n, seed=5)
    mass32 = negative_mass(full32.nodes, full32.weights, tolerance=tolerance)
    mass64 = negative_mass(full64.nodes, full64.weights, tolerance=tolerance)
    assert mass32 == pytest.approx(mass64, abs=0.02)


# ------------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_arrays(models):
    objective, _ = models["batchnorm"]
    a = hutchinson_trace(HVPOperator(objective), seed=4, max_hvps=25, rel_se_target=0.0)
    b = hutchinson_trace(HVPOperator(objective), seed=4, max_hvps=25, rel_se_target=0.0)
    c = hutchinson_trace(HVPOperator(objective), seed=5, max_hvps=25, rel_se_target=0.0)
    assert np.array_equal(a.samples, b.samples) and a.estimate == b.estimate
    assert not np.array_equal(a.samples, c.samples)
    for start in ("rademacher", "gaussian"):
        s1 = slq(HVPOperator(objective), n_runs=2, steps=5, seed=3, start=start)
        s2 = slq(HVPOperator(objective), n_runs=2, steps=5, seed=3, start=start)
        s3 = slq(HVPOperator(objective), n_runs=2, steps=5, seed=4, start=start)
        assert np.array_equal(s1.nodes, s2.nodes) and np.array_equal(s1.weights, s2.weights)
        assert not np.array_equal(s1.nodes, s3.nodes)
        assert not np.array_equal(s1.nodes[0], s1.nodes[1])  # runs use different vectors


def test_start_vectors_are_unit_and_independent_of_neighbouring_seeds():
    a = slq_start_vector(50, 0, 1, "rademacher", F64, CPU)
    b = slq_start_vector(50, 1, 0, "rademacher", F64, CPU)
    assert float(a.norm()) == pytest.approx(1.0) and not torch.equal(a, b)
    assert set(np.unique(np.abs(a.numpy() * math.sqrt(50))).round(12)) == {1.0}
    g = slq_start_vector(50, 0, 1, "gaussian", F64, CPU)
    assert float(g.norm()) == pytest.approx(1.0)


# ------------------------------------------------------------------------------- bad input


def test_bad_requests_are_rejected():
    operator = MatrixOperator(np.eye(6))
    with pytest.raises(LosstopoError, match="min_probes"):
        hutchinson_trace(operator, seed=0, max_hvps=10, rel_se_target=0.1, min_probes=1)
    with pytest.raises(LosstopoError, match="max_hvps"):
        hutchinson_trace(operator, seed=0, max_hvps=10, rel_se_target=0.1)
    with pytest.raises(LosstopoError, match="rel_se_target"):
        hutchinson_trace(operator, seed=0, max_hvps=100, rel_se_target=-1.0)
    with pytest.raises(LosstopoError, match="deflation"):
        hutchinson_trace(operator, seed=0, max_hvps=100, rel_se_target=0.1, deflate=np.ones((2, 5)))
    with pytest.raises(LosstopoError, match="dependent"):
        hutchinson_trace(operator, seed=0, max_hvps=100, rel_se_target=0.1, deflate=np.ones((2, 6)))
    with pytest.raises(LosstopoError, match="steps"):
        slq(operator, n_runs=1, steps=0, seed=0)
    with pytest.raises(LosstopoError, match="n_runs"):
        slq(operator, n_runs=0, steps=3, seed=0)
    with pytest.raises(LosstopoError, match="start vector"):
        slq(operator, n_runs=1, steps=3, seed=0, start="sobol")
    with pytest.raises(LosstopoError, match="non-zero"):
        lanczos_quadrature(operator, torch.zeros(6, dtype=F64), 3)
    with pytest.raises(LosstopoError, match="increasing"):
        spectral_density(np.ones((1, 2)), np.full((1, 2), 0.5), grid=np.array([0.0, 2.0, 1.0]))
    with pytest.raises(LosstopoError, match="NaN"):
        quadrature(np.array([[1.0, np.nan]]), np.array([[1.0, 0.0]]), np.square)
