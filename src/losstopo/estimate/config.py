"""The configs an estimate is asked about: checked before Snakemake reads them, so a wrong
path or broken YAML is named in one line."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from losstopo.errors import LosstopoError


def read_config(path: str | Path) -> dict[str, Any]:
    """One config file as a mapping (one line naming the file when it is not one)."""
    path = Path(path)
    if not path.is_file():
        raise LosstopoError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LosstopoError(f"config file {path} is not valid YAML: {reason}") from None
    if not isinstance(data, dict):
        raise LosstopoError(f"config file {path} is not a mapping")
    return data


def load_config(paths: list[str | Path]) -> dict[str, Any]:
    """Merge YAML configs in order as Snakemake does (later ones override, nested mappings
    merged, lists replaced)."""
    merged: dict[str, Any] = {}
    for path in paths:
        _deep_update(merged, read_config(path))
    return merged


def _deep_update(base: dict, extra: dict) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


def config_from_json(text: str, out: Path) -> Path:
    """Write a config given as one JSON object (the workflow's own, merged) to ``out`` as a
    config file Snakemake can read."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LosstopoError(f"--config-json is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise LosstopoError("--config-json is not a JSON object")
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out
