"""The workflow's own config file read before Snakemake loads it: text that is not UTF-8 or
not YAML is reported in one line naming the file, the line and the fault (Snakemake's loader
would print a traceback)."""

from __future__ import annotations

import os


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
