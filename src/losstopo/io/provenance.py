"""Provenance recorded in every output: versions, time, inputs and their hashes."""

from __future__ import annotations

import datetime as _dt
import hashlib
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from losstopo._version import __version__


def _torch_version() -> str:
    """torch's version without importing it (stages such as topology never need torch)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return str(torch.__version__)
    try:
        return version("torch")
    except PackageNotFoundError:
        return "not installed"


def sha256_of(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks so large checkpoints do not load into memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def now_utc() -> str:
    """ISO-8601 UTC timestamp, second resolution."""
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()


def base_provenance() -> dict[str, Any]:
    """Versions of the code that produced an output."""
    return {
        "losstopo_version": __version__,
        "torch_version": _torch_version(),
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "created": now_utc(),
    }


def source_provenance(path: str | Path) -> dict[str, str]:
    """Name and hash of the input an output was derived from."""
    return {"source": str(path), "source_sha256": sha256_of(path)}
