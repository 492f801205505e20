"""Importing the user's own code: objective factories and problem modules, given as
``path/to/file.py`` or ``package.module``. Importing runs that code, as ``python`` would."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType

from losstopo.errors import LosstopoError


def import_user_code(where: str, what: str, *, reuse: bool = False) -> ModuleType:
    """The module of a ``.py`` file or an importable name; any failure is one line naming
    ``what`` and the file. With ``reuse``, a file imported before is not run again."""
    if not where.endswith(".py"):
        try:
            return importlib.import_module(where)
        except Exception as exc:
            raise LosstopoError(
                f"{what} module {where!r} failed to import: {type(exc).__name__}: {exc}"
            ) from None
    from losstopo.io.atomic import check_input_file

    path = check_input_file(where, f"{what} file")
    name = f"losstopo_user_{path.stem}"
    if reuse and name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LosstopoError(f"{what} file {path} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    # the file's own folder is importable (after everything else, so a user's logging.py
    # never shadows the standard library)
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.append(folder)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise LosstopoError(
            f"{what} file {path} failed to import: {type(exc).__name__}: {exc}"
        ) from None
    return module
