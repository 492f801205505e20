"""Device selection, threading, seeding and progress bars: what every compute subcommand
shares."""

from __future__ import annotations

import random
import sys

import numpy as np
import torch
from tqdm import tqdm

from losstopo.errors import LosstopoError

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(name: str) -> torch.device:
    """Map ``auto|cpu|cuda`` to a device; ``auto`` means CUDA when present."""
    if name == "auto":
        return _cuda() if torch.cuda.is_available() else torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise LosstopoError("--device cuda requested but no CUDA device is available")
        return _cuda()
    raise LosstopoError(f"unknown device {name!r} (choose auto, cpu or cuda)")


def _cuda() -> torch.device:
    """The CUDA device, with full-precision float32 products (no TF32: landscapes resolve
    loss differences far below TF32's 1e-3 relative error) and deterministic cuDNN kernels."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    return torch.device("cuda")


def device_name(device: torch.device) -> str:
    """The device as recorded in outputs: ``cpu`` or ``cuda:<index>`` (with the index)."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index}"
    return device.type


def resolve_dtype(name: str) -> torch.dtype:
    """Map a dtype name to the torch dtype, with a clear error for anything else."""
    try:
        return DTYPES[name]
    except KeyError:
        raise LosstopoError(f"unknown dtype {name!r} (choose {', '.join(DTYPES)})") from None


def set_threads(threads: int) -> None:
    """Pin torch to ``threads`` intra-op threads; results depend on it, so it is recorded."""
    if threads < 1:
        raise LosstopoError(f"--threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)


def keep_freed_memory() -> bool:
    """Keep memory that tensors free inside the process (glibc's allocator only): freed
    blocks up to 32 MiB are reused from the heap instead of being returned to the system and
    page-faulted back on the next allocation. A convolutional network's forward pass
    allocates a fresh activation of several MiB per layer; without this a default-study UNet
    landscape point measured 1.3x slower. Values are unchanged; the heap keeps its peak size
    until the process ends (one job). Returns whether both settings took effect (False off
    glibc, e.g. macOS or musl)."""
    import platform

    if platform.libc_ver()[0] != "glibc":
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's malloc.h
    # a fixed mmap threshold at glibc's maximum (64-bit), and no trimming of the heap's top
    mmap_set = bool(mallopt(m_mmap_threshold, 32 * 2**20))
    trim_set = bool(mallopt(m_trim_threshold, 2**31 - 1))
    return mmap_set and trim_set


def seed_everything(seed: int) -> None:
    """Seed every generator that can influence initialisation or sampling."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (legacy global state, seeded for third-party code)
    torch.manual_seed(seed)


def progress_bar(total: int, desc: str) -> tqdm:
    """A tqdm bar on a terminal, silent in logs (non-tty stderr)."""
    return tqdm(total=total, desc=desc, disable=not sys.stderr.isatty(), leave=False)
