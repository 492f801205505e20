"""Roofline of every objective: achieved GFLOP/s of each analysis path against this core's
measured float32 peak, side by side with the per-point loop.

One process, one thread. For each objective (the convection PINN, the default-study
UNet-CRF, the own-model example's spirals MLP, a small and a CIFAR-sized CNN, an
MNIST-sized MLP) it

* counts the FLOPs of one loss evaluation, one Hessian-vector product and one landscape
  chunk with ``torch.utils.flop_counter.FlopCounterMode`` (matrix products and
  convolutions, the work that has a hardware peak; element-wise work is not counted, so the
  bound is a true upper bound);
* measures this core's float32 peaks: the best of square GEMMs and the best of 3×3
  convolutions over a set of shapes (channels-last and not);
* times the landscape (the chunk the workflow would use, through the objective's fast
  path), the per-point loop (one objective call per point), one HVP (the workflow's mode)
  and trace/SLQ (Hutchinson probes and Lanczos steps: HVPs plus vector work);
* prints GFLOP/s, the bound (FLOPs of each kind over that kind's peak) and the fraction of
  the bound reached, and the landscape's speed-up over the per-point loop.

Medians of interleaved repeats; quote ratios (the machines are shared).

    python benchmarks/roofline.py [--work /tmp/roofline] [--repeats 5]
    python benchmarks/roofline.py \\
        --unet-checkpoint results/unet/lr0.002_seed243/checkpoints/epoch_010.pt
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from losstopo.hessian.curvature import hutchinson_trace, slq
from losstopo.hessian.operator import HVPOperator
from losstopo.landscape.directions import normalize_direction
from losstopo.landscape.evaluation import LandscapeEvaluator, choose_chunk_size
from losstopo.landscape.grid import grid_alphas, grid_axes
from losstopo.objective import Objective
from losstopo.problems.loading import load_objective
from losstopo.runtime import keep_freed_memory

CONV_KINDS = ("convolution", "conv")


def timings(fn: Callable[[], object], repeats: int) -> list[float]:
    """Seconds of ``repeats`` calls of ``fn`` after one warm-up call."""
    fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def median_time(fn: Callable[[], object], repeats: int) -> float:
    return statistics.median(timings(fn, repeats))


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """The fastest call: a peak, where slower calls only measure interference."""
    return min(timings(fn, repeats))


@dataclass
class Peaks:
    gemm: float  # FLOP/s
    conv: float

    def bound_seconds(self, flops: dict[str, int]) -> float:
        """Seconds the counted work takes at this core's peaks (convolutions at the
        convolution peak, everything else the counter counts at the GEMM peak)."""
        seconds = 0.0
        for op, count in flops.items():
            peak = self.conv if any(k in op for k in CONV_KINDS) else self.gemm
            seconds += count / peak
        return seconds


def measure_peaks(repeats: int) -> Peaks:
    """The best float32 rate of square GEMMs and of 3×3 convolutions (batch 32, both
    memory formats) on this thread: the ceiling each kind of work is held to."""
    gemm = 0.0
    for n in (256, 512, 1024):
        a, b = torch.randn(n, n), torch.randn(n, n)
        gemm = max(gemm, 2 * n**3 / best_time(lambda a=a, b=b: a @ b, repeats))
    conv = 0.0
    for channels, side in ((32, 32), (64, 16), (64, 32), (128, 16)):
        x = torch.randn(32, channels, side, side)
        w = torch.randn(channels, channels, 3, 3)
        flops = 2 * 32 * channels * channels * 9 * side * side
        for fmt in (torch.contiguous_format, torch.channels_last):
            xf, wf = x.contiguous(memory_format=fmt), w.contiguous(memory_format=fmt)
            seconds = best_time(lambda xf=xf, wf=wf: F.conv2d(xf, wf, padding=1), repeats)
            conv = max(conv, flops / seconds)
    return Peaks(gemm, conv)


def count_flops(fn: Callable[[], object]) -> dict[str, int]:
    """FLOPs by ATen operator of one call of ``fn``."""
    with FlopCounterMode(display=False) as counter:
        fn()
    totals: dict[str, int] = {}
    for ops in counter.get_flop_counts().values():
        for op, count in ops.items():
            name = str(op).split(".")[1] if "." in str(op) else str(op)
            totals[name] = max(totals.get(name, 0), int(count))
    return totals


def random_directions(objective: Objective, dims: int, seed: int = 0) -> torch.Tensor:
    """Layer-normalised random directions (the cost does not depend on which)."""
    generator = torch.Generator().manual_seed(seed)
    dtype = objective.theta().dtype
    rows = []
    for _ in range(dims):
        raw = torch.randn(objective.n_parameters, generator=generator, dtype=torch.float64)
        d = normalize_direction(objective.unflatten(raw.to(dtype)), objective.params, "layer")
        rows.append(objective.flatten(d))
    return torch.stack(rows)


def record_convolutions(fn: Callable[[], object]) -> list[tuple]:
    """The convolutions one call of ``fn`` runs: (input, weight, bias, stride, padding,
    dilation, transposed, output padding, groups), tensors kept as example inputs."""
    from torch.utils._python_dispatch import TorchDispatchMode

    calls: list[tuple] = []

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func is torch.ops.aten.convolution.default:
                calls.append(tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args))
            return func(*args, **(kwargs or {}))

    with Recorder():
        fn()
    return calls


def isolated_seconds(call: tuple, repeats: int) -> float:
    """The best time of one recorded convolution run alone, on the same inputs and layout."""
    return best_time(lambda: torch.ops.aten.convolution.default(*call), max(3, repeats))


@dataclass
class Row:
    objective: str
    path: str
    gflop: float  # per call
    seconds: float  # per call
    bound_seconds: float
    note: str = ""

    def cells(self) -> list[str]:
        rate = self.gflop / self.seconds
        fraction = self.bound_seconds / self.seconds
        return [
            self.objective,
            self.path,
            f"{self.gflop:.3g}",
            f"{self.seconds * 1e3:.3g}",
            f"{rate:.1f}",
            f"{self.gflop / self.bound_seconds:.1f}",
            f"{100 * fraction:.0f}%",
            self.note,
        ]


def profile(
    name: str, objective: Objective, peaks: Peaks, dims: int, repeats: int, hvp_repeats: int
) -> list[Row]:
    rows: list[Row] = []
    directions = random_directions(objective, dims)
    evaluator = LandscapeEvaluator(objective, directions)
    alphas = grid_alphas(grid_axes(dims, 41 if dims <= 2 else 13, 0.01))
    chunk = choose_chunk_size(objective, 512.0, len(alphas))
    block = alphas[:chunk]
    if objective.subspace_loss_fn is not None:
        path = "subspace kernel"
    elif objective.batched_loss_fn is not None:
        path = "batched"
    else:  # the generic path: vmap over a chunk, a direct call for a chunk of one
        path = "direct call" if chunk == 1 else "vmap"
    flops = count_flops(lambda: evaluator.batched(block))
    seconds = median_time(lambda: evaluator.batched(block), repeats) / chunk
    single = alphas[:1]
    per_point = median_time(lambda: evaluator.per_point(single), repeats)
    total = sum(flops.values()) / chunk
    bound = peaks.bound_seconds(flops) / chunk
    note = f"{per_point / seconds:.1f}x the per-point loop"
    convolutions = record_convolutions(lambda: evaluator.batched(block))
    if convolutions:
        conv_seconds = sum(isolated_seconds(call, repeats) for call in convolutions) / chunk
        other = sum(v for k, v in flops.items() if not any(c in k for c in CONV_KINDS))
        shape_bound = conv_seconds + other / peaks.gemm / chunk
        note += (
            f"; {100 * shape_bound / seconds:.0f}% of each convolution at its own shape's "
            f"isolated rate ({total * chunk / 1e9 / shape_bound / chunk:.0f} GFLOP/s)"
        )
    rows.append(
        Row(name, f"landscape point ({path}, chunk {chunk})", total / 1e9, seconds, bound, note)
    )
    torch.set_num_threads(2)
    two = median_time(lambda: evaluator.batched(block), repeats) / chunk
    torch.set_num_threads(1)
    rows.append(
        Row(
            name,
            f"landscape point ({path}, chunk {chunk}, 2 threads)",
            total / 1e9,
            two,
            bound / 2,
            f"{seconds / two:.2f}x one thread (bound: 2x one core's peak)",
        )
    )
    point_flops = count_flops(lambda: evaluator.per_point(single))
    rows.append(
        Row(
            name,
            "landscape point (per-point loop)",
            sum(point_flops.values()) / 1e9,
            per_point,
            peaks.bound_seconds(point_flops),
        )
    )
    operator = HVPOperator(objective)
    v = torch.randn(objective.n_parameters, generator=torch.Generator().manual_seed(1))
    v = v.to(objective.theta().dtype)
    operator(v)  # builds the retained gradient graph once, as the stages do
    hvp_flops = count_flops(lambda: operator(v))
    hvp_seconds = median_time(lambda: operator(v), hvp_repeats)
    rows.append(
        Row(
            name,
            f"HVP ({operator.mode.split(' (')[0]})",
            sum(hvp_flops.values()) / 1e9,
            hvp_seconds,
            peaks.bound_seconds(hvp_flops),
        )
    )
    probes = 4
    trace_seconds = median_time(
        lambda: hutchinson_trace(
            operator, seed=0, max_hvps=probes, rel_se_target=0.0, min_probes=probes
        ),
        max(1, hvp_repeats // 2),
    )
    steps = 8
    slq_seconds = median_time(
        lambda: slq(operator, n_runs=1, steps=steps, seed=0), max(1, hvp_repeats // 2)
    )
    per_hvp = (trace_seconds + slq_seconds) / (probes + steps)
    rows.append(
        Row(
            name,
            "trace + SLQ (per HVP)",
            sum(hvp_flops.values()) / 1e9,
            per_hvp,
            peaks.bound_seconds(hvp_flops),
            f"{probes} probes + {steps} Lanczos steps",
        )
    )
    return rows


def pinn_objective(work: Path) -> Objective:
    from losstopo.problems.convection.config import PINNConfig
    from losstopo.problems.convection.training import write_pinn_run

    run = work / "pinn"
    if not (run / "metrics.json").is_file():
        write_pinn_run(PINNConfig(beta=1.0, lr=1.0, iterations=50), 0, torch.device("cpu"), run)
    return load_objective(run / "model.pt", torch.device("cpu"), torch.float32)


def unet_objective(work: Path, checkpoint: Path | None) -> Objective:
    if checkpoint is None:
        from losstopo.problems.segmentation.config import UNetConfig
        from losstopo.problems.segmentation.synthetic_pets import make_synthetic_pets
        from losstopo.problems.segmentation.training import train_unet_run

        data = work / "pets"
        if not (data / "SYNTHETIC.json").is_file():
            make_synthetic_pets(data, n_trainval=64, n_test=16, size=64, seed=0)
        config = UNetConfig(
            data_dir=str(data), lr=0.002, epochs=1, batch_size=16, image_size=64, width=8, depth=4
        )
        run = work / "unet"
        checkpoint = run / "checkpoints/epoch_001.pt"
        if not checkpoint.is_file():
            train_unet_run(config, 243, run, torch.device("cpu"))
    return load_objective(checkpoint, torch.device("cpu"), torch.float32, batch_size=32)


def spirals_objective() -> Objective:
    """The own-model example's classifier (2 → 10 → 10 → 3, tanh) on its 300 training
    points, freshly initialised (the cost does not depend on the weights), in float32."""
    root = Path(__file__).resolve().parents[1] / "examples" / "own_model"
    sys.path.insert(0, str(root))
    from spirals import DATA_SEED, N_PER_CLASS, make_model, spirals

    torch.manual_seed(0)
    model = make_model().float()
    x, y = spirals(N_PER_CLASS, DATA_SEED)
    return Objective.from_module(model, F.cross_entropy, (x.float(), y))


def small_cnn_objective() -> Objective:
    """A small CNN (two 3×3 conv layers of 16 and 32 channels, max-pooling, a linear head)
    on 64 random 28×28 images: the shape of a user's image classifier."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(32 * 7 * 7, 10),
    )
    images = torch.randn(64, 1, 28, 28)
    labels = torch.randint(0, 10, (64,))
    return Objective.from_module(model, F.cross_entropy, (images, labels))


