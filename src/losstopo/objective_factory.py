"""Objectives of the user's own models: a factory named ``path/to/file.py:function`` or
``module:function`` turns a checkpoint file into a :class:`~losstopo.Objective`.

Loading a factory executes the user's code (the file or module is imported), exactly as
running it with ``python`` would; only name factories you trust. The factory is called as
``factory(checkpoint, device=..., dtype=...)`` with the checkpoint's :class:`~pathlib.Path`
and must return an ``Objective`` whose parameters are the trained weights. Numbers it puts
in ``objective.metadata["metrics"]`` (e.g. ``{"accuracy": 0.93}``) become table columns,
and so do the fields in ``objective.metadata["fields"]`` that identify the checkpoint
(e.g. ``{"epoch": 3}``, used to order the table's rows).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from pathlib import Path
from typing import Any

from losstopo.errors import LosstopoError


def parse_spec(spec: str) -> tuple[str, str]:
    """``(file or module, function)`` of ``FILE.py:function`` / ``module:function``."""
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name.isidentifier():
        raise LosstopoError(
            f"objective factory {spec!r} must be path/to/file.py:function or module:function"
        )
    return where, name


def load_factory(spec: str) -> Callable[..., Any]:
    """Import the factory's file or module (this runs its code) and return the function."""
    from losstopo.user_code import import_user_code

    where, name = parse_spec(spec)
    module = import_user_code(where, "objective factory")
    factory = getattr(module, name, None)
    if not callable(factory):
        raise LosstopoError(f"objective factory {spec!r}: {where} has no function {name!r}")
    return factory


def objective_from_factory(spec: str, checkpoint: str | Path, device: Any, dtype: Any) -> Any:
    """The factory's objective for ``checkpoint``, checked: an Objective, finite weights,
    numeric metrics (NaN allowed: a diverged model has no accuracy; ±inf is not)."""
    import torch

    from losstopo.objective import Objective

    path = Path(checkpoint)
    if not path.exists():
        raise LosstopoError(f"checkpoint {path} does not exist")
    factory = load_factory(spec)
    try:
        objective = factory(path, device=device, dtype=dtype)
    except LosstopoError:
        raise
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise LosstopoError(
            f"objective factory {spec!r} failed on {path}: {type(exc).__name__}: {reason}"
        ) from None
    if not isinstance(objective, Objective):
        raise LosstopoError(
            f"objective factory {spec!r} returned {type(objective).__name__} for {path}, "
            "not a losstopo.Objective"
        )
    theta = objective.theta()
    if theta.dtype != dtype or theta.device.type != torch.device(device).type:
        raise LosstopoError(
            f"objective factory {spec!r} returned weights in {theta.dtype} on {theta.device} "
            f"for {path}; it was asked for {dtype} on {device}"
        )
    if not bool(torch.isfinite(theta).all()):
        bad = int((~torch.isfinite(theta)).sum())
        raise LosstopoError(f"objective of {path} from {spec!r} has {bad} non-finite weights")
    for key in ("metrics", "fields"):
        objective.metadata[key] = _numbers(objective.metadata.get(key, {}), key, spec)
    return objective


def _numbers(values: Any, key: str, spec: str) -> dict[str, float]:
    """A factory's metrics or fields as plain floats (numpy and 0-d tensors accepted); NaN
    is kept (a diverged model has no accuracy), ±inf is refused."""
    if not isinstance(values, dict):
        raise LosstopoError(
            f"objective factory {spec!r}: metadata[{key!r}] must be a dict, got "
            f"{type(values).__name__}"
        )
    checked = {}
    for name, value in values.items():
        if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
            value = value.item()
        if (
            not isinstance(name, str)
            or isinstance(value, bool)
            or not isinstance(value, numbers.Real)
            or math.isinf(value)
        ):
            raise LosstopoError(
                f"objective factory {spec!r}: metadata[{key!r}] must map names to numbers "
                f"(not inf), got {name!r}: {value!r}"
            )
        checked[name] = float(value)
    return checked
