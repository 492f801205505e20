"""Curvature beyond the top-k eigenpairs: the Hessian trace and its eigenvalue spectral density.

Both need only Hessian-vector products (an :class:`~losstopo.hessian.operator.HVPOperator` or
any callable with the same ``n``, ``dtype``, ``device`` and ``count`` attributes), like the
top-k solvers, and never know which problem the objective belongs to.

- :func:`hutchinson_trace` — ``tr(H) = E[zᵀHz]`` over Rademacher probes ``z`` (Hutchinson
  1989), stopped when the relative standard error reaches a target or the HVP budget is spent;
  optionally deflated by known top eigenvectors (the idea of Hutch++, Meyer et al. 2021): the
  trace inside their span is computed exactly and only the rest is estimated.
- :func:`slq` — stochastic Lanczos quadrature (Golub & Meurant; Lin, Saad & Yang 2016;
  Ghorbani et al. 2019; PyHessian's ``density``): per random start vector ``v``, ``m`` Lanczos
  steps give an ``m``-point Gauss quadrature of the spectral measure ``Σᵢ (uᵢᵀv)² δ(λ − λᵢ)``
  of ``H`` seen from ``v``; the average over start vectors estimates the eigenvalue spectral
  density (ESD) ``(1/n) Σᵢ δ(λ − λᵢ)``. Nodes and weights are kept raw, one row per run.
- :func:`spectral_density`, :func:`symlog_grid`, :func:`negative_mass`,
  :func:`negative_mass_bounds`, :func:`quadrature`, :func:`wasserstein1` — what is read off
  the quadrature (all numpy, no HVPs).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from losstopo.errors import LosstopoError
from losstopo.hessian.solvers import EigenResult, start_vector

START_VECTORS = ("rademacher", "gaussian")

# A Lanczos run stops as invariant when the new residual β is below √eps/100 of the largest
# ‖Hq‖ seen (1.5e-10 in float64, 3.5e-6 in float32). Rounding alone leaves β of order
# eps·‖H‖/(smallest earlier β) once the Krylov space is exhausted, so a threshold at eps would
# continue on noise vectors; and stopping at such a β changes the quadrature's higher moments
# only by O(β²), far below what the rule resolves.
_BREAKDOWN_FACTOR = 1e-2


class LinearOperator(Protocol):
    """What the estimators need: ``v ↦ Hv`` on flat vectors of length ``n`` (H symmetric)."""

    n: int
    dtype: torch.dtype
    device: torch.device
    count: int

    def __call__(self, v: torch.Tensor) -> torch.Tensor: ...


# ----------------------------------------------------------------------------- probes


def rademacher(
    n: int, generator: torch.Generator, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """A ±1 vector drawn from a CPU generator, so a seed gives the same probe on any device."""
    bits = torch.randint(0, 2, (n,), generator=generator, dtype=torch.int64)
    return (2 * bits - 1).to(dtype=dtype, device=device)


def slq_start_vector(
    n: int, seed: int, run: int, kind: str, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """The unit start vector of run ``run`` of :func:`slq` with ``seed``.

    Each (seed, run) pair gets its own generator seed through numpy's ``SeedSequence``, so
    run 1 of seed 0 is not run 0 of seed 1, and any run can be rebuilt on its own.
    """
    if kind not in START_VECTORS:
        raise LosstopoError(f"start vector must be one of {', '.join(START_VECTORS)}, got {kind!r}")
    derived = int(np.random.SeedSequence([seed, run]).generate_state(1)[0])
    if kind == "gaussian":
        return start_vector(n, derived, dtype, device)
    v = rademacher(n, torch.Generator().manual_seed(derived), torch.float64, torch.device("cpu"))
    return (v / math.sqrt(n)).to(dtype=dtype, device=device)


# ----------------------------------------------------------------------------- trace


@dataclass
class TraceEstimate:
    """A Hutchinson trace estimate with its standard error and what it cost."""

    estimate: float
    standard_error: float  # of ``estimate``: sample std of the probes / √n_probes
    n_probes: int
    n_hvps: int  # probes + one per deflation vector
    samples: np.ndarray  # zᵀHz per probe (of the deflated operator when deflated)
    seed: int
    method: str  # "hutchinson" or "hutchinson-deflated"
    stopped: str  # "target" (relative SE reached) or "budget" (max_hvps spent)
    seconds: float
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def relative_standard_error(self) -> float:
        return self.standard_error / abs(self.estimate) if self.estimate else math.inf


def hutchinson_trace(
    operator: LinearOperator,
    *,
    seed: int,
    max_hvps: int,
    rel_se_target: float,
    min_probes: int = 20,
    deflate: EigenResult | torch.Tensor | np.ndarray | None = None,
) -> TraceEstimate:
    """Hutchinson's estimate of ``tr(H)`` from seeded Rademacher probes.

    Probes ``z`` (±1 entries, one seeded CPU generator, so the same seed gives identical
    numbers) are drawn one at a time; each costs one HVP and gives ``zᵀHz``, whose mean is
    unbiased for the trace with variance ``2(‖H‖²_F − Σᵢ H²ᵢᵢ)``. The run stops once at least
    ``min_probes`` probes are in and the standard error is ≤ ``rel_se_target`` × |estimate|
    (``0`` never stops early unless the samples are all equal), or when ``max_hvps`` HVPs are
    spent. ``min_probes`` keeps the stopping rule from trusting a standard error estimated from
    a handful of samples. Stopping on a *relative* error favours runs whose running mean is
    large, a bias second order in the target: measured on small-network Hessians ≈ 0.1 SE
    (≤ 1 % of the trace) at a 5 % target but ≈ 0.5 SE (≈ 10 %) at 20 %; for an exactly unbiased
    estimate use ``rel_se_target=0`` (a fixed number of probes).

    ``deflate``: known top eigenvectors (an :class:`EigenResult` or a ``(k, n)`` array). With
    ``Q`` their orthonormalised span and ``P = I − QQᵀ``, ``tr(H) = tr(QᵀHQ) + tr(PHP)``
    exactly; the first term costs k HVPs (it equals ``Σλᵢ`` for exact eigenpairs and stays
    exact for approximate ones), the second is estimated with probes ``Pz``. When a few large
    eigenvalues dominate ``‖H‖_F`` (trained networks), this removes most of the variance: on
    the default β = 1 PINN (7,851 parameters) deflating the top 4 cuts the per-probe variance
    1.2e4-fold, so a 3 % target takes 37 HVPs (24 + 13 for Lanczos) instead of 1,568.
    """
    n = operator.n
    if min_probes < 2:
        raise LosstopoError(
            f"min_probes must be >= 2 (a standard error needs two), got {min_probes}"
        )
    if not (math.isfinite(rel_se_target) and rel_se_target >= 0):
        raise LosstopoError(f"rel_se_target must be a finite number >= 0, got {rel_se_target}")
    basis = None if deflate is None else _orthonormal_rows(deflate, operator)
    k = 0 if basis is None else basis.shape[0]
    if max_hvps < min_probes + k:
        raise LosstopoError(
            f"max_hvps ({max_hvps}) must cover min_probes ({min_probes}) plus one HVP per "
            f"deflation vector ({k})"
        )
    start = time.perf_counter()
    projected = 0.0
    hvps = 0
    if basis is not None:
        for q in basis:
            projected += _dot(q, operator(q))
            hvps += 1
    generator = torch.Generator().manual_seed(seed)
    samples: list[float] = []
    mean = m2 = 0.0  # Welford's running mean and sum of squared deviations
    stopped = "budget"
    while hvps < max_hvps:
        z = rademacher(n, generator, operator.dtype, operator.device)
        if basis is not None:
            z = z - basis.T @ (basis @ z)
        value = _dot(z, operator(z))
        hvps += 1
        samples.append(value)
        delta = value - mean
        mean += delta / len(samples)
        m2 += delta * (value - mean)
        if len(samples) >= min_probes:
            se = math.sqrt(max(m2, 0.0) / (len(samples) - 1) / len(samples))
            if se <= rel_se_target * abs(projected + mean):
                stopped = "target"
                break
    m = len(samples)
    se = math.sqrt(max(m2, 0.0) / (m - 1) / m) if m > 1 else math.inf
    extra: dict[str, object] = {"rel_se_target": rel_se_target, "min_probes": min_probes}
    if basis is not None:
        extra.update(deflation_rank=k, deflated_trace=projected, residual_trace=mean)
    return TraceEstimate(
        estimate=projected + mean,
        standard_error=se,
        n_probes=m,
        n_hvps=hvps,
        samples=np.asarray(samples, dtype=np.float64),
        seed=seed,
        method="hutchinson" if basis is None else "hutchinson-deflated",
        stopped=stopped,
        seconds=time.perf_counter() - start,
        extra=extra,
    )


def _dot(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.dot(a.double(), b.double()))


def _orthonormal_rows(
    vectors: EigenResult | torch.Tensor | np.ndarray, operator: LinearOperator
) -> torch.Tensor:
    """An orthonormal basis (rows) of the span of the given vectors, in the operator's dtype."""
    if isinstance(vectors, EigenResult):
        vectors = vectors.eigenvectors
    q = torch.as_tensor(vectors).detach().to(dtype=torch.float64, device=operator.device)
    if q.ndim == 1:
        q = q[None]
    if q.ndim != 2 or q.shape[1] != operator.n or q.shape[0] < 1:
        raise LosstopoError(
            f"deflation vectors must be (k, {operator.n}) with k >= 1, got {tuple(q.shape)}"
        )
    basis, r = torch.linalg.qr(q.T)
    diag = torch.abs(torch.diagonal(r))
    if bool((diag <= 1e-8 * diag.max()).any()):
        raise LosstopoError("deflation vectors are linearly dependent")
    return basis.T.to(operator.dtype).contiguous()


