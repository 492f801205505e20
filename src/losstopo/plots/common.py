"""Shared figure helpers: atomic multi-format saving."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from losstopo.atomic import write_atomic
from losstopo.errors import LosstopoError

FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}


def save_figure(fig: Figure, outputs: list[str | Path], dpi: int = 200) -> None:
    """Save ``fig`` to every path in ``outputs`` (format from the suffix), atomically."""
    for out in outputs:
        suffix = Path(out).suffix.lower()
        if suffix not in FORMATS:
            raise LosstopoError(
                f"unsupported figure format {suffix!r} for {out} (use .png/.pdf/.svg)"
            )
        write_atomic(
            out,
            lambda tmp, fmt=FORMATS[suffix]: fig.savefig(
                tmp, format=fmt, dpi=dpi, bbox_inches="tight"
            ),
        )
