"""Process start-up of the command line, as a ratio to ``python -c "import torch"``.

A study runs many small jobs, each a fresh ``losstopo`` process, so start-up is part of every
job. Prints, in one run, the median wall time of ``losstopo --help``, ``losstopo topology
--help`` and a ``losstopo topology`` job on a small landscape, each beside importing torch.

    python benchmarks/startup.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def median_seconds(command: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def small_landscape(path: Path) -> None:
    from losstopo.io.landscape_file import landscape_dataset, write_landscape
    from losstopo.landscape.grid import LandscapeResult, grid_axes

    axes = grid_axes(3, 11, 0.1)
    loss = np.random.default_rng(0).random((11, 11, 11))
    result = LandscapeResult(loss, axes, chunk_size=1, seconds=0.0)
    write_landscape(landscape_dataset(result, np.ones(3), np.eye(3), {"distance": 0.1}), path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="runs per command (median)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        landscape = Path(tmp) / "landscape.nc"
        small_landscape(landscape)
        cli = [sys.executable, "-m", "losstopo"]
        commands = {
            'python -c "import torch"': [sys.executable, "-c", "import torch"],
            "losstopo --help": [*cli, "--help"],
            "losstopo topology --help": [*cli, "topology", "--help"],
            "losstopo topology (11^3 landscape)": [
                *cli,
                "topology",
                str(landscape),
                "--out",
                str(Path(tmp) / "topology.nc"),
            ],
        }
        # interleave the commands so that machine noise hits all of them alike
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, command in commands.items():
                samples[name].append(median_seconds(command, 1))
    reference = statistics.median(samples['python -c "import torch"'])
    print(f"{'command':<38} {'median s':>9} {'ratio to import torch':>22}")
    for name, times in samples.items():
        median = statistics.median(times)
        print(f"{name:<38} {median:9.3f} {median / reference:22.2f}")


if __name__ == "__main__":
    main()
