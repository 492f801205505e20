"""CUDA path check and paper-scale timings, side by side with the CPU in one process.

Runs the CLI stages on ``--device cuda`` and ``--device cpu`` from the same inputs and
compares their numbers (TF32 is off on CUDA, so float32 results agree to rounding), checks
that every output records the device it was computed on, and times the paper-scale
workloads that dominate a cluster run:

* convection PINN landscapes at 41³ and 41⁴ (2.8 M loss evaluations);
* the paper's UNet-CRF (width 16, 5 levels, 224², batch 32): one training step, one
  Hessian-vector product and one batched landscape evaluation.

    python benchmarks/cuda_check.py --work /tmp/cuda-check [--json report.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from losstopo.cli import main as cli


def run(*argv: str) -> float:
    """Run one CLI command in this process; returns its wall time in seconds."""
    start = time.perf_counter()
    status = cli([str(a) for a in argv])
    if status:
        raise SystemExit(f"command failed ({status}): losstopo {' '.join(map(str, argv))}")
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def rel(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def pinn_checks(work: Path, report: dict) -> None:
    """Train on both devices; Hessian and landscapes of one checkpoint on both devices."""
    times = {}
    for device in ("cuda", "cpu"):
        times[device] = run(
            "train-pinn", "--beta", 1, "--lr", 1, "--seed", 0, "--iterations", 300,
            "--device", device, "--threads", 8, "--out", work / f"pinn_{device}",
        )  # fmt: skip
    metrics = {d: json.loads((work / f"pinn_{d}/metrics.json").read_text()) for d in times}
    report["pinn_train"] = {
        "seconds": times,
        "relative_l2_error": {d: metrics[d]["relative_l2_error"] for d in times},
        "device_recorded": {d: metrics[d]["device"] for d in times},
    }
    checkpoint = work / "pinn_cpu/model.pt"
    eig = {}
    for device in ("cuda", "cpu"):
        seconds = run(
            "hessian", checkpoint, "--top-k", 4, "--device", device, "--threads", 8,
            "--out", work / f"hessian_{device}.nc",
        )  # fmt: skip
        with xr.open_dataset(work / f"hessian_{device}.nc") as ds:
            eig[device] = (ds.eigenvalues.values.copy(), ds.attrs["device"], seconds)
    report["pinn_hessian"] = {
        "eigenvalues_cuda": eig["cuda"][0].tolist(),
        "max_rel_diff_cuda_vs_cpu": rel(eig["cuda"][0], eig["cpu"][0]),
        "device_recorded": {d: eig[d][1] for d in eig},
        "seconds": {d: eig[d][2] for d in eig},
    }
    values = {}
    for device, threads in (("cuda", 1), ("cpu", 1)):
        out = work / f"landscape3_{device}.nc"
        seconds = run(
            "landscape", checkpoint, "--directions", work / "hessian_cpu.nc", "--dims", 3,
            "--resolution", 21, "--distance", 0.5, "--device", device, "--threads", threads,
            "--memory-budget", 8192, "--out", out,
        )  # fmt: skip
        with xr.open_dataset(out) as ds:
            values[device] = (ds.loss.values.copy(), ds.attrs["device"], seconds)
    report["pinn_landscape_21^3"] = {
        "max_rel_diff_cuda_vs_cpu": rel(values["cuda"][0], values["cpu"][0]),
        "device_recorded": {d: values[d][1] for d in values},
        "seconds": {d: values[d][2] for d in values},
        "points_per_s": {d: 21**3 / values[d][2] for d in values},
    }
    for dims in (3, 4):
        out = work / f"landscape41_{dims}.nc"
        seconds = run(
            "landscape", checkpoint, "--directions", work / "hessian_cpu.nc", "--dims", dims,
            "--resolution", 41, "--distance", 0.5, "--device", "cuda",
            "--memory-budget", 16384, "--out", out,
        )  # fmt: skip
        with xr.open_dataset(out) as ds:
            report[f"pinn_landscape_41^{dims}_cuda"] = {
                "seconds": seconds,
                "points_per_s": 41**dims / seconds,
                "chunk_size": int(ds.attrs["chunk_size"]),
                "n_nonfinite": int(ds.attrs["n_nonfinite"]),
            }


def unet_checks(work: Path, report: dict) -> None:
    """Train a small UNet-CRF on both devices; landscape of one checkpoint on both."""
    data = work / "pets"
    run("make-pets", "--out", data, "--n-trainval", 96, "--n-test", 48, "--size", 64)
    common = ["--data", data, "--lr", 0.002, "--seed", 243, "--epochs", 2, "--batch-size", 16]
    common += ["--image-size", 64, "--width", 8, "--depth", 4]
    times = {}
    for device in ("cuda", "cpu"):
        times[device] = run(
            "train-unet", *common, "--device", device, "--threads", 8,
            "--out", work / f"unet_{device}",
        )  # fmt: skip
    acc = {
        d: np.loadtxt(work / f"unet_{d}/metrics.csv", delimiter=",", skiprows=1)[:, 3].tolist()
        for d in times
    }
    report["unet_train_small"] = {"seconds": times, "test_pixel_accuracy": acc}
    checkpoint = work / "unet_cpu/checkpoints/epoch_002.pt"
    run(
        "hessian", checkpoint, "--top-k", 2, "--device", "cuda", "--objective-batch", 32,
        "--out", work / "unet_hessian.nc",
    )  # fmt: skip
    values = {}
    for device in ("cuda", "cpu"):
        out = work / f"unet_landscape_{device}.nc"
        seconds = run(
            "landscape", checkpoint, "--directions", work / "unet_hessian.nc", "--dims", 2,
            "--resolution", 9, "--distance", 0.01, "--objective-batch", 32,
            "--device", device, "--threads", 8, "--out", out,
        )  # fmt: skip
        with xr.open_dataset(out) as ds:
            values[device] = (ds.loss.values.copy(), ds.metric.values.copy(), seconds)
            values[device] += (ds.attrs["device"],)
    report["unet_landscape_9^2"] = {
        "max_rel_diff_loss_cuda_vs_cpu": rel(values["cuda"][0], values["cpu"][0]),
        "max_abs_diff_accuracy": float(np.max(np.abs(values["cuda"][1] - values["cpu"][1]))),
        "seconds": {d: values[d][2] for d in values},
        "device_recorded": {d: values[d][3] for d in values},
    }


def paper_unet_timings(report: dict) -> None:
    """The paper's UNet-CRF at 224², batch 32, on CUDA: train step, HVP, landscape points."""
    from torch.func import functional_call, grad, jvp, vmap

    from losstopo.problems.segmentation.unet import build_unet, count_parameters
    from losstopo.runtime import resolve_device

    device = resolve_device("cuda")
    torch.manual_seed(0)
    model = build_unet({"width": 16, "depth": 5}).to(device)
    x = torch.randn(32, 3, 224, 224, device=device)
    y = torch.randint(0, 3, (32, 224, 224), device=device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def timed(fn, repeats: int = 5) -> float:
        fn()
        torch.cuda.synchronize()
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            torch.cuda.synchronize()
            samples.append(time.perf_counter() - start)
        return float(np.median(samples))

    def step() -> None:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    model.train()
    step_s = timed(step)
    model.eval()
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p):
        return torch.nn.functional.cross_entropy(functional_call(model, p, (x,)), y)

    tangent = {k: torch.randn_like(v) for k, v in params.items()}
    hvp_s = timed(lambda: jvp(grad(loss), (params,), (tangent,)))
    results = {}
    for chunk in (1, 4):
        stacked = {k: v.expand(chunk, *v.shape).clone() for k, v in params.items()}
        batched = vmap(lambda p: loss(p))
        with torch.no_grad():
            results[chunk] = timed(lambda stacked=stacked, batched=batched: batched(stacked))
    per_point = min(results[c] / c for c in results)
    report["paper_unet_cuda"] = {
        "parameters": count_parameters(model),
        "train_step_s_batch32": step_s,
        "epoch_s_3680_images": step_s * 3680 / 32,
        "hvp_s_batch32": hvp_s,
        "landscape_s_per_point_batch32": {str(c): results[c] / c for c in results},
        "landscape_41x41_s": per_point * 41 * 41,
    }