# ----------------------------------------------------------------------------- quadrature


@dataclass
class SpectralQuadrature:
    """Raw Gauss quadrature of the spectral measure, one row per SLQ run.

    Row r holds the Ritz values (nodes, ascending) of run r and their weights, the squared
    first components of the eigenvectors of that run's tridiagonal matrix; each row of
    weights sums to 1. A run that found an invariant subspace early (fewer distinct
    eigenvalues seen from its start vector than steps) is padded with NaN.
    """

    nodes: np.ndarray  # (n_runs, width), width = min(steps, n)
    weights: np.ndarray  # (n_runs, width)
    steps: np.ndarray  # Lanczos steps each run took (= its number of nodes)
    n_hvps: int
    seed: int
    start: str
    n: int  # dimension of H (the ESD is normalised per eigenvalue: total mass 1)
    seconds: float


def lanczos_quadrature(
    operator: LinearOperator, start: torch.Tensor, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the Gauss quadrature of ``H``'s spectral measure seen from ``start``.

    Lanczos with full re-orthogonalisation (two classical Gram–Schmidt passes against the
    whole basis, as in :func:`~losstopo.hessian.solvers.lanczos`), so ``T = QᵀHQ`` is exact
    to rounding; ``T`` is assembled from the projections, which are its exact entries. With
    ``m`` steps the rule integrates polynomials of degree < 2m exactly:
    ``Σⱼ wⱼ θⱼᵖ = vᵀHᵖv / ‖v‖²``. Stops early when the Krylov space is invariant (then the
    nodes are exactly the eigenvalues whose eigenspaces ``v`` touches). Costs one HVP per step.
    """
    n, dtype, device = operator.n, operator.dtype, operator.device
    if steps < 1:
        raise LosstopoError(f"Lanczos steps must be >= 1, got {steps}")
    width = min(steps, n)
    q = start.detach().to(dtype=dtype, device=device).reshape(-1)
    if q.shape[0] != n:
        raise LosstopoError(f"start vector has {q.shape[0]} entries, the operator acts on {n}")
    norm = float(q.norm())
    if not norm > 0 or not math.isfinite(norm):
        raise LosstopoError("start vector must be finite and non-zero")
    q = q / norm
    basis = torch.zeros(width, n, dtype=dtype, device=device)
    t_matrix = np.zeros((width, width))
    tiny = _BREAKDOWN_FACTOR * math.sqrt(float(torch.finfo(dtype).eps))
    scale = 0.0
    size = 0
    for j in range(width):
        basis[j] = q
        w = operator(q)
        scale = max(scale, float(w.norm()))
        active = basis[: j + 1]
        coeffs = active @ w
        w = w - active.T @ coeffs
        second = active @ w
        w = w - active.T @ second
        column = (coeffs + second).double().cpu().numpy()
        t_matrix[: j + 1, j] = column
        t_matrix[j, : j + 1] = column
        size = j + 1
        beta = float(w.norm())
        if beta <= tiny * scale:
            break
        q = w / beta
    theta, s_vectors = np.linalg.eigh(t_matrix[:size, :size])
    return theta, s_vectors[0] ** 2


def slq(
    operator: LinearOperator,
    *,
    n_runs: int,
    steps: int,
    seed: int,
    start: str = "rademacher",
) -> SpectralQuadrature:
    """Stochastic Lanczos quadrature: ``n_runs`` seeded start vectors × ``steps`` Lanczos steps.

    Each run's start vector comes from :func:`slq_start_vector` (normalised Rademacher or
    Gaussian); for either, ``E[vᵀf(H)v/‖v‖²] = tr f(H)/n``, so the average over runs of
    ``Σⱼ wⱼ f(θⱼ)`` (:func:`quadrature`) estimates the ESD's integral of ``f``. Costs at most
    ``n_runs × min(steps, n)`` HVPs; memory ``min(steps, n) × n`` of the operator's dtype.
    """
    if n_runs < 1:
        raise LosstopoError(f"SLQ needs n_runs >= 1, got {n_runs}")
    if steps < 1:
        raise LosstopoError(f"Lanczos steps must be >= 1, got {steps}")
    if seed < 0:
        raise LosstopoError(f"seed must be >= 0, got {seed}")
    begin = time.perf_counter()
    width = min(steps, operator.n)
    nodes = np.full((n_runs, width), np.nan)
    weights = np.full((n_runs, width), np.nan)
    taken = np.zeros(n_runs, dtype=np.int64)
    for run in range(n_runs):
        v = slq_start_vector(operator.n, seed, run, start, operator.dtype, operator.device)
        theta, tau = lanczos_quadrature(operator, v, width)
        nodes[run, : len(theta)] = theta
        weights[run, : len(tau)] = tau
        taken[run] = len(theta)
    return SpectralQuadrature(
        nodes=nodes,
        weights=weights,
        steps=taken,
        n_hvps=int(taken.sum()),
        seed=seed,
        start=start,
        n=operator.n,
        seconds=time.perf_counter() - begin,
    )


def _runs(nodes: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights as (runs, width) float arrays; one run may be passed as a vector."""
    nodes = np.atleast_2d(np.asarray(nodes, dtype=np.float64))
    weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    if nodes.ndim != 2 or nodes.shape != weights.shape:
        raise LosstopoError(
            f"nodes and weights must be (runs, nodes) arrays of one shape, got "
            f"{nodes.shape} and {weights.shape}"
        )
    if not np.array_equal(np.isnan(nodes), np.isnan(weights)):
        raise LosstopoError("nodes and weights must be NaN (padding) at the same places")
    return nodes, weights


