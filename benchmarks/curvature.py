"""Hessian trace and spectral density of the paper's PINN against its dense Hessian.

One process prints: the trace by our Hutchinson estimator (stopping rule on the relative
standard error), by a PyHessian-style Hutchinson loop (plain Rademacher mean, written out
below), by the deflated estimator (top-k Lanczos eigenvectors projected out), and exactly
(trace of the dense float64 Hessian, 7,851² ≈ 0.5 GB); then the SLQ spectral density's
negative mass and W1 distance to the exact smoothed spectrum (numpy eigvalsh); HVP counts and
wall times as ratios.

    python benchmarks/curvature.py                     # trains the default run (β=1, lr=1.0)
    python benchmarks/curvature.py --checkpoint results/pinn/beta1_lr1_seed0/model.pt
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import wasserstein_distance

from losstopo.hessian.curvature import (
    hutchinson_trace,
    negative_mass,
    quadrature,
    slq,
    spectral_density,
    symlog_grid,
    wasserstein1,
)
from losstopo.hessian.operator import HVPOperator
from losstopo.hessian.solvers import lanczos, start_vector
from losstopo.problems.convection.config import PINNConfig
from losstopo.problems.convection.training import write_pinn_run
from losstopo.problems.loading import load_objective


def default_checkpoint(directory: Path) -> Path:
    """The default study's success run: β = 1, lr = 1.0, seed 0, ≤ 1000 L-BFGS iterations."""
    write_pinn_run(PINNConfig(beta=1.0, lr=1.0, iterations=1000), 0, torch.device("cpu"), directory)
    return directory / "model.pt"


def pyhessian_style_trace(hvp: HVPOperator, n_probes: int, seed: int) -> tuple[float, np.ndarray]:
    """Baseline: PyHessian's ``trace()`` loop without its stopping rule — Rademacher probes
    from the global torch RNG (``randint_like(high=2)``, zeros set to −1), the plain mean of
    ``vᵀHv`` over exactly ``n_probes`` probes, no standard error reported."""
    torch.manual_seed(seed)
    theta = hvp.objective.theta()
    samples = []
    for _ in range(n_probes):
        v = torch.randint_like(theta, high=2)
        v[v == 0] = -1
        samples.append(float(v @ hvp(v)))
    return float(np.mean(samples)), np.asarray(samples)


def pyhessian_default_rule(hvp: HVPOperator, seed: int, max_iter: int = 100, tol: float = 1e-3):
    """Baseline: PyHessian's own rule — stop when the running mean changes by < tol relative."""
    torch.manual_seed(seed)
    theta = hvp.objective.theta()
    samples: list[float] = []
    trace = 0.0
    for _ in range(max_iter):
        v = torch.randint_like(theta, high=2)
        v[v == 0] = -1
        samples.append(float(v @ hvp(v)))
        if abs(np.mean(samples) - trace) / (abs(trace) + 1e-6) < tol:
            break
        trace = float(np.mean(samples))
    return float(np.mean(samples)), np.asarray(samples)


