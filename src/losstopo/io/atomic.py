"""Atomic file output: write to a temporary name in the target directory, then rename.

An interrupted job therefore never leaves a valid-looking partial file, and an
existing file is only replaced by a complete new one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from losstopo.errors import LosstopoError


def ensure_writable_dir(directory: Path) -> None:
    """Create ``directory`` if needed and check that files can be created in it."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LosstopoError(f"cannot create output directory {directory}: {exc.strerror}") from exc
    if not os.access(directory, os.W_OK | os.X_OK):
        raise LosstopoError(f"output directory {directory} is not writable")


# a full disk or an exhausted quota, whatever the writer (numpy, netCDF, torch) calls it
FULL_DISK = (errno.ENOSPC, errno.EDQUOT)
# below this many free bytes a failed write is taken as a full disk: HDF5 reports it as
# "NetCDF: HDF error" and torch's zip writer as "unexpected pos", not as ENOSPC
NEARLY_FULL_BYTES = 1 << 20


def _disk_is_full(exc: BaseException, directory: Path) -> bool:
    """Whether a failed write ran out of space: ENOSPC/EDQUOT, or any writer error while
    the file system holds almost no free space (checked before the partial file is removed)."""
    if isinstance(exc, OSError) and exc.errno in FULL_DISK:
        return True
    if not isinstance(exc, Exception):  # KeyboardInterrupt, SystemExit: not a write failure
        return False
    try:
        stats = os.statvfs(directory)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < NEARLY_FULL_BYTES


def not_regular(path: Path) -> str | None:
    """What ``path`` is when it exists but is not a regular file (after symlinks): a
    directory, a FIFO, a device or a socket; None for a regular file or no file."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def check_input_file(path: str | os.PathLike[str], kind: str) -> Path:
    """``path`` as a readable regular file, or one line saying why not: reading a FIFO would
    block forever and a device is never a losstopo input."""
    path = Path(path)
    what = not_regular(path)
    if what is not None:
        raise LosstopoError(f"{kind} {path} is {what}, not a regular file")
    if not path.is_file():
        raise LosstopoError(f"{kind} {path} does not exist")
    return path


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` on success."""
    target = Path(target)
    if target.is_dir():
        raise LosstopoError(f"output {target} is a directory; give a file name")
    what = not_regular(target)
    if what is not None:  # renaming over it would replace the device or pipe itself
        raise LosstopoError(f"output {target} exists and is {what}; give a regular file name")
    directory = target.parent if str(target.parent) else Path(".")
    ensure_writable_dir(directory)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        if exc.errno in FULL_DISK:
            raise LosstopoError(f"no space left on device: {target}") from None
        raise
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates 0600; give the file the mode a plain open() would (umask respected)
    os.chmod(tmp, 0o666 & ~_current_umask())
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException as exc:
        full = _disk_is_full(exc, directory)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if full:
            raise LosstopoError(f"no space left on device: {target}") from None
        raise


def write_atomic(target: str | os.PathLike[str], writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` and move the result onto ``target`` atomically."""
    with atomic_path(target) as tmp:
        writer(tmp)


def write_json_atomic(target: str | os.PathLike[str], data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON, atomically."""

    def _write(tmp: Path) -> None:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, allow_nan=True) + "\n")

    write_atomic(target, _write)