def wide_mlp_objective() -> Objective:
    """An MNIST-sized classifier MLP (784 → 256 → 256 → 10, ReLU) on 256 random examples:
    the shape of a user's MLP whose products, not its element-wise work, set the bound."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 10),
    )
    inputs = torch.randn(256, 784)
    labels = torch.randint(0, 10, (256,))
    return Objective.from_module(model, F.cross_entropy, (inputs, labels))


def cifar_cnn_objective() -> Objective:
    """A CIFAR-sized CNN (three 3×3 conv layers of 32, 64 and 64 channels, each with ReLU
    and 2×2 max-pooling, a linear head) on 64 random 3×32×32 images."""
    torch.manual_seed(0)
    layers: list[torch.nn.Module] = []
    for c_in, c_out in ((3, 32), (32, 64), (64, 64)):
        layers += [
            torch.nn.Conv2d(c_in, c_out, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
        ]
    model = torch.nn.Sequential(*layers, torch.nn.Flatten(), torch.nn.Linear(64 * 4 * 4, 10))
    images = torch.randn(64, 3, 32, 32)
    labels = torch.randint(0, 10, (64,))
    return Objective.from_module(model, F.cross_entropy, (images, labels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/roofline"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--unet-checkpoint", type=Path)
    parser.add_argument(
        "--only",
        nargs="*",
        default=None,
        help="objectives to run (pinn unet spirals cnn cifar-cnn mlp)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    kept = keep_freed_memory()  # as the compute commands run
    args.work.mkdir(parents=True, exist_ok=True)
    peaks = measure_peaks(args.repeats)
    print(
        f"float32 peaks on 1 thread: GEMM {peaks.gemm / 1e9:.1f} GFLOP/s, "
        f"3x3 convolution {peaks.conv / 1e9:.1f} GFLOP/s (torch {torch.__version__}; "
        f"freed memory kept for reuse: {kept})"
    )
    makers: dict[str, tuple[Callable[[], Objective], int, int]] = {
        "pinn": (lambda: pinn_objective(args.work), 2, 20),
        "unet": (lambda: unet_objective(args.work, args.unet_checkpoint), 2, 4),
        "spirals": (spirals_objective, 2, 20),
        "cnn": (small_cnn_objective, 2, 10),
        "cifar-cnn": (cifar_cnn_objective, 2, 4),
        "mlp": (wide_mlp_objective, 2, 10),
    }
    rows: list[Row] = []
    for name, (make, dims, hvp_repeats) in makers.items():
        if args.only and name not in args.only:
            continue
        rows.extend(profile(name, make(), peaks, dims, args.repeats, hvp_repeats))
    header = [
        "objective",
        "path",
        "GFLOP/call",
        "ms/call",
        "GFLOP/s",
        "bound GFLOP/s",
        "of bound",
        "",
    ]
    table = [header] + [row.cells() for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(r, widths, strict=True)))


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