def paper_unet_pipeline(work: Path, report: dict) -> None:
    """The CLI stages of one paper-size UNet-CRF checkpoint on CUDA (224², width 16, 5 levels):
    one training epoch, top-2 Hessian (float32, Lanczos) and a 41² landscape on 32 images."""
    data = work / "pets224"
    run("make-pets", "--out", data, "--n-trainval", 256, "--n-test", 64, "--size", 256)
    out = work / "unet224"
    train_s = run(
        "train-unet", "--data", data, "--lr", 0.001, "--seed", 243, "--epochs", 1,
        "--batch-size", 32, "--image-size", 224, "--width", 16, "--depth", 5,
        "--device", "cuda", "--out", out,
    )  # fmt: skip
    checkpoint = out / "checkpoints/epoch_001.pt"
    hessian_s = run(
        "hessian", checkpoint, "--top-k", 2, "--dtype", "float32", "--objective-batch", 32,
        "--device", "cuda", "--out", work / "h224.nc",
    )  # fmt: skip
    landscape_s = run(
        "landscape", checkpoint, "--directions", work / "h224.nc", "--dims", 2,
        "--resolution", 41, "--distance", 0.01, "--objective-batch", 32,
        "--memory-budget", 16384, "--device", "cuda", "--out", work / "l224.nc",
    )  # fmt: skip
    with xr.open_dataset(work / "h224.nc") as h, xr.open_dataset(work / "l224.nc") as land:
        report["paper_unet_pipeline_cuda"] = {
            "train_1_epoch_256_images_s": train_s,
            "hessian_s": hessian_s,
            "hessian_n_hvp": int(h.attrs["n_hvp"]),
            "hessian_residuals": h.residual.values.tolist(),
            "landscape_41x41_s": landscape_s,
            "landscape_chunk_size": int(land.attrs["chunk_size"]),
            "landscape_points_per_s": float(land.attrs["points_per_second"]),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--only",
        nargs="+",
        default=["pinn", "unet", "paper_unet", "paper_pipeline"],
        help="checks to run (default: all)",
    )
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    for name, check in (
        ("pinn", lambda: pinn_checks(args.work, report)),
        ("unet", lambda: unet_checks(args.work, report)),
        ("paper_unet", lambda: paper_unet_timings(report)),
        ("paper_pipeline", lambda: paper_unet_pipeline(args.work, report)),
    ):
        if name not in args.only:
            continue
        start = time.perf_counter()
        try:
            check()
        except (Exception, SystemExit) as exc:  # report and go on: device time is scarce
            report[f"{name}_error"] = repr(exc)
        report[f"{name}_wall_s"] = time.perf_counter() - start
        text = json.dumps(report, indent=1, default=str)
        print(text, flush=True)
        if args.json:
            args.json.write_text(text)


if __name__ == "__main__":
    main()
