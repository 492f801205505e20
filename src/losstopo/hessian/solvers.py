"""Top-k Hessian eigenpairs from Hessian-vector products: thick-restart Lanczos and, for
comparison, PyHessian's power iteration.

The solvers work on flat vectors in ``named_parameters()`` order through an
:class:`~losstopo.hessian.operator.HVPOperator` and never know which problem the objective
belongs to.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from losstopo.errors import LosstopoError
from losstopo.hessian.operator import HVPOperator
from losstopo.runtime import progress_bar

WHICH = ("LM", "LA")
METHODS = ("lanczos", "power")


@dataclass
class EigenResult:
    """k eigenpairs, sorted by the requested order, with their true relative residuals."""

    eigenvalues: np.ndarray
    eigenvectors: torch.Tensor  # (k, n), orthonormal rows
    residuals: np.ndarray  # ‖Hv − λv‖ / |λ| with Hv from actual HVPs, never the estimate
    converged: np.ndarray  # residual ≤ tol
    n_hvp: int
    seconds: float
    method: str
    which: str
    tol: float
    extra: dict[str, object] = field(default_factory=dict)


def start_vector(n: int, seed: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A unit random vector from a seeded CPU generator: same seed → same vector everywhere."""
    generator = torch.Generator().manual_seed(seed)
    v = torch.randn(n, generator=generator, dtype=torch.float64)
    return (v / v.norm()).to(dtype=dtype, device=device)


def relative_residuals(
    values: np.ndarray, vectors: torch.Tensor, products: torch.Tensor
) -> np.ndarray:
    """``‖Hv − λv‖/|λ|`` per pair from actual products ``Hv`` (reported, never estimated;
    infinite for λ = 0, which has no relative residual)."""
    magnitudes = np.abs(np.asarray(values, dtype=np.float64))
    shift = torch.as_tensor(values, dtype=vectors.dtype, device=vectors.device)[:, None]
    norms = (products - shift * vectors).norm(dim=1).double().cpu().numpy()
    residuals = np.full(len(magnitudes), np.inf)
    np.divide(norms, magnitudes, out=residuals, where=magnitudes > 0)
    return residuals


def checked_result(
    hvp: HVPOperator,
    values: np.ndarray,
    vectors: torch.Tensor,
    tol: float,
    start: float,
    method: str,
    which: str,
    extra: dict[str, object],
    products: torch.Tensor | None = None,
) -> EigenResult:
    """A solver's pairs with their true residuals against ``tol``, the HVP count and mode,
    and the wall time since ``start``. ``products`` holds ``Hv`` for each vector when the
    solver has them from its own HVPs; otherwise one fresh HVP per pair computes them."""
    if products is None:
        products = torch.stack([hvp(vector) for vector in vectors])
    residuals = relative_residuals(values, vectors, products)
    return EigenResult(
        eigenvalues=values,
        eigenvectors=vectors,
        residuals=residuals,
        converged=residuals <= tol,
        n_hvp=hvp.count,
        seconds=time.perf_counter() - start,
        method=method,
        which=which,
        tol=tol,
        extra={**extra, "hvp_mode": hvp.mode},
    )


def _select(theta: np.ndarray, k: int, which: str) -> np.ndarray:
    """Indices of the k wanted Ritz values, best first."""
    key = -np.abs(theta) if which == "LM" else -theta
    return np.argsort(key, kind="stable")[:k]


