"""Command-line options generated from a stage's settings record, and the record read back
from the parsed arguments."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, TypeVar

from losstopo.settings.record import StageSettings
from losstopo.settings.setting import Setting

Record = TypeVar("Record", bound=StageSettings)


def add_settings(parser: argparse.ArgumentParser, record: type[StageSettings]) -> None:
    """One option per setting (in its argument group, if it has one), named after the
    setting; its older spellings (aliases) are accepted but not listed in ``--help``."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for setting in record.settings():
        target: Any = parser
        if setting.group is not None:
            if setting.group not in groups:
                groups[setting.group] = parser.add_argument_group(setting.group)
            target = groups[setting.group]
        target.add_argument(setting.flag, **_arguments(setting), help=_help(setting))
        for alias in setting.aliases:
            hidden = {**_arguments(setting), "default": argparse.SUPPRESS, "required": False}
            target.add_argument(alias, dest=setting.name, **hidden, help=argparse.SUPPRESS)


def settings_from_args(record: type[Record], args: argparse.Namespace) -> Record:
    """The record of the parsed options (its cross-setting rules checked)."""
    return record(**{setting.name: getattr(args, setting.name) for setting in record.settings()})


def _arguments(setting: Setting) -> dict[str, Any]:
    """``add_argument`` keywords of a setting, but its help."""
    arguments: dict[str, Any] = {"required": True} if setting.required else {}
    if not setting.required:
        arguments["default"] = setting.default
    if setting.kind is bool:
        arguments["action"] = argparse.BooleanOptionalAction
    elif setting.choices:
        arguments["choices"] = setting.choices
    elif setting.kind is not str:
        arguments["type"] = _parser_type(setting)
    return arguments


def _parser_type(setting: Setting) -> Callable[[str], Any]:
    """The argparse type of a number: argparse reports text that is no number as an
    "invalid int/float value", this a number outside the allowed ones."""

    def parse(text: str) -> Any:
        value = setting.kind(text)
        if setting.violates(value):
            raise argparse.ArgumentTypeError(f"must be {setting.requirement()}, got {text}")
        return value

    parse.__name__ = setting.kind.__name__
    return parse


def _help(setting: Setting) -> str:
    """The help text, ending with the default unless the text states it."""
    default = setting.default
    if setting.required or default is None or "default" in setting.help:
        return setting.help
    if isinstance(default, bool):
        shown = "on" if default else "off"
    else:
        shown = f"{default:g}" if isinstance(default, float) else default
    return f"{setting.help} (default: {shown})"