def quadrature(
    nodes: np.ndarray, weights: np.ndarray, f: Callable[[np.ndarray], np.ndarray]
) -> float:
    """``mean over runs of Σⱼ wⱼ f(θⱼ)``: the SLQ estimate of ``tr f(H) / n``.

    ``f`` is applied to the (non-padding) nodes as a numpy array; ``f = x ↦ xᵖ`` gives the
    p-th spectral moment, so ``n × quadrature(…, lambda x: x)`` estimates the trace.
    """
    nodes, weights = _runs(nodes, weights)
    valid = ~np.isnan(nodes)
    values = np.zeros_like(nodes)
    values[valid] = weights[valid] * np.asarray(f(nodes[valid]), dtype=np.float64)
    return float(np.mean(values.sum(axis=1)))


def negative_mass(nodes: np.ndarray, weights: np.ndarray, *, tolerance: float = 0.0) -> float:
    """Fraction of spectral weight on eigenvalues below ``−tolerance`` (mean over runs).

    With exact nodes (a full Krylov space) this is ``Σ_{λᵢ<−tol} (uᵢᵀv)²/‖v‖²``, whose mean
    over start vectors is the fraction of such eigenvalues; with fewer steps it is the Gauss
    rule applied to a step function, accurate to about one node's weight per run. Trained
    networks put much of their spectrum within rounding of zero, where the sign is arbitrary
    and one Ritz node can carry that whole cluster to either side: there a tolerance relative
    to the largest eigenvalue (e.g. 1e-6·λmax) gives the stable number.
    """
    if not tolerance >= 0 or not math.isfinite(tolerance):
        raise LosstopoError(f"tolerance must be a finite number >= 0, got {tolerance}")
    return quadrature(nodes, weights, lambda x: (x < -tolerance).astype(np.float64))


