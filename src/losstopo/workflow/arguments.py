"""Command-line arguments the workflow builds from names it does not control (checkpoint file
stems, users' labels): each value is attached to its option as ``--option=value``, so a value
that starts with ``-`` is never read as an option."""

from __future__ import annotations

from collections.abc import Iterable


def attached(option: str, values: Iterable[object]) -> list[str]:
    """``--option=value`` for each value (the option must accumulate repeated values)."""
    return [f"{option}={value}" for value in values]
