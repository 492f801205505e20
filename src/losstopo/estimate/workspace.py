"""Running ``losstopo`` calls for the probes: in this process (timed once the imports are
warm) or as a process of their own (timed with its start-up), in a scratch directory, and
editing a call's arguments."""

from __future__ import annotations

import contextlib
import io
import logging
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from losstopo.errors import LosstopoError


@dataclass(frozen=True)
class Timing:
    """A probe's CPU seconds and wall seconds. Rates are taken from CPU time: other work on
    the machine (other users, other jobs) stretches the wall clock of a probe, not the work
    it measures."""

    cpu: float
    wall: float

    def cpu_share(self, seconds: float) -> float:
        """A part of the call that it timed itself by the clock, in CPU seconds."""
        return seconds * min(1.0, self.cpu / self.wall) if self.wall > 0 else seconds


def with_options(argv: list[str], changes: dict[str, str | list[str] | None]) -> list[str]:
    """``argv`` with each option in ``changes`` set to its value(s) (appended when absent),
    or removed (``None``; a flag takes ``[]``)."""
    out: list[str] = []
    index = 0
    while index < len(argv):
        token = argv[index]
        name = token.split("=", 1)[0]
        if name in changes and name.startswith("--"):
            index += 1
            if "=" not in token:  # skip its values up to the next option
                while index < len(argv) and not argv[index].startswith("--"):
                    index += 1
            continue
        out.append(token)
        index += 1
    for name, value in changes.items():
        if value is None:
            continue
        out += [name, *([value] if isinstance(value, str) else value)]
    return out


def replace_value(argv: list[str], old: str, new: str) -> list[str]:
    """``argv`` with the positional value ``old`` (a path) replaced by ``new``."""
    return [new if token == old else token for token in argv]


class Workspace:
    """A scratch directory and the two ways of running a call: here (timed after the imports
    are warm) and as its own process (timed with its start-up)."""

    def __init__(self, cwd: str | Path = ".") -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="losstopo-estimate-")
        self.root = Path(self._dir.name)
        self.cwd = Path(cwd).resolve()  # where the plan's relative paths point
        self._count = 0

    def path(self, name: str) -> str:
        self._count += 1
        return str(self.root / f"{self._count:03d}_{name}")

    def close(self) -> None:
        self._dir.cleanup()

    def run(self, argv: list[str]) -> Timing:
        """Run ``losstopo argv`` in this process, or fail naming the call."""
        from losstopo.cli import main

        logger = logging.getLogger("losstopo")
        level = logger.level
        logger.setLevel(logging.ERROR)  # a probe's solver warnings are expected
        err = io.StringIO()
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            with (
                contextlib.chdir(self.cwd),
                contextlib.redirect_stderr(err),
                contextlib.redirect_stdout(io.StringIO()),
            ):
                code = main(argv)
        except SystemExit as exc:  # the parser rejected the arguments
            code = exc.code if isinstance(exc.code, int) else 2
        finally:
            logger.setLevel(level)
        timing = Timing(time.process_time() - cpu, time.perf_counter() - wall)
        if code != 0:
            reason = (err.getvalue().strip().splitlines() or ["no message"])[-1]
            raise LosstopoError(f"probe 'losstopo {' '.join(argv[:2])} ...' failed: {reason}")
        return timing

    def run_process(self, argv: list[str]) -> Timing:
        """Run ``python -m losstopo argv`` as its own process."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "losstopo", *argv],
            capture_output=True,
            text=True,
            check=False,
            cwd=self.cwd,
        )
        wall = time.perf_counter() - wall
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if result.returncode != 0:
            reason = (result.stderr.strip().splitlines() or ["no message"])[-1]
            raise LosstopoError(f"probe 'losstopo {argv[0]}' as a process failed: {reason}")
        return Timing(cpu, wall)


def read_attrs(path: str) -> dict[str, Any]:
    import xarray as xr

    with xr.open_dataset(path) as data:
        return dict(data.attrs)
