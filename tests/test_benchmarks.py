"""The benchmark scripts import (they are not run by the tests: they time things), and the
roofline's FLOP counts equal the operations counted by hand."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from losstopo.objective import Objective
from losstopo.problems.segmentation.unet import build_unet

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"benchmark_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", sorted(BENCHMARKS.glob("*.py")), ids=lambda p: p.stem)
def test_benchmark_scripts_import(path):
    module = _load(path)
    assert callable(getattr(module, "main", None))


def test_roofline_counts_a_small_cnn_by_hand():
    roofline = _load(BENCHMARKS / "roofline.py")
    objective = roofline.small_cnn_objective()
    with torch.no_grad():
        flops = roofline.count_flops(lambda: objective())
    images = 64
    conv1 = 2 * images * 16 * 1 * 9 * 28 * 28
    conv2 = 2 * images * 32 * 16 * 9 * 14 * 14
    linear = 2 * images * (32 * 7 * 7) * 10
    assert sum(v for k, v in flops.items() if "conv" in k) == conv1 + conv2
    assert sum(v for k, v in flops.items() if "conv" not in k) == linear
    peaks = roofline.Peaks(gemm=2e9, conv=4e9)
    assert peaks.bound_seconds(flops) == pytest.approx((conv1 + conv2) / 4e9 + linear / 2e9)


def test_roofline_counts_the_cifar_cnn_and_the_mlp_by_hand():
    roofline = _load(BENCHMARKS / "roofline.py")
    with torch.no_grad():
        cnn = roofline.count_flops(roofline.cifar_cnn_objective())
        mlp = roofline.count_flops(roofline.wide_mlp_objective())
    images = 64
    conv = 2 * images * 9 * (3 * 32 * 32**2 + 32 * 64 * 16**2 + 64 * 64 * 8**2)
    assert sum(v for k, v in cnn.items() if "conv" in k) == conv
    assert sum(v for k, v in cnn.items() if "conv" not in k) == 2 * images * 64 * 4 * 4 * 10
    assert sum(mlp.values()) == 2 * 256 * (784 * 256 + 256 * 256 + 256 * 10)


def test_roofline_counts_the_unet_crf_by_hand():
    roofline = _load(BENCHMARKS / "roofline.py")
    width, depth, side, images, steps = 4, 3, 16, 2, 5
    model = build_unet({"width": width, "depth": depth, "crf_iterations": steps}).eval()
    x = torch.randn(images, 3, side, side)
    y = torch.randint(0, 3, (images, side, side))
    objective = Objective.from_module(model, F.cross_entropy, (x, y))
    with torch.no_grad():
        flops = roofline.count_flops(lambda: objective())
    channels = [width * 2**i for i in range(depth)]

    def conv(c_in: int, c_out: int, s: int, k: int = 3) -> int:
        return 2 * images * c_out * c_in * k * k * s * s

    expected = 0
    for i, c in enumerate(channels):  # encoder blocks
        s = side // 2**i
        expected += conv(3 if i == 0 else channels[i - 1], c, s) + conv(c, c, s)
    for i in reversed(range(depth - 1)):  # decoder blocks on (upsampled, skip)
        s = side // 2**i
        expected += conv(channels[i + 1] + channels[i], channels[i], s) + conv(
            channels[i], channels[i], s
        )
    expected += conv(channels[0], 3, side, k=1)  # head
    assert sum(v for k, v in flops.items() if "conv" in k) == expected
    # the CRF: per step, every class map filtered by two side x side banded products
    crf = steps * 2 * (2 * images * 3 * side * side * side)
    assert sum(v for k, v in flops.items() if "conv" not in k) == crf
