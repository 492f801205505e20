"""Shared fixtures: small, fast settings so unit tests run in seconds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

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
