"""What a planned job runs: its ``losstopo`` calls, parsed by the command line's own parser.

Reading the arguments with the real parser means the sizes that set a job's cost (grid
resolution, iterations, HVP budgets, images) are exactly what the job will be told.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import re
import shlex
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

_OPERATORS = {";", "&&", "||", "|", "&"}
_FD_REDIRECT = re.compile(r"(^|\s)\d+(?=[<>])")


@dataclass
class Invocation:
    """One ``losstopo`` call of a job: its subcommand (``figure`` with its kind, e.g.
    ``figure profiles``), the raw arguments and the parsed namespace (None when the parser
    rejected them)."""

    command: str
    argv: list[str]
    args: argparse.Namespace | None


def arg(args: argparse.Namespace | None, *names: str, default: Any = None) -> Any:
    """The first of the attributes ``names`` that ``args`` has and sets (an option may be
    spelled differently across versions of the command line)."""
    for name in names:
        value = getattr(args, name, None)
        if value is not None:
            return value
    return default


@functools.cache
def _parser() -> argparse.ArgumentParser:
    from losstopo.cli import build_parser

    return build_parser()


def split_commands(shell: str) -> list[list[str]]:
    """The simple commands of a shell line, each without its redirections."""
    # a file descriptor written against its redirection (2>&1, 2>err) is part of it
    shell = _FD_REDIRECT.sub(r"\1", shell)
    lexer = shlex.shlex(shell, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:  # unbalanced quotes: not a command this reader understands
        return []
    commands: list[list[str]] = [[]]
    skip_next = False
    for token in tokens:
        if skip_next:
            skip_next = False
            continue
        if token in _OPERATORS:
            commands.append([])
        elif set(token) <= set("<>&") and token:
            skip_next = True  # a redirection: drop its target
        else:
            commands[-1].append(token)
    return [command for command in commands if command]


def losstopo_argv(command: list[str]) -> list[str] | None:
    """The arguments after ``python -m losstopo`` (or the ``losstopo`` script), else None."""
    for index, token in enumerate(command):
        name = PurePath(token).name
        if name == "losstopo":
            return command[index + 1 :]
        if name.startswith("python") and command[index + 1 : index + 3] == ["-m", "losstopo"]:
            return command[index + 3 :]
    return None


def invocations(shell: str | None) -> list[Invocation]:
    """The ``losstopo`` calls of a job's shell command (none for other programs)."""
    if not shell:
        return []
    found = []
    for command in split_commands(shell):
        argv = losstopo_argv(command)
        if argv is not None:
            found.append(parse_invocation(argv))
    return found


def parse_invocation(argv: list[str], parser: argparse.ArgumentParser | None = None) -> Invocation:
    """Parse ``argv`` as the CLI would; arguments it rejects give ``args=None``."""
    parser = parser or _parser()
    name = next((a for a in argv if not a.startswith("-")), "?")
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            args = parser.parse_args(argv)
    except SystemExit:
        return Invocation(name, argv, None)
    command = args.command
    if command == "figure":
        command = f"figure {args.figure}"
    return Invocation(command, argv, args)
