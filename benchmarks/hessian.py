"""Top-k Hessian eigenpairs of the paper's PINN: Lanczos vs PyHessian's power iteration.

Prints one table from one process: Hessian-vector products used, median wall time, the
largest true relative residual, and the eigenvalues, with power/Lanczos ratios.

    python benchmarks/hessian.py                       # trains the default run (β=1, lr=1.0)
    python benchmarks/hessian.py --checkpoint results/pinn/beta1_lr1_seed0/model.pt
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch

from losstopo.hessian.operator import HVPOperator
from losstopo.hessian.solvers import lanczos, power_iteration, start_vector
from losstopo.problems.convection.config import PINNConfig
from losstopo.problems.convection.training import write_pinn_run
from losstopo.problems.loading import load_objective


def default_checkpoint(directory: Path) -> Path:
    """The default study's success run: β = 1, lr = 1.0, seed 0, ≤ 1000 L-BFGS iterations."""
    write_pinn_run(PINNConfig(beta=1.0, lr=1.0, iterations=1000), 0, torch.device("cpu"), directory)
    return directory / "model.pt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint or default_checkpoint(Path(tmp))
        objective = load_objective(checkpoint, torch.device("cpu"), dtype)
        HVPOperator(objective)(start_vector(objective.n_parameters, 0, dtype, torch.device("cpu")))

        runs = {"lanczos": [], "power": []}
        for _ in range(args.repeats):
            runs["lanczos"].append(
                lanczos(HVPOperator(objective), args.k, tol=args.tol, show_progress=False)
            )
            runs["power"].append(
                power_iteration(HVPOperator(objective), args.k, tol=args.tol, show_progress=False)
            )

    print(
        f"checkpoint: {checkpoint}  parameters: {objective.n_parameters}  k={args.k}  "
        f"tol={args.tol:g}  dtype={args.dtype}  threads={args.threads}  "
        f"repeats={args.repeats}"
    )
    header = (
        f"{'method':<9} {'HVPs':>6} {'median s':>9} {'max residual':>13} {'converged':>9}"
        "  eigenvalues"
    )
    print(header)
    print("-" * len(header))
    summary = {}
    for name, results in runs.items():
        first = results[0]
        seconds = statistics.median(r.seconds for r in results)
        summary[name] = (first.n_hvp, seconds, first.eigenvalues)
        print(
            f"{name:<9} {first.n_hvp:>6} {seconds:>9.3f} {first.residuals.max():>13.2e} "
            f"{int(first.converged.sum()):>6}/{args.k}  "
            + ", ".join(f"{v:.6g}" for v in first.eigenvalues)
        )
    (hl, sl, el), (hp, sp, ep) = summary["lanczos"], summary["power"]
    agreement = np.max(np.abs(ep - el) / np.abs(el))
    print(
        f"ratio power/lanczos: HVPs {hp / hl:.2f}x, time {sp / sl:.2f}x; "
        f"max relative eigenvalue difference {agreement:.2e}"
    )


if __name__ == "__main__":
    main()
