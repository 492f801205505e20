"""Start-up of the command line: each study job is a fresh process, so a subcommand imports
only what it uses (``benchmarks/startup.py`` measures the times)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

HEAVY = ("torch", "xarray", "pandas", "matplotlib", "numba", "scipy")


def imported_modules(argv: list[str]) -> set[str]:
    """The heavy top-level modules a ``losstopo`` process has imported when it exits."""
    code = (
        "import atexit, sys\n"
        f"atexit.register(lambda: print(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
        "from losstopo.cli import main\n"
        f"sys.exit(main({argv!r}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode in (0, 2), result.stderr
    return set(eval(result.stdout.strip().splitlines()[-1]))


def small_landscape(path: Path) -> None:
    from losstopo.io.landscape_file import landscape_dataset, write_landscape
    from losstopo.landscape.grid import LandscapeResult, grid_axes

    axes = grid_axes(2, 9, 0.1)
    loss = np.random.default_rng(0).random((9, 9))
    write_landscape(
        landscape_dataset(LandscapeResult(loss, axes, 1, 0.0), np.ones(2), np.eye(2), {}), path
    )


def test_help_and_argument_errors_import_nothing_heavy():
    assert imported_modules(["--help"]) == set()
    assert imported_modules(["topology", "--help"]) == set()
    assert imported_modules(["hessian", "missing.pt", "--top-k", "x"]) == set()


def test_a_small_topology_job_imports_nothing_heavy(tmp_path):
    landscape = tmp_path / "landscape.nc"
    small_landscape(landscape)
    out = tmp_path / "topology.nc"
    assert imported_modules(["topology", str(landscape), "--out", str(out)]) == set()
    assert out.is_file()


def python_output(code: str) -> list[str]:
    """The words a fresh Python process running ``code`` prints (it must succeed)."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_the_merge_tree_compiles_only_above_the_visit_threshold():
    """Sweeps run interpreted without importing numba while the process's interpreted visits
    stay within ``COMPILE_ABOVE_VISITS``; the sweep that would pass it loads the compiled
    kernel, which every later sweep reuses; both give the same tree."""
    code = (
        "import sys, numpy as np\n"
        "from losstopo.topology import mergetree as m\n"
        "a = np.random.default_rng(0).random((9, 9, 9, 9))\n"
        "assert 2 * 9 ** 3 * 26 < m.COMPILE_ABOVE_VISITS < 9 ** 4 * 80\n"
        "small = m.merge_tree(a[:, :, :3, 0])\n"
        "print('numba' in sys.modules)\n"
        "n = (m.COMPILE_ABOVE_VISITS - 9 * 9 * 3 * 26) // (9 ** 3 * 26)\n"
        "for _ in range(n):\n"
        "    m.merge_tree(a[..., 0])\n"
        "print('numba' in sys.modules)\n"
        "m.merge_tree(a[..., 0])\n"
        "print('numba' in sys.modules, m.kernels(1) == m.compiled_kernels())\n"
        "again = m.merge_tree(a[:, :, :3, 0])\n"
        "print(all(np.array_equal(getattr(small, f), getattr(again, f)) for f in\n"
        "    ('node_vertex', 'node_kind', 'node_parent', 'node_size', 'segmentation')))\n"
    )
    assert python_output(code) == ["False", "False", "True", "True", "True"]


def test_one_large_sweep_compiles_at_once():
    code = (
        "import sys, numpy as np\n"
        "from losstopo.topology import mergetree as m\n"
        "m.merge_tree(np.random.default_rng(0).random((9, 9, 9, 9)))\n"
        "print('numba' in sys.modules, m._interpreted_visits)\n"
    )
    assert python_output(code) == ["True", "0"]


def test_the_topology_file_written_without_xarray_reads_back_as_its_dataset(tmp_path):
    import xarray as xr

    from losstopo.io.topology_file import read_topology, write_topology
    from losstopo.stages import compute_topology

    landscape = tmp_path / "landscape.nc"
    small_landscape(landscape)
    result = compute_topology(landscape, persistence_threshold=0.05)
    write_topology(result.dataset, tmp_path / "topology.nc")
    read = read_topology(tmp_path / "topology.nc")
    xr.testing.assert_identical(read, result.dataset.to_xarray())
    assert read["node_kind"].attrs["flag_meanings"] == "minimum saddle root"
    assert read["node_value"].dtype == np.float64 and read["node_kind"].dtype == np.int8
    assert list(read["segmentation"].dims) == ["a0", "a1"]
    np.testing.assert_allclose(read["a0"].values, np.linspace(-0.1, 0.1, 9), atol=1e-15)