@dataclass
class NegativeMass:
    """The SLQ estimate of the spectral weight below ``−tolerance`` and what bounds it."""

    estimate: float  # the Gauss rule applied to the step function (mean over runs)
    lower: float  # mean over runs of the Chebyshev–Markov–Stieltjes lower bound
    upper: float  # ... and upper bound
    tolerance: float


def negative_mass_bounds(
    nodes: np.ndarray, weights: np.ndarray, *, tolerance: float = 0.0
) -> NegativeMass:
    """The negative mass with bounds that hold for every spectrum the quadrature is exact for.

    A Gauss rule integrates a step function only to within the weights of the nodes beside
    the step. The Chebyshev–Markov–Stieltjes inequalities make that exact: if ``θₖ < x ≤ θₖ₊₁``
    are the nodes of one run on either side of ``x = −tolerance`` and ``S = Σ_{θⱼ<x} wⱼ``, the
    start vector's spectral measure puts between ``S − wₖ`` and ``S + wₖ₊₁`` below ``x``. The
    bounds are averaged over runs like the estimate. A wide interval says the Lanczos steps do
    not resolve the spectrum near zero (trained networks put a continuum there), which a
    point estimate alone would hide; it narrows as steps grow.
    """
    estimate = negative_mass(nodes, weights, tolerance=tolerance)  # checks the arguments
    nodes, weights = _runs(nodes, weights)
    cut = -tolerance
    lower, upper = [], []
    for run_nodes, run_weights in zip(nodes, weights, strict=True):
        valid = ~np.isnan(run_nodes)
        x, w = run_nodes[valid], run_weights[valid]
        below = x < cut
        mass = float(w[below].sum())
        left = float(w[below][np.argmax(x[below])]) if below.any() else 0.0
        right = float(w[~below][np.argmin(x[~below])]) if (~below).any() else 0.0
        lower.append(mass - left)
        upper.append(mass + right)
    return NegativeMass(
        estimate=estimate,
        lower=float(np.mean(lower)),
        upper=float(np.mean(upper)),
        tolerance=float(tolerance),
    )


