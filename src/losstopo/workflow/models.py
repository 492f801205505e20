"""The ``models:`` entries of a study (the user's own checkpoints) resolved and checked before
any job: checkpoint globs to files, and the user's Python named by ``objective`` and
``problem_modules`` checked without running it (jobs import it; a dry run stays fast and
executes nothing of the user's).
"""

from __future__ import annotations

import ast
import glob
import importlib.machinery
import os
import sys
from pathlib import Path
from typing import Any

from losstopo.errors import LosstopoError
from losstopo.objective_factory import parse_spec

# characters a checkpoint's file name cannot have: Snakemake reads braces in a path as a
# wildcard
PATH_UNSAFE = "{}"


def model_checkpoints(index: int, entry: dict[str, Any]) -> dict[str, str]:
    """Checkpoint files of ``config.models[index]`` by file stem (the analysis directory's
    name), in sorted order; every reason a job could not read them named by the config key.

    A path that starts with ``-`` is given as ``./-name.pt`` so that no command line reads it
    as an option.
    """
    key = f"config.models[{index}].checkpoints"
    patterns = entry["checkpoints"]
    patterns = [patterns] if isinstance(patterns, str) else patterns
    files: dict[str, str] = {}
    for pattern in patterns:
        matched = sorted(glob.glob(pattern))
        if not matched:
            raise ValueError(
                f"{key}: {pattern} matches no file (save the model's checkpoints first)"
            )
        for path in matched:
            if not os.path.isfile(path):
                raise ValueError(f"{key}: {pattern} matches {path}, which is not a regular file")
            stem = os.path.splitext(os.path.basename(path))[0]
            if any(char in stem for char in PATH_UNSAFE):
                raise ValueError(
                    f"{key}: {path} has {{ or }} in its name, which a workflow path cannot "
                    "hold; rename the file"
                )
            if path.startswith("-"):
                path = os.path.join(".", path)
            if files.get(stem, path) != path:
                raise ValueError(f"{key}: {files[stem]} and {path} share the name {stem}")
            files[stem] = path
    return files


def _binds(statements: list[ast.stmt], name: str) -> bool:
    """Whether top-level ``statements`` bind ``name`` (a def, class, import or assignment,
    also under if/try/with) or star-import, which may."""
    for node in statements:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node.name == name:
                return True
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*" or (alias.asname or alias.name.split(".")[0]) == name:
                    return True
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(n, ast.Name) and n.id == name for t in targets for n in ast.walk(t)):
                return True
        else:
            blocks = [getattr(node, field, []) for field in ("body", "orelse", "finalbody")]
            blocks += [handler.body for handler in getattr(node, "handlers", [])]
            if any(_binds(block, name) for block in blocks if isinstance(block, list)):
                return True
    return False


def python_source_error(where: str, key: str, function: str | None = None) -> str | None:
    """Why ``where`` (``path/to/file.py`` or ``package.module``) cannot be imported by a job,
    read without running it: a missing or unreadable file, a syntax error, a module not on
    the path, or no top-level ``function``; None when nothing is wrong."""
    if not where.endswith(".py"):
        if (
            "/" in where
            or os.sep in where
            or not all(part.isidentifier() for part in where.split("."))
        ):
            return f"{key}: {where} is neither a .py file nor a module name (package.module)"
        top = where.split(".")[0]
        if top in sys.builtin_module_names:
            return None
        # jobs run `python -m losstopo` in the working directory, which is on their path
        if importlib.machinery.PathFinder.find_spec(top, [os.getcwd(), *sys.path]) is None:
            return f"{key}: module {where!r} is not importable (no {top!r} on the Python path)"
        return None
    path = Path(where)
    if not path.exists():
        return f"{key}: {where} does not exist"
    if not path.is_file():
        return f"{key}: {where} is not a regular file"
    try:
        source = path.read_bytes()
        tree = ast.parse(source, filename=where)
    except OSError as exc:
        return f"{key}: {where} cannot be read ({exc.strerror})"
    except (SyntaxError, ValueError) as exc:
        line = f" line {exc.lineno}" if getattr(exc, "lineno", None) else ""
        reason = getattr(exc, "msg", None) or str(exc)
        return f"{key}: {where}{line}: {reason}"
    if function is not None and not _binds(tree.body, function):
        return f"{key}: {where} defines no function {function!r}"
    return None


def user_code_errors(config: dict[str, Any]) -> list[str]:
    """Every checkpoint glob, ``objective`` and ``problem_modules`` entry that a job could not
    read or import, one line each."""
    errors = []
    for index, entry in enumerate(config.get("models") or []):
        try:
            model_checkpoints(index, entry)
        except ValueError as exc:
            errors.append(str(exc))
    for index, where in enumerate(config.get("problem_modules") or []):
        error = python_source_error(where, f"config.problem_modules[{index}]")
        if error:
            errors.append(error)
    for index, entry in enumerate(config.get("models") or []):
        spec = entry.get("objective")
        if not spec:
            continue
        key = f"config.models[{index}].objective"
        try:
            where, function = parse_spec(spec)
        except LosstopoError as exc:
            errors.append(f"{key}: {exc}")
            continue
        error = python_source_error(where, key, function)
        if error:
            errors.append(error)
    return errors
