"""Shared figure helpers: atomic multi-format saving."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from losstopo.errors import LosstopoError
from losstopo.io.atomic import write_atomic

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


def relative_luminance(colour) -> float:
    """WCAG relative luminance of a matplotlib colour (0 = black, 1 = white)."""
    from matplotlib.colors import to_rgb

    rgb = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in to_rgb(colour)]
    return 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]


DARK_LUMINANCE = 0.408  # below it a fill counts as dark (white text), as in seaborn


def text_colour_on(fill) -> str:
    """White text on dark fills, black on light ones, so annotations stay readable."""
    return "white" if relative_luminance(fill) < DARK_LUMINANCE else "black"
