"""JSON-schema fragments of settings, for comparison with the workflow's
``config.schema.yaml`` (what the config accepts the command line must accept)."""

from __future__ import annotations

from typing import Any

from losstopo.settings.record import StageSettings
from losstopo.settings.setting import Setting

JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}
BOUNDS = {
    "at_least": "minimum",
    "above": "exclusiveMinimum",
    "below": "exclusiveMaximum",
}


def schema_fragment(setting: Setting) -> dict[str, Any]:
    """The setting as a JSON-schema property: type (with null where None is its default),
    allowed values, default (none for a required setting) and its help as description."""
    kind = JSON_TYPES[setting.kind]
    fragment: dict[str, Any] = {
        "description": setting.help,
        "type": [kind, "null"] if setting.nullable else kind,
    }
    if setting.choices:
        fragment["enum"] = [*setting.choices, *([None] if setting.nullable else [])]
    for name, keyword in BOUNDS.items():
        if getattr(setting, name) is not None:
            fragment[keyword] = getattr(setting, name)
    if not setting.required:
        fragment["default"] = setting.default
    return fragment


def schema_properties(record: type[StageSettings]) -> dict[str, dict[str, Any]]:
    """The JSON-schema properties of a stage's settings, by name."""
    return {setting.name: schema_fragment(setting) for setting in record.settings()}
