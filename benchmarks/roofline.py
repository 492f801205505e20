"""Roofline of every objective: achieved GFLOP/s of each analysis path against this core's
measured float32 peak, side by side with the per-point loop.

One process, one thread. For each objective (the convection PINN, the default-study
UNet-CRF, the own-model example's spirals MLP, a small and a CIFAR-sized CNN, the latter
also over a data loader, an MNIST-sized MLP) it

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

On a GPU (``--device cuda``: TF32 off, deterministic cuDNN, as the CLI runs) the peaks are
that GPU's float32 GEMM and convolution rates, and two paper-scale rows are added on
request: the whole convection landscape at ``--pinn-grid DIMS RESOLUTION`` (41⁴ in the
paper: 2.8 M points) and the paper's UNet-CRF (``paper-unet``: width 16, 5 levels, 224²,
32 images; untrained weights, the cost does not depend on them).

    python benchmarks/roofline.py [--work /tmp/roofline] [--repeats 5]
    python benchmarks/roofline.py \\
        --unet-checkpoint results/unet/lr0.002_seed243/checkpoints/epoch_010.pt
    python benchmarks/roofline.py --device cuda --memory-budget 16384 \\
        --only pinn unet paper-unet cifar-cnn mlp --pinn-grid 4 41
"""

from __future__ import annotations

import argparse
import dataclasses
import json
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
from losstopo.landscape.evaluation import (
    LandscapeEvaluator,
    choose_chunk_size,
    sample_landscape,
)
from losstopo.landscape.grid import grid_alphas, grid_axes
from losstopo.objective import Objective
from losstopo.problems.loading import load_objective
from losstopo.runtime import keep_freed_memory, resolve_device

CONV_KINDS = ("convolution", "conv")


