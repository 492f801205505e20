"""The workflow's config, checked before any job: its file (text that is not UTF-8 or not
YAML is reported in one line naming the file, the line and the fault; Snakemake's loader would
print a traceback) and its values against the schema, each fault named by its key."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any


def check_config_file(path: str) -> None:
    """Raise ``ValueError`` naming ``path`` and the place where it is not UTF-8 YAML with keys
    at the top level; a missing file is left to Snakemake (``--configfile`` may replace it)."""
    import yaml

    if not os.path.exists(path):
        return
    if not os.path.isfile(path):
        raise ValueError(f"config file {path} is not a regular file")
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValueError(
            f"config file {path} line {line}: byte 0x{data[exc.start]:02x} is not UTF-8 text; "
            "save the file as UTF-8"
        ) from None
    try:
        content = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValueError(f"config file {path}{where}: not valid YAML ({problem})") from None
    if not isinstance(content, dict):
        raise ValueError(f"config file {path}: must be YAML with keys at the top level")


def config_key(path: Sequence[str | int]) -> str:
    """A config location as written in YAML terms: config.pinn.betas[1]."""
    return "config" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def check_config_numbers(value: Any, schema: dict[str, Any], key: str = "config") -> None:
    """What JSON-schema validation lets through but the CLI would reject: NaN or inf where a
    number is meant, and a float such as 10.0 where an integer is meant."""
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{key}: {value} is not a finite number")
    if isinstance(value, float) and "integer" in types and "number" not in types:
        raise ValueError(f"{key}: {value!r} must be an integer")
    if isinstance(value, dict):
        for name, item in value.items():
            check_config_numbers(item, schema.get("properties", {}).get(name, {}), f"{key}.{name}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_config_numbers(item, schema.get("items", {}), f"{key}[{index}]")


def check_schema(config: dict[str, Any], schema_path: str) -> None:
    """Raise ``ValueError`` with one line for the schema's best-matching error (named by its
    config key), or for a number the CLI would reject; return when the config is valid."""
    import jsonschema
    import yaml

    with open(schema_path) as handle:
        schema = yaml.safe_load(handle)
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is not None:
        raise ValueError(f"{config_key(error.absolute_path)}: {error.message}")
    check_config_numbers(config, schema, "config")
