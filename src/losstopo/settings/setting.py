"""One setting of an analysis stage: its name, type, default, allowed values, help text, the
output attribute that records it and the config key it corresponds to.

The command line, the stage functions, the attributes of each output and the JSON-schema
fragments are all derived from these records, so a setting is spelled out once.
"""

from __future__ import annotations

import math
import numbers
import operator
from dataclasses import dataclass
from typing import Any

from losstopo.errors import LosstopoError


class _Required:
    """The default of a setting that must be given."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()

KINDS = (bool, int, float, str)


class SettingError(LosstopoError):
    """A setting's value is not allowed (the message names the option)."""


@dataclass(frozen=True)
class Setting:
    """A setting: ``name`` is its keyword and (``-`` for ``_``) its flag.

    A number is allowed ``at_least``, ``above`` and ``below`` the given bounds (a float must
    also be finite); a string may be limited to ``choices``. ``attr`` is the output attribute
    recording it (None: not recorded as an attribute); ``aliases`` are older flags still
    accepted; ``group`` is its argument group in ``--help``; ``config`` is the dotted path of
    the corresponding key in ``config.schema.yaml`` (``[]`` for the items of a list).
    """

    name: str
    kind: type
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    at_least: float | None = None
    above: float | None = None
    below: float | None = None
    aliases: tuple[str, ...] = ()
    attr: str | None = None
    group: str | None = None
    config: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def nullable(self) -> bool:
        """None is allowed (and means "not given") when it is the default."""
        return self.default is None

    def requirement(self) -> str:
        """What a value must be, as the end of "must be ...": the command line's wording."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.kind in (bool, str):
            return "true or false" if self.kind is bool else "a string"
        number = "a finite number" if self.kind is float else "an integer"
        if self.below is not None:
            low = f"[{_number(self.at_least)}" if self.at_least is not None else "(-inf"
            if self.above is not None:
                low = f"({_number(self.above)}"
            return f"{number} in {low}, {_number(self.below)})"
        if self.at_least is not None:
            comparison = f">= {_number(self.at_least)}"
        elif self.above is not None:
            comparison = f"> {_number(self.above)}"
        else:
            return number
        return f"a finite number {comparison}" if self.kind is float else comparison

    def violates(self, value: Any) -> bool:
        """Whether a value of the right type lies outside the allowed ones."""
        if self.choices:
            return value not in self.choices
        if self.kind is float and not math.isfinite(value):
            return True
        if self.at_least is not None and value < self.at_least:
            return True
        if self.above is not None and value <= self.above:
            return True
        return self.below is not None and value >= self.below

    def checked(self, value: Any) -> Any:
        """``value`` as this setting's type, or a :class:`SettingError` naming the flag."""
        if value is None and self.nullable:
            return None
        if value is REQUIRED or (value is None and self.required):
            raise SettingError(f"{self.flag} is required")
        try:
            converted = _converted(self.kind, value)
        except (TypeError, ValueError):
            converted = None
        if converted is None or self.violates(converted):
            raise SettingError(f"{self.flag} must be {self.requirement()}, got {value!r}")
        return converted


def _number(value: float) -> str:
    return "2**63" if value == 2**63 else f"{value:g}"


def _converted(kind: type, value: Any) -> Any:
    """``value`` as ``kind`` when it is one (an int for a float, a numpy scalar, ...);
    None when it is not (a bool is not a number, a float not an int)."""
    if isinstance(value, bool) and kind is not bool:
        return None
    if kind is bool:
        return value if isinstance(value, bool) else None
    if kind is int:
        return operator.index(value)
    if kind is float:
        return float(value) if isinstance(value, numbers.Real) else None
    return value if isinstance(value, str) else None
