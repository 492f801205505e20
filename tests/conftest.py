"""Shared fixtures: small, fast settings so unit tests run in seconds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from hypothesis import settings

# Property tests draw the same examples on every run, so a test run is reproducible like the
# study; ``pytest --hypothesis-profile=explore`` draws fresh random examples (and more of them)
# to look for new failures, which then belong in an ``@example``.
settings.register_profile("default", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, max_examples=400, print_blob=True)
settings.load_profile(os.environ.get("LOSSTOPO_HYPOTHESIS_PROFILE", "default"))

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _single_thread():
    """Tests compare numbers exactly; pin torch to one thread so they are reproducible."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for running ``python -m losstopo`` from the source tree."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _small_pinn_with_hessian(out: Path, seed: int, iterations: int, top_k: int = 3) -> Path:
    """Train a small PINN (β = 2, hidden 8,8) into ``out`` and write its top-k Hessian."""
    from losstopo.cli import main

    common = ["--device", "cpu"]
    train = ["train-pinn", "--beta", "2", "--lr", "1", "--seed", str(seed), "--hidden", "8,8"]
    assert main([*train, "--iterations", str(iterations), *common, "--out", str(out)]) == 0
    hessian = ["hessian", str(out / "model.pt"), "--top-k", str(top_k), *common]
    assert main([*hessian, "--out", str(out / "hessian.nc")]) == 0
    return out


@pytest.fixture(scope="session")
def small_pinn_with_hessian():
    """A function that trains a small PINN and writes its Hessian (for module fixtures)."""
    return _small_pinn_with_hessian
