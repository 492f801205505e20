"""UNet-CRF analysis costs, side by side in one process (medians of interleaved repeats):

* top-2 Hessian eigenpairs by Lanczos in float32 vs float64 (HVPs, time, eigenvalue gap);
* the CRF's separable Gaussian as banded matrix products vs a grouped ``conv2d``;
* landscape points through ``vmap`` over a chunk vs one objective call per point.

A small run is trained first on generated synthetic data (default-study sizes: width 8,
4 levels, 64² images, a fixed batch of 32 training images).

    python benchmarks/unet.py [--work /tmp/unet-bench] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from losstopo.api import hessian_eigenpairs, normalized_directions
from losstopo.landscape.evaluation import LandscapeEvaluator
from losstopo.landscape.grid import grid_alphas, grid_axes
from losstopo.problems.loading import load_objective
from losstopo.problems.segmentation.config import UNetConfig
from losstopo.problems.segmentation.crf import MeanFieldCRF
from losstopo.problems.segmentation.synthetic_pets import make_synthetic_pets
from losstopo.problems.segmentation.training import train_unet_run


def median_time(fn, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def grouped_conv_filter(crf: MeanFieldCRF, q: torch.Tensor) -> torch.Tensor:
    """The same zero-padded separable Gaussian as ``crf.gaussian_filter``, by conv2d."""
    g = crf.spatial_kernel()
    classes, half = q.shape[1], g.shape[0] // 2
    rows = g.reshape(1, 1, -1, 1).expand(classes, 1, -1, 1)
    cols = g.reshape(1, 1, 1, -1).expand(classes, 1, 1, -1)
    q = F.conv2d(q, rows, padding=(half, 0), groups=classes)
    return F.conv2d(q, cols, padding=(0, half), groups=classes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/unet-bench"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = args.work / "pets"
    if not (data / "SYNTHETIC.json").is_file():
        make_synthetic_pets(data, n_trainval=64, n_test=16, size=64, seed=0)
    config = UNetConfig(
        data_dir=str(data), lr=0.002, epochs=2, batch_size=16, image_size=64, width=8, depth=4
    )
    run = args.work / "run"
    train_unet_run(config, 243, run, torch.device("cpu"))
    checkpoint = run / "checkpoints/epoch_002.pt"
    cpu = torch.device("cpu")

    results = {}
    for dtype in (torch.float32, torch.float64):
        objective = load_objective(checkpoint, cpu, dtype, batch_size=32)
        outcome = {}

        def solve(objective=objective, outcome=outcome) -> None:
            outcome["result"] = hessian_eigenpairs(objective, 2, tol=1e-4, show_progress=False)

        results[dtype] = (median_time(solve, args.repeats), outcome["result"])
    (t32, r32), (t64, r64) = results[torch.float32], results[torch.float64]
    gap = np.max(np.abs(r32.eigenvalues - r64.eigenvalues) / np.abs(r64.eigenvalues))
    print(
        f"Hessian top-2: float32 {t32:.2f} s ({r32.n_hvp} HVPs, max residual "
        f"{r32.residuals.max():.1e}) vs float64 {t64:.2f} s ({r64.n_hvp} HVPs): "
        f"{t64 / t32:.2f}x; eigenvalues agree to {gap:.1e} relative"
    )

    crf = MeanFieldCRF(3)
    q = torch.softmax(torch.randn(32, 3, 64, 64), dim=1)
    assert torch.allclose(crf.gaussian_filter(q), grouped_conv_filter(crf, q), atol=1e-6)
    tb = median_time(lambda: crf.gaussian_filter(q), args.repeats * 10)
    tc = median_time(lambda: grouped_conv_filter(crf, q), args.repeats * 10)
    print(
        f"CRF Gaussian filter, 32 images 64², 3 classes: banded matrices {tb * 1e3:.2f} ms "
        f"vs grouped conv2d {tc * 1e3:.2f} ms: {tc / tb:.2f}x"
    )

    objective = load_objective(checkpoint, cpu, torch.float32, batch_size=32)
    directions = normalized_directions(objective, r32.eigenvectors.float(), normalization="layer")
    evaluator = LandscapeEvaluator(objective, directions)
    alphas = grid_alphas(grid_axes(2, 5, 0.01))[:8]
    chunked = {}
    for chunk in (2, 4, 8):

        def batched(chunk=chunk) -> None:
            for begin in range(0, len(alphas), chunk):
                evaluator.batched_with_metric(alphas[begin : begin + chunk])

        chunked[chunk] = median_time(batched, args.repeats) / len(alphas)
    single = median_time(lambda: evaluator.batched_with_metric(alphas[:1]), args.repeats * 4)
    for chunk, seconds in chunked.items():
        print(
            f"landscape point, 32 images 64²: vmap chunk {chunk} {seconds * 1e3:.0f} ms vs one "
            f"point per call {single * 1e3:.0f} ms: {single / seconds:.2f}x"
        )


if __name__ == "__main__":
    main()