# ----------------------------------------------------------------------------- density


@dataclass
class SpectralDensity:
    """A smoothed ESD on a grid: ``density`` per unit eigenvalue, ``mass`` per grid point."""

    grid: np.ndarray  # increasing eigenvalue positions
    density: np.ndarray  # mass / local grid spacing (integrates to ≈ 1 over the grid)
    mass: np.ndarray  # probability at each grid point (sums to ≈ 1; less if mass falls off)
    width: float  # kernel standard deviation in grid steps


def _symlog(t: np.ndarray, linthresh: float) -> np.ndarray:
    return np.sign(t) * np.log1p(np.abs(t) / linthresh)


def _symlog_inverse(s: np.ndarray, linthresh: float) -> np.ndarray:
    return np.sign(s) * linthresh * np.expm1(np.abs(s))


def symlog_grid(
    values: np.ndarray,
    *,
    n_grid: int = 1000,
    linthresh: float | None = None,
    margin: float = 0.05,
) -> np.ndarray:
    """A grid uniform in ``s = sign(λ)·ln(1 + |λ|/linthresh)`` over the range of ``values``.

    Hessian spectra of trained networks are a bulk near zero plus a few outliers decades
    larger; a grid uniform in ``s`` is linear (spacing ≈ constant) for ``|λ| ≲ linthresh``
    and logarithmic beyond it (spacing ∝ |λ|), on both signs. ``linthresh`` defaults to
    1e-4 × max|values|. The range in ``s`` is widened by ``margin`` × its span on each side
    (NaN values are ignored), 50 grid steps at the defaults, so a kernel of a few steps'
    width stays on the grid.
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise LosstopoError("symlog_grid needs at least one finite value")
    if n_grid < 3:
        raise LosstopoError(f"n_grid must be >= 3, got {n_grid}")
    if not margin >= 0:
        raise LosstopoError(f"margin must be >= 0, got {margin}")
    top = float(np.max(np.abs(values)))
    if linthresh is None:
        linthresh = 1e-4 * top if top > 0 else 1.0
    if not linthresh > 0:
        raise LosstopoError(f"linthresh must be > 0, got {linthresh}")
    lo, hi = _symlog(np.array([values.min(), values.max()]), linthresh)
    span = hi - lo if hi > lo else 1.0
    s = np.linspace(lo - margin * span, hi + margin * span, n_grid)
    return _symlog_inverse(s, linthresh)


def _grid_coordinate(grid: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Fractional grid index of each x: piecewise linear, extrapolated past the ends."""
    index = np.arange(len(grid), dtype=np.float64)
    u = np.interp(x, grid, index)
    below, above = x < grid[0], x > grid[-1]
    u[below] = (x[below] - grid[0]) / (grid[1] - grid[0])
    u[above] = index[-1] + (x[above] - grid[-1]) / (grid[-1] - grid[-2])
    return u


