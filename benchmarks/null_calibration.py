"""Do the minima of scattered 6-D landscapes belong to the loss, or to the sampling and graph?

For trained PINN runs (a checkpoint with its ``hessian.nc``, e.g. the default study's analysed
runs) the 6-D landscape along the top-6 Hessian eigenvectors is sampled at growing numbers of
scrambled Sobol points (the inner cube around θ scaled with them: ``--center-fraction``), and
its merge tree built on two graphs: the paper's mutual Euclidean k-NN graph and the default,
the union k-NN graph in coordinates whitened by the landscape's Taylor Hessian |K|. For each,
the script prints the number of minima of the loss and of its null model (the Taylor quadratic
at θ on the same samples and graph), raw, with persistence ≥ 1 % of the range, and at least
``--log-threshold`` decades deep; then the change of each real count between the two largest
sizes. A graph that gives the quadratic more than one or two minima measures its own sampling.

    python benchmarks/null_calibration.py [RUN_DIR ...] [--sizes 4097 16385 65537]

RUN_DIR holds ``model.pt`` and ``model/hessian.nc`` (default: every analysed PINN run under
results/pinn).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from losstopo.io.landscape_file import write_landscape
from losstopo.stages import compute_landscape, compute_topology, load_analysed_checkpoint

GRAPHS = (("euclidean", "mutual"), ("curvature", "union"))
COUNTS = ("n_minima_raw", "n_minima_above", "n_minima_above_log")


def analysed_runs(root: Path) -> list[Path]:
    return sorted(path.parent.parent for path in root.glob("*/model/hessian.nc"))


def calibrate(run: Path, sizes: list[int], args: argparse.Namespace, scratch: Path) -> dict:
    """Counts of the real loss and its null per size and graph: {(size, graph): attrs}."""
    checkpoint = load_analysed_checkpoint(
        run / "model.pt", device=torch.device("cpu"), dtype=torch.float32
    )
    found = {}
    for size in sizes:
        center = round(size * args.center_fraction)
        start = time.perf_counter()
        landscape = compute_landscape(
            checkpoint,
            run / "model" / "hessian.nc",
            args.dims,
            None,
            args.distance,
            sampling="sobol",
            n_points=size,
            seed=args.seed,
            center_points=center,
        )
        path = scratch / f"{run.name}_{size}.nc"
        write_landscape(landscape, path)
        sampled = time.perf_counter() - start
        for metric, symmetrize in GRAPHS:
            result = compute_topology(
                path,
                connectivity="knn",
                knn_metric=metric,
                symmetrize=symmetrize,
                log_threshold=args.log_threshold,
                workers=args.workers,
            )
            found[(size, metric)] = result.dataset.attrs
        attrs = found[(size, "curvature")]
        print(
            f"  {size:6d} + {center:5d} centre samples ({sampled:5.1f} s): "
            f"anharmonic {attrs['anharmonic_fraction']:.2f}, basin share "
            f"{attrs['basin_fraction']:.3f} (curvature graph)",
            flush=True,
        )
        for metric, symmetrize in GRAPHS:
            attrs = found[(size, metric)]
            cells = "  ".join(f"{attrs[name]:4d} / {attrs[f'null_{name}']:3d}" for name in COUNTS)
            print(f"      {metric:9s} {symmetrize:6s}  {cells}", flush=True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", type=Path)
    parser.add_argument("--sizes", nargs="+", type=int, default=[4097, 16385, 65537])
    parser.add_argument("--center-fraction", type=float, default=0.125)
    parser.add_argument("--dims", type=int, default=6)
    parser.add_argument("--distance", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-threshold", type=float, default=0.3)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    runs = args.runs or analysed_runs(Path("results/pinn"))
    if not runs:
        raise SystemExit("no runs given and none with model/hessian.nc under results/pinn")
    sizes = sorted(args.sizes)
    if len(sizes) < 2:
        raise SystemExit("--sizes needs at least two sizes to compare")
    print(
        f"{args.dims}-D landscapes at distance {args.distance}: minima real / null "
        f"(raw, >= 1 % of range, >= {args.log_threshold} decades)"
    )
    changes = []
    with tempfile.TemporaryDirectory() as scratch:
        for run in runs:
            print(run.name, flush=True)
            found = calibrate(run, sizes, args, Path(scratch))
            small, large = sizes[-2:]
            for metric, _ in GRAPHS:
                before, after = found[(small, metric)], found[(large, metric)]
                change = {
                    name: (after[name] - before[name]) / max(before[name], 1) for name in COUNTS
                }
                null_max = max(found[(size, metric)]["null_n_minima_raw"] for size in sizes)
                changes.append((run.name, metric, change, null_max))
    print(f"\nchange of the real counts from {sizes[-2]} to {sizes[-1]} samples; most null minima")
    for name, metric, change, null_max in changes:
        cells = "  ".join(f"{value:+6.0%}" for value in change.values())
        print(f"  {name:24s} {metric:9s} {cells}   null <= {null_max}")


if __name__ == "__main__":
    main()
