"""Landscape sampling: batched (vmap over chunks of grid points) vs the per-point loop.

The per-point loop is the way existing landscape tools work: θ is rebuilt for each grid
point and the objective is called once per point. Both run in this process on the
Krishnapriyan convection PINN (N_f = 100), at 1 and 2 threads, on a 41×41 and a 21³ grid.

    python benchmarks/landscape.py [--checkpoint results/pinn/beta1_lr1_seed0/model.pt]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from losstopo.landscape.directions import normalize_direction
from losstopo.landscape.evaluation import LandscapeEvaluator, choose_chunk_size
from losstopo.landscape.grid import grid_alphas, grid_axes
from losstopo.problems.convection.config import PINNConfig
from losstopo.problems.convection.training import write_pinn_run
from losstopo.problems.loading import load_objective


def directions_for(objective, dims: int, seed: int = 0) -> torch.Tensor:
    """Layer-normalised random directions (the direction does not change the cost)."""
    generator = torch.Generator().manual_seed(seed)
    dtype = objective.theta().dtype
    rows = []
    for _ in range(dims):
        raw = torch.randn(objective.n_parameters, generator=generator, dtype=torch.float64)
        d = normalize_direction(objective.unflatten(raw.to(dtype)), objective.params, "layer")
        rows.append(objective.flatten(d))
    return torch.stack(rows)


def timed(fn, alphas: np.ndarray) -> float:
    start = time.perf_counter()
    fn(alphas)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--memory-budget", type=float, default=512.0, help="MiB per call")
    parser.add_argument(
        "--per-point-max",
        type=int,
        default=400,
        help="points timed for the per-point loop (its rate is constant)",
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--chunk-size",
        type=int,
        default=None,
        help="points per batched call (default: from --memory-budget)",
    )
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint
        if checkpoint is None:
            write_pinn_run(
                PINNConfig(beta=1.0, lr=1.0, iterations=1000), 0, torch.device("cpu"), Path(tmp)
            )
            checkpoint = Path(tmp) / "model.pt"
        objective = load_objective(checkpoint, torch.device("cpu"), dtype)

    print(f"objective: {objective.description}")
    print(
        f"parameters: {objective.n_parameters}  dtype: {args.dtype}  "
        f"memory budget: {args.memory_budget:g} MiB  repeats: {args.repeats} (median)"
    )
    header = (
        f"{'grid':<8} {'threads':>7} {'chunk':>6} {'per-point pts/s':>16} "
        f"{'batched pts/s':>14} {'ratio':>7}"
    )
    print(header)
    print("-" * len(header))
    for dims, resolution in ((2, 41), (3, 21)):
        alphas = grid_alphas(grid_axes(dims, resolution, 0.5))
        evaluator = LandscapeEvaluator(objective, directions_for(objective, dims))
        chunk = args.chunk_size or choose_chunk_size(objective, args.memory_budget, len(alphas))

        def batched(a, evaluator=evaluator, chunk=chunk):
            for begin in range(0, len(a), chunk):
                evaluator.batched(a[begin : begin + chunk])

        subset = alphas[: args.per_point_max]
        for threads in (1, 2):
            torch.set_num_threads(threads)
            batched(alphas[:chunk])  # warm-up
            # interleave the two ways so that load from other tenants hits both alike
            loop_rates, batched_rates, ratios = [], [], []
            for _ in range(args.repeats):
                loop = len(subset) / timed(evaluator.per_point, subset)
                vectorised = len(alphas) / timed(batched, alphas)
                loop_rates.append(loop)
                batched_rates.append(vectorised)
                ratios.append(vectorised / loop)
            print(
                f"{f'{resolution}^{dims}':<8} {threads:>7} {chunk:>6} "
                f"{statistics.median(loop_rates):>16.0f} "
                f"{statistics.median(batched_rates):>14.0f} "
                f"{statistics.median(ratios):>6.1f}x"
            )
    print("ratio = median over repeats of (batched rate / per-point rate), measured in turn")


if __name__ == "__main__":
    main()
