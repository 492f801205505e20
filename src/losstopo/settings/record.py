"""The settings of one analysis stage as a frozen, validated record.

A stage's record is a dataclass whose fields are declared with :func:`option`: the field's
name, annotation and default are the setting's name, type and default, and the option adds
its help, its allowed values, the output attribute recording it and its config key.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from losstopo.settings.setting import KINDS, Setting, SettingError

# the allowed values of a seed: numpy and torch generators take 64 bits
SEED: dict[str, Any] = {"at_least": 0, "below": 2**63}

_SAME: Any = object()  # an option's attribute or config key named after the setting


def option(default: Any, help: str, *, attr: str | None = _SAME, **details: Any) -> Any:
    """A field of a stage's record: its default, help and ``details`` (choices, bounds,
    aliases, group, config); ``attr`` is the output attribute recording it (by default the
    setting's name; None: not recorded as an attribute). ``config`` is the config key (by
    default the setting's name in the record's section; a path ending in ``.`` names another
    section; None: no config key)."""
    metadata = {"help": help, "attr": attr, "details": details}
    return dataclasses.field(default=default, metadata={"setting": metadata})


@functools.cache
def settings_of(record: type) -> tuple[Setting, ...]:
    """The :class:`Setting` of each field of a record class, in field order."""
    hints = typing.get_type_hints(record)
    found = []
    for field in dataclasses.fields(record):
        spec = field.metadata["setting"]
        details = dict(spec["details"])
        config = details.pop("config", _SAME)
        if config is _SAME:
            config = f"{record.section}." if record.section else None
        if config and config.endswith("."):  # a section: the key is the setting's name
            config += field.name
        attr = field.name if spec["attr"] is _SAME else spec["attr"]
        kind = _kind(hints[field.name])
        found.append(
            Setting(
                field.name, kind, field.default, spec["help"], attr=attr, config=config, **details
            )
        )
    return tuple(found)


def _kind(hint: Any) -> type:
    """The type of a setting from its annotation (``int | None`` is an int)."""
    if isinstance(hint, types.UnionType):
        (hint,) = (arg for arg in typing.get_args(hint) if arg is not type(None))
    if hint not in KINDS:
        raise TypeError(f"a setting's type is one of {KINDS}, not {hint}")
    return hint


@dataclasses.dataclass(frozen=True, kw_only=True)
class StageSettings:
    """The base of a stage's record: every value checked and converted on construction, so
    the command line, the library and the workflow reject the same values with the same
    message."""

    section: ClassVar[str | None] = None  # the config section of the settings

    def __init_subclass__(cls, *, section: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.section = section

    def __post_init__(self) -> None:
        for setting in self.settings():
            value = setting.checked(getattr(self, setting.name))
            object.__setattr__(self, setting.name, value)
        self.check()

    def check(self) -> None:
        """Rules between settings (a stage's record adds its own)."""

    @classmethod
    def settings(cls) -> tuple[Setting, ...]:
        return settings_of(cls)

    @classmethod
    def setting(cls, name: str) -> Setting:
        (found,) = (setting for setting in cls.settings() if setting.name == name)
        return found

    @classmethod
    def of(cls, settings: Self | None, options: Mapping[str, Any]) -> Self:
        """``settings``, or the record of the keyword ``options`` a stage was called with
        (defaults for the rest): a stage takes either."""
        if settings is not None:
            if not isinstance(settings, cls):
                raise TypeError(f"settings must be a {cls.__name__}, got {settings!r}")
            if options:
                raise SettingError(f"give settings or {', '.join(options)}, not both")
            return settings
        known = {setting.name for setting in cls.settings()}
        unknown = [name for name in options if name not in known]
        if unknown:
            raise SettingError(
                f"unknown setting {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        return cls(**options)

    def values(self) -> dict[str, Any]:
        """Every setting by name (the keyword arguments of the functions a stage calls)."""
        return {setting.name: getattr(self, setting.name) for setting in self.settings()}

    def recorded(self) -> tuple[str, ...]:
        """The settings this stage writes as output attributes (a record whose attributes
        depend on its values narrows this)."""
        return tuple(setting.name for setting in self.settings() if setting.attr)

    def attrs(self, **resolved: Any) -> dict[str, Any]:
        """The output attributes recording the settings: each one's value, or what the stage
        resolved it to (``resolved``, by setting name: e.g. a default of None made concrete)."""
        unknown = [name for name in resolved if name not in self.recorded()]
        if unknown:
            raise SettingError(f"{', '.join(unknown)} is not recorded by {type(self).__name__}")
        return {
            self.setting(name).attr: resolved.get(name, getattr(self, name))
            for name in self.recorded()
        }
