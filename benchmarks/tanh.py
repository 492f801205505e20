"""``tanh`` on CPU: torch's in-place ``tanh_`` against numpy's SIMD ``np.tanh`` on the same
memory, which the PINN landscape kernel uses (``problems.convection.mlp.tanh_``).

The shape is one landscape chunk of the default PINN: 9 points × 51 units × 656 columns,
of which the 556 primal columns are activated (a strided view), 1 thread. Prints the median
nanoseconds per element of each and their ratio, and the largest difference from float64.

    python benchmarks/tanh.py [--repeats 200]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch


def per_element_ns(function, elements: int, repeats: int) -> float:
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) / elements * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    capability = torch.backends.cpu.get_cpu_capability()
    print(f"torch {torch.__version__} ({capability}), numpy {np.__version__}")
    print(f"{'dtype':<8} {'layout':<11} {'torch ns/elem':>14} {'numpy ns/elem':>14} {'ratio':>6}")
    for dtype in (torch.float32, torch.float64):
        generator = torch.Generator().manual_seed(0)
        source = torch.randn(9, 51, 656, dtype=dtype, generator=generator) * 2
        target = torch.empty_like(source)
        # the same inputs every call (an in-place loop would drive the values towards 0)
        for layout, cut in (("strided", (..., slice(0, 556))), ("contiguous", (...,))):
            src = source[cut] if layout == "strided" else source[..., :556].contiguous()
            dst = target[cut] if layout == "strided" else torch.empty_like(src)
            a, b = src.numpy(), dst.numpy()
            ours = per_element_ns(lambda a=a, b=b: np.tanh(a, out=b), src.numel(), args.repeats)
            theirs = per_element_ns(
                lambda s=src, d=dst: torch.tanh(s, out=d), src.numel(), args.repeats
            )
            name = str(dtype).removeprefix("torch.")
            print(f"{name:<8} {layout:<11} {theirs:14.2f} {ours:14.2f} {theirs / ours:6.1f}x")
    x = torch.linspace(-12.0, 12.0, 1_000_001)
    exact = torch.tanh(x.double())
    numpy_error = (torch.from_numpy(np.tanh(x.numpy())).double() - exact).abs().max().item()
    torch_error = (torch.tanh(x).double() - exact).abs().max().item()
    print(
        f"float32 max |error| against float64 on [-12, 12]: "
        f"numpy {numpy_error:.1e}, torch {torch_error:.1e}"
    )


if __name__ == "__main__":
    main()