def synchronize() -> None:
    """Wait for queued GPU work, so that a timing covers it (nothing to wait for on a CPU)."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def timings(fn: Callable[[], object], repeats: int) -> list[float]:
    """Seconds of ``repeats`` calls of ``fn`` after one warm-up call."""
    fn()
    synchronize()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize()
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


def measure_peaks(repeats: int, device: torch.device | None = None) -> Peaks:
    """The best float32 rate of square GEMMs and of 3×3 convolutions (batch 32, both
    memory formats) on this thread or GPU: the ceiling each kind of work is held to."""
    device = device or torch.device("cpu")
    gpu = device.type == "cuda"
    gemm = 0.0
    for n in (2048, 4096, 8192) if gpu else (256, 512, 1024):
        a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
        gemm = max(gemm, 2 * n**3 / best_time(lambda a=a, b=b: a @ b, repeats))
    conv = 0.0
    shapes = ((64, 112), (128, 56), (256, 28)) if gpu else ((32, 32), (64, 16), (64, 32), (128, 16))
    for channels, side in shapes:
        x = torch.randn(32, channels, side, side, device=device)
        w = torch.randn(channels, channels, 3, 3, device=device)
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
    theta = objective.theta()
    rows = []
    for _ in range(dims):
        raw = torch.randn(objective.n_parameters, generator=generator, dtype=torch.float64)
        raw = raw.to(dtype=theta.dtype, device=theta.device)
        d = normalize_direction(objective.unflatten(raw), objective.params, "layer")
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


def channels_last_hvp_seconds(objective: Objective, v: torch.Tensor, repeats: int) -> float:
    """Median seconds of one HVP with every ``nn.Conv2d`` fed channels-last inputs (the
    landscape's direct-call layout), which the Hessian stages do not use: this measures why."""
    from losstopo.layout import channels_last_convolutions

    with channels_last_convolutions(objective.model):
        operator = HVPOperator(objective)
        operator(v)
        return median_time(lambda: operator(v), repeats)


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
    name: str,
    objective: Objective,
    peaks: Peaks,
    dims: int,
    repeats: int,
    hvp_repeats: int,
    memory_budget_mb: float = 512.0,
) -> list[Row]:
    rows: list[Row] = []
    cpu = objective.theta().device.type == "cpu"
    directions = random_directions(objective, dims)
    evaluator = LandscapeEvaluator(objective, directions)
    alphas = grid_alphas(grid_axes(dims, 41 if dims <= 2 else 13, 0.01))
    chunk = choose_chunk_size(objective, memory_budget_mb, len(alphas))
    block = alphas[:chunk]
    if objective.subspace_loss_fn is not None:
        path = "subspace kernel"
    elif objective.batched_loss_fn is not None:
        path = "batched"
    else:  # the generic path: vmap over a chunk, a direct call for a chunk of one
        path = "direct call" if chunk == 1 else "vmap"
    evaluator.batched(block)  # the first direct call is also checked against the model
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
    if cpu:
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
    v = v.to(dtype=objective.theta().dtype, device=objective.theta().device)
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
    if convolutions and cpu:
        layout = channels_last_hvp_seconds(objective, v, hvp_repeats)
        rows.append(
            Row(
                name,
                "HVP with channels-last convolution inputs (not used)",
                sum(hvp_flops.values()) / 1e9,
                layout,
                peaks.bound_seconds(hvp_flops),
                f"{layout / hvp_seconds:.2f}x the time of the model's own layout",
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


def whole_landscape(
    name: str,
    objective: Objective,
    peaks: Peaks,
    dims: int,
    resolution: int,
    memory_budget_mb: float,
) -> Row:
    """One whole grid landscape (``losstopo landscape``'s evaluation, distance 0.5), timed
    once after a warm-up on a 5-point grid; its FLOPs are one chunk's times the chunks."""
    directions = random_directions(objective, dims)
    sample_landscape(objective, directions, 5, 0.5, None, memory_budget_mb, False)
    synchronize()
    start = time.perf_counter()
    result = sample_landscape(objective, directions, resolution, 0.5, None, memory_budget_mb, False)
    synchronize()
    seconds = time.perf_counter() - start
    points = resolution**dims
    chunk = min(result.chunk_size, resolution ** (dims - 1))  # chunks never cross a slab
    block = grid_alphas(grid_axes(dims, resolution, 0.5))[:chunk]
    evaluator = LandscapeEvaluator(objective, directions)
    evaluator.batched(block)  # as in the landscape: the first call's check not counted
    flops = {
        k: v * points / chunk for k, v in count_flops(lambda: evaluator.batched(block)).items()
    }
    return Row(
        name,
        f"whole {resolution}^{dims} landscape (chunk {chunk})",
        sum(flops.values()) / 1e9,
        seconds,
        peaks.bound_seconds(flops),
        f"{points / seconds:,.0f} points/s",
    )


def pinn_objective(work: Path, device: torch.device) -> Objective:
    from losstopo.problems.convection.config import PINNConfig
    from losstopo.problems.convection.training import write_pinn_run

    run = work / "pinn"
    if not (run / "metrics.json").is_file():
        write_pinn_run(PINNConfig(beta=1.0, lr=1.0, iterations=50), 0, torch.device("cpu"), run)
    return load_objective(run / "model.pt", device, torch.float32)


def paper_unet_objective(device: torch.device) -> Objective:
    """The paper's UNet-CRF (width 16, 5 levels, CRF of 5 iterations) on 32 random 224²
    images, freshly initialised and in eval mode (the cost does not depend on the weights)."""
    from losstopo.problems.segmentation.unet import build_unet

    torch.manual_seed(0)
    model = build_unet({"width": 16, "depth": 5}).eval().to(device)
    images = torch.randn(32, 3, 224, 224, device=device)
    labels = torch.randint(0, 3, (32, 224, 224), device=device)
    return Objective.from_module(model, F.cross_entropy, (images, labels))


def unet_objective(work: Path, checkpoint: Path | None, device: torch.device) -> Objective:
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
    return load_objective(checkpoint, device, torch.float32, batch_size=32)


CPU = torch.device("cpu")


def on_device(
    model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor, device: torch.device
) -> Objective:
    """The cross-entropy objective of ``model`` on one fixed batch, all on ``device``."""
    return Objective.from_module(
        model.to(device), F.cross_entropy, (inputs.to(device), targets.to(device))
    )


def spirals_objective(device: torch.device = CPU) -> Objective:
    """The own-model example's classifier (2 → 10 → 10 → 3, tanh) on its 300 training
    points, freshly initialised (the cost does not depend on the weights), in float32."""
    root = Path(__file__).resolve().parents[1] / "examples" / "own_model"
    sys.path.insert(0, str(root))
    from spirals import DATA_SEED, N_PER_CLASS, make_model, spirals

    torch.manual_seed(0)
    model = make_model().float()
    x, y = spirals(N_PER_CLASS, DATA_SEED)
    return on_device(model, x.float(), y, device)


def small_cnn_objective(device: torch.device = CPU) -> Objective:
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
    return on_device(model, images, labels, device)


def wide_mlp_objective(device: torch.device = CPU) -> Objective:
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
    return on_device(model, inputs, labels, device)


def cifar_cnn_objective(device: torch.device = CPU) -> Objective:
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
    return on_device(model, images, labels, device)


def print_table(rows: list[Row]) -> None:
    header = ["objective", "path", "GFLOP/call", "ms/call", "GFLOP/s", "bound GFLOP/s"]
    header += ["of bound", ""]
    table = [header] + [row.cells() for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(r, widths, strict=True)))
    sys.stdout.flush()


def cifar_loader_objective(device: torch.device = CPU) -> Objective:
    """The CIFAR-sized CNN over a data loader of 256 random images in 4 batches of 64
    (``Objective.from_loader``: the exact mean over all batches, one batch in memory)."""
    from torch.utils.data import DataLoader, TensorDataset

    model = cifar_cnn_objective(device).model
    torch.manual_seed(1)
    images = torch.randn(256, 3, 32, 32)
    labels = torch.randint(0, 10, (256,))
    loader = DataLoader(TensorDataset(images, labels), batch_size=64)
    return Objective.from_loader(model, F.cross_entropy, loader)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/roofline"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--unet-checkpoint", type=Path)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument(
        "--memory-budget", type=float, default=512.0, help="MiB per landscape chunk"
    )
    parser.add_argument(
        "--only",
        nargs="*",
        default=None,
        help="objectives to run (pinn unet spirals cnn cifar-cnn mlp cifar-loader paper-unet; "
        "default: all but paper-unet)",
    )
    parser.add_argument(
        "--pinn-grid",
        nargs=2,
        type=int,
        metavar=("DIMS", "RESOLUTION"),
        help="also time the whole PINN landscape of this grid (e.g. 4 41)",
    )
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    device = resolve_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(1)
    kept = keep_freed_memory()  # as the compute commands run
    args.work.mkdir(parents=True, exist_ok=True)
    peaks = measure_peaks(args.repeats, device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "1 thread"
    print(
        f"float32 peaks on {where}: GEMM {peaks.gemm / 1e9:.1f} GFLOP/s, "
        f"3x3 convolution {peaks.conv / 1e9:.1f} GFLOP/s (torch {torch.__version__}; "
        f"freed memory kept for reuse: {kept})",
        flush=True,
    )
    makers: dict[str, tuple[Callable[[], Objective], int, int]] = {
        "pinn": (lambda: pinn_objective(args.work, device), 2, 20),
        "unet": (lambda: unet_objective(args.work, args.unet_checkpoint, device), 2, 4),
        "spirals": (lambda: spirals_objective(device), 2, 20),
        "cnn": (lambda: small_cnn_objective(device), 2, 10),
        "cifar-cnn": (lambda: cifar_cnn_objective(device), 2, 4),
        "mlp": (lambda: wide_mlp_objective(device), 2, 10),
        "cifar-loader": (lambda: cifar_loader_objective(device), 2, 2),
        "paper-unet": (lambda: paper_unet_objective(device), 2, 4),
    }
    chosen = args.only or [name for name in makers if name != "paper-unet"]
    unknown = sorted(set(chosen) - set(makers))
    if unknown:
        parser.error(f"unknown objectives: {', '.join(unknown)} (choose from {', '.join(makers)})")
    rows: list[Row] = []
    errors: dict[str, str] = {}
    for name, (make, dims, hvp_repeats) in makers.items():
        if name not in chosen:
            continue
        try:
            objective = make()
            rows.extend(
                profile(name, objective, peaks, dims, args.repeats, hvp_repeats, args.memory_budget)
            )
            if name == "pinn" and args.pinn_grid:
                grid_dims, resolution = args.pinn_grid
                rows.append(
                    whole_landscape(
                        name, objective, peaks, grid_dims, resolution, args.memory_budget
                    )
                )
        except Exception as exc:  # report and go on to the next objective
            errors[name] = repr(exc)
            print(f"{name}: {exc!r}", file=sys.stderr, flush=True)
        print_table(rows)
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "device": where,
                        "torch": torch.__version__,
                        "peaks_gflops": {"gemm": peaks.gemm / 1e9, "conv": peaks.conv / 1e9},
                        "repeats": args.repeats,
                        "memory_budget_mb": args.memory_budget,
                        "rows": [dataclasses.asdict(row) for row in rows],
                        "errors": errors,
                    },
                    indent=1,
                )
            )
    if errors:
        raise SystemExit(f"failed: {', '.join(errors)}")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