def deflated_sigma(dense: np.ndarray, q: np.ndarray) -> float:
    """Exact σ of one probe of (I−QQᵀ)H(I−QQᵀ) without forming it (Q: k orthonormal rows).

    ‖PHP‖²_F = ‖H‖²_F − 2‖HQᵀ‖²_F + ‖QHQᵀ‖²_F and diag(PHP) from n × k products.
    """
    hq = dense @ q.T  # (n, k)
    m = q @ hq  # (k, k)
    fro2 = np.sum(dense**2) - 2 * np.sum(hq**2) + np.sum(m**2)
    diag = np.diag(dense) - 2 * np.sum(q.T * hq, axis=1) + np.einsum("ai,ab,bi->i", q, m, q)
    return math.sqrt(2 * (fro2 - np.sum(diag**2)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--rel-se", type=float, default=0.03, help="Hutchinson SE target")
    parser.add_argument("--max-hvps", type=int, default=3000)
    parser.add_argument("--k", type=int, default=4, help="eigenpairs for deflation")
    parser.add_argument("--runs", type=int, default=10, help="SLQ start vectors")
    parser.add_argument("--steps", type=int, default=80, help="Lanczos steps per SLQ run")
    parser.add_argument("--width", type=float, default=4.0, help="kernel width, grid steps")
    parser.add_argument("--linthresh", type=float, default=1e-6, help="× λmax, symlog grid")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cpu = torch.device("cpu")
    load_start = os.getloadavg()[0]

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint or default_checkpoint(Path(tmp))
        objective = load_objective(checkpoint, cpu, torch.float64)
    n = objective.n_parameters
    HVPOperator(objective)(start_vector(n, 0, torch.float64, cpu))  # warm-up

    # exact: dense Hessian by torch.func (jacrev of jacrev), not through the HVP operator
    t0 = time.perf_counter()
    flat_loss = lambda theta: objective(objective.unflatten(theta))  # noqa: E731
    dense = torch.func.jacrev(torch.func.jacrev(flat_loss), chunk_size=64)(objective.theta())
    dense = dense.numpy()
    dense = 0.5 * (dense + dense.T)
    t_dense = time.perf_counter() - t0
    t0 = time.perf_counter()
    eigenvalues = np.linalg.eigvalsh(dense)
    t_eigh = time.perf_counter() - t0
    exact_trace = float(np.trace(dense))
    sigma_plain = math.sqrt(2 * (np.sum(dense**2) - np.sum(np.diag(dense) ** 2)))

    # trace estimators
    ours = hutchinson_trace(
        HVPOperator(objective), seed=args.seed, max_hvps=args.max_hvps, rel_se_target=args.rel_se
    )
    t0 = time.perf_counter()
    py_estimate, py_samples = pyhessian_style_trace(
        HVPOperator(objective), ours.n_probes, args.seed
    )
    t_py = time.perf_counter() - t0
    t0 = time.perf_counter()
    rule_estimate, rule_samples = pyhessian_default_rule(HVPOperator(objective), args.seed)
    t_rule = time.perf_counter() - t0
    pairs = lanczos(HVPOperator(objective), args.k, tol=1e-4, seed=args.seed, show_progress=False)
    deflated = hutchinson_trace(
        HVPOperator(objective),
        seed=args.seed,
        max_hvps=args.max_hvps,
        rel_se_target=args.rel_se,
        deflate=pairs,
    )
    q = pairs.eigenvectors.numpy()
    q, _ = np.linalg.qr(q.T)
    sigma_deflated = deflated_sigma(dense, q.T)

    # spectral density
    quad = slq(HVPOperator(objective), n_runs=args.runs, steps=args.steps, seed=args.seed)
    t0 = time.perf_counter()
    top = float(np.max(np.abs(eigenvalues)))
    grid = symlog_grid(
        np.concatenate([eigenvalues, quad.nodes[~np.isnan(quad.nodes)]]),
        linthresh=args.linthresh * top,
    )
    ours_density = spectral_density(quad.nodes, quad.weights, grid=grid, width=args.width)
    t_density = time.perf_counter() - t0
    exact_density = spectral_density(
        eigenvalues[None], np.full((1, n), 1.0 / n), grid=grid, width=args.width
    )
    uniform = np.where(np.isnan(quad.weights), np.nan, 1.0 / quad.steps[:, None])
    uniform_density = spectral_density(quad.nodes, uniform, grid=grid, width=args.width)
    span = float(eigenvalues[-1] - eigenvalues[0])
    s_grid = np.sign(grid) * np.log1p(np.abs(grid) / (args.linthresh * top))

    def w1_symlog(a, b) -> float:
        return wasserstein_distance(s_grid, s_grid, a.mass, b.mass)

    print(
        f"checkpoint: {checkpoint}  parameters: {n}  threads={args.threads}  seed={args.seed}  "
        f"dtype=float64  load average at start/end: {load_start:.1f}/{os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs (wall times scale with it)"
    )
    print(
        f"exact (dense Hessian {t_dense:.1f} s, eigvalsh {t_eigh:.1f} s): trace {exact_trace:.6g}"
        f"  λmax {eigenvalues[-1]:.6g}  λmin {eigenvalues[0]:.4g}  per-probe σ {sigma_plain:.4g}"
    )
    print()
    header = (
        f"{'trace estimator':<34} {'estimate':>10} {'SE':>9} {'rel.err':>8} {'|err|/SE':>8} "
        f"{'probes':>6} {'HVPs':>6} {'seconds':>8} {'SE²·HVPs':>10}"
    )
    print(header)
    print("-" * len(header))

    def row(name, estimate, se, probes, hvps, seconds):
        err = estimate - exact_trace
        se_text = f"{se:>9.4g}" if se is not None else f"{'—':>9}"
        ratio = f"{abs(err) / se:>8.2f}" if se else f"{'—':>8}"
        work = f"{se * se * hvps:>10.4g}" if se is not None else f"{'—':>10}"
        print(
            f"{name:<34} {estimate:>10.6g} {se_text} {err / exact_trace:>+8.2%} {ratio} "
            f"{probes:>6} {hvps:>6} {seconds:>8.2f} {work}"
        )

    def posthoc_se(samples: np.ndarray) -> float:
        return float(np.std(samples, ddof=1) / math.sqrt(len(samples)))

    rows = [
        ("ours: Hutchinson, stop at SE target", ours.estimate, ours.standard_error,
         ours.n_probes, ours.n_hvps, ours.seconds),
        ("PyHessian-style, same probes", py_estimate, None, len(py_samples), len(py_samples),
         t_py),
        ("  (its post-hoc SE)", py_estimate, posthoc_se(py_samples), len(py_samples),
         len(py_samples), t_py),
        ("PyHessian default rule (tol 1e-3)", rule_estimate, None, len(rule_samples),
         len(rule_samples), t_rule),
        ("  (its post-hoc SE)", rule_estimate, posthoc_se(rule_samples), len(rule_samples),
         len(rule_samples), t_rule),
        (f"ours deflated (top-{args.k}, pairs given)", deflated.estimate,
         deflated.standard_error, deflated.n_probes, deflated.n_hvps, deflated.seconds),
        (f"  + Lanczos top-{args.k} cost", deflated.estimate, deflated.standard_error,
         deflated.n_probes, deflated.n_hvps + pairs.n_hvp, deflated.seconds + pairs.seconds),
    ]  # fmt: skip
    for entry in rows:
        row(*entry)
    top_k = ", ".join(f"{v:.5g}" for v in pairs.eigenvalues)
    print(
        f"stopped: ours {ours.stopped}, deflated {deflated.stopped} (target {args.rel_se:.0%},"
        f" budget {args.max_hvps} HVPs); Lanczos: {pairs.n_hvp} HVPs, max residual "
        f"{pairs.residuals.max():.1e}, top-{args.k} {top_k}"
    )
    print(
        f"exact per-probe σ: plain {sigma_plain:.4g}, deflated {sigma_deflated:.4g} "
        f"(variance ratio {sigma_plain**2 / sigma_deflated**2:.3g}x); "
        f"measured SE·√probes: plain {ours.standard_error * math.sqrt(ours.n_probes):.4g}, "
        f"deflated {deflated.standard_error * math.sqrt(deflated.n_probes):.4g}"
    )
    work_plain = ours.standard_error**2 * ours.n_hvps
    work_deflated = deflated.standard_error**2 * deflated.n_hvps
    work_with_lanczos = deflated.standard_error**2 * (deflated.n_hvps + pairs.n_hvp)
    print(
        f"variance per HVP (SE²·HVPs), plain / deflated: {work_plain / work_deflated:.3g}x with "
        f"the pairs given, {work_plain / work_with_lanczos:.3g}x counting Lanczos; HVPs to the "
        f"target: plain / (deflated + Lanczos) {ours.n_hvps / (deflated.n_hvps + pairs.n_hvp):.2f}x"
    )
    print(
        f"time per probe, ours / PyHessian-style: "
        f"{(ours.seconds / ours.n_probes) / (t_py / len(py_samples)):.2f}x"
    )
    print()
    fraction = float(np.mean(eigenvalues < 0))
    eps = 1e-6 * top
    exact_below = float(np.mean(eigenvalues < -eps))
    slq_below = negative_mass(quad.nodes, quad.weights, tolerance=eps)
    per_run_trace = [
        n * quadrature(quad.nodes[r], quad.weights[r], lambda x: x) for r in range(args.runs)
    ]
    print(
        f"SLQ: {args.runs} runs × {args.steps} steps = {quad.n_hvps} HVPs, {quad.seconds:.1f} s "
        f"(+ density {t_density:.2f} s); grid symlog, {len(grid)} points, linthresh "
        f"{args.linthresh:g}·λmax, kernel width {args.width:g} steps"
    )
    print(
        f"negative mass: SLQ {negative_mass(quad.nodes, quad.weights):.4f}, exact fraction "
        f"{fraction:.4f} (λ < 0); below −1e-6·λmax: SLQ {slq_below:.4f}, exact {exact_below:.4f}"
    )
    print(
        f"trace from SLQ (n·Σwθ): {n * quadrature(quad.nodes, quad.weights, lambda x: x):.6g}"
        f" ± {np.std(per_run_trace, ddof=1) / math.sqrt(args.runs):.3g} (SE over runs; "
        f"exact {exact_trace:.6g})"
    )
    w1 = wasserstein1(ours_density, exact_density)
    w1_uniform = wasserstein1(uniform_density, exact_density)
    print(
        f"W1 to the exact smoothed spectrum: {w1:.4g} ({w1 / span:.2e} of the range {span:.5g}); "
        f"uniform-weight control {w1_uniform:.4g} ({w1_uniform / span:.2e})"
    )
    print(
        f"W1 in the symlog coordinate: {w1_symlog(ours_density, exact_density):.4g}; "
        f"uniform-weight control {w1_symlog(uniform_density, exact_density):.4g}"
    )
    print(
        f"ratios vs exact: HVPs SLQ / n = {quad.n_hvps / n:.3f}; wall time SLQ / (dense + "
        f"eigvalsh) = {quad.seconds / (t_dense + t_eigh):.3f}; Hutchinson (ours) / (dense "
        f"trace) = {ours.seconds / t_dense:.3f}"
    )


if __name__ == "__main__":
    main()
