"""Topological landscape profiles of your own model, with the losstopo Python API.

Trains a small tanh MLP classifier on a generated three-class spiral data set (full-batch
L-BFGS, float64), then computes the top-3 Hessian eigenpairs of its training loss, a 2-D and
a 3-D landscape along the (layer-normalised) eigenvectors, a 2-D landscape along seeded
filter-normalised random directions for comparison, their merge trees and profiles, and
saves one figure.

Expected structure (checked by tests/test_example.py): the trained weights sit at the
bottom of a basin, so close to them (``--near`` relative displacement) the loss along the
top Hessian eigenvectors has exactly one minimum, at the centre of the grid; farther out
(``--distance``) the landscape has more basins, which the profiles show as separate funnels.

    python examples/classifier_landscape.py --out classifier_landscape.png
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

import losstopo
from losstopo.optim import run_lbfgs
from losstopo.plots.landscape2d import draw_landscape_2d, landscape_norm


def spirals(n_per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Three interleaved noisy spirals in the plane, with 10 % of the labels redrawn."""
    rng = np.random.default_rng(seed)
    points, labels = [], []
    for label in range(3):
        radius = np.linspace(0.1, 1.0, n_per_class)
        angle = radius * 4.0 + label * 2 * np.pi / 3 + rng.normal(0, 0.35, n_per_class)
        points.append(np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1))
        labels.append(np.full(n_per_class, label))
    x = torch.as_tensor(np.concatenate(points), dtype=torch.float64)
    y = np.concatenate(labels)
    flip = rng.random(len(y)) < 0.1  # 10 % label noise: no network fits it exactly
    y[flip] = rng.integers(0, 3, flip.sum())
    return x, torch.as_tensor(y)


def run(
    out: Path,
    n_per_class: int = 300,
    iterations: int = 300,
    resolution: int = 31,
    resolution_3d: int = 15,
    distance: float = 1.0,
    near: float = 0.05,
    seed: int = 0,
) -> dict:
    """Train, analyse and draw; returns the numbers the docstring promises."""
    torch.manual_seed(seed)
    inputs, targets = spirals(n_per_class, seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(2, 10),
        torch.nn.Tanh(),
        torch.nn.Linear(10, 10),
        torch.nn.Tanh(),
        torch.nn.Linear(10, 3),
    ).double()
    outcome = run_lbfgs(
        model.parameters(),
        lambda: F.cross_entropy(model(inputs), targets),
        lr=1.0,
        iterations=iterations,
    )
    accuracy = float((model(inputs).argmax(1) == targets).double().mean())

    objective = losstopo.Objective.from_module(model, F.cross_entropy, (inputs, targets))
    eigen = losstopo.hessian_eigenpairs(objective, k=3)
    hessian = losstopo.normalized_directions(objective, eigen.eigenvectors, normalization="layer")
    random = losstopo.random_directions(objective, 2, seed=seed)
    near_2d = losstopo.sample_landscape(
        objective,
        hessian[:2],
        resolution=resolution,
        distance=near,
        eigenvalues=eigen.eigenvalues[:2],
    )
    far_2d = losstopo.sample_landscape(
        objective,
        hessian[:2],
        resolution=resolution,
        distance=distance,
        eigenvalues=eigen.eigenvalues[:2],
    )
    far_3d = losstopo.sample_landscape(
        objective,
        hessian,
        resolution=resolution_3d,
        distance=distance,
        eigenvalues=eigen.eigenvalues,
    )
    random_2d = losstopo.sample_landscape(
        objective, random, resolution=resolution, distance=distance, normalization="filter"
    )
    trees = {
        name: losstopo.merge_tree(ds)
        for name, ds in [
            ("near_2d", near_2d),
            ("far_2d", far_2d),
            ("far_3d", far_3d),
            ("random_2d", random_2d),
        ]
    }

    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8))
    norm = landscape_norm(far_2d["loss"].values, log=True)
    contours = draw_landscape_2d(axes[0], far_2d, norm)
    fig.colorbar(contours, ax=axes[0], label="loss")
    axes[0].set_title("2-D landscape, top-2 Hessian directions", fontsize=9)
    for ax, name, title in zip(
        axes[1:],
        ["far_2d", "far_3d", "random_2d"],
        ["profile, 2-D Hessian", "profile, 3-D Hessian", "profile, 2-D random (filter-norm.)"],
        strict=True,
    ):
        losstopo.plot_profile(trees[name], ax=ax)
        ax.set_title(f"{title}: {trees[name].n_minima} minima", fontsize=9)
    fig.suptitle(
        f"MLP on 3 spirals: training accuracy {accuracy:.2f}, loss "
        f"{outcome.final_loss:.3g}, top eigenvalues "
        + ", ".join(f"{v:.3g}" for v in eigen.eigenvalues),
        fontsize=10,
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    centre = (resolution // 2,) * 2
    near_tree = trees["near_2d"]
    minimum_vertex = int(near_tree.node_vertex[near_tree.node_kind == 0][0])
    return {
        "accuracy": accuracy,
        "final_loss": outcome.final_loss,
        "eigenvalues": eigen.eigenvalues,
        "near_minima": near_tree.n_minima,
        "near_minimum_is_centre": minimum_vertex == np.ravel_multi_index(centre, near_tree.shape),
        "minima": {name: tree.n_minima for name, tree in trees.items()},
        "figure": out,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("classifier_landscape.png"))
    parser.add_argument("--resolution", type=int, default=31)
    parser.add_argument("--resolution-3d", type=int, default=15)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    numbers = run(
        args.out,
        iterations=args.iterations,
        resolution=args.resolution,
        resolution_3d=args.resolution_3d,
        seed=args.seed,
    )
    print(f"training accuracy {numbers['accuracy']:.3f}, loss {numbers['final_loss']:.3g}")
    print("top Hessian eigenvalues:", ", ".join(f"{v:.4g}" for v in numbers["eigenvalues"]))
    print("minima per landscape:", numbers["minima"])
    print(
        f"near the trained weights: {numbers['near_minima']} minimum, at the centre: "
        f"{numbers['near_minimum_is_centre']}"
    )
    print(f"figure: {numbers['figure']}  ({time.perf_counter() - start:.1f} s)")
    return numbers


if __name__ == "__main__":
    main()
