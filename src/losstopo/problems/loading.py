"""A checkpoint's objective rebuilt by the problem that wrote it (the registry's one use of a
checkpoint file: ``io`` reads and writes the file, this module knows what it means)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from losstopo.errors import LosstopoError
from losstopo.objective import Objective


def load_objective(
    path: str | Path,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    *,
    loaded: dict[str, Any] | None = None,
    **options: Any,
) -> Objective:
    """Rebuild the objective of a checkpoint through the problem registry.

    ``options`` (``None`` values are dropped) choose the problem's fixed data, for example
    ``bn_mode`` and ``batch_size`` of the segmentation objective. ``loaded`` is the
    checkpoint already read by :func:`load_checkpoint` (so it is not read twice)."""
    import inspect

    from losstopo.io.checkpoint import load_checkpoint
    from losstopo.problems import get_problem

    checkpoint = loaded if loaded is not None else load_checkpoint(path)
    problem = get_problem(str(checkpoint["problem"]))
    options = {key: value for key, value in options.items() if value is not None}
    accepted = inspect.signature(problem.objective).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        unknown = [key for key in options if key not in accepted]
        if unknown:
            raise LosstopoError(
                f"{path}: the {problem.name} problem has no objective option {', '.join(unknown)}"
            )
    try:
        objective = problem.objective(checkpoint, device, dtype, **options)
    except LosstopoError:
        raise
    except (RuntimeError, TypeError, KeyError, ValueError) as exc:
        # e.g. a state_dict of another architecture, or hparams the model does not take
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LosstopoError(
            f"checkpoint {path} does not rebuild its {problem.name} model: "
            f"{type(exc).__name__}: {reason}"
        ) from None
    theta = objective.theta()
    if not bool(torch.isfinite(theta).all()):
        bad = int((~torch.isfinite(theta)).sum())
        raise LosstopoError(f"checkpoint {path} has {bad} non-finite weights")
    return objective
