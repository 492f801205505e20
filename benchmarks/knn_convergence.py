"""Do k-NN merge trees of scattered samples converge to the grid merge tree?

For smooth multi-basin test functions on [−1, 1]ⁿ (n = 3, 4) the reference is the merge tree
of the 41ⁿ grid with full connectivity (the paper's). The same function is sampled at N
scattered points (the landscape sampler: centre + scrambled Sobol, or seeded uniform) and
its merge tree built on the k-NN graph (k = 4n, mutual and union). For growing N the script
prints the number of minima whose persistence is at least 1 % of the grid's value range
(plus one essential minimum per component) beside the raw count, and the bottleneck distance
between the finite 0-dimensional diagrams of the scattered and grid trees
(gudhi.bottleneck_distance), also as a fraction of the range.

``wells`` has its basins inside the cube; ``cosines`` has many minima on the cube's faces,
which grid vertices sample exactly and scattered points only from inside, so its distances
shrink more slowly. A small trained PINN's 3-D Hessian landscape (log10 loss) is compared
the same way (about a minute; ``--no-pinn`` skips it).

    python benchmarks/knn_convergence.py [--sizes 1000 10000 100000] [--dims 3 4] [--no-pinn]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import gudhi
import numpy as np

from losstopo.landscape.grid import grid_alphas, grid_axes
from losstopo.landscape.scattered import scattered_points
from losstopo.topology.mergetree import MergeTree, merge_tree, merge_tree_on_points
from losstopo.topology.summary import diagram

RESOLUTION = 41
THRESHOLD = 0.01  # of the grid's value range


def wells(x: np.ndarray) -> np.ndarray:
    """Coupled, tilted double wells: about 2ⁿ basins of different depths and widths."""
    dims = x.shape[1]
    a2 = 0.36
    field = np.zeros(len(x))
    for i in range(dims):
        field += (x[:, i] ** 2 - a2) ** 2 / a2**2 + 0.15 * (i + 1) / dims * x[:, i]
        field += 0.3 * np.sin(2.1 * x[:, i] + 1.3 * x[:, (i + 1) % dims] + i)
    return field


def cosines(x: np.ndarray) -> np.ndarray:
    """Products of cosines on a bowl (the topology benchmark's field on [−2, 2]ⁿ)."""
    y = 2.0 * x
    dims = y.shape[1]
    field = 0.15 * (y**2).sum(axis=1)
    for i in range(dims):
        field += np.cos(3.1 * y[:, i] + 0.4 * i) * np.cos(2.3 * y[:, (i + 1) % dims])
    return field


def significant(tree: MergeTree, threshold: float) -> int:
    """Minima with persistence ≥ ``threshold``, plus one essential minimum per component."""
    p = tree.persistence
    return int(np.count_nonzero((p >= threshold) & (p > 0))) + tree.n_components


def row(name: str, n: int, tree: MergeTree, grid: MergeTree, span: float) -> str:
    threshold = THRESHOLD * span
    distance = float(gudhi.bottleneck_distance(diagram(tree), diagram(grid)))
    return (
        f"{name:<14} {n:>9} {tree.k or '-':>3} {tree.n_components:>5} {tree.n_minima:>7} "
        f"{significant(tree, threshold):>9} {distance:>10.4f} {distance / span:>8.2%}"
    )


def compare(
    title: str,
    dims: int,
    grid_values: np.ndarray,
    sample: Callable[[np.ndarray], np.ndarray],
    sizes: list[int],
    samplings: list[str],
    symmetrizations: list[str],
    distance: float = 1.0,
) -> None:
    """One table: the grid's tree, then the k-NN trees of N scattered samples."""
    start = time.perf_counter()
    grid = merge_tree(grid_values, "full")
    span = float(np.ptp(grid_values[np.isfinite(grid_values)]))
    print(f"\n{title}: {RESOLUTION}^{dims} grid, value range {span:.4g}, threshold 1 % of it")
    header = (
        f"{'tree':<14} {'points':>9} {'k':>3} {'comps':>5} {'minima':>7} {'minima≥1%':>9} "
        f"{'bottleneck':>10} {'/ range':>8}"
    )
    print(header)
    print("-" * len(header))
    print(row("grid full", grid_values.size, grid, grid, span))
    for n in sizes:
        for sampling in samplings:
            points = scattered_points(dims, n, distance, sampling=sampling, seed=0)
            values = sample(points)
            for symmetrize in symmetrizations:
                tree = merge_tree_on_points(values, points, symmetrize=symmetrize)
                print(row(f"{sampling} {symmetrize}", n, tree, grid, span), flush=True)
    print(f"({time.perf_counter() - start:.1f} s)")


def pinn_landscape(
    dims: int,
    sizes: list[int],
    samplings: list[str],
    symmetrizations: list[str],
    distance: float,
) -> None:
    """A small trained PINN (β = 1, 2 → 20 → 20 → 1, L-BFGS): log10 of its loss along the
    top Hessian eigenvectors (layer-normalised) on the grid and at scattered points. Log loss,
    as in the shape descriptors: the loss spans decades, and a 1 % threshold of its linear
    range would see the rim only."""
    import torch

    from losstopo.hessian.operator import HVPOperator
    from losstopo.hessian.solvers import lanczos
    from losstopo.landscape.directions import normalized_directions
    from losstopo.landscape.evaluation import evaluate_alphas, sample_landscape
    from losstopo.problems.convection.config import PINNConfig
    from losstopo.problems.convection.problem import ConvectionProblem
    from losstopo.problems.convection.training import train

    torch.set_num_threads(1)
    start = time.perf_counter()
    config = PINNConfig(beta=1.0, lr=1.0, iterations=300, hidden=(20, 20), dtype="float64")
    run = train(config, seed=0, device=torch.device("cpu"))
    checkpoint = {"hparams": config.hparams(), "state_dict": run.model.state_dict()}
    objective = ConvectionProblem().objective(checkpoint, torch.device("cpu"), torch.float64)
    eig = lanczos(HVPOperator(objective), dims, "LM", 1e-6, 300, 0, show_progress=False)
    directions = normalized_directions(objective, eig.eigenvectors, normalization="layer")
    grid = sample_landscape(objective, directions, RESOLUTION, distance, show_progress=False)
    print(
        f"\nPINN: β=1, {objective.n_parameters} parameters, loss at θ "
        f"{float(objective()):.3g}, top eigenvalues {np.round(eig.eigenvalues, 1).tolist()}, "
        f"distance {distance}, grid loss {np.nanmin(grid.loss):.3g}…{np.nanmax(grid.loss):.3g} "
        f"({time.perf_counter() - start:.0f} s to train, Hessian, grid)"
    )
    # the grid's axes span the same cube as the scattered samples
    assert np.array_equal(grid_axes(dims, RESOLUTION, distance)[0], grid.axes[0])

    def sample(points: np.ndarray) -> np.ndarray:
        return np.log10(evaluate_alphas(objective, directions, points, show_progress=False)[0])

    compare(
        f"PINN {dims}-D (log10 loss)",
        dims,
        np.log10(grid.loss),
        sample,
        sizes,
        samplings,
        symmetrizations,
        distance=distance,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10**3, 10**4, 10**5])
    parser.add_argument("--dims", type=int, nargs="+", default=[3, 4])
    parser.add_argument("--samplings", nargs="+", default=["sobol", "random"])
    parser.add_argument("--symmetrize", nargs="+", default=["mutual", "union"])
    parser.add_argument("--no-pinn", action="store_true", help="skip the small trained PINN")
    parser.add_argument("--pinn-distance", type=float, default=0.1)
    args = parser.parse_args()
    for name, function in (("wells", wells), ("cosines", cosines)):
        for dims in args.dims:
            axes = grid_axes(dims, RESOLUTION, 1.0)
            values = function(grid_alphas(axes)).reshape((RESOLUTION,) * dims)
            compare(
                f"{name} {dims}-D",
                dims,
                values,
                function,
                args.sizes,
                args.samplings,
                args.symmetrize,
            )
    if not args.no_pinn:
        pinn_landscape(3, args.sizes, args.samplings, args.symmetrize, args.pinn_distance)
    print(
        "\ncomps: connected components; minima≥1%: minima whose persistence is ≥ 1 % of the "
        "grid's value range, plus one essential minimum per component; bottleneck: between the "
        "finite 0-dim diagrams of that tree and the grid's"
    )


if __name__ == "__main__":
    main()