def spectral_density(
    nodes: np.ndarray,
    weights: np.ndarray,
    *,
    grid: np.ndarray | None = None,
    width: float = 4.0,
    n_grid: int = 1000,
) -> SpectralDensity:
    """The ESD from quadrature nodes and weights, smoothed by a Gaussian and averaged over runs.

    ``width`` is the kernel's standard deviation in *grid steps*: the Gaussian lives in the
    grid's index coordinate, so in eigenvalue units its standard deviation at λ is
    ``width × (local grid spacing at λ)`` — a fixed Gaussian on a linear grid, and on a
    :func:`symlog_grid` (the default, ``n_grid`` points) a constant relative resolution
    (∝ |λ| + linthresh), so a node at 1e4 and one at 1e-2 are both resolved by the same number
    of points. ``width ≥ 1`` keeps the discrete kernel's sum within 1e-8 of 1 (no aliasing);
    nodes closer than the grid's ends by less than ~4·width steps lose part of their mass.
    To compare two spectra, smooth both on one grid with one width (e.g. the exact spectrum:
    ``nodes = eigenvalues[None]``, ``weights = full((1, n), 1/n)``).
    """
    nodes, weights = _runs(nodes, weights)
    if not (math.isfinite(width) and width > 0):
        raise LosstopoError(f"kernel width must be > 0 grid steps, got {width}")
    if grid is None:
        grid = symlog_grid(nodes, n_grid=n_grid)
    grid = np.asarray(grid, dtype=np.float64)
    if grid.ndim != 1 or len(grid) < 3 or not np.all(np.diff(grid) > 0):
        raise LosstopoError("grid must be a strictly increasing 1-D array of >= 3 points")
    valid = ~np.isnan(nodes)
    u = _grid_coordinate(grid, nodes[valid])
    w = weights[valid]
    index = np.arange(len(grid), dtype=np.float64)
    mass = np.zeros(len(grid))
    norm = 1.0 / (width * math.sqrt(2.0 * math.pi) * nodes.shape[0])
    for chunk in range(0, len(u), 512):  # bounded memory for exact spectra of many eigenvalues
        z = (index[None, :] - u[chunk : chunk + 512, None]) / width
        mass += norm * (w[chunk : chunk + 512, None] * np.exp(-0.5 * z * z)).sum(axis=0)
    return SpectralDensity(grid=grid, density=mass / np.gradient(grid), mass=mass, width=width)


def wasserstein1(a: SpectralDensity, b: SpectralDensity) -> float:
    """W1 distance (eigenvalue units) between two densities on one grid: ∫|F_a − F_b| dλ.

    Both are taken as discrete measures on the grid points, each normalised to total mass 1.
    """
    if a.grid.shape != b.grid.shape or not np.array_equal(a.grid, b.grid):
        raise LosstopoError("W1 needs both densities on the same grid")
    cdf_a = np.cumsum(a.mass) / a.mass.sum()
    cdf_b = np.cumsum(b.mass) / b.mass.sum()
    return float(np.sum(np.abs(cdf_a - cdf_b)[:-1] * np.diff(a.grid)))