def lanczos(
    hvp: HVPOperator,
    k: int,
    which: str = "LM",
    tol: float = 1e-4,
    max_hvp: int = 1000,
    seed: int = 0,
    max_basis: int | None = None,
    show_progress: bool = True,
) -> EigenResult:
    """Thick-restart Lanczos with full re-orthogonalisation.

    The basis is orthogonalised twice against all previous vectors (classical Gram–Schmidt,
    repeated), so the projected matrix ``T = QᵀHQ`` is exact to rounding; when the basis
    reaches ``max_basis`` vectors, it restarts from the wanted Ritz vectors plus the current
    residual direction (Wu & Simon 2000). Stops when every wanted pair's residual estimate
    ``|b · s|/|θ|`` is ≤ ``tol``, or at ``max_hvp``. The reported residuals are true ones,
    at no extra HVP: the raw product ``Hq`` of every basis vector is kept (and recombined at
    restarts like the basis), so a Ritz vector ``y = Qs`` has ``Hy = (HQ)s`` from the HVPs
    themselves, which also catches any error of the estimate.
    """
    _check_request(hvp.n, k, which, tol, max_hvp)
    if max_hvp < k:
        raise LosstopoError(f"max-hvp ({max_hvp}) must be at least k ({k}): k pairs need k HVPs")
    start = time.perf_counter()
    n, dtype, device = hvp.n, hvp.dtype, hvp.device
    max_basis = min(n, max_basis or max(2 * k + 20, 40))
    if max_basis <= k:
        raise LosstopoError(f"max_basis ({max_basis}) must exceed k ({k})")
    basis = torch.zeros(max_basis + 1, n, dtype=dtype, device=device)
    products = torch.zeros(max_basis, n, dtype=dtype, device=device)  # H q of each basis vector
    t_matrix = np.zeros((max_basis, max_basis))
    basis[0] = start_vector(n, seed, dtype, device)
    size = 0  # vectors in the basis whose HVP is known
    bar = progress_bar(max_hvp, "Lanczos") if show_progress else None
    theta, s_vectors, estimates, beta = np.zeros(0), np.zeros((0, 0)), np.full(k, np.inf), 0.0
    invariant = False
    restarts = 0
    while hvp.count < max_hvp:
        w = hvp(basis[size])
        products[size] = w
        active = basis[: size + 1]
        coeffs = active @ w
        w = w - active.T @ coeffs
        second = active @ w  # full re-orthogonalisation: a second pass is enough
        w = w - active.T @ second
        column = (coeffs + second).double().cpu().numpy()
        t_matrix[: size + 1, size] = column
        t_matrix[size, : size + 1] = column
        beta = float(w.norm())
        size += 1
        theta, s_vectors = np.linalg.eigh(t_matrix[:size, :size])
        wanted = _select(theta, min(k, size), which)
        estimates = np.abs(beta * s_vectors[size - 1, wanted]) / np.maximum(
            np.abs(theta[wanted]), np.finfo(float).tiny
        )
        if bar is not None:
            bar.update()
            bar.set_postfix(max_res=f"{float(np.max(estimates)):.1e}", refresh=False)
        invariant = beta <= 1e-12 * max(1.0, float(np.max(np.abs(theta))))
        if (size >= k and np.all(estimates <= tol)) or invariant or size == n:
            break
        if size == max_basis:
            # Thick restart: H Y = Y Θ + (w/β) bᵀ with Y the kept Ritz vectors and
            # b = β s_last; the next expansion of w/β recomputes the coupling column.
            keep = _select(theta, min(max_basis - 1, k + (max_basis - k) // 2), which)
            ritz = torch.as_tensor(s_vectors[:, keep], dtype=dtype, device=device)
            basis[: len(keep)] = ritz.T @ basis[:size]
            products[: len(keep)] = ritz.T @ products[:size]
            t_matrix[:] = 0.0
            t_matrix[np.arange(len(keep)), np.arange(len(keep))] = theta[keep]
            size = len(keep)
            restarts += 1
            # the restarted T is diagonal: its Ritz pairs, should the budget end the run now
            theta, s_vectors = theta[keep].copy(), np.eye(size)
        basis[size] = w / beta
    if bar is not None:
        bar.close()
    wanted = _select(theta, min(k, size), which)
    values = theta[wanted]
    coefficients = torch.as_tensor(s_vectors[:, wanted].T, dtype=dtype, device=device)
    vectors = coefficients @ basis[:size]
    hv = coefficients @ products[:size]
    scale = vectors.norm(dim=1, keepdim=True)
    vectors, hv = vectors / scale, hv / scale
    extra = {"basis_size": size, "restarts": restarts, "invariant_subspace": invariant}
    return checked_result(hvp, values, vectors, tol, start, "lanczos", which, extra, hv)


def power_iteration(
    hvp: HVPOperator,
    k: int,
    tol: float = 1e-4,
    max_iter: int = 100,
    change_tol: float = 1e-3,
    seed: int = 0,
    show_progress: bool = True,
) -> EigenResult:
    """PyHessian's power iteration with deflation, kept for comparison.

    For each pair: Gram–Schmidt against the pairs found so far, iterate ``v ← Hv/‖Hv‖`` until
    the Rayleigh quotient changes by less than ``change_tol`` relative (≤ ``max_iter``
    iterations). Finds largest-magnitude eigenvalues. ``tol`` only grades the reported true
    residuals; it is not the stopping rule.
    """
    _check_request(hvp.n, k, "LM", tol, max_iter)
    start = time.perf_counter()
    values: list[float] = []
    vectors: list[torch.Tensor] = []
    bar = progress_bar(k * max_iter, "power iteration") if show_progress else None
    for index in range(k):
        v = start_vector(hvp.n, seed + index, hvp.dtype, hvp.device)
        eigenvalue: float | None = None
        for _ in range(max_iter):
            for u in vectors:
                v = v - (u @ v) * u
            v = v / v.norm()
            hv = hvp(v)
            current = float(hv @ v)
            v = hv / hv.norm()
            if bar is not None:
                bar.update()
            if (
                eigenvalue is not None
                and abs(eigenvalue - current) / (abs(eigenvalue) + 1e-6) < change_tol
            ):
                eigenvalue = current
                break
            eigenvalue = current
        for u in vectors:
            v = v - (u @ v) * u
        vectors.append(v / v.norm())
        values.append(float(eigenvalue))
    if bar is not None:
        bar.close()
    stacked = torch.stack(vectors)
    return checked_result(hvp, np.asarray(values), stacked, tol, start, "power", "LM", {})


def _check_request(n: int, k: int, which: str, tol: float, budget: int) -> None:
    if not 1 <= k <= n:
        raise LosstopoError(f"top-k must be between 1 and the parameter count {n}, got {k}")
    if which not in WHICH:
        raise LosstopoError(f"which must be one of {', '.join(WHICH)}, got {which!r}")
    if not tol > 0:
        raise LosstopoError(f"tolerance must be > 0, got {tol}")
    if budget < 1:
        raise LosstopoError(f"HVP budget must be >= 1, got {budget}")
